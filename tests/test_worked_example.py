"""CONTRIBUTING's worked example, run as written: a new level, probe, an export, entries, the PR check
offline with its report, the cache seeded from a local git directory, build, and the README row the
nightly makes verified."""

from __future__ import annotations

import hashlib
import re
import shlex
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, TOY, run, run_script
from hostile_corpus import CITATION, README
from test_contrib import git, source_repo

pytest.importorskip("torch")

DOC = (ROOT / "CONTRIBUTING.md").read_text()
SECTION = DOC[DOC.index("### Worked example") :]
COMMANDS = [
    line
    for line in re.search(r"<!-- worked example: commands -->\n```sh\n(.*?)```", SECTION, re.S).group(1).splitlines()
    if line.strip()
]
BENCHMARK, ENTRY = re.findall(r"```yaml\n(.*?)```", SECTION, re.S)
EXPORT_SCRIPT = re.search(r"```python\n(.*?)```", SECTION, re.S).group(1)
NIGHTLY = ["aieff estimate --all --record exports/verification.json", "aieff build --fresh"]
PATTERN = "step:(?P<step>[0-9]+)/[0-9]+ val_loss:(?P<value>[0-9.]+)"
# Each run's log starts with the script that made it (9 lines with the rule), as modded-nanogpt's do: the
# level's batch_reader reads 16 sequences of 64 tokens a step from it.
SCRIPT = (
    "import os\nimport sys\nwith open(sys.argv[0]) as f:\n    code = f.read()\nclass Hyperparameters:\n"
    "    batch_size : int = 16 # batch size, in sequences, across all devices\n"
    "    sequence_length : int = 64 # sequence length, in tokens\nargs = Hyperparameters()\n" + "=" * 100 + "\n"
)
LOGS = {
    "logs/reference.log": SCRIPT
    + "".join(f"step:{s}/400 val_loss:{v}\n" for s, v in [(100, 5.2), (200, 4.5), (400, 4.05)]),
    "logs/baseline.log": SCRIPT
    + "".join(f"step:{s}/400 val_loss:{v}\n" for s, v in [(100, 5.1), (200, 4.3), (300, 3.98), (400, 3.9)]),
}


def _repo(folder: Path) -> Path:
    """A clone of the dataset as a contributor has it: committed, with origin/main at that commit."""
    repo = folder / "aieff"
    shutil.copytree(TOY, repo)
    (repo / "README.md").write_text(README)
    (repo / "CITATION.cff").write_text(CITATION)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "dataset")
    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    return repo


def _readme_row(repo: Path) -> str:
    text = (repo / "README.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("|") and "Tiny GPT (2 layers, width 64)" in line]
    assert len(rows) == 1, rows
    return rows[0]


def test_the_worked_example_runs_as_written(tmp_path: Path) -> None:
    assert [c for c in NIGHTLY if c in DOC] == NIGHTLY  # the nightly's commands, as CONTRIBUTING names them
    repo = _repo(tmp_path)
    runs, commit = source_repo(tmp_path / "tiny-runs", {k: v.encode() for k, v in LOGS.items()})
    env = {"AIEFF_CACHE": str(tmp_path / "cache"), "AIEFF_FETCH_DEADLINE": "10"}
    level = repo / "entries/tiny-lm-4"
    seen: list[str] = []
    for command in COMMANDS:
        if command.startswith("# fill in entries/tiny-lm-4/benchmark.yaml"):
            (level / "benchmark.yaml").write_text(BENCHMARK)
            continue
        if command.startswith("# write the export"):
            (level / "exports").mkdir()
            (level / "exports/make_exports.py").write_text(EXPORT_SCRIPT)
            continue
        if command.startswith("# fill in entries/tiny-lm-4/tiny-gpt-baseline.yaml"):
            export = (level / "exports/tiny_gpt.pt2").read_bytes()
            text = ENTRY.replace("SHA256_OF_EXPORT", hashlib.sha256(export).hexdigest())
            text = text.replace("SHA256_OF_LOG", hashlib.sha256(LOGS["logs/baseline.log"].encode()).hexdigest())
            (level / "tiny-gpt-baseline.yaml").write_text(text.replace("COMMIT", commit))
            continue
        assert not command.startswith("#"), f"a step the test does not know: {command}"
        words = shlex.split(command)
        if words[0] == "python":
            run_script(repo / words[1])
            continue
        assert words[0] == "aieff", command
        proc = run(*words[1:], cwd=repo, env=env)
        seen.append(f"$ {command}\n{proc.stdout}{proc.stderr}")
        _expect(command, proc, seen)
    assert sum(c.startswith("aieff check") for c in COMMANDS) == 2
    # Before the nightly, a rebuild shows the new entry pending: no verdict is bound to it yet.
    assert run("build", cwd=repo, env=env).returncode == 0
    assert "| pending" in _readme_row(repo), _readme_row(repo)
    for command in NIGHTLY:
        proc = run(*shlex.split(command)[1:], cwd=repo, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "| verified" in _readme_row(repo), _readme_row(repo)


def _expect(command: str, proc, seen: list[str]) -> None:
    """What each step of the worked example must print (the doc's prose says the same)."""
    out = proc.stdout + proc.stderr
    context = "\n".join(seen)
    assert "Traceback" not in out, context
    if command.startswith("aieff new-level"):
        assert proc.returncode == 0, context
    elif command.startswith("aieff probe ../tiny-runs/logs/reference.log"):
        assert proc.returncode == 1 and "never reaches the level" in out and "best 4.05" in out, context
    elif command.startswith("aieff probe ../tiny-runs/logs/baseline.log"):
        assert proc.returncode == 0, context
        assert "first at the level: line 12, value 3.98, at step 300 = 4,800 samples = 307,200 tokens" in out, context
        assert "bracket: line 11, value 4.3, at step 200 = 3,200 samples = 204,800 tokens" in out, context
    elif command.startswith("aieff probe --export"):
        assert proc.returncode == 0 and "8,921,088 multiply-adds per sample at sequence length 64" in out, context
    elif command.startswith("aieff validate"):
        assert proc.returncode == 0, context
    elif command.startswith("aieff check") and not any(step.startswith("$ aieff cache add") for step in seen):
        # offline, before the cache is seeded: the plan, what happened in this run, and what to do
        assert proc.returncode == 1, context
        plan = "re-estimating 1 entry changed since origin/main:\n  entries/tiny-lm-4/tiny-gpt-baseline.yaml: the"
        assert plan in proc.stdout, context
        if "unreachable (" in out:  # no network (CI with network gets HTTP 404 for the made-up repository)
            assert re.search(r"raw\.githubusercontent\.com does not resolve|could not connect to raw", out), out
            assert "; 3 tries in" in out and "within 10 s" not in out, out
        assert "1 artifact(s) these entries pin by URL are not cached (1 from example/tiny-runs)" in out, context
        assert "aieff cache add --git-dir PATH" in out, context
    elif command.startswith("aieff cache add"):
        assert proc.returncode == 0 and "1 added, 0 already cached" in out, context
    elif command == "aieff probe tiny-gpt-baseline":
        assert proc.returncode == 0 and "at step 300 = 4,800 samples = 307,200 tokens" in out, context
    elif command.startswith("aieff estimate"):
        assert proc.returncode == 0 and "entries/tiny-lm-4/tiny-gpt-baseline.yaml: verified" in out, context
        assert "from a forward cost of 8,921,088 multiply-adds per sample" in out, context
        assert "log line 6: batch_size = 16 = 16 sequences per step (all devices)" in out, context
    elif command.startswith("aieff check"):
        assert proc.returncode == 0 and "tiny-gpt-baseline.yaml: verified" in out, context
    elif command.startswith("aieff build --dry-run"):
        assert proc.returncode == 0 and "would write README.md" in out, context
    else:
        raise AssertionError(f"no expectation for {command}")
