"""Read a training log in the sandbox, so the process that holds the repository never parses a log's bytes.

`parse` sends a torch-free `parse_log` job (aieff.verify.logs.sandboxed) to the process's sandbox helper
(aieff.verify.sandbox), memoises the answer by the log's sha256, and checks the evaluations again on arrival.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aieff.dataset.schema import Benchmark, TrainingLog
from aieff.refusals import REFUSALS, Refused
from aieff.repo import DataError, RunAborted
from aieff.verify import batch, logs, memo
from aieff.verify.logs import Eval, Evals
from aieff.verify.logs.sandboxed import batch_job, job, jobs
from aieff.verify.sandbox import Sandbox


def _key(spec: TrainingLog, level: Benchmark) -> str:
    # The log's bytes were checked against spec.sha256 when fetched: the reading is a function of them.
    return memo.key(
        "log",
        {
            "sha256": spec.sha256,
            "spec": spec.model_dump(mode="json"),
            "level": level.model_dump(mode="json"),
            "answer": 2,  # 2: the answer also holds the clock at the first evaluation at the level
        },
    )


Answers = dict[str, dict[str, Any]]  # the sandbox's answers to log parses, by memo key (`preread`)


def preread(specs: list[TrainingLog], level: Benchmark, locate: Callable[[int, TrainingLog], Path | None]) -> Answers:
    """The answers to these logs' parses, by memo key: the memo's, and the rest from ONE sandbox job that parses
    them all in one confined child (a child per log costs more than most parses: an entry of many runs reads
    tens). `locate(i, spec)` gives the file of the i-th log, asked for the memo's misses only (None: leave it to
    its own reading). `parse` takes the answers. An answer the child did not give cleanly (an error, or the whole
    job failing) or a refusal is left out, so `parse` asks for that log alone and reports its own failure, exactly
    as without this. The shared child runs each parse at the stack depth of a job of its own (a JSON line nested
    near the recursion limit would otherwise read differently there); refusals are read alone as well, so a
    refusal is never one the sharing caused."""
    answers: Answers = {}
    missing: dict[str, tuple[Path, TrainingLog]] = {}
    for i, spec in enumerate(specs):
        k = _key(spec, level)
        if k in answers or k in missing:
            continue
        if (kept := memo.get(k, "log")) is not None:
            answers[k] = kept
        elif (path := locate(i, spec)) is not None:
            missing[k] = (path, spec)
    if len(missing) < 2:
        return answers
    result = Sandbox().run(jobs(list(missing.values()), level))
    got = result.get("answers")
    if not result.get("ok") or not isinstance(got, list) or len(got) != len(missing):
        return answers
    report: dict[str, Any] = {k: result[k] for k in ("protection", "protected") if k in result}
    for k, answer in zip(missing, got, strict=True):
        if isinstance(answer, dict) and answer.get("ok") is True and "refused" not in answer:
            answers[k] = {**answer, **report}
            memo.put(k, "log", answers[k])
    return answers


def parse(path: Path, spec: TrainingLog, level: Benchmark, answers: Answers | None = None) -> Evals:
    """The log's evaluations, parsed in the sandbox (or taken from `answers`, see `preread`); a parse the
    sandbox stops is refused (A404)."""
    name = str(spec.path or spec.url)[:120]
    k = _key(spec, level)
    result = (answers or {}).get(k) or memo.get(k, "log")
    if result is None:
        result = Sandbox().run(job(path, spec, level))
        if "refused" not in result:
            memo.put(k, "log", result)
    if not result.get("ok"):
        raise Refused("A404", f"{name} ({spec.format}): {str(result.get('error'))[:300]}")
    if "refused" in result:
        message = str(result["refused"])
        if result.get("code") in REFUSALS:
            raise Refused(result["code"], f"{name}: {message}")
        raise (RunAborted if result.get("aborted") else DataError)(message)
    try:
        rows, notes = result["evals"], [str(c) for c in result["conventions"]]
        if len(rows) > logs.MAX_EVALS:
            raise ValueError
        evals = Evals([_eval(*row) for row in rows], notes)
        evals.clock = _clock(result.get("clock"))
        evals.batch = batch.from_json(result["batch"]) if "batch" in result else None
    except (KeyError, TypeError, ValueError) as exc:
        raise Refused("A404", f"{name} ({spec.format}): the sandbox's answer is malformed") from exc
    for ev in evals:
        logs.check(ev, spec, level)
    return evals


def _eval(line: int, value: float, epochs: float | None, samples: int | None, steps: int | None) -> Eval:
    """One evaluation from its JSON row; TypeError when a field is not a number of its kind."""
    wholes_ok = type(line) is int and all(x is None or type(x) is int for x in (samples, steps))
    if not wholes_ok or type(value) not in (int, float) or type(epochs) not in (int, float, type(None)):
        raise TypeError("an evaluation field of the wrong type")
    return Eval(line, float(value), None if epochs is None else float(epochs), samples, steps)


def _clock(raw: object) -> tuple[int, float] | None:
    """(line, seconds) from the answer's clock; TypeError when it is neither null nor a line and a time."""
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) != 2 or type(raw[0]) is not int or type(raw[1]) not in (int, float):
        raise TypeError("a malformed clock")
    if not (math.isfinite(raw[1]) and raw[1] > 0):
        raise TypeError("a clock that is not a positive time")
    return raw[0], float(raw[1])


def read_batch(path: Path, sha256: str, level: Benchmark) -> batch.Reading | batch.BatchUnverified:
    """The batch per step an entry's batch_source gives, read in the sandbox; memoised by the file's sha256."""
    k = memo.key("batch-source", {"sha256": sha256, "reader": level.batch_reader, "workload": level.batch_workload})
    result = memo.get(k, "batch-source")
    if result is None:
        result = Sandbox().run(batch_job(path, level))
        if result.get("ok"):
            memo.put(k, "batch-source", result)
    if not result.get("ok"):
        raise Refused("A404", f"batch_source: {str(result.get('error'))[:300]}")
    try:
        reading = batch.from_json(result["batch"])
    except (KeyError, TypeError, ValueError) as exc:
        raise Refused("A404", "batch_source: the sandbox's answer is malformed") from exc
    if isinstance(reading, Refused):
        raise Refused("A404", "batch_source: the sandbox's answer is malformed")
    return reading
