"""Training-log parsers behind one interface, chosen by the entry's `format` field.

Each parser module exposes `parse(text, spec, level) -> Evals` (or, with BINARY = True, takes the
raw bytes); adding a format is adding a module and one line in PARSERS. Every parser states the
labelling convention it applied (0- or 1-based epochs, fractional labels, a pre-training evaluation
left out, steps), and `aieff estimate` prints it with the verdict.
"""

from __future__ import annotations

import csv
import importlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aieff.dataset.diagnostics import excerpt, first_line
from aieff.dataset.schema import Benchmark, TrainingLog
from aieff.refusals import Refused
from aieff.repo import DataError, NotReached

PARSERS = {
    "dawnbench-tsv": "aieff.verify.logs.dawnbench",
    "mlperf-mllog": "aieff.verify.logs.mlperf",
    "pytorch-imagenet-stdout": "aieff.verify.logs.pytorch_stdout",
    "jsonl": "aieff.verify.logs.jsonl",
    "csv": "aieff.verify.logs.csv_log",
    "step-log": "aieff.verify.logs.step_log",
    "tensorboard": "aieff.verify.logs.tensorboard",
}


@dataclass(frozen=True)
class Eval:
    """One evaluation: training done so far (epochs and/or samples) and the metric in the level's unit."""

    line: int
    value: float
    epochs: float | None = None
    samples: int | None = None
    steps: int | None = None


class Evals(list[Eval]):  # a list that also says how its labels were read
    """Evaluations of one log, with the conventions used to read their labels."""

    def __init__(self, items: Iterable[Eval] = (), conventions: list[str] | None = None) -> None:
        super().__init__(items)
        self.conventions: list[str] = conventions or []
        self.clock: tuple[int, float] | None = None  # (line, wall-clock seconds) at the first evaluation at the level
        self.batch: Any = None  # the batch per step read from the log (aieff.verify.batch), when it counts steps


@dataclass(frozen=True)
class Reached:
    """The first evaluation at the level, and how coarse the log's cadence makes that answer."""

    eval: Eval
    index: int
    cadence: str
    best: Eval
    previous: Eval | None = None  # the evaluation before it (below the level): the bracket's lower end


# Range of a metric by the level's unit; loss and elo only need to be finite (loss also >= 0).
METRIC_RANGE = {
    "percent": (0.0, 100.0),
    "fraction": (0.0, 1.0),
    "BLEU": (0.0, 100.0),
    "win-rate": (0.0, 1.0),
    "loss": (0.0, math.inf),
    "elo": (-math.inf, math.inf),
}
MAX_EPOCHS = 1e6
MAX_SAMPLES = 10**18
MAX_EVALS = 100_000  # evaluations a log may yield (real logs: tens to thousands); bounds the sandbox's answer


def parse(raw: str | bytes, spec: TrainingLog, level: Benchmark) -> Evals:
    """Parse a log with the parser its format names; every number is checked for finiteness and range."""
    module = importlib.import_module(PARSERS[spec.format])
    data: str | bytes = raw
    if not getattr(module, "BINARY", False):
        if isinstance(raw, bytes):
            try:
                data = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"training log is not UTF-8 text (byte {exc.start})") from exc
        data = str(data).removeprefix("\ufeff")
    try:
        evals = module.parse(data, spec, level)
    except (ValueError, TypeError, OverflowError, KeyError, IndexError, AttributeError, csv.Error) as exc:
        first = first_line(exc)
        raise DataError(f"training log ({spec.format}): unreadable value: {excerpt(first)}") from exc
    if not evals:
        raise DataError(f"training log ({spec.format}): no evaluations found")
    if len(evals) > MAX_EVALS:
        raise Refused("A405", f"training log ({spec.format}) yields {len(evals)} evaluations (bound {MAX_EVALS})")
    for ev in evals:
        check(ev, spec, level)
    return evals if isinstance(evals, Evals) else Evals(evals)


def check(ev: Eval, spec: TrainingLog, level: Benchmark) -> None:
    """Refuse a value, epoch or sample count that is not finite or outside its range."""
    low, high = METRIC_RANGE[level.metric.unit]
    where = f"training log ({spec.format}) line {ev.line}"
    if not isinstance(ev.value, float | int) or math.isnan(ev.value) or not low <= ev.value <= high:
        raise DataError(
            f"{where}: {level.metric.name} {ev.value!r} is outside [{low:g}, {high:g}] ({level.metric.unit})"
        )
    if ev.epochs is not None and not (math.isfinite(ev.epochs) and 0 <= ev.epochs <= MAX_EPOCHS):
        raise DataError(f"{where}: epoch {ev.epochs!r} is not a number of epochs in [0, {MAX_EPOCHS:g}]")
    if ev.samples is not None and not 0 <= ev.samples <= MAX_SAMPLES:
        raise DataError(f"{where}: sample count {ev.samples!r} is outside [0, {MAX_SAMPLES:.0e}]")
    if ev.steps is not None and not 0 <= ev.steps <= MAX_SAMPLES:
        raise DataError(f"{where}: step {ev.steps!r} is outside [0, {MAX_SAMPLES:.0e}]")


def number(raw: object, what: str) -> float:
    """A finite number from a log field (JSON number or numeric text; never a bool)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise DataError(f"{what}: {excerpt(raw)} is not a number")
    try:
        value = float(raw)
    except (ValueError, OverflowError) as exc:
        raise DataError(f"{what}: {excerpt(raw)} is not a number") from exc
    if not math.isfinite(value):
        raise DataError(f"{what}: {excerpt(raw)} is not finite")
    return value


def count(raw: object, what: str) -> int:
    """A whole, non-negative count (samples) from a log field."""
    value = number(raw, what)
    if value != int(value) or not 0 <= value <= MAX_SAMPLES:
        raise DataError(f"{what}: {excerpt(raw)} is not a whole count in [0, {MAX_SAMPLES:.0e}]")
    return int(value)


def scale(value: float, spec: TrainingLog, level: Benchmark) -> float:
    """Convert a logged metric to the level's unit (percent <-> fraction)."""
    if spec.metric_scale == "fraction" and level.metric.unit == "percent":
        return value * 100.0
    if spec.metric_scale == "percent" and level.metric.unit == "fraction":
        return value / 100.0
    return value


def to_evals(
    rows: list[tuple[int, float, float | None, int | None]],
    spec: TrainingLog,
    level: Benchmark,
    *,
    pretraining_first: bool = False,
    why_pretraining: str = "",
) -> Evals:
    """Evals from (line, raw value, epoch label or None, samples or None) rows of one log.

    Epoch labels are read one way for the whole file: when any label is fractional, every label is
    the amount of training done; otherwise whole labels count from `epochs_start_at` (inferred from
    the first label: 0 means 0-based, so label 3 = 4 epochs done). A first evaluation made before any
    training (declared by `pretraining_eval`, or recognised by the parser) is left out.
    """
    notes: list[str] = []
    pre = spec.pretraining_eval if spec.pretraining_eval is not None else pretraining_first
    if pre and rows:
        how = "declared by pretraining_eval" if spec.pretraining_eval else why_pretraining
        notes.append(f"line {rows[0][0]}: evaluation before any training, not counted ({how})")
        rows = rows[1:]
    labels = [e for _, _, e, _ in rows if e is not None]
    if any(e != int(e) for e in labels):
        notes.append("fractional epoch labels: every label is the number of epochs of training done")
        epochs_of = {e: e for e in labels}
    elif labels:
        base = spec.epochs_start_at if spec.epochs_start_at is not None else (0 if labels[0] == 0 else 1)
        source = "declared by epochs_start_at" if spec.epochs_start_at is not None else "inferred from the first label"
        notes.append(
            f"epoch labels count from {base} ({source}): label {labels[0]:g} = {labels[0] + 1 - base:g} epoch(s) done"
        )
        epochs_of = {e: e + 1 - base for e in labels}
    out = [Eval(n, scale(v, spec, level), epochs=None if e is None else epochs_of[e], samples=s) for n, v, e, s in rows]
    return Evals(out, notes)


def in_order(evals: list[Eval]) -> list[Eval]:
    """Evaluations in training order (steps, then samples, then epochs, then line): Reached.index counts in it."""
    return sorted(
        evals,
        key=lambda e: (
            e.steps if e.steps is not None else -1,
            e.samples if e.samples is not None else -1,
            e.epochs or 0.0,
            e.line,
        ),
    )


def first_reaching(evals: list[Eval], level: Benchmark) -> Reached:
    """The first evaluation that meets the level's threshold in its direction; DataError when none does."""
    if level.threshold is None:
        raise DataError(f"level {level.id} has no numeric threshold to find in a log")
    higher = level.direction == "higher"
    ordered = in_order(evals)
    best = max(ordered, key=lambda e: e.value) if higher else min(ordered, key=lambda e: e.value)
    for i, ev in enumerate(ordered):
        if (ev.value >= level.threshold) if higher else (ev.value <= level.threshold):
            return Reached(ev, i, _cadence(ordered, i), best, ordered[i - 1] if i else None)
    if best.epochs is not None:
        where = f"epoch {best.epochs:g}"
    else:
        where = f"{best.samples} samples" if best.samples is not None else f"step {best.steps}"
    hint = ""
    if level.metric.unit == "percent" and higher and all(e.value <= 1.0 for e in ordered) and level.threshold > 1:
        hint = "; every value is <= 1: is the log on the fraction scale (metric_scale: fraction)?"
    raise NotReached(
        f"training log never reaches the level: {level.threshold:g} ({level.direction} is better); "
        f"best {best.value:g} at {where} (line {best.line}) over {len(ordered)} evaluations{hint}"
    )


def _cadence(evals: list[Eval], i: int) -> str:
    if i == 0:
        return "first evaluation: the level may have been reached earlier than logged"
    prev, cur = evals[i - 1], evals[i]
    if cur.epochs is not None and prev.epochs is not None:
        return f"previous evaluation {cur.epochs - prev.epochs:g} epoch(s) earlier"
    if cur.samples is not None and prev.samples is not None:
        return f"previous evaluation {cur.samples - prev.samples} samples earlier"
    if cur.steps is not None and prev.steps is not None:
        return f"previous evaluation {cur.steps - prev.steps} steps earlier"
    return "unknown cadence"


def metric_column(spec: TrainingLog, level: Benchmark, default_top5: str, default_top1: str) -> str:
    """The metric column: the entry's mapping, else top-5/top-1 by the level's metric name."""
    if spec.columns and "metric" in spec.columns:
        return spec.columns["metric"]
    name = level.metric.name.lower()
    if "top-5" in name or "top5" in name:
        return default_top5
    if "top-1" in name or "top1" in name:
        return default_top1
    raise DataError(f"training log: say which column holds {level.metric.name!r} (columns.metric)")
