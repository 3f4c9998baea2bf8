"""Workflow hardening: no expressions inside shell scripts, credentials only where they are needed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github/workflows").glob("*.yml"))


def _load(path: Path) -> dict:
    return YAML(typ="safe").load(path.read_text())


def test_no_expression_is_interpolated_into_a_shell_script() -> None:
    """`${{ ... }}` in a run: block is pasted into the script before it runs (e.g. a crafted base_ref)."""
    for path in WORKFLOWS:
        for name, job in _load(path)["jobs"].items():
            for step in job["steps"]:
                assert "${{" not in step.get("run", ""), f"{path.name}:{name}: {step.get('name')}"


def test_jobs_that_run_aieff_hold_no_credentials_and_the_writer_runs_no_aieff() -> None:
    for path in WORKFLOWS:
        doc = _load(path)
        for name, job in doc["jobs"].items():
            perms = job.get("permissions", doc.get("permissions"))
            runs = " ".join(step.get("run", "") for step in job["steps"])
            checkout = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/checkout@")]
            runs_aieff = re.search(r"(^|\s)aieff (validate|estimate|build|check|analyze|new|schema)", runs)
            if runs_aieff:
                assert perms == {"contents": "read"}, f"{path.name}:{name} runs aieff with {perms}"
                assert all(s.get("with", {}).get("persist-credentials") is False for s in checkout), name
            if perms and perms.get("contents") == "write":
                assert not runs_aieff and "pip install" not in runs, f"{path.name}:{name}"
                assert "git pull --rebase" in runs


def test_actions_are_pinned_to_commits() -> None:
    for path in WORKFLOWS:
        for job in _load(path)["jobs"].values():
            for step in job["steps"]:
                if "uses" in step:
                    ref = step["uses"].split("@", 1)[1]
                    assert len(ref) == 40 and all(c in "0123456789abcdef" for c in ref), step["uses"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=False, cwd=ROOT)


def test_zizmor_finds_nothing_in_the_workflows() -> None:
    proc = _run(str(Path(sys.executable).with_name("zizmor")), "--offline", ".github/workflows")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_issue_forms_and_dependabot_pass_their_schemas() -> None:
    forms = sorted(str(p) for p in (ROOT / ".github/ISSUE_TEMPLATE").glob("*.yml"))
    assert len(forms) == 2
    for schema, files in (("vendor.github-issue-forms", forms), ("vendor.dependabot", [".github/dependabot.yml"])):
        proc = _run(sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *files)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_workflow_installs_torch_from_the_cpu_index_with_a_pip_cache() -> None:
    for path in WORKFLOWS:
        text = path.read_text()
        if "pip install" in text or "make test" in text:
            assert "PIP_EXTRA_INDEX_URL: https://download.pytorch.org/whl/cpu" in text, path.name
            assert "cache: pip" in text, path.name
