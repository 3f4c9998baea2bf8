"""Write the graph-only exports (.pt2) of the GPT-2-small-level records, one per distinct forward graph.

Run from the repository root with the `compute` extra installed:

    .venv/bin/python entries/gpt2-fineweb-3-28/exports/make_exports.py [--out DIR] [NAME.pt2 ...]

Run it as a script: the graph records its classes' module, `__main__`, so importing it and calling
export() writes different bytes. Stack traces are dropped, so the bytes do not depend on where the
repository is checked out.

Each model is written from the record's own training script (the code each modded-nanogpt log
starts with; for llm.c and the 2024-06 AdamW run, the GPT-2 architecture they trained). An export
keeps what costs multiply-adds: the query/key/value and output projections, the MLP, the attention
products and the LM head, layer by layer as the record has them. Left out, because they cost no
multiply-adds or under 0.1% of them: norms, rotary and YaRN rotations, activation functions, softcaps,
residual, U-net and value-embedding mixing (table look-ups and scalar weights), and attention masks
themselves (a mask decides which products are kept; the export computes only the kept ones).

Attention follows one convention across the level: the query-key pairs the record's attention mask
keeps, per query, averaged over the sequence's positions (and, where the window changes during
training, over the steps to the level, weighted by each step's tokens); what a kernel computes beyond
the mask (FlexAttention's partial 128-token blocks) is not counted. Document boundaries, which depend on
the data, are not modelled: attention is an upper bound. So:

- dense causal attention over a 1,024-token sequence (SDPA, is_causal): every key at or before the
  query, L(L+1)/2 pairs;
- ("keys", K): every query computes K keys, K being the mean the mask keeps, rounded to a whole key.
  FlexAttention records (12-28, 65,536- or 49,152-token sequences): records 12-14 mask by tokens
  (q - k < W, causal: min(p + 1, W) keys at position p); record 15 masks by tokens inside a block window of
  ceil(W / 128) blocks (keys from max(p - W + 1, 128 x (block of p - ceil(W / 128) + 1))); records 16-28
  mask by 128-token blocks (the n - 1 whole blocks before the query's block and the keys at or before it
  in its own: min(b, n - 1) x 128 + r + 1 keys at position p = 128b + r; records 20-28's short window of
  0 blocks, half a 1-block long one, keeps the query's own block, as 1 does). FlashAttention 3 records
  (29 on, sequences of at most 2,048 tokens that start at a document, each counted as 2,048 tokens
  long): window_size=(W, 0) keeps min(p + 1, W + 1) keys at position p. The entries give each layer's
  mean and how the record's script sets its window.

The sha256 of each file is pinned in the entries that use it; torch writes the same bytes for the
same graph, so rerunning this script is a no-op unless a model here changes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from aieff.verify.pt2 import export_script, save_graph_only

HERE = Path(__file__).resolve().parent  # file names: letters, digits, _ (the archive's folder is named after it)
DENSE = "causal"  # dense causal attention (SDPA)
Window = str | tuple[str, int]  # DENSE, or ("keys", K): K keys per query, the mean the record's mask keeps


class Attention(nn.Module):
    """Projections and attention products of one layer, over the keys `window` gives each query."""

    def __init__(self, dim: int, heads: int, window: Window) -> None:
        super().__init__()
        self.heads, self.window = heads, window
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in self.qkv(x).split(d, dim=2))
        if self.window == DENSE:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        elif isinstance(self.window, tuple) and self.window[0] == "keys":  # K keys per query (zeros before the start)
            span, hd = self.window[1], d // self.heads
            keys = F.pad(k, (0, 0, span - 1, 0)).unfold(2, span, 1)  # b, h, t, hd, K
            values = F.pad(v, (0, 0, span - 1, 0)).unfold(2, span, 1).transpose(-1, -2)  # b, h, t, K, hd
            scores = q.reshape(b, self.heads, t, 1, hd) @ keys
            y = (scores.softmax(-1) @ values).reshape(b, self.heads, t, hd)
        else:
            raise ValueError(f"a window is {DENSE!r} or ('keys', K), not {self.window!r}")
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc, self.proj = nn.Linear(dim, hidden, bias=False), nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.relu(self.fc(x)))


class GPT(nn.Module):
    """Token embedding, layers (attention where `windows` has one, an MLP where `mlps` says), LM head."""

    def __init__(
        self, vocab: int, dim: int, heads: int, windows: list[Window | None], hidden: int, mlps: list[bool]
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.attn = nn.ModuleList([Attention(dim, heads, w) if w is not None else nn.Identity() for w in windows])
        self.mlp = nn.ModuleList([MLP(dim, hidden) if m else nn.Identity() for m in mlps])
        self.has_mlp = mlps
        self.head = nn.Linear(dim, vocab, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids)
        for attn, mlp, has_mlp in zip(self.attn, self.mlp, self.has_mlp, strict=True):
            x = x + attn(F.rms_norm(x, (x.shape[-1],)))
            if has_mlp:
                x = x + mlp(F.rms_norm(x, (x.shape[-1],)))
        return self.head(F.rms_norm(x, (x.shape[-1],)))


def _r29(short: int, long: int) -> list[Window | None]:
    """Record 29's 12 layers: long windows in layers 1, 5 and 12, no attention in layer 8, short elsewhere."""
    s, g = ("keys", short), ("keys", long)
    return [g, s, s, s, g, s, s, None, s, s, s, g]


def _paired(paired: int, short: int, long: int, last: int, paired_at: tuple[int, ...] = (0, 2, 5, 9)) -> list:
    """Record 53's 11 layers (no attention in layer 7, long windows in layers 4 and 11, `last` keys in layer 11)
    with paired-head attention (`paired` keys per query) in the 0-based layers `paired_at`."""
    windows: list[Window | None] = [("keys", short)] * 11
    windows[3], windows[6], windows[10] = ("keys", long), None, ("keys", last)
    for i in paired_at:
        windows[i] = ("keys", paired)
    return windows


# name: (vocab rows the LM head computes, heads, per-layer attention (None: none), sequence length[, MLP layers])
MODELS: dict[str, tuple] = {
    # llm.c GPT-2 124M (12 heads of 64; its matmuls use the vocabulary padded to 50,304 rows)
    "gpt2_12h_dense_1024.pt2": (50304, 12, [DENSE] * 12, 1024),
    # record 4 (Muon): 12 heads, vocabulary 50,257
    "gpt2_12h_v50257_dense_1024.pt2": (50257, 12, [DENSE] * 12, 1024),
    # records 5-11: 6 heads of 128, ReLU squared, vocabulary padded to 50,304
    "gpt2_6h_dense_1024.pt2": (50304, 6, [DENSE] * 12, 1024),
    # FlexAttention over 65,536-token sequences (records 12-20) and 49,152-token ones (21-28): ("keys", K) is the
    # mean keys per query the record's mask keeps over the steps to the level (the entries give each mean)
    # record 12: a 1,024-token window by tokens (mean 1,016.01)
    "nanogpt_r12_flex.pt2": (50304, 6, [("keys", 1016)] * 12, 65536),
    # records 13 and 14: a window by tokens growing from 64 to 1,792 (means 887.52 and 871.26)
    "nanogpt_r13_flex.pt2": (50304, 6, [("keys", 888)] * 12, 65536),
    "nanogpt_r14_flex.pt2": (50304, 6, [("keys", 871)] * 12, 65536),
    # record 15: the same window by tokens inside a window of whole blocks (mean 849.22)
    "nanogpt_r15_flex.pt2": (50304, 6, [("keys", 849)] * 12, 65536),
    # record 16: a window of whole blocks growing from 1 to 14 (mean 857.53)
    "nanogpt_r16_flex.pt2": (50304, 6, [("keys", 858)] * 12, 65536),
    # records 17-19: no attention in layer 8 (index 7); block windows of means 857.57, 848.55 and 857.32
    "nanogpt_r17_flex.pt2": (50304, 6, [*[("keys", 858)] * 7, None, *[("keys", 858)] * 4], 65536),
    "nanogpt_r18_flex.pt2": (50304, 6, [*[("keys", 849)] * 7, None, *[("keys", 849)] * 4], 65536),
    "nanogpt_r19_flex.pt2": (50304, 6, [*[("keys", 857)] * 7, None, *[("keys", 857)] * 4], 65536),
    # record 20: long block windows (mean 857.45) in layers 1, 5 and 12, short ones of half the blocks (375.61)
    # elsewhere, no attention in layer 8
    "nanogpt_r20_flex.pt2": (50304, 6, _r29(376, 857), 65536),
    # records 21-28 (21 re-timed 2025-02-01): record 20's layers over 49,152-token sequences; long and short means
    # 855.01 and 375.14 (1,770 steps: records 21-25), 855.09 and 375.20 (1,750: 26-27), 855.02 and 375.15 (1,695: 28)
    "nanogpt_r21_flex_48k.pt2": (50304, 6, _r29(375, 855), 49152),
    # From record 29 (FlashAttention 3, varlen) on, attention stays inside sequences of at most 2,048 tokens
    # that start at a document: ("keys", K) is the mean keys per query over the steps to the level, each
    # sequence counted as 2,048 tokens long (an upper bound), window_size=(W, 0) giving min(p + 1, W + 1)
    # keys at position p, weighted by the tokens of each step. The entries give each layer's mean.
    "nanogpt_r29_varlen.pt2": (
        50304,
        6,
        [
            ("keys", 658),
            *[("keys", 338)] * 3,
            ("keys", 658),
            *[("keys", 338)] * 2,
            None,
            *[("keys", 338)] * 3,
            ("keys", 658),
        ],
        2048,
    ),
    # records 39 and 46-48: no attention and no MLP in layer 1, no attention in layer 8
    "nanogpt_r39_varlen.pt2": (
        50304,
        6,
        [None, *[("keys", 341)] * 3, ("keys", 662), *[("keys", 341)] * 2, None, *[("keys", 341)] * 3, ("keys", 662)],
        2048,
        [False] + [True] * 11,
    ),
    "nanogpt_r46_varlen.pt2": (
        50304,
        6,
        [None, *[("keys", 413)] * 3, ("keys", 760), *[("keys", 413)] * 2, None, *[("keys", 413)] * 3, ("keys", 760)],
        2048,
        [False] + [True] * 11,
    ),
    # records 49-55: 11 layers, no attention in layer 7, long windows in layers 4 and 11, no paired heads yet
    "nanogpt_r53_varlen.pt2": (
        50304,
        6,
        [*[("keys", 414)] * 3, ("keys", 761), *[("keys", 414)] * 2, None, *[("keys", 414)] * 3, ("keys", 761)],
        2048,
    ),
    # record 81 (and 88-89, whose window means round the same): record 62's layers with MUDD, stage schedule
    # of 1,405 + 10 steps
    "nanogpt_r81_varlen.pt2": (
        50304,
        6,
        [
            ("keys", 441),
            ("keys", 409),
            ("keys", 441),
            ("keys", 749),
            ("keys", 409),
            ("keys", 441),
            None,
            ("keys", 409),
            ("keys", 409),
            ("keys", 441),
            ("keys", 749),
        ],
        2048,
    ),
    # records 62-71 and 73: 11 layers, no attention in layer 7; paired-head layers 1, 3, 6, 10 attend over the
    # doubled sequence (the same multiply-adds per key)
    "nanogpt_r62_varlen.pt2": (
        50304,
        6,
        [
            ("keys", 449),
            ("keys", 416),
            ("keys", 449),
            ("keys", 763),
            ("keys", 416),
            ("keys", 449),
            None,
            ("keys", 416),
            ("keys", 416),
            ("keys", 449),
            ("keys", 763),
        ],
        2048,
    ),
    # record 85, the submitted version (this_pr_v3: 1,275 + 15 steps): record 62's layers with the DC-MHA
    # correction's 112-key window added to layer 11
    "nanogpt_r85v3_varlen.pt2": (50304, 6, _paired(443, 410, 751, 860), 2048),
    # records 30-34: record 29's layers without the MLP of layer 1
    "nanogpt_r30_varlen.pt2": (50304, 6, _r29(338, 658), 2048, [False] + [True] * 11),
    # records 35-38 and 42-45 (343/664), 40-41 (342/662): record 39's layers (no attention, no MLP in layer 1)
    "nanogpt_r35_varlen.pt2": (50304, 6, [None, *_r29(343, 664)[1:]], 2048, [False] + [True] * 11),
    "nanogpt_r40_varlen.pt2": (50304, 6, [None, *_r29(342, 662)[1:]], 2048, [False] + [True] * 11),
    # records 56-57: record 53's 11 layers
    "nanogpt_r56_varlen.pt2": (50304, 6, _paired(0, 415, 762, 762, paired_at=()), 2048),
    # records 58-61, 72 and 74-84: record 62's layers (paired-head layers 1, 3, 6, 10) with their own window means;
    # record 72 cuts sequences to 896 tokens for steps 1-504 and short windows to 2 blocks for steps 1,010-1,514
    "nanogpt_r58_varlen.pt2": (50304, 6, _paired(447, 415, 762, 762), 2048),
    "nanogpt_r61_varlen.pt2": (50304, 6, _paired(448, 415, 762, 762), 2048),
    "nanogpt_r72_varlen.pt2": (50304, 6, _paired(284, 271, 756, 756), 2048),
    "nanogpt_r74_varlen.pt2": (50304, 6, _paired(449, 415, 756, 756), 2048),
    "nanogpt_r82_varlen.pt2": (50304, 6, _paired(449, 416, 756, 756), 2048),
    # record 87: paired-head attention in layers 1 and 6 only (layers 3 and 10 back to short windows)
    "nanogpt_r87_varlen.pt2": (50304, 6, _paired(435, 404, 740, 740, paired_at=(0, 5)), 2048),
}


def export(name: str, out: Path = HERE) -> Path:
    """Build one model on the meta device and save its graph into `out`."""
    vocab, heads, windows, length, *rest = MODELS[name]
    mlps = rest[0] if rest else [True] * len(windows)
    with torch.device("meta"):
        model = GPT(vocab, 768, heads, windows, 4 * 768, mlps).eval()
    ids = torch.zeros(1, length, dtype=torch.long, device="meta")
    return save_graph_only(model, (ids,), out / name)


if __name__ == "__main__":
    export_script(MODELS, export, HERE, sys.argv[1:])
