"""Checkpoints that match ResNet-18's names and shapes without carrying its weights: each is refused
with its A5xx code, naming a tensor, never accepted as "this architecture"."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from hostile_corpus import Case, checkpoint_entry, failed_with

_STATE: list[dict[str, Any]] = []


def _resnet18() -> dict[str, Any]:
    """ResNet-18's state dict with its random initial weights (built once per process)."""
    if not _STATE:
        from torchvision import models

        _STATE.append(models.resnet18(weights=None).state_dict())
    return _STATE[0]


def _torch_zip(state: dict[str, Any]) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def _header_only() -> bytes:
    """A safetensors header that declares every tensor at its place, and no data section at all."""
    header, at = {}, 0
    for name, t in _resnet18().items():
        size = t.numel() * t.element_size()
        header[name] = {"dtype": "F32" if t.dtype.is_floating_point else "I64", "shape": list(t.shape)}
        header[name]["data_offsets"] = [at, at + size]
        at += size
    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw


def _overlapping() -> bytes:
    """Every tensor's bytes start at 0: the largest tensor's random bytes stand for all of them."""
    import torch

    header, largest = {}, 0
    for name, t in _resnet18().items():
        size = t.numel() * t.element_size()
        header[name] = {"dtype": "F32" if t.dtype.is_floating_point else "I64", "shape": list(t.shape)}
        header[name]["data_offsets"] = [0, size]
        largest = max(largest, size)
    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + torch.randn(largest // 4).numpy().tobytes()


def _expanded() -> bytes:
    import torch

    return _torch_zip({k: torch.randn(()).to(v.dtype).expand(v.shape) for k, v in _resnet18().items()})


def _one_storage() -> bytes:
    import torch

    base = torch.randn(max(v.numel() for v in _resnet18().values()))
    return _torch_zip({k: base[: v.numel()].view(v.shape).to(v.dtype) for k, v in _resnet18().items()})


def _zeros() -> bytes:
    """Real-size, all zeros: 45 MB of nothing."""
    import torch
    from safetensors.torch import save

    return save({k: torch.zeros_like(v) for k, v in _resnet18().items()})


def _short_record() -> bytes:
    """A real checkpoint whose first storage record is cut to 4 bytes; the pickle still declares it whole."""
    src = zipfile.ZipFile(io.BytesIO(_torch_zip(_resnet18())))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, data[:4] if info.filename.endswith("/data/0") else data)
    return out.getvalue()


def _entry(make: Any) -> Any:
    return lambda repo: checkpoint_entry(repo, make())


def cases() -> list[Case]:
    return [
        Case(
            "checkpoint-header-only-resnet18",
            _entry(_header_only),
            failed_with("A501 checkpoint-layout", "tensor 'conv1.weight'", "run past the 0-byte data section"),
            needs_torch=True,
        ),
        Case(
            "checkpoint-safetensors-overlapping-offsets",
            _entry(_overlapping),
            failed_with("A501 checkpoint-layout", "overlaps tensor"),
            needs_torch=True,
        ),
        Case(
            "checkpoint-torch-zip-zero-strides",
            _entry(_expanded),
            failed_with("A503 checkpoint-view", "tensor 'conv1.weight' [64, 3, 7, 7]", "zero stride"),
            needs_torch=True,
        ),
        Case(
            "checkpoint-torch-zip-views-of-one-storage",
            _entry(_one_storage),
            failed_with("A504 checkpoint-shared-storage", "share storage bytes"),
            needs_torch=True,
        ),
        Case(
            "checkpoint-all-zero-resnet18",
            _entry(_zeros),
            failed_with("A505 checkpoint-constant", "tensor 'conv1.weight' [64, 3, 7, 7] is one value repeated"),
            needs_torch=True,
        ),
        Case(
            "checkpoint-torch-zip-short-record",
            _entry(_short_record),
            failed_with("A502 checkpoint-storage", "storage '0' declares 37632 bytes; its record holds 4"),
            needs_torch=True,
        ),
    ]
