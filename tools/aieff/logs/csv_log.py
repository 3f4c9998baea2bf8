"""CSV with an epoch (or samples) column, e.g. timm's summary.csv; columns mapped by the entry."""

from __future__ import annotations

import csv
import io

from aieff.logs import Eval, metric_column, to_evals
from aieff.repo import DataError
from aieff.schema import Benchmark, TrainingLog


def parse(text: str, spec: TrainingLog, level: Benchmark) -> list[Eval]:
    """Read the mapped columns of every row."""
    cols = spec.columns or {}
    metric = metric_column(spec, level, "eval_top5", "eval_top1")
    epoch_key, samples_key = cols.get("epoch", "epoch"), cols.get("samples")
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip() for f in reader.fieldnames or []]
    if metric not in fields or (epoch_key not in fields and samples_key not in fields):
        raise DataError(f"csv log: header {fields} lacks {metric!r} or an epoch/samples column")
    rows = []
    for n, row in enumerate(reader, 2):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        try:
            epoch = float(row[epoch_key]) if row.get(epoch_key) else None
            samples = int(float(row[samples_key])) if samples_key and row.get(samples_key) else None
            rows.append((n, float(row[metric]), epoch, samples))
        except ValueError as exc:
            raise DataError(f"csv log line {n}: non-numeric value in {row}") from exc
    return to_evals(rows, spec, level)
