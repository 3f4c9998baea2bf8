"""MLPerf MLLOG: `:::MLLOG {json}` lines, possibly rank-prefixed and repeated once per rank.

Tokenised like the official `mlperf_logging` parser (everything before the token is dropped, the rest
is JSON), which the tests use as an oracle. It is not called here: it needs pandas and scipy, numbers
lines among MLLOG lines only (we report file lines) and does not drop the per-rank duplicates.
"""

from __future__ import annotations

import json

from aieff.diagnostics import excerpt
from aieff.logs import Eval, count, number, scale
from aieff.repo import DataError
from aieff.schema import Benchmark, TrainingLog

MARK = ":::MLLOG "


def parse(text: str, spec: TrainingLog, level: Benchmark) -> list[Eval]:
    """Every `eval_accuracy` event once, with epoch_num (epochs done) or samples_count."""
    seen: set[str] = set()
    out = []
    stopped = None
    for n, line in enumerate(text.splitlines(), 1):
        at = line.find(MARK)
        if at < 0:
            continue
        payload = line[at + len(MARK) :].strip()
        if payload in seen:  # the same event logged by every rank
            continue
        seen.add(payload)
        try:
            event = json.loads(payload)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise DataError(f"mlperf-mllog line {n}: not JSON after {MARK.strip()}") from exc
        if not isinstance(event, dict):
            continue
        meta = event.get("metadata") or {}
        if event.get("key") == "run_stop" and isinstance(meta, dict):
            stopped = meta.get("status")
        if event.get("key") != "eval_accuracy":
            continue
        where = f"mlperf-mllog line {n}"
        value = number(event.get("value"), f"{where}: eval_accuracy value")
        if not isinstance(meta, dict):
            raise DataError(f"{where}: metadata is not a mapping")
        epoch, samples = meta.get("epoch_num"), meta.get("samples_count")
        if epoch is None and samples is None:
            raise DataError(f"{where}: eval_accuracy without epoch_num or samples_count")
        out.append(
            Eval(
                n,
                scale(value, spec, level),
                epochs=None if epoch is None else number(epoch, f"{where}: epoch_num"),
                samples=None if samples is None else count(samples, f"{where}: samples_count"),
            )
        )
    if stopped not in (None, "success") and not out:
        raise DataError(f"mlperf-mllog: run_stop status {excerpt(stopped)} and no evaluations")
    return out
