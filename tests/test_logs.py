"""Each log format, with the quirks seen in public submissions, finds the first evaluation at the level."""

from __future__ import annotations

import json

import pytest

from aieff import logs
from aieff.repo import DataError
from aieff.schema import Benchmark, TrainingLog

LEVEL = Benchmark.model_validate(
    {
        "id": "lvl",
        "title": "t",
        "task": "t",
        "dataset": {"name": "d", "train_samples_per_epoch": 1000},
        "metric": {"name": "top-5 accuracy", "unit": "percent", "split": "val"},
        "direction": "higher",
        "threshold": 79.1,
        "baseline": "b",
        "rules": "r",
        "source": {"title": "s", "url": "https://example.org/s"},
    }
)
SHA = "a" * 64


def spec(fmt: str, **kw: object) -> TrainingLog:
    return TrainingLog.model_validate({"path": "entries/lvl/x.log", "sha256": SHA, "format": fmt, **kw})


def first(text: str, s: TrainingLog) -> logs.Reached:
    return logs.first_reaching(logs.parse(text, s, LEVEL), LEVEL)


DAWN = "epoch\thours\ttop1Accuracy\ttop5Accuracy\n1\t0.1\t40\t70.0\n2\t0.2\t55\t79.2\n3\t0.3\t60\t85\n"


def test_dawnbench_one_based() -> None:
    r = first(DAWN, spec("dawnbench-tsv"))
    assert (r.eval.epochs, r.eval.value, r.eval.line) == (2, 79.2, 3)
    assert "1 epoch(s) earlier" in r.cadence


def test_dawnbench_crlf_bom_and_other_column_order() -> None:
    text = "\ufefftop5Accuracy\tepoch\thours\r\n70\t1\t0.1\r\n79.2\t2\t0.2\r\n"
    assert first(text, spec("dawnbench-tsv")).eval.epochs == 2


def test_dawnbench_zero_based_epochs_count_one_more() -> None:
    text = "epoch\ttop5Accuracy\n0\t70\n1\t80\n"
    assert first(text, spec("dawnbench-tsv")).eval.epochs == 2  # inferred from the first label
    assert (
        first(
            text.replace("0\t70", "5\t70").replace("1\t80", "6\t80"), spec("dawnbench-tsv", epochs_start_at=0)
        ).eval.epochs
        == 7
    )


def test_dawnbench_fractional_epochs_are_amounts() -> None:
    text = "epoch\ttop5Accuracy\n0.5\t70\n1.5\t80\n"
    assert first(text, spec("dawnbench-tsv")).eval.epochs == 1.5


def test_fraction_scale_is_converted() -> None:
    text = "epoch\tf1\n1\t0.70\n2\t0.80\n"
    r = first(text, spec("dawnbench-tsv", columns={"metric": "f1"}, metric_scale="fraction"))
    assert r.eval.value == pytest.approx(80.0)


def test_never_reaching_says_the_best() -> None:
    with pytest.raises(DataError, match=r"never reaches the level: 79.1 .* best 75 at epoch 2 \(line 3\)"):
        first("epoch\ttop5Accuracy\n1\t70\n2\t75\n", spec("dawnbench-tsv"))


def test_mlperf_dedupes_ranks_and_reads_epoch_or_samples() -> None:
    ev = {"key": "eval_accuracy", "value": 0.80, "metadata": {"epoch_num": 3}}
    lines = [":::MLLOG " + json.dumps({"key": "eval_accuracy", "value": 0.7, "metadata": {"epoch_num": 2}})]
    lines += [f"{rank}: :::MLLOG " + json.dumps(ev) for rank in range(8)]
    lines += [":::MLLOG " + json.dumps({"key": "run_stop", "metadata": {"status": "success"}})]
    evals = logs.parse("\n".join(lines), spec("mlperf-mllog", metric_scale="fraction"), LEVEL)
    assert len(evals) == 2
    r = logs.first_reaching(evals, LEVEL)
    assert (r.eval.epochs, r.eval.value) == (3, pytest.approx(80.0))
    by_samples = ":::MLLOG " + json.dumps({"key": "eval_accuracy", "value": 0.8, "metadata": {"samples_count": 5000}})
    assert first(by_samples, spec("mlperf-mllog", metric_scale="fraction")).eval.samples == 5000


def test_pytorch_stdout_pairs_summaries_with_epochs() -> None:
    text = "\n".join(
        [
            "Epoch: [0][  0/5005]\tTime 1.0",
            "Epoch: [0][5000/5005]\tTime 1.0",
            "Test: [ 0/196]",
            " * Acc@1 40.100 Acc@5 70.200",
            "Epoch: [1][  0/5005]\tTime 1.0",
            " * Acc@1 55.000 Acc@5 79.500",
        ]
    )
    r = first(text, spec("pytorch-imagenet-stdout"))
    assert (r.eval.epochs, r.eval.value, r.eval.line) == (2.0, 79.5, 6)
    top1 = first(text.replace("55.000", "80.000"), spec("pytorch-imagenet-stdout", columns={"metric": "Acc@1"}))
    assert top1.eval.value == 80.0


def test_jsonl_deit_style() -> None:
    text = "\n".join(json.dumps({"epoch": e, "test_acc1": 50 + e, "test_acc5": 75 + 3 * e}) for e in range(4))
    r = first(text, spec("jsonl"))
    assert r.eval.epochs == 3  # 0-based label 2: three epochs done
    assert r.eval.value == 81


def test_csv_timm_summary() -> None:
    text = "epoch,train_loss,eval_loss,eval_top1,eval_top5,lr\n0,5,4,40,70,0.1\n1,4,3,50,80,0.1\n"
    assert first(text, spec("csv")).eval.epochs == 2


def test_bad_rows_are_clean_errors() -> None:
    with pytest.raises(DataError, match="line 2"):
        logs.parse("epoch\ttop5Accuracy\nx\t1\n", spec("dawnbench-tsv"), LEVEL)
    with pytest.raises(DataError, match="no evaluations"):
        logs.parse("nothing here\n", spec("mlperf-mllog"), LEVEL)


def test_mlperf_agrees_with_the_official_parser() -> None:
    from mlperf_logging.compliance_checker.mlp_parser import ruleset_610 as official

    events = [
        ("run_start", None, {}),
        ("eval_accuracy", 0.61, {"epoch_num": 1}),
        ("eval_accuracy", 0.7925, {"epoch_num": 2}),
        ("eval_accuracy", 0.81, {"epoch_num": 3}),
        ("run_stop", None, {"status": "success"}),
    ]
    lines = []
    for i, (key, value, meta) in enumerate(events):
        payload = json.dumps(
            {
                "namespace": "",
                "time_ms": 1000 + i,
                "event_type": "POINT_IN_TIME",
                "key": key,
                "value": value,
                "metadata": meta,
            }
        )
        lines += [f"{rank}: :::MLLOG {payload}" for rank in range(2)]
    text = "noise before\n" + "\n".join(lines) + "\n"
    theirs, errors = official.parse_generator(text.splitlines(keepends=True))
    assert not errors
    official_evals = {
        (ll.value["metadata"]["epoch_num"], ll.value["value"]) for ll in theirs if ll.key == "eval_accuracy"
    }
    ours = logs.parse(text, spec("mlperf-mllog", metric_scale="fraction"), LEVEL)
    assert {(e.epochs, round(e.value / 100, 6)) for e in ours} == official_evals
    assert len(ours) == 3 and len([ll for ll in theirs if ll.key == "eval_accuracy"]) == 6  # theirs keeps duplicates
    assert logs.first_reaching(ours, LEVEL).eval.line == 6  # a line number in the file
