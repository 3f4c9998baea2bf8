"""Plausibility warnings: numbers that validate but are probably typos (a forward cost typed 0.314 for
0.314e9 gives a billion-fold reduction). Warnings are reported beside errors and never fail a run.
"""

from __future__ import annotations

import datetime as dt

from aieff.analysis.analyze import AnalysisError, derive
from aieff.analysis.timing import MAX_UTILISATION, MIN_UTILISATION
from aieff.dataset import hardware
from aieff.dataset.diagnostics import Diagnostic
from aieff.dataset.docset import Dataset
from aieff.dataset.schema import Entry, ForwardCost
from aieff.dataset.yamlload import Loaded
from aieff.units import to_flop

MIN_FLOP, MAX_FLOP = 1e9, 1e28
MAX_EPOCHS = 10_000
MAX_FACTOR = 10_000
FORWARD_SLACK = 2.0  # a typo is off by far more; real variants (e.g. GoogLeNet 2.00 vs 1.50 G) stay quiet


def _compute(entry: Entry, ds: Dataset, everything: dict[str, Entry]) -> tuple[float | None, tuple]:
    """The entry's compute as the analysis takes it, and the field a typo there most likely sits in."""
    try:
        d = derive(entry, ds.level(entry.benchmark), everything)
    except AnalysisError:
        return None, ()
    if d is not None:
        t = entry.training
        return d.flop, ("training", "forward_cost", "value") if t and t.forward_cost else ("training",)
    if entry.claims:
        return to_flop(entry.claims[0].value, entry.claims[0].unit), ("claims", 0, "value")
    return None, ()


def _source_date(e: Entry) -> dt.date:
    return e.submission.source_date if e.submission and e.submission.source_date else e.publication.date


def warnings_for(ds: Dataset) -> list[Diagnostic]:
    """W-coded warnings for every valid entry whose level is valid."""
    out: list[Diagnostic] = []
    everything = ds.all_entries()
    entries = [e for e in everything.values() if e.benchmark in ds.benchmarks]
    computed = {e.id: _compute(e, ds, everything) for e in entries}
    for e in entries:
        doc = ds.entries[e.id].loaded
        flop, where = computed[e.id]
        if flop is not None and not MIN_FLOP <= flop <= MAX_FLOP:
            out.append(
                doc.warning("W001", where, f"training compute {flop:.3g} FLOP is outside {MIN_FLOP:g}-{MAX_FLOP:g}")
            )
        if e.training and e.training.epochs_to_target and e.training.epochs_to_target > MAX_EPOCHS:
            out.append(
                doc.warning(
                    "W002",
                    ("training", "epochs_to_target"),
                    f"{e.training.epochs_to_target:g} epochs is over {MAX_EPOCHS:,}",
                )
            )
        out += _forward_cost_vs_torchvision(e, doc)
        if not (where[:1] == ("claims",) and e.claims[0].method == "hardware-time"):  # time x peak: no news
            out += _utilisation(e, doc, flop)
        level = ds.level(e.benchmark)
        base = everything.get(level.baseline)
        if base is None or base.id == e.id:
            continue
        # Where a level dates entries by their runs, a run published before the baseline's may still be a
        # later result by its source's date: compare source dates where both are given.
        if _source_date(e) < _source_date(base):
            out.append(
                doc.warning(
                    "W003",
                    ("publication", "date"),
                    f"{e.publication.date} is before the level's baseline ({base.id}, {base.publication.date})",
                )
            )
        base_flop = computed.get(base.id, (None, ()))[0]
        if flop and base_flop and base_flop / flop > MAX_FACTOR:
            out.append(
                doc.warning("W004", where, f"{base_flop / flop:,.0f}x less compute than the baseline: a unit typo?")
            )
    return sorted(out)


def _forward_cost_vs_torchvision(e: Entry, doc: Loaded) -> list[Diagnostic]:
    """W005 where an entry names a torchvision architecture and types a forward cost far from its figure."""
    from aieff.analysis.torchvision_table import expected_multiply_adds

    arch = e.artifacts.architecture if e.artifacts else None
    t = e.training
    if arch is None or not arch.torchvision or t is None or arch.input != "image":
        return []
    typed: list[tuple[tuple[str | int, ...], ForwardCost]] = (
        [(("training", "forward_cost", "value"), t.forward_cost)] if t.forward_cost else []
    )
    typed += [
        (("training", "resolution_schedule", i, "forward_cost", "value"), p.forward_cost)
        for i, p in enumerate(t.resolution_schedule or [])
    ]
    out = []
    for where, fc in typed:
        expected = expected_multiply_adds(arch.torchvision, fc.resolution)
        if expected is None:
            continue
        macs = to_flop(fc.value, fc.unit) / 2
        if not expected / FORWARD_SLACK <= macs <= expected * FORWARD_SLACK:
            out.append(
                doc.warning(
                    "W005",
                    where,
                    f"{macs:.4g} multiply-adds, but torchvision's {arch.torchvision} is {expected:.4g} "
                    f"at {fc.resolution or 'its own'} px",
                )
            )
    return out


def _utilisation(e: Entry, doc: object, flop: float | None) -> list[Diagnostic]:
    """W060/W061 where counted compute / time is above the accelerators' peak or below 0.1% of it."""
    t = e.time_to_level
    acc = t.accelerators if t else None
    peak = hardware.peak(acc.type, acc.precision) if acc else None
    if t is None or acc is None or peak is None or not flop:
        return []
    utilisation = flop / t.seconds / (acc.count * peak)
    said = (
        f"{flop:.3g} FLOP in {t.seconds:g} s is {flop / t.seconds:.3g} FLOP/s, {utilisation:.3%} of "
        f"{acc.count} x {acc.type} at {acc.precision} ({peak:.3g} FLOP/s each)"
    )
    if utilisation > MAX_UTILISATION:
        return [doc.warning("W060", ("time_to_level", "seconds"), f"{said}: a wrong count, precision or scope?")]  # type: ignore[attr-defined]
    if utilisation < MIN_UTILISATION:
        return [doc.warning("W061", ("time_to_level", "seconds"), f"{said}: a wrong count, precision or scope?")]  # type: ignore[attr-defined]
    return []
