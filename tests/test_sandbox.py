"""The sandbox: no credentials in reach, hard limits, one job cannot take the others down, no torch in the parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

torch = pytest.importorskip("torch")

from aieff.sandbox import Limits, Sandbox  # noqa: E402

RESNET = {"arch": {"torchvision": "resnet18", "kwargs": {}}, "input": "image", "phases": [{"resolution": 64}]}


def test_jobs_see_no_credentials_and_run_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_secret")
    monkeypatch.setenv("ACTIONS_RUNTIME_TOKEN", "secret")
    seen = Sandbox(Limits(memory_bytes=2 << 30)).run({"probe": True})
    assert seen["ok"], seen
    assert not {"GITHUB_TOKEN", "ACTIONS_RUNTIME_TOKEN"} & set(seen["environment"])
    allowed = {"PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "PYTHONDONTWRITEBYTECODE", "TORCHINDUCTOR_CACHE_DIR"}
    assert set(seen["environment"]) <= allowed | {k for k in os.environ if k.startswith(("OMP_", "OPENBLAS_", "MKL_"))}
    assert not Path(seen["cwd"]).is_relative_to(ROOT)
    assert 0 < seen["memory_limit"] < 64 << 30 and 0 < seen["cpu_limit"] <= 600
    assert isinstance(seen["network_isolated"], bool)


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
        "import os; from aieff.sandbox import Sandbox; box = Sandbox(); assert box.run({'probe': True})['ok']; "
        "print(box.helper_pid)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    pid = int(proc.stdout)
    with pytest.raises(ProcessLookupError):  # stopped (and reaped) when the process that started it exited
        os.kill(pid, 0)


def test_estimating_never_imports_torch_in_the_main_process(toy: Path) -> None:
    entry = toy / "entries/toy-level/better.yaml"
    entry.write_text(entry.read_text() + "artifacts:\n  architecture:\n    torchvision: resnet18\n")
    code = (
        "import sys; from pathlib import Path; from aieff.validate import validate; "
        "from aieff.estimate import run_estimates; "
        f"root = Path({str(toy)!r}); run_estimates(root, validate(root), ['entries/toy-level/better.yaml'], "
        "all_entries=False, record=None, fmt='text'); print('torch' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=toy, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "forward cost @32px" in proc.stdout  # the count happened, in the sandbox
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
