"""A level's narrative: prose a maintainer writes, with every figure a placeholder the build fills in.

A level may carry `narrative` in its benchmark.yaml: the README's account of what the level shows. Its
text holds no typed number (aieff validate refuses one, E044): figures are placeholders over the
analysis, so a sentence cannot drift from the data it describes.

Placeholders: `{name}` for the level itself, `{name:ENTRY}` for one entry, `{name:ENTRY:ENTRY}` for a
pair, `{name:LEVEL}` for another level (see aieff.dataset.placeholders, which also checks them for aieff validate).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from aieff.dataset.placeholders import ENTRY_FIGURES, PLACEHOLDER
from aieff.publish.figures import robust, trend, verified_only

if TYPE_CHECKING:
    from aieff.analysis.analyze import Level, Result, Row, Split


class NarrativeError(ValueError):
    """A placeholder that names no figure, or an entry or level that does not exist."""


def _months(a: str, b: str) -> float:
    return (dt.date.fromisoformat(b) - dt.date.fromisoformat(a)).days / (365.25 / 12)


def _flop(x: float) -> str:
    return f"{x:.2g} FLOP".replace("e+", "e")


def _pfs(x: float) -> str:
    return f"{x:.2g} petaflop/s-days"


def _level_values(lv: Level) -> dict[str, Callable[[], str]]:
    best, base = lv.best_row(), lv.baseline_row()
    split = lv.split

    def need(row: Row | None, what: str) -> Row:
        if row is None:
            raise NarrativeError(f"{lv.id} has no {what}")
        return row

    def need_split() -> Split:
        if split is None:
            raise NarrativeError(f"{lv.id}: baseline and best do not both state samples seen")
        return split

    return {
        "title": lambda: lv.title,
        "entries": lambda: str(len(lv.rows)),
        "verified": lambda: str(sum(r.verified for r in lv.rows)),
        "claimed": lambda: str(sum(not r.verified for r in lv.rows)),
        "first_date": lambda: min(r.date for r in lv.rows),
        "last_date": lambda: max(r.date for r in lv.rows),
        "baseline": lambda: need(base, "baseline").model,
        "baseline_date": lambda: need(base, "baseline").date,
        "baseline_compute": lambda: _flop(need(base, "baseline").flop),
        "baseline_pfs_days": lambda: _pfs(need(base, "baseline").pfs_days),
        "best": lambda: need(best, "ranked entry").model,
        "best_date": lambda: need(best, "ranked entry").date,
        "best_compute": lambda: _flop(need(best, "ranked entry").flop),
        "best_pfs_days": lambda: _pfs(need(best, "ranked entry").pfs_days),
        "reduction": lambda: f"{need(best, 'ranked entry').reduction_factor:.1f}x",
        "trend": lambda: trend(lv),
        "points": lambda: str(lv.fit.points),
        "robust": lambda: robust(lv.fit),
        "verified_only": lambda: verified_only(lv),
        "forward_factor": lambda: f"{need_split().forward_factor:.2f}x",
        "seen_factor": lambda: f"{need_split().seen_factor:.2f}x",
        "split_unit": lambda: need_split().unit,
        "baseline_seen": lambda: f"{need_split().baseline_seen:.3g}",
        "best_seen": lambda: f"{need_split().best_seen:.3g}",
        "not_entered": lambda: str(len(lv.not_entered)),
    }


def _row_values(row: Row) -> dict[str, str]:
    return {
        "model": row.model,
        "date": row.date,
        "compute": _flop(row.flop),
        "pfs_days": _pfs(row.pfs_days),
        "reduction": f"{row.reduction_factor:.1f}x",
        "rank": str(row.rank),
        "samples": f"{row.samples:.3g}" if row.samples else "?",
        "tokens": f"{row.samples * row.sequence_length:.3g}" if row.samples and row.sequence_length else "?",
    }


def render(template: str, lv: Level, result: Result) -> str:
    """The narrative with every placeholder filled from the analysis; NarrativeError names a bad one."""
    values = _level_values(lv)
    rows = {r.id: r for r in lv.rows}

    def row(entry_id: str) -> Row:
        if entry_id not in rows:
            raise NarrativeError(f"{lv.id}: no entry {entry_id!r} in this level")
        return rows[entry_id]

    def other(level_id: str) -> Level:
        found = [x for x in result.levels if x.id == level_id]
        if not found:
            raise NarrativeError(f"no level {level_id!r}")
        return found[0]

    def fill(m: re.Match[str]) -> str:
        name, args = m.group(1), [a for a in m.group(2).split(":") if a]
        if not args and name in values:
            return values[name]()
        if len(args) == 1 and name in ENTRY_FIGURES:
            value = _row_values(row(args[0]))[name]
            if value == "?":
                raise NarrativeError(f"{lv.id}: {args[0]} states no {name}")
            return value
        if len(args) == 2 and name == "ratio":
            return f"{row(args[0]).flop / row(args[1]).flop:.1f}x"
        if len(args) == 2 and name == "months":
            return f"{_months(row(args[0]).date, row(args[1]).date):.1f} months"
        if len(args) == 1 and name == "trend_of":
            return trend(other(args[0]))
        if len(args) == 1 and name == "reduction_of":
            best = other(args[0]).best_row()
            return f"{best.reduction_factor:.1f}x" if best else "-"
        raise NarrativeError(f"{lv.id}: unknown placeholder {m.group(0)}")

    return PLACEHOLDER.sub(fill, template)
