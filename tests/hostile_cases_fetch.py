"""Hostile servers for `aieff check`: each must end unreachable at the fetch deadline, never hang.

The servers run on 127.0.0.1 in this process (started once); the CLI runs in a subprocess and trusts
their throw-away certificate through AIEFF_CA_BUNDLE.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from pathlib import Path

from hostile_corpus import Case, Result, add_artifacts, failed_with, https_server

_SERVERS: dict[str, str] = {}
DEADLINE = 3  # AIEFF_FETCH_DEADLINE for these cases, in seconds
ENV = {"AIEFF_FETCH_DEADLINE": str(DEADLINE), "AIEFF_FETCH_ALLOW_LOOPBACK": "1", "AIEFF_CA_FROM_FILE": "ca.txt"}


def _header_drip_url() -> tuple[str, str]:
    """(url, CA bundle) of an HTTPS server that sends its headers one byte every 0.2 s, never ending them."""
    if "headers" not in _SERVERS:
        from conftest import drip_headers

        _SERVERS["headers"], _SERVERS["ca"] = https_server(drip_headers, "aieff-hdrip-")
    return _SERVERS["headers"], _SERVERS["ca"]


def _no_handshake_url() -> str:
    """A port that accepts TCP connections and holds them without a word: no TLS handshake ever completes."""
    if "silent" not in _SERVERS:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        held: list[socket.socket] = []

        def accept() -> None:
            while True:
                try:
                    held.append(listener.accept()[0])
                except OSError:
                    return

        threading.Thread(target=accept, daemon=True).start()
        _SERVERS["silent"] = f"https://127.0.0.1:{listener.getsockname()[1]}/log.tsv"
    return _SERVERS["silent"]


def _log_from(repo: Path, url: str, ca: str) -> list[str]:
    """A committed toy repository whose changed entry pins a training log at `url`; `aieff check` fetches it."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=repo, check=True)
    (repo / "ca.txt").write_text(ca)
    add_artifacts(
        repo,
        f"  architecture:\n    torchvision: resnet18\n  training_log:\n    url: {url}\n    sha256: {'ab' * 32}\n"
        "    format: dawnbench-tsv\n",
    )
    return ["check", "--changed-since", "HEAD"]


def _unreachable_at_the_deadline(r: Result) -> str | None:
    """Unreachable, in a run that did not wait much past the deadline (start-up and the other checks
    take a few seconds; a wait per header byte or per read would take minutes)."""
    if r.seconds > DEADLINE + 15:
        return f"took {r.seconds:.0f} s for a {DEADLINE} s deadline"
    return failed_with(f"unreachable (no complete answer within {DEADLINE} s")(r)


def cases() -> list[Case]:
    return [
        Case(
            "download-headers-one-byte-every-0.2-s",
            lambda r: _log_from(r, *_header_drip_url()),
            _unreachable_at_the_deadline,
            env=ENV,
            timeout=90,
        ),
        Case(
            "download-tls-handshake-never-answered",
            lambda r: _log_from(r, _no_handshake_url(), _header_drip_url()[1]),
            _unreachable_at_the_deadline,
            env=ENV,
            timeout=90,
        ),
    ]
