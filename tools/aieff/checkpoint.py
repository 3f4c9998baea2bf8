"""Read a checkpoint's tensor names and shapes without trusting it, and compare them with a model.

safetensors: only the JSON header is read. torch zip: `torch.load(weights_only=True, mmap=True)`,
whose restricted unpickler refuses any global that is not a tensor type, so a pickle that would
run code is rejected before it runs. Legacy (non-zip) pickles are refused outright.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aieff.diagnostics import excerpt, first_line
from aieff.repo import DataError

MAX_HEADER = 100 << 20
_SAFETENSORS_DTYPES = {
    "F64",
    "F32",
    "F16",
    "BF16",
    "I64",
    "I32",
    "I16",
    "I8",
    "U8",
    "BOOL",
    "F8_E4M3",
    "F8_E5M2",
    "U16",
    "U32",
    "U64",
    "C64",
    "F8_E8M0",
    "F4",
}


@dataclass
class CheckpointReport:
    """How a checkpoint's tensors match the architecture's state dict."""

    format: str
    tensors: int
    parameters: int
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def problems(self, limit: int = 5) -> list[str]:
        """Readable lines naming what differs (first few of each kind)."""
        out = []
        for what, names in (
            ("missing", self.missing),
            ("unexpected", self.unexpected),
            ("shape mismatch", self.mismatched),
        ):
            if names:
                more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
                out.append(f"{what}: {', '.join(names[:limit])}{more}")
        return out


def read_safetensors(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from a safetensors header, checking offsets against the file size."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) != 8:
            raise DataError(f"{path.name}: too short to be safetensors")
        (n,) = struct.unpack("<Q", head)
        if n > min(MAX_HEADER, size - 8):
            raise DataError(f"{path.name}: safetensors header of {n} bytes does not fit the file")
        try:
            header = json.loads(fh.read(n))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise DataError(f"{path.name}: safetensors header is not JSON") from exc
    if not isinstance(header, dict):
        raise DataError(f"{path.name}: safetensors header is not a mapping")
    shapes: dict[str, tuple[int, ...]] = {}
    data_len = size - 8 - n
    for name, info in header.items():
        if name == "__metadata__":
            continue
        shown = excerpt(name)
        if not isinstance(info, dict) or len(name) > 1000:
            raise DataError(f"{path.name}: malformed entry for tensor {shown}")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if not (
            isinstance(shape, list)
            and len(shape) <= 64
            and all(_whole(d) and 0 <= d <= 1 << 48 for d in shape)
            and isinstance(offsets, list)
            and len(offsets) == 2
            and all(_whole(o) for o in offsets)
        ):
            raise DataError(f"{path.name}: malformed shape or data_offsets for tensor {shown}")
        start, end = offsets
        if dtype not in _SAFETENSORS_DTYPES or not (0 <= start <= end <= data_len):
            raise DataError(f"{path.name}: tensor {shown} has a bad dtype or offsets")
        shapes[name] = tuple(shape)
    return shapes


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_torch_zip(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from a torch zip checkpoint, loaded with weights_only and mmap."""
    import pickle

    import torch

    with path.open("rb") as fh:
        if fh.read(4) != b"PK\x03\x04":
            raise DataError(f"{path.name}: not a zip checkpoint; legacy pickles are refused")
    try:
        obj = torch.load(str(path), weights_only=True, mmap=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0][:300]
        raise DataError(f"{path.name}: refused: the pickle asks for more than tensors ({first})") from exc
    except Exception as exc:  # corrupt archives raise many types; report one clean line
        first = first_line(exc)
        raise DataError(f"{path.name}: cannot read the checkpoint: {type(exc).__name__}: {excerpt(first)}") from exc
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise DataError(f"{path.name}: expected a state dict (a mapping of names to tensors)")
    shapes = {}
    for name, value in obj.items():
        if isinstance(value, torch.Tensor):
            shapes[str(name)] = tuple(value.shape)
    return shapes


def _format(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(9)
    if head[:4] == b"PK\x03\x04":
        return "torch-zip"
    if len(head) == 9 and head[8:9] == b"{":
        return "safetensors"
    raise DataError(f"{path.name}: neither safetensors nor a torch zip checkpoint")


def read_checkpoint_header(path: Path) -> str:
    """The checks that need no torch: the format, and a safetensors header whole. Returns the format."""
    fmt = _format(path)
    if fmt == "safetensors":
        read_safetensors(path)
    return fmt


def read_checkpoint(path: Path) -> tuple[str, dict[str, tuple[int, ...]]]:
    """Detect the format by its bytes and return (format, name -> shape)."""
    fmt = _format(path)
    return fmt, read_torch_zip(path) if fmt == "torch-zip" else read_safetensors(path)


def compare(model_shapes: dict[str, tuple[int, ...]], path: Path) -> CheckpointReport:
    """Compare a checkpoint with the architecture's state dict (names and shapes)."""
    fmt, found = read_checkpoint(path)
    report = CheckpointReport(fmt, len(found), sum(_numel(s) for s in found.values()))
    report.missing = sorted(set(model_shapes) - set(found))
    report.unexpected = sorted(set(found) - set(model_shapes))
    report.mismatched = sorted(
        f"{k} {list(found[k])} vs {list(model_shapes[k])}"
        for k in set(found) & set(model_shapes)
        if tuple(found[k]) != tuple(model_shapes[k])
    )
    return report


def state_shapes(model: Any) -> dict[str, tuple[int, ...]]:
    """Name -> shape of a module's (or exported program's) state dict."""
    state = model.state_dict()
    return {k: tuple(v.shape) for k, v in state.items()}


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n
