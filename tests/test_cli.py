"""The CLI as contributors use it: help, exit codes, `new`, --changed-since, GitHub annotations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aieff.cli import EXAMPLES, parser
from conftest import ROOT, run, run_process


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=repo, check=True, capture_output=True
    )


def test_every_subcommand_has_help_with_an_example() -> None:
    sub = next(a for a in parser()._actions if a.dest == "command")
    assert set(sub.choices) == set(EXAMPLES)
    for name, p in sub.choices.items():
        text = p.format_help()
        assert f"example: {EXAMPLES[name]}" in text
        assert p.description


def test_whole_dataset_validates_clean() -> None:
    proc = run_process("validate")  # the real entry point, `python -m aieff`
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout == ""


def test_usage_errors_exit_2_without_traceback() -> None:
    for args in (["validate", "--format", "xml"], ["nonsense"], ["validate", "/etc/passwd"]):
        proc = run_process(*args)  # exit codes as the shell sees them
        assert proc.returncode == 2, args
        assert "Traceback" not in proc.stderr and "error:" in proc.stderr


def test_new_writes_a_skeleton_that_fails_until_filled(toy: Path) -> None:
    proc = run("new", "toy-level", "my-model", cwd=toy)
    assert proc.returncode == 0, proc.stderr
    path = toy / "entries/toy-level/my-model.yaml"
    text = path.read_text()
    proc = run("validate", cwd=toy)
    assert proc.returncode == 1
    flagged = {int(line.split(":")[1]) for line in proc.stdout.splitlines()}
    todo_lines = {
        i for i, line in enumerate(text.splitlines(), 1) if "TODO" in line and not line.lstrip().startswith("#")
    }
    assert flagged and flagged <= todo_lines
    filled = (
        text.replace("model: TODO model name as the paper writes it", 'model: "My net"')
        .replace("title: TODO full paper title", 'title: "My paper"')
        .replace("[TODO First Author, TODO Second Author]", '["A. Person"]')
        .replace("https://arxiv.org/abs/TODO", "https://arxiv.org/abs/1905.11947")
        .replace("date: TODO ", "date: 2019-05-30 ")
        .replace("arxiv: TODO ", 'arxiv: "1905.11947" ')
        .replace("value: TODO ", "value: 3.0e12 ")
        .replace("unit: TODO ", "unit: multiply-adds ")
        .replace("method: TODO ", "method: counted ")
        .replace("title: TODO source title", 'title: "My paper"')
        .replace("url: https://TODO", "url: https://arxiv.org/abs/1905.11947")
        .replace("locator: TODO table, section or figure where the number stands", 'locator: "Table 2"')
        .replace("confidence: TODO ", "confidence: high ")
        .replace("epochs_to_target: TODO ", "epochs_to_target: 1 ")
        .replace("value: TODO ", "value: 1.0e6 ")
    )
    path.write_text(filled)
    proc = run("validate", cwd=toy)
    assert proc.returncode == 0, proc.stdout
    assert run("new", "toy-level", "my-model", cwd=toy).returncode == 2  # never overwrites
    assert run("new", "no-such-level", "x", cwd=toy).returncode == 2


def test_changed_since_reports_only_changed_files(toy: Path) -> None:
    _git(toy, "init", "-q", "-b", "main")
    _git(toy, "add", "-A")
    _git(toy, "commit", "-qm", "base")
    base = toy / "entries/toy-level/base.yaml"
    base.write_text(base.read_text().replace("date: 2015-03-02", "date: 2015-03-32"))  # old file, now broken
    _git(toy, "commit", "-qam", "break base")
    _git(toy, "branch", "pr-base")
    new = toy / "entries/toy-level/newer.yaml"
    new.write_text(
        (toy / "entries/toy-level/better.yaml")
        .read_text()
        .replace("id: better", "id: newer")
        .replace("epochs_to_target: 10", "epochs_to_target: ten")
    )
    proc = run("validate", "--changed-since", "pr-base", cwd=toy)
    assert proc.returncode == 1
    assert [line.split(":")[0] for line in proc.stdout.splitlines()] == ["entries/toy-level/newer.yaml"]
    proc = run("validate", "--changed-since", "no-such-ref", cwd=toy)
    assert proc.returncode == 2 and "no-such-ref" in proc.stderr


def test_github_actions_annotations_and_summary(toy: Path, tmp_path: Path) -> None:
    f = toy / "entries/toy-level/better.yaml"
    f.write_text(f.read_text().replace("epochs_to_target: 10", "epochs_to_target: -1"))
    summary = tmp_path / "summary.md"
    proc = run("validate", cwd=toy, env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    assert proc.returncode == 1
    assert "::error file=entries/toy-level/better.yaml,line=21,col=21,title=E013 invalid-value::" in proc.stdout
    assert "| entries/toy-level/better.yaml | 21:21 | E013 | training.epochs\\_to\\_target |" in summary.read_text()


def test_validate_does_not_import_torch() -> None:
    code = (
        "import sys, aieff.cli; aieff.cli.main(['validate']); "
        "print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.stdout.strip() == "False False", proc.stdout + proc.stderr


def test_new_level_writes_a_level_and_its_baseline_that_fail_only_on_todo_lines(toy: Path) -> None:
    proc = run("new-level", "cifar10-94", "resnet18-baseline", cwd=toy)
    assert proc.returncode == 0, proc.stderr
    folder = toy / "entries/cifar10-94"
    texts = {p.name: p.read_text() for p in folder.iterdir()}
    assert set(texts) == {"benchmark.yaml", "resnet18-baseline.yaml"}
    assert "baseline: resnet18-baseline" in texts["benchmark.yaml"]
    proc = run("validate", "entries/cifar10-94", cwd=toy)
    assert proc.returncode == 1
    for line in proc.stdout.splitlines():
        name, number = line.split(":")[0].rsplit("/", 1)[1], int(line.split(":")[1])
        assert "TODO" in texts[name].splitlines()[number - 1], line  # every error sits on a TODO line
    assert run("new-level", "cifar10-94", "x", cwd=toy).returncode == 2  # never overwrites


def test_e024_tells_a_missing_baseline_from_an_invalid_one(toy: Path) -> None:
    base = toy / "entries/toy-level/base.yaml"
    base.write_text(base.read_text().replace("model:", "modell:"))
    out = run("validate", cwd=toy).stdout
    assert "E024 baseline: entries/toy-level/base.yaml exists but is invalid" in out
    base.unlink()
    out = run("validate", cwd=toy).stdout
    assert "E024 baseline: no entry 'base' in entries/toy-level/ (aieff new toy-level base)" in out


def test_estimate_goes_on_past_an_invalid_entry_and_fails_overall(toy: Path) -> None:
    (toy / "entries/toy-level/broken.yaml").write_text("# yaml-language-server: $schema=x\nid: [\n")
    proc = run("estimate", "--all", "--record", "rec.json", cwd=toy)
    assert proc.returncode == 1
    assert "entries/toy-level/broken.yaml:" in proc.stderr and "those files are not estimated" in proc.stderr
    assert "entries/toy-level/better.yaml: claimed" in proc.stdout
    assert run("estimate", "entries/toy-level/broken.yaml", cwd=toy).returncode == 2


def test_messages_that_say_what_to_do(toy: Path) -> None:
    """Misspelled key, unquoted arXiv id, missing file, unknown level: each message names the fix."""
    entry = toy / "entries/toy-level/better.yaml"
    text = entry.read_text()
    entry.write_text(
        text.replace('  title: "Better net paper"\n  authors', '  titel: "Better net paper"\n  authors', 1)
    )
    out = run("validate", cwd=toy).stdout
    assert "E010 publication.titel: unknown field (not in the schema) (did you mean 'title'?)" in out
    entry.write_text(text.replace('arxiv: "1807.00002"', "arxiv: 1807.00002"))
    out = run("validate", cwd=toy).stdout
    assert "E012 publication.arxiv" in out and 'quote it: arxiv: "2001.08210"' in out
    proc = run("validate", "entries/toy-level/better.yml", cwd=toy)
    assert proc.returncode == 2 and "no such file or folder: entries/toy-level/better.yml" in proc.stderr
    entry.write_text(text)
    proc = run("analyze", "--level", "toy", cwd=toy)
    assert proc.returncode == 1 and "(did you mean 'toy-level'?); levels: toy-level" in proc.stderr


def test_a_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import importlib.util

    from aieff.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    assert main(["--root", str(ROOT), "estimate", "--all"]) == 2
    assert (
        "aieff estimate needs the 'compute' extra (torch missing): pip install -e '.[compute]'"
        in capsys.readouterr().err
    )


def test_a_forward_cost_typed_without_its_exponent_is_warned_not_failed(toy: Path) -> None:
    """0.314 for 0.314e9: validates, but the PR check shows why the headline would be absurd."""
    entry = toy / "entries/toy-level/better.yaml"
    entry.write_text(entry.read_text().replace("value: 1.0e6", "value: 0.314").replace("value: 3e+10", "value: 1.0e10"))
    proc = run("validate", cwd=toy, env={"GITHUB_ACTIONS": "true"})
    assert proc.returncode == 0, proc.stdout  # a warning, not an error
    assert "W001 training.forward_cost.value: training compute 1.88e+04 FLOP is outside 1e+09-1e+28" in proc.stdout
    assert "W004 training.forward_cost.value: 12,738,854x less compute than the baseline: a unit typo?" in proc.stdout
    assert "::warning file=entries/toy-level/better.yaml" in proc.stdout
    assert "0 errors, 2 warning(s) in 3 files" in proc.stderr


def test_every_help_example_runs(tmp_path: Path) -> None:
    """Each command's `example:` line runs in a copy of the repository and ends in a clean exit (0, or 1 with
    a verdict), never a usage error or a traceback."""
    import shlex
    import shutil

    repo = tmp_path / "repo"
    for name in ("entries", "CITATION.cff", "README.md", "charts", "exports", "schema", "docs", "efficiency_sota.csv"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copyfile)(src, repo / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "copy"]):
        subprocess.run([*git, *args], cwd=repo, check=True)
    subprocess.run(["git", "update-ref", "refs/remotes/origin/main", "HEAD"], cwd=repo, check=True)
    (repo / "log.tsv").write_text("epoch\ttop5Accuracy\n1\t80\n")
    for command, example in EXAMPLES.items():
        words = shlex.split(example)
        assert words[:2] == ["aieff", command], example
        proc = run(*words[1:], cwd=repo)
        assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, (example, proc.stdout, proc.stderr)


def test_every_numeric_source_needs_a_locator(toy: Path) -> None:
    """CONTRIBUTING and the PR template ask where in the source each number stands: the schema requires it."""
    entry = toy / "entries/toy-level/better.yaml"
    entry.write_text(entry.read_text().replace('      locator: "Table 1"\n', "", 1))
    out = run("validate", cwd=toy).stdout
    assert "E011 claims[0].source.locator: required field is missing" in out
