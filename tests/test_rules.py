"""A level's policy is data that aieff enforces and reports: each rule kind has a fixture that breaks it
under tests/fixtures/invalid/E040-E043; here, what a reader sees of a policy that holds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import hostile_corpus
from aieff.dataset.validate import validate
from conftest import FIXTURES, TOY, run

POLICY = FIXTURES / "policy" / "overlay"


@pytest.fixture
def policy_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(TOY, repo)
    shutil.copytree(POLICY, repo, dirs_exist_ok=True)
    return repo


def test_a_level_whose_entries_follow_its_policy_is_clean(policy_repo: Path) -> None:
    assert validate(policy_repo).diagnostics == []


def test_analyze_names_the_rule_each_entry_satisfies(policy_repo: Path) -> None:
    proc = run("analyze", "--format", "json", cwd=policy_repo)
    assert proc.returncode == 0, proc.stderr
    (level,) = json.loads(proc.stdout)["levels"]
    rules = {r["id"]: r["rule"] for r in level["rows"]}
    assert rules == {
        "base": "Base net; closed division; its only run; dated by its run",
        "better": "Better net; closed division; its only run; dated by its run",
    }
    assert "3 candidates: 2 entered, 1 not entered" in level["policy"]
    assert level["not_entered"] == [["Broken net", "No public log: its run cannot be read."]]
    text = run("analyze", cwd=policy_repo).stdout
    assert "| Better net; closed division; its only run; dated by its run" in text
    assert "not entered: Broken net: No public log" in text


def test_the_readme_states_the_rules_and_what_is_not_entered(policy_repo: Path) -> None:
    (policy_repo / "README.md").write_text(hostile_corpus.README)
    (policy_repo / "CITATION.cff").write_text(hostile_corpus.CITATION)
    assert run("build", cwd=policy_repo).returncode == 0
    readme = (policy_repo / "README.md").read_text()
    assert "Rules, checked by `aieff validate`: Every row of the toy paper's Table 1. 3 candidates" in readme
    assert "Not entered: Broken net: No public log: its run cannot be read." in readme


def test_a_source_date_that_differs_is_kept_beside_the_fitted_date(policy_repo: Path) -> None:
    better = policy_repo / "entries/toy-level/better.yaml"
    better.write_text(better.read_text() + "  source_date: 2018-06-01\n")
    assert validate(policy_repo).diagnostics == []
    (level,) = json.loads(run("analyze", "--format", "json", cwd=policy_repo).stdout)["levels"]
    row = next(r for r in level["rows"] if r["id"] == "better")
    assert row["date"] == "2018-07-09"  # the fit uses the run's date
    assert row["rule"].endswith("dated by its run (source: 2018-06-01)")
    better.write_text(better.read_text().replace("2018-06-01", "2018-07-09"))
    (diag,) = validate(policy_repo).diagnostics
    assert (diag.code, diag.field) == ("E043", "submission.source_date")


def test_a_withdrawn_entry_frees_its_candidate(policy_repo: Path) -> None:
    better = policy_repo / "entries/toy-level/better.yaml"
    better.write_text(better.read_text() + 'withdrawn:\n  date: 2026-01-01\n  reason: "a test"\n')
    codes = {(d.code, d.field) for d in validate(policy_repo).diagnostics}
    assert codes == {("E042", "policy.candidates[1]")}  # Better net must now be listed as not entered
