"""Read a checkpoint's tensor names and shapes without trusting it, check that it carries real weights,
and compare it with a model.

A checkpoint must be valid for its own library and hold its weights: safetensors is laid out as the
safetensors library requires (each tensor's byte range is its shape times its dtype size, the ranges
are contiguous and cover the data section exactly); a torch zip is read by a restricted unpickler of
ours that knows only tensor types (torch-free, so the sandbox's precheck runs it before importing
torch), each storage must be the archive record it names and of the size it declares, each tensor a
dense view (no zero or overlapping strides) of bytes no other tensor uses (except a tensor the
architecture itself ties under two names), and torch's own `torch.load(weights_only=True)` must read
the same names and shapes. Finally a weight (a tensor named `weight` with two or more dimensions), or
else every tensor, must not be one value repeated. Data is read in 1 MiB chunks and a tensor's scan
stops at its first differing element, so memory stays bounded and a real checkpoint costs about one
chunk per tensor. Legacy (non-zip) pickles are refused outright.
"""

from __future__ import annotations

import collections
import json
import pickle
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple, TypeGuard

from aieff.dataset.diagnostics import excerpt, first_line
from aieff.refusals import Refused
from aieff.repo import DataError

MAX_HEADER = 100 << 20
MAX_PICKLE = 64 << 20  # a state dict's pickle is kilobytes to a few megabytes
CHUNK = 1 << 20
# safetensors dtype -> bits per element
_SAFETENSORS_BITS = {
    "F64": 64,
    "F32": 32,
    "F16": 16,
    "BF16": 16,
    "I64": 64,
    "I32": 32,
    "I16": 16,
    "I8": 8,
    "U8": 8,
    "BOOL": 8,
    "F8_E4M3": 8,
    "F8_E5M2": 8,
    "U16": 16,
    "U32": 32,
    "U64": 64,
    "C64": 64,
    "F8_E8M0": 8,
    "F4": 4,
}
_SAFETENSORS_DTYPES = set(_SAFETENSORS_BITS)


class _Span(NamedTuple):
    """Where a tensor's bytes are in the checkpoint file."""

    name: str
    shape: tuple[int, ...]
    start: int
    end: int
    item: int  # bytes per element (1 for dtypes smaller than a byte)


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
    """Tensor name -> shape from a safetensors file, checked as safetensors itself checks its layout,
    and refused when its weights are one repeated value."""
    shapes, spans = _safetensors_layout(path)
    _refuse_constant(path, spans)
    return shapes


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise DataError("duplicate name in the safetensors header")
    return out


def _safetensors_layout(path: Path) -> tuple[dict[str, tuple[int, ...]], list[_Span]]:
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) != 8:
            raise DataError(f"{path.name}: too short to be safetensors")
        (n,) = struct.unpack("<Q", head)
        if n > min(MAX_HEADER, size - 8):
            raise DataError(f"{path.name}: safetensors header of {n} bytes does not fit the file")
        try:
            header = json.loads(fh.read(n), object_pairs_hook=_no_duplicates)
        except DataError as exc:
            raise DataError(f"{path.name}: {exc}") from exc
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise DataError(f"{path.name}: safetensors header is not JSON") from exc
    if not isinstance(header, dict):
        raise DataError(f"{path.name}: safetensors header is not a mapping")
    shapes: dict[str, tuple[int, ...]] = {}
    ranges: list[tuple[int, int, str]] = []
    spans: list[_Span] = []
    data_len = size - 8 - n
    for name, info in header.items():
        if name == "__metadata__":
            if not (isinstance(info, dict) and all(isinstance(v, str) for v in info.values())):
                raise DataError(f"{path.name}: __metadata__ is not a mapping of strings (safetensors requires one)")
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
        if dtype not in _SAFETENSORS_DTYPES or not 0 <= start <= end:
            raise DataError(f"{path.name}: tensor {shown} has a bad dtype or offsets")
        bits = _numel(tuple(shape)) * _SAFETENSORS_BITS[dtype]
        if bits % 8 or end - start != bits // 8:
            raise Refused(
                "A501",
                f"{path.name}: tensor {shown} {shape} {dtype} needs {bits / 8:g} bytes; "
                f"its data_offsets [{start}, {end}] hold {end - start}",
            )
        if end > data_len:
            raise Refused(
                "A501",
                f"{path.name}: tensor {shown}: data_offsets [{start}, {end}] run past the {data_len}-byte data section",
            )
        shapes[name] = tuple(shape)
        ranges.append((start, end, name))
        spans.append(_Span(name, tuple(shape), 8 + n + start, 8 + n + end, max(1, _SAFETENSORS_BITS[dtype] // 8)))
    covered, previous = 0, None
    for start, end, name in sorted(ranges):
        if start != covered:
            what = f"overlaps tensor {excerpt(previous)}" if start < covered else f"leaves a gap at byte {covered}"
            raise Refused("A501", f"{path.name}: tensor {excerpt(name)} at [{start}, {end}] {what}")
        covered, previous = end, name
    if covered != data_len:
        raise Refused("A501", f"{path.name}: the tensors cover {covered} bytes of a {data_len}-byte data section")
    return shapes, spans


def _whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


# --- torch zip: a restricted reader of the state dict's pickle (tensor metadata only, no torch) ---

# Legacy storage classes (torch._utils._rebuild_tensor_v2) and the dtypes saved with an untyped
# storage (_rebuild_tensor_v3), each with its element size in bytes.
_LEGACY_STORAGES = {
    "DoubleStorage": 8,
    "FloatStorage": 4,
    "HalfStorage": 2,
    "BFloat16Storage": 2,
    "LongStorage": 8,
    "IntStorage": 4,
    "ShortStorage": 2,
    "CharStorage": 1,
    "ByteStorage": 1,
    "BoolStorage": 1,
    "ComplexDoubleStorage": 16,
    "ComplexFloatStorage": 8,
}
_NEW_DTYPES = {
    "uint16": 2,
    "uint32": 4,
    "uint64": 8,
    "float8_e5m2": 1,
    "float8_e4m3fn": 1,
    "float8_e5m2fnuz": 1,
    "float8_e4m3fnuz": 1,
    "float8_e8m0fnu": 1,
    "float4_e2m1fn_x2": 1,
    "complex32": 4,
}


class _Type(NamedTuple):
    """A storage class or dtype named by the pickle: only its element size matters here."""

    name: str
    item: int


class _Storage(NamedTuple):
    key: str
    nbytes: int
    item: int  # element size of a typed storage (1 for an untyped one)


class _View(NamedTuple):
    """A tensor as the pickle describes it: a view of a storage."""

    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    item: int


def _ints(value: object) -> tuple[int, ...]:
    if not (isinstance(value, tuple) and len(value) <= 64 and all(_whole(v) and 0 <= v < 1 << 62 for v in value)):
        raise pickle.UnpicklingError("a tensor's size or stride is not a tuple of whole numbers")
    return value


def _view(storage: object, offset: object, size: object, stride: object, item: int) -> _View:
    if not isinstance(storage, _Storage) or not _whole(offset) or not 0 <= offset < 1 << 62:
        raise pickle.UnpicklingError("a tensor without a storage")
    shape, strides = _ints(size), _ints(stride)
    if len(shape) != len(strides):
        raise pickle.UnpicklingError("a tensor's size and stride differ in length")
    return _View(storage, offset, shape, strides, item)


def _rebuild_tensor_v2(storage: object, offset: object, size: object, stride: object, *_: object) -> _View:
    return _view(storage, offset, size, stride, storage.item if isinstance(storage, _Storage) else 1)


def _rebuild_tensor_v3(
    storage: object,
    offset: object,
    size: object,
    stride: object,
    requires_grad: object,
    hooks: object,
    dtype: object,
    *_: object,
) -> _View:
    if not isinstance(dtype, _Type) or dtype.name not in _NEW_DTYPES:
        raise pickle.UnpicklingError("a tensor without a known dtype")
    return _view(storage, offset, size, stride, dtype.item)


def _rebuild_parameter(data: object, *_: object) -> object:
    return data


_REBUILD = {
    "_rebuild_tensor_v2": _rebuild_tensor_v2,
    "_rebuild_tensor_v3": _rebuild_tensor_v3,
    "_rebuild_parameter": _rebuild_parameter,
    "_rebuild_parameter_with_state": _rebuild_parameter,
}


class _MetadataReader(pickle.Unpickler):
    """Builds only our own inert stand-ins: every global outside a few tensor types is refused."""

    def __init__(self, data: bytes) -> None:
        import io

        super().__init__(io.BytesIO(data))
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in _REBUILD:
            return _REBUILD[name]
        if module == "torch" and name in _LEGACY_STORAGES:
            return _Type(name, _LEGACY_STORAGES[name])
        if module == "torch" and name in _NEW_DTYPES:
            return _Type(name, _NEW_DTYPES[name])
        if module in ("torch", "torch.storage") and name == "UntypedStorage":
            return _Type(name, 1)
        raise pickle.UnpicklingError(f"global {excerpt(module, 80)}.{excerpt(name, 80)} is not a tensor type")

    def persistent_load(self, pid: Any) -> _Storage:
        if not (
            isinstance(pid, tuple)
            and len(pid) == 5
            and pid[0] == "storage"
            and isinstance(pid[1], _Type)
            and isinstance(pid[2], str)
            and len(pid[2]) <= 100
            and _whole(pid[4])
            and 0 <= pid[4] < 1 << 62
        ):
            raise pickle.UnpicklingError("a storage reference that is not ('storage', type, key, location, size)")
        storage = _Storage(pid[2], pid[4] * pid[1].item, pid[1].item)
        if self.storages.setdefault(storage.key, storage) != storage:
            raise pickle.UnpicklingError(f"storage {excerpt(storage.key)} is declared twice, differently")
        return storage


def _state_dict(obj: Any) -> Any:
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    return obj


def _record_data(fh: IO[bytes], info: zipfile.ZipInfo, size: int) -> int:
    """Where a stored record's bytes start in the file (after its local header)."""
    fh.seek(info.header_offset)
    local = fh.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise Refused("A502", f"record {excerpt(info.filename)} has no local header")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    start = info.header_offset + 30 + name_len + extra_len
    if start + info.file_size > size:
        raise Refused("A502", f"record {excerpt(info.filename)} runs past the end of the file")
    return start


def _torch_zip_layout(path: Path, tied: list[frozenset[str]] | None) -> tuple[dict[str, tuple[int, ...]], list[_Span]]:
    """Names, shapes and byte spans of a torch zip state dict, with storages, views and sharing checked.

    tied: groups of names the architecture ties to one tensor; None (before the architecture is known)
    lets any exact alias pass, to be judged again once it is.
    """
    with path.open("rb") as fh:
        if fh.read(4) != b"PK\x03\x04":
            raise DataError(f"{path.name}: not a zip checkpoint; legacy pickles are refused")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            names = [i.filename for i in infos]
            if len(set(names)) != len(names):
                raise DataError(f"{path.name}: the archive holds two records of one name")
            prefix = names[0].split("/", 1)[0] if names else ""
            pkl = {i.filename: i for i in infos}.get(f"{prefix}/data.pkl")
            if pkl is None or pkl.file_size > MAX_PICKLE:
                raise DataError(f"{path.name}: no data.pkl of at most {MAX_PICKLE} bytes in the archive")
            with zf.open(pkl) as member:
                data = member.read(MAX_PICKLE + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise DataError(f"{path.name}: cannot read the checkpoint: {excerpt(first_line(exc))}") from exc
    reader = _MetadataReader(data)
    try:
        obj = _state_dict(reader.load())
    except (pickle.UnpicklingError, TypeError) as exc:
        raise DataError(f"{path.name}: refused: the pickle asks for more than tensors ({excerpt(str(exc))})") from exc
    except Exception as exc:  # a damaged pickle raises many types; report one clean line
        raise DataError(
            f"{path.name}: cannot read the checkpoint: {type(exc).__name__}: {excerpt(first_line(exc))}"
        ) from exc
    if not isinstance(obj, dict):
        raise DataError(f"{path.name}: expected a state dict (a mapping of names to tensors)")
    views = {str(k): v for k, v in obj.items() if isinstance(v, _View)}
    records = {i.filename: i for i in infos}
    size = path.stat().st_size
    starts: dict[str, int] = {}
    with path.open("rb") as fh:
        for storage in {v.storage for v in views.values()}:
            info = records.get(f"{prefix}/data/{storage.key}")
            shown = f"{path.name}: storage {excerpt(storage.key)}"
            if info is None:
                raise Refused("A502", f"{shown} has no record in the archive")
            if info.compress_type != zipfile.ZIP_STORED:
                raise Refused("A502", f"{shown} is compressed; torch stores storages as they are")
            if info.file_size != storage.nbytes:
                raise Refused("A502", f"{shown} declares {storage.nbytes} bytes; its record holds {info.file_size}")
            starts[storage.key] = _record_data(fh, info, size)
    spans = []
    for name, v in views.items():
        _check_view(path, name, v)
        start = starts[v.storage.key] + v.offset * v.item
        spans.append(_Span(name, v.shape, start, start + _numel(v.shape) * v.item, v.item))
    return {name: v.shape for name, v in views.items()}, _distinct(path, spans, views, tied)


def _check_view(path: Path, name: str, v: _View) -> None:
    """A503 unless the tensor is a dense, non-overlapping view inside its storage."""
    shown = f"{path.name}: tensor {excerpt(name)} {list(v.shape)} (stride {list(v.stride)})"
    if _numel(v.shape) == 0:
        return
    expected = 1
    for stride, size in sorted((st, sz) for st, sz in zip(v.stride, v.shape, strict=True) if sz > 1):
        if stride == 0:
            raise Refused("A503", f"{shown} has a zero stride: an expanded view of fewer bytes")
        if stride != expected:
            raise Refused("A503", f"{shown} is not a dense view: its elements overlap or skip bytes")
        expected *= size
    if (v.offset + _numel(v.shape)) * v.item > v.storage.nbytes:
        raise Refused("A503", f"{shown} at offset {v.offset} runs past its {v.storage.nbytes}-byte storage")


def _distinct(
    path: Path, spans: list[_Span], views: dict[str, _View], tied: list[frozenset[str]] | None
) -> list[_Span]:
    """The spans with exact aliases of tied names merged; A504 for any other bytes two tensors share."""
    by_view: dict[tuple[Any, ...], list[_Span]] = {}
    for span in spans:
        v = views[span.name]
        by_view.setdefault((v.storage.key, v.offset, v.shape, v.stride, v.item), []).append(span)
    out = []
    for group in by_view.values():
        names = frozenset(s.name for s in group)
        if len(group) > 1 and _numel(group[0].shape) and tied is not None and not any(names <= t for t in tied):
            pair = next(
                ((a, b) for a in sorted(names) for b in sorted(names) if a < b and not any({a, b} <= t for t in tied)),
                tuple(sorted(names)[:2]),
            )
            raise Refused(
                "A504",
                f"{path.name}: tensors {excerpt(pair[0])} and {excerpt(pair[1])} are one storage; "
                "the architecture does not tie them",
            )
        out.append(group[0])
    end, last = 0, ""
    for span in sorted(out, key=lambda s: (s.start, s.end)):
        if span.start == span.end:
            continue
        if span.start < end:
            raise Refused("A504", f"{path.name}: tensors {excerpt(last)} and {excerpt(span.name)} share storage bytes")
        end, last = span.end, span.name
    return out


def read_torch_zip(path: Path, tied: list[frozenset[str]] | None = None) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from a torch zip checkpoint: our restricted reader's layout checks, then
    torch.load(weights_only=True) on the meta device (no data read) must read the same names and shapes."""
    shapes, spans = _torch_zip_layout(path, tied)
    _refuse_constant(path, spans)
    import torch

    try:
        obj = torch.load(str(path), weights_only=True, map_location="meta")
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0][:300]
        raise DataError(f"{path.name}: refused: the pickle asks for more than tensors ({first})") from exc
    except Exception as exc:  # corrupt archives raise many types; report one clean line
        first = first_line(exc)
        raise DataError(f"{path.name}: cannot read the checkpoint: {type(exc).__name__}: {excerpt(first)}") from exc
    obj = _state_dict(obj)
    if not isinstance(obj, dict):
        raise DataError(f"{path.name}: expected a state dict (a mapping of names to tensors)")
    theirs = {str(k): tuple(v.shape) for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if theirs != shapes:
        raise DataError(f"{path.name}: torch reads other tensors than aieff's checker; refused")
    return shapes


def _constant(fh: IO[bytes], span: _Span) -> bool:
    """Whether every element of the span has the bytes of its first, read in chunks; stops at the first
    element that differs."""
    fh.seek(span.start)
    first = fh.read(span.item)
    pattern = first * (CHUNK // span.item)
    at = span.start + span.item
    while at < span.end:
        n = min(len(pattern), span.end - at)
        chunk = fh.read(n)
        if len(chunk) != n:
            raise DataError(f"{excerpt(span.name)}: the file ends inside this tensor")
        if chunk != (pattern if n == len(pattern) else pattern[:n]):
            return False
        at += n
    return True


def _is_weight(span: _Span) -> bool:
    return span.name.rsplit(".", 1)[-1] == "weight" and len(span.shape) >= 2 and _numel(span.shape) > 1


def _refuse_constant(path: Path, spans: list[_Span]) -> None:
    """A505 when a weight (a tensor named `weight` with two or more dimensions: a convolution, linear or
    embedding matrix) is one value repeated, or, with no such weight, when every tensor of more than one
    element is. Biases, norms and running statistics may be constant (at initialisation they are)."""
    weights = [s for s in spans if _is_weight(s)]
    with path.open("rb") as fh:
        for span in weights:
            if _constant(fh, span):
                raise Refused(
                    "A505", f"{path.name}: tensor {excerpt(span.name)} {list(span.shape)} is one value repeated"
                )
        if weights:
            return
        others = sorted((s for s in spans if _numel(s.shape) > 1), key=lambda s: s.start - s.end)
        if others and all(_constant(fh, span) for span in others):
            raise Refused(
                "A505",
                f"{path.name}: every tensor of more than one element is one value repeated "
                f"(the largest: {excerpt(others[0].name)} {list(others[0].shape)})",
            )


def _format(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(9)
    if head[:4] == b"PK\x03\x04":
        return "torch-zip"
    if len(head) == 9 and head[8:9] == b"{":
        return "safetensors"
    raise DataError(f"{path.name}: neither safetensors nor a torch zip checkpoint")


def read_checkpoint_header(path: Path) -> str:
    """The checks that need no torch (all of safetensors'; a torch zip's storages, views and sharing,
    exact aliases left for compare to judge against the architecture). Returns the format."""
    fmt = _format(path)
    if fmt == "safetensors":
        read_safetensors(path)
    else:
        _refuse_constant(path, _torch_zip_layout(path, None)[1])
    return fmt


def read_checkpoint(path: Path, tied: list[frozenset[str]] | None = None) -> tuple[str, dict[str, tuple[int, ...]]]:
    """Detect the format by its bytes and return (format, name -> shape); `tied` as in _torch_zip_layout."""
    fmt = _format(path)
    return fmt, read_torch_zip(path, tied) if fmt == "torch-zip" else read_safetensors(path)


class ModelShapes(dict[str, tuple[int, ...]]):
    """Name -> shape of a model's state dict, with the groups of names it ties to one tensor (None: the
    model cannot tell, as a graph-only export, whose meta tensors all read as one storage once loaded)."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], tied: list[frozenset[str]] | None) -> None:
        super().__init__(shapes)
        self.tied = tied


def compare(model_shapes: dict[str, tuple[int, ...]], path: Path) -> CheckpointReport:
    """Compare a checkpoint with the architecture's state dict (names and shapes); a checkpoint without
    real weights is refused (Refused, A5xx). Tensors may share storage only where the model ties them."""
    fmt, found = read_checkpoint(path, getattr(model_shapes, "tied", []))
    report = CheckpointReport(fmt, len(found), sum(_numel(s) for s in found.values()))
    report.missing = sorted(set(model_shapes) - set(found))
    report.unexpected = sorted(set(found) - set(model_shapes))
    report.mismatched = sorted(
        f"{k} {list(found[k])} vs {list(model_shapes[k])}"
        for k in set(found) & set(model_shapes)
        if tuple(found[k]) != tuple(model_shapes[k])
    )
    return report


def state_shapes(model: Any) -> ModelShapes:
    """Name -> shape of a module's (or exported program's) state dict, with the names it ties (one
    parameter or buffer under several names)."""
    state = model.state_dict(keep_vars=True)
    groups: dict[object, list[str]] = {}
    first_on: dict[int, int] = {}  # a meta storage -> the first tensor seen on it
    unknown = bool(getattr(model, "ties_unknown", False))  # a graph-only archive says nothing of its ties
    for name, value in state.items():
        storage = value.untyped_storage()._cdata
        if value.is_meta:  # ties are the same tensor object
            key: object = id(value)
            # Distinct meta tensors on one storage: a loaded graph-only export, whose ties are lost.
            unknown |= first_on.setdefault(storage, id(value)) != id(value)
        else:  # ties are one view of one storage (a loaded export's tied weights are distinct objects)
            key = (storage, value.storage_offset(), tuple(value.shape), value.stride())
        groups.setdefault(key, []).append(name)
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    return ModelShapes(shapes, None if unknown else [frozenset(g) for g in groups.values() if len(g) > 1])


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n
