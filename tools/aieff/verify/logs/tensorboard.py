"""TensorBoard event files: the scalar `tag` of every event, decoded with tensorboard's own protos.

TensorFlow is not needed: tensorboard ships the Event protos and the record checksum. The TFRecord
framing (length, its checksum, payload, its checksum) is walked here rather than by tensorboard's
record reader, because that reader reads whatever length a record declares and drops a truncated
tail without a word; here a declared length is checked against the bytes present before anything is
read (A401), and a tensor's declared shape before it is built (A402). An event's step counts steps,
epochs or samples as the entry's `step_means` says.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from typing import Any

from aieff.dataset.schema import Benchmark, TrainingLog
from aieff.refusals import Refused
from aieff.repo import DataError
from aieff.verify.logs import Eval, Evals, scale

BINARY = True
HEADER, FOOTER = 12, 4  # uint64 length + uint32 masked CRC of it; uint32 masked CRC of the payload


def records(raw: bytes) -> Iterator[tuple[int, bytes]]:
    """(record number, payload) of every TFRecord; a declared length past the file's end is refused first."""
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    pos, n = 0, 0
    while pos < len(raw):
        n += 1
        left = len(raw) - pos
        if left < HEADER:
            raise DataError(f"tensorboard record {n}: {left} byte(s) at the end are not a record header")
        (length,) = struct.unpack_from("<Q", raw, pos)
        (crc,) = struct.unpack_from("<I", raw, pos + 8)
        if crc != masked_crc32c(raw[pos : pos + 8]):
            raise DataError(f"tensorboard record {n}: damaged length (checksum mismatch)")
        if length > left - HEADER - FOOTER:
            raise Refused(
                "A401",
                f"tensorboard record {n} declares {length} bytes; the file holds {max(0, left - HEADER - FOOTER)} "
                "bytes after its header",
            )
        start = pos + HEADER
        payload = raw[start : start + length]
        (crc,) = struct.unpack_from("<I", raw, start + length)
        if crc != masked_crc32c(payload):
            raise DataError(f"tensorboard record {n}: damaged payload (checksum mismatch)")
        yield n, payload
        pos = start + length + FOOTER


def _scalar(value: Any, n: int) -> float | None:
    if value.HasField("simple_value"):
        return float(value.simple_value)
    if not value.HasField("tensor"):
        return None
    from tensorboard.compat.tensorflow_stub import dtypes
    from tensorboard.util import tensor_util

    tensor, where = value.tensor, f"tensorboard record {n}: tag {value.tag!r}"
    shape = [d.size for d in tensor.tensor_shape.dim]
    if math.prod(shape) != 1 or any(d < 0 for d in shape):
        raise Refused("A402", f"{where} declares a tensor of {_declared(shape)}; a scalar has one")
    size = dtypes.as_dtype(tensor.dtype).size
    if tensor.tensor_content and len(tensor.tensor_content) != size:
        raise Refused(
            "A402", f"{where} declares {len(tensor.tensor_content)} bytes of content for one {size}-byte element"
        )
    return float(tensor_util.make_ndarray(tensor).reshape(()))


def _declared(shape: list[int]) -> str:
    dims = ", ".join(map(str, shape[:8])) + (f", ... ({len(shape)} dims)" if len(shape) > 8 else "")
    elements = math.prod(shape)  # Python ints: a declared 2**62 x 2**62 does not wrap around to 1
    return f"shape [{dims}] ({elements if abs(elements) < 10**18 else 'over 1e18'} elements)"


def parse(raw: bytes, spec: TrainingLog, level: Benchmark) -> Evals:
    """One evaluation per event carrying the tag."""
    from google.protobuf.message import DecodeError
    from tensorboard.compat.proto import event_pb2

    out: list[Eval] = []
    total = 0
    for n, record in records(raw):
        total = n
        try:
            event = event_pb2.Event.FromString(record)
        except DecodeError as exc:
            raise DataError(f"tensorboard record {n}: not an Event") from exc
        for value in event.summary.value:
            if value.tag != spec.tag:
                continue
            scalar = _scalar(value, n)
            if scalar is None:
                raise DataError(f"tensorboard record {n}: tag {spec.tag!r} is not a scalar")
            step = int(event.step)
            kind = spec.step_means
            out.append(
                Eval(
                    n,
                    scale(scalar, spec, level),
                    epochs=float(step) if kind == "epochs" else None,
                    samples=step if kind == "samples" else None,
                    steps=step if kind == "steps" else None,
                )
            )
    if not out and total:
        raise DataError(f"tensorboard: no scalar tagged {spec.tag!r} in {total} records")
    return Evals(out, [f"tensorboard: event step = {spec.step_means} done; line numbers are record numbers"])
