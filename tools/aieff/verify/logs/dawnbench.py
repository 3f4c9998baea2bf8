"""DAWNBench TSV: `epoch<TAB>hours<TAB>top1Accuracy<TAB>top5Accuracy`, any column order."""

from __future__ import annotations

from aieff.dataset.diagnostics import excerpt
from aieff.dataset.schema import Benchmark, TrainingLog
from aieff.repo import DataError
from aieff.verify.logs import Eval, metric_column, number, to_evals


def parse(text: str, spec: TrainingLog, level: Benchmark) -> list[Eval]:
    """Parse a DAWNBench-style TSV (CRLF, BOM, 0/1-based and fractional epochs tolerated)."""
    lines = [(i, ln) for i, ln in enumerate(text.splitlines(), 1) if ln.strip()]
    if not lines:
        return []
    head = [c.strip() for c in lines[0][1].split("\t")]
    lower = {c.lower(): j for j, c in enumerate(head)}
    epoch_col = (spec.columns or {}).get("epoch", "epoch")
    metric = metric_column(spec, level, "top5Accuracy", "top1Accuracy")
    if epoch_col.lower() not in lower or metric.lower() not in lower:
        raise DataError(f"dawnbench-tsv: header {excerpt(head)} lacks {epoch_col!r} or {metric!r}")
    ei, mi = lower[epoch_col.lower()], lower[metric.lower()]
    hi = lower.get("hours")
    rows: list[tuple[int, float, float]] = []
    first_hours = None
    for n, ln in lines[1:]:
        cells = [c.strip() for c in ln.split("\t")]
        if max(ei, mi) >= len(cells):
            raise DataError(f"dawnbench-tsv line {n}: too few columns: {excerpt(ln)}")
        if not rows and hi is not None and hi < len(cells):
            first_hours = cells[hi]
        where = f"dawnbench-tsv line {n}"
        rows.append((n, number(cells[ei], f"{where}: {epoch_col}"), number(cells[mi], f"{where}: {metric}")))
    # A row labelled 0 at 0 hours was evaluated before any training (chance accuracy in real logs).
    pre = bool(rows) and rows[0][1] == 0 and first_hours is not None and _zero(first_hours)
    evals: list[tuple[int, float, float | None, int | None]] = [(n, v, e, None) for n, e, v in rows]
    return to_evals(evals, spec, level, pretraining_first=pre, why_pretraining="label 0 at 0 hours")


def _zero(cell: str) -> bool:
    try:
        return float(cell) == 0.0
    except ValueError:
        return False
