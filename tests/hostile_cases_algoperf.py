"""Hostile AlgoPerf-shaped entries: a log that counts steps but never names the batch (eval_measurements.csv), and
a pinned submission.py (artifacts.batch_source) whose get_batch_size the level's algoperf-submission reader reads,
parsed and never run. An entry that states fewer samples per step than its code gives is refused (A470); code
that is not a literal, or a source that would run a payload if executed, leaves the entry claimed (A471, A472)
and runs nothing; an entry without a batch_source is claimed (A471)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # hostile_corpus imports this module
    from hostile_corpus import Case

MACS = 15  # the tiny export, Linear(4, 3), as aieff counts it (12 multiply-adds and 3 bias adds)
LOG = b"global_step,accuracy,score\n50,80.0,10.5\n100,95.0,21.0\n"  # eval_measurements.csv's shape, trimmed


def submission(wmt: str = "128", prelude: str = "") -> bytes:
    """A submission.py in the v0.5 submissions' shape: get_batch_size an if/elif chain on workload_name."""
    return (
        f'"""A training algorithm."""\n\nimport jax\n{prelude}\n\n'
        "def get_batch_size(workload_name):\n"
        "  # Return the global batch size.\n"
        "  if workload_name == 'criteo1tb':\n    return 262_144\n"
        "  elif workload_name == 'fastmri':\n    return 32\n"
        f"  elif workload_name == 'wmt':\n    return {wmt}\n"
        "  elif workload_name == 'mnist':\n    return 16\n"
        "  else:\n    raise ValueError(f'Unsupported workload name: {workload_name}.')\n"
    ).encode()


def _entry(repo: Path, samples_per_step: int, source: bytes | None) -> list[str]:
    """The toy level as an AlgoPerf-like level (steps in a csv log, the algoperf-submission reader for wmt) and
    the toy entry trained `samples_per_step` a step for 100 steps by its own account, claiming that compute."""
    from hostile_corpus import LEVEL, entry_file, export_entry, sha, tiny_export

    bench = repo / LEVEL / "benchmark.yaml"
    bench.write_text(bench.read_text() + "batch_reader: algoperf-submission\nbatch_workload: wmt\n")
    flop = 3 * 2 * MACS * 100 * samples_per_step
    f = entry_file(repo)
    text = f.read_text()
    f.write_text(
        text[: text.index("claims:")]
        + f"claims:\n  - value: {flop}\n    unit: FLOP\n    method: counted\n    source:\n"
        '      title: "Better net paper"\n      url: https://arxiv.org/abs/1807.00002\n      locator: "Table 1"\n'
        "    confidence: high\n"
        f"training:\n  steps_to_target: 100\n  samples_per_step: {samples_per_step}\n"
        f"  forward_cost:\n    value: {MACS}\n    unit: multiply-adds\n"
    )
    src = repo.parent / "tiny.pt2"
    tiny_export(src)
    args = export_entry(repo, src.read_bytes())
    (repo / LEVEL / "eval_measurements.csv").write_bytes(LOG)
    block = (
        f"  training_log:\n    path: {LEVEL}/eval_measurements.csv\n    sha256: {sha(LOG)}\n    format: csv\n"
        "    columns: {metric: accuracy, step: global_step}\n"
    )
    if source is not None:
        (repo / LEVEL / "submission.py").write_bytes(source)
        block += f"  batch_source:\n    path: {LEVEL}/submission.py\n    sha256: {sha(source)}\n"
    f.write_text(f.read_text() + block)
    return args


def cases() -> list[Case]:
    """The AlgoPerf batch attacks."""
    from hostile_corpus import Case, claimed_with, failed_with, marker_payload

    return [
        Case(  # the compute would verify at half the truth
            "algoperf-entry-states-64-where-the-submission-says-128",
            lambda r: _entry(r, 64, submission()),
            failed_with("A470 batch-differs", "states 64 samples per step", "batch_source", "gives 128"),
            needs_torch=True,
        ),
        Case(
            "algoperf-batch-source-computes-its-batch",
            lambda r: _entry(r, 128, submission(wmt="128 * jax.device_count()")),
            claimed_with("A472 batch-expression", "not evaluated"),
            needs_torch=True,
        ),
        Case(  # run as code, the source would touch the marker at import and in the branch: it is only parsed
            "algoperf-batch-source-runs-import-os-system",
            lambda r: _entry(r, 128, submission(wmt=marker_payload(), prelude=marker_payload())),
            claimed_with("A472 batch-expression", "not evaluated"),
            needs_torch=True,
        ),
        Case(
            "algoperf-entry-without-a-batch-source",
            lambda r: _entry(r, 128, None),
            claimed_with("A471 batch-unread", "batch_source, which the entry does not give"),
            needs_torch=True,
        ),
    ]
