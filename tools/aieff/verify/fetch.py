"""Fetch an artifact: a repository path or an https URL, pinned by sha256, bounded in size and time.

Downloads go through pooch (hash-checked, cached by hash, written via a temporary file) with a
downloader of ours that: resolves the host itself and connects only to public addresses (never
loopback, private, link-local, shared or metadata ranges; checked again on every redirect, and the
connection goes to the address that was checked, so DNS cannot change its answer in between);
follows https redirects only; streams with a size limit per artifact kind; and stops at one total
deadline per artifact, retrying server errors within it. The deadline covers the whole exchange (name
lookup, connect, TLS handshake, status line, headers, body, retries): every socket operation may block
at most READ_TIMEOUT and never past it, so a server that sends its handshake, headers or body a byte
at a time cannot outlast it. Settings are read on every call. Whatever went wrong on the network, the
message says "unreachable" and what happened in this run (the host does not resolve, no route, refused,
a server error, or the deadline spent, with the tries and seconds taken), and such a failure is not a
verdict on the entry. Within remember_silent_hosts() (one `aieff estimate` run), a host that gave no
answer at all is not asked again, so an offline run costs one deadline per host, not one per artifact.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import functools
import hashlib
import http.client
import ipaddress
import math
import os
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aieff.dataset.diagnostics import excerpt
from aieff.dataset.schema import Artifact
from aieff.repo import DataError, Unreachable, resolve_inside

if TYPE_CHECKING:
    from typing_extensions import Buffer

# Largest file accepted per artifact kind, in bytes.
MAX_BYTES = {"log": 256 << 20, "export": 2 << 30, "checkpoint": 8 << 30}
DEADLINE_ENV = "AIEFF_FETCH_DEADLINE"  # seconds per artifact, all tries included (read on every call)
DEFAULT_DEADLINE = 600.0
READ_TIMEOUT = 30.0  # seconds one socket operation may block (never more than what is left)
RETRIES = 3
ALLOW_LOOPBACK_ENV = "AIEFF_FETCH_ALLOW_LOOPBACK"  # tests serve artifacts on 127.0.0.1


_SILENT: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("aieff_silent_hosts", default=None)


@contextlib.contextmanager
def remember_silent_hosts() -> Iterator[None]:
    """Within the block, a host (and port) that sent no answer to any try is reported unreachable at once."""
    token = _SILENT.set({})
    try:
        yield
    finally:
        _SILENT.reset(token)


def deadline_seconds() -> float:
    """The total time per artifact: AIEFF_FETCH_DEADLINE when set (read now, not at import), else 600 s."""
    raw = os.environ.get(DEADLINE_ENV) or ""
    if not raw:
        return DEFAULT_DEADLINE
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:  # not a verdict on the entry: the operator's setting is wrong
        raise Unreachable(f"{DEADLINE_ENV}={excerpt(raw, 40)} is not a positive number of seconds; nothing fetched")
    return value


def _timeout(stop: float) -> float:
    """How long the next socket operation may block: READ_TIMEOUT, capped by what is left before `stop`."""
    left = stop - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline")
    return min(READ_TIMEOUT, left)


def sha256_file(path: Path) -> str:
    """Stream a file through sha256."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _plain(url: str) -> str:
    """A URL for a message: printable ASCII kept, anything else escaped, at most 200 characters."""
    text = url if url.isascii() and url.isprintable() else excerpt(url, 200)
    return text if len(text) <= 200 else text[:200] + "..."


def cache_dir() -> Path:
    """Where downloaded artifacts are kept, by hash (AIEFF_CACHE overrides)."""
    return Path(os.environ.get("AIEFF_CACHE") or Path.home() / ".cache" / "aieff")


def _ssl_context() -> ssl.SSLContext:
    return _context_for(os.environ.get("AIEFF_CA_BUNDLE"))


@functools.lru_cache(maxsize=4)
def _context_for(bundle: str | None) -> ssl.SSLContext:
    """One verifying context per CA bundle for the process: loading the system's CA store costs ~25 ms,
    paid once rather than on every download."""
    context = ssl.create_default_context(cafile=bundle) if bundle else ssl.create_default_context()
    context.sslsocket_class = _DeadlineSocket  # the documented way to get sockets of our own class
    return context


class _DeadlineSocket(ssl.SSLSocket):
    """A TLS socket whose every handshake step, read and send blocks at most _timeout(stop): one byte
    every few seconds keeps no operation waiting past the deadline, and each read checks it first."""

    stop = math.inf

    def do_handshake(self, block: bool = False) -> None:
        self.settimeout(_timeout(self.stop))  # the handshake as a whole is bounded by this (CPython's _ssl)
        super().do_handshake(block)

    # CPython's read returns the count read when given a buffer, which typeshed's `-> bytes` leaves out.
    def read(self, len: int = 1024, buffer: Buffer | None = None) -> bytes | int:  # type: ignore[override]
        self.settimeout(_timeout(self.stop))  # recv and recv_into (status line, headers, body) come here
        return super().read(len, buffer)

    def send(self, data: Buffer, flags: int = 0) -> int:
        self.settimeout(_timeout(self.stop))  # sendall sends through here
        return super().send(data, flags)


class Refused(Exception):
    """The host resolves to an address artifacts may not come from."""


def allowed_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Public unicast addresses only (loopback too when ALLOW_LOOPBACK_ENV is set, for tests)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback and os.environ.get(ALLOW_LOOPBACK_ENV) == "1":
        return True
    return ip.is_global and not ip.is_multicast


def _lookup(host: str, port: int, timeout: float) -> list[tuple]:
    """getaddrinfo, given up after `timeout` s: it has no timeout of its own, so it runs in a thread
    that is left to finish on its own when the answer is late."""
    answer: list = []

    def ask() -> None:
        try:
            answer.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except Exception as exc:  # any failure reads "does not resolve", never a thread traceback
            answer.append(exc)

    thread = threading.Thread(target=ask, name="aieff-dns", daemon=True)
    thread.start()
    thread.join(timeout)
    if not answer:
        raise TimeoutError("name lookup")
    if isinstance(answer[0], BaseException):
        raise OSError("name does not resolve") from answer[0]
    return answer[0]


def public_addresses(host: str, port: int, timeout: float = READ_TIMEOUT) -> list[str]:
    """The host's addresses, all of which must be allowed (one bad answer refuses the host)."""
    infos = _lookup(host, port, timeout)
    addresses = []
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if not allowed_address(ip):
            raise Refused(host)
        addresses.append(str(ip))
    if not addresses:
        raise OSError("no address")
    return addresses


class _CheckedConnection(http.client.HTTPSConnection):
    """Connects to an address that passed public_addresses, verifying TLS against the host name, with
    every step (lookup, connect, handshake, then each read and send) bounded by the deadline `stop`."""

    def __init__(self, *args: Any, stop: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stop = stop

    def connect(self) -> None:
        address = public_addresses(self.host, self.port, _timeout(self.stop))[0]
        sock = socket.create_connection((address, self.port), _timeout(self.stop))
        try:
            # _context: HTTPSConnection's TLS context, a private attribute typeshed does not declare
            tls = self._context.wrap_socket(sock, server_hostname=self.host, do_handshake_on_connect=False)  # type: ignore[attr-defined]
        except BaseException:
            sock.close()
            raise
        assert isinstance(tls, _DeadlineSocket)
        tls.stop = self.stop
        try:
            tls.do_handshake()
        except BaseException:
            tls.close()
            raise
        self.sock = tls


class _CheckedHandler(urllib.request.HTTPSHandler):
    def __init__(self, context: ssl.SSLContext, stop: float) -> None:
        super().__init__(context=context)
        self.stop = stop

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = functools.partial(_CheckedConnection, stop=self.stop)
        # _context: HTTPSHandler's TLS context, a private attribute typeshed does not declare
        return self.do_open(connection, req, context=self._context)  # type: ignore[attr-defined]


class _HttpsOnly(urllib.request.HTTPRedirectHandler):
    max_redirections = 5

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if not newurl.startswith("https://"):
            raise DataError(f"{_plain(req.full_url)}: redirect to non-https {excerpt(newurl, 200)} refused")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener(stop: float) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), _CheckedHandler(_ssl_context(), stop), _HttpsOnly()
    )


class Downloader:
    """A pooch downloader: stream to the output file within a size limit and one total deadline
    (default: deadline_seconds(), read when the download starts)."""

    def __init__(self, max_bytes: int, deadline: float | None = None, retries: int = RETRIES) -> None:
        self.max_bytes, self.deadline, self.retries = max_bytes, deadline, retries

    def __call__(self, url: str, output_file: str, pooch: object) -> None:
        deadline = deadline_seconds() if self.deadline is None else self.deadline
        start = time.monotonic()
        stop = start + deadline
        opener = _opener(stop)
        shown = _plain(url)
        silent, host = _SILENT.get(), urlsplit(url).netloc
        if silent is not None and host in silent:
            raise Unreachable(f"{shown}: unreachable ({silent[host]}, earlier in this run: not asked again)")
        answered = False
        why, tries = "no answer", 0
        for attempt in range(self.retries):
            tries += 1
            try:
                self._once(opener, url, output_file, stop)
                return
            except Refused as exc:
                raise DataError(f"{shown}: unreachable (not a public address)") from exc
            except urllib.error.HTTPError as exc:
                answered = True  # a server error is an answer: the host is up, this artifact may come back
                if exc.code < 500:
                    raise DataError(f"{shown}: HTTP {exc.code}") from exc
                why = f"{_host(host)} answered HTTP {exc.code} (a server error)"
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, Refused):
                    raise DataError(f"{shown}: unreachable (not a public address)") from exc
                if isinstance(exc.reason, ssl.SSLCertVerificationError):  # the same on every try: not retried
                    raise Unreachable(f"{shown}: unreachable (its TLS certificate is not trusted)") from exc
                why = _why(host, exc.reason)
            except (TimeoutError, OSError, http.client.HTTPException) as exc:
                why = _why(host, exc)
            pause = min(0.5 * 2**attempt, 4.0)
            if attempt + 1 == self.retries or time.monotonic() + pause >= stop:
                break
            time.sleep(pause)
        if silent is not None and not answered:
            silent[host] = why
        taken = time.monotonic() - start
        times = "1 try" if tries == 1 else f"{tries} tries"
        if taken >= deadline - 0.05 or why == "no answer":  # the whole budget was spent waiting
            raise Unreachable(f"{shown}: unreachable (no complete answer within {deadline:g} s: {why}, {times})")
        raise Unreachable(f"{shown}: unreachable ({why}; {times} in {taken:.1f} s)")

    def _once(self, opener: urllib.request.OpenerDirector, url: str, output_file: str, stop: float) -> None:
        with opener.open(url, timeout=_timeout(stop)) as resp:  # each socket step re-arms its own timeout
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > self.max_bytes:
                raise DataError(f"{_plain(url)}: {declared} bytes is over the {self.max_bytes}-byte limit")
            total = 0
            with open(output_file, "wb") as out:
                while chunk := resp.read1(1 << 16):  # what has arrived; read() would wait for all of it
                    _timeout(stop)  # one deadline for the whole transfer, however slowly bytes arrive
                    total += len(chunk)
                    if total > self.max_bytes:
                        raise DataError(f"{_plain(url)}: more than {self.max_bytes} bytes; download stopped")
                    out.write(chunk)


def _host(netloc: str) -> str:
    return _plain(netloc.rsplit("@", 1)[-1])


def _why(netloc: str, exc: BaseException | str) -> str:
    """What one failed try ran into, in a contributor's words (the errno, not a traceback)."""
    host = _host(netloc)
    if isinstance(exc, TimeoutError):
        return f"no answer from {host} in time"
    if isinstance(exc, OSError) and isinstance(exc.__cause__, socket.gaierror) or isinstance(exc, socket.gaierror):
        return f"{host} does not resolve (no name service, or no such host)"
    if isinstance(exc, ConnectionRefusedError):
        return f"could not connect to {host} (connection refused)"
    if isinstance(exc, OSError) and exc.errno in {errno.ENETUNREACH, errno.EHOSTUNREACH}:
        return f"could not connect to {host} (no route)"
    if isinstance(exc, ssl.SSLError | http.client.HTTPException | ConnectionError):
        return f"{host} broke off the exchange ({type(exc).__name__})"
    if isinstance(exc, OSError) and str(exc) == "name does not resolve":
        return f"{host} does not resolve"
    return f"could not connect to {host} ({excerpt(str(exc), 80) or type(exc).__name__})"


def fetch(art: Artifact, root: Path, *, what: str, kind: str = "log", max_bytes: int | None = None) -> Path:
    """A local, hash-verified copy of an artifact; DataError (or Unreachable) with one clear line otherwise."""
    limit = max_bytes if max_bytes is not None else MAX_BYTES[kind]
    if art.path is not None:
        target = resolve_inside(root, art.path)
        entries = (root / "entries").resolve()
        if target is None or not target.is_relative_to(entries) or not target.is_file():
            raise DataError(f"{what}: {art.path} is not a file inside the repository's entries/")
        if target.stat().st_size > limit:
            raise DataError(f"{what}: {art.path} is over the {limit}-byte limit")
        if sha256_file(target) != art.sha256:
            raise DataError(f"{what}: sha256 mismatch for {art.path}: the file is not the one the entry pins")
        return target
    import pooch

    assert art.url is not None
    try:
        out = pooch.retrieve(
            art.url,
            known_hash=f"sha256:{art.sha256}",
            fname=art.sha256,
            path=cache_dir(),
            downloader=Downloader(max_bytes=limit),
            progressbar=False,
        )
    except ValueError as exc:
        if "hash" in str(exc).lower():
            raise DataError(
                f"{what}: sha256 mismatch for {_plain(art.url)}: entry pins {art.sha256}; "
                "the server sent different bytes"
            ) from exc
        raise DataError(f"{what}: {_plain(art.url)}: {excerpt(str(exc), 200)}") from exc
    except DataError as exc:
        raise type(exc)(f"{what}: {exc}") from exc
    return Path(out)
