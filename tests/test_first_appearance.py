"""benchmarks/first_appearance.py: an entry is dated by the earliest commit on any ref holding its logs, in UTC."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml

from aieff.dataset.validate import validate

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("first_appearance", ROOT / "benchmarks" / "first_appearance.py")
assert _spec and _spec.loader
fa = importlib.util.module_from_spec(_spec)
sys.modules["first_appearance"] = fa  # dataclasses look their module up
_spec.loader.exec_module(fa)
additions, date_entry, dated_by, main, rewrite = fa.additions, fa.date_entry, fa.dated_by, fa.main, fa.rewrite
LEVELS = ("gpt2-fineweb-3-28", "gpt2-medium-fineweb-2-92")


def _git(repo: Path, *args: str, when: str = "2025-01-01T12:00:00+00:00") -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "a",
        "GIT_AUTHOR_EMAIL": "a@example.org",
        "GIT_COMMITTER_NAME": "a",
        "GIT_COMMITTER_EMAIL": "a@example.org",
        "GIT_AUTHOR_DATE": when,
        "GIT_COMMITTER_DATE": when,
    }
    done = subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _commit(repo: Path, files: dict[str, str], when: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
        _git(repo, "add", name)
    _git(repo, "commit", "-q", "-m", f"at {when}", when=when)
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture
def speedrun(tmp_path: Path) -> dict[str, str]:
    """A repository where a run's log is on a PR head (late evening at UTC-7) weeks before master has it."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "master")
    _commit(repo, {"README.md": "speedrun\n"}, "2025-01-01T12:00:00+00:00")
    _git(repo, "checkout", "-q", "-b", "contributor")
    pr = _commit(repo, {"pr/run-a.txt": "step:10/10 val_loss:3.2700\n"}, "2025-03-01T23:30:00-07:00")
    pr2 = _commit(repo, {"pr/run-b.txt": "step:10/10 val_loss:3.2790\n"}, "2025-03-05T10:00:00+00:00")
    _git(repo, "update-ref", "refs/pull/7/head", "HEAD")
    _git(repo, "checkout", "-q", "master")
    _git(repo, "branch", "-q", "-D", "contributor")
    merged = _commit(
        repo,
        {
            "records/r1/run-a.txt": "step:10/10 val_loss:3.2700\n",
            "records/r1/run-b.txt": "step:10/10 val_loss:3.2790\n",
        },
        "2025-04-10T09:00:00+00:00",
    )
    return {"git_dir": str(repo / ".git"), "pr": pr, "pr2": pr2, "merged": merged}


def _entry(runs: list[str], commit: str) -> dict:
    logs = [{"url": f"https://raw.githubusercontent.com/o/r/{commit}/records/r1/{run}"} for run in runs]
    arts = {"training_log": logs[0]} if len(logs) == 1 else {"training_logs": logs}
    return {"id": "x", "publication": {"date": "2025-04-10"}, "artifacts": arts}


def test_the_earliest_commit_on_any_ref_dates_the_run_in_utc(speedrun: dict[str, str]) -> None:
    git_dir = Path(speedrun["git_dir"])
    d = date_entry(git_dir, _entry(["run-a.txt"], speedrun["merged"]), additions(git_dir))
    assert (d.first.commit, d.ref, d.first.path) == (speedrun["pr"], "refs/pull/7/head", "pr/run-a.txt")
    assert d.new == date(2025, 3, 2)  # 23:30 at UTC-7 on March 1 is March 2 in UTC
    assert d.master is not None and d.master.commit == speedrun["merged"] and d.master.day == date(2025, 4, 10)
    cite = dated_by(d, "o/r")
    assert cite["url"] == f"https://github.com/o/r/commit/{speedrun['pr']}"
    assert "refs/pull/7/head" in cite["title"] and "2025-03-02T06:30Z" in cite["locator"]
    assert f"on master from commit {speedrun['merged'][:8]}" in cite["locator"]


def test_several_runs_are_dated_when_the_last_of_them_appeared(speedrun: dict[str, str]) -> None:
    git_dir = Path(speedrun["git_dir"])
    d = date_entry(git_dir, _entry(["run-a.txt", "run-b.txt"], speedrun["merged"]), additions(git_dir))
    assert d.first.commit == speedrun["pr2"] and d.new == date(2025, 3, 5) and d.runs == 2


def test_rewrite_moves_the_date_cites_the_commit_and_keeps_the_readme_date(speedrun: dict[str, str]) -> None:
    git_dir = Path(speedrun["git_dir"])
    d = date_entry(git_dir, _entry(["run-a.txt"], speedrun["merged"]), additions(git_dir))
    text = (
        'id: "x"\npublication:\n  title: "t"\n  date: 2025-04-10\nsubmission:\n  candidate: "record 1"\n'
        '  dated_by:\n    title: "old"\n    url: "https://github.com/o/r/commit/0"\n    locator: "old"\n'
        "  source_date: 2025-03-01\n"
        "notes: \"Run a. Dated 2025-04-10, when its run's log first appeared in the repository"
        " (the README's record date is 2025-03-01).\"\n"
    )
    new = yaml.safe_load(rewrite(text, d, dated_by(d, "o/r")))
    assert new["publication"]["date"] == date(2025, 3, 2)
    assert new["submission"]["source_date"] == date(2025, 3, 1)
    assert new["submission"]["dated_by"]["url"].endswith(speedrun["pr"])
    assert "Dated 2025-03-02, when" in new["notes"] and "publication.date 2025-04-10 -> 2025-03-02" in new["notes"]


def test_main_prints_and_writes_every_entry_of_a_folder_once(speedrun: dict[str, str], tmp_path: Path, capsys) -> None:
    folder = tmp_path / "entries" / "lvl"
    folder.mkdir(parents=True)
    doc = _entry(["run-a.txt"], speedrun["merged"])
    doc["submission"] = {"dated_by": {"title": "t", "url": "https://github.com/o/r/commit/0", "locator": "l"}}
    doc["notes"] = "Run a."
    (folder / "x.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
    assert main(["--git-dir", speedrun["git_dir"], "--write", str(folder)]) == 0
    assert re.search(r"^x\s+2025-04-10 -> 2025-03-02\s+\w{8} refs/pull/7/head", capsys.readouterr().out, re.M)
    written = (folder / "x.yaml").read_text()
    new = yaml.safe_load(written)
    assert new["publication"]["date"] == date(2025, 3, 2) and new["submission"]["source_date"] == date(2025, 4, 10)
    assert main(["--git-dir", speedrun["git_dir"], "--write", str(folder)]) == 0
    assert (folder / "x.yaml").read_text() == written  # a second run is a no-op


@pytest.mark.parametrize("level", LEVELS)
def test_every_entry_is_dated_by_the_utc_day_of_the_commit_its_locator_cites(level: str) -> None:
    """The snapshot is not in CI; what the entries state must at least agree with itself."""
    entries = [e for e in validate(ROOT, jobs=1).all_entries().values() if e.benchmark == level]
    assert entries
    for e in entries:
        sub = e.submission
        assert sub is not None and sub.dated_by is not None, e.id
        stamp = re.search(r"committed (\d{4}-\d{2}-\d{2})T\d{2}:\d{2}Z", sub.dated_by.locator)
        assert stamp and date.fromisoformat(stamp[1]) == e.publication.date, e.id
        assert re.fullmatch(
            r"https://github\.com/KellerJordan/modded-nanogpt/commit/[0-9a-f]{40}", str(sub.dated_by.url)
        )
        assert sub.source_date != e.publication.date, e.id
