"""MLPerf MLLOG: `:::MLLOG {json}` lines (v0.6: `:::MLL <time> <key>: {json}`), possibly rank-prefixed and
repeated once per rank.

Tokenised like the official `mlperf_logging` parser (everything before the token is dropped, the rest
is JSON), which the tests use as an oracle. It is not called here: it needs pandas and scipy, numbers
lines among MLLOG lines only (we report file lines) and does not drop the per-rank duplicates.
"""

from __future__ import annotations

import json

from aieff.dataset.diagnostics import excerpt
from aieff.dataset.schema import Benchmark, TrainingLog
from aieff.repo import DataError, RunAborted
from aieff.verify.logs import Eval, Evals, count, number, scale, to_evals
from aieff.verify.logs.jsontext import loads

MARK = ":::MLLOG "


def parse(text: str, spec: TrainingLog, level: Benchmark) -> Evals:
    """Every `eval_accuracy` event once, with the epochs done (blocks, epoch_num) or samples_count."""
    if V05 in text and MARK not in text and V06 not in text:
        return _parse_v05(text, spec, level)
    seen: set[str] = set()
    rows: list[tuple[int, float, float | None, int | None]] = []
    first_block: float | None = None  # first_epoch_num of the run's first block
    open_done: float | None = None  # epochs done at the end of the block now running
    last_done: float | None = None  # epochs done at the end of the last block that stopped
    from_blocks: set[int] = set()
    stopped = None
    batch: float | None = None  # the log's own global_batch_size
    benchmark: object = None  # the log's own submission_benchmark
    totals: list[tuple[int, int]] = []  # (line, value) of each train_samples event
    for n, line in enumerate(text.splitlines(), 1):
        event = _event(line, n)
        if event is None:
            continue
        payload = json.dumps(event, sort_keys=True)
        if payload in seen:  # the same event logged by every rank
            continue
        seen.add(payload)
        meta = event.get("metadata") or {}
        where = f"mlperf-mllog line {n}"
        if not isinstance(meta, dict):
            raise DataError(f"{where}: metadata is not a mapping")
        key = event.get("key")
        if key == "run_stop":
            stopped = meta.get("status")
        elif key == "global_batch_size" and batch is None:
            batch = number(event.get("value"), f"{where}: global_batch_size")
        elif key == "submission_benchmark" and benchmark is None:
            benchmark = event.get("value")
        elif key == "train_samples":
            try:  # read only where an entry says the samples are here (columns.samples: train_samples)
                totals.append((n, count(event.get("value"), f"{where}: train_samples")))
            except DataError:
                pass  # some logs write it as a list: not a count, and never read
        elif key == "block_start" and "first_epoch_num" in meta and "epoch_count" in meta:
            start = number(meta["first_epoch_num"], f"{where}: first_epoch_num")
            first_block = start if first_block is None else first_block
            open_done = start - first_block + number(meta["epoch_count"], f"{where}: epoch_count")
        elif key == "block_stop":
            last_done, open_done = (open_done if open_done is not None else last_done), None
        if key != "eval_accuracy":
            continue
        value = number(event.get("value"), f"{where}: eval_accuracy value")
        epoch, samples = meta.get("epoch_num"), meta.get("samples_count")
        block_done = open_done if open_done is not None else last_done
        if samples is not None:
            rows.append((n, value, None, count(samples, f"{where}: samples_count")))
        elif epoch is not None:  # the last epoch of the block just trained, counted from 1 in real logs
            rows.append((n, value, number(epoch, f"{where}: epoch_num"), None))
        elif block_done is not None:
            rows.append((n, value, block_done, None))
            from_blocks.add(n)
        else:
            raise DataError(f"{where}: eval_accuracy without epoch_num, samples_count or a block around it")
    if stopped not in (None, "success"):
        raise RunAborted(f"mlperf-mllog: run aborted: run_stop status {excerpt(stopped)}; not a result")
    if (how := (spec.columns or {}).get("samples")) is not None:
        evals = _samples(rows, how, batch, totals, spec, level, stopped is None)
        if benchmark == "bert":
            _bert_cadence(rows, how, batch)
        return evals
    if from_blocks:
        if len(from_blocks) != len(rows):
            raise DataError("mlperf-mllog: some evaluations carry epoch_num and some do not: cannot read both")
        blocks = [
            Eval(n, scale(v, spec, level), epochs=e, samples=s) for n, v, e, s in rows
        ]  # block counts are epochs done already
        notes = [
            "epochs done from the block around each evaluation: first_epoch_num - the first block's + "
            f"epoch_count (first block starts at {first_block:g})"
        ]
        return Evals(blocks, notes)
    evals = to_evals(rows, spec, level)
    if stopped is None:
        evals.conventions.append("no run_stop event: the run may not have finished")
    return evals


# Where a log's evaluations say how many samples were trained (BERT's logs: epoch_num does not count
# epochs, and what it counts differs between submissions), as the entry's `columns.samples` names it.
SAMPLE_SOURCES = {
    "epoch_num": "eval_accuracy's epoch_num is the samples trained",
    "epoch_num x global_batch_size": "eval_accuracy's epoch_num is the optimizer steps done, x the log's "
    "global_batch_size = samples trained",
    "train_samples": "eval_accuracy carries no sample count; the run stops at its last evaluation, and the "
    "train_samples event logged after it is the samples trained by then (earlier evaluations are left out)",
}


# MLPerf BERT's rules fix how often a run evaluates, in samples: about every 500,000 in v0.7, and from v1.0
# every 0.05 x (230.23 x global_batch_size + 3,000,000) rounded down to 25,000 (150,000 or more; 900,000 at a
# batch of 65,536). The public logs (v0.7 to v4.0) evaluate 149,504 to 507,904 samples apart. Read as an entry's
# columns.samples says, a BERT log's evaluations must be this far apart: epoch_num read as samples where it counts
# steps (Google's v0.7 logs: 62 to 1,953 steps apart) would make a run look hundreds of times cheaper, and the
# log, not the entry, says which reading fits.
BERT_EVAL_GAP = (100_000, 1_000_000)


def _bert_cadence(rows: list[tuple[int, float, float | None, int | None]], how: str, batch: float | None) -> None:
    """Refuse a reading of an MLPerf BERT log (submission_benchmark "bert") that its evaluation cadence denies."""
    if how == "train_samples":
        counts = {epoch for _, _, epoch, samples in rows if samples is None}
        if len(counts) > 1:
            raise DataError(
                "mlperf-mllog: columns.samples is train_samples, but eval_accuracy's epoch_num differs between "
                "evaluations: they carry their own count (columns.samples: epoch_num or epoch_num x global_batch_size)"
            )
        return
    per = 1.0 if how == "epoch_num" else (batch or 0.0)
    done = sorted(s if s is not None else (e or 0.0) * per for _, _, e, s in rows)
    done = [x for x in done if x > 0]
    if not done:
        return
    gaps = sorted(b - a for a, b in zip([0.0, *done], done, strict=False))
    gap = gaps[len(gaps) // 2]
    low, high = BERT_EVAL_GAP
    if low <= gap <= high:
        return
    other = "train_samples" if gap == 0 else "epoch_num x global_batch_size" if gap < low else "epoch_num"
    raise DataError(
        f"mlperf-mllog: read as columns.samples {how!r}, this BERT log evaluates every {gap:,.0f} samples (median); "
        f"MLPerf BERT evaluates every {low:,} to {high:,} samples (about 500,000 in v0.7; from v1.0 0.05 x "
        f"(230.23 x global_batch_size + 3,000,000), at least 150,000): its epoch_num reads as {other!r}"
    )


def _samples(
    rows: list[tuple[int, float, float | None, int | None]],
    how: str,
    batch: float | None,
    totals: list[tuple[int, int]],
    spec: TrainingLog,
    level: Benchmark,
    unfinished: bool,
) -> Evals:
    """Evaluations at the samples trained, read as `columns.samples` says (SAMPLE_SOURCES)."""
    if how not in SAMPLE_SOURCES:
        raise DataError(f"mlperf-mllog: columns.samples must be one of {sorted(SAMPLE_SOURCES)}, not {excerpt(how)}")
    out: list[tuple[int, float, float | None, int | None]] = []
    if how == "train_samples":
        if rows:
            last = rows[-1][0]
            after = [v for n, v in totals if n > last]
            if not after:
                raise DataError("mlperf-mllog: no train_samples event after the last eval_accuracy")
            out = [(last, rows[-1][1], None, after[0])]
    else:
        if how != "epoch_num" and batch is None:
            raise DataError("mlperf-mllog: no global_batch_size event to multiply epoch_num by")
        for n, value, epoch, samples in rows:
            if samples is None:
                if epoch is None:
                    raise DataError(f"mlperf-mllog line {n}: eval_accuracy without epoch_num or samples_count")
                samples = count(epoch if how == "epoch_num" else epoch * (batch or 0), f"line {n}: samples")
            out.append((n, value, None, samples))
    notes = [SAMPLE_SOURCES[how]]
    if out and out[0][3] == 0:
        notes.append(f"line {out[0][0]}: evaluation before any training (0 samples), not counted")
        out = out[1:]
    evals = to_evals(out, spec, level)
    evals.conventions[:0] = notes
    if unfinished:
        evals.conventions.append("no run_stop event: the run may not have finished")
    return evals


V05 = ":::MLPv0.5.0 "
V06 = ":::MLL "


def _event(line: str, n: int) -> dict[str, object] | None:
    """The event of one line: `:::MLLOG {json}` (v0.7 on), or v0.6's `:::MLL <time> <key>: {json}`."""
    key = None  # v0.6 names the key before the JSON; MLLOG puts it inside
    if (at := line.find(MARK)) >= 0:
        payload, what = line[at + len(MARK) :].strip(), MARK.strip()
    elif (at := line.find(V06)) >= 0:
        _time, _, rest = line[at + len(V06) :].strip().partition(" ")
        key, sep, payload = rest.partition(": ")
        if not sep or not key.isidentifier():
            return None
        what = f"{V06.strip()} {key}"
    else:
        return None
    try:
        event = loads(payload)
    except ValueError as exc:
        raise DataError(f"mlperf-mllog line {n}: not JSON after {what}") from exc
    if not isinstance(event, dict):
        return None
    return event if key is None else {"key": key, **event}


def _parse_v05(text: str, spec: TrainingLog, level: Benchmark) -> Evals:
    """MLPerf v0.5 lines: `:::MLPv0.5.0 resnet <time> (<file>:<line>) eval_accuracy: {"epoch": N, "value": x}`."""
    rows: list[tuple[int, float, float | None, int | None]] = []
    seen: set[str] = set()
    for n, line in enumerate(text.splitlines(), 1):
        at = line.find(V05)
        if at < 0 or "eval_accuracy:" not in line:
            continue
        payload = line[line.index("eval_accuracy:") + len("eval_accuracy:") :].strip()
        if payload in seen:
            continue
        seen.add(payload)
        where = f"mlperf v0.5 line {n}"
        try:
            event = loads(payload)
        except ValueError as exc:
            raise DataError(f"{where}: eval_accuracy is not JSON") from exc
        if not isinstance(event, dict):
            raise DataError(f"{where}: eval_accuracy is not a mapping")
        rows.append(
            (n, number(event.get("value"), f"{where}: value"), number(event.get("epoch"), f"{where}: epoch"), None)
        )
    evals = to_evals(rows, spec, level)
    evals.conventions.append("MLPerf v0.5 log (:::MLPv0.5.0 lines)")
    return evals
