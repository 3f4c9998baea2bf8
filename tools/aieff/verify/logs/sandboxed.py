"""The sandbox's side of reading a training log: the job that asks for it and the child that parses it.

`run` reads and parses the file in a forked child of the sandbox helper, under the sandbox's time and
memory limits (AIEFF_SANDBOX_SECONDS, AIEFF_SANDBOX_MEMORY_MB), and answers with the evaluations (and,
for a log that counts steps, the batch per step its level's reader finds in it) as plain JSON; the
parent side (aieff.verify.logread) sends the job and checks the answer again on arrival.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aieff.dataset.schema import Benchmark, TrainingLog
from aieff.refusals import Refused
from aieff.repo import DataError, RunAborted
from aieff.verify import batch, logs
from aieff.verify.logs.times import CLOCKED, seconds_at


def job(path: Path, spec: TrainingLog, level: Benchmark) -> dict[str, Any]:
    """The sandbox job that parses the log at `path` as `spec` says, for `level`."""
    return {
        "parse_log": {
            "path": str(path),
            "spec": spec.model_dump(mode="json"),
            "level": level.model_dump(mode="json"),
        },
        "files": [str(path)],  # the one file the confined child may read (aieff.verify.sandbox.job_files)
    }


def jobs(logs_: list[tuple[Path, TrainingLog]], level: Benchmark) -> dict[str, Any]:
    """The sandbox job that parses each of these logs as `job` would, in one child; its answer holds
    `answers`, one per log in order, each what `job`'s would have been (aieff.verify.sandbox._child runs
    aieff.verify.worker.run_job for each, at the depth it runs a job of its own)."""
    parts = [job(path, spec, level) for path, spec in logs_]
    return {"parse_logs": [p["parse_log"] for p in parts], "files": [str(path) for path, _ in logs_]}


def run(args: dict[str, Any]) -> dict[str, Any]:
    """In the sandbox's child: parse the file; its evaluations, or why it was refused, as plain JSON."""
    spec = TrainingLog.model_validate_json(json.dumps(args["spec"]))
    level = Benchmark.model_validate_json(json.dumps(args["level"]))
    raw = Path(args["path"]).read_bytes()
    try:
        evals = logs.parse(raw, spec, level)
    except Refused as exc:
        return {"refused": exc.detail[:500], "code": exc.code}
    except DataError as exc:
        return {"refused": str(exc)[:500], "aborted": isinstance(exc, RunAborted)}
    answer: dict[str, Any] = {
        "evals": [[e.line, e.value, e.epochs, e.samples, e.steps] for e in evals],
        "conventions": evals.conventions,
        "clock": _clock(raw, spec, level, evals),
    }
    if level.batch_reader and not batch.reads_source(level.batch_reader) and any(e.steps is not None for e in evals):
        # the batch per step, from the same bytes and under the same bounds (aieff.verify.batch)
        text = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")
        answer["batch"] = batch.read(text, level.batch_reader)
        rows = [(e.line, e.steps, e.value) for e in evals if e.steps is not None]
        read = "unread" not in answer["batch"]  # a log that gives no batch leaves the entry claimed either way
        if (
            read
            and spec.format == "step-log"
            and (why := batch.confirm(text, rows, level.batch_reader, _scale(spec, level)))
        ):
            answer["batch"] = {"misread": why}  # the entry's pattern reads another number than the line's step
    return answer


def _scale(spec: TrainingLog, level: Benchmark) -> Any:
    return lambda v: logs.scale(v, spec, level)


def _clock(raw: bytes, spec: TrainingLog, level: Benchmark, evals: logs.Evals) -> list[Any] | None:
    """[line, seconds]: the wall-clock time the log records at its first evaluation at the level, or None."""
    if spec.format not in CLOCKED or level.threshold is None:
        return None
    try:
        line = logs.first_reaching(evals, level).eval.line
        return [line, seconds_at(raw.decode("utf-8").removeprefix("\ufeff"), spec.format, line).seconds]
    except (DataError, UnicodeDecodeError, ValueError):
        return None


def batch_job(path: Path, level: Benchmark) -> dict[str, Any]:
    """The sandbox job that reads the batch per step from an entry's batch_source at `path` (never runs it)."""
    return {
        "read_batch": {"path": str(path), "reader": level.batch_reader, "workload": level.batch_workload or ""},
        "files": [str(path)],
    }


def run_batch(args: dict[str, Any]) -> dict[str, Any]:
    """In the sandbox's child: the batch_source's reading as JSON (aieff.verify.batch.read_source)."""
    text = Path(args["path"]).read_bytes().decode("utf-8", errors="replace").removeprefix("\ufeff")
    return {"batch": batch.read_source(text, str(args["reader"]), str(args["workload"]))}
