"""Where the time went: achieved training FLOP/s, utilisation, and a level's time-to-level speedup split exactly
into compute reduction x accelerator-count growth x per-accelerator peak growth x utilisation change.

With C the counted compute (FLOP), T the time to the level (s), N the accelerators and P one accelerator's
peak dense FLOP/s at the run's precision, utilisation is U = C / (T N P), so T = C / (N P U) and between two
runs a and b

    T_a / T_b = (C_a / C_b) x (N_b / N_a) x (P_b / P_a) x (U_b / U_a),

an identity: the four factors multiply to the speedup exactly. Nothing here is typed: C is the entry's
published compute, T, N and the precision are its time_to_level facts, P is the hardware table's.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from aieff.dataset import hardware
from aieff.dataset.schema import Entry

FACTORS = ("compute", "count", "peak", "utilisation")
FACTOR_WORDS = {
    "compute": "less compute (algorithm)",
    "count": "more accelerators",
    "peak": "faster accelerators (peak per accelerator)",
    "utilisation": "higher utilisation",
}
MAX_UTILISATION = 1.0  # above every accelerator's peak: a wrong count, precision or time scope
MIN_UTILISATION = 0.001  # below 0.1%: the same suspicion the other way


@dataclass
class Timed:
    """One entry's time to the level and what it implies."""

    id: str
    date: str
    seconds: float
    compute_flop: float
    verified: bool
    achieved_flop_per_s: float  # counted compute / time
    accelerator: str | None = None  # hardware table key
    accelerator_count: int | None = None
    precision: str | None = None
    peak_flop_per_s: float | None = None  # of ONE accelerator at the precision
    utilisation: float | None = None  # achieved / (count x peak), 0-1
    same_recipe_as: str | None = None

    @property
    def split_ready(self) -> bool:
        """Whether every input of a split is known."""
        return self.utilisation is not None


@dataclass
class TimeSplit:
    """T_from / T_to as compute reduction x count growth x peak growth x utilisation change (exact product)."""

    from_id: str
    to_id: str
    from_date: str
    to_date: str
    from_seconds: float
    to_seconds: float
    speedup: float
    compute: float
    count: float
    peak: float
    utilisation: float
    dominant: str  # the factor that sped the run up most (the largest), one of FACTORS

    def product(self) -> float:
        """The four factors multiplied: equal to speedup up to rounding."""
        return self.compute * self.count * self.peak * self.utilisation


@dataclass
class Timing:
    """A level's timed entries, its baseline-to-fastest split and the splits between successive time records."""

    rows: list[Timed] = field(default_factory=list)
    split: TimeSplit | None = None  # baseline -> the fastest verified entry
    records: list[TimeSplit] = field(default_factory=list)  # each new fastest time vs the one before
    note: str = ""  # why there is no split, when there is none


def timed(entry: Entry, compute_flop: float, verified: bool) -> Timed | None:
    """The entry's timing facts and their consequences; None when it has no time_to_level."""
    t = entry.time_to_level
    if t is None:
        return None
    row = Timed(
        id=entry.id,
        date=entry.publication.date.isoformat(),
        seconds=t.seconds,
        compute_flop=compute_flop,
        verified=verified,
        achieved_flop_per_s=compute_flop / t.seconds,
        same_recipe_as=entry.same_recipe_as,
    )
    acc = t.accelerators
    if acc is not None and (peak := hardware.peak(acc.type, acc.precision)) is not None:
        row.accelerator, row.accelerator_count, row.precision = acc.type, acc.count, acc.precision
        row.peak_flop_per_s = peak
        row.utilisation = row.achieved_flop_per_s / (acc.count * peak)
    return row


def split(a: Timed, b: Timed) -> TimeSplit:
    """The speedup from a to b and its four factors (both must be split_ready)."""
    assert a.utilisation and b.utilisation and a.peak_flop_per_s and b.peak_flop_per_s
    assert a.accelerator_count and b.accelerator_count
    factors = {
        "compute": a.compute_flop / b.compute_flop,
        "count": b.accelerator_count / a.accelerator_count,
        "peak": b.peak_flop_per_s / a.peak_flop_per_s,
        "utilisation": b.utilisation / a.utilisation,
    }
    dominant = max(FACTORS, key=lambda k: (math.log(factors[k]), -FACTORS.index(k)))
    return TimeSplit(
        from_id=a.id,
        to_id=b.id,
        from_date=a.date,
        to_date=b.date,
        from_seconds=a.seconds,
        to_seconds=b.seconds,
        speedup=a.seconds / b.seconds,
        dominant=dominant,
        **factors,
    )


def for_level(baseline: str, rows: list[Any], entries: dict[str, Entry]) -> Timing:
    """The level's Timing from its analysis rows (id, flop, verified) and their entries.

    The split runs from the baseline to the fastest verified entry with every input (from the earliest such
    verified entry when the baseline is not verified or not timed, which the note says); the records are the
    verified entries that set a new fastest time, in date order from there on.
    """
    out = Timing()
    for r in rows:
        e = entries.get(r.id)
        if e is not None and (row := timed(e, r.flop, r.verified)) is not None:
            out.rows.append(row)
    out.rows.sort(key=lambda t: (t.date, t.seconds, t.id))
    by_id = {t.id: t for t in out.rows}
    base = by_id.get(baseline)
    ready = [t for t in out.rows if t.verified and t.split_ready]
    if not ready:
        out.note = "no verified entry has a time_to_level with accelerators in the hardware table"
        return out
    if base is None or not base.split_ready or not base.verified:
        # The split starts from verified figures only: from the earliest verified, timed entry instead, said so.
        why = "is not verified" if base is not None and base.split_ready else "has no time with accelerators"
        base = min(ready, key=lambda t: (t.date, t.seconds, t.id))
        out.note = f"the baseline {baseline} {why}: the split starts from the earliest verified timed entry, {base.id}"
    fastest = min(ready, key=lambda t: (t.seconds, t.id))
    out.split = split(base, fastest)
    best, start = base, dt.date.fromisoformat(base.date)
    for t in sorted(ready, key=lambda t: (t.date, t.seconds, t.id)):
        if dt.date.fromisoformat(t.date) >= start and t.seconds < best.seconds:
            out.records.append(split(best, t))
            best = t
    return out
