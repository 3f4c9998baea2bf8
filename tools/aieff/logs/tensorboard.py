"""TensorBoard event files: the scalar `tag` of every event, read with tensorboard's own record reader.

TensorFlow is not needed: tensorboard reads TFRecord framing and Event protos by itself. An event's
step counts steps, epochs or samples as the entry's `step_means` says.
"""

from __future__ import annotations

import os
import tempfile

from aieff.logs import Eval, Evals, scale
from aieff.repo import DataError
from aieff.schema import Benchmark, TrainingLog

BINARY = True


def _scalar(value: object) -> float | None:
    if value.HasField("simple_value"):  # type: ignore[attr-defined]
        return float(value.simple_value)  # type: ignore[attr-defined]
    if value.HasField("tensor"):  # type: ignore[attr-defined]
        from tensorboard.util import tensor_util

        array = tensor_util.make_ndarray(value.tensor)  # type: ignore[attr-defined]
        if array.size == 1:
            return float(array.reshape(()))
    return None


def parse(raw: bytes, spec: TrainingLog, level: Benchmark) -> Evals:
    """One evaluation per event carrying the tag."""
    from google.protobuf.message import DecodeError
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto import event_pb2

    with tempfile.TemporaryDirectory(prefix="aieff-tb-") as tmp:
        path = os.path.join(tmp, "events.out.tfevents")
        with open(path, "wb") as fh:
            fh.write(raw)
        records = list(RawEventFileLoader(path).Load())
    out: list[Eval] = []
    for n, record in enumerate(records, 1):
        try:
            event = event_pb2.Event.FromString(record)
        except DecodeError as exc:
            raise DataError(f"tensorboard record {n}: not an Event") from exc
        for value in event.summary.value:
            if value.tag != spec.tag:
                continue
            scalar = _scalar(value)
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
    if not out and records:
        raise DataError(f"tensorboard: no scalar tagged {spec.tag!r} in {len(records)} records")
    return Evals(out, [f"tensorboard: event step = {spec.step_means} done; line numbers are record numbers"])
