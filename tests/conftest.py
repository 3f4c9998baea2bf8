"""Shared helpers: the repository root, a CLI runner, and a copy of the toy repository."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
TOY = FIXTURES / "valid" / "basic"

os.environ.setdefault("AIEFF_TODAY", "2026-11-22")


def run(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI's main() in this process, in cwd, with env added, as `python -m aieff` runs it.

    Output, exit code and an uncaught exception's traceback (exit 1, on stderr) are what the
    contributor's process would show. Running here keeps this test process's sandbox helper, so torch
    is imported once per test process rather than once per command. `run_process` runs a real
    subprocess, for what only one can show (start-up, imports, signals).
    """
    import contextlib
    import io
    import traceback

    from aieff.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.update(env or {})
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse: --help, usage errors
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Exception:  # shown as the interpreter would show it
                traceback.print_exc()
                code = 1
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(["aieff", *args], code, out.getvalue(), err.getvalue())


def run_script(script: Path, *args: str) -> None:
    """Run a Python file as `python SCRIPT ARGS...` runs it (as __main__, with that argv), in this process.

    The export scripts write the same bytes here as in a fresh interpreter (their graphs name nothing
    process-wide); running here spares each test a torch start-up.
    """
    import contextlib
    import io
    import runpy

    saved = sys.argv
    sys.argv = [str(script), *args]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = saved


def run_process(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess, as a contributor would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "aieff", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=600,
        check=False,
    )


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 (openssl CLI), for real HTTPS servers in tests."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def drip(handler: http.server.BaseHTTPRequestHandler, delay: float = 0.2, size: int = 1000) -> None:
    """Answer a request with `size` bytes sent one every `delay` seconds: every read is quick, the whole is not."""
    import time

    handler.send_response(200)
    handler.send_header("Content-Length", str(size))
    handler.end_headers()
    try:
        for _ in range(size):
            handler.wfile.write(b"x")
            handler.wfile.flush()
            time.sleep(delay)
    except OSError:
        pass


def drip_headers(
    handler: http.server.BaseHTTPRequestHandler, delay: float = 0.2, size: int = 3000, then_wait: float = 0.0
) -> None:
    """Send a status line, then one header `size` bytes long a byte every `delay` seconds (then wait
    `then_wait` seconds in silence): every read is quick, the headers never end."""
    import time

    try:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        for _ in range(size):
            handler.wfile.write(b"a")
            handler.wfile.flush()
            time.sleep(delay)
        time.sleep(then_wait)
    except OSError:
        pass


def pytest_sessionstart(session: pytest.Session) -> None:
    """In CI, a missing optional extra fails the run instead of skipping a third of the suite."""
    import importlib.util

    if os.environ.get("CI"):
        missing = [
            m for m in ("torch", "torchvision", "ptflops", "matplotlib", "pyarrow") if not importlib.util.find_spec(m)
        ]
        if missing:
            raise pytest.UsageError(f"CI is set but {', '.join(missing)} is not installed: run `make test`")


_LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "ip6-localhost"}


def _loopback(host: object) -> bool:
    import ipaddress

    if not isinstance(host, str):
        return False
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hermetic: a test process may resolve and connect to loopback only (tests start their own servers
    there); anything else is refused at once, as on a machine without a route, whatever the machine has."""
    import socket

    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not _loopback(host if isinstance(host, str) else str(host)):
            raise socket.gaierror(socket.EAI_NONAME, f"tests resolve loopback names only, not {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            raise ConnectionRefusedError(f"tests connect to loopback only, not {address[0]!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One artifact and render cache for the whole run, shared by its workers, never the user's own:
    a test sees only what the suite itself put there, as on a fresh CI machine."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "aieff-cache"
    folder.mkdir(exist_ok=True)
    os.environ["AIEFF_CACHE"] = str(folder)
    return folder


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    """A writable copy of the small valid repository."""
    dest = tmp_path / "repo"
    shutil.copytree(TOY, dest)
    return dest
