"""Wall-clock time at one evaluation of a training log, read the way each format records time.

The evaluation is the one the format's parser found (its file line); this module only reads the clock at it:
DAWNBench TSV: the row's `hours` column. MLPerf: the event's timestamp minus the run's first `run_start`
(v0.5 `:::MLPv0.5.0 <benchmark> <seconds>`, v0.6 `:::MLL <seconds>`, v0.7 on `time_ms` in the JSON).
Step logs: the line's `train_time:<N>ms` (modded-nanogpt's timed region).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from aieff.repo import DataError
from aieff.verify.logs.jsontext import loads

CLOCKED = ("dawnbench-tsv", "mlperf-mllog", "step-log")  # the formats whose logs may record wall-clock time
TRAIN_TIME = re.compile(r"\btrain_time:([0-9]+(?:\.[0-9]+)?)ms\b")


@dataclass(frozen=True)
class Clock:
    """Seconds at an evaluation and how they were read."""

    seconds: float
    how: str


def seconds_at(text: str, fmt: str, line: int) -> Clock:
    """The wall-clock seconds the log records at file line `line` (1-based); DataError when it records none."""
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        raise DataError(f"line {line} is not in the log ({len(lines)} lines)")
    if fmt == "dawnbench-tsv":
        return _dawnbench(lines, line)
    if fmt == "mlperf-mllog":
        return _mlperf(lines, line)
    if fmt == "step-log":
        m = TRAIN_TIME.search(lines[line - 1])
        if m is None:
            raise DataError(f"step-log line {line}: no train_time:<N>ms on the evaluation line")
        ms = float(m.group(1))
        return Clock(ms / 1000, f"train_time:{m.group(1)}ms on line {line}")
    raise DataError(f"format {fmt}: its logs record no wall-clock time")


def _dawnbench(lines: list[str], line: int) -> Clock:
    head = [c.strip().lower() for c in lines[0].split("\t")]
    if "hours" not in head:
        raise DataError("dawnbench-tsv: no hours column")
    cells = [c.strip() for c in lines[line - 1].split("\t")]
    raw = cells[head.index("hours")]
    hours = _finite(raw, f"dawnbench-tsv line {line}: hours")
    return Clock(hours * 3600, f"hours {raw} on line {line}")


def _finite(raw: str, what: str) -> float:
    try:
        value = float(raw)
    except ValueError as exc:
        raise DataError(f"{what}: {raw[:40]!r} is not a number") from exc
    if not math.isfinite(value) or value < 0:
        raise DataError(f"{what}: {raw[:40]!r} is not a finite time")
    return value


def mlperf_event(line: str) -> tuple[str, float] | None:
    """(key, seconds) of one MLPerf log line in any round's format, or None when it is no timed event."""
    if (at := line.find(":::MLLOG ")) >= 0:
        try:
            event = loads(line[at + len(":::MLLOG ") :])
        except ValueError:
            return None
        if not isinstance(event, dict) or not isinstance(event.get("time_ms"), int | float):
            return None
        return str(event.get("key")), float(event["time_ms"]) / 1000
    m = re.search(r":::MLL ([0-9.]+) ([A-Za-z_]+):", line) or re.search(
        r":::MLPv0\.5\.0 \S+ ([0-9.]+) \([^)]*\) ([A-Za-z_]+)", line
    )
    if m is None:
        return None
    return m.group(2), _finite(m.group(1), "mlperf timestamp")


def _mlperf(lines: list[str], line: int) -> Clock:
    at = mlperf_event(lines[line - 1])
    if at is None:
        raise DataError(f"mlperf-mllog line {line}: no timestamped event")
    start = next((ev for ln in lines if (ev := mlperf_event(ln)) and ev[0] == "run_start"), None)
    if start is None:
        raise DataError("mlperf-mllog: no run_start event")
    seconds = at[1] - start[1]
    if seconds <= 0:
        raise DataError(f"mlperf-mllog line {line}: {at[0]} is not after run_start")
    return Clock(seconds, f"{at[0]} at {at[1]:.3f} s (line {line}) - first run_start at {start[1]:.3f} s")
