"""A verdict is bound to what it judged: the entry, its level, the entries it refers to and the counting
code. Forged, stale or mismatched verdicts never show as verified, and never publish their compute."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import hostile_corpus
from aieff.analysis.analyze import analyze
from aieff.dataset.validate import validate
from aieff.verify import record
from aieff.verify.record import Judged, Record, Status, Verdict, code_fingerprint, judge_inputs, merge, shown
from conftest import ROOT, run

BETTER = "entries/toy-level/better.yaml"
DERIVED = 3 * 2 * 1.0e6 * 10 * 1000  # FLOP: 3 x forward (2 FLOP per multiply-add) x 10 epochs x 1000 samples


def _verdict(repo: Path, entry_id: str = "better", **change: object) -> Verdict:
    """The verdict `aieff estimate --record` would write for a verified entry of the toy repository now."""
    ds = validate(repo)
    entry = ds.all_entries()[entry_id]
    judged = judge_inputs(entry, ds.level(entry.benchmark), ds.all_entries())
    fields: dict[str, object] = {
        "level": "toy-level",
        "status": "verified",
        "judged": judged,
        "compute_flop": DERIVED,
        "date": "2026-11-20",
    }
    return Verdict(**(fields | change))


def _write(repo: Path, *verdicts: tuple[str, Verdict]) -> Path:
    path = repo / record.RECORD_PATH
    path.parent.mkdir(exist_ok=True)
    record.write(path, Record(entries=dict(verdicts)))
    return path


def _shown(repo: Path) -> dict[str, record.Shown]:
    return shown(record.load(repo / record.RECORD_PATH), validate(repo))


def test_a_binding_verdict_is_shown_and_publishes_its_compute(toy: Path) -> None:
    _write(toy, ("better", _verdict(toy, compute_flop=DERIVED * 1.05)))  # within the 10% tolerance
    got = _shown(toy)["better"]
    assert (got.status, got.label, got.compute_flop) == (Status.VERIFIED, "verified 2026-11-20", DERIVED * 1.05)
    result = analyze(validate(toy), reestimated=record.published_compute(_shown(toy)))
    row = next(r for r in result.level("toy-level").rows if r.id == "better")
    assert row.flop == DERIVED * 1.05  # the re-estimate is what the entry publishes, not the derivation
    assert row.basis.startswith("re-estimated")


@pytest.mark.parametrize(
    ("edit", "changed"),
    [
        (
            lambda r: (r / BETTER).write_text(
                (r / BETTER).read_text().replace("epochs_to_target: 10", "epochs_to_target: 9")
            ),
            "the entry",
        ),
        (lambda r: (r / BETTER).write_text((r / BETTER).read_text() + 'notes: "a note"\n'), "the entry"),
        (
            lambda r: (r / "entries/toy-level/benchmark.yaml").write_text(
                (r / "entries/toy-level/benchmark.yaml").read_text().replace("threshold: 90", "threshold: 80")
            ),
            "its level",
        ),
    ],
    ids=["numbers", "notes", "level"],
)
def test_a_verdict_is_void_after_an_edit(toy: Path, edit, changed: str) -> None:
    _write(toy, ("better", _verdict(toy)))
    edit(toy)
    got = _shown(toy)["better"]
    assert got.status == Status.PENDING and got.compute_flop is None
    assert got.label == f"pending ({changed} changed since the verdict of 2026-11-20)"


def test_a_verdict_of_other_counting_code_is_void(toy: Path) -> None:
    v = _verdict(toy)
    assert v.judged is not None
    _write(toy, ("better", v.model_copy(update={"judged": v.judged.model_copy(update={"code": "0" * 64})})))
    got = _shown(toy)["better"]
    assert got.status == Status.PENDING
    assert "aieff's counting code changed" in got.label


def test_forged_verdicts_never_show_as_verified(toy: Path) -> None:
    """Hand-written: no binding at all; a binding copied from another entry; a right binding whose compute
    is 100x below what the entry states (it would publish a figure the entry does not support)."""
    other = _verdict(toy, "base")
    _write(
        toy,
        ("base", _verdict(toy, "base").model_copy(update={"judged": None})),
        ("better", _verdict(toy).model_copy(update={"judged": other.judged})),
    )
    assert {k: v.status for k, v in _shown(toy).items()} == {"base": Status.PENDING, "better": Status.PENDING}
    assert _shown(toy)["base"].label == "pending (the verdict names no inputs changed since the verdict of 2026-11-20)"
    _write(toy, ("better", _verdict(toy, compute_flop=DERIVED / 100)))
    got = _shown(toy)["better"]
    assert (got.status, got.compute_flop) == (Status.PENDING, None)
    assert "recorded compute disagrees" in got.label


def test_an_entry_without_a_verdict_is_pending(toy: Path) -> None:
    assert {v.status for v in _shown(toy).values()} == {Status.PENDING}
    assert _shown(toy)["better"].label == "pending (no verdict yet)"


def test_the_readme_and_exports_show_pending_for_a_forged_verdict(toy: Path) -> None:
    shutil.copyfile(
        ROOT / "tests/fixtures/valid/basic/entries/toy-level/base.yaml", toy / "entries/toy-level/base.yaml"
    )
    (toy / "README.md").write_text(hostile_corpus.README)
    (toy / "CITATION.cff").write_text(hostile_corpus.CITATION)
    _write(toy, ("better", _verdict(toy, compute_flop=DERIVED / 100, judged=None)))
    proc = run("build", cwd=toy)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    readme = (toy / "README.md").read_text()
    row = next(line for line in readme.splitlines() if "toy-level/better.yaml" in line)
    assert "verified" not in row and "pending (the verdict names no inputs" in row
    rows = (toy / "exports/aieff.csv").read_text().splitlines()
    better = next(r for r in rows if r.startswith("better,"))
    status = better.split(",")[rows[0].split(",").index("verification")]  # by name: columns may follow it
    assert status == "pending" and f",{DERIVED:g}," in better  # not the forged compute


def test_code_fingerprint_covers_counting_code_only(tmp_path: Path) -> None:
    package = tmp_path / "aieff"
    shutil.copytree(ROOT / "tools/aieff", package, ignore=shutil.ignore_patterns("__pycache__"))
    before = code_fingerprint(package)
    assert code_fingerprint(package) == before and len(before) == 64
    tables = package / "publish/tables.py"
    tables.write_text(tables.read_text() + "\n# a publishing change\n")
    assert code_fingerprint(package) == before  # README layout cannot change a verdict
    for counted in ("verify/flops.py", "verify/logs/mlperf.py", "units.py", "analysis/data/torchvision_ops.json"):
        copy = tmp_path / f"copy-{counted.replace('/', '-')}"
        shutil.copytree(package, copy)
        target = copy / counted
        target.write_bytes(target.read_bytes() + b" ")
        assert code_fingerprint(copy) != before, counted
    (package / "new_stage.py").write_text("X = 1\n")  # a module nobody listed still counts
    assert code_fingerprint(package) != before


def test_unreachable_keeps_only_a_verdict_on_the_same_inputs(toy: Path) -> None:
    v = _verdict(toy)
    old = Record(entries={"better": v})
    offline = {"level": "toy-level", "status": "unreachable", "judged": v.judged, "messages": ["offline"]}
    assert merge(old, {"better": offline}, today="2026-11-22", keep=None).entries["better"] == v
    assert v.judged is not None
    other = v.judged.model_copy(update={"entry": "1" * 64})
    got = merge(old, {"better": offline | {"judged": other}}, today="2026-11-22", keep=None).entries["better"]
    assert got.status == "unreachable" and got.judged == other


def test_judged_is_bound_to_referenced_entries() -> None:
    """An entry whose total run is relative_to another is judged again when that other entry changes."""
    ds = validate(ROOT)
    entries = ds.all_entries()
    relative = [
        e
        for e in entries.values()
        if e.training and e.training.total_run_compute and e.training.total_run_compute.relative_to
    ]
    assert relative, "the dataset has an entry with relative_to"
    e = relative[0]
    assert e.training is not None and e.training.total_run_compute is not None
    ref_id = e.training.total_run_compute.relative_to
    assert ref_id is not None
    level = ds.level(e.benchmark)
    before = judge_inputs(e, level, entries)
    changed = dict(entries) | {ref_id: entries[ref_id].model_copy(update={"notes": "changed"})}
    after = judge_inputs(e, level, changed)
    assert after.differs(before) == ["an entry it refers to"]


def test_record_schema_refuses_a_bad_binding(tmp_path: Path) -> None:
    path = tmp_path / "verification.json"
    bad = {
        "level": "toy-level",
        "status": "verified",
        "judged": {"entry": "x", "level": "0" * 64, "references": "0" * 64, "code": "0" * 64},
    }
    path.write_text(json.dumps({"entries": {"better": bad}}))
    with pytest.raises(record.DataError, match="judged.entry"):
        record.load(path)
    bad["status"] = "pending"  # shown, never recorded
    bad["judged"] = None
    path.write_text(json.dumps({"entries": {"better": bad}}))
    with pytest.raises(record.DataError, match="status"):
        record.load(path)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=repo, check=True, capture_output=True
    )


def test_check_fails_a_change_that_edits_the_record(toy: Path) -> None:
    _write(toy, ("better", _verdict(toy, status="claimed", compute_flop=None)))
    _git(toy, "init", "-q", "-b", "main")
    _git(toy, "add", "-A")
    _git(toy, "commit", "-qm", "base")
    _write(toy, ("better", _verdict(toy)))  # a pull request writes itself a verified verdict
    proc = run("check", "--changed-since", "HEAD", cwd=toy)
    assert proc.returncode == 1
    assert "exports/verification.json changed since HEAD" in proc.stderr
    assert "only by the nightly" in proc.stderr
    _git(toy, "checkout", "-q", "HEAD", "--", record.RECORD_PATH)
    assert run("check", "--changed-since", "HEAD", cwd=toy).returncode == 0


def test_judged_round_trips_through_the_record(toy: Path) -> None:
    v = _verdict(toy)
    path = _write(toy, ("better", v))
    again = record.load(path).entries["better"]
    assert isinstance(again.judged, Judged) and again == v


def test_every_entry_is_counted_in_one_status_column(toy: Path) -> None:
    import csv

    (toy / "README.md").write_text(hostile_corpus.README)
    (toy / "CITATION.cff").write_text(hostile_corpus.CITATION)
    _write(toy, ("better", _verdict(toy)), ("base", _verdict(toy, "base", status="unreachable", compute_flop=None)))
    assert run("build", cwd=toy).returncode == 0
    (level,) = list(csv.DictReader((toy / "exports/levels.csv").open()))
    counts = {k: int(level[k]) for k in ("verified", "claimed", "failed", "unreachable", "pending")}
    assert counts == {"verified": 1, "claimed": 0, "failed": 0, "unreachable": 1, "pending": 0}
    assert sum(counts.values()) == int(level["entries"])
