"""Line logs of optimizer steps (llm.c `s:19560 tel:3.2722`, nanoGPT `step:1393/1393 val_loss:3.2785`).

The entry's `pattern` comes from a pull request. RE2 matches in time linear in the text, but the
factor is the size of the compiled program when its DFA gives up (nested counted repetitions such as
`(?:a{1,30}){1,30}` compile to thousands of instructions: tens of seconds per megabyte), so a
pattern whose program is over MAX_PROGRAM (aieff.dataset.pattern) is refused before any search (A403);
whatever a smaller one costs is bounded by the sandbox the parse runs in.

The pattern is searched in every line; its named groups give the step and the metric, optionally
epoch and samples. Lines that do not match (the training script a log starts with, train-loss
lines) are skipped. A step label is the number of optimizer steps done when the evaluation ran.
"""

from __future__ import annotations

from aieff.dataset.pattern import compile_pattern
from aieff.dataset.schema import Benchmark, TrainingLog
from aieff.repo import DataError
from aieff.verify.logs import Eval, Evals, count, number, scale

MAX_LINE = 128 << 10  # longer lines (pasted data) are skipped: an evaluation line is well under 1 KiB


def parse(text: str, spec: TrainingLog, level: Benchmark) -> Evals:
    """An evaluation for every line the pattern matches."""
    assert spec.pattern is not None
    pattern = compile_pattern(spec.pattern)
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
