"""One run, several levels: an entry that reads another entry's run (`derived_from`), checked and resolved.

A run trained for one level often records the metric of an easier one on the way (DAWNBench ImageNet
logs record top-5 every epoch and pass the AlexNet level's 79.1% long before 93%). Such a run backs an
entry on the easier level without copying its log: the derived entry names the source entry, and takes
its artifacts (architecture, checkpoint, logs) and hardware from it. Only what is the level's own stays
in the derived entry: the training done to this level, its claims, its submission. Its per-sample facts
(forward cost or resolution schedule, samples per step or epoch) are the run's, so they must equal the
source's.

After the checks, each valid derived entry's model is replaced by its resolved form (the source's
artifacts and hardware filled in), so estimate, analysis and the verdict binding see what is read; the
binding also names the source entry (aieff.verify.record), so an edit to it voids the derived verdict.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aieff.dataset.schema import Benchmark, Entry

if TYPE_CHECKING:
    from aieff.dataset.docset import Dataset, Doc

# The facts of the run itself (not of the level): a derived entry states them as its source does.
RUN_FACTS = (
    "forward_cost",
    "resolution_schedule",
    "samples_per_step",
    "samples_per_step_schedule",
    "samples_per_epoch",
)


def check_derived(ds: Dataset) -> None:
    """Add an E070-E074 diagnostic for every derived entry that cannot share its source's run, and resolve
    the others (the source's artifacts and hardware in the derived entry's model)."""
    resolved: list[tuple[Doc, Entry]] = []
    for doc in sorted(ds.entries.values(), key=lambda d: d.path):
        entry = doc.model
        if not isinstance(entry, Entry) or entry.derived_from is None:
            continue
        source = _source(ds, doc, entry)
        if source is not None:
            resolved.append((doc, source))
    for doc, source in resolved:  # after every check, so no check sees a resolved entry
        entry = doc.model
        assert isinstance(entry, Entry)
        doc.model = entry.model_copy(update={"artifacts": source.artifacts, "hardware": source.hardware})


def _source(ds: Dataset, doc: Doc, entry: Entry) -> Entry | None:
    """The entry this one derives from, when it may share that entry's run; else None with a diagnostic."""
    err = doc.loaded.error
    ref = ds.entries.get(entry.derived_from or "")
    source = ref.model if ref is not None else None
    if not isinstance(source, Entry) or source.id == entry.id:
        why = f"no other entry {entry.derived_from!r} to derive from (give the id of the run's own entry)"
        ds.diagnostics.append(err("E070", ("derived_from",), why))
        return None
    if source.benchmark == entry.benchmark:
        why = f"{source.id} is an entry of this level already: a run is entered once per level"
        ds.diagnostics.append(err("E070", ("derived_from",), why))
        return None
    if source.derived_from is not None:
        cycle = source.derived_from == entry.id
        why = (
            f"{source.id} derives from this entry: a cycle, neither has a run of its own"
            if cycle
            else f"{source.id} is itself derived from {source.derived_from}: name {source.derived_from}"
        )
        ds.diagnostics.append(err("E071", ("derived_from",), why))
        return None
    problems = False
    for name in ("artifacts", "hardware"):
        if getattr(entry, name) is not None:
            why = f"a derived entry reads the artifacts and hardware of {source.id}; it cannot name its own"
            ds.diagnostics.append(err("E072", (name,), why))
            problems = True
    if source.artifacts is None or not source.artifacts.logs():
        why = f"{source.id} references no training log: there is no run to share"
        ds.diagnostics.append(err("E072", ("derived_from",), why))
        problems = True
    if entry.benchmark in ds.benchmarks and source.benchmark in ds.benchmarks:
        if (differs := _metric_differs(ds.level(entry.benchmark), ds.level(source.benchmark))) is not None:
            ds.diagnostics.append(err("E073", ("derived_from",), differs))
            problems = True
    if (facts := _facts_differ(entry, source)) is not None:
        ds.diagnostics.append(err("E074", ("training",), facts))
        problems = True
    return None if problems else source


def _metric_differs(level: Benchmark, other: Benchmark) -> str | None:
    """Why the source's log cannot give this level's metric, or None: both levels must train on the same
    data and measure the same metric, in the same unit and direction."""
    pairs = {
        "dataset": (level.dataset.name, other.dataset.name),
        "metric": (level.metric.name, other.metric.name),
        "metric unit": (level.metric.unit, other.metric.unit),
        "direction": (level.direction, other.direction),
    }
    for what, (mine, theirs) in pairs.items():
        if mine != theirs:
            return (
                f"this level's {what} is {mine!r} but {other.id}'s is {theirs!r}: "
                "the shared log does not record this level's metric"
            )
    return None


def _facts_differ(entry: Entry, source: Entry) -> str | None:
    """Why the derived entry's per-sample facts are not its source's run, or None."""
    mine, theirs = entry.training, source.training
    if mine is None or theirs is None or mine.total_run_compute is not None or theirs.total_run_compute is not None:
        return "a derived entry and its source both give per-sample training facts (not a whole run's compute)"
    for name in RUN_FACTS:
        if getattr(mine, name) != getattr(theirs, name):
            return f"training.{name} differs from {source.id}'s: the run's facts are its source's"
    return None
