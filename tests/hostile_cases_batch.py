"""Hostile batch sizes: an entry that states fewer samples per step than its log's run trained on (the compute
would verify at a fraction of the truth), and scripts whose batch is code rather than arithmetic. Each ends in
A470 (refused) or A471/A472 (not verified), never in a verified entry or a payload run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import batch_logs

if TYPE_CHECKING:  # hostile_corpus imports this module
    from hostile_corpus import Case

PATTERN = r"^step:(?P<step>[0-9]+)/[0-9]+ val_loss:(?P<value>[0-9.]+)"
MACS = 15  # the tiny export, Linear(4, 3), as aieff counts it (12 multiply-adds and 3 bias adds)


def _entry(
    repo: Path,
    log: bytes,
    samples_per_step: int,
    *,
    reader: bool = True,
    length: int = 0,
    pattern: str = PATTERN,
    facts: str = "",
    claim_samples: int = 0,
) -> list[str]:
    """The toy level made a loss level (with the batch reader), and the toy entry trained `samples_per_step` a
    step for 100 steps by its own account, claiming exactly the compute that account gives."""
    from hostile_corpus import LEVEL, entry_file, export_entry, sha, tiny_export

    bench = repo / LEVEL / "benchmark.yaml"
    bench.write_text(
        bench.read_text()
        .replace('  name: "accuracy"\n  unit: percent', '  name: "validation loss"\n  unit: loss')
        .replace("direction: higher\nthreshold: 90", "direction: lower\nthreshold: 3.28")
        + ("batch_reader: modded-nanogpt\n" if reader else "")
    )
    flop = 3 * 2 * MACS * (claim_samples or 100 * samples_per_step)
    f = entry_file(repo)
    text = f.read_text()
    f.write_text(
        text[: text.index("claims:")]
        + f"claims:\n  - value: {flop}\n    unit: FLOP\n    method: counted\n    source:\n"
        '      title: "Better net paper"\n      url: https://arxiv.org/abs/1807.00002\n      locator: "Table 1"\n'
        "    confidence: high\n"
        + (facts or f"training:\n  steps_to_target: 100\n  samples_per_step: {samples_per_step}\n")
        + f"  forward_cost:\n    value: {MACS}\n    unit: multiply-adds\n"
        + (f"    sequence_length: {length}\n" if length else "")
    )
    src = repo.parent / "tiny.pt2"
    tiny_export(src)
    args = export_entry(repo, src.read_bytes())
    (repo / LEVEL / "better.log").write_bytes(log)
    f.write_text(
        f.read_text() + f"  training_log:\n    path: {LEVEL}/better.log\n    sha256: {sha(log)}\n    format: step-log\n"
        f"    pattern: '{pattern}'\n"
    )
    return args


def cases() -> list[Case]:
    """The batch-size attacks."""
    from hostile_corpus import Case, claimed_with, failed_with, marker_payload

    return [
        Case(
            "batch-entry-states-5-where-the-log-ran-512",
            lambda r: _entry(r, batch_logs.sequences(), 5),
            failed_with("A470 batch-differs", "states 5 samples per step", "gives 512"),
            needs_torch=True,
        ),
        Case(
            "batch-entry-states-the-per-device-batch",
            lambda r: _entry(r, batch_logs.sequences(), 64),
            failed_with("A470 batch-differs", "states 64 samples per step", "gives 512"),
            needs_torch=True,
        ),
        Case(
            "batch-schedule-flattened-to-its-smallest-phase",
            lambda r: _entry(r, batch_logs.bs_schedule(scheduled=60, steps=100), 64, length=2048),
            failed_with(
                "A470 batch-differs", "states 64 samples", "gives 64 from step 0, 128 from step 20, 192 from step 40"
            ),
            needs_torch=True,
        ),
        Case(  # the pattern calls the step number a sample count: 100 samples where the run trained 51,200
            "batch-samples-group-aimed-at-the-step",
            lambda r: _entry(
                r,
                batch_logs.sequences(),
                1,  # 100 steps of 1: the 100 samples the entry states
                pattern=PATTERN.replace("(?P<step>[0-9]+)", "(?P<step>(?P<samples>[0-9]+))"),
                facts="training:\n  samples_to_target: 100\n",
            ),
            failed_with("A470 batch-differs", "states no samples per step", "gives 512"),
            needs_torch=True,
        ),
        Case(  # the pattern takes step_avg (10 ms) for the step: 10 steps where the run took 1,000
            "step-log-pattern-aimed-at-step-avg",
            lambda r: _entry(
                r,
                batch_logs.sequences(steps=1000).replace(b"step_avg:100.00ms", b"step_avg:10.00ms"),
                512,
                pattern=PATTERN.replace("(?P<step>[0-9]+)", "[0-9]+")
                + " train_time:[0-9]+ms step_avg:(?P<step>[0-9]+)",
                facts="training:\n  steps_to_target: 10\n  samples_per_step: 512\n",
                claim_samples=10 * 512,
            ),
            failed_with("A473 step-log-misread", "reads step 10,", "the line says step 0,"),
            needs_torch=True,
        ),
        Case(
            "batch-script-runs-import-os-system",
            lambda r: _entry(r, batch_logs.sequences(batch=marker_payload()), 5),
            claimed_with("A472 batch-expression", "not evaluated"),
            needs_torch=True,
        ),
        Case(
            "batch-script-huge-exponent",
            lambda r: _entry(r, batch_logs.sequences(batch="8**10**10**10"), 5),
            claimed_with("A472 batch-expression", "Pow"),
            needs_torch=True,
        ),
        Case(
            "batch-level-without-a-reader",
            lambda r: _entry(r, batch_logs.sequences(), 5, reader=False),
            claimed_with("A471 batch-unread", "names no batch_reader"),
            needs_torch=True,
        ),
    ]
