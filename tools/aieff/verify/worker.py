"""What runs inside the sandbox: build or load the model, count each phase, compare the checkpoint; or
parse a training log (torch-free).

A job and its result are plain JSON, so nothing but numbers and short strings crosses back to the
process that holds the repository.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from aieff.dataset.diagnostics import excerpt, first_line
from aieff.refusals import Refused, failed_job
from aieff.repo import DataError


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Count forward cost per phase and read the checkpoint; {'ok': False, 'error': ...} on any failure."""
    try:
        return {"ok": True, **_run(job)}
    except Refused as exc:
        return failed_job(exc)
    except DataError as exc:
        return {"ok": False, "error": str(exc)[:500]}
    except MemoryError:
        return {"ok": False, "error": "ran out of memory within the sandbox's limit"}
    except Exception as exc:  # any library failure on hostile input is a verdict, not a crash
        first = first_line(exc)
        return {"ok": False, "error": f"{type(exc).__name__}: {excerpt(first, 200)}"}


def precheck(job: dict[str, Any]) -> dict[str, Any]:
    """The job's checks that need no torch, run first so a hostile artifact is refused cheaply: an
    export's zip and JSON members, a safetensors checkpoint's header."""
    from aieff.verify.checkpoint import read_checkpoint_header

    if "export" in job.get("arch", {}):
        from aieff.verify.pt2 import check_without_torch

        check_without_torch(Path(job["arch"]["export"]))
    if job.get("checkpoint"):
        read_checkpoint_header(Path(job["checkpoint"]))
    return {}


def probe(job: dict[str, Any]) -> dict[str, Any]:
    """What a job can see and do, for tests and for operators checking the isolation: its environment,
    limits and open descriptors, and the outcome of each attempt the job asks for (write or read a
    path, open a socket, write a forged result to every descriptor, fill its scratch directory, fork,
    signal its parent)."""
    import os
    import resource
    import socket
    import tempfile

    from aieff.verify.confine import RESULT_FD

    tried: dict[str, str] = {}

    def attempt(name: str, action: Any) -> None:
        try:
            action()
            tried[name] = "done"
        except OSError as exc:
            tried[name] = f"{type(exc).__name__}: {exc.strerror or exc}"

    def fill(total: int) -> None:
        block = b"x" * (1 << 20)
        for i in range(total >> 23):  # 8 MiB files, kept
            with open(os.path.join(tempfile.gettempdir(), f"fill-{i}"), "wb") as fh:
                for _ in range(8):
                    fh.write(block)

    def forge() -> None:
        for fd in range(64):
            if fd != RESULT_FD:
                try:
                    os.write(fd, b'{"ok": true, "forged": true}\n')
                except OSError:
                    pass

    def fork() -> None:
        if (pid := os.fork()) == 0:
            os._exit(0)
        os.waitpid(pid, 0)

    for path in job.get("write") or []:
        attempt(f"write {path}", lambda p=path: Path(p).write_bytes(b"canary"))
    for path in job.get("read") or []:
        attempt(f"read {path}", lambda p=path: Path(p).read_bytes())
    if job.get("socket"):
        attempt("socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close())
        attempt("unix socket", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close())
    if connect := job.get("connect"):
        attempt("connect", lambda: socket.create_connection(tuple(connect), timeout=5).close())
    if job.get("forge"):
        forge()
    if job.get("fill"):
        attempt("fill", lambda: fill(int(job["fill"])))
    if job.get("fork"):
        attempt("fork", fork)
    if job.get("signal"):
        attempt("signal", lambda: os.kill(os.getppid(), 0))
    with open("/proc/self/status") as fh:
        capabilities = next((line.split()[1] for line in fh if line.startswith("CapEff:")), "")
    fds = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass  # the descriptor listdir itself used
    return {
        "environment": sorted(os.environ),
        "cwd": os.getcwd(),
        "memory_limit": resource.getrlimit(resource.RLIMIT_AS)[0],
        "cpu_limit": resource.getrlimit(resource.RLIMIT_CPU)[0],
        "capabilities": capabilities,
        "fds": fds,
        "tried": tried,
    }


def _per_sample(model: Any, job: dict[str, Any], phase: dict[str, Any], one: float, name: str) -> None:
    """A count per sample must not depend on the batch: where an export runs at a batch of two, it must cost
    exactly twice one sample (an export that mixes samples across the batch would otherwise be counted at a
    batch of one, far below what it cost in training). An export whose batch is fixed at one cannot mix."""
    from aieff.refusals import Refused
    from aieff.verify.flops import count_forward, example_input

    pair = example_input(
        job["input"],
        resolution=phase.get("resolution"),
        features=job.get("features"),
        sequence_length=phase.get("sequence_length"),
        batch=2,
    )
    try:
        two = count_forward(model, pair, grad=False).multiply_adds
    except Exception:  # a graph exported for one sample does not run at two: nothing to mix
        return
    if abs(two - 2 * one) > 1e-9 * max(1.0, two):
        raise Refused(
            "A204",
            f"{name}: a batch of two costs {two:,.0f} multiply-adds, not twice one sample's {one:,.0f}: "
            "its cost depends on the batch (samples mixed across it), so a per-sample count would understate it",
        )


def _run(job: dict[str, Any]) -> dict[str, Any]:
    if "parse_log" in job:  # a training log: torch-free, one stage (aieff.verify.logs.sandboxed)
        from aieff.verify.logs.sandboxed import run

        return run(job["parse_log"])
    if "read_batch" in job:  # an entry's batch_source, parsed and never run (aieff.verify.batch)
        from aieff.verify.logs.sandboxed import run_batch

        return run_batch(job["read_batch"])
    if job.get("precheck"):
        return precheck(job)
    if job.get("probe"):
        return probe(job)
    from aieff.refusals import Refused
    from aieff.verify.flops import build_torchvision, count_forward, example_input, load_export, resolution_warning

    arch = job["arch"]
    if "torchvision" in arch:
        model = build_torchvision(arch["torchvision"], dict(arch.get("kwargs") or {}))
    else:
        # Always on the meta device, whatever the archive holds; with a checkpoint, every weight must be used.
        model = load_export(Path(arch["export"]), every_weight_used=bool(job.get("checkpoint")))
    counts = []
    for phase in job["phases"]:
        sample = example_input(
            job["input"],
            resolution=phase.get("resolution"),
            features=job.get("features"),
            sequence_length=phase.get("sequence_length"),
        )
        count = count_forward(model, sample, grad=None if "torchvision" in arch else False)
        if "export" in arch and count.unsupported:  # a contributor's graph: what no counter prices is refused
            ops = ", ".join(f"{op} ({n} call(s))" for op, n in sorted(count.unsupported.items()))
            raise Refused("A203", f"{Path(arch['export']).name} runs {ops}, which no counter prices")
        if "export" in arch:
            _per_sample(model, job, phase, count.multiply_adds, Path(arch["export"]).name)
        if "export" in arch and not count.notes:
            count.notes.append("graph-only export: counted on the meta device, no arithmetic")
        if "torchvision" in arch and job["input"] == "image":
            if warning := resolution_warning(arch["torchvision"], phase.get("resolution")):
                count.notes.append(warning)
        counts.append(asdict(count))
    out: dict[str, Any] = {"counts": counts}
    if job.get("parameter_shapes"):  # for the optimizer's FLOP per step (aieff.verify.optimizer_cost)
        out["parameter_shapes"] = {k: [int(x) for x in v.shape] for k, v in model.state_dict().items()}
    if job.get("checkpoint"):
        from aieff.verify.checkpoint import compare, state_shapes

        expected = state_shapes(model)
        out["architecture_tensors"] = len(expected)
        out["checkpoint"] = asdict(compare(expected, Path(job["checkpoint"])))
    return out
