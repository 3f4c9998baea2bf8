"""Write the graph-only export (.pt2) of AlgoPerf's WMT workload model, the one network every entry trains.

Run from the repository root with the `compute` extra installed:

    .venv/bin/python entries/algoperf-v0-5-wmt/exports/make_exports.py [--out DIR] [NAME.pt2 ...]

Run it as a script: the graph records its classes' module, `__main__`, so importing it and calling
export() writes different bytes. Stack traces are dropped, so the bytes do not depend on where the
repository is checked out.

The model is the WMT workload's Transformer as mlcommons/algorithmic-efficiency defines it
(algoperf/workloads/wmt/wmt_jax/models.py TransformerConfig, and the PyTorch port in wmt_pytorch/models.py):
an encoder and a decoder of 6 pre-LN layers each, width 1,024, 16 heads, MLP width 1,024 (mlp_dim, not 4x),
ReLU, one 32,000-token embedding shared by the encoder, the decoder and the output logits. A training
sample is one packed example: 256 source tokens and 256 target tokens (max_length 256). The export takes
them as one sequence of 512 token ids, the first 256 the source, the last 256 the target.

The export keeps what costs multiply-adds: every projection (self-attention, and in the decoder also
cross-attention, whose keys and values are projected from the 256 encoder outputs), the MLPs, the
attention products and the tied output logits (256 x 1,024 x 32,000). Attention is counted by the
project's one convention (README "How a claim is verified", docs/graph-only-exports.md): the query-key
pairs the mask keeps per query, not what a kernel computes beyond it. The decoder's self-attention is causal
(the workload's make_causal_mask), so it is exported with is_causal and counts 256 x 257 / 2 pairs per
layer; cross-attention (every target query over the 256 encoder outputs) and the encoder's self-attention are
dense. The encoder's (and the decoder's) padding and packing-segment masks are left out: they depend on the
batch's data (how full each packed example is), not on the model, so the count is the upper bound of a full
256-token example, as the BERT levels count 512 tokens. Dense decoder self-attention would add
6 x 2 x 1,024 x (256 x 256 - 256 x 257 / 2) = 401,080,320 multiply-adds per example (1.1%). Left out,
because they cost no multiply-adds or well under 0.1% of them: layer norms, biases, dropout, the
sinusoidal position encoding, the embedding look-up and the logits' scaling.

The sha256 of the file is pinned in every entry; torch writes the same bytes for the same graph, so
rerunning this script is a no-op unless the model here changes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from aieff.verify.pt2 import export_script, save_graph_only

HERE = Path(__file__).resolve().parent
SOURCE = TARGET = 256  # tokens per packed example, each side (input_pipeline max_length)


class Attention(nn.Module):
    """Query projection from `x`, key and value projections from `context`, attention (causal when `causal`: the
    query-key pairs the mask keeps), output projection."""

    def __init__(self, dim: int, heads: int, causal: bool = False) -> None:
        super().__init__()
        self.heads, self.causal = heads, causal
        self.q, self.k, self.v = (nn.Linear(dim, dim, bias=False) for _ in range(3))
        self.out = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        s, hd = context.shape[1], d // self.heads
        q = self.q(x).view(b, t, self.heads, hd).transpose(1, 2)
        k, v = (f(context).view(b, s, self.heads, hd).transpose(1, 2) for f in (self.k, self.v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc, self.proj = nn.Linear(dim, hidden, bias=False), nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.relu(self.fc(x)))


class EncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.attn, self.mlp = Attention(dim, heads), MLP(dim, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x, x)
        return x + self.mlp(x)


class DecoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.attn, self.cross = Attention(dim, heads, causal=True), Attention(dim, heads)
        self.mlp = MLP(dim, hidden)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x, x)
        x = x + self.cross(x, memory)
        return x + self.mlp(x)


class Transformer(nn.Module):
    """The WMT workload's encoder-decoder; input: source then target token ids in one sequence."""

    def __init__(self, vocab: int, dim: int, heads: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.encoder = nn.ModuleList([EncoderLayer(dim, heads, hidden) for _ in range(layers)])
        self.decoder = nn.ModuleList([DecoderLayer(dim, heads, hidden) for _ in range(layers)])

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        src, tgt = ids[:, :SOURCE], ids[:, SOURCE:]
        memory = self.embed(src)
        for layer in self.encoder:
            memory = layer(memory)
        x = self.embed(tgt)
        for layer in self.decoder:
            x = layer(x, memory)
        return x @ self.embed.weight.t()  # the tied output logits


MODELS = {"algoperf_wmt_transformer.pt2": (32000, 1024, 16, 1024, 6)}


def export(name: str, out: Path = HERE) -> Path:
    """Build the model on the meta device and save its graph into `out`."""
    vocab, dim, heads, hidden, layers = MODELS[name]
    with torch.device("meta"):
        model = Transformer(vocab, dim, heads, hidden, layers).eval()
    ids = torch.zeros(1, SOURCE + TARGET, dtype=torch.long, device="meta")
    return save_graph_only(model, (ids,), out / name)


if __name__ == "__main__":
    export_script(MODELS, export, HERE, sys.argv[1:])
