"""Workflow hardening: no expressions inside shell scripts, credentials only where they are needed.

docs/threat-model.md says what each job trusts; these tests hold the workflows to it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from conftest import ROOT
from test_take_generated import _content, take

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


def _triggers(doc: dict) -> set[str]:
    on = doc["on"]
    return {on} if isinstance(on, str) else set(on)


def _steps(path: Path):
    """(job name, job, step, the step's effective env) for every step of a workflow."""
    doc = _load(path)
    for name, job in doc["jobs"].items():
        for step in job["steps"]:
            yield name, job, step, {**doc.get("env", {}), **job.get("env", {}), **step.get("env", {})}


def _action(step: dict) -> str:
    return str(step.get("uses", "")).split("@", 1)[0]


def _workflow(name: str) -> Path:
    return ROOT / ".github/workflows" / name


def test_pull_requests_restore_caches_and_only_the_default_branch_saves_them() -> None:
    """A PR runs contributors' artifacts: it may read the nightly's cache but never write one."""
    restored = saved = 0
    for path in WORKFLOWS:
        on_pr = bool(_triggers(_load(path)) & {"pull_request", "pull_request_target"})
        for job, _, step, _ in _steps(path):
            action = _action(step)
            where = f"{path.name}:{job}: {action}"
            assert action != "actions/cache", f"{where} saves at the end of the job: use /restore and /save"
            if action == "actions/cache/save":
                saved += 1
                assert not on_pr, where
                assert "github.ref == 'refs/heads/main'" in str(step.get("if", "")), where
            restored += action == "actions/cache/restore"
    assert restored >= 2 and saved == 1


TOKEN = re.compile(r"\$\{\{\s*(github\.token|secrets\.)")
GIT_SUBCOMMAND = re.compile(r"(?:^|[\s;&|(])git\s+(?:-c\s+(?:\"[^\"]*\"|\S+)\s+)*([a-z-]+)")


def _git_subcommands(run: str) -> list[str]:
    return GIT_SUBCOMMAND.findall(run.replace("\\\n", " "))


def test_the_write_token_is_only_in_the_push_step() -> None:
    """Steps before the push handle the rebuild's artifact; a token in their env could be read by it."""
    holders = []
    for path in WORKFLOWS:
        doc = _load(path)
        assert not TOKEN.search(str(doc.get("env", {}))), path.name
        for job, spec, step, _ in _steps(path):
            assert not TOKEN.search(str(spec.get("env", {}))), f"{path.name}:{job}: token in the job's env"
            if TOKEN.search(str({k: v for k, v in step.items() if k != "name"})):
                holders.append(f"{path.name}:{job}:{step.get('name')}")
                assert set(_git_subcommands(step.get("run", ""))) == {"push"}, holders[-1]
                assert not re.search(r"python|aieff|pip|\./", step["run"]), holders[-1]
    assert holders == ["nightly.yml:publish:Push (the only step that holds the write token)"]


def _publish() -> dict:
    jobs = _load(_workflow("nightly.yml"))["jobs"]
    (job,) = [j for j in jobs.values() if j.get("permissions", {}).get("contents") == "write"]
    return job


def test_publish_downloads_outside_the_checkout_and_only_the_allow_list_copies_in() -> None:
    """An artifact extracted into the checkout could carry .git/config (and with it the push)."""
    steps = _publish()["steps"]
    assert [_action(s) for s in steps if "uses" in s] == ["actions/checkout", "actions/download-artifact"]
    (download,) = [s for s in steps if _action(s) == "actions/download-artifact"]
    prefix = "${{ runner.temp }}/"
    assert download["with"]["path"].startswith(prefix), download["with"]
    where = '"$RUNNER_TEMP/' + download["with"]["path"][len(prefix) :] + '"'
    readers = [i for i, s in enumerate(steps) if where in s.get("run", "")]
    assert len(readers) == 1, "one step reads the download"
    assert steps[readers[0]]["run"].strip() == f"python3 .github/scripts/take_generated.py {where} ."
    first_git = min(i for i, s in enumerate(steps) if _git_subcommands(s.get("run", "")))
    assert steps.index(download) < readers[0] < first_git


def test_publish_runs_git_without_hooks_or_fsmonitor() -> None:
    env = _publish()["env"]
    pairs = {env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"] for i in range(int(env["GIT_CONFIG_COUNT"]))}
    assert pairs == {"core.hooksPath": "/dev/null", "core.fsmonitor": "false"}
    for step in _publish()["steps"]:
        assert "GIT_CONFIG" not in str(step.get("env", {})) and "GIT_CONFIG" not in step.get("run", "")


def test_pr_check_diffs_against_the_merge_base() -> None:
    """A two-dot diff against the moving base branch blames the PR for what landed on main since."""
    steps = [step for _, _, step, _ in _steps(_workflow("pr.yml"))]
    by_id = {s["id"]: s for s in steps if "id" in s}
    args = 0
    for step in steps:
        for var in re.findall(r'--(?:changed|edits)-since "?\$\{?(\w+)', step.get("run", "")):
            args += 1
            source = re.fullmatch(r"\$\{\{ steps\.([\w-]+)\.outputs\.\w+ \}\}", step["env"][var])
            assert source, f"{step.get('name')}: {var} is {step['env'][var]!r}, not a merge base"
            assert 'git merge-base "origin/$BASE_REF" HEAD' in by_id[source.group(1)]["run"]
    assert args == 2


def test_sandbox_protections_are_required_wherever_artifacts_are_handled() -> None:
    handlers = 0
    for path in WORKFLOWS:
        for job, _, step, env in _steps(path):
            if re.search(r"(?m)^\s*aieff (estimate|check)\b", step.get("run", "")):
                handlers += 1
                required = set(str(env.get("AIEFF_SANDBOX_REQUIRE", "")).split(","))
                assert {"filesystem", "network"} <= required, f"{path.name}:{job}: {step.get('name')}"
    assert handlers == 2


def test_only_pull_request_runs_are_cancelled() -> None:
    """Cancelling a run on main would skip the checks of the commit that superseded it."""
    for path in WORKFLOWS:
        doc = _load(path)
        cancel = doc.get("concurrency", {}).get("cancel-in-progress", False)
        if _triggers(doc) - {"pull_request"}:
            assert cancel in (False, "${{ github.event_name == 'pull_request' }}"), path.name


def test_pr_workflow_runs_on_record_and_citation_edits() -> None:
    """A PR that edits the verification record or CITATION.cff is checked (`aieff` refuses the record edit)."""
    doc = _load(_workflow("pr.yml"))
    paths = doc["on"]["pull_request"]["paths"]
    assert {"exports/**", "CITATION.cff", "entries/**"} <= set(paths)
    runs = "\n".join(step.get("run", "") for _, _, step, _ in _steps(_workflow("pr.yml")))
    for command in ("aieff validate", "aieff check --changed-since", "aieff build --edits-since"):
        assert command in runs, command


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a step's script as GitHub Actions runs it (`bash --noprofile --norc -eo pipefail`)."""
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_publish_steps_commit_and_push_only_what_the_script_took(tmp_path: Path) -> None:
    """The publish job's own scripts, run against a local remote: a hostile artifact stops the job."""
    job = _publish()
    steps = {s.get("name", ""): s for s in job["steps"]}
    take_step = next(s for n, s in steps.items() if n.startswith("Take"))
    commit_step, push_step = steps["Commit what changed"], next(s for n, s in steps.items() if n.startswith("Push"))
    remote, checkout, temp = tmp_path / "remote.git", tmp_path / "checkout", tmp_path / "runner-temp"
    temp.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q", "--bare", str(remote)], check=True)
    subprocess.run([*git, "init", "-q", str(checkout)], check=True)
    for rel in sorted(take.FIXED | {"charts/overview.png", "charts/overview.svg"}):
        (checkout / rel).parent.mkdir(parents=True, exist_ok=True)
        (checkout / rel).write_bytes(_content(rel))
    (checkout / ".github/scripts").mkdir(parents=True)
    shutil.copyfile(ROOT / ".github/scripts/take_generated.py", checkout / ".github/scripts/take_generated.py")
    for args in (["add", "-A"], ["commit", "-qm", "base"], ["push", "-q", str(remote), "HEAD:main"]):
        subprocess.run([*git, *args], cwd=checkout, check=True)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "RUNNER_TEMP": str(temp), "GITHUB_REF_NAME": "main"}
    env |= {k: str(v) for k, v in job["env"].items()}
    count = int(env["GIT_CONFIG_COUNT"])  # the remote is github.com in the scripts: point it at the local one
    env |= {"GIT_CONFIG_COUNT": str(count + 1), f"GIT_CONFIG_KEY_{count}": f"url.{remote.as_uri()}.insteadOf"}
    env |= {f"GIT_CONFIG_VALUE_{count}": "https://github.com/owner/repo.git", "REPO": "owner/repo"}
    env |= {"GITHUB_OUTPUT": str(temp / "output"), "GITHUB_STEP_SUMMARY": str(temp / "summary")}
    artifact = temp / "generated"
    shutil.copytree(checkout, artifact, ignore=shutil.ignore_patterns(".git*"))
    (artifact / "README.md").write_text("rebuilt\n")
    (artifact / ".git/hooks").mkdir(parents=True)
    (artifact / ".git/hooks/pre-commit").write_text(f"#!/bin/sh\ntouch {tmp_path}/pwned\n")
    proc = _bash(take_step["run"], checkout, env)
    assert proc.returncode == 1 and "'.git': unexpected directory" in proc.stdout
    shutil.rmtree(artifact / ".git")
    for hook in ("pre-commit", "post-commit", "post-rewrite", "pre-push"):  # as if one had got into the checkout
        (checkout / ".git/hooks" / hook).write_text(f"#!/bin/sh\necho {hook} >> {tmp_path}/pwned\n")
        (checkout / ".git/hooks" / hook).chmod(0o755)
    for step in (take_step, commit_step):
        proc = _bash(step["run"], checkout, env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (temp / "output").read_text() == "changed=true\n"
    proc = _bash(push_step["run"], checkout, env | {"TOKEN": "not-a-real-token"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shown = subprocess.run(["git", "show", "--name-only", "--format=%s", "main"], cwd=remote, capture_output=True)
    assert shown.stdout.decode().split() == ["Nightly", "rebuild", "README.md"]
    assert not (tmp_path / "pwned").exists()
