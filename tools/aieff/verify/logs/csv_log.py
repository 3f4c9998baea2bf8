"""CSV with an epoch, samples or step column, e.g. timm's summary.csv or AlgoPerf's eval_measurements.csv
(`global_step`, `validation/bleu`, ...); columns mapped by the entry."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from aieff.dataset.diagnostics import excerpt
from aieff.dataset.schema import Benchmark, TrainingLog
from aieff.repo import DataError
from aieff.verify.logs import Eval, Evals, count, metric_column, number, scale, to_evals


def parse(text: str, spec: TrainingLog, level: Benchmark) -> list[Eval]:
    """Read the mapped columns of every row."""
    cols = spec.columns or {}
    metric = metric_column(spec, level, "eval_top5", "eval_top1")
    epoch_key, samples_key, step_key = cols.get("epoch", "epoch"), cols.get("samples"), cols.get("step")
    reader = csv.DictReader(io.StringIO(text))
    try:
        fields = [f.strip() for f in reader.fieldnames or []]
    except csv.Error as exc:
        raise DataError(f"csv log: unreadable header: {excerpt(str(exc))}") from exc
    if step_key is not None:
        if metric not in fields or step_key not in fields:
            raise DataError(f"csv log: header {excerpt(fields)} lacks {metric!r} or the step column {step_key!r}")
        return _by_step(reader, metric, step_key, spec, level)
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


def _by_step(reader: csv.DictReader, metric: str, step_key: str, spec: TrainingLog, level: Benchmark) -> Evals:
    """Rows labelled by optimizer steps (AlgoPerf's `global_step`); a row whose metric cell is empty (a
    measurement without this evaluation) is skipped."""
    out: list[Eval] = []
    for n, row in _rows(reader):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        where = f"csv log line {n}"
        if not row.get(metric):
            continue
        value = scale(number(row[metric], f"{where}: {metric}"), spec, level)
        out.append(Eval(n, value, steps=count(row.get(step_key), f"{where}: {step_key}")))
    note = f"step labels ({step_key}) are optimizer steps done at the evaluation; samples = steps x samples per step"
    return Evals(out, [note])


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
