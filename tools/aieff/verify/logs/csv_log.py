"""CSV with an epoch (or samples) column, e.g. timm's summary.csv; columns mapped by the entry."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from aieff.dataset.diagnostics import excerpt
from aieff.dataset.schema import Benchmark, TrainingLog
from aieff.repo import DataError
from aieff.verify.logs import Eval, count, metric_column, number, to_evals


def parse(text: str, spec: TrainingLog, level: Benchmark) -> list[Eval]:
    """Read the mapped columns of every row."""
    cols = spec.columns or {}
    metric = metric_column(spec, level, "eval_top5", "eval_top1")
    epoch_key, samples_key = cols.get("epoch", "epoch"), cols.get("samples")
    reader = csv.DictReader(io.StringIO(text))
    try:
        fields = [f.strip() for f in reader.fieldnames or []]
    except csv.Error as exc:
        raise DataError(f"csv log: unreadable header: {excerpt(str(exc))}") from exc
    if metric not in fields or (epoch_key not in fields and samples_key not in fields):
        raise DataError(f"csv log: header {excerpt(fields)} lacks {metric!r} or an epoch/samples column")
    rows = []
    for n, row in _rows(reader):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        where = f"csv log line {n}"
        epoch = number(row[epoch_key], f"{where}: {epoch_key}") if row.get(epoch_key) else None
        samples = count(row[samples_key], f"{where}: {samples_key}") if samples_key and row.get(samples_key) else None
        rows.append((n, number(row.get(metric), f"{where}: {metric}"), epoch, samples))
    return to_evals(rows, spec, level)


def _rows(reader: csv.DictReader) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, row) pairs; a malformed row (e.g. a field over the csv module's limit) is a coded error."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataError(f"csv log line {reader.line_num}: {excerpt(str(exc))}") from exc
        yield reader.line_num, row
