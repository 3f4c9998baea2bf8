"""JSON lines (DeiT/ConvNeXt `log.txt` style): one object per evaluation."""

from __future__ import annotations

import json

from aieff.logs import Eval, metric_column, to_evals
from aieff.repo import DataError
from aieff.schema import Benchmark, TrainingLog


def parse(text: str, spec: TrainingLog, level: Benchmark) -> list[Eval]:
    """Read `epoch` (or `samples`) and the metric from each line's object."""
    cols = spec.columns or {}
    metric = metric_column(spec, level, "test_acc5", "test_acc1")
    epoch_key, samples_key = cols.get("epoch", "epoch"), cols.get("samples")
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"jsonl line {n}: not JSON") from exc
        if not isinstance(obj, dict) or metric not in obj:
            continue
        try:
            value = float(obj[metric])
            epoch = float(obj[epoch_key]) if epoch_key in obj else None
            samples = int(obj[samples_key]) if samples_key and samples_key in obj else None
        except (TypeError, ValueError) as exc:
            raise DataError(f"jsonl line {n}: non-numeric {metric} or epoch") from exc
        if epoch is None and samples is None:
            raise DataError(f"jsonl line {n}: neither {epoch_key!r} nor a samples column")
        rows.append((n, value, epoch, samples))
    return to_evals(rows, spec, level)
