"""The GPT-2 level is complete: every track-1 record is an entry or not entered with a reason, and each
entry reads the runs its submission names (no first-file-in-name-order pick, no threshold filter)."""

from __future__ import annotations

import re
from pathlib import Path

from aieff.dataset.schema import Benchmark, Entry
from aieff.dataset.validate import validate

ROOT = Path(__file__).resolve().parents[1]
LEVEL_ID = "gpt2-fineweb-3-28"


def _level() -> tuple[Benchmark, list[Entry]]:
    ds = validate(ROOT, jobs=1)
    entries = [e for e in ds.all_entries().values() if e.benchmark == LEVEL_ID]
    return ds.level(LEVEL_ID), entries


def test_every_row_of_the_record_table_is_a_candidate() -> None:
    level, _ = _level()
    assert level.policy is not None
    expected = [f"record {i}" for i in range(1, 22)] + ["record 21b", "record 21c"]
    expected += [f"record {i}" for i in range(22, 90)]
    assert level.policy.candidates == expected


def test_each_candidate_is_entered_once_or_not_entered_with_a_reason() -> None:
    level, entries = _level()
    assert level.policy is not None
    entered = [e.submission.candidate for e in entries if e.submission]
    assert len(entered) == len(set(entered)) == len(entries)
    skipped = {n.candidate: n.reason for n in level.policy.not_entered}
    assert set(entered) | set(skipped) == set(level.policy.candidates)
    assert not set(entered) & set(skipped)
    assert set(skipped) == {"record 3", "record 21", "record 21c", "record 66", "record 69", "record 86"}
    for reason in skipped.values():
        assert reason.startswith(("No public log", "No run of its submitted version reaches 3.28"))


def test_an_entry_is_the_record_its_name_says_and_reads_every_run_of_its_version() -> None:
    _, entries = _level()
    for e in entries:
        sub = e.submission
        assert sub is not None and e.artifacts is not None, e.id
        match = re.fullmatch(r"nanogpt-r(\d+)-.*", e.id)
        if match:
            number = int(match.group(1))
            assert e.model == f"modded-nanogpt #{number}", e.id
            assert sub.candidate == ("record 21b" if number == 21 else f"record {number}"), e.id
        logs = e.artifacts.logs()
        assert logs, e.id
        if len(logs) > 1:
            assert sub.run_choice == "submitted-version" and sub.version, e.id
            assert all(f"/{sub.version}/" in str(log.url) for log in logs), e.id
        assert sub.dated_by is not None and "/commit/" in str(sub.dated_by.url), e.id


def test_the_rules_state_no_hand_filter() -> None:
    level, entries = _level()
    assert "4%" not in level.rules and "name order" not in level.rules and "not entered yet" not in level.rules
    for e in entries:
        assert "name order" not in (e.notes or "") or "issue 19" in (e.notes or ""), e.id
