"""Read a training log in the sandbox, so the process that holds the repository never parses a log's bytes.

`parse` sends a torch-free `parse_log` job to the process's sandbox helper (aieff.sandbox); `run` reads
and parses the file there, in a forked child under the sandbox's time and memory limits
(AIEFF_SANDBOX_SECONDS, AIEFF_SANDBOX_MEMORY_MB), and answers with the evaluations as plain JSON,
which are checked again on arrival.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aieff import logs
from aieff.logs import Eval, Evals
from aieff.refusals import REFUSALS, Refused
from aieff.repo import DataError, RunAborted
from aieff.schema import Benchmark, TrainingLog


def job(path: Path, spec: TrainingLog, level: Benchmark) -> dict[str, Any]:
    """The sandbox job that parses the log at `path` as `spec` says, for `level`."""
    return {
        "parse_log": {
            "path": str(path),
            "spec": spec.model_dump(mode="json"),
            "level": level.model_dump(mode="json"),
        },
        "files": [str(path)],  # the one file the confined child may read (aieff.sandbox.job_files)
    }


def parse(path: Path, spec: TrainingLog, level: Benchmark) -> Evals:
    """The log's evaluations, parsed in the sandbox; a parse the sandbox stops is refused (A404)."""
    from aieff import memo
    from aieff.sandbox import Sandbox

    name = str(spec.path or spec.url)[:120]
    # The log's bytes were checked against spec.sha256 when fetched: the reading is a function of them.
    k = memo.key(
        "log", {"sha256": spec.sha256, "spec": spec.model_dump(mode="json"), "level": level.model_dump(mode="json")}
    )
    result = memo.get(k, "log")
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


def run(args: dict[str, Any]) -> dict[str, Any]:
    """In the sandbox's child: parse the file; its evaluations, or why it was refused, as plain JSON."""
    spec = TrainingLog.model_validate_json(json.dumps(args["spec"]))
    level = Benchmark.model_validate_json(json.dumps(args["level"]))
    try:
        evals = logs.parse(Path(args["path"]).read_bytes(), spec, level)
    except Refused as exc:
        return {"refused": exc.detail[:500], "code": exc.code}
    except DataError as exc:
        return {"refused": str(exc)[:500], "aborted": isinstance(exc, RunAborted)}
    return {
        "evals": [[e.line, e.value, e.epochs, e.samples, e.steps] for e in evals],
        "conventions": evals.conventions,
    }
