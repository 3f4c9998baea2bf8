"""Write the graph-only exports (.pt2) of the nanochat models behind the GPT-2 (1.5B) level's entries.

Run from the repository root with the `compute` extra installed:

    .venv/bin/python entries/gpt2-1-5b-core/exports/make_exports.py [--out DIR] [NAME.pt2 ...]

Run it as a script (the graph records its classes' module). Stack traces are dropped, so the bytes do
not depend on where the repository is checked out; torch writes the same bytes for the same graph.

Each model is nanochat's GPT (karpathy/nanochat, nanochat/gpt.py at the entry's commit) at the depth
its launch command gives: width = depth x 64 rounded up to a multiple of the 128-wide heads (1,536 at
depth 24, 1,664 at depth 26), heads of 128, an MLP of 4x the width, an untied 32,768-token LM head,
2,048-token sequences. The export keeps what costs multiply-adds (the builder aieff.models.gpt): the
query/key/value and output projections, the MLP, the attention products and the LM head. Left out,
because they are look-ups, elementwise or under 0.001% of the multiply-adds: the value embeddings and
their 12-channel gates, norms, rotary, QK-norm, ReLU squared, residual and x0 scalars, and (at
a825e63) the smear gate (24 channels to 1) and backout.

Attention is counted as FlashAttention 3 computes it: the window pattern SSSL tiled across the layers
with the last layer long. A long layer is dense causal attention over 2,048 tokens (L(L+1)/2 pairs);
a short layer has window (W, 0), so query i sees min(i + 1, W + 1) keys, and the export gives every
query the mean over the 2,048 positions, rounded: W = 1,024 (half context, to 324e69c) gives 769 keys,
W = 768 (a third, 6ed7d1d) 625, W = 512 (a quarter, a825e63) 449.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from aieff import models
from aieff.verify.pt2 import export_script

HERE = Path(__file__).resolve().parent
LENGTH = 2048
VOCAB = 32768


def _keys(window: int) -> int:
    """Mean keys per query of a causal window (window, 0) over LENGTH positions, rounded."""
    return round(sum(min(i + 1, window + 1) for i in range(LENGTH)) / LENGTH)


def _windows(depth: int, short: int) -> list[models.Window]:
    """nanochat's SSSL pattern tiled across `depth` layers, the last layer long."""
    out: list[models.Window] = [models.CAUSAL if i % 4 == 3 else _keys(short) for i in range(depth)]
    out[-1] = models.CAUSAL
    return out


# name: (depth, width, short window)
MODELS = {
    "nanochat_d24_w1024.pt2": (24, 1536, 1024),  # runs 1 (348fbb3) and 4 (324e69c)
    "nanochat_d26_w1024.pt2": (26, 1664, 1024),  # runs 2 (a67eba3) and 3 (2c062aa)
    "nanochat_d24_w768.pt2": (24, 1536, 768),  # run 5 (6ed7d1d)
    "nanochat_d24_w512.pt2": (24, 1536, 512),  # run 6 (a825e63)
}


def export(name: str, out: Path = HERE) -> Path:
    """Build one model on the meta device and save its graph into `out`."""
    depth, width, short = MODELS[name]
    with torch.device("meta"):
        net = models.gpt(width=width, depth=depth, heads=width // 128, vocab=VOCAB, windows=_windows(depth, short))
    return models.save(net, out / name, sequence_length=LENGTH)


if __name__ == "__main__":
    export_script(MODELS, export, HERE, sys.argv[1:])
