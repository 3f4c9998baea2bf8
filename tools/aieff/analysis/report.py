"""What `aieff analyze` prints: the analysis as deterministic JSON or as a readable table per level."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import Any

from aieff.analysis.analyze import Level, Result
from aieff.analysis.timing import FACTOR_WORDS, TimeSplit


def to_dict(result: Result) -> dict[str, Any]:
    """A JSON-ready dict with units spelled out in field names."""

    def clean(x: Any) -> Any:
        if isinstance(x, float):
            return None if not math.isfinite(x) else float(f"{x:.6g}")
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [clean(v) for v in x]
        return x

    return clean({"levels": [asdict(lv) for lv in result.levels]})


def render_json(result: Result) -> str:
    """Deterministic JSON of the analysis."""
    return json.dumps(to_dict(result), indent=2, sort_keys=True) + "\n"


def render_text(result: Result) -> str:
    """A readable table per level, warnings after it."""
    out = []
    for lv in result.levels:
        out += [f"== {lv.id}: {lv.title} ({lv.threshold})", f"   {lv.headline}", ""]
        width = max([22, *(len(r.model) for r in lv.rows)])  # never cut: two rows must not read alike
        out.append(
            f"{'rank':>4}  {'model':<{width}} {'date':<10}  {'FLOP':>9}  {'pfs-days':>9}  "
            f"{'tfs-d(MA)':>9}  {'factor':>7}  F  source value" + ("  | rule" if lv.policy else "")
        )
        for r in lv.rows:
            src = f"{r.source_value:g} {r.source_unit}" if r.source_value is not None else "-"
            out.append(
                f"{r.rank:>4}  {r.model:<{width}} {r.date}  {r.flop:9.3e}  {r.pfs_days:9.3g}  "
                f"{r.multiply_add_tfs_days:9.3g}  {r.reduction_factor:6.1f}x  {'*' if r.frontier else ' '}  {src}"
                + (f"  | {r.rule}" if lv.policy else "")
            )
        f = lv.fit
        if f.doubling_months is not None:
            se = f" +/- {f.se_months:.1f} (SE)" if f.se_months else ""
            out.append(
                f"   frontier fit: compute halves every {f.doubling_months:.1f} months{se} over {f.points} points"
            )
        if lv.policy:
            out.append(f"   rules: {lv.policy}")
        for candidate, reason in lv.not_entered:
            out.append(f"   not entered: {candidate}: {reason}")
        out += _timing_text(lv)
        for w in lv.warnings:
            out.append(f"   warning {w}")
        out.append("")
    if any(lv.timing and lv.timing.rows for lv in result.levels):
        out.append(
            "Time to level: wall-clock seconds to the first evaluation at the level (its scope is in the entry). "
            "achieved = compute / time, FLOP/s; util = achieved / (count x peak dense FLOP/s at the precision); "
            "speedup = compute x count x peak x util, exactly."
        )
    out.append(
        "FLOP: 2 per multiply-add. pfs-days: petaflop/s-days (8.64e19 FLOP). tfs-d(MA): teraflop/s-days "
        "counting multiply-adds (8.64e16), the original tracker's unit for its ImageNet levels only (its "
        "translation levels count FLOP). F: on the frontier."
    )
    return "\n".join(out) + "\n"


def _timing_text(lv: Level) -> list[str]:
    """The level's timed entries and the split of its time-to-level speedup, as lines."""
    t = lv.timing
    if t is None or not t.rows:
        return []
    width = max(len(r.id) for r in t.rows)
    out = [
        "",
        f"   time to level: {len(t.rows)} timed entries, {sum(r.verified for r in t.rows)} verified",
        f"   {'entry':<{width}}  {'date':<10}  {'seconds':>10}  {'achieved FLOP/s':>15}  accelerators{'':<28}  util",
    ]
    for r in t.rows:
        acc = f"{r.accelerator_count} x {r.accelerator} ({r.precision})" if r.accelerator else "-"
        util = f"{r.utilisation:.2%}" if r.utilisation is not None else "-"
        mark = "" if r.verified else "  (not verified)"
        out.append(
            f"   {r.id:<{width}}  {r.date}  {r.seconds:10.1f}  {r.achieved_flop_per_s:15.3e}  {acc:<40}  {util}{mark}"
        )
    if t.split is None:
        out.append(f"   no split: {t.note}")
        return out
    out.append("   speedup from baseline to the fastest verified entry: " + split_text(t.split))
    if t.note:
        out.append(f"   ({t.note})")
    for s in t.records:
        out.append(f"   record {s.to_date} {s.to_id}: " + split_text(s))
    return out


def split_text(s: TimeSplit) -> str:
    """One split in words: the speedup and its four factors."""
    return (
        f"{s.from_seconds:.1f} s -> {s.to_seconds:.1f} s = {s.speedup:.3g}x = compute {s.compute:.3g}x "
        f"x accelerators {s.count:.3g}x x peak {s.peak:.3g}x x utilisation {s.utilisation:.3g}x "
        f"(dominant: {FACTOR_WORDS[s.dominant]})"
    )
