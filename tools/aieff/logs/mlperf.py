"""MLPerf MLLOG: `:::MLLOG {json}` lines, possibly rank-prefixed and repeated once per rank.

Tokenised like the official `mlperf_logging` parser (everything before the token is dropped, the rest
is JSON), which the tests use as an oracle. It is not called here: it needs pandas and scipy, numbers
lines among MLLOG lines only (we report file lines) and does not drop the per-rank duplicates.
"""

from __future__ import annotations

import json

from aieff.logs import Eval, scale
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
        except json.JSONDecodeError as exc:
            raise DataError(f"mlperf-mllog line {n}: not JSON after {MARK.strip()}") from exc
        if not isinstance(event, dict):
            continue
        meta = event.get("metadata") or {}
        if event.get("key") == "run_stop":
            stopped = meta.get("status")
        if event.get("key") != "eval_accuracy":
            continue
        try:
            value = float(event["value"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"mlperf-mllog line {n}: eval_accuracy without a numeric value") from exc
        epoch, samples = meta.get("epoch_num"), meta.get("samples_count")
        if epoch is None and samples is None:
            raise DataError(f"mlperf-mllog line {n}: eval_accuracy without epoch_num or samples_count")
        out.append(
            Eval(
                n,
                scale(value, spec, level),
                epochs=None if epoch is None else float(epoch),
                samples=None if samples is None else int(samples),
            )
        )
    if stopped not in (None, "success") and not out:
        raise DataError(f"mlperf-mllog: run_stop status {stopped!r} and no evaluations")
    return out
