"""One status type and structured reasons, end to end: raised as data (a refusal's code, a named condition),
carried through the estimate into `--format json` and the verification record, and read back by the README
label without parsing a message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aieff.dataset.validate import validate
from aieff.refusals import Refused
from aieff.repo import DataError, NotReached, Unreachable
from aieff.verdict import CONDITIONS, MEANINGS, Reason, Status, legend, reason_of
from aieff.verify import record
from conftest import run

BETTER = "entries/toy-level/better.yaml"


def _with_architecture(toy: Path, name: str) -> None:
    """The toy entry with a torchvision architecture to count (and no training log)."""
    path = toy / BETTER
    path.write_text(path.read_text() + f"artifacts:\n  architecture:\n    torchvision: {name}\n")


def test_estimate_json_rows_and_reasons_are_objects_and_the_record_keeps_them(toy: Path) -> None:
    pytest.importorskip("torch")
    _with_architecture(toy, "resnet18")  # the entry says 1e6 multiply-adds at 32 px: resnet18 counts far more
    proc = run("estimate", BETTER, "--format", "json", "--record", "v.json", cwd=toy)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [est] = json.loads(proc.stdout)
    assert est["status"] == "claimed"
    [row] = est["rows"]
    assert set(row) == {"what", "claimed", "counted", "agreement", "unit", "claimed_text", "counted_text"}
    assert (row["what"], row["claimed"], row["unit"]) == ("forward cost @32px", 1.0e6, "multiply-adds")
    assert row["counted"] > 10 * row["claimed"] and row["agreement"].startswith("differs +")
    assert row["counted_text"] == f"{row['counted']:,} multiply-adds"
    differs, no_log = est["reasons"]
    assert differs == {
        "code": "forward-cost-differs",
        "detail": f"forward cost @32px: entry says 1e+06 multiply-adds, counted {row['counted']:.4g}",
        "field": "training.forward_cost",
        "claimed": 1.0e6,
        "counted": row["counted"],
    }
    assert no_log["code"] == "no-training-log" and no_log["field"] == "artifacts.training_log"
    assert [r["detail"] for r in est["reasons"]] == est["messages"][-2:]  # the text output's lines, unchanged

    doc = json.loads((toy / "v.json").read_text())
    assert doc["format"] == record.FORMAT == 2
    assert doc["entries"]["better"]["reasons"] == est["reasons"]
    shown = record.shown(record.load(toy / "v.json"), validate(toy))["better"]
    pct = f"{(row['counted'] - 1e6) / 1e6:+.0%}"
    assert shown.status is Status.CLAIMED
    assert shown.label == f"claimed 2026-11-22 (forward cost differs {pct}; no training log)"


def test_the_label_reads_reasons_not_messages(toy: Path) -> None:
    """A message that reads like a reason gives none; a reason with no message does."""
    ds = validate(toy)
    entry = ds.all_entries()["better"]
    judged = record.judge_inputs(entry, ds.level("toy-level"), ds.all_entries())
    look_alike = "forward cost: entry says 1e+06 multiply-adds, counted 2e+06"
    only_message = record.Verdict(level="toy-level", status="claimed", judged=judged, messages=[look_alike])
    only_reason = record.Verdict(
        level="toy-level",
        status="claimed",
        judged=judged,
        reasons=[Reason(code="forward-cost-differs", detail="x", claimed=1e6, counted=2e6)],
    )
    labels = [
        record.shown(record.Record(entries={"better": v}), ds)["better"].label for v in (only_message, only_reason)
    ]
    assert labels == ["claimed", "claimed (forward cost differs +100%)"]


def test_a_refusal_in_the_sandbox_reaches_the_record_with_its_code(toy: Path, tmp_path: Path) -> None:
    _with_architecture(toy, "alexnet")
    env = {"AIEFF_SANDBOX_REQUIRE": "no-such-protection", "AIEFF_CACHE": str(tmp_path / "cache")}
    proc = run("estimate", BETTER, "--format", "json", "--record", "v.json", cwd=toy, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    [est] = json.loads(proc.stdout)
    assert est["status"] == "failed"
    [reason] = est["reasons"]
    assert reason["code"] == "A302" and reason["detail"].startswith("AIEFF_SANDBOX_REQUIRE names no-such-protection")
    assert est["messages"] == [f"A302 sandbox-require-unknown: {reason['detail']}"]  # the text output's line
    verdict = record.load(toy / "v.json").entries["better"]
    assert verdict.status is Status.FAILED and [r.code for r in verdict.reasons] == ["A302"]
    label = record.shown(record.load(toy / "v.json"), validate(toy))["better"].label
    assert label.startswith("failed 2026-11-22 (A302 sandbox-require-unknown: AIEFF_SANDBOX_REQUIRE names")


def test_reason_of_keeps_a_code_through_a_wrapping_error() -> None:
    inner = Refused("A401", "record 3 declares 9 GB")
    try:
        try:
            raise inner
        except DataError as exc:
            raise DataError(f"run 0 (a.tfevents): {exc}") from exc
    except DataError as wrapped:
        got = reason_of(wrapped)
    assert (got.code, got.detail) == ("A401", "run 0 (a.tfevents): A401 log-record-length: record 3 declares 9 GB")
    assert reason_of(inner) == Reason(code="A401", detail="record 3 declares 9 GB")
    assert reason_of(Unreachable("x: unreachable")).code == "unreachable"
    assert reason_of(NotReached("never")).code == "not-reached"
    assert reason_of(DataError("sha256 mismatch")).code == "refused"
    for code in ("unreachable", "not-reached", "refused"):
        assert code in CONDITIONS


def test_a_format_1_record_is_still_read(tmp_path: Path) -> None:
    """Format 1 named no format and gave no reasons; it loads, and is written back as the current format."""
    path = tmp_path / "verification.json"
    old = {"level": "toy-level", "status": "claimed", "messages": ["no training log: compute not re-estimated"]}
    path.write_text(json.dumps({"entries": {"better": old}}))
    got = record.load(path)
    assert got.format == 1 and got.entries["better"].status is Status.CLAIMED and got.entries["better"].reasons == []
    record.write(path, got)
    assert json.loads(path.read_text())["format"] == 2
    path.write_text(json.dumps({"format": 3, "entries": {}}))
    with pytest.raises(DataError, match="format"):
        record.load(path)
    path.write_text(json.dumps({"format": 2, "entries": {"better": old | {"reasons": [{"code": "A1", "detail": ""}]}}}))
    with pytest.raises(DataError, match="reasons.0.code"):
        record.load(path)


def test_every_status_has_a_meaning_and_the_legend_names_each_once() -> None:
    assert set(MEANINGS) == set(Status)
    text = legend()
    assert all(text.count(f"**{s}**") == 1 for s in Status)
    assert [s for s in Status if s.recorded] == [Status.VERIFIED, Status.CLAIMED, Status.FAILED, Status.UNREACHABLE]
