"""Stdout of the PyTorch ImageNet example: `Epoch: [N][...]` lines, then ` * Acc@1 x Acc@5 y`."""

from __future__ import annotations

import re

from aieff.dataset.schema import Benchmark, TrainingLog
from aieff.repo import DataError
from aieff.verify.logs import Eval, Evals, metric_column, number, scale

EPOCH = re.compile(r"Epoch: \[(\d+)\]")
SUMMARY = re.compile(r"^\s*\*\s+Acc@1\s+([0-9.]+)\s+Acc@5\s+([0-9.]+)")


def parse(text: str, spec: TrainingLog, level: Benchmark) -> list[Eval]:
    """Pair each summary line with the 0-based epoch whose training lines preceded it."""
    column = metric_column(spec, level, "Acc@5", "Acc@1")
    if column not in {"Acc@1", "Acc@5"}:
        raise DataError(f"pytorch-imagenet-stdout: columns.metric must be Acc@1 or Acc@5, not {column!r}")
    epoch: int | None = None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if m := EPOCH.search(line):
            epoch = int(m.group(1))
        elif m := SUMMARY.match(line):
            if epoch is None:
                continue  # an evaluation before any training (e.g. --evaluate)
            value = number(m.group(1) if column == "Acc@1" else m.group(2), f"pytorch-imagenet-stdout line {n}")
            out.append(Eval(n, scale(value, spec, level), epochs=float(epoch + 1)))
    return Evals(
        out,
        [
            "`Epoch: [N]` counts from 0: the summary after epoch N is N + 1 epochs done; summaries "
            "before any `Epoch:` line are evaluations before training, not counted"
        ],
    )
