"""Fetching artifacts against a real HTTPS server on 127.0.0.1: hashes, limits, redirects, retries."""

from __future__ import annotations

import hashlib
import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import self_signed_cert

pytest.importorskip("pooch")

from aieff.fetch import fetch  # noqa: E402
from aieff.repo import DataError, Unreachable  # noqa: E402
from aieff.schema import Artifact  # noqa: E402

BODY = b"epoch\ttop5Accuracy\n1\t80\n"
SHA = hashlib.sha256(BODY).hexdigest()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, int]]]:
    cert, key = self_signed_cert(tmp_path_factory.mktemp("tls"))
    hits: dict[str, int] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            hits[self.path] = hits.get(self.path, 0) + 1
            if self.path == "/log.tsv" or (self.path == "/flaky" and hits[self.path] > 2):
                self._send(200, BODY)
            elif self.path == "/flaky":
                self._send(503, b"busy")
            elif self.path == "/big":
                self._send(200, b"x" * 5000)
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
    with pytest.raises(Unreachable, match="unreachable"):
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
