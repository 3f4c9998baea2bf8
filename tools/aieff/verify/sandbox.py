"""Run artifact handling in separate processes that hold no credentials and have hard limits.

A process keeps one helper process (`python -I -m aieff.verify.sandbox`), started on first use and stopped at
exit, with an empty environment (no tokens), a throw-away working and home directory, and its stdout kept for
the protocol. Every `Sandbox` of the process sends its jobs to that helper, so torch is imported once per
process, not once per run. Log jobs (a log's parse, a batch reading) go to a second helper of their own
(`--torch-free`), which runs nothing else and never imports torch: a child forked from a process that holds
torch costs ten times as much to start and end, and a run parses hundreds of logs. The helper holds no state a
job can change: it forks a fresh child per job for the job's torch-free checks, imports torch once (the first
time a job passes them), then forks a fresh child to run the job; a log helper forks one child per job, which
may parse all of an entry's logs (`parse_logs`, each answered as its own job would be). Each child drops to
memory, CPU-time and file-size limits and is confined by `aieff.verify.confine` (no inherited descriptor, no
capabilities, Landlock, seccomp, an empty network namespace where the kernel allows one) before it reads
anything; it reports what took on its first line, then runs `aieff.verify.worker.run_job` and sends back one
JSON line. Only the counting child gets a directory it may write (loading an export writes a checked copy),
whose total size the helper measures. A child that overruns its wall time or its disk budget is killed; one
that dies becomes a failed job with the reason. A job whose child lacks a protection the run requires
(`required`) is refused before it runs. One job cannot see another's state, and the process that holds the
repository never loads an artifact.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import IO, Any

from aieff.refusals import Refused, failed_job
from aieff.verify import confine

KEEP_ENV = ("PATH", "LANG", "LC_ALL", "OMP_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "MKL_NUM_THREADS")
MAX_RESULT = 16 << 20
START_SECONDS = 180.0
CI_REQUIRE = ("filesystem", "network")  # what a CI run requires when AIEFF_SANDBOX_REQUIRE is unset
COUNTS, LOGS = "counts", "logs"  # the two kinds of helper
LOG_JOBS = frozenset({"parse_log", "parse_logs", "read_batch"})  # the jobs a LOGS helper runs, and the only ones


def required() -> tuple[str, ...]:
    """The protections every job of this run requires: AIEFF_SANDBOX_REQUIRE (comma-separated names
    of aieff.verify.confine.PROTECTIONS; empty: none), else CI_REQUIRE when CI=true, else none."""
    raw = os.environ.get("AIEFF_SANDBOX_REQUIRE")
    if raw is None:
        return CI_REQUIRE if os.environ.get("CI") == "true" else ()
    return tuple(name.strip() for name in raw.split(",") if name.strip())


@dataclass(frozen=True)
class Limits:
    """Per-job limits: wall and CPU seconds, memory beyond the helper's own, bytes a job may write (in
    all, to its scratch directory; also the largest file it may write)."""

    wall_seconds: float = 600.0
    cpu_seconds: int = 600
    memory_bytes: int = 8 << 30
    file_bytes: int = 4 << 30

    @classmethod
    def from_env(cls) -> Limits:
        """Defaults, with AIEFF_SANDBOX_SECONDS and AIEFF_SANDBOX_MEMORY_MB overriding (operators, tests)."""
        seconds = float(os.environ.get("AIEFF_SANDBOX_SECONDS") or cls.wall_seconds)
        memory = int(os.environ.get("AIEFF_SANDBOX_MEMORY_MB") or (cls.memory_bytes >> 20)) << 20
        return cls(wall_seconds=seconds, cpu_seconds=max(1, int(seconds)), memory_bytes=memory)


class _Helper:
    """One helper process and its throw-away home directory."""

    def __init__(self, kept: tuple[tuple[str, str], ...], slot: int = 0, kind: str = COUNTS) -> None:
        self.kept = kept
        self.key = (kept, slot, kind)  # its key in _HELPERS
        self.home = tempfile.mkdtemp(prefix="aieff-sandbox-")
        env = dict(kept) | {"HOME": self.home, "TMPDIR": self.home, "PYTHONDONTWRITEBYTECODE": "1"}
        self.lock = threading.Lock()  # one job at a time: a request and its answer share the pipe
        self.answered = False  # until its first answer, a job's budget includes the start-up
        self.died = False  # found dead while a job waited for it
        mode = ["--torch-free"] if kind == LOGS else []
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-m", "aieff.verify.sandbox", *mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=self.home,
            env=env,
            text=True,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """Kill the helper (and any child it runs) and remove its directory."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream:
                stream.close()
        shutil.rmtree(self.home, ignore_errors=True)


# The process's helpers, by the environment they keep (a changed thread setting gets a helper of its own),
# their slot and their kind: slot 0 serves every Sandbox by default; concurrent estimates give each worker
# thread a slot of its own, so that jobs run side by side in helpers of their own (a helper answers one job at
# a time). Each slot has a helper for counts (and probes) and one for log jobs (kind LOGS), started when needed.
_HELPERS: dict[tuple[tuple[tuple[str, str], ...], int, str], _Helper] = {}
# The slot a Sandbox made without one uses: set per worker by the code that runs workers (use_slot), so a
# Sandbox() made deep inside a worker's estimate (a log's parse) goes to that worker's helper.
_SLOT: contextvars.ContextVar[int] = contextvars.ContextVar("aieff_sandbox_slot", default=0)
_NEW_HELPER = threading.Lock()


@contextlib.contextmanager
def use_slot(slot: int) -> Iterator[None]:
    """Within the block (in this context), a Sandbox made without a slot sends its jobs to helper `slot`."""
    token = _SLOT.set(slot)
    try:
        yield
    finally:
        _SLOT.reset(token)


def _kept() -> tuple[tuple[str, str], ...]:
    return tuple((k, os.environ[k]) for k in KEEP_ENV if k in os.environ)


def kind_of(job: dict[str, Any]) -> str:
    """Which helper serves a job: LOGS for a log's parse or a batch reading, COUNTS for everything else."""
    return LOGS if LOG_JOBS & job.keys() else COUNTS


def _helper(slot: int = 0, kind: str = COUNTS) -> _Helper:
    kept = _kept()
    with _NEW_HELPER:
        helper = _HELPERS.get((kept, slot, kind))
        if helper is not None and not helper.alive():
            _retire(helper)
            helper = None
        if helper is None:
            helper = _HELPERS[(kept, slot, kind)] = _Helper(kept, slot, kind)
    return helper


def retire_workers() -> None:
    """Stop every helper of a worker slot (1 and up): those of a concurrent run, when it ends."""
    for helper in list(_HELPERS.values()):
        if helper.key[1] != 0:
            _retire(helper)


def _retire(helper: _Helper) -> None:
    helper.stop()
    if _HELPERS.get(helper.key) is helper:
        del _HELPERS[helper.key]


def shutdown() -> None:
    """Stop every helper of this process (also run at exit)."""
    for helper in list(_HELPERS.values()):
        _retire(helper)


atexit.register(shutdown)


class Sandbox:
    """Runs jobs in forked, limited children of the process's helper, with these per-job limits."""

    def __init__(self, limits: Limits | None = None, slot: int | None = None) -> None:
        self.limits = limits or Limits.from_env()
        self._slot = slot  # which of the process's helpers its jobs go to; None: the context's (use_slot)
        self.protections: list[str] = []  # how this sandbox's jobs were confined, each way once

    @property
    def slot(self) -> int:
        return self._slot if self._slot is not None else _SLOT.get()

    @property
    def protection(self) -> str | None:
        """How this sandbox's jobs were confined (their children's own report); None before any job."""
        return "; ".join(self.protections) or None

    @property
    def helper_pid(self) -> int | None:
        """The pid of the helper this sandbox's next count would go to, if one is running."""
        return self._pid(COUNTS)

    @property
    def log_helper_pid(self) -> int | None:
        """The pid of the helper this sandbox's next log job would go to, if one is running."""
        return self._pid(LOGS)

    def _pid(self, kind: str) -> int | None:
        helper = _HELPERS.get((_kept(), self.slot, kind))
        return helper.proc.pid if helper is not None and helper.alive() else None

    def stop(self) -> None:
        """Stop the helpers this sandbox's jobs go to (the next job starts another)."""
        for kind in (COUNTS, LOGS):
            if (helper := _HELPERS.get((_kept(), self.slot, kind))) is not None:
                _retire(helper)

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        """Run one job; the result is {'ok': True, ...} or {'ok': False, 'error': one line}.

        A helper that had served jobs and is found dead when this one is sent (killed from outside
        between runs) is replaced and the job sent once more; a second failure is the job's.
        """
        require = required()
        if unknown := sorted(set(require) - set(confine.PROTECTIONS)):
            detail = f"AIEFF_SANDBOX_REQUIRE names {', '.join(unknown)}; known: {', '.join(confine.PROTECTIONS)}"
            return failed_job(Refused("A302", detail))
        request = {"job": job, "limits": asdict(self.limits), "require": list(require)}
        kind = kind_of(job)
        helper = _helper(self.slot, kind)
        reused = helper.answered
        result = self._send(helper, request)
        if result is None and reused and helper.died:
            result = self._send(_helper(self.slot, kind), request)
        result = result or {"ok": False, "error": "the sandbox process stopped or did not answer in time"}
        if isinstance(how := result.get("protection"), str) and how not in self.protections:
            self.protections.append(how)
        return result

    def _send(self, helper: _Helper, request: dict[str, Any]) -> dict[str, Any] | None:
        """The job's result, or None when the helper died or did not answer (it is then retired)."""
        with helper.lock:
            return self._exchange(helper, request)

    def _exchange(self, helper: _Helper, request: dict[str, Any]) -> dict[str, Any] | None:
        proc = helper.proc
        assert proc.stdin is not None and proc.stdout is not None
        budget = self.limits.wall_seconds + 30 + (0 if helper.answered else START_SECONDS)
        try:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
            line = _readline(proc.stdout, time.monotonic() + budget)
        except (BrokenPipeError, OSError):
            line = ""
        if not line:
            helper.died = line == ""  # its pipe closed; None: it hung or overflowed, and is killed now
            _retire(helper)
            return None
        try:
            result = json.loads(line)
        except ValueError:
            _retire(helper)
            return {"ok": False, "error": "the sandbox process answered with something other than JSON"}
        helper.answered = True
        return result if isinstance(result, dict) else {"ok": False, "error": "malformed sandbox answer"}


def _readline(stream: IO[str], deadline: float) -> str | None:
    """One line from a pipe; "" at EOF (the writer is gone); None past the deadline or for a cut line."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ready, _, _ = select.select([stream], [], [], remaining)
        if ready:
            line = stream.readline(MAX_RESULT)
            return line if line.endswith("\n") or not line else None


# --- the helper process ---------------------------------------------------------------------------

SCRATCH_POLL = 0.05  # seconds between two measures of a job's scratch directory
SCRATCH_ENTRIES = 4096  # more files than this in a scratch directory ends the job


def _vm_size() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _limit(limits: dict[str, Any]) -> None:
    import resource

    def cap(which: int, value: int, grace: int = 0) -> None:
        soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(
            which, (value, value + grace if hard == resource.RLIM_INFINITY else min(value + grace, hard))
        )

    cap(resource.RLIMIT_AS, _vm_size() + int(limits["memory_bytes"]))
    # SIGXCPU at the limit, SIGKILL a second later: with the two equal, the kernel sends SIGKILL alone and the job
    # ended "killed" with no word of the CPU limit (seen when a loaded machine let CPU time pass the wall deadline)
    cap(resource.RLIMIT_CPU, int(limits["cpu_seconds"]), grace=1)
    cap(resource.RLIMIT_FSIZE, int(limits["file_bytes"]))
    cap(resource.RLIMIT_CORE, 0)


def job_files(job: dict[str, Any]) -> list[str]:
    """The artifact files a job may read: its export, its checkpoint, and any it lists under "files"."""
    arch = job.get("arch") or {}
    named = [arch.get("export"), job.get("checkpoint"), *(job.get("files") or [])]
    return [str(f) for f in named if isinstance(f, str) and f]


def _write_line(fd: int, doc: dict[str, Any]) -> None:
    data = (json.dumps(doc) + "\n").encode()
    while data:
        data = data[os.write(fd, data) :]


def _child(job: dict[str, Any], request: dict[str, Any], out: int, scratch: str | None) -> None:
    """Confine this fresh child, report how (one line, before any artifact is read), then run the job,
    or refuse it when a protection the run requires did not take."""
    try:
        out = confine.close_descriptors(out)
        _limit(request["limits"])
        protection = confine.confine(job_files(job), scratch)
        protection.add("limits", "rlimits")
        _write_line(out, {"protection": protection.summary(), "protected": sorted(protection.active)})
        if missing := [name for name in request.get("require", ()) if name not in protection.active]:
            result = unprotected(missing, protection.summary())
        else:
            if scratch:
                os.environ["TMPDIR"] = tempfile.tempdir = scratch
            from aieff.verify.worker import run_job

            if "parse_logs" in job:  # several logs: each run exactly as its own job is, at the same stack depth
                answers = []
                for args in job["parse_logs"]:
                    answers.append(run_job({"parse_log": args}))
                result = {"ok": True, "answers": answers}
            else:
                result = run_job(job)
    except BaseException as exc:  # the child reports, whatever happened
        result = {"ok": False, "error": f"{type(exc).__name__} in the sandbox"}
    _write_line(out, result)


def unprotected(missing: list[str], summary: str) -> dict[str, Any]:
    """The result of a job refused because protections the run requires are not active."""
    detail = f"{', '.join(missing)} not active in the sandbox (active: {summary}); the job was not run"
    return failed_job(Refused("A301", detail))


def _scratch_bytes(scratch: str, pid: int) -> int:
    """Disk a job's scratch directory holds: its files' blocks, and those of deleted files it keeps open."""
    total, entries = 0, 0
    for top, dirs, names in os.walk(scratch):
        entries += len(dirs) + len(names)
        if entries > SCRATCH_ENTRIES:
            return 1 << 62
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(top, name)).st_blocks * 512
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}").endswith(" (deleted)"):
                    total += os.stat(f"/proc/{pid}/fd/{fd}").st_blocks * 512
    return total


def _fork_job(job: dict[str, Any], request: dict[str, Any], scratch: bool = False) -> dict[str, Any]:
    """Run a job in a fresh, confined child; `scratch`: give it a directory it may write, whose total
    size this process measures while it runs and after, the job failing beyond `file_bytes`."""
    limits = request["limits"]
    budget = int(limits["file_bytes"])
    directory = tempfile.mkdtemp(prefix="job-") if scratch else None
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            _child(job, request, write_end, directory)
        finally:
            os._exit(0)
    os.close(write_end)
    deadline = time.monotonic() + float(limits["wall_seconds"])
    chunks, size, stop = [], 0, ""
    try:
        with os.fdopen(read_end, "rb") as pipe:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    stop = "time"
                    break
                ready, _, _ = select.select([pipe], [], [], min(remaining, SCRATCH_POLL) if directory else remaining)
                if directory and _scratch_bytes(directory, pid) > budget:
                    stop = "disk"
                    break
                if not ready:
                    continue
                chunk = os.read(pipe.fileno(), 1 << 16)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_RESULT:
                    stop = "size"
                    break
                chunks.append(chunk)
        if stop:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        if directory and not stop and _scratch_bytes(directory, pid) > budget:
            stop = "disk"
    finally:
        if directory:
            shutil.rmtree(directory, ignore_errors=True)
    if stop == "time":
        return {"ok": False, "error": f"stopped after {limits['wall_seconds']:g} s (the sandbox's time limit)"}
    if stop == "disk":
        return {"ok": False, "error": f"wrote more than {budget:,} bytes (the sandbox's disk limit)"}
    report, result = _lines(b"".join(chunks))
    if result is None:
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        names: dict[int | None, str] = {
            signal.SIGXCPU: "CPU-time limit",
            signal.SIGKILL: "killed",
            signal.SIGSEGV: "crashed",
        }
        why = names.get(sig, "")
        result = {"ok": False, "error": f"the sandboxed job ended without a result (signal {sig} {why})".strip()}
    return {**result, **report}


def _lines(data: bytes) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A child's protection report (its first line, written before the job ran) and its result."""
    lines = data.split(b"\n")
    report: dict[str, Any] = {"protection": "none", "protected": []}
    try:
        first = json.loads(lines[0])
        if isinstance(first, dict) and set(first) == {"protection", "protected"}:
            report = first
            lines = lines[1:]
        result = json.loads(lines[0])
    except (ValueError, IndexError):
        return report, None
    return report, result if isinstance(result, dict) else None


def _warm(job: dict[str, Any]) -> None:
    """Import what the job's children share, once, here: torch and the counters; torchvision on the
    first torchvision job."""
    import ptflops  # noqa: F401
    import torch  # noqa: F401

    import aieff.verify.checkpoint
    import aieff.verify.flops
    import aieff.verify.pt2
    import aieff.verify.worker  # noqa: F401

    if "torchvision" in job.get("arch", {}):
        import torchvision  # noqa: F401


def _answer(job: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """A job's result: its torch-free checks in one child, then, if they pass, the job in another
    (the only one given a scratch directory: loading an export writes a checked copy)."""
    if job.get("probe"):
        return _fork_job(job, request, scratch=True)
    if kind_of(job) == LOGS:  # torch-free: one child (a log helper imported the parsers as it started)
        return _fork_job(job, request)
    checked = _fork_job({**job, "precheck": True}, request)
    if not checked.get("ok"):
        return {**checked, "stage": "precheck"}
    _warm(job)
    return _fork_job(job, request, scratch=True)


def serve(torch_free: bool = False) -> None:
    """The helper's loop: one JSON request per line on stdin, one JSON result per line back.

    Each job first runs its torch-free checks (`aieff.verify.worker.precheck`) in a child of its own; only a
    job that passes them makes the helper import torch (once), so refusing a hostile artifact costs no
    torch start-up. A refusal there says `"stage": "precheck"`. A `torch_free` helper runs log jobs only
    and refuses any other, so nothing it forks ever carries torch.
    """
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever a library prints goes to stderr, not into the protocol
    import aieff.verify.worker  # shared by every forked child

    if torch_free:
        import aieff.verify.logs.sandboxed  # noqa: F401 - the parsers, imported once for every log job

    for line in sys.stdin:
        try:
            request = json.loads(line)
            if torch_free and kind_of(request["job"]) != LOGS:
                result = {"ok": False, "error": "a log helper runs log jobs only"}
            else:
                result = _answer(request["job"], request)
        except (ValueError, KeyError, TypeError, AttributeError):
            result = {"ok": False, "error": "malformed sandbox request"}
        proto.write(json.dumps(result) + "\n")
        proto.flush()


if __name__ == "__main__":
    serve(torch_free=sys.argv[1:] == ["--torch-free"])
