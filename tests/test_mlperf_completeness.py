"""The MLPerf ResNet-50 levels are complete and generated: each submission sits in one level, by division."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from aieff.dataset.validate import validate

ROOT = Path(__file__).resolve().parents[1]
LEVELS = {"mlperf-resnet50-v0-5": "closed", "mlperf-resnet50-v1-5": "closed", "mlperf-resnet50-open": "open"}


@pytest.fixture(scope="module")
def ds():
    return validate(ROOT)


def _generator():
    path = ROOT / "entries/mlperf-resnet50-v1-5/make_entries.py"
    spec = importlib.util.spec_from_file_location("make_entries", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_candidate_sits_in_one_level_of_its_division(ds) -> None:
    seen: dict[str, str] = {}
    for level_id, division in LEVELS.items():
        policy = ds.level(level_id).policy
        assert policy is not None and policy.division == division
        assert policy.run_choice == ["every-run"] and policy.combine == "median"
        for candidate in policy.candidates:
            assert candidate not in seen, f"{candidate} is a candidate of {seen[candidate]} and {level_id}"
            seen[candidate] = level_id
        for entry in ds.entries_of(level_id):
            assert entry.submission is not None and entry.submission.division == division
            assert len(entry.artifacts.logs()) >= 2  # every run's log
    assert "v0.6 Fujitsu abci_2048xV100_mxnet" in ds.level("mlperf-resnet50-open").policy.candidates


def test_the_round_counts_are_the_snapshots(ds) -> None:
    closed = ds.level("mlperf-resnet50-v1-5").policy
    rounds = {c.split(" ", 1)[0] for c in closed.candidates}
    assert rounds == {f"v{r}" for r in ("0.6", "0.7", "1.0", "1.1", "2.0", "2.1", "3.0", "3.1", "4.0")}
    assert len(closed.candidates) == 345 and len(ds.entries_of("mlperf-resnet50-v1-5")) == 336
    assert len(ds.level("mlperf-resnet50-v0-5").policy.candidates) == 14


def test_v05_logs_that_count_epochs_from_zero_say_so(ds) -> None:
    nvidia = ds.all_entries()["mlperf-v0-5-nvidia-dgx1-ngc18-11-mxnet"]
    assert nvidia.training.epochs_to_target == 63  # label 62 comes after train_epoch 62: 63 epochs done
    assert all(log.epochs_start_at == 0 for log in nvidia.artifacts.logs())
    v100 = ds.all_entries()["mlperf-v0-5-google-8xv100"]
    assert all(log.epochs_start_at is None for log in v100.artifacts.logs())


def test_the_generators_open_division_table_names_real_candidates(ds) -> None:
    gen = _generator()
    policy = ds.level("mlperf-resnet50-open").policy
    assert set(gen.OPEN_MODEL) == set(policy.candidates)
    entered = {e.submission.candidate for e in ds.entries_of("mlperf-resnet50-open")}
    assert entered == {c for c, (countable, _) in gen.OPEN_MODEL.items() if countable}
    assert set(gen.PINNED) == set(gen.ROUNDS) == set(gen.ROUND_DATE)


def test_median_matches_the_estimate_rule() -> None:
    gen = _generator()
    sub = gen.Sub("1.0", "Org", "Org", "sys", "closed")
    sub.runs = [gen.Run(f"r{i}", b"") for i in range(5)]
    for run, (status, epochs) in zip(
        sub.runs, [("reached", 35), ("aborted", None), ("short", None), ("reached", 39), ("reached", 35)], strict=True
    ):
        run.status, run.epochs = status, epochs
    assert gen.median_epochs(sub) == 37  # 4 counted: 35, 35, 39, more than trained -> (35 + 39) / 2
    sub.runs[0].status = "short"
    assert gen.median_epochs(sub) is None  # 2 of 4 counted runs reach: the median run does not


def test_the_generator_rewrites_the_policy_block_and_keeps_what_follows_it() -> None:
    """A level's narrative (added by hand after the policy block) survived no re-run of the generators: they
    cut the file at `policy:`. Now only the block is replaced."""
    gen = _generator()
    text = "id: x\nrules: r\npolicy:\n  division: closed\n  # a note\n  candidates:\n    - a\nnarrative: >-\n  kept\n"
    block = "policy:\n  division: open\n"
    assert gen.with_policy(text, block) == "id: x\nrules: r\npolicy:\n  division: open\nnarrative: >-\n  kept\n"
    assert gen.with_policy("id: x\npolicy:\n  division: closed\n", block) == "id: x\n" + block
    assert gen.with_policy("id: x\n", block) == "id: x\n" + block  # no block yet: appended
    level = (ROOT / "entries/mlperf-resnet50-v1-5/benchmark.yaml").read_text()
    policy = "policy:\n" + level.split("\npolicy:\n", 1)[1].split("\nnarrative:", 1)[0] + "\n"
    assert gen.with_policy(level, policy) == level  # the real level: its own block written back, byte for byte
