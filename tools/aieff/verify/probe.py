"""`aieff probe`: read a training log against a level, or count an export at a shape, without an entry.

The log is parsed in the sandbox exactly as `aieff estimate` parses an entry's log (aieff.verify.logread),
and the export is counted there as estimate counts it (aieff.verify.sandbox), so what probe prints is what an
entry built from it will be judged by.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aieff.dataset.docset import Dataset
from aieff.dataset.schema import Benchmark, Entry, TrainingLog
from aieff.repo import DataError, UsageError
from aieff.verify.logs import Eval


@dataclass
class LogOptions:
    """How to read a local log (the fields an entry's training_log would give), and how to count it."""

    format: str | None = None
    pattern: str | None = None
    tag: str | None = None
    step_means: str | None = None
    columns: dict[str, str] | None = None
    metric_scale: str | None = None
    epochs_start_at: int | None = None
    samples_per_step: int | None = None
    samples_per_epoch: int | None = None
    sequence_length: int | None = None


def _spec(path: Path, level: str, opts: LogOptions) -> TrainingLog:
    """A training_log spec for a local file, as an entry would write it (validated by the schema)."""
    from aieff.verify.fetch import sha256_file

    if opts.format is None:
        raise UsageError("say how to read the log: --format (one of the training_log formats, e.g. step-log)")
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", path.name).lstrip(".-") or "log"
    fields: dict[str, Any] = {"path": f"entries/{level}/{name}", "sha256": sha256_file(path), "format": opts.format}
    for key in ("pattern", "tag", "step_means", "columns", "metric_scale", "epochs_start_at"):
        if getattr(opts, key) is not None:
            fields[key] = getattr(opts, key)
    from pydantic import ValidationError

    try:
        return TrainingLog.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'log'}: {e['msg']}" for e in exc.errors())
        raise UsageError(f"these options do not describe a training log: {problems}") from exc


def probe_log(root: Path, ds: Dataset, source: str, level_id: str | None, opts: LogOptions, fmt: str) -> int:
    """Print where a log first reaches a level, and the evaluation before it; exit 1 when it never does."""
    from aieff.verify import logread, logs
    from aieff.verify.fetch import fetch

    entry: Entry | None = None
    spec: TrainingLog | None
    local = Path(source)
    if local.is_file():
        level = _level(ds, level_id)
        spec = _spec(local, level.id, opts)
        path, shown = local.resolve(), source  # the sandbox helper runs elsewhere: an absolute path
    elif source in ds.all_entries():
        entry = ds.all_entries()[source]
        spec = entry.artifacts.training_log if entry.artifacts else None
        if spec is None:
            raise UsageError(f"entry {source} pins no single training_log to probe")
        level = _level(ds, level_id or entry.benchmark)
        path, shown = fetch(spec, root, what="training log"), spec.path or spec.url or ""
    else:
        raise UsageError(f"{source}: no such file, and no valid entry has that id")
    if level.threshold is None:
        raise UsageError(f"level {level.id} has no numeric threshold to find in a log")
    evals = logread.parse(path, spec, level)
    counting = _Counting(opts, entry, level)
    ordered = logs.in_order(evals)
    sign = ">=" if level.direction == "higher" else "<="
    target = f"{level.metric.name} {sign} {level.threshold:g}"
    head = f"{shown} ({spec.format}): {len(ordered)} evaluations against {level.id} ({target})"
    try:
        reached = logs.first_reaching(evals, level)
    except DataError as exc:
        _show(fmt, {"log": shown, "level": level.id, "reached": None, "why": str(exc)}, [head, f"  {exc}"])
        return 1
    first = counting.amount(reached.eval)
    prev = counting.amount(ordered[reached.index - 1]) if reached.index else None
    lines = [head, f"first at the level: {_describe(first)}"]
    if prev:
        lines.append(f"bracket: {_describe(prev)} (not yet at the level) -> line {first['line']}")
    else:
        lines.append("bracket: none: the first evaluation is already at the level (it may have been reached earlier)")
    lines += [f"  - {note}" for note in [*evals.conventions, *counting.notes]]
    data = {"log": shown, "level": level.id, "reached": first, "previous": prev, "conventions": evals.conventions}
    _show(fmt, data, lines)
    return 0


def _level(ds: Dataset, level_id: str | None) -> Benchmark:
    if level_id is None:
        raise UsageError("name the level to read the log against: --level LEVEL")
    if level_id not in ds.benchmarks:
        raise UsageError(f"no valid level {level_id!r} (entries/{level_id}/benchmark.yaml)")
    return ds.level(level_id)


class _Counting:
    """Samples, tokens and epochs of an evaluation, from the log's labels and the options or the entry."""

    def __init__(self, opts: LogOptions, entry: Entry | None, level: Benchmark) -> None:
        t = entry.training if entry else None
        self.opts, self.training = opts, t
        self.notes: list[str] = []
        self.per_epoch = opts.samples_per_epoch or (t.samples_per_epoch if t else None)
        self.per_epoch = self.per_epoch or level.dataset.train_samples_per_epoch
        fc = t.forward_cost if t else None
        self.seq = opts.sequence_length or (fc.sequence_length if fc else None)

    def amount(self, ev: Eval) -> dict[str, Any]:
        out: dict[str, Any] = {"line": ev.line, "value": ev.value, "steps": ev.steps}
        samples: float | None = ev.samples
        if samples is None and ev.steps is not None:
            if self.opts.samples_per_step:
                samples = ev.steps * self.opts.samples_per_step
            elif self.training and (self.training.samples_per_step or self.training.samples_per_step_schedule):
                samples = self.training.samples_after(ev.steps)
            elif "give --samples-per-step" not in " ".join(self.notes):
                self.notes.append("the log counts steps: give --samples-per-step N for samples and tokens")
        if samples is None and ev.epochs is not None and self.per_epoch:
            samples = ev.epochs * self.per_epoch
        epochs = ev.epochs
        if epochs is None and samples is not None and self.per_epoch:
            epochs = samples / self.per_epoch
        out["samples"] = samples
        out["tokens"] = samples * self.seq if samples is not None and self.seq else None
        out["epochs"] = epochs
        return out


def _describe(a: dict[str, Any]) -> str:
    parts = [f"line {a['line']}, value {a['value']:g}"]
    if a["steps"] is not None:
        parts.append(f"step {a['steps']:,}")
    if a["samples"] is not None:
        parts.append(f"{a['samples']:,.0f} samples")
    if a["tokens"] is not None:
        parts.append(f"{a['tokens']:,.0f} tokens")
    if a["epochs"] is not None:
        parts.append(f"{a['epochs']:g} epochs")
    return parts[0] + ", at " + " = ".join(parts[1:]) if len(parts) > 1 else parts[0]


def _show(fmt: str, data: dict[str, Any], lines: list[str]) -> None:
    print(json.dumps(data, indent=2, sort_keys=True) if fmt == "json" else "\n".join(lines))


def probe_export(
    export: Path,
    *,
    input_kind: str,
    sequence_length: int | None,
    resolution: int | None,
    features: int | None,
    fmt: str,
) -> int:
    """Count an export's forward multiply-adds per sample at one shape, in the sandbox, as estimate does."""
    from aieff.verify.flops import ForwardCount
    from aieff.verify.sandbox import Sandbox

    if not export.is_file():
        raise UsageError(f"{export}: no such file")
    shape = {"tokens": sequence_length, "image": resolution, "vector": features}[input_kind]
    if shape is None:
        need = {"tokens": "--sequence-length", "image": "--resolution", "vector": "--features"}[input_kind]
        raise UsageError(f"--input {input_kind} needs {need} N: the count depends on it")
    job = {
        "arch": {"export": str(export.resolve())},
        "input": input_kind,
        "features": features,
        "phases": [{"resolution": resolution, "sequence_length": sequence_length}],
        "checkpoint": None,
    }
    result = Sandbox().run(job)
    if not result.get("ok"):
        raise DataError(f"{export}: {str(result.get('error', 'the sandboxed count failed'))[:500]}")
    count = ForwardCount(**result["counts"][0])
    exact = round(count.multiply_adds)
    suffix = {"tokens": f", sequence_length: {shape}", "image": f", resolution: {shape}", "vector": ""}[input_kind]
    at = {"tokens": f"sequence length {shape}", "image": f"resolution {shape}px", "vector": f"{shape} features"}
    data = {
        "export": str(export),
        "input": input_kind,
        "shape": shape,
        "forward_multiply_adds": exact,
        "parameters": count.parameters,
        "notes": count.notes,
    }
    lines = [
        f"{export}: {exact:,} multiply-adds per sample at {at[input_kind]} ({count.parameters:,} parameters)",
        f"  in an entry: training.forward_cost: {{value: {exact}, unit: multiply-adds{suffix}}}",
        *[f"  - {n}" for n in count.notes],
    ]
    _show(fmt, data, lines)
    return 0
