"""The MLPerf BERT levels: logs that count samples three ways, the BERT-large export, and the levels' shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aieff.dataset.schema import Benchmark, TrainingLog
from aieff.dataset.validate import validate
from aieff.repo import DataError, NotReached
from aieff.verify import logs
from conftest import ROOT, run_script

BERT = Benchmark.model_validate(
    {
        "id": "bert",
        "title": "t",
        "task": "t",
        "dataset": {"name": "d"},
        "metric": {"name": "masked-LM accuracy", "unit": "fraction", "split": "eval"},
        "direction": "higher",
        "threshold": 0.72,
        "baseline": "b",
        "rules": "r",
        "source": {"title": "s", "url": "https://example.org/s", "locator": "p. 1"},
    }
)
LEVELS = {"mlperf-bert-v0-7": 0.712, "mlperf-bert-closed": 0.72}
EXPORT = ROOT / "entries/mlperf-bert-closed/exports/bert_large_512.pt2"
FULL = ROOT / "entries/mlperf-bert-closed/exports/bert_large_512_full_mlm.pt2"


def _mllog(key: str, value: object = None, **meta: object) -> str:
    return "0: :::MLLOG " + json.dumps({"key": key, "value": value, "metadata": meta}) + "\n"


def _spec(samples: str | None) -> TrainingLog:
    columns = {"samples": samples} if samples else None
    return TrainingLog.model_validate(
        {
            "path": "entries/bert/x.log",
            "sha256": "a" * 64,
            "format": "mlperf-mllog",
            "metric_scale": "fraction",
            "columns": columns,
        }
    )


def _read(text: str, samples: str | None) -> logs.Reached:
    return logs.first_reaching(logs.parse(text, _spec(samples), BERT), BERT)


def test_epoch_num_that_counts_samples() -> None:
    """Graphcore, Habana, NVIDIA from v2.0: epoch_num is the samples trained (a first evaluation at 0 is
    made before training and left out)."""
    text = (
        _mllog("global_batch_size", 448)
        + _mllog("eval_accuracy", 0.34, epoch_num=0)
        + "".join(_mllog("eval_accuracy", a, epoch_num=150080 * i) for i, a in [(1, 0.40), (2, 0.71), (3, 0.721)])
        + _mllog("run_stop", status="success")
    )
    reached = _read(text * 2, "epoch_num")  # every rank logs it
    assert (reached.eval.samples, reached.eval.epochs, reached.previous.samples) == (450240, None, 300160)
    notes = " ".join(logs.parse(text, _spec("epoch_num"), BERT).conventions)
    assert "evaluation before any training (0 samples)" in notes
    with pytest.raises(DataError, match="no train_samples event after the last eval_accuracy"):
        _read(text, "train_samples")


def test_epoch_num_that_counts_steps_is_multiplied_by_the_logs_own_batch() -> None:
    """Google's v0.7 logs: epoch_num is optimizer steps; samples = steps x the log's global_batch_size."""
    text = (
        _mllog("global_batch_size", 256)
        + _mllog("train_samples", 3507200)  # the configured maximum, logged first: not what was trained
        + "".join(_mllog("eval_accuracy", a, epoch_num=1953 * i) for i, a in [(1, 0.61), (2, 0.704), (3, 0.7208)])
        + _mllog("run_stop", status="success")
    )
    reached = _read(text, "epoch_num x global_batch_size")
    assert reached.eval.samples == 3 * 1953 * 256
    with pytest.raises(DataError, match="global_batch_size"):
        _read(text.replace("global_batch_size", "gbs"), "epoch_num x global_batch_size")


def test_a_constant_epoch_num_reads_the_samples_at_the_stop() -> None:
    """NVIDIA's code before v2.0 logs epoch_num 1 at every evaluation: the run stops at its last, and the
    train_samples logged after it is what was trained; earlier evaluations are left out."""
    text = (
        "".join(_mllog("eval_accuracy", a, epoch_num=1) for a in (0.37, 0.70, 0.7207))
        + _mllog("train_samples", 2626560)
        + _mllog("run_stop", status="success")
    )
    evals = logs.parse(text, _spec("train_samples"), BERT)
    assert [(e.value, e.samples) for e in evals] == [(0.7207, 2626560)]
    assert _read(text, "train_samples").previous is None  # nothing known before it: the bracket starts at 0
    with pytest.raises(NotReached):
        _read(text.replace("0.7207", "0.7107"), "train_samples")


def test_an_unknown_sample_source_is_refused_and_a_list_valued_train_samples_is_ignored() -> None:
    text = _mllog("train_samples", [3872218]) + _mllog("eval_accuracy", 0.73, epoch_num=200000)
    with pytest.raises(DataError, match="columns.samples must be one of"):
        _read(text, "epoch_count")
    assert _read(text, "epoch_num").eval.samples == 200000  # Graphcore v1.1 writes train_samples as a list


def _bert_log(batch: int, nums: list[int], after: int | None = None) -> str:
    """An MLPerf BERT log (submission_benchmark bert) whose evaluations carry these epoch_nums."""
    accuracies = [0.40, 0.60, 0.70, 0.712, 0.7208][-len(nums) :]
    return (
        _mllog("submission_benchmark", "bert")
        + _mllog("global_batch_size", batch)
        + "".join(_mllog("eval_accuracy", a, epoch_num=n) for a, n in zip(accuracies, nums, strict=True))
        + (_mllog("train_samples", after) if after is not None else "")
        + _mllog("run_stop", status="success")
    )


def test_a_bert_log_not_the_entry_says_what_its_epoch_num_counts() -> None:
    """MLPerf BERT evaluates every 100,000 to 1,000,000 samples (about 500,000 in v0.7; from v1.0 0.05 x
    (230.23 x batch + 3,000,000), at least 150,000): a columns.samples that puts the log's evaluations
    closer or further apart reads steps as samples (or samples as steps), and is refused."""
    steps = _bert_log(256, [1953 * i for i in range(1, 6)])  # Google v0.7: steps, 1,953 x 256 = 499,968 apart
    assert _read(steps, "epoch_num x global_batch_size").eval.samples == 5 * 1953 * 256
    with pytest.raises(DataError, match="evaluates every 1,953 samples.*reads as 'epoch_num x global_batch_size'"):
        _read(steps, "epoch_num")  # would be 256 times cheaper
    samples = _bert_log(448, [150080 * i for i in range(1, 6)])  # NVIDIA v2.1: samples, 150,080 apart
    assert _read(samples, "epoch_num").eval.samples == 5 * 150080
    with pytest.raises(DataError, match="reads as 'epoch_num'"):
        _read(samples, "epoch_num x global_batch_size")
    stopped = _bert_log(448, [1] * 5, after=2626560)  # NVIDIA before v2.0: epoch_num 1, samples at the stop
    assert _read(stopped, "train_samples").eval.samples == 2626560
    with pytest.raises(DataError, match="evaluates every 0 samples.*reads as 'train_samples'"):
        _read(stopped, "epoch_num")  # 1 sample to target
    with pytest.raises(DataError, match="epoch_num differs between evaluations"):
        _read(_bert_log(448, [150080 * i for i in range(1, 6)], after=750400), "train_samples")
    # another benchmark's log keeps its entry's reading (the cadence is BERT's)
    assert _read(steps.replace('"bert"', '"resnet"'), "epoch_num").eval.samples == 5 * 1953


def test_the_levels_are_closed_median_of_every_run_from_the_phase_1_checkpoint() -> None:
    ds = validate(ROOT)
    for level_id, threshold in LEVELS.items():
        level = ds.level(level_id)
        assert level.threshold == threshold and level.metric.unit == "fraction"
        assert "phase-1 checkpoint" in level.dataset.name and "phase-1 checkpoint" in level.rules
        assert "reference convergence points" in level.rules
        policy = level.policy
        assert policy is not None and policy.division == "closed" and policy.combine == "median"
        entries = ds.entries_of(level_id)
        assert len(entries) >= 10
        for e in entries:
            assert e.submission.division == "closed" and len(e.artifacts.logs()) >= 2, e.id
            assert e.artifacts.architecture.export.path == "entries/mlperf-bert-closed/exports/bert_large_512.pt2"
            assert e.training.forward_cost.value == 170073136130 and e.training.forward_cost.sequence_length == 512
            assert {log.columns["samples"] for log in e.artifacts.logs() if log.columns} <= set(
                logs.mlperf.SAMPLE_SOURCES
            )
    v07 = {c.split(" ", 1)[0] for c in ds.level("mlperf-bert-v0-7").policy.candidates}
    later = {c.split(" ", 1)[0] for c in ds.level("mlperf-bert-closed").policy.candidates}
    assert v07 == {"v0.7"} and "v0.7" not in later and {"v1.0", "v4.0"} <= later


def test_the_open_division_is_a_level_apart_with_what_each_submission_trained() -> None:
    ds = validate(ROOT)
    level = ds.level("mlperf-bert-open")
    assert level.threshold == 0.72 and level.policy.division == "open"
    assert "phase-1 checkpoint" in level.rules and "no reference convergence" in level.rules
    closed = set(ds.level("mlperf-bert-closed").policy.candidates) | set(ds.level("mlperf-bert-v0-7").policy.candidates)
    assert not closed & set(level.policy.candidates)  # each submission sits in one level, by its division
    skipped = {n.candidate: n.reason for n in level.policy.not_entered}
    other = {"v1.1 Google tpu-v4-2048-JAX", "v1.1 Google tpu-v4-4096-TF"}
    mosaic = {"v2.1 MosaicML 8xA100_80GB-baseline", "v2.1 MosaicML 8xA100_80GB-methods"}
    assert skipped.keys() == other | mosaic
    assert all("a different model" in skipped[c] for c in other)
    # Composer's MaskedAccuracy scores position 0 of every sequence with padding slots (label 0): not MLPerf's metric
    assert all("not MLPerf's masked-LM accuracy" in skipped[c] and "position 0" in skipped[c] for c in mosaic)
    exports = {e.id: e.artifacts.architecture.export.path for e in ds.entries_of("mlperf-bert-open")}
    assert set(exports.values()) == {EXPORT.relative_to(ROOT).as_posix()}
    for e in ds.entries_of("mlperf-bert-open"):
        assert e.submission.division == "open" and len(e.artifacts.logs()) == 10, e.id


def test_bert_large_by_hand() -> None:
    """The export's forward multiply-adds per 512-token sequence, from the layer shapes: the matrix products,
    plus one add per output of every nn.Linear (its bias, which the aten counter prices with addmm; the
    decoder's bias is a separate add and is not counted) is exactly what aieff counts."""
    t, d, inner, layers, vocab, masked = 512, 1024, 4096, 24, 30522, 76
    per_layer = t * (4 * d * d + 2 * d * inner) + 2 * t * t * d  # projections, feed-forward, QK^T and AV
    heads = masked * (d * d + d * vocab) + d * d + 2 * d  # masked-LM transform and decoder; pooler, NSP
    by_hand = layers * per_layer + heads
    assert by_hand == 169_959_811_072
    biases = layers * t * (3 * d + d + inner + d) + d + 2  # qkv, out, up, down per layer; pooler, NSP
    assert 170073136130 - by_hand == biases + masked * d == 113_325_058  # + the transform's bias, 76 positions
    full = layers * per_layer + t * (d * d + d * vocab) + d * d + 2 * d  # the head on every position
    assert full == 184_043_964_416
    assert 184157735938 - full == biases + t * d


torch = pytest.importorskip("torch")


@pytest.mark.parametrize("export", [EXPORT, FULL], ids=["mlm-76", "mlm-512"])
def test_the_script_writes_the_committed_export(tmp_path: Path, export: Path) -> None:
    run_script(export.parent / "make_exports.py", "--out", str(tmp_path), export.name)
    assert (tmp_path / export.name).read_bytes() == export.read_bytes()
