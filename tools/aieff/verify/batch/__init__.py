"""The batch per optimizer step, read from a training log's own bytes by a reader the level names.

A log that counts optimizer steps gives samples only with the samples each step trained on. An entry
states them (training.samples_per_step or its schedule), but "verified" must not rest on the entry: the
level names an aieff-owned reader (`batch_reader` in its benchmark.yaml) that reads the batch from the
pinned log itself, and `check` refuses an entry whose batch differs (A470). A level without a reader, or
a log its reader cannot read, leaves the entry unverified (A471, A472): its compute rests on its claim.

A reader may also know its family's evaluation line (`EVALUATION`, a regex with groups step and value, matched
at the line's start): then every evaluation an entry's step-log pattern finds must read the same there (`confirm`,
A473), so the entry's pattern cannot take another number of the line for the step.

Each reader module exposes `read(text) -> Reading` and raises Unread (or arith.ExpressionRefused) when the
log does not give the batch; adding a log family is adding a module and a line in READERS, and a name in
aieff.dataset.schema.BatchReader. A reader whose family's logs never give the batch (AlgoPerf's) instead exposes
`READS_SOURCE = True` and `read_source(text, workload) -> Reading`: it reads a second pinned artifact of the entry,
`artifacts.batch_source` (the submission's code), for the level's `batch_workload` (`read_source` here, run in
the sandbox as a job of its own, aieff.verify.logs.sandboxed.run_batch). Readers run in the sandbox, beside the
log's parser (aieff.verify.logs.sandboxed); the answer crosses as JSON and is checked again on arrival (`from_json`).
"""

from __future__ import annotations

import importlib
import math
import re
from dataclasses import dataclass
from typing import Any

from aieff.dataset.schema import Benchmark, Entry, StepBatch
from aieff.refusals import Refused
from aieff.repo import DataError
from aieff.verify.batch.arith import MAX_VALUE, ExpressionRefused

READERS = {
    "modded-nanogpt": "aieff.verify.batch.modded_nanogpt",
    "algoperf-submission": "aieff.verify.batch.algoperf",
}
MAX_PHASES = 1000  # as many as an entry's samples_per_step_schedule may list
MAX_NOTES = 50


class Unread(ValueError):
    """The log does not give the batch in a form the reader knows (no script, an unknown convention)."""


class BatchUnverified(DataError):
    """The entry's batch cannot be checked against its log, so the entry cannot be verified (A471, A472).

    Not a failure of the entry: the verdict stays `claimed`, with this as the reason.
    """

    def __init__(self, code: str, detail: str) -> None:
        self.refusal = Refused(code, detail)
        super().__init__(str(self.refusal))


@dataclass(frozen=True)
class Reading:
    """What a log's script says one optimizer step trains on, from which step on.

    unit: `tokens` (summed over every device), `sequences` (of `sequence_length` tokens, every device) or
    `samples` (the level's samples, every device: what a submission's code names its batch in).
    phases: (first 0-based optimizer step, amount per step), the first from step 0, steps increasing.
    notes: where each figure was read, for the verdict's notes (e.g. `log line 352: batch_size = 8*64 = 512`).
    """

    unit: str
    phases: tuple[tuple[int, int], ...]
    sequence_length: int | None
    notes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "phases": [list(p) for p in self.phases],
            "sequence_length": self.sequence_length,
            "notes": list(self.notes),
        }


def evaluation_line(reader: str) -> re.Pattern[str] | None:
    """The reader's own grammar of an evaluation line (named groups step and value), when it has one: every
    evaluation an entry's step-log pattern finds must read the same under it (A473)."""
    return getattr(importlib.import_module(READERS[reader]), "EVALUATION", None)


def confirm(text: str, rows: list[tuple[int, int, float]], reader: str, scale: Any) -> str | None:
    """Why an evaluation (line, step, value in the level's unit) disagrees with the reader's grammar, or None."""
    grammar = evaluation_line(reader)
    if grammar is None:
        return None
    lines = text.splitlines()
    for line, step, value in rows:
        m = grammar.match(lines[line - 1]) if 0 < line <= len(lines) else None
        if m is None:
            return f"line {line} is not an evaluation line of this log family ({grammar.pattern})"
        logged, logged_value = int(m["step"]), scale(float(m["value"]))
        if logged != step or not math.isclose(logged_value, value, rel_tol=1e-9, abs_tol=0.0):
            return (
                f"line {line}: the entry's pattern reads step {step:,}, value {value:g}; the line says step "
                f"{logged:,}, value {logged_value:g}"
            )
    return None


def reads_source(reader: str) -> bool:
    """Whether the reader reads the entry's batch_source rather than its logs."""
    return bool(getattr(importlib.import_module(READERS[reader]), "READS_SOURCE", False))


def read_source(text: str, reader: str, workload: str) -> dict[str, Any]:
    """In the sandbox: the reading of a batch_source as JSON, or {"unread": [code, why]}."""
    module = importlib.import_module(READERS[reader])
    try:
        reading: Reading = module.read_source(text, workload)
    except ExpressionRefused as exc:
        why = f"the source's batch is not integer arithmetic on literals, not evaluated: {exc}"
        return {"unread": ["A472", why[:300]]}
    except Unread as exc:
        return {"unread": ["A471", str(exc)[:300]]}
    except (SyntaxError, RecursionError, MemoryError, ValueError, TypeError, AttributeError, AssertionError) as exc:
        return {"unread": ["A471", f"the batch source could not be read: {type(exc).__name__}: {exc}"[:300]]}
    return reading.to_json()


def read(text: str, reader: str) -> dict[str, Any]:
    """In the sandbox: the reading as JSON, or {"unread": [code, why]} when the log does not give it."""
    module = importlib.import_module(READERS[reader])
    try:
        reading: Reading = module.read(text)
    except ExpressionRefused as exc:
        return {
            "unread": ["A472", f"the script's batch is not integer arithmetic on literals, not evaluated: {exc}"[:300]]
        }
    except Unread as exc:
        return {"unread": ["A471", str(exc)[:300]]}
    except (SyntaxError, RecursionError, MemoryError, ValueError, TypeError, AttributeError, AssertionError) as exc:
        return {"unread": ["A471", f"the log's script could not be read: {type(exc).__name__}: {exc}"[:300]]}
    return reading.to_json()


def from_json(raw: Any) -> Reading | BatchUnverified | Refused:
    """The sandbox's answer checked on arrival; TypeError or ValueError when it is malformed."""
    if not isinstance(raw, dict):
        raise TypeError("batch reading is not an object")
    if "unread" in raw:
        code, why = raw["unread"]
        if code not in ("A471", "A472") or not isinstance(why, str):
            raise ValueError("batch reading: unknown code")
        return BatchUnverified(code, why[:300])
    if "misread" in raw:
        if not isinstance(raw["misread"], str):
            raise ValueError("batch reading: bad misread")
        return Refused("A473", raw["misread"][:300])
    unit, phases, length, notes = raw["unit"], raw["phases"], raw["sequence_length"], raw["notes"]
    if unit not in ("tokens", "sequences", "samples") or not isinstance(phases, list):
        raise ValueError("batch reading: bad unit or phases")
    if not 1 <= len(phases) <= MAX_PHASES:
        raise ValueError("batch reading: bad unit or phases")
    out = []
    for p in phases:
        start, amount = p
        if (
            type(start) is not int
            or type(amount) is not int
            or not (0 <= start <= MAX_VALUE and 0 < amount <= MAX_VALUE)
        ):
            raise ValueError("batch reading: bad phase")
        out.append((start, amount))
    if out[0][0] != 0 or any(b[0] <= a[0] for a, b in zip(out, out[1:], strict=False)):
        raise ValueError("batch reading: phases do not start at 0 and increase")
    if (unit == "sequences") != (type(length) is int) or (length is not None and not 0 < length <= MAX_VALUE):
        raise ValueError("batch reading: bad sequence length")
    if not isinstance(notes, list) or len(notes) > MAX_NOTES or not all(isinstance(n, str) for n in notes):
        raise ValueError("batch reading: bad notes")
    return Reading(unit, tuple(out), length, tuple(n[:300] for n in notes))


def check(entry: Entry, level: Benchmark, reading: Reading | BatchUnverified | Refused | None, where: str) -> list[str]:
    """The entry's samples per step (or schedule) against the log's: notes when they agree.

    Raises BatchUnverified when there is nothing to check against (no reader, a log it cannot read), and
    Refused A470 when they differ: samples per step must be equal, a schedule's first steps within one step
    (scripts and entries may count a transition from the step that asks for the new batch or the next).
    """
    if reading is None and level.batch_reader and reads_source(level.batch_reader):
        raise BatchUnverified(
            "A471",
            f"{where} counts optimizer steps, and level {level.id}'s batch_reader {level.batch_reader} reads the "
            "batch per step from the entry's artifacts.batch_source, which the entry does not give: its "
            "samples_per_step cannot be checked, so the entry cannot be verified",
        )
    if reading is None:
        raise BatchUnverified(
            "A471",
            f"{where} counts optimizer steps, and level {level.id} names no batch_reader to read the batch per "
            "step from it: the entry's samples_per_step cannot be checked, so the entry cannot be verified",
        )
    if isinstance(reading, BatchUnverified):
        raise BatchUnverified(reading.refusal.code, f"{where}: {reading.refusal.detail}")
    if isinstance(reading, Refused):
        raise Refused(reading.code, f"{where}: {reading.detail}")
    t = entry.training
    stated: list[StepBatch] = []
    if t and t.samples_per_step_schedule:
        stated = t.samples_per_step_schedule
    elif t and t.samples_per_step:
        stated = [StepBatch(from_step=0, samples=t.samples_per_step)]
    fc = t.forward_cost if t else None
    length = fc.sequence_length if fc else None
    per = reading.unit
    if reading.unit == "sequences" and length is not None and length != reading.sequence_length:
        raise Refused(
            "A470",
            f"{where}: its script trains on sequences of {reading.sequence_length:,} tokens; the entry's "
            f"forward_cost.sequence_length is {length:,}",
        )
    if reading.unit == "tokens" and length is None:
        raise Refused("A470", f"{where}: its script counts tokens per step; the entry states no sequence_length")
    logged: list[tuple[int, int]] = []
    for start, amount in reading.phases:
        if reading.unit == "tokens":
            if amount % length:  # type: ignore[operator]
                raise Refused(
                    "A470",
                    f"{where}: {amount:,} tokens per step (from step {start}) is not a whole number of the entry's "
                    f"{length:,}-token sequences",
                )
            amount //= length  # type: ignore[operator]
        logged.append((start, amount))
    logged = [p for i, p in enumerate(logged) if i == 0 or p[1] != logged[i - 1][1]]  # same batch: one phase
    mine = [(b.from_step, b.samples) for b in stated]
    agree = len(mine) == len(logged) and all(
        a[1] == b[1] and abs(a[0] - b[0]) <= 1 for a, b in zip(mine, logged, strict=True)
    )
    origin = "the entry's batch_source (its submission's code)" if reading.unit == "samples" else "the log's own script"
    if not agree:
        raise Refused(
            "A470",
            f"{where}: the entry states {_schedule(mine)} samples per step; {origin} gives "
            f"{_schedule(logged)} ({per} per step / the entry's sequence length)"
            if reading.unit == "tokens"
            else f"{where}: the entry states {_schedule(mine)} samples per step; {origin} gives {_schedule(logged)}",
        )
    return [
        *reading.notes,
        f"samples per step {_schedule(logged)}, as the entry states: read from {origin}",
    ]


def _schedule(phases: list[tuple[int, int]]) -> str:
    if not phases:
        return "no"
    if len(phases) == 1:
        return f"{phases[0][1]:,}"
    return ", ".join(f"{n:,} from step {s:,}" for s, n in phases)
