"""AlgoPerf's per-trial eval_measurements.csv: evaluations labelled by `global_step`, read with columns.step."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aieff.dataset.schema import Benchmark, TrainingLog
from aieff.repo import DataError, NotReached
from aieff.verify import logs

WMT = Benchmark.model_validate(
    {
        "id": "wmt-toy",
        "title": "t",
        "task": "translation",
        "dataset": {"name": "d"},
        "metric": {"name": "validation BLEU", "unit": "BLEU", "split": "validation"},
        "direction": "higher",
        "threshold": 30.8491,
        "baseline": "b",
        "rules": "r",
        "source": {"title": "s", "url": "https://example.org/s", "locator": "p. 1"},
    }
)
HEADER = (
    "accumulated_eval_time,accumulated_logging_time,accumulated_submission_time,global_step,preemption_count,"
    "score,test/accuracy,test/bleu,test/loss,test/num_examples,total_duration,train/accuracy,train/bleu,"
    "train/loss,validation/accuracy,validation/bleu,validation/loss,validation/num_examples"
)


def _trial(rows: list[tuple[int, float]]) -> str:
    """An eval_measurements.csv in the published shape: one row per evaluation (step, validation BLEU)."""
    out = [HEADER]
    for i, (step, bleu) in enumerate(rows):
        t = 840.0 * (i + 1)
        out.append(f"{t},0.0,{t},{step},0,{t},0.6,{bleu - 1},2.0,3003,{2 * t},0.6,{bleu + 4},1.9,0.6,{bleu},2.0,3000")
    return "\n".join(out) + "\n"


REACHES = _trial([(1, 0.0), (2181, 9.9), (4353, 22.0), (117491, 30.85), (119659, 30.9)])
NEVER = _trial([(1, 0.0), (2181, 9.9), (133333, 30.84)])


def _spec(**kw: object) -> TrainingLog:
    cols = {"metric": "validation/bleu", "step": "global_step"}
    return TrainingLog.model_validate(
        {"path": "entries/wmt-toy/x.csv", "sha256": "a" * 64, "format": "csv", "columns": cols, **kw}
    )


def test_the_first_evaluation_at_the_target_gives_the_optimizer_steps() -> None:
    evals = logs.parse(REACHES, _spec(), WMT)
    r = logs.first_reaching(evals, WMT)
    assert (r.eval.steps, r.eval.value, r.eval.line) == (117491, 30.85, 5)
    assert r.eval.epochs is None and r.eval.samples is None  # samples come from the entry's samples_per_step
    assert r.previous is not None and r.previous.steps == 4353
    assert "steps earlier" in r.cadence
    assert any("global_step" in c for c in evals.conventions)


def test_a_trial_that_never_reaches_the_target_says_its_best() -> None:
    with pytest.raises(NotReached, match=r"best 30\.84 at step 133333"):
        logs.first_reaching(logs.parse(NEVER, _spec(), WMT), WMT)


def test_a_missing_step_column_or_an_empty_step_is_a_clean_error() -> None:
    with pytest.raises(DataError, match="step column 'step'"):
        logs.parse(REACHES, _spec(columns={"metric": "validation/bleu", "step": "step"}), WMT)
    broken = REACHES.replace(",117491,", ",,")
    with pytest.raises(DataError, match="line 5: global_step"):
        logs.parse(broken, _spec(), WMT)


def test_rows_without_the_metric_are_skipped() -> None:
    text = REACHES.replace(",30.85,2.0,3000", ",,,")
    assert logs.first_reaching(logs.parse(text, _spec(), WMT), WMT).eval.steps == 119659


def test_columns_step_is_for_csv_only() -> None:
    with pytest.raises(ValidationError, match="columns.step is read by format csv only"):
        TrainingLog.model_validate(
            {
                "path": "entries/wmt-toy/x.jsonl",
                "sha256": "a" * 64,
                "format": "jsonl",
                "columns": {"metric": "bleu", "step": "global_step"},
            }
        )
