"""A level's policy, enforced: each entry's submission against its level's rules (E040-E043).

The rules are data in each benchmark.yaml (`policy`): which candidates the source has, which division
qualifies, which run of a multi-run submission is read, how runs combine and how entries are dated.
Nothing here is a hand pick: a candidate is an entry, or it is listed as not entered with a reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aieff.dataset.schema import Benchmark, Entry

if TYPE_CHECKING:
    from aieff.dataset.docset import Dataset, Doc


def check_rules(ds: Dataset) -> None:
    """Add an E040-E043 diagnostic for every entry that breaks its level's policy, and for every
    candidate of a policy that is neither entered nor listed as not entered."""
    for level_id, bdoc in sorted(ds.benchmarks.items()):
        level = ds.level(level_id)
        if level.policy is None:
            continue
        docs = [d for d in ds.entries.values() if isinstance(d.model, Entry) and d.model.benchmark == level_id]
        entered: dict[str, str] = {}
        for doc in sorted(docs, key=lambda d: d.path):
            entry = doc.model
            assert isinstance(entry, Entry)
            if entry.withdrawn:
                continue
            _check_entry(ds, doc, entry, level, entered)
        _check_candidates(ds, bdoc, level, entered)


def _check_entry(ds: Dataset, doc: Doc, entry: Entry, level: Benchmark, entered: dict[str, str]) -> None:
    policy = level.policy
    assert policy is not None
    err = doc.loaded.error
    sub = entry.submission
    if sub is None:
        ds.diagnostics.append(
            err("E042", ("id",), f"the level {level.id} states a policy: give submission (candidate, run_choice)")
        )
        return
    if policy.candidates is not None and sub.candidate not in policy.candidates:
        ds.diagnostics.append(
            err("E042", ("submission", "candidate"), f"{sub.candidate!r} is not a candidate of the level's policy")
        )
    elif sub.candidate in entered:
        ds.diagnostics.append(
            err(
                "E042", ("submission", "candidate"), f"{sub.candidate!r} is already entered by {entered[sub.candidate]}"
            )
        )
    else:
        entered[sub.candidate] = entry.id
    if policy.division != "any" and sub.division != policy.division:
        got = sub.division or "no division"
        ds.diagnostics.append(
            err("E040", ("submission", "division"), f"{got}, but the level admits {policy.division} division only")
        )
    _check_run_choice(ds, doc, entry, level)
    if policy.dating == "first-public-run" and sub.dated_by is None:
        ds.diagnostics.append(
            err(
                "E043",
                ("submission",),
                "the level dates entries by the first public appearance of their run: give submission.dated_by",
            )
        )
    if sub.source_date is not None and sub.source_date == entry.publication.date:
        ds.diagnostics.append(
            err("E043", ("submission", "source_date"), "equals publication.date: give it only where the two differ")
        )


def _check_run_choice(ds: Dataset, doc: Doc, entry: Entry, level: Benchmark) -> None:
    policy, sub = level.policy, entry.submission
    assert policy is not None and sub is not None
    err = doc.loaded.error
    loc = ("submission", "run_choice")
    if sub.run_choice not in policy.run_choice:
        allowed = ", ".join(policy.run_choice)
        ds.diagnostics.append(err("E041", loc, f"{sub.run_choice}, but the level's policy allows {allowed}"))
        return
    logs = entry.artifacts.logs() if entry.artifacts else []
    if sub.run_choice == "submitted-version":
        if sub.version is None or sub.version_source is None:
            ds.diagnostics.append(
                err("E041", loc, "submitted-version needs version and version_source (where the source names it)")
            )
            return
        outside = [str(log.url or log.path) for log in logs if f"/{sub.version}/" not in str(log.url or log.path)]
        if not logs or outside:
            what = outside[0] if outside else "no training log"
            ds.diagnostics.append(
                err("E041", ("submission", "version"), f"{what} is not a run of version {sub.version!r}")
            )
    elif sub.version is not None:
        ds.diagnostics.append(err("E041", ("submission", "version"), "version goes with submitted-version only"))
    if sub.run_choice == "every-run" and len(logs) < 2 and not any(log.several_runs for log in logs):
        ds.diagnostics.append(err("E041", loc, "every-run needs training_logs: every run of the submission"))
    if sub.run_choice == "only-run" and len(logs) > 1:
        ds.diagnostics.append(err("E041", loc, f"only-run, but the entry references {len(logs)} runs"))
    if len(logs) > 1 and policy.combine == "single":
        ds.diagnostics.append(err("E041", loc, "the level's policy reads a single run; the entry references several"))


def _check_candidates(ds: Dataset, bdoc: Doc, level: Benchmark, entered: dict[str, str]) -> None:
    policy = level.policy
    assert policy is not None
    err = bdoc.loaded.error
    listed: set[str] = set()
    for i, skipped in enumerate(policy.not_entered):
        where = ("policy", "not_entered", i, "candidate")
        if policy.candidates is not None and skipped.candidate not in policy.candidates:
            ds.diagnostics.append(err("E042", where, f"{skipped.candidate!r} is not in policy.candidates"))
        elif skipped.candidate in entered:
            ds.diagnostics.append(
                err("E042", where, f"{skipped.candidate!r} is entered by {entered[skipped.candidate]}")
            )
        elif skipped.candidate in listed:
            ds.diagnostics.append(err("E042", where, f"{skipped.candidate!r} is listed twice"))
        listed.add(skipped.candidate)
    seen: set[str] = set()
    for i, candidate in enumerate(policy.candidates or []):
        if candidate in seen:
            ds.diagnostics.append(err("E042", ("policy", "candidates", i), f"{candidate!r} is listed twice"))
        seen.add(candidate)
        if candidate not in entered and candidate not in listed:
            ds.diagnostics.append(
                err(
                    "E042",
                    ("policy", "candidates", i),
                    f"{candidate!r} is neither an entry nor in not_entered (with a reason)",
                )
            )


def rule_text(entry: Entry, level: Benchmark) -> str:
    """The rule an entry satisfies, in words (empty where its level states no policy)."""
    if level.policy is None or entry.submission is None:
        return ""
    sub, policy = entry.submission, level.policy
    parts = [sub.candidate]
    if sub.division:
        parts.append(f"{sub.division} division")
    if sub.run_choice == "submitted-version":
        parts.append(f"submitted version {sub.version}")
    elif sub.run_choice == "every-run":
        parts.append(f"every run, {policy.combine}")
    else:
        parts.append("its only run")
    if policy.dating == "first-public-run":
        parts.append("dated by its run" + (f" (source: {sub.source_date.isoformat()})" if sub.source_date else ""))
    return "; ".join(parts)


def policy_text(level: Benchmark, entries: int) -> str:
    """The level's policy in one sentence (empty without one): what the candidates are, how many are
    entries, and the division, run, combining and dating rules."""
    policy = level.policy
    if policy is None:
        return ""
    runs = {
        "only-run": "its only run",
        "submitted-version": "the version the source names as submitted",
        "every-run": f"every run ({policy.combine})",
    }
    division = f"{policy.division} division only; " if policy.division != "any" else ""
    dating = (
        "dated by the first public appearance of the run an entry verifies"
        if policy.dating == "first-public-run"
        else "dated as the source dates them"
    )
    counts = (
        f"{len(policy.candidates)} candidates: {entries} entered, {len(policy.not_entered)} not entered (each with "
        "a reason)."
        if policy.candidates is not None
        else f"An open level: {entries} entered."
    )
    return (
        f"{policy.candidates_are} {counts} {division}"
        f"run read: {' or '.join(runs[c] for c in policy.run_choice)}; {dating}."
    )
