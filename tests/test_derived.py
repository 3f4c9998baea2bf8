"""One run, several levels: an entry derived from another entry's run reads that entry's pinned log and
architecture, is verified from them, and its verdict is bound to the source entry too."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from aieff.analysis.analyze import analyze
from aieff.dataset.validate import validate
from aieff.verify import record
from aieff.verify.record import Status, shown
from conftest import FIXTURES, run

CASE = FIXTURES / "invalid" / "E074" / "other-forward-cost" / "overlay"  # a source with a log, a second level
LOG = "epoch\ttop1Accuracy\n1\t60\n2\t85\n3\t91\n"
SOURCE = "entries/toy-level/base.yaml"
DERIVED = "entries/toy-easy/easy-base.yaml"


@pytest.fixture
def two_levels(toy: Path) -> Path:
    """The toy repository with a second, easier level whose baseline reads the toy baseline's run."""
    shutil.copytree(CASE, toy, dirs_exist_ok=True)
    easy = toy / DERIVED
    easy.write_text(easy.read_text().replace("value: 2.0e6", "value: 1.0e6"))
    assert hashlib.sha256(LOG.encode()).hexdigest() in (toy / SOURCE).read_text()
    return toy


def test_a_derived_entry_reads_its_sources_artifacts(two_levels: Path) -> None:
    ds = validate(two_levels)
    assert ds.diagnostics == []
    source, derived = ds.all_entries()["base"], ds.all_entries()["easy-base"]
    assert derived.derived_from == "base"
    assert derived.artifacts == source.artifacts and derived.artifacts is not None
    assert derived.artifacts.training_log is not None
    assert derived.artifacts.training_log.path == "entries/toy-level/base.tsv"  # the source's log, not a copy
    assert not (two_levels / "entries/toy-easy/base.tsv").exists()


def test_the_derived_verdict_is_void_when_the_source_changes(two_levels: Path) -> None:
    ds = validate(two_levels)
    entry = ds.all_entries()["easy-base"]
    judged = record.judge_inputs(entry, ds.level("toy-easy"), ds.all_entries())
    flop = 3 * 2 * 1.0e6 * 2 * 1000  # 3 x forward FLOP x 2 epochs x 1000 samples
    verdict = record.Verdict(level="toy-easy", status="verified", judged=judged, compute_flop=flop, date="2026-11-20")
    path = two_levels / record.RECORD_PATH
    path.parent.mkdir(exist_ok=True)
    record.write(path, record.Record(entries={"easy-base": verdict}))
    assert shown(record.load(path), validate(two_levels))["easy-base"].status == Status.VERIFIED
    src = two_levels / SOURCE
    src.write_text(src.read_text() + 'notes: "the source run, annotated"\n')  # an edit to the source only
    got = shown(record.load(path), validate(two_levels))["easy-base"]
    assert got.status == Status.PENDING and got.compute_flop is None
    assert "an entry it refers to changed" in got.label


def test_a_changed_source_log_voids_the_derived_verdict(two_levels: Path) -> None:
    """The source's pinned log is part of what the derived verdict judged (through the resolved entry)."""
    ds = validate(two_levels)
    before = record.judge_inputs(ds.all_entries()["easy-base"], ds.level("toy-easy"), ds.all_entries())
    src = two_levels / SOURCE
    new_log = LOG.replace("85", "86")
    (two_levels / "entries/toy-level/base.tsv").write_text(new_log)
    old_sha, new_sha = (hashlib.sha256(x.encode()).hexdigest() for x in (LOG, new_log))
    src.write_text(src.read_text().replace(old_sha, new_sha))
    ds = validate(two_levels)
    after = record.judge_inputs(ds.all_entries()["easy-base"], ds.level("toy-easy"), ds.all_entries())
    assert before.entry != after.entry and before.references != after.references


def test_the_table_says_a_derived_entry_is_an_upper_bound(two_levels: Path) -> None:
    from aieff.publish.tables import level_table

    level = analyze(validate(two_levels)).level("toy-easy")
    (row,) = level.rows
    assert row.derived_from == "base"
    text = level_table(level, {})
    assert "from the run of `base`" in text
    assert "upper bound" in text


torch = pytest.importorskip("torch")


def test_a_derived_entry_verifies_from_the_shared_log(two_levels: Path) -> None:
    from aieff.verify.flops import build_torchvision, count_forward, example_input

    macs = count_forward(build_torchvision("resnet18", {}), example_input("image", resolution=32)).flop / 2
    src = two_levels / SOURCE
    text = src.read_text().replace("artifacts:\n", "artifacts:\n  architecture:\n    torchvision: resnet18\n")
    text = text.replace("value: 1.0e6", f"value: {macs:.8g}").replace("epochs_to_target: 40", "epochs_to_target: 3")
    src.write_text(_without_claims(text))  # the toy baseline's 40-epoch claim goes: the training facts are judged
    easy = two_levels / DERIVED
    easy.write_text(easy.read_text().replace("value: 1.0e6", f"value: {macs:.8g}"))
    assert run("validate", cwd=two_levels).returncode == 0
    proc = run("estimate", SOURCE, DERIVED, "--format", "json", cwd=two_levels)
    got = {e["id"]: e for e in json.loads(proc.stdout)}
    assert got["easy-base"]["status"] == "verified", got["easy-base"]["messages"]
    assert got["easy-base"]["compute_flop"] == pytest.approx(3 * 2 * macs * 2 * 1000)  # 85 >= 80 at epoch 2
    assert got["base"]["status"] == "verified", got["base"]["messages"]  # 91 >= 90 at epoch 3, same log
    assert got["base"]["compute_flop"] == pytest.approx(3 * 2 * macs * 3 * 1000)


def _without_claims(text: str) -> str:
    """The entry text with its claims block removed (the toy baseline's 40-epoch claim)."""
    lines, out, skip = text.splitlines(keepends=True), [], False
    for line in lines:
        if line.startswith("claims:"):
            skip = True
            continue
        if skip and not line.startswith(" "):
            skip = False
        if not skip:
            out.append(line)
    return "".join(out)


def test_check_re_estimates_a_derived_entry_when_its_source_changes(two_levels: Path) -> None:
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=two_levels, check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", "x", "--allow-empty")
    git("add", "-A")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "toy")
    src = two_levels / SOURCE
    src.write_text(src.read_text() + 'notes: "annotated"\n')
    proc = run("check", "--changed-since", "HEAD", cwd=two_levels)
    assert f"{DERIVED}: it reads the run of {SOURCE}: the entry file changed" in proc.stdout, proc.stdout
