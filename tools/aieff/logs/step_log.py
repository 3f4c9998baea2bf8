"""Line logs of optimizer steps (llm.c `s:19560 tel:3.2722`, nanoGPT `step:1393/1393 val_loss:3.2785`).

The entry's `pattern` (RE2: linear time, so a pattern from a pull request cannot hang the job) is
searched in every line; its named groups give the step and the metric, optionally epoch and
samples. Lines that do not match (the training script a log starts with, train-loss lines) are
skipped. A step label is the number of optimizer steps done when the evaluation ran.
"""

from __future__ import annotations

from aieff.logs import Eval, Evals, count, number, scale
from aieff.repo import DataError
from aieff.schema import Benchmark, TrainingLog

MAX_LINE = 1 << 20  # longer lines (pasted data) are skipped; RE2 is linear below that


def parse(text: str, spec: TrainingLog, level: Benchmark) -> Evals:
    """An evaluation for every line the pattern matches."""
    import re2

    assert spec.pattern is not None
    pattern = re2.compile(spec.pattern)
    names = set(pattern.groupindex)
    out: list[Eval] = []
    skipped = 0
    for n, line in enumerate(text.splitlines(), 1):
        if len(line) > MAX_LINE:
            skipped += 1
            continue
        m = pattern.search(line)
        if m is None:
            continue
        where = f"step-log line {n}"
        groups = {k: m.group(k) for k in names}
        if any(v is None for v in groups.values()):
            raise DataError(f"{where}: the pattern matched without every named group")
        out.append(
            Eval(
                n,
                scale(number(groups["value"], f"{where}: value"), spec, level),
                epochs=number(groups["epoch"], f"{where}: epoch") if "epoch" in groups else None,
                samples=count(groups["samples"], f"{where}: samples") if "samples" in groups else None,
                steps=count(groups["step"], f"{where}: step"),
            )
        )
    if not out:
        raise DataError(f"step-log: the pattern matched no line (searched {n if text else 0} lines)")
    notes = ["step labels are optimizer steps done at the evaluation; samples = the sum of samples per step before it"]
    if skipped:
        notes.append(f"{skipped} line(s) over {MAX_LINE} characters skipped")
    return Evals(out, notes)
