"""The sandbox: no credentials in reach, hard limits, one job cannot take the others down, no torch in the parent."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path

import pytest

from conftest import ROOT

torch = pytest.importorskip("torch")

from aieff.verify import confine, sandbox  # noqa: E402
from aieff.verify.sandbox import Limits, Sandbox  # noqa: E402

RESNET = {"arch": {"torchvision": "resnet18", "kwargs": {}}, "input": "image", "phases": [{"resolution": 64}]}


def test_jobs_see_no_credentials_and_run_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_secret")
    monkeypatch.setenv("ACTIONS_RUNTIME_TOKEN", "secret")
    seen = Sandbox(Limits(memory_bytes=2 << 30)).run({"probe": True})
    assert seen["ok"], seen
    assert not {"GITHUB_TOKEN", "ACTIONS_RUNTIME_TOKEN"} & set(seen["environment"])
    allowed = {"PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "PYTHONDONTWRITEBYTECODE", "TORCHINDUCTOR_CACHE_DIR"}
    allowed.add("LC_CTYPE")  # Python itself sets it (PEP 538) where LANG and LC_ALL are unset: no credential
    assert set(seen["environment"]) <= allowed | {k for k in os.environ if k.startswith(("OMP_", "OPENBLAS_", "MKL_"))}
    assert not Path(seen["cwd"]).is_relative_to(ROOT)
    assert 0 < seen["memory_limit"] < 64 << 30 and 0 < seen["cpu_limit"] <= 600
    assert "limits" in seen["protected"]


def test_memory_and_time_limits_end_a_job_not_the_run(tmp_path: Path) -> None:
    wide = torch.nn.Linear(2048, 4096).eval()  # 32 MiB of real weights in the archive, twice the limit
    archive = tmp_path / "wide.pt2"
    torch.export.save(torch.export.export(wide, (torch.zeros(1, 2048),)), str(archive))
    job = {"arch": {"export": str(archive)}, "input": "vector", "features": 2048, "phases": [{}]}
    starved = Sandbox(Limits(memory_bytes=16 << 20)).run(job)
    assert not starved["ok"] and "memory" in starved["error"].lower(), starved
    assert Sandbox().run(job)["ok"]  # the limit, not the archive, ended it
    box = Sandbox(Limits(wall_seconds=0.05))
    slow = box.run(RESNET)
    assert not slow["ok"] and "stopped after 0.05 s" in slow["error"], slow
    helper = box.helper_pid
    box.limits = Limits()
    again = box.run(RESNET)  # the same helper process serves the next job
    assert again["ok"] and again["counts"][0]["multiply_adds"] > 1e8, again
    assert box.helper_pid == helper


def test_a_helper_that_dies_is_replaced() -> None:
    box = Sandbox()
    assert box.run({"probe": True})["ok"]
    dead = box.helper_pid
    assert dead is not None
    os.kill(dead, signal.SIGKILL)
    assert box.run({"probe": True})["ok"]
    assert box.helper_pid not in (None, dead)


def test_every_sandbox_of_a_process_shares_one_helper_and_it_stops_at_exit() -> None:
    first, second = Sandbox(), Sandbox(Limits(wall_seconds=30))
    assert first.run({"probe": True})["ok"] and second.run({"probe": True})["ok"]
    assert first.helper_pid == second.helper_pid is not None
    code = (
        "import os; from aieff.verify.sandbox import Sandbox; box = Sandbox(); assert box.run({'probe': True})['ok']; "
        "print(box.helper_pid)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    pid = int(proc.stdout)
    with pytest.raises(ProcessLookupError):  # stopped (and reaped) when the process that started it exited
        os.kill(pid, 0)


def test_estimating_never_imports_torch_in_the_main_process(toy: Path, tmp_path: Path) -> None:
    entry = toy / "entries/toy-level/better.yaml"
    entry.write_text(entry.read_text() + "artifacts:\n  architecture:\n    torchvision: resnet18\n")
    code = (
        "import sys; from pathlib import Path; from aieff.dataset.validate import validate; "
        "from aieff.verify.estimate import run_estimates; "
        f"root = Path({str(toy)!r}); run_estimates(root, validate(root), ['entries/toy-level/better.yaml'], "
        "all_entries=False, record=None, fmt='text'); print('torch' in sys.modules)"
    )
    summary = tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "AIEFF_MEMO": "off"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=toy, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "forward cost @32px" in proc.stdout  # the count happened, in the sandbox
    assert proc.stdout.count("sandbox: ") == 1 and "rlimits" in proc.stdout  # how, said once per run
    assert summary.read_text().count("sandbox: ") == 1  # and in the job summary
    assert proc.stdout.strip().endswith("False")


def test_a_hostile_artifact_is_refused_before_the_helper_imports_torch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MKL_NUM_THREADS", "1")  # an environment no other test uses: a helper of its own
    box = Sandbox()
    damaged = tmp_path / "m.pt2"
    damaged.write_bytes(b"PK\x03\x04" + bytes(200))
    try:
        refused = box.run({"arch": {"export": str(damaged)}, "input": "vector", "features": 4, "phases": [{}]})
        assert not refused["ok"] and refused["stage"] == "precheck" and "not a torch.export archive" in refused["error"]
        assert "libtorch" not in Path(f"/proc/{box.helper_pid}/maps").read_text()
        counted = box.run(RESNET)  # a job that passes its checks: the helper imports torch, once
        assert counted["ok"] and "stage" not in counted, counted
        assert "libtorch" in Path(f"/proc/{box.helper_pid}/maps").read_text()
    finally:
        box.stop()
    assert box.helper_pid is None


# --- confinement: what a job's child cannot do, tried for real by the `probe` job ------------------

needs_landlock = pytest.mark.skipif(
    confine.landlock_abi() == 0 and os.environ.get("CI") != "true",
    reason="this kernel has no Landlock (in CI this fails instead: the sandbox must have it there)",
)


@needs_landlock
def test_a_job_writes_and_reads_nothing_outside_its_scratch_and_has_no_network(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("token")
    canaries = [tmp_path / "canary", ROOT / f"canary-{tmp_path.name}", ROOT / "tools" / f"canary-{tmp_path.name}"]
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[object] = []
    server.settimeout(10)
    threading.Thread(target=lambda: accepted.append(_accept(server)), daemon=True).start()
    try:
        seen = Sandbox().run(
            {
                "probe": True,
                "write": [str(c) for c in canaries],
                "read": [str(secret), str(ROOT / "pyproject.toml"), "/etc/passwd", f"/proc/self/root{secret}"],
                "socket": True,
                "connect": ["127.0.0.1", server.getsockname()[1]],
                "fork": True,
                "signal": True,
            }
        )
    finally:
        server.close()
        written = [c for c in canaries if c.exists()]
        for c in written:
            c.unlink()
    assert seen["ok"], seen
    tried = seen["tried"]
    assert all(tried[f"write {c}"].startswith("PermissionError") for c in canaries), tried
    assert not written
    assert all(tried[f"read {p}"].startswith("PermissionError") for p in (secret, ROOT / "pyproject.toml")), tried
    assert tried["read /etc/passwd"].startswith("PermissionError"), tried
    assert tried[f"read /proc/self/root{secret}"].startswith("PermissionError"), tried  # no way round by /proc
    assert tried["socket"].startswith("PermissionError") and tried["unix socket"].startswith("PermissionError")
    assert tried["connect"].startswith("PermissionError") and accepted in ([], [None]), tried
    assert tried["fork"].startswith("PermissionError") and tried["signal"].startswith("PermissionError"), tried
    assert int(seen["capabilities"], 16) == 0  # root's too
    assert {"filesystem", "network", "syscalls", "descriptors", "disk", "limits"} <= set(seen["protected"]), seen
    assert f"landlock abi {confine.landlock_abi()}" in seen["protection"] and "seccomp" in seen["protection"]


def _accept(server: socket.socket) -> object:
    try:
        return server.accept()
    except OSError:
        return None


def test_a_job_holds_no_descriptor_of_the_helper_and_cannot_forge_its_answer() -> None:
    box = Sandbox()
    forged = box.run({"probe": True, "forge": True})  # writes a fake result to every descriptor it has
    assert forged["ok"] and "forged" not in forged and "tried" in forged, forged
    assert forged["fds"] == {"0": "/dev/null", "1": "/dev/null", "2": "/dev/null", "3": forged["fds"]["3"]}
    assert forged["fds"]["3"].startswith("pipe:")  # the result pipe, and nothing else
    after = box.run({"probe": True})  # the helper's protocol is intact
    assert after["ok"] and "forged" not in after and "tried" in after, after


def test_a_job_writes_no_more_than_its_disk_limit_in_total(tmp_path: Path) -> None:
    box = Sandbox(Limits(file_bytes=16 << 20))
    filled = box.run({"probe": True, "fill": 64 << 20})  # 8 MiB files, each under the per-file limit
    assert not filled["ok"] and "the sandbox's disk limit" in filled["error"], filled
    home = Path(f"/proc/{box.helper_pid}/cwd").resolve()
    assert not list(home.glob("job-*"))  # the scratch directory is removed with the job
    fits = box.run({"probe": True, "fill": 8 << 20})
    assert fits["ok"] and fits["tried"]["fill"] == "done", fits


def test_a_job_is_refused_when_a_required_protection_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = tmp_path / "canary"
    job = {"probe": True, "write": [str(canary)]}
    monkeypatch.setattr(confine, "landlock", lambda *args, **kwargs: (0, ""))  # a kernel without Landlock
    refused = sandbox._fork_job(job, {"limits": asdict(Limits()), "require": ["filesystem", "network"]})
    assert not refused["ok"] and refused["error"].startswith("A301 sandbox-unprotected: filesystem not active")
    assert "filesystem" not in refused["protected"] and "landlock" not in refused["protection"], refused
    assert not canary.exists()  # the job did not run
    ran = sandbox._fork_job(job, {"limits": asdict(Limits()), "require": []})
    assert ran["ok"] and canary.read_bytes() == b"canary"  # without the requirement it runs, unconfined
    monkeypatch.setenv("AIEFF_SANDBOX_REQUIRE", "filesystem,netwrok")
    unknown = Sandbox().run({"probe": True})
    assert not unknown["ok"] and unknown["error"].startswith(
        "A302 sandbox-require-unknown: AIEFF_SANDBOX_REQUIRE names netwrok"
    )


def test_ci_requires_filesystem_and_network_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIEFF_SANDBOX_REQUIRE", raising=False)
    monkeypatch.setenv("CI", "true")
    assert sandbox.required() == ("filesystem", "network")
    monkeypatch.setenv("AIEFF_SANDBOX_REQUIRE", "")
    assert sandbox.required() == ()
    monkeypatch.setenv("AIEFF_SANDBOX_REQUIRE", " disk , syscalls")
    assert sandbox.required() == ("disk", "syscalls")
    monkeypatch.delenv("AIEFF_SANDBOX_REQUIRE")
    monkeypatch.delenv("CI")
    assert sandbox.required() == ()


@needs_landlock
@pytest.mark.parametrize("abi", range(1, 8))
def test_landlock_holds_at_every_abi_the_kernel_has(abi: int, tmp_path: Path) -> None:
    if abi > confine.landlock_abi():
        pytest.skip(f"this kernel has Landlock ABI {confine.landlock_abi()}")
    allowed, secret, scratch = tmp_path / "allowed", tmp_path / "secret", tmp_path / "scratch"
    allowed.write_text("ok")
    secret.write_text("token")
    scratch.mkdir()
    code = (
        "import sys; from pathlib import Path; from aieff.verify import confine; "
        f"print(confine.landlock([{str(allowed)!r}], {str(scratch)!r}, abi={abi})); "
        f"print(Path({str(allowed)!r}).read_text()); Path({str(scratch)!r}, 'x').write_text('w'); "
        f"\ntry:\n    Path({str(secret)!r}).read_text()\nexcept PermissionError:\n    print('denied')"
    )
    proc = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"({abi}, {_handled(abi)!r})", "ok", "denied"]
    assert (scratch / "x").read_text() == "w"


def _handled(abi: int) -> str:
    return "+".join(
        ["filesystem"] + (["tcp"] if abi >= 4 else []) + (["signals", "abstract sockets"] if abi >= 6 else [])
    )


def test_seccomp_refuses_an_architecture_whose_syscalls_it_does_not_list() -> None:
    assert confine.seccomp_program("riscv64", 1) is None
    assert confine.seccomp_program("x86_64", 1) and confine.seccomp_program("aarch64", 1)


@pytest.mark.parametrize("layer", ["network namespace", "landlock", "seccomp"])
def test_each_network_layer_alone_stops_a_connection(layer: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every layer is checked on its own (the others switched off in the forked child), so removing one
    fails a test even though the other two would still hold."""
    if layer == "landlock" and confine.landlock_abi() < 4:
        pytest.skip("Landlock restricts TCP from ABI 4")
    if layer != "network namespace":
        monkeypatch.setattr(confine, "leave_network", lambda: False)
    if layer != "landlock":
        monkeypatch.setattr(confine, "landlock", lambda *args, **kwargs: (0, ""))
    if layer != "seccomp":
        monkeypatch.setattr(confine, "seccomp", lambda: False)
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[object] = []
    server.settimeout(10)
    threading.Thread(target=lambda: accepted.append(_accept(server)), daemon=True).start()
    try:
        job = {"probe": True, "connect": ["127.0.0.1", server.getsockname()[1]]}
        seen = sandbox._fork_job(job, {"limits": asdict(Limits()), "require": []})
    finally:
        server.close()
    assert seen["ok"], seen
    if layer == "network namespace" and layer not in seen["protection"] and os.geteuid() != 0:
        pytest.skip("this kernel gives this user no network namespace")
    assert layer in seen["protection"], seen
    assert seen["tried"]["connect"].split(":")[0] in {"PermissionError", "OSError", "ConnectionRefusedError"}
    assert accepted in ([], [None]), seen


def test_landlock_rulesets_name_only_rights_their_abi_has() -> None:
    """A newer kernel accepts older ABIs' rulesets with newer rights in them; an older one refuses them,
    so this is checked against include/uapi/linux/landlock.h rather than against the running kernel."""
    fs = {1: 0x1FFF, 2: 0x3FFF, 3: 0x7FFF, 4: 0x7FFF, 5: 0xFFFF, 6: 0xFFFF, 7: 0xFFFF}
    for abi, rights in fs.items():
        assert confine.handled_rights(abi) == (rights, 3 if abi >= 4 else 0, 3 if abi >= 6 else 0), abi


@pytest.mark.parametrize(
    ("column", "header"),
    [(0, "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"), (1, "/usr/include/asm-generic/unistd.h")],
)
def test_seccomp_syscall_numbers_match_the_kernel_headers(column: int, header: str) -> None:
    import re

    if not Path(header).exists():
        pytest.skip(f"no {header} here")
    defined = {m[1]: int(m[2]) for m in re.finditer(r"#define __NR(?:3264)?_(\w+)\s+(\d+)", Path(header).read_text())}
    for name, numbers in {**confine.DENIED, **confine.SPECIAL}.items():
        assert numbers[column] == defined.get(name), name


def test_a_workers_helpers_stop_with_the_workers_and_slot_0s_serve_on() -> None:
    """A concurrent estimate's workers each have a helper for counts and one for logs (slots 1 and up);
    retire_workers stops them all, slot 0's excepted."""
    base = Sandbox()
    assert base.run({"probe": True})["ok"]
    box = Sandbox(slot=7)
    assert box.run({"probe": True})["ok"]
    assert box.run({"parse_log": {}, "files": []})["ok"] is False  # a malformed log job, answered by a log helper
    started = box.helper_pid, box.log_helper_pid
    assert None not in started and base.helper_pid not in started
    sandbox.retire_workers()
    assert box.helper_pid is None and box.log_helper_pid is None
    assert base.helper_pid is not None  # slot 0's helper serves on
    for pid in started:
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
