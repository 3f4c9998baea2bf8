"""Test the docs: YAML examples validate, and README's commands exist."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from aieff.cli import EXAMPLES
from conftest import ROOT, run


def test_contributing_example_entry_validates(tmp_path: Path) -> None:
    block = re.search(r"```yaml\n(.*?)```", (ROOT / "CONTRIBUTING.md").read_text(), re.S).group(1)
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "entries", repo / "entries")
    (repo / "entries/alexnet-imagenet/my-model.yaml").write_text(block)
    proc = run("validate", cwd=repo)
    assert proc.returncode == 0, proc.stdout


def test_readme_lists_every_command_and_make_targets() -> None:
    text = (ROOT / "README.md").read_text()
    for name in ("validate", "new", "analyze", "build", "schema", "estimate", "check", "probe", "cache", "record"):
        assert f"`aieff {name}" in text
    assert "make build" in text and "make test" in text
    assert set(EXAMPLES) == {
        "validate",
        "new",
        "new-level",
        "analyze",
        "build",
        "schema",
        "estimate",
        "check",
        "cache",
        "record",
        "probe",
    }


def test_pr_only_adding_an_entry_passes_without_touching_generated_files(tmp_path: Path) -> None:
    """What the PR workflow runs passes for a new entry while README tables are now stale."""
    block = re.search(r"```yaml\n(.*?)```", (ROOT / "CONTRIBUTING.md").read_text(), re.S).group(1)
    repo = tmp_path / "repo"
    for name in ("entries", "CITATION.cff", "README.md", "charts", "exports", "schema", "docs", "efficiency_sota.csv"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copyfile)(src, repo / name)
    (repo / "entries/alexnet-imagenet/my-model.yaml").write_text(block)
    workflow = (ROOT / ".github/workflows/pr.yml").read_text()
    assert "aieff check --changed-since" in workflow
    assert all(f"aieff {c}" in workflow for c in ("validate", "analyze", 'build --edits-since "$BASE"'))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    (repo / "entries/alexnet-imagenet/my-model.yaml").unlink()
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "base"]):
        subprocess.run([*git, *args], cwd=repo, check=True)
    (repo / "entries/alexnet-imagenet/my-model.yaml").write_text(block)
    before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}
    for c in (["validate"], ["analyze"], ["build", "--edits-since", "main"]):
        proc = run(*c, cwd=repo)
        assert proc.returncode == 0, proc.stderr
    assert {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts} == before
    # A hand edit to a generated file fails the PR; regenerating it is fine.
    readme = repo / "README.md"
    readme.write_text(readme.read_text().replace("| 1 |", "| 1 (best!) |", 1))
    proc = run("build", "--edits-since", "main", cwd=repo)
    assert proc.returncode == 1 and "hand-edited: README.md changed since main" in proc.stderr
    assert run("build", cwd=repo).returncode == 0
    assert run("build", "--edits-since", "main", cwd=repo).returncode == 0
    subprocess.run(["git", "checkout", "--", "."], cwd=repo, check=True)
    assert run("build", "--check", cwd=repo).returncode == 1  # stale against the new entry, and the PR does not care


def test_contributing_artifacts_example_validates(tmp_path: Path) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "CONTRIBUTING.md").read_text(), re.S)
    entry, artifacts = blocks[0], blocks[1]
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "entries", repo / "entries")
    (repo / "entries/alexnet-imagenet/my-model.tsv").write_text("epoch\ttop5Accuracy\n1\t80\n")
    (repo / "entries/alexnet-imagenet/my-model.yaml").write_text(entry + artifacts)
    proc = run("validate", cwd=repo)
    assert proc.returncode == 0, proc.stdout


def test_recorded_verification_is_current(tmp_path: Path) -> None:
    """exports/verification.json is what `aieff estimate --all --record` writes today.

    Run as CI runs it, with an empty artifact cache and no route to the artifacts' hosts: entries whose
    artifacts are unreachable keep their recorded verdicts, every other entry is estimated again.
    """
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "entries", repo / "entries")
    out = repo / "verification.json"
    shutil.copyfile(ROOT / "exports/verification.json", out)  # re-recording the same verdicts is a no-op
    offline = {"AIEFF_CACHE": str(tmp_path / "empty-cache"), "AIEFF_FETCH_DEADLINE": "1"}
    proc = run("estimate", "--all", "--record", "verification.json", cwd=repo, env=offline)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert run("estimate", "--all", "--record", str(tmp_path / "outside.json"), cwd=repo).returncode == 2
    assert out.read_text() == (ROOT / "exports/verification.json").read_text()
