"""Turn entries into results: compute in FLOP, reduction factors, frontiers, halving times, warnings."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from aieff.analysis.student import t_quantile
from aieff.analysis.timing import Timing, for_level
from aieff.dataset.docset import Dataset
from aieff.dataset.rules import policy_text, rule_text
from aieff.dataset.schema import Benchmark, ComputeClaim, Entry
from aieff.units import FORWARD_AND_BACKWARD, flop_to_multiply_add_tfs_days, flop_to_pfs_days, to_flop

DAYS_PER_MONTH = 365.25 / 12
# A source's stated reduction factor is flagged when it is more than this far (relative) from the
# factor aieff computes or from the one the source's own compute values give. 3% lets two-figure
# rounding pass (3.1 / 0.069 = 44.9 stated as 44) and catches 61 vs 58.
FACTOR_TOLERANCE = 0.03
EPOCH = dt.date(1970, 1, 1)


class AnalysisError(ValueError):
    """The entries cannot be turned into a result (e.g. a relative compute that loops)."""


@dataclass
class Derivation:
    """Training compute derived from an entry's training facts, with the steps shown."""

    flop: float
    steps: list[str]
    samples: float | None = None  # samples seen to the level, where the facts give them
    sequence_length: int | None = None  # tokens per sample, where the forward cost is per sequence
    optimizer_flop: float | None = None  # the optimizer's own FLOP to the level (training.optimizer), within flop


@dataclass
class Row:
    """One entry's result within its level."""

    id: str
    model: str
    date: str
    url: str
    flop: float
    pfs_days: float
    multiply_add_tfs_days: float
    basis: str
    source_value: float | None
    source_unit: str | None
    source_title: str | None
    reduction_factor: float = 1.0
    rank: int = 0
    frontier: bool = False
    derivation: list[str] = field(default_factory=list)
    same_recipe_as: str | None = None
    hardware: str | None = None
    path: str = ""  # the entry's YAML, relative to the repository
    evidence: list[list[str]] = field(default_factory=list)  # [label, link] of each artifact it references
    samples: float | None = None  # training samples (images, sequences) seen to the level, when stated
    sequence_length: int | None = None  # tokens per sample, for sequence models
    verified: bool = False  # its compute is a verified re-estimate (aieff.verify.record.shown)
    rule: str = ""  # the level policy's rule this entry satisfies, in words (aieff.dataset.rules.rule_text)
    flop_low: float | None = None  # verified: compute at the evaluation before the first at the level
    optimizer_flop: float | None = None  # the optimizer's own FLOP within flop (training.optimizer), else None
    derived_from: str | None = None  # read from the run of this entry, trained for another level


@dataclass
class Fit:
    """Least-squares fit of log2(compute) on date over the frontier (doubling_months is the halving time of
    compute, months), with a robust estimate beside it: Theil-Sen's median of pairwise slopes and its
    distribution-free 95% interval (Sen 1968), which one outlying record cannot move."""

    points: int
    doubling_months: float | None
    se_months: float | None
    ci95_months: tuple[float, float] | None
    slope_doublings_per_year: float | None
    theil_sen_months: float | None = None
    theil_sen_ci95_months: tuple[float, float] | None = None


@dataclass
class Split:
    """The reduction from baseline to best as a product: forward cost per unit (architecture and resolution)
    x units seen to the level (images, or tokens where both are sequence models). Exact: the two factors
    multiply to the reduction."""

    unit: str  # "sample" or "token"
    forward_factor: float
    seen_factor: float
    baseline_seen: float
    best_seen: float
    baseline_forward_flop_per_unit: float
    best_forward_flop_per_unit: float


@dataclass
class Level:
    """Results for one level."""

    id: str
    title: str
    threshold: str
    baseline: str
    rows: list[Row]
    fit: Fit
    headline: str
    warnings: list[str]
    frontier_span_months: float | None = None  # first to last frontier date
    frontier_span_factor: float | None = None  # first frontier point's compute / last's
    verified_fit: Fit | None = None  # the same fit over verified entries only (None: fewer than 2 verified)
    verified_factor: float | None = None  # least verified compute's reduction from the baseline
    split: Split | None = None  # baseline -> best, where both state samples and a forward cost
    policy: str = ""  # the level's editorial rules in words, where it states a policy
    not_entered: list[list[str]] = field(default_factory=list)  # [candidate, reason] of the policy
    timing: Timing | None = None  # time to the level: utilisation and the speedup's split (aieff.analysis.timing)

    def baseline_row(self) -> Row | None:
        """The baseline's row (None when the baseline entry is missing)."""
        return next((r for r in self.rows if r.id == self.baseline), None)

    def best_row(self) -> Row | None:
        """The ranked row that needed the least compute (ties: the lowest id); None without ranked rows."""
        return least_compute(self.rows)


def least_compute(rows: list[Row]) -> Row | None:
    """The ranked row (not a same-recipe repeat) that needed the least compute, ties broken by id."""
    ranked = [r for r in rows if r.same_recipe_as is None]
    return min(ranked, key=lambda r: (r.flop, r.id)) if ranked else None


@dataclass
class Result:
    """The analysis of the whole dataset."""

    levels: list[Level]

    def level(self, level_id: str) -> Level:
        return next(lv for lv in self.levels if lv.id == level_id)


def derive(
    entry: Entry, level: Benchmark, entries: Mapping[str, Entry], _stack: tuple[str, ...] = ()
) -> Derivation | None:
    """Compute to reach the level from the training facts, or None when there are none."""
    t = entry.training
    if t is None:
        return None
    if t.total_run_compute is not None:
        run = t.total_run_compute
        if run.value is not None and run.unit is not None:
            total = to_flop(run.value, run.unit)
            steps = [f"total run = {run.value:g} {run.unit} = {total:.4g} FLOP"]
        else:
            ref = entries.get(run.relative_to or "")
            if ref is None or ref.id in _stack or entry.id in _stack:
                raise AnalysisError(f"{entry.id}: relative_to {run.relative_to!r} is missing or circular")
            base = derive(ref, level, entries, _stack + (entry.id,))
            ref_run = ref.training.total_run_compute if ref.training else None
            if base is None or ref_run is None:
                raise AnalysisError(f"{entry.id}: {run.relative_to} has no total_run_compute")
            ref_total = base.flop / _fraction(ref)
            total = ref_total / (run.fewer_by or 1.0)
            steps = [f"total run = {ref.id} run {ref_total:.4g} FLOP / {run.fewer_by:g} = {total:.4g} FLOP"]
        frac = _fraction(entry)
        how = f"{t.steps_to_target}/{t.total_steps} steps" if t.steps_to_target else f"{frac:g} of the run"
        steps.append(f"to target = {how} x {total:.4g} = {total * frac:.4g} FLOP")
        return Derivation(total * frac, steps)
    per_epoch = t.samples_per_epoch or level.dataset.train_samples_per_epoch
    from_steps = t.samples_after(t.steps_to_target) if t.steps_to_target is not None else None
    counted = t.samples_to_target if t.samples_to_target is not None else from_steps
    if counted is not None:
        epochs = counted / per_epoch if per_epoch else None
    else:
        epochs = t.epochs_to_target
    if t.forward_cost is not None:
        fwd = to_flop(t.forward_cost.value, t.forward_cost.unit)
        if counted is not None:
            samples = float(counted)
        elif per_epoch:
            samples = (epochs or 0) * per_epoch
        else:
            raise AnalysisError(f"{entry.id}: epochs given but the level has no train_samples_per_epoch")
        flop = FORWARD_AND_BACKWARD * fwd * samples
        shown = [
            f"forward = {t.forward_cost.value:g} {t.forward_cost.unit}/sample = {fwd:.4g} FLOP",
            f"samples = {samples:.6g}"
            + (f" ({epochs:g} epochs x {per_epoch})" if t.epochs_to_target else "")
            + (f" ({t.steps_to_target} steps)" if from_steps is not None else ""),
            f"compute = 3 x {fwd:.4g} x {samples:.6g} = {flop:.4g} FLOP",
        ]
        optimizer = None
        steps_done = t.optimizer_steps()
        if t.optimizer is not None and steps_done is not None:  # the optimizer's own arithmetic, apart
            optimizer = t.optimizer.flop_per_step * steps_done
            shown[-1] = f"forward and backward = 3 x {fwd:.4g} x {samples:.6g} = {flop:.4g} FLOP"
            flop += optimizer
            shown += [
                f"optimizer ({t.optimizer.definition}) = {t.optimizer.flop_per_step:.4g} FLOP/step x "
                f"{steps_done:g} steps = {optimizer:.4g} FLOP",
                f"compute = {flop - optimizer:.4g} + {optimizer:.4g} = {flop:.4g} FLOP",
            ]
        return Derivation(
            flop,
            samples=samples,
            sequence_length=t.forward_cost.sequence_length,
            steps=shown,
            optimizer_flop=optimizer,
        )
    if not per_epoch or epochs is None:
        raise AnalysisError(f"{entry.id}: a resolution schedule needs samples per epoch")
    flop, steps = 0.0, []
    for phase in t.resolution_schedule or []:
        end = min(phase.end_epoch, epochs)
        if end <= phase.start_epoch:
            break
        fwd = to_flop(phase.forward_cost.value, phase.forward_cost.unit)
        part = FORWARD_AND_BACKWARD * fwd * (end - phase.start_epoch) * per_epoch
        flop += part
        steps.append(f"epochs {phase.start_epoch:g}-{end:g} at {phase.forward_cost.resolution}px: {part:.4g} FLOP")
    steps.append(f"compute = {flop:.4g} FLOP")
    return Derivation(flop, steps, samples=epochs * per_epoch)


def stated_compute(entry: Entry, level: Benchmark, entries: Mapping[str, Entry]) -> list[tuple[str, float]]:
    """Every compute figure an entry states, as (what, FLOP): the one its training facts give, then its
    primary claim. A re-estimate verifies the entry only if it agrees with each of them."""
    out: list[tuple[str, float]] = []
    if (d := derive(entry, level, entries)) is not None:
        out.append(("derived from the training facts", d.flop))
    if entry.claims:
        claim = entry.claims[0]
        out.append((f"claim ({claim.value:g} {claim.unit})", to_flop(claim.value, claim.unit)))
    return out


def _fraction(entry: Entry) -> float:
    t = entry.training
    assert t is not None
    if t.steps_to_target and t.total_steps:
        return t.steps_to_target / t.total_steps
    return t.fraction_of_run_to_target or 1.0


def _months(date: dt.date) -> float:
    return (date - EPOCH).days / DAYS_PER_MONTH


def fit_doubling(points: list[tuple[dt.date, float]]) -> Fit:
    """Fit log2(FLOP) = a + b * months by least squares; the halving time of compute is -1/b months."""
    n = len(points)
    if n < 2:
        return Fit(n, None, None, None, None)
    xs = [_months(d) for d, _ in points]
    ys = [math.log2(c) for _, c in points]
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return Fit(n, None, None, None, None)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    if b >= 0:
        return Fit(n, None, None, None, -b * 12)
    if n == 2:  # two points fix a line but say nothing about a trend: report the factor and the months
        return Fit(n, None, None, None, None)
    doubling = -1.0 / b
    a = my - b * mx
    resid = sum((y - (a + b * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    se_b = math.sqrt(resid / (n - 2) / sxx)
    se = se_b / (b * b)
    t = t_quantile(0.975, n - 2)
    lo_b, hi_b = b - t * se_b, b + t * se_b  # both negative when the trend is clear
    ci = (-1.0 / lo_b, -1.0 / hi_b) if hi_b < 0 else (-1.0 / lo_b, math.inf)
    ts, ts_ci = theil_sen(xs, ys)
    return Fit(n, doubling, se, ci, -b * 12, ts, ts_ci)


_Z975 = 1.959963984540054  # the standard normal's 97.5% quantile


def _tie_term(values: list[float]) -> float:
    counts: dict[float, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return sum(k * (k - 1) * (2 * k + 5) for k in counts.values() if k > 1)


def theil_sen(xs: list[float], ys: list[float]) -> tuple[float | None, tuple[float, float] | None]:
    """Halving time (months) from Theil-Sen's median pairwise slope of log2(compute) on months, and the
    interval from Sen (1968, eq. 2.6) with ties, as scipy.stats.theilslopes computes it; (None, None)
    below 3 points or without a falling slope."""
    n = len(xs)
    slopes = sorted((ys[j] - ys[i]) / (xs[j] - xs[i]) for i in range(n) for j in range(n) if xs[j] > xs[i])
    if n < 3 or not slopes:
        return None, None
    m = len(slopes)
    med = slopes[m // 2] if m % 2 else (slopes[m // 2 - 1] + slopes[m // 2]) / 2
    if med >= 0:
        return None, None
    sigma = math.sqrt((n * (n - 1) * (2 * n + 5) - _tie_term(xs) - _tie_term(ys)) / 18)
    hi_i = min(round((m + _Z975 * sigma) / 2), m - 1)
    lo_i = max(round((m - _Z975 * sigma) / 2) - 1, 0)
    lo_b, hi_b = slopes[lo_i], slopes[hi_i]
    ci = (-1.0 / lo_b, -1.0 / hi_b if hi_b < 0 else math.inf)
    return -1.0 / med, ci


def _primary_claim(entry: Entry) -> ComputeClaim | None:
    return entry.claims[0] if entry.claims else None


def analyze(
    ds: Dataset,
    levels: list[str] | None = None,
    reestimated: dict[str, float] | None = None,
    brackets: dict[str, float] | None = None,
) -> Result:
    """Analyze every level (or the ones named) of a validated dataset.

    reestimated: entry id -> the compute a verified verdict that still binds re-estimated (aieff.verify.record.shown);
    that figure, not the one the entry's facts give, is the entry's published compute. brackets: entry id ->
    the compute at the evaluation before the first at the level (the lower end the log fixes).
    """
    all_entries = ds.all_entries()
    out = []
    for level_id in sorted(ds.benchmarks):
        if levels and level_id not in levels:
            continue
        level = _analyze_level(ds.level(level_id), ds.entries_of(level_id), all_entries, reestimated or {})
        for r in level.rows:
            r.flop_low = (brackets or {}).get(r.id) if r.verified else None
        level.timing = for_level(level.baseline, level.rows, all_entries)
        out.append(level)
    if levels:
        missing = sorted(set(levels) - {lv.id for lv in out})
        if missing:
            import difflib

            close = [m for x in missing for m in difflib.get_close_matches(x, sorted(ds.benchmarks), n=1, cutoff=0.5)]
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            raise AnalysisError(
                f"no such level: {', '.join(missing)}{hint}; levels: {', '.join(sorted(ds.benchmarks))}"
            )
    return Result(out)


def _evidence(e: Entry) -> list[list[str]]:
    """[label, link] for each artifact an entry references: its logs, checkpoint and graph-only export."""
    arts = e.artifacts
    if arts is None:
        return []
    out = []
    logs = arts.logs()
    for i, log in enumerate(logs, 1):
        out.append([f"log {i}" if len(logs) > 1 else "log", str(log.url or log.path)])
    if arts.checkpoint is not None:
        out.append(["checkpoint", str(arts.checkpoint.url or arts.checkpoint.path)])
    if arts.architecture is not None and arts.architecture.export is not None:
        out.append(["export", str(arts.architecture.export.path)])
    return out


def _analyze_level(
    level: Benchmark, entries: list[Entry], all_entries: dict[str, Entry], reestimated: dict[str, float]
) -> Level:
    warnings: list[str] = []
    rows: list[Row] = []
    for e in entries:
        d = derive(e, level, all_entries)
        claim = _primary_claim(e)
        if e.id in reestimated:
            flop, basis = reestimated[e.id], "re-estimated by aieff from the entry's artifacts"
            steps = [*(d.steps if d else []), f"re-estimated from the artifacts = {flop:.4g} FLOP (published)"]
        elif d is not None:
            flop, basis, steps = d.flop, "derived from training facts", d.steps
        else:
            assert claim is not None
            flop, basis, steps = to_flop(claim.value, claim.unit), f"claim: {claim.source.title}", []
        rows.append(
            Row(
                id=e.id,
                model=e.model,
                date=e.publication.date.isoformat(),
                url=e.publication.url,
                flop=flop,
                pfs_days=flop_to_pfs_days(flop),
                multiply_add_tfs_days=flop_to_multiply_add_tfs_days(flop),
                basis=basis,
                source_value=claim.value if claim else None,
                source_unit=claim.unit if claim else None,
                source_title=claim.source.title if claim else None,
                derivation=steps,
                same_recipe_as=e.same_recipe_as,
                hardware=e.hardware,
                path=f"entries/{level.id}/{e.id}.yaml",
                evidence=_evidence(e),
                samples=d.samples if d else None,
                sequence_length=d.sequence_length if d else None,
                verified=e.id in reestimated,
                rule=rule_text(e, level),
                optimizer_flop=d.optimizer_flop if d else None,
                derived_from=e.derived_from,
            )
        )
        warnings += _claim_warnings(e, flop, level)
    by_id = {r.id: r for r in rows}
    base = by_id.get(level.baseline)
    for r in rows:
        r.reduction_factor = base.flop / r.flop if base else math.nan
    ranked = [r for r in rows if r.same_recipe_as is None]  # a recipe counts once, not once per machine
    for i, r in enumerate(sorted(ranked, key=lambda r: (r.flop, r.id)), start=1):
        r.rank = i
    ranks = {r.id: r.rank for r in ranked}
    for r in rows:
        if r.same_recipe_as is not None:
            r.rank = ranks.get(r.same_recipe_as, 0)
    lows = _frontier(ranked)
    for r in ranked:
        r.frontier = lows.get(r.date) == r.flop
    fit = fit_doubling([(dt.date.fromisoformat(d), flop) for d, flop in lows.items()])
    checked = [r for r in ranked if r.verified]
    verified_lows = _frontier(checked)
    verified_fit = (
        fit_doubling([(dt.date.fromisoformat(d), flop) for d, flop in verified_lows.items()])
        if len(checked) >= 2
        else None
    )
    verified_best = least_compute(checked)
    first, last = (min(lows), max(lows)) if lows else (None, None)
    span = (
        (_months(dt.date.fromisoformat(last)) - _months(dt.date.fromisoformat(first)), lows[first] / lows[last])
        if first and last and first != last
        else (None, None)
    )
    warnings += _label_warnings(level, entries)
    if base:
        warnings += _stated_factor_warnings(entries, by_id, base, all_entries)
    rows.sort(key=lambda r: (r.rank, r.same_recipe_as is not None, r.date, r.id))
    return Level(
        id=level.id,
        title=level.title,
        threshold=_threshold(level),
        baseline=level.baseline,
        rows=rows,
        fit=fit,
        headline=_headline(level, rows, fit, span),
        warnings=warnings,
        frontier_span_months=span[0],
        frontier_span_factor=span[1],
        verified_fit=verified_fit,
        verified_factor=base.flop / verified_best.flop if base and verified_best else None,
        split=_split(base, least_compute(rows)),
        policy=policy_text(level, len(rows)),
        not_entered=[[n.candidate, n.reason] for n in level.policy.not_entered] if level.policy else [],
    )


def _frontier(ranked: list[Row]) -> dict[str, float]:
    """Date -> compute of each frontier point: the least compute of a date, where it is below every earlier
    date's. One point per date: entries tied on the same day are one point, not several (the fit would
    otherwise see repeated points and report a falsely narrow interval)."""
    lows: dict[str, float] = {}
    best = math.inf
    for date, group in _by_date(ranked):
        low = min(r.flop for r in group)
        if low < best:
            best = lows[date] = low
    return lows


def _split(base: Row | None, best: Row | None) -> Split | None:
    """Baseline -> best as forward cost per unit x units seen, when both rows state what they saw."""
    if base is None or best is None or base is best or not base.samples or not best.samples:
        return None
    tokens = base.sequence_length is not None and best.sequence_length is not None
    seen_base = base.samples * (base.sequence_length or 1 if tokens else 1)
    seen_best = best.samples * (best.sequence_length or 1 if tokens else 1)
    fwd_base = base.flop / (FORWARD_AND_BACKWARD * seen_base)
    fwd_best = best.flop / (FORWARD_AND_BACKWARD * seen_best)
    return Split(
        "token" if tokens else "sample",
        fwd_base / fwd_best,
        seen_base / seen_best,
        seen_base,
        seen_best,
        fwd_base,
        fwd_best,
    )


def _threshold(level: Benchmark) -> str:
    if level.threshold is None:
        return level.criterion or ""
    unit = {"percent": "%", "fraction": ""}.get(level.metric.unit, f" {level.metric.unit}")
    name = "" if level.metric.name == level.metric.unit else f" {level.metric.name}"
    return f"{level.threshold:g}{unit}{name}"


def _by_date(rows: list[Row]) -> list[tuple[str, list[Row]]]:
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(r.date, []).append(r)
    return sorted(groups.items())


def _claim_warnings(entry: Entry, flop: float, level: Benchmark) -> list[str]:
    out = []
    for c in entry.claims:
        claimed = to_flop(c.value, c.unit)
        if not level.agrees(claimed, flop):
            out.append(
                f"W101 {level.id}/{entry.id}: {c.source.title} claims {c.value:g} {c.unit} = {claimed:.3g} FLOP, "
                f"but aieff has {flop:.3g} FLOP ({claimed / flop:.2f}x)"
            )
    return out


def _label_warnings(level: Benchmark, entries: list[Entry]) -> list[str]:
    """One W102 per source and mislabelled unit in a level, with an example."""
    seen: dict[tuple[str, str, str], list[str]] = {}
    for e in entries:
        for c in e.claims:
            if c.unit_as_labelled:
                example = f"{e.id} {c.value:g} = {flop_to_pfs_days(to_flop(c.value, c.unit)):.4g} petaflop/s-days"
                seen.setdefault((c.source.title, c.unit_as_labelled, c.unit), []).append(example)
    return [
        f"W102 {level.id}: {title} labels {len(ex)} value(s) {label!r}, but they are in {unit!r} (e.g. {ex[0]})"
        for (title, label, unit), ex in sorted(seen.items())
    ]


def _stated_factor_warnings(
    entries: list[Entry], rows: dict[str, Row], base: Row, all_entries: dict[str, Entry]
) -> list[str]:
    out = []
    base_entry = all_entries[base.id]
    for e in entries:
        for c in e.claims:
            if c.stated_reduction_factor is None or e.id == base.id:
                continue
            ours = rows[e.id].reduction_factor
            same_source = [b for b in base_entry.claims if b.source.url == c.source.url]
            own = (
                (to_flop(same_source[0].value, same_source[0].unit) / to_flop(c.value, c.unit)) if same_source else None
            )
            stated = c.stated_reduction_factor
            bad_own = own is not None and abs(own - stated) / stated > FACTOR_TOLERANCE
            if abs(ours - stated) / stated > FACTOR_TOLERANCE or bad_own:
                msg = f"W103 {e.id}: {c.source.title} states {stated:g}x against {base.id}; aieff computes {ours:.1f}x"
                if own is not None:
                    msg += f"; that source's own compute values give {own:.1f}x"
                out.append(msg)
    return out


def _headline(level: Benchmark, rows: list[Row], fit: Fit, span: tuple[float | None, float | None]) -> str:
    if not rows:
        return "no entries yet"
    best = least_compute(rows)
    assert best is not None  # same_recipe_as must name a ranked entry (E033): rows hold one
    base = next((r for r in rows if r.id == level.baseline), None)
    if base is None or best.id == base.id:
        return f"{base.model if base else level.baseline} is the only result so far"
    text = f"{best.reduction_factor:.1f}x less compute than {base.model} ({best.model}, {best.date[:4]})"
    if fit.doubling_months is not None and fit.points >= 3:
        text += f", compute halving every {fit.doubling_months:.1f} months"
        if fit.ci95_months:
            lo, hi = fit.ci95_months
            text += f" (95% CI {lo:.1f}-{hi:.1f}, {fit.points} frontier points)"
    elif fit.points == 2 and span[0] is not None and span[1] is not None:
        text += f"; 2 frontier points: {span[1]:.1f}x in {span[0]:.1f} months, too few for a halving time"
        if level.paper_period:
            text += f" (the paper's period: {level.paper_period})"
    last_move = max(r.date for r in rows if r.frontier)
    latest = max(r.date for r in rows)
    if latest > last_move:
        text += f"; no entry since {last_move} needed less compute (latest {latest})"
    return text
