"""MLPerf BERT logs read the cheap way: an entry's columns.samples that takes a log's step count, or the
constant epoch_num of NVIDIA's pre-v2.0 logs, for the samples trained. The log's evaluation cadence (MLPerf
BERT evaluates every 100,000 to 1,000,000 samples) says which reading fits, whatever the entry says."""

from __future__ import annotations

import json
from pathlib import Path


def _line(key: str, value: object = None, **meta: object) -> str:
    return ":::MLLOG " + json.dumps({"key": key, "value": value, "metadata": meta}) + "\n"


def bert_log(batch: int, nums: list[int], after: int | None = None) -> bytes:
    """A BERT run of five evaluations that reaches 0.95 (the toy level is 90%) at its last."""
    accuracies = (0.40, 0.60, 0.80, 0.88, 0.95)
    text = _line("submission_benchmark", "bert") + _line("global_batch_size", batch)
    text += "".join(_line("eval_accuracy", a, epoch_num=n) for a, n in zip(accuracies, nums, strict=True))
    text += _line("train_samples", after) if after is not None else ""
    return (text + _line("run_stop", status="success")).encode()


def _entry(repo: Path, log: bytes, reading: str) -> list[str]:
    from hostile_corpus import log_entry

    return log_entry(repo, log, "mlperf-mllog", f"    metric_scale: fraction\n    columns: {{samples: {reading}}}\n")


def cases() -> list:
    """The BERT sample-reading attacks."""
    from hostile_corpus import Case, failed_with

    steps = bert_log(256, [1953 * i for i in range(1, 6)])  # Google v0.7: optimizer steps, 499,968 samples apart
    stopped = bert_log(448, [1] * 5, after=2626560)  # NVIDIA before v2.0: epoch_num 1, samples at the stop
    return [
        Case(
            "bert-steps-read-as-samples",  # 9,765 samples instead of 2,499,840: 256 times cheaper
            lambda r: _entry(r, steps, "epoch_num"),
            failed_with("evaluates every 1,953 samples", "'epoch_num x global_batch_size'"),
        ),
        Case(
            "bert-constant-epoch-num-read-as-samples",  # 1 sample to target instead of 2,626,560
            lambda r: _entry(r, stopped, "epoch_num"),
            failed_with("evaluates every 0 samples", "'train_samples'"),
        ),
    ]
