"""`aieff estimate`: re-estimate training compute from architecture, checkpoint and log, and judge the claim.

verified: the re-estimate is within the level's tolerance of the claim (needs a training log).
failed: it is not, or an artifact is missing, tampered with or of another architecture.
claimed: the entry references nothing to re-estimate from (forward cost is still checked when an
architecture is given, and reported).
unreachable: an artifact could not be fetched (offline, timeout, server error); the recorded verdict
stays as it was.

Models, exports and checkpoints are only ever handled in the sandbox (aieff.verify.sandbox); this process
fetches, checks hashes, parses logs and judges.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aieff.dataset.diagnostics import excerpt, first_line
from aieff.dataset.docset import Dataset
from aieff.dataset.schema import Benchmark, Entry, ForwardCost
from aieff.refusals import REFUSALS, Refused
from aieff.repo import DataError, NotReached, RunAborted, Unreachable, UsageError, inside
from aieff.units import FORWARD_AND_BACKWARD, flop_to_pfs_days, to_flop
from aieff.verdict import Reason, Row, Status, reason_of
from aieff.verify.batch import BatchUnverified
from aieff.verify.checkpoint import CheckpointReport
from aieff.verify.flops import ForwardCount
from aieff.verify.sandbox import Sandbox, retire_workers, use_slot


@dataclass
class Estimate:
    """The verdict on one entry, with the factors side by side."""

    id: str
    level: str
    path: str
    status: Status = Status.CLAIMED
    compute_flop: float | None = None
    compute_multiply_adds: float | None = None
    compute_pfs_days: float | None = None
    compute_flop_low: float | None = None  # compute at the evaluation before the first at the level
    claimed_flop: float | None = None
    forward_multiply_adds: int | None = None  # exact count per sample, first phase (what entries record)
    forward_multiply_adds_by_phase: list[int] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    optimizer_flop: float | None = None  # the optimizer's own FLOP to the level (per step x steps), within compute_flop
    reasons: list[Reason] = field(default_factory=list)  # why it is claimed, failed or unreachable, as data

    def fail(self, message: str, *reasons: Reason) -> Estimate:
        """Fail the entry with a message and the reasons it gives (a coded refusal by default)."""
        self.status = Status.FAILED
        self.messages.append(message)
        self.reasons += reasons or [Reason(code="refused", detail=message[:1000])]
        return self

    def note(self, reason: Reason) -> None:
        """A reason that does not change the status (why it stays claimed; a forward cost that differs)."""
        self.reasons.append(reason)
        self.messages.append(reason.text())

    def as_json(self) -> dict[str, Any]:
        """The estimate as `--format json` prints it: rows and reasons as objects with named fields."""
        return asdict(self) | {"reasons": [r.model_dump(mode="json", exclude_none=True) for r in self.reasons]}


def _pct(new: float, old: float) -> str:
    return f"{(new - old) / old:+.1%}"


def _exact(value: float) -> str:
    """A count as a whole number with separators when it is one (as entries state it), else 4 digits."""
    return f"{round(value):,}" if value == round(value) and abs(value) < 2**53 else f"{value:,.4g}"


def _phases(entry: Entry) -> list[tuple[float, float, ForwardCost]]:
    t = entry.training
    if t is None:
        return []
    if t.resolution_schedule:
        return [(p.start_epoch, p.end_epoch, p.forward_cost) for p in t.resolution_schedule]
    if t.forward_cost:
        return [(0.0, float("inf"), t.forward_cost)]
    return []


def _job(entry: Entry, root: Path, phases: list[tuple[float, float, ForwardCost | None]]) -> dict[str, Any]:
    """The sandbox job for an entry: architecture, inputs per phase, and the fetched checkpoint."""
    from aieff.verify.fetch import fetch

    assert entry.artifacts is not None
    arch = entry.artifacts.architecture
    assert arch is not None
    spec: dict[str, Any]
    if arch.torchvision:
        spec = {"torchvision": arch.torchvision, "kwargs": arch.kwargs.given()}
    else:
        assert arch.export is not None  # an architecture is a torchvision name or an export
        spec = {"export": str(fetch(arch.export, root, what="architecture", kind="export"))}
    checkpoint = entry.artifacts.checkpoint
    return {
        "arch": spec,
        "input": arch.input,
        "features": arch.input_features,
        "phases": [
            {"resolution": fc.resolution, "sequence_length": fc.sequence_length} if fc else {} for _, _, fc in phases
        ],
        "checkpoint": str(fetch(checkpoint, root, what="checkpoint", kind="checkpoint")) if checkpoint else None,
        **({"parameter_shapes": True} if entry.training and entry.training.optimizer else {}),
    }


def _count(entry: Entry, root: Path, phases: list[tuple[float, float, ForwardCost | None]], box: Sandbox) -> dict:
    """The sandbox's count for an entry, or the memo of the same count (aieff.verify.memo): keyed by what the count
    is a function of (the pinned export's and checkpoint's sha256, or the torchvision name and kwargs; the
    input shapes) and the counting code."""
    from aieff.verify import memo

    job = _job(entry, root, phases)  # fetches and checks every artifact's sha256 first, memo or not
    arts = entry.artifacts
    assert arts is not None and arts.architecture is not None
    material = {
        "arch": {k: v for k, v in job["arch"].items() if k != "export"}
        | ({"export_sha256": arts.architecture.export.sha256} if arts.architecture.export else {}),
        "input": job["input"],
        "features": job["features"],
        "phases": job["phases"],
        "checkpoint_sha256": arts.checkpoint.sha256 if arts.checkpoint else None,
        **({"parameter_shapes": True} if job.get("parameter_shapes") else {}),
    }
    k = memo.key("count", material)
    if (kept := memo.get(k, "count")) is not None:
        return kept
    result = box.run(job)
    if result.get("ok"):
        memo.put(k, "count", {x: y for x, y in result.items() if x != "protection"})
    return result


def estimate_entry(root: Path, ds: Dataset, entry: Entry, sandbox: Sandbox | None = None) -> Estimate:
    """Re-estimate one entry; never raises: any failure becomes a failed verdict with a one-line reason."""
    path = ds.entries[entry.id].path
    est = Estimate(entry.id, entry.benchmark, path)
    box = sandbox or Sandbox()
    try:
        return _estimate(root, ds, entry, est, box)
    except Unreachable as exc:
        est.status = Status.UNREACHABLE
        est.messages.append(str(exc))
        est.reasons.append(reason_of(exc))
        return est
    except DataError as exc:
        return est.fail(str(exc), reason_of(exc))
    except Exception as exc:  # a bug or a hostile artifact must not stop the other entries
        first = first_line(exc)
        message = f"internal error on this entry: {type(exc).__name__}: {excerpt(first, 200)}"
        return est.fail(message, Reason(code="internal-error", detail=message))


@dataclass
class LogReading:
    """Where the log first reaches the level, as training done, and how its labels were read."""

    reached: Any
    epochs: float | None
    samples: float
    conventions: list[str]
    runs: list[Row] = field(default_factory=list)  # one table row per run, for several runs
    samples_before: float = 0.0  # at the evaluation before the first at the level (0: none before it)
    steps: float | None = None  # optimizer steps to the level (median over runs), where the log counts steps
    steps_before: float = 0.0
    seconds: float | None = None  # wall-clock time the log(s) record to the level (median over runs), if any


def _read_logs(root: Path, entry: Entry, level: Benchmark) -> LogReading:
    """One run's reading, or the median over several runs' readings.

    Aborted runs (MLPerf run_stop aborted) are listed and not counted, as MLPerf's rules say. A run that
    never reaches the level counts as needing more than it trained (infinitely many samples): it can
    only move the median up, and the entry fails when fewer than half of its counted runs reach it.
    """
    assert entry.artifacts is not None  # only an entry with a log is read
    specs = entry.artifacts.logs()
    if len(specs) == 1 and not specs[0].several_runs:
        return _read_log(root, entry, level, specs[0])
    answers = _preread(root, specs, level)
    items: list[tuple[str, Any, Any]] = []  # (name, spec, the run's evaluations where a file holds several runs)
    for i, spec in enumerate(specs):
        if not spec.several_runs:
            items.append((f"run {i} ({_file_name(spec)})", spec, None))
            continue
        parts = _runs_in(_evals(root, spec, level, f"training log {i} ({_file_name(spec)})", answers))
        for j, part in enumerate(parts):
            where = f"lines {min(e.line for e in part)}-{max(e.line for e in part)}"
            items.append((f"run {i}.{j} ({_file_name(spec)}, {where})", spec, part))
    readings: list[LogReading] = []
    rows: list[Row] = []
    short = 0
    for name, spec, part in items:
        try:
            r = _read_log(root, entry, level, spec, what=f"training log of {name}", evals=part, answers=answers)
        except RunAborted as exc:
            rows.append(Row(name, None, None, excerpt(str(exc), 120), "", "", "aborted: not counted"))
            continue
        except NotReached as exc:
            short += 1
            why = "never reaches the level: counted as more than it trained"
            rows.append(Row(name, None, None, excerpt(str(exc), 120), "", "", why))
            continue
        except (Unreachable, BatchUnverified):
            raise  # not a verdict on the entry (the recorded one stays), or none on this run alone
        except DataError as exc:
            raise DataError(f"{name}: {exc}") from exc
        readings.append(r)
        ev = r.reached.eval
        at = f"{r.epochs:g} epochs" if r.epochs is not None else f"{r.samples:,.0f} samples"
        rows.append(Row(name, None, r.samples, "", "samples", "", f"{at} (line {ev.line}, {ev.value:g})"))
    counted = len(readings) + short
    if not counted:
        raise DataError(f"none of the {len(items)} runs reached the level (every run aborted)")
    ordered = sorted(readings, key=lambda r: r.samples)
    lo, hi = (counted - 1) // 2, counted // 2  # the median's positions among all counted runs
    if hi >= len(ordered):
        raise DataError(f"only {len(readings)} of {counted} counted runs reach the level: the median run does not")
    mid = ordered[lo]
    samples = (ordered[lo].samples + ordered[hi].samples) / 2
    befores = sorted(r.samples_before for r in readings) + [math.inf] * short
    before = (befores[lo] + befores[hi]) / 2
    steps = None
    if all(r.steps is not None for r in readings):
        counts = sorted(r.steps or 0.0 for r in readings) + [math.inf] * short
        steps = (counts[lo] + counts[hi]) / 2
        steps_before = sorted(r.steps_before for r in readings) + [math.inf] * short
    per_epoch = _per_epoch(entry, level)
    epochs = samples / per_epoch if per_epoch else None
    notes = sorted({c for r in readings for c in r.conventions})
    notes.append(
        f"median over {counted} counted runs of {len(items)} ({short} never reach the level): {samples:,.0f} samples"
        + (f" = {epochs:g} epochs" if epochs is not None else "")
    )
    out = LogReading(
        mid.reached,
        epochs,
        samples,
        notes,
        rows,
        samples_before=min(before, samples),
        steps=steps,
        seconds=_median_seconds(readings, short),
    )
    if steps is not None:
        out.steps_before = min((steps_before[lo] + steps_before[hi]) / 2, steps)
    return out


def _median_seconds(readings: list[LogReading], short: int) -> float | None:
    """The median time to the level over the counted runs (a run short of the level counts as slowest), as
    time_to_level records it; None when a run that reached the level records no time."""
    if any(r.seconds is None for r in readings):
        return None
    times = sorted([r.seconds for r in readings if r.seconds is not None] + [math.inf] * short)
    lo, hi = (len(times) - 1) // 2, len(times) // 2
    return (times[lo] + times[hi]) / 2 if math.isfinite(times[hi]) else None


def _file_name(spec: Any) -> str:
    return (spec.url or spec.path or "").rsplit("/", 1)[-1]  # whole: two runs must never read alike


def _per_epoch(entry: Entry, level: Benchmark) -> int | None:
    t = entry.training
    return (t.samples_per_epoch if t else None) or level.dataset.train_samples_per_epoch


def _evals(root: Path, spec: Any, level: Benchmark, what: str, answers: Any = None) -> Any:
    """Fetch one training log and parse it in the sandbox (no torch), or take its parse from `answers`."""
    from aieff.verify import logread
    from aieff.verify.fetch import fetch

    return logread.parse(fetch(spec, root, what=what, kind="log"), spec, level, answers)


def _preread(root: Path, specs: list[Any], level: Benchmark) -> Any:
    """The parses of an entry's logs, read together (aieff.verify.logread.preread); a log that cannot be fetched
    is left to its own reading, which reports why."""
    from aieff.verify import logread
    from aieff.verify.fetch import fetch

    def locate(i: int, spec: Any) -> Path | None:
        try:
            return fetch(spec, root, what=f"training log {i}", kind="log")
        except DataError:
            return None

    return logread.preread(specs, level, locate)


def _source_batch(root: Path, entry: Entry, level: Benchmark) -> Any:
    """The batch per step the entry's batch_source gives (read in the sandbox), or None when it names none."""
    from aieff.verify import logread
    from aieff.verify.fetch import fetch

    art = entry.artifacts.batch_source if entry.artifacts else None
    if art is None:
        return None
    return logread.read_batch(fetch(art, root, what="batch_source", kind="log"), art.sha256, level)


def _runs_in(evals: Any) -> list[Any]:
    """A file's evaluations split into runs, in file order: a run ends where the step counter goes back (the
    next run starts), so no run's evaluation is read as another's (TrainingLog.several_runs)."""
    from aieff.verify.logs import Evals

    runs: list[list[Any]] = [[]]
    for ev in sorted(evals, key=lambda e: e.line):
        last = runs[-1][-1] if runs[-1] else None
        if last is not None and ev.steps is not None and last.steps is not None and ev.steps < last.steps:
            runs.append([])
        runs[-1].append(ev)
    parts = [Evals(run, list(evals.conventions)) for run in runs if run]
    for part in parts:  # what the sandbox read from the whole file: the script's batch, the clock at its line
        part.batch, part.clock = getattr(evals, "batch", None), getattr(evals, "clock", None)
    return parts


def _read_log(
    root: Path,
    entry: Entry,
    level: Benchmark,
    spec: Any,
    what: str = "training log",
    evals: Any = None,
    answers: Any = None,
) -> LogReading:
    """Read one training log (or one run of a file that holds several: `evals`) to the first evaluation at the
    level; `answers`: parses read ahead (`_preread`)."""
    from aieff.verify import batch, logs

    evals = _evals(root, spec, level, what, answers) if evals is None else evals
    if level.batch_reader and batch.reads_source(level.batch_reader):
        evals.batch = _source_batch(root, entry, level)
    reached = logs.first_reaching(evals, level)
    ev = reached.eval
    per_epoch = _per_epoch(entry, level)
    notes = list(evals.conventions)
    samples = _samples_at(entry, level, ev, notes)
    # Steps become samples only with the batch per step, read from the log itself (never the entry's word); a
    # samples group in a step-log pattern is a field the entry's pattern picked, so it must agree with that too.
    if ev.steps is not None and (ev.samples is None or spec.format == "step-log"):
        notes += batch.check(entry, level, evals.batch, what)
        t = entry.training
        if ev.samples is not None and t is not None and ev.samples != (want := t.samples_after(ev.steps)):
            raise Refused(
                "A470",
                f"{what} line {ev.line}: the pattern's samples group gives {ev.samples:,} samples at step "
                f"{ev.steps:,}; the batch per step the log's script gives makes {want:,}",
            )
    before = _samples_at(entry, level, reached.previous, []) if reached.previous is not None else 0.0
    epochs = ev.epochs if ev.epochs is not None else (samples / per_epoch if per_epoch else None)
    previous = reached.previous.steps if reached.previous is not None else 0
    steps = float(ev.steps) if ev.steps is not None else None
    clock = getattr(evals, "clock", None)
    seconds = clock[1] if clock and clock[0] == ev.line else None
    return LogReading(
        reached,
        epochs,
        samples,
        notes,
        samples_before=before,
        steps=steps,
        steps_before=previous or 0.0,
        seconds=seconds,
    )


def _samples_at(entry: Entry, level: Benchmark, ev: Any, notes: list[str]) -> float:
    """Training samples seen at an evaluation, from its samples, steps (with the entry's batch schedule) or
    epochs (with the level's samples per epoch)."""
    t, per_epoch = entry.training, _per_epoch(entry, level)
    if ev.samples is not None:
        return float(ev.samples)
    if ev.steps is not None:
        if t is None or (t.samples_per_step is None and t.samples_per_step_schedule is None):
            raise DataError("the log counts steps: give training.samples_per_step (or its schedule)")
        samples = float(t.samples_after(ev.steps))
        notes.append(f"{ev.steps} steps = {samples:,.0f} samples (samples per step summed)")
        return samples
    if per_epoch and ev.epochs is not None:
        return ev.epochs * per_epoch
    raise DataError("the log counts epochs but the level has no train_samples_per_epoch")


def _estimate(root: Path, ds: Dataset, entry: Entry, est: Estimate, box: Sandbox) -> Estimate:
    level = ds.level(entry.benchmark)
    arts = entry.artifacts
    if arts is None or arts.architecture is None:
        est.note(Reason(code="no-architecture", detail="no architecture referenced: nothing to re-estimate"))
        return est
    phases: list[tuple[float, float, ForwardCost | None]] = list(_phases(entry))
    if not phases and arts.architecture.input != "vector":
        nothing = "no training.forward_cost (with resolution or sequence length): nothing to count at"
        est.note(Reason(code="no-forward-cost", detail=nothing, field="training.forward_cost"))
        return est
    phases = phases or [(0.0, float("inf"), None)]  # a vector model without a forward cost: one count
    # Cheap checks first: every artifact present with its pinned hash, and the log read to the level.
    unverified = None
    try:
        reached = _read_logs(root, entry, level) if arts.logs() else None
    except BatchUnverified as exc:  # the batch per step cannot be read from the log: count, but do not verify
        reached, unverified = None, Reason(code=exc.refusal.code, detail=str(exc)[:1000])
    result = _count(entry, root, phases, box)
    if not result.get("ok"):
        if result.get("code") in REFUSALS:  # a refusal in the sandbox keeps its code
            raise Refused(str(result["code"]), str(result.get("detail", ""))[:500])
        raise DataError(str(result.get("error", "the sandboxed count failed"))[:500])
    counted: list[tuple[float, float, float]] = []  # (start, end, forward FLOP) per phase
    for i, ((start, end, fc), raw) in enumerate(zip(phases, result["counts"], strict=True)):
        count = ForwardCount(**raw)
        est.messages += count.notes
        counted.append((start, end, count.flop))
        exact = round(count.multiply_adds)  # an exact count of whole multiply-adds
        est.forward_multiply_adds_by_phase.append(exact)
        if est.forward_multiply_adds is None:
            est.forward_multiply_adds = exact
        label = f"forward cost{f' @{fc.resolution}px' if fc and fc.resolution else ''}"
        if fc is None:
            est.rows.append(Row(label, None, exact, "", "multiply-adds", "-", f"{exact:,} multiply-adds"))
            continue
        claimed = to_flop(fc.value, fc.unit) / 2
        ok = level.agrees(count.multiply_adds, claimed)
        est.rows.append(
            Row(
                label,
                claimed,
                exact,
                "ok" if ok else f"differs {_pct(count.multiply_adds, claimed)}",
                "multiply-adds",
                f"{_exact(claimed)} multiply-adds",
                f"{exact:,} multiply-adds",
            )
        )
        if not ok:
            schedule = entry.training is not None and entry.training.resolution_schedule
            said = f"{label}: entry says {claimed:.4g} multiply-adds, counted {count.multiply_adds:.4g}"
            where = f"training.resolution_schedule[{i}].forward_cost" if schedule else "training.forward_cost"
            differs = Reason(code="forward-cost-differs", detail=said, field=where, claimed=claimed, counted=exact)
            est.note(differs)
    if arts.checkpoint:
        report = CheckpointReport(**result["checkpoint"])
        est.rows.append(
            Row(
                "checkpoint",
                result["architecture_tensors"],
                report.tensors,
                "ok" if report.ok else "differs",
                "tensors",
                f"{result['architecture_tensors']} tensors (architecture)",
                f"{report.tensors} tensors, {report.parameters:,} parameters ({report.format})",
            )
        )
        if not report.ok:
            wrong = "checkpoint is not this architecture: " + "; ".join(report.problems())
            return est.fail(wrong, Reason(code="checkpoint-differs", detail=wrong[:1000], field="artifacts.checkpoint"))
    if reached is None:
        if unverified is not None:  # the batch cannot be read from the log: claimed, with the refusal's code
            est.note(unverified)
        else:
            est.note(
                Reason(
                    code="no-training-log",
                    detail="no training log: compute not re-estimated, the entry stays claimed",
                    field="artifacts.training_log",
                )
            )
        return est
    est.messages += reached.conventions
    return _judge_log(entry, level, est, counted, ds, reached, result.get("parameter_shapes"))


def _judge_log(
    entry: Entry,
    level: Benchmark,
    est: Estimate,
    counted: list[tuple[float, float, float]],
    ds: Dataset,
    reading: LogReading,
    shapes: dict[str, list[int]] | None = None,
) -> Estimate:
    reached, epochs, samples = reading.reached, reading.epochs, reading.samples
    ev = reached.eval
    est.rows += reading.runs
    t = entry.training
    per_epoch = _per_epoch(entry, level)
    own = t.samples_per_epoch if t else None
    if own is not None and ev.samples is None and ev.steps is None:  # the log counts epochs: the entry scales them
        standard = level.dataset.train_samples_per_epoch
        if standard is None or not level.agrees(own, standard):
            scaled = (
                f"the log counts epochs and the entry's own samples_per_epoch ({own:,}) scales them, but it is "
                + (
                    f"not within {level.tolerance_percent:g}% of the level's ({standard:,})"
                    if standard
                    else "the level states none"
                )
                + ": the compute would rest on the entry, not its artifacts"
            )
            where = "training.samples_per_epoch"
            return est.fail(
                scaled,
                Reason(code="samples-per-epoch-differs", detail=scaled, field=where, claimed=own, counted=standard),
            )
    if t and t.steps_to_target is not None and t.total_run_compute is None:
        est.rows.append(
            Row(
                "steps to target",
                t.steps_to_target,
                ev.steps,
                "ok" if ev.steps == t.steps_to_target else "differs",
                "steps",
                f"{t.steps_to_target:,}",
                f"{ev.steps if ev.steps is not None else '-'} (log line {ev.line})",
            )
        )
    if t and t.epochs_to_target is not None:
        ok = epochs is not None and abs(epochs - t.epochs_to_target) <= 1e-9
        est.rows.append(
            Row(
                "epochs to target",
                t.epochs_to_target,
                epochs,
                "ok" if ok else "differs",
                "epochs",
                f"{t.epochs_to_target:g}",
                f"{epochs:g} ({'median of the runs' if reading.runs else f'log line {ev.line}'})",
            )
        )
    elif t and t.samples_to_target is not None:
        est.rows.append(
            Row(
                "samples to target",
                t.samples_to_target,
                samples,
                "ok" if abs(samples - t.samples_to_target) < 1 else "differs",
                "samples",
                f"{t.samples_to_target:,}",
                f"{samples:,.0f} (log line {ev.line})",
            )
        )
    if entry.time_to_level is not None and reading.seconds is not None:  # the time is checked like the steps
        said = entry.time_to_level.seconds
        est.rows.append(
            Row(
                "time to level",
                said,
                reading.seconds,
                "ok" if abs(reading.seconds - said) <= 0.001 else "differs",
                "seconds",
                f"{said:.3f} s",
                f"{reading.seconds:.3f} s ({'median of the runs' if reading.runs else f'log line {ev.line}'})",
            )
        )
    est.rows.append(
        Row(
            "value reached",
            level.threshold,
            ev.value,
            reached.cadence,
            level.metric.unit,
            f">= {level.threshold:g}" if level.direction == "higher" else f"<= {level.threshold:g}",
            f"{ev.value:g}",
        )
    )

    def flop_at(seen: float) -> float:
        if per_epoch and len(counted) > 1:
            done = seen / per_epoch
            return sum(
                FORWARD_AND_BACKWARD * f * (min(end, done) - start) * per_epoch
                for start, end, f in counted
                if done > start
            )
        return FORWARD_AND_BACKWARD * counted[0][2] * seen

    flop = flop_at(epochs * per_epoch) if epochs is not None and per_epoch and len(counted) > 1 else flop_at(samples)
    low = flop_at(reading.samples_before)
    per_step = _optimizer_per_step(entry, level, est, shapes)
    if per_step is not None:
        if reading.steps is None:
            none = "training.optimizer is per step, but the log does not count steps"
            return est.fail(none, Reason(code="refused", detail=none, field="training.optimizer"))
        est.optimizer_flop = per_step * reading.steps
        est.rows.append(
            Row(
                "compute terms",
                None,
                flop + est.optimizer_flop,
                "",
                "FLOP",
                "",
                f"3 x forward x samples {flop:.4g} FLOP + optimizer {per_step:.4g} FLOP/step x "
                f"{reading.steps:,.0f} steps {est.optimizer_flop:.4g} FLOP",
            )
        )
        flop, low = flop + est.optimizer_flop, low + per_step * reading.steps_before
    est.compute_flop, est.compute_multiply_adds, est.compute_pfs_days = flop, flop / 2, flop_to_pfs_days(flop)
    # The log fixes the compute only to the interval since the evaluation before the first at the level.
    est.compute_flop_low = low
    est.rows.append(
        Row(
            "bracket",
            None,
            est.compute_flop_low,
            "",
            "FLOP",
            "",
            f"{est.compute_flop_low:.4g} to {flop:.4g} FLOP (previous evaluation to the first at the level)",
        )
    )
    # The re-estimate is what a verified entry publishes, so it must agree with every figure the entry
    # states: the compute its training facts give (what the README would otherwise show) and its claim.
    from aieff.analysis.analyze import stated_compute

    stated = stated_compute(entry, level, ds.entry_lookup())
    if not stated:
        none = "the entry states no compute (no claim, no training facts) for the re-estimate to match"
        return est.fail(none, Reason(code="no-stated-compute", detail=none))
    est.claimed_flop = stated[0][1]
    disagree: list[Reason] = []
    for what, value in stated:
        ok = level.agrees(flop, value)
        est.rows.append(
            Row(
                "compute",
                value,
                flop,
                "ok" if ok else f"differs {_pct(flop, value)}",
                "FLOP",
                f"{value:.4g} FLOP {what}",
                f"{flop:.4g} FLOP = {flop / 2:.4g} multiply-adds = {flop_to_pfs_days(flop):.4g} petaflop/s-days",
            )
        )
        if not ok:
            detail = f"{flop / value:.2f}x the {what} ({value:.4g} FLOP)"
            disagree.append(Reason(code="compute-differs", detail=detail, claimed=value, counted=flop))
    if disagree:
        return est.fail(
            f"re-estimated compute {flop:.4g} FLOP is "
            + " and ".join(r.detail for r in disagree)
            + f"; tolerance {level.tolerance_percent:g}%",
            *disagree,
        )
    est.status = Status.FAILED if est.status == Status.FAILED else Status.VERIFIED
    return est


def _optimizer_per_step(
    entry: Entry, level: Benchmark, est: Estimate, shapes: dict[str, list[int]] | None
) -> float | None:
    """The optimizer's FLOP per step counted from the level's definition and the export's parameter shapes
    (aieff.verify.optimizer_cost), with a row beside the entry's figure; None when the entry states none."""
    from aieff.verify.optimizer_cost import step_cost

    term = entry.training.optimizer if entry.training else None
    if term is None:
        return None
    definition = (level.optimizers or {}).get(term.definition)
    if definition is None:
        raise DataError(f"training.optimizer names {term.definition!r}, which the level's optimizers do not define")
    if shapes is None:
        raise DataError("training.optimizer needs the architecture's parameter shapes: give an export")
    cost = step_cost(definition, shapes)
    est.rows += cost.rows
    ok = level.agrees(cost.flop, term.flop_per_step)
    est.rows.append(
        Row(
            f"optimizer FLOP per step ({term.definition})",
            term.flop_per_step,
            cost.flop,
            "ok" if ok else f"differs {_pct(cost.flop, term.flop_per_step)}",
            "FLOP",
            f"{_exact(term.flop_per_step)} FLOP",
            f"{_exact(cost.flop)} FLOP",
        )
    )
    if not ok:  # a small term: the compute's tolerance would hide it, so it is judged on its own
        raise DataError(
            f"optimizer FLOP per step: the entry says {term.flop_per_step:.6g}, counted {cost.flop:.6g} "
            f"({_pct(cost.flop, term.flop_per_step)}); tolerance {level.tolerance_percent:g}%"
        )
    return cost.flop


def render_text(ests: list[Estimate], protection: str | None = None) -> str:
    """A block per entry: the verdict, the factors side by side, then notes; last, how the sandbox
    confined this run's jobs (when any ran)."""
    from aieff.dataset.diagnostics import printable
    from aieff.escape import visible

    def shown(text: str) -> str:  # text quoted from entries and artifacts stays on its own line, visibly
        return visible(printable(text))

    out = []
    for e in ests:
        out.append(f"{e.path}: {e.status}")
        if e.rows:
            rows = [["factor", "entry", "re-estimate", ""], *([shown(c) for c in r.cells()] for r in e.rows)]
            widths = [max(len(r[i]) for r in rows) for i in range(4)]
            for r in rows:
                out.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if e.compute_flop is not None and e.forward_multiply_adds is not None:
            out.append(
                f"  compute {e.compute_flop:.4g} FLOP from a forward cost of {e.forward_multiply_adds:,} "
                "multiply-adds per sample (counted)"
            )
        out += [f"  - {shown(m)}" for m in e.messages]
    counts = {s: sum(e.status == s for e in ests) for s in Status if s.recorded}
    out.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    if protection:
        out.append(f"sandbox: {protection}")
    return "\n".join(out) + "\n"


def _summary(ests: list[Estimate], protection: str | None = None) -> None:
    from aieff.escape import markdown

    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if os.environ.get("GITHUB_ACTIONS") != "true" or not summary:
        return
    lines = [
        "### aieff estimate",
        "",
        "| entry | status | factor | entry says | re-estimate | |",
        "|---|---|---|---|---|---|",
    ]
    for e in ests:  # every cell quotes entries, logs or artifacts: escaped, so no link, image or tag renders
        for i, r in enumerate([r.cells() for r in e.rows] or [["-", "-", "-", ""]]):
            head = [e.path, e.status] if i == 0 else ["", ""]
            lines.append("| " + " | ".join(markdown(c, 1000) for c in [*head, *r]) + " |")
        for m in e.messages:
            lines.append(f"| | | note | {markdown(m, 1000)} | | |")
    if protection:
        lines += ["", f"sandbox: {markdown(protection, 1000)}"]
    with open(summary, "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n\n")


def _entry_files(root: Path, ds: Dataset, paths: list[str]) -> list[tuple[str, str, bool]]:
    """(as named, repository-relative path, named by itself) of each entry file named, in a folder named, or matching a
    glob, as validate takes them: a level's benchmark.yaml met in a folder or glob is skipped."""
    import glob

    base = root.resolve()
    known = sorted({d.path for d in ds.entries.values()} | {d.path for d in ds.diagnostics})
    out: list[tuple[str, str, bool]] = []
    for p in paths:
        names = [p] if Path(p).exists() or not glob.has_magic(p) else sorted(glob.glob(p, recursive=True))
        if not names:
            raise UsageError(f"{p}: matches no file")
        for name in names:
            rel = inside(root, name).relative_to(base).as_posix()
            if Path(name).is_dir():
                inner = [k for k in known if rel in {".", ""} or k.startswith(rel.rstrip("/") + "/")]
                out += [(k, k, False) for k in inner if Path(k).name != "benchmark.yaml"]
            elif Path(rel).name == "benchmark.yaml" and (len(names) > 1 or len(paths) > 1):
                continue  # entries/<level>/*.yaml: the level file is not an entry, the rest are
            else:
                out.append((name, rel, name == p))
    return out


def _estimate_all(root: Path, ds: Dataset, entries: list[Entry], jobs: int) -> tuple[list[Estimate], str | None]:
    """Every entry's estimate, in order, `jobs` at a time, and how the sandbox confined them.

    Worker threads only wait: the counting and log reading run in the sandbox helpers' children, one helper
    per worker (slots 1..jobs), stopped when the run ends. The context (hosts found silent) is shared.
    """
    if jobs <= 1 or len(entries) <= 1:
        box = Sandbox()
        return [estimate_entry(root, ds, e, box) for e in entries], box.protection
    import contextvars
    import queue
    from concurrent.futures import ThreadPoolExecutor

    boxes = [Sandbox(slot=k) for k in range(1, min(jobs, len(entries)) + 1)]
    free: queue.SimpleQueue[Sandbox] = queue.SimpleQueue()
    for box in boxes:
        free.put(box)
    context = contextvars.copy_context()  # the silent-host memory is one dict, shared by every worker

    def one(entry: Entry) -> Estimate:
        box = free.get()
        try:
            return context.copy().run(_in_slot, box, entry)
        finally:
            free.put(box)

    def _in_slot(box: Sandbox, entry: Entry) -> Estimate:
        with use_slot(box.slot):  # a Sandbox() made inside (a log's parse) goes to this worker's helper too
            return estimate_entry(root, ds, entry, box)

    try:
        with ThreadPoolExecutor(max_workers=len(boxes), thread_name_prefix="aieff-estimate") as pool:
            ests = list(pool.map(one, entries))
    finally:
        retire_workers()  # every worker's helpers (counts and logs)
    seen = dict.fromkeys(how for box in boxes for how in box.protections)
    return ests, "; ".join(seen) or None


def run_estimates(
    root: Path,
    ds: Dataset,
    paths: list[str],
    *,
    all_entries: bool,
    record: str | None,
    fmt: str,
    unreachable_fails: bool = False,
    shard: tuple[int, int] | None = None,
    jobs: int = 1,
) -> int:
    """Estimate the named entries (or all); exit 1 when any failed (or, for a PR check, is unreachable).

    --record on a subset updates only those entries. With shard (K, N) and --all, only the entries of
    shard K of N (a stable split by id) are estimated, and --record writes a partial record: the shard's
    verdicts (the record's earlier ones kept as for any run) and the ids it covers, for `aieff record merge`.
    With jobs > 1, that many entries are estimated at a time, each worker's jobs in a sandbox helper of its
    own; the output and the record are the same as one at a time (entries keep their order).
    """
    from aieff.dataset.validate import today
    from aieff.verify import record as records

    record_path = inside(root, record) if record else None  # refused before any counting
    old = records.load(record_path) if record_path else None
    entries: list[Entry] = []
    if all_entries:
        entries = sorted(
            (e for e in ds.all_entries().values() if not e.withdrawn and e.benchmark in ds.benchmarks),
            key=lambda e: (e.benchmark, e.id),
        )
    for p, rel, named in _entry_files(root, ds, paths):
        match = [d.model for d in ds.entries.values() if d.path == rel]
        if not match or not isinstance(match[0], Entry):
            bad = [d for d in ds.diagnostics if d.path == rel]
            if bad and not named:  # a folder or glob goes on past an invalid file: it is reported above
                continue
            raise UsageError(f"{p}: " + ("invalid (see the errors above)" if bad else "not an entry file"))
        if match[0].benchmark not in ds.benchmarks:
            raise UsageError(f"{p}: its level's benchmark.yaml is invalid")
        if all(e.id != match[0].id for e in entries):
            entries.append(match[0])
    if shard is not None:
        if not all_entries or paths:
            raise UsageError("--shard goes with --all (and no entry files)")
        entries = [e for e in entries if records.in_shard(e.id, *shard)]
    if not entries and not all_entries:
        raise UsageError(f"no valid entry in {', '.join(paths)}" if paths else "name entry files, or pass --all")
    from aieff.verify.fetch import remember_silent_hosts

    with remember_silent_hosts():
        ests, protection = _estimate_all(root, ds, entries, jobs)
    if fmt == "json":
        sys.stdout.write(json.dumps([e.as_json() for e in ests], indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(render_text(ests, protection))
    _summary(ests, protection)
    if record_path is not None and old is not None:
        everything = ds.all_entries()
        fresh = {
            e.id: {
                "level": e.level,
                "status": e.status,
                "judged": records.judge_inputs(entry, ds.level(entry.benchmark), everything),
                "compute_flop": e.compute_flop,
                "compute_flop_low": e.compute_flop_low,
                "messages": [m[:1000] for m in e.messages[:100]],
                "reasons": e.reasons[:100],
            }
            for e, entry in zip(ests, entries, strict=True)
        }
        # ids still in the dataset: valid entries, and files that are invalid today (their verdict stays)
        keep = set(ds.all_entries()) | {Path(d.path).stem for d in ds.diagnostics} if all_entries else None
        merged = records.merge(old, fresh, today=today().isoformat(), keep=keep)
        if shard is not None:
            ids = sorted(e.id for e in entries)
            merged = records.Record(
                entries={k: v for k, v in merged.entries.items() if k in fresh},
                shard=records.Shard(index=shard[0], count=shard[1], ids=ids),
            )
        records.write(record_path, merged)
    failing = {Status.FAILED, Status.UNREACHABLE} if unreachable_fails else {Status.FAILED}
    return 1 if any(e.status in failing for e in ests) else 0
