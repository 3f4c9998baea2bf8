"""Builders for the model families the dataset counts (GPT-style transformers, CIFAR ResNets), for exports.

A new level's `exports/make_exports.py` writes a few lines: build the record's network with `gpt(...)`
or `cifar_resnet(...)` / `resnet9(...)` on the meta device and save it with `save(...)`, which calls
`aieff.verify.pt2.save_graph_only` (no weights, no stack traces). What the builders keep is what costs
multiply-adds, as the GPT-2 and CIFAR-10 levels' scripts do: projections, MLPs, attention products
over the keys each query sees, the LM head, convolutions and linear layers. Norms, rotary, value
embeddings and scalar mixing are table look-ups or elementwise (no multiply-adds). torch is imported
when a builder is called, never at `import aieff.models`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

CAUSAL = "causal"  # dense causal attention over the whole sequence (SDPA, is_causal): L(L+1)/2 pairs

# One layer's attention: CAUSAL, an int K (every query computes K keys, zeros before the start: the mean
# keys per query the layer's mask keeps, e.g. a sliding window's or a FlexAttention block mask's), or None
# (no attention). Attention is counted over the pairs the mask keeps, never over what a kernel computes
# beyond it (whole blocks): one convention, as the GPT-2 level's exports count it.
Window = str | int | None


@functools.cache
def _classes() -> dict[str, Any]:
    """The nn.Module classes, defined once torch is imported."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Attention(nn.Module):
        def __init__(self, dim: int, heads: int, window: Window) -> None:
            super().__init__()
            self.heads, self.window = heads, window
            self.qkv = nn.Linear(dim, 3 * dim, bias=False)
            self.out = nn.Linear(dim, dim, bias=False)

        def forward(self, x: torch.Tensor, ve: torch.Tensor | None) -> torch.Tensor:
            b, t, d = x.shape
            hd = d // self.heads
            q, k, v = self.qkv(x).split(d, dim=2)
            if ve is not None:  # a look-up mixed into the values: no multiply-adds
                v = v + ve
            q, k, v = (z.view(b, t, self.heads, hd).transpose(1, 2) for z in (q, k, v))
            if self.window == CAUSAL:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                span = cast(int, self.window)  # a number of keys per query (Window: CAUSAL or an int)
                keys = F.pad(k, (0, 0, span - 1, 0)).unfold(2, span, 1)  # b, h, t, hd, K
                values = F.pad(v, (0, 0, span - 1, 0)).unfold(2, span, 1).transpose(-1, -2)
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
        def __init__(
            self,
            vocab: int,
            dim: int,
            heads: int,
            windows: list[Window],
            hidden: int,
            mlps: list[bool],
            value_layers: list[bool],
        ) -> None:
            super().__init__()
            self.embed = nn.Embedding(vocab, dim)
            self.values = nn.ModuleList([nn.Embedding(vocab, dim) if v else nn.Identity() for v in value_layers])
            self.attn = nn.ModuleList([Attention(dim, heads, w) if w is not None else nn.Identity() for w in windows])
            self.mlp = nn.ModuleList([MLP(dim, hidden) if m else nn.Identity() for m in mlps])
            self.has_attn, self.has_mlp, self.has_ve = [w is not None for w in windows], mlps, value_layers
            self.head = nn.Linear(dim, vocab, bias=False)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            x = self.embed(ids)
            layers = zip(self.attn, self.mlp, self.values, self.has_attn, self.has_mlp, self.has_ve, strict=True)
            for attn, mlp, table, has_attn, has_mlp, has_ve in layers:
                if has_attn:
                    x = x + attn(F.rms_norm(x, (x.shape[-1],)), table(ids) if has_ve else None)
                if has_mlp:
                    x = x + mlp(F.rms_norm(x, (x.shape[-1],)))
            return self.head(F.rms_norm(x, (x.shape[-1],)))

    def conv_bn(c_in: int, c_out: int, kernel: int = 3, stride: int = 1, padding: int = 1) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
        )

    class Residual(nn.Module):
        def __init__(self, *layers: nn.Module) -> None:
            super().__init__()
            self.body = nn.Sequential(*layers)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.body(x)

    class PreActBasic(nn.Module):
        """Pre-activation basic block: two 3x3 convolutions, a 1x1 projection where the shape changes."""

        expansion = 1

        def __init__(self, c_in: int, planes: int, stride: int, norm: type[nn.Module]) -> None:
            super().__init__()
            self.bn1, self.conv1 = norm(c_in), nn.Conv2d(c_in, planes, 3, stride, 1, bias=False)
            self.bn2, self.conv2 = norm(planes), nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.increasing = stride != 1 or c_in != planes
            self.shortcut = nn.Conv2d(c_in, planes, 1, stride, bias=False) if self.increasing else nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = F.relu(self.bn1(x))
            skip = h if self.increasing else x
            return self.conv2(F.relu(self.bn2(self.conv1(h)))) + self.shortcut(skip)

    class PreActBottleneck(nn.Module):
        """Pre-activation bottleneck: 1x1, 3x3 (strided), 1x1 to 4x the planes."""

        expansion = 4

        def __init__(self, c_in: int, planes: int, stride: int, norm: type[nn.Module]) -> None:
            super().__init__()
            self.bn1, self.conv1 = norm(c_in), nn.Conv2d(c_in, planes, 1, bias=False)
            self.bn2, self.conv2 = norm(planes), nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.bn3, self.conv3 = norm(planes), nn.Conv2d(planes, 4 * planes, 1, bias=False)
            self.increasing = stride != 1 or c_in != 4 * planes
            self.shortcut = nn.Conv2d(c_in, 4 * planes, 1, stride, bias=False) if self.increasing else nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = F.relu(self.bn1(x))
            skip = h if self.increasing else x
            h = self.conv2(F.relu(self.bn2(self.conv1(h))))
            return self.conv3(F.relu(self.bn3(h))) + self.shortcut(skip)

    class PreActResNet(nn.Module):
        def __init__(self, block: Any, blocks: int, widths: Sequence[int], classes: int, norm: type[nn.Module]) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, widths[0], 3, padding=1, bias=False)
            layers, c_in = [], widths[0]
            for section, planes in enumerate(widths):
                for i in range(blocks):
                    layers.append(block(c_in, planes, 2 if section and i == 0 else 1, norm))
                    c_in = planes * block.expansion
            self.sections = nn.Sequential(*layers)
            self.bn = norm(c_in)
            self.fc = nn.Linear(c_in, classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(F.relu(self.bn(self.sections(self.conv1(x)))).mean((2, 3)))

    return {
        "GPT": GPT,
        "PreActResNet": PreActResNet,
        "basic": PreActBasic,
        "bottleneck": PreActBottleneck,
        "conv_bn": conv_bn,
        "Residual": Residual,
    }


def gpt(
    *,
    width: int = 768,
    depth: int = 12,
    heads: int = 12,
    mlp_ratio: float = 4,
    vocab: int = 50304,
    windows: Sequence[Window] | Window = CAUSAL,
    mlp_layers: Sequence[bool] | None = None,
    value_embeddings: Sequence[int] = (),
) -> Any:
    """A GPT-style decoder built on the current device (use `with torch.device("meta")`).

    width: model dimension; depth: layers; heads: attention heads (width must divide by them);
    mlp_ratio: MLP hidden width over the model width (hidden = round(width * mlp_ratio));
    vocab: rows the LM head computes (llm.c and modded-nanogpt pad 50,257 to 50,304);
    windows: one per layer, or one for all: CAUSAL, K keys per query (the mean the mask keeps), or None;
    mlp_layers: per layer, whether it has an MLP (default: all);
    value_embeddings: indices of the layers whose values add a value-embedding look-up (no multiply-adds).
    """
    per_layer = list(windows) if isinstance(windows, list | tuple) else [windows] * depth
    mlps = list(mlp_layers) if mlp_layers is not None else [True] * depth
    if len(per_layer) != depth or len(mlps) != depth:
        raise ValueError(f"windows and mlp_layers need one value per layer ({depth})")
    if width % heads:
        raise ValueError(f"width {width} does not divide into {heads} heads")
    bad = [w for w in per_layer if not (w is None or w == CAUSAL or type(w) is int and w > 0)]
    if bad:
        raise ValueError(f"a window is CAUSAL, a positive number of keys per query or None, not {bad[0]!r}")
    if any(not 0 <= i < depth for i in value_embeddings):
        raise ValueError(f"value_embeddings are layer indices from 0 to {depth - 1}")
    value_layers = [i in set(value_embeddings) for i in range(depth)]
    return _classes()["GPT"](vocab, width, heads, per_layer, round(width * mlp_ratio), mlps, value_layers)


def cifar_resnet(
    *,
    blocks: int,
    block: str = "basic",
    widths: Sequence[int] = (16, 32, 64),
    classes: int = 10,
    norms: bool = True,
) -> Any:
    """A pre-activation CIFAR ResNet (He et al. 2016): a 3x3 stem, one section per width with `blocks`
    blocks each (stride 2 at the start of every section after the first), average pool, linear.

    block: "basic" (6n+2 layers, e.g. blocks=18 is ResNet-110) or "bottleneck" (9n+2, blocks=18 is
    ResNet-164). norms=False leaves batch norms out (no multiply-adds; a deep graph then stays small).
    """
    from torch import nn

    kinds = _classes()
    if block not in ("basic", "bottleneck"):
        raise ValueError(f"block is 'basic' or 'bottleneck', not {block!r}")
    norm = nn.BatchNorm2d if norms else nn.Identity
    return kinds["PreActResNet"](kinds[block], blocks, tuple(widths), classes, norm)


def resnet9(*, widths: Sequence[int] = (64, 128, 256, 512), classes: int = 10) -> Any:
    """David Page's ResNet-9 (cifar10-fast): prep conv, then three conv-pool layers with residual pairs
    after the first and the third, a 4x4 max-pool and a linear layer without bias."""
    from torch import nn

    kinds = _classes()
    conv_bn, residual = kinds["conv_bn"], kinds["Residual"]
    w0, w1, w2, w3 = widths
    return nn.Sequential(
        conv_bn(3, w0),
        conv_bn(w0, w1),
        nn.MaxPool2d(2),
        residual(conv_bn(w1, w1), conv_bn(w1, w1)),
        conv_bn(w1, w2),
        nn.MaxPool2d(2),
        conv_bn(w2, w3),
        nn.MaxPool2d(2),
        residual(conv_bn(w3, w3), conv_bn(w3, w3)),
        nn.MaxPool2d(4),
        nn.Flatten(),
        nn.Linear(w3, classes, bias=False),
    )


def save(model: Any, path: Path, *, sequence_length: int | None = None, resolution: int | None = None) -> Path:
    """Save a meta-device model's graph at one input shape (token ids of `sequence_length`, or a
    3 x `resolution` x `resolution` image) with `aieff.verify.pt2.save_graph_only`."""
    import torch

    from aieff.verify.pt2 import save_graph_only

    if (sequence_length is None) == (resolution is None):
        raise ValueError("give exactly one of sequence_length (tokens) and resolution (images)")
    if sequence_length is not None:
        example = torch.zeros(1, sequence_length, dtype=torch.long, device="meta")
    else:
        assert resolution is not None  # exactly one of the two, checked above
        example = torch.empty(1, 3, resolution, resolution, device="meta")
    return save_graph_only(model.eval(), (example,), Path(path))
