"""Fetching artifacts against a real HTTPS server on 127.0.0.1: hashes, limits, redirects, retries."""

from __future__ import annotations

import hashlib
import http.server
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import drip, drip_headers, self_signed_cert

pytest.importorskip("pooch")

from aieff.dataset.schema import Artifact
from aieff.repo import DataError, Unreachable
from aieff.verify.fetch import Downloader, allowed_address, fetch, remember_silent_hosts

BODY = b"epoch\ttop5Accuracy\n1\t80\n"
SHA = hashlib.sha256(BODY).hexdigest()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, int]]]:
    cert, key = self_signed_cert(tmp_path_factory.mktemp("tls"))
    hits: dict[str, int] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            hits[self.path] = hits.get(self.path, 0) + 1
            if self.path == "/log.tsv" or (self.path == "/flaky" and hits[self.path] > 2):
                self._send(200, BODY)
            elif self.path in ("/flaky", "/busy"):
                self._send(503, b"busy")
            elif self.path == "/big":
                self._send(200, b"x" * 5000)
            elif self.path == "/drip":
                drip(self)
            elif self.path == "/drip-headers":
                drip_headers(self)
            elif self.path == "/headers-then-silence":
                drip_headers(self, size=9, then_wait=10)
            elif self.path == "/to-127-0-0-2":
                self.send_response(302)
                self.send_header("Location", f"https://127.0.0.2:{self.server.server_address[1]}/log.tsv")
                self.end_headers()
            elif self.path == "/to-http":
                self.send_response(302)
                self.send_header("Location", "http://127.0.0.1:9/log.tsv")
                self.end_headers()
            else:
                self._send(404, b"no")

        def _send(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    mp = pytest.MonkeyPatch()
    mp.setenv("AIEFF_CA_BUNDLE", str(cert))
    mp.setenv("AIEFF_FETCH_ALLOW_LOOPBACK", "1")
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}", hits
    finally:
        mp.undo()
        httpd.shutdown()


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIEFF_CACHE", str(tmp_path / "cache"))


def art(url: str, sha: str = SHA) -> Artifact:
    return Artifact(url=url, sha256=sha)


def test_download_is_verified_and_cached(server, tmp_path: Path) -> None:
    base, hits = server
    path = fetch(art(f"{base}/log.tsv"), tmp_path, what="log")
    assert path.read_bytes() == BODY and path.name == SHA
    fetch(art(f"{base}/log.tsv"), tmp_path, what="log")
    assert hits["/log.tsv"] == 1  # second time from the cache


def test_hash_mismatch_keeps_nothing(server, tmp_path: Path) -> None:
    base, _ = server
    with pytest.raises(DataError, match="sha256 mismatch"):
        fetch(art(f"{base}/log.tsv", "0" * 64), tmp_path, what="log")
    assert not (tmp_path / "cache" / ("0" * 64)).exists()


def test_size_limit(server, tmp_path: Path) -> None:
    base, _ = server
    with pytest.raises(DataError, match="over the 1000-byte limit"):
        fetch(art(f"{base}/big"), tmp_path, what="log", max_bytes=1000)


def test_redirect_to_http_is_refused(server, tmp_path: Path) -> None:
    base, _ = server
    with pytest.raises(DataError, match="redirect to non-https"):
        fetch(art(f"{base}/to-http"), tmp_path, what="log")


def test_server_errors_are_retried_and_404_is_not(server, tmp_path: Path) -> None:
    base, hits = server
    assert fetch(art(f"{base}/flaky"), tmp_path, what="log").read_bytes() == BODY
    assert hits["/flaky"] == 3
    with pytest.raises(DataError, match="HTTP 404"):  # another hash: the cache holds SHA's bytes already
        fetch(art(f"{base}/missing", "2" * 64), tmp_path, what="log")
    assert hits["/missing"] == 1


def test_untrusted_certificate_is_refused(server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base, _ = server
    monkeypatch.delenv("AIEFF_CA_BUNDLE")
    with pytest.raises(Unreachable, match="unreachable \\(its TLS certificate is not trusted\\)"):
        fetch(art(f"{base}/log.tsv"), tmp_path, what="log")


def test_repo_paths_are_checked(tmp_path: Path) -> None:
    (tmp_path / "entries/lvl").mkdir(parents=True)
    (tmp_path / "entries/lvl/log.tsv").write_bytes(BODY)
    assert fetch(Artifact(path="entries/lvl/log.tsv", sha256=SHA), tmp_path, what="log").read_bytes() == BODY
    with pytest.raises(DataError, match="sha256 mismatch") as info:
        fetch(Artifact(path="entries/lvl/log.tsv", sha256="1" * 64), tmp_path, what="log")
    assert SHA not in str(info.value)  # the file's real hash is not disclosed
    (tmp_path / "entries/lvl/link.tsv").symlink_to("/etc/hostname")
    with pytest.raises(DataError, match="not a file inside the repository"):
        fetch(Artifact(path="entries/lvl/link.tsv", sha256=SHA), tmp_path, what="log")
    (tmp_path / "README.md").write_bytes(BODY)
    (tmp_path / "entries/lvl/readme.tsv").symlink_to(tmp_path / "README.md")  # inside the repo, outside entries/
    with pytest.raises(DataError, match="not a file inside the repository's entries/"):
        fetch(Artifact(path="entries/lvl/readme.tsv", sha256=SHA), tmp_path, what="log")
    with pytest.raises(DataError, match="over the 10-byte limit"):
        fetch(Artifact(path="entries/lvl/log.tsv", sha256=SHA), tmp_path, what="log", max_bytes=10)


def test_one_deadline_for_the_whole_download(server, tmp_path: Path) -> None:
    """A server that drips a byte every 0.2 s never trips a read timeout; the total deadline stops it."""
    base, _ = server
    out = tmp_path / "out"
    with pytest.raises(Unreachable, match="unreachable"):
        Downloader(max_bytes=10_000, deadline=1.5, retries=1)(f"{base}/drip", str(out), None)
    assert 0 < out.stat().st_size < 100  # stopped near 1.5 s of dripping, far from the 1000 bytes (200 s)


def test_loopback_and_private_addresses_are_refused(server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base, _ = server
    monkeypatch.delenv("AIEFF_FETCH_ALLOW_LOOPBACK")
    with pytest.raises(DataError, match="unreachable") as info:
        fetch(art(f"{base}/log.tsv"), tmp_path, what="log")
    assert not isinstance(info.value, Unreachable)  # a refusal is a verdict, not a transient failure
    for address in ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0"]:
        assert not allowed_address(ipaddress.ip_address(address)), address
    for address in ["::1", "fd00::1", "fe80::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254"]:
        assert not allowed_address(ipaddress.ip_address(address)), address
    assert allowed_address(ipaddress.ip_address("140.82.112.3"))


def test_redirects_are_checked_again(server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only 127.0.0.1 is allowed here: a redirect to 127.0.0.2 is refused before any connection."""
    base, hits = server
    monkeypatch.setattr("aieff.verify.fetch.allowed_address", lambda ip: str(ip) == "127.0.0.1")
    with pytest.raises(DataError, match="not a public address") as info:
        fetch(art(f"{base}/to-127-0-0-2", "3" * 64), tmp_path, what="log")
    assert not isinstance(info.value, Unreachable)
    assert hits["/to-127-0-0-2"] == 1


def test_open_and_closed_ports_are_both_unreachable_and_say_what_happened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither is a verdict; each says what this run saw, and only a spent deadline is called one."""
    monkeypatch.setenv("AIEFF_FETCH_ALLOW_LOOPBACK", "1")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()  # open, but never speaks TLS
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    messages = []
    for sock in (listener, closed):
        url = f"https://127.0.0.1:{sock.getsockname()[1]}/x"
        with pytest.raises(Unreachable) as info:
            Downloader(max_bytes=100, deadline=1.0, retries=1)(url, str(tmp_path / "out"), None)
        messages.append(str(info.value).replace(str(sock.getsockname()[1]), "PORT"))
    listener.close()
    closed.close()
    assert messages[0] == (
        "https://127.0.0.1:PORT/x: unreachable (no complete answer within 1 s: no answer from 127.0.0.1:PORT in time, "
        "1 try)"
    )
    assert messages[1].startswith(
        "https://127.0.0.1:PORT/x: unreachable (could not connect to 127.0.0.1:PORT (connection refused); 1 try in "
    )


def test_a_silent_host_is_asked_once_per_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline, an estimate run pays one deadline per host, not one per artifact; outside a run nothing is kept."""
    monkeypatch.setenv("AIEFF_FETCH_ALLOW_LOOPBACK", "1")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    connections: list[socket.socket] = []

    def accept() -> None:  # take every connection and never answer (as a firewall that drops traffic)
        while True:
            try:
                connections.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    base = f"https://127.0.0.1:{listener.getsockname()[1]}"

    def download(path: str) -> str:
        with pytest.raises(Unreachable) as info:
            Downloader(max_bytes=100, deadline=2.0, retries=2)(f"{base}/{path}", str(tmp_path / "out"), None)
        return str(info.value)

    with remember_silent_hosts():
        first = download("a.tsv")
        asked = len(connections)
        second = download("b.tsv")
    assert asked >= 1 and "no complete answer" in first
    assert len(connections) == asked and "earlier in this run: not asked again" in second
    download("c.tsv")  # a new run asks again
    assert len(connections) > asked
    listener.close()


def test_a_server_error_is_an_answer(server, tmp_path: Path) -> None:
    """A host that answers 5xx stays askable: only silence is remembered."""
    base, hits = server
    with remember_silent_hosts():
        with pytest.raises(Unreachable, match=r"answered HTTP 503 \(a server error\); 3 tries in"):  # 503 each try
            fetch(art(f"{base}/busy", "4" * 64), tmp_path, what="log")
        assert hits["/busy"] == 3
        assert fetch(art(f"{base}/log.tsv"), tmp_path, what="log").read_bytes() == BODY  # the host is still asked


# The deadline is the behaviour under test here, so these tests time it: each download runs in a thread
# and must have ended, unreachable, within its deadline plus MARGIN (a hang fails instead of blocking).
MARGIN = 1.0


def _ends_in_time(download: Callable[[], None], deadline: float) -> tuple[float, BaseException | None]:
    """(seconds taken, exception raised) by download(); fails when it is still running after the deadline."""
    outcome: dict[str, object] = {}

    def go() -> None:
        start = time.monotonic()
        try:
            download()
        except BaseException as exc:  # handed to the test
            outcome["error"] = exc
        outcome["seconds"] = time.monotonic() - start

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    thread.join(deadline + MARGIN + 3)
    assert not thread.is_alive(), f"still downloading {deadline + MARGIN + 3:g} s into a {deadline:g} s deadline"
    seconds, error = outcome["seconds"], outcome.get("error")
    assert isinstance(seconds, float) and (error is None or isinstance(error, BaseException))
    return seconds, error


def test_a_server_that_drips_its_headers_is_stopped_at_the_deadline(server, tmp_path: Path) -> None:
    """One header byte every 0.2 s never trips a read timeout; the deadline covers the headers too."""
    base, _ = server
    download = Downloader(max_bytes=10_000, deadline=1.5)
    seconds, error = _ends_in_time(lambda: download(f"{base}/drip-headers", str(tmp_path / "out"), None), 1.5)
    assert isinstance(error, Unreachable) and "no complete answer within 1.5 s" in str(error), error
    assert seconds < 1.5 + MARGIN


def test_each_read_waits_only_for_what_is_left(server, tmp_path: Path) -> None:
    """Headers dripped for 1.8 s, then silence: the read that waits must end at the 2 s deadline, not a
    full per-attempt timeout later."""
    base, _ = server
    download = Downloader(max_bytes=10_000, deadline=2.0)
    seconds, error = _ends_in_time(lambda: download(f"{base}/headers-then-silence", str(tmp_path / "out"), None), 2.0)
    assert isinstance(error, Unreachable), error
    assert seconds < 2.0 + MARGIN


def test_a_handshake_that_never_completes_is_stopped_at_the_deadline(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AIEFF_FETCH_ALLOW_LOOPBACK", "1")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []

    def accept() -> None:  # the TCP connection is taken, the TLS handshake never answered
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    url = f"https://127.0.0.1:{listener.getsockname()[1]}/x"
    download = Downloader(max_bytes=100, deadline=1.5)
    try:
        seconds, error = _ends_in_time(lambda: download(url, str(tmp_path / "out"), None), 1.5)
    finally:
        listener.close()
    assert held and isinstance(error, Unreachable), error
    assert seconds < 1.5 + MARGIN


def test_the_deadline_setting_is_read_when_a_download_starts(server, tmp_path: Path, monkeypatch) -> None:
    """AIEFF_FETCH_DEADLINE set after import still applies (here to a body dripped over 200 s)."""
    base, _ = server
    monkeypatch.setenv("AIEFF_FETCH_DEADLINE", "1.5")
    seconds, error = _ends_in_time(lambda: fetch(art(f"{base}/drip", "5" * 64), tmp_path, what="log"), 1.5)
    assert isinstance(error, Unreachable) and "no complete answer within 1.5 s" in str(error), error
    assert seconds < 1.5 + MARGIN
    for bad in ("soon", "0", "-1", "nan", "inf"):
        monkeypatch.setenv("AIEFF_FETCH_DEADLINE", bad)
        with pytest.raises(Unreachable, match="AIEFF_FETCH_DEADLINE=.* is not a positive number of seconds"):
            fetch(art(f"{base}/log.tsv", "6" * 64), tmp_path, what="log")


def test_a_name_lookup_that_never_answers_is_stopped_at_the_deadline(tmp_path: Path, monkeypatch) -> None:
    """getaddrinfo has no timeout of its own (a resolver asking a slow name server can wait long)."""
    real = socket.getaddrinfo

    def slow(host: str, *args: object, **kwargs: object) -> object:
        if host == "slow.example":
            time.sleep(30)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    download = Downloader(max_bytes=100, deadline=1.5)
    seconds, error = _ends_in_time(lambda: download("https://slow.example/x", str(tmp_path / "out"), None), 1.5)
    assert isinstance(error, Unreachable), error
    assert seconds < 1.5 + MARGIN
