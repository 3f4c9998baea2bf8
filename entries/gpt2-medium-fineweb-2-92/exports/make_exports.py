"""Write the graph-only exports (.pt2) of the GPT-2-Medium-level records, one per distinct forward graph.

Run from the repository root with the `compute` extra installed:

    .venv/bin/python entries/gpt2-medium-fineweb-2-92/exports/make_exports.py [--out DIR] [NAME.pt2 ...]

Run it as a script: the graph records its classes' module, `__main__`, so importing it and calling
export() writes different bytes. Stack traces are dropped, so the bytes do not depend on where the
repository is checked out. The three small module classes are copies of those of the GPT-2 (124M)
level's script (entries/gpt2-fineweb-3-28/exports/make_exports.py), cut to the one attention form
this level uses and to a width of 1,024.

Each model is written from the record's own training script (the code each modded-nanogpt track-2 log
starts with): 16 layers of width 1,024 with 8 heads of 128, a ReLU-squared MLP of width 4,096 in every
layer, and an LM head over the vocabulary padded to 50,304 rows. An export keeps what costs
multiply-adds: the query/key/value and output projections, the MLP, the attention products and the LM
head, layer by layer as the record has them. Left out, because they cost no multiply-adds or under
0.1% of them: norms, rotary and YaRN rotations, activation functions, softcaps, residual, U-net,
backout, smear and value-embedding mixing (table look-ups and scalar weights), and the 16-input gates
of record 18 (attention, value-embedding, smear and skip gates: at most 16 x 8 multiply-adds each per
token per layer, under 0.001%).

Attention is counted as the pairs the record's attention mask keeps: each query's keys, K per query,
where K is the exact mean over the sequence and over the steps to the level of the causal keys inside
the window (document boundaries are not modelled: an upper bound).

- Records 2-17 (FlexAttention over one 65,536-token sequence per GPU): a window of n blocks of 128
  tokens gives a query at offset r of block Q the n - 1 blocks before its own (fewer at the start)
  and the r + 1 causal keys of its own block: min(Q, n - 1) x 128 + r + 1 keys. Long-window layers
  (1, 5, 12 and 16) use the schedule's n, short-window layers max(n // 2, 1); layer 8 has no
  attention. The window grows over training (linearly to 1,792 tokens in records 2-7, cubically to
  3,456 in records 8-17), so each export's K is the mean over the record's steps to the level.
- Record 18 (FlashAttention 3, varlen, sequences of at most 4,096 tokens that start at a document):
  window_size=(W, 0) gives min(p + 1, W + 1) keys at position p, each sequence counted as 4,096 tokens
  long (an upper bound); K is the mean over the steps to the level weighted by each step's tokens.

Each entry gives its means; the exports round them to whole keys. The sha256 of each file is pinned
in the entries that use it; torch writes the same bytes for the same graph, so rerunning this script
is a no-op unless a model here changes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from aieff.verify.pt2 import export_script, save_graph_only

HERE = Path(__file__).resolve().parent  # file names: letters, digits, _ (the archive's folder is named after it)
DIM, HEADS, HIDDEN, VOCAB_ROWS = 1024, 8, 4096, 50304  # every track-2 record (vocabulary 50,257 padded to 50,304)
LONG = (0, 4, 11, 15)  # 0-based layers with the long window in every track-2 record


class Attention(nn.Module):
    """Projections and attention products of one layer, every query with the same number of keys, `keys`."""

    def __init__(self, dim: int, heads: int, keys: int) -> None:
        super().__init__()
        self.heads, self.keys = heads, keys
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        hd, span = d // self.heads, self.keys
        q, k, v = (z.view(b, t, self.heads, hd).transpose(1, 2) for z in self.qkv(x).split(d, dim=2))
        keys = F.pad(k, (0, 0, span - 1, 0)).unfold(2, span, 1)  # b, h, t, hd, K (zeros before the start)
        values = F.pad(v, (0, 0, span - 1, 0)).unfold(2, span, 1).transpose(-1, -2)  # b, h, t, K, hd
        scores = q.reshape(b, self.heads, t, 1, hd) @ keys
        y = (scores.softmax(-1) @ values).reshape(b, self.heads, t, hd)
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc, self.proj = nn.Linear(dim, hidden, bias=False), nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.relu(self.fc(x)))


class GPT(nn.Module):
    """Token embedding, layers (attention where `keys` has a number, an MLP in each), LM head."""

    def __init__(self, vocab: int, dim: int, heads: int, keys: list[int | None], hidden: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.attn = nn.ModuleList([Attention(dim, heads, k) if k is not None else nn.Identity() for k in keys])
        self.mlp = nn.ModuleList([MLP(dim, hidden) for _ in keys])
        self.head = nn.Linear(dim, vocab, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids)
        for attn, mlp in zip(self.attn, self.mlp, strict=True):
            x = x + attn(F.rms_norm(x, (x.shape[-1],)))
            x = x + mlp(F.rms_norm(x, (x.shape[-1],)))
        return self.head(F.rms_norm(x, (x.shape[-1],)))


def layers(long: int, short: int, without: tuple[int, ...] = (7,)) -> list[int | None]:
    """Keys per query of the 16 layers: `long` in layers 1, 5, 12 and 16, `short` elsewhere, none in `without`
    (0-based; layer 8, index 7, has no attention in records 2-17)."""
    return [None if i in without else long if i in LONG else short for i in range(16)]


# name: (keys per query of each layer (None: no attention), sequence length)
MODELS: dict[str, tuple[list[int | None], int]] = {
    # records 2, 6 and 7: window 128 -> 1,792 tokens linearly over 7,500, 6,710 and 6,450 steps (mean 857.9 keys
    # long, 375.8 short)
    "medium_flex_858_376.pt2": (layers(858, 376), 65536),
    # records 3, 4 and 5: the same schedule, the level reached 25, 50 and 75 steps before the end
    "medium_flex_855_374.pt2": (layers(855, 374), 65536),
    "medium_flex_852_373.pt2": (layers(852, 373), 65536),
    "medium_flex_849_371.pt2": (layers(849, 371), 65536),
    # records 8-10 and 13-16: window 128 -> 3,456 tokens on a cubic schedule, the level reached at the last step
    "medium_flex_1702_803.pt2": (layers(1702, 803), 65536),
    # record 12 (15 steps before its end) and record 17 (85 steps before its end)
    "medium_flex_1698_801.pt2": (layers(1698, 801), 65536),
    "medium_flex_1679_792.pt2": (layers(1679, 792), 65536),
    # record 18: attention in all 16 layers, FlashAttention 3 over sequences of at most 4,096 tokens
    "medium_r18_varlen.pt2": (layers(1605, 935, without=()), 4096),
}


def export(name: str, out: Path = HERE) -> Path:
    """Build one model on the meta device and save its graph into `out`."""
    keys, length = MODELS[name]
    with torch.device("meta"):
        model = GPT(VOCAB_ROWS, DIM, HEADS, keys, HIDDEN).eval()
    ids = torch.zeros(1, length, dtype=torch.long, device="meta")
    return save_graph_only(model, (ids,), out / name)


if __name__ == "__main__":
    export_script(MODELS, export, HERE, sys.argv[1:])
