"""JSON lines (DeiT/ConvNeXt `log.txt` style): one object per evaluation."""

from __future__ import annotations

from aieff.dataset.schema import Benchmark, TrainingLog
from aieff.repo import DataError
from aieff.verify.logs import Eval, count, metric_column, number, to_evals
from aieff.verify.logs.jsontext import loads


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
            obj = loads(line)
        except ValueError as exc:
            raise DataError(f"jsonl line {n}: not JSON") from exc
        if not isinstance(obj, dict) or metric not in obj:
            continue
        where = f"jsonl line {n}"
        value = number(obj[metric], f"{where}: {metric}")
        epoch = number(obj[epoch_key], f"{where}: {epoch_key}") if epoch_key in obj else None
        samples = count(obj[samples_key], f"{where}: {samples_key}") if samples_key and samples_key in obj else None
        if epoch is None and samples is None:
            raise DataError(f"jsonl line {n}: neither {epoch_key!r} nor a samples column")
        rows.append((n, value, epoch, samples))
    return to_evals(rows, spec, level)
