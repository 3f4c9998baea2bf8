"""Each log format, with the quirks seen in public submissions, finds the first evaluation at the level."""

from __future__ import annotations

import json

import pytest

from aieff.dataset.schema import Benchmark, TrainingLog
from aieff.repo import DataError
from aieff.verify import logs

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
        "source": {"title": "s", "url": "https://example.org/s", "locator": "p. 1"},
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


# --- labelling conventions, step logs and event files (shapes of real public logs, written here) ---

LOSS_LEVEL = Benchmark.model_validate(
    {
        **LEVEL.model_dump(),
        "metric": {"name": "validation loss", "unit": "loss", "split": "val"},
        "direction": "lower",
        "threshold": 3.28,
    }
)


def test_dawnbench_pretraining_row_is_left_out_and_said() -> None:
    text = "epoch\thours\ttop1Accuracy\ttop5Accuracy\n0\t0\t0.1\t0.5\n1\t0.1\t40\t70\n2\t0.2\t55\t80\n"
    evals = logs.parse(text, spec("dawnbench-tsv"), LEVEL)
    assert [e.epochs for e in evals] == [1, 2]  # label 1 = 1 epoch: counting did not shift to 0-based
    assert any("line 2: evaluation before any training" in c for c in evals.conventions)
    # Without the 0-hour row, a log starting at label 0 is 0-based: label 0 is one epoch done.
    zero_based = "epoch\thours\ttop5Accuracy\n0\t0.1\t70\n1\t0.2\t80\n"
    evals = logs.parse(zero_based, spec("dawnbench-tsv"), LEVEL)
    assert [e.epochs for e in evals] == [1, 2] and "count from 0" in evals.conventions[0]
    declared = logs.parse(zero_based, spec("dawnbench-tsv", pretraining_eval=True), LEVEL)
    assert [e.epochs for e in declared] == [1] and "declared by pretraining_eval" in declared.conventions[0]


def test_mixed_whole_and_fractional_labels_are_read_alike() -> None:
    text = "epoch\ttop5Accuracy\n0.5\t60\n1\t70\n1.5\t75\n2\t80\n"
    evals = logs.parse(text, spec("dawnbench-tsv"), LEVEL)
    assert [e.epochs for e in evals] == [0.5, 1, 1.5, 2]
    assert "fractional" in evals.conventions[0]


def _mllog(key: str, value: object = None, **meta: object) -> str:
    return "0: :::MLLOG " + json.dumps({"key": key, "value": value, "metadata": meta}) + "\n"


def test_mllog_blocks_give_the_epochs_done_when_evals_carry_no_epoch() -> None:
    # As real logs order them: the evaluation comes before its block's block_stop.
    text = "".join(
        _mllog("block_start", first_epoch_num=1 + 4 * b, epoch_count=4)
        + _mllog("eval_accuracy", acc)
        + _mllog("block_stop", first_epoch_num=1 + 4 * b)
        for b, acc in enumerate([0.40, 0.70, 0.80])
    ) + _mllog("run_stop", status="success")
    evals = logs.parse(text * 2, spec("mlperf-mllog", metric_scale="fraction"), LEVEL)  # every rank logs it
    assert [e.epochs for e in evals] == [4, 8, 12]
    assert "block around each evaluation" in evals.conventions[0]
    assert logs.first_reaching(evals, LEVEL).eval.epochs == 12


def test_mllog_epoch_num_wins_over_the_last_stopped_block() -> None:
    # Habana and NVIDIA order: block_start(1, 3), eval(epoch_num 3), block_stop, block_start(4, 4), eval(7), ...
    # Reading the last block_stop would lag one block behind (31 instead of 35 in the v1.1 logs).
    blocks = [(1, 3, 0.30), (4, 4, 0.60), (8, 4, 0.80)]
    text = "".join(
        _mllog("block_start", first_epoch_num=f, epoch_count=c)
        + _mllog("eval_accuracy", acc, epoch_num=f + c - 1)
        + _mllog("block_stop", first_epoch_num=f, epoch_count=c)
        for f, c, acc in blocks
    ) + _mllog("run_stop", status="success")
    evals = logs.parse(text, spec("mlperf-mllog", metric_scale="fraction"), LEVEL)
    assert [e.epochs for e in evals] == [3, 7, 11]


def test_mllog_aborted_run_is_reported_as_aborted() -> None:
    text = _mllog("eval_accuracy", 0.8, epoch_num=3) + _mllog("run_stop", status="aborted")
    with pytest.raises(DataError, match="run aborted: run_stop status 'aborted'"):
        logs.parse(text, spec("mlperf-mllog", metric_scale="fraction"), LEVEL)


def test_mlperf_v05_lines_are_read() -> None:
    line = (
        ":::MLPv0.5.0 resnet 1541710414.{n} (resnet/imagenet_main.py:{n}) "
        'eval_accuracy: {{"epoch": {e}, "value": {v}}}\n'
    )
    text = "".join(line.format(n=i, e=e, v=v) for i, (e, v) in enumerate([(0, 0.6), (1, 0.75), (2, 0.8)]))
    evals = logs.parse(text, spec("mlperf-mllog", metric_scale="fraction"), LEVEL)
    assert [e.epochs for e in evals] == [1, 2, 3] and "v0.5" in evals.conventions[-1]


LLMC = "".join(
    f"s:{s} trl:{4.0 - s / 1000:.4f} lr:0.0006 norm:0.3 tokens:524288\n" + (f"s:{s} tel:{v}\n" if v else "")
    for s, v in [(0, 10.9), (1, None), (250, 3.6), (500, 3.30), (750, 3.275), (1000, 3.25)]
)


def test_llmc_style_steps_become_samples_through_the_entry() -> None:
    s = spec("step-log", pattern=r"^s:(?P<step>[0-9]+) tel:(?P<value>[0-9.]+)$")
    evals = logs.parse(LLMC, s, LOSS_LEVEL)
    r = logs.first_reaching(evals, LOSS_LEVEL)
    assert (r.eval.steps, r.eval.value) == (750, 3.275) and "250 steps earlier" in r.cadence
    assert "optimizer steps done" in evals.conventions[0]


NANOGPT = (
    "import torch\nprint0(f'step:{step}/{train_steps} val_loss:{val_loss:.4f} train_time:{t:.0f}ms')\n"
    "====\nstep:0/1393 val_loss:10.8258 train_time:0ms step_avg:nanms\n"
    "step:1/1393 train_time:30ms step_avg:nanms\n"
    "step:1375/1393 val_loss:3.2810 train_time:177000ms step_avg:128.9ms\n"
    "step:1393/1393 val_loss:3.2785 train_time:179527ms step_avg:129.0ms\n"
)


def test_nanogpt_style_log_with_the_script_before_it() -> None:
    s = spec("step-log", pattern=r"^step:(?P<step>[0-9]+)/[0-9]+ val_loss:(?P<value>[0-9.]+)")
    r = logs.first_reaching(logs.parse(NANOGPT, s, LOSS_LEVEL), LOSS_LEVEL)
    assert (r.eval.steps, r.eval.line) == (1393, 7)


def test_samples_per_step_schedule_sums_the_steps_before_the_evaluation() -> None:
    from aieff.dataset.schema import Training

    t = Training.model_validate(
        {
            "steps_to_target": 30,
            "samples_per_step_schedule": [{"from_step": 0, "samples": 8}, {"from_step": 10, "samples": 16}],
            "forward_cost": {"value": 1.0e9, "unit": "FLOP", "sequence_length": 1024},
        }
    )
    assert t.samples_after(30) == 10 * 8 + 20 * 16 and t.samples_after(5) == 40


def test_a_pathological_pattern_ends_in_a_coded_error() -> None:
    """RE2 matches in linear time: `(a+)+$` on 100 kB of a's is answered at once, then refused as no number."""
    s = spec("step-log", pattern=r"(?P<step>(a+)+)(?P<value>a)$")
    with pytest.raises(DataError, match="is not a number"):
        logs.parse("a" * 100_000 + "\n", s, LOSS_LEVEL)
    with pytest.raises(ValueError, match="pattern must name the groups step and value"):
        spec("step-log", pattern=r"(a+)+$")
    with pytest.raises(ValueError, match="not a valid RE2 expression"):
        spec("step-log", pattern=r"(?P<step>\d+)(?P<value>\1)")  # backreferences need backtracking


def test_tensorboard_event_file_written_by_a_real_writer(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path))
    for epoch, acc in [(1, 60.0), (2, 80.0), (3, 90.0)]:
        writer.add_scalar("val/acc5", torch.tensor(acc), epoch)
        writer.add_scalar("train/loss", 1.0 / epoch, epoch)
    writer.close()
    [event_file] = tmp_path.glob("events.out.tfevents.*")
    s = spec("tensorboard", tag="val/acc5", step_means="epochs")
    evals = logs.parse(event_file.read_bytes(), s, LEVEL)
    assert [(e.epochs, e.value) for e in evals] == [(1, 60.0), (2, 80.0), (3, 90.0)]
    assert logs.first_reaching(evals, LEVEL).eval.epochs == 2
    with pytest.raises(DataError, match="no scalar tagged 'val/acc1'"):
        logs.parse(event_file.read_bytes(), spec("tensorboard", tag="val/acc1"), LEVEL)


def test_mlperf_v06_mll_lines_are_read_once_across_ranks() -> None:
    # v0.6 wrote `:::MLL <time> <key>: {json}`; every rank logs each event, keys in any order.
    def mll(t: float, key: str, payload: str) -> str:
        return f":::MLL {t:.3f} {key}: {payload}\n"

    text = (
        "2019-06-18 01:19:42,562 Node[0] start with arguments Namespace(accuracy_threshold=0.759)\n"
        + mll(1.0, "block_start", '{"value": null, "metadata": {"first_epoch_num": 1, "epoch_count": 4}}')
        + mll(2.0, "eval_accuracy", '{"value": 0.5, "metadata": {"epoch_num": 4}}')
        + mll(2.1, "eval_accuracy", '{"metadata": {"epoch_num": 4}, "value": 0.5}')  # another rank
        + mll(3.0, "eval_accuracy", '{"value": 0.95, "metadata": {"epoch_num": 8}}')
        + mll(3.1, "run_stop", '{"value": null, "metadata": {"status": "success"}}')
    )
    evals = logs.parse(text, spec("mlperf-mllog", metric_scale="fraction"), LEVEL)
    assert [(e.epochs, e.value) for e in evals] == [(4, 50.0), (8, 95.0)]
    with pytest.raises(DataError, match=r"line 1: not JSON after :::MLL eval_accuracy"):
        logs.parse(mll(1.0, "eval_accuracy", "{oops"), spec("mlperf-mllog", metric_scale="fraction"), LEVEL)
