"""Fetch an artifact: a repository path or an https URL, pinned by sha256, bounded in size and time.

Downloads go through pooch (hash-checked, cached by hash, written via a temporary file) with a
downloader of ours that streams with a byte limit, a timeout and a few retries, and refuses
redirects away from https.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

from aieff.repo import DataError, resolve_inside
from aieff.schema import Artifact

MAX_BYTES = 8 << 30
TIMEOUT = 60.0
RETRIES = 3


def sha256_file(path: Path) -> str:
    """Stream a file through sha256."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_dir() -> Path:
    """Where downloaded artifacts are kept, by hash (AIEFF_CACHE overrides)."""
    return Path(os.environ.get("AIEFF_CACHE") or Path.home() / ".cache" / "aieff")


def _ssl_context() -> ssl.SSLContext:
    bundle = os.environ.get("AIEFF_CA_BUNDLE")
    return ssl.create_default_context(cafile=bundle) if bundle else ssl.create_default_context()


class _HttpsOnly(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201
        if not newurl.startswith("https://"):
            raise DataError(f"{req.full_url}: redirect to non-https {newurl} refused")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class Downloader:
    """A pooch downloader: stream to the output file with a size limit, timeout and retries."""

    def __init__(self, max_bytes: int = MAX_BYTES, timeout: float = TIMEOUT, retries: int = RETRIES) -> None:
        self.max_bytes, self.timeout, self.retries = max_bytes, timeout, retries

    def __call__(self, url: str, output_file: str, pooch: object) -> None:  # noqa: ARG002
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=_ssl_context()), _HttpsOnly())
        last: Exception | None = None
        for attempt in range(self.retries):
            try:
                self._once(opener, url, output_file)
                return
            except urllib.error.HTTPError as exc:
                if exc.code < 500:
                    raise DataError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
                last = exc
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last = exc
            time.sleep(min(0.5 * 2**attempt, 4.0))
        raise DataError(f"{url}: failed after {self.retries} attempts: {last}")

    def _once(self, opener: urllib.request.OpenerDirector, url: str, output_file: str) -> None:
        with opener.open(url, timeout=self.timeout) as resp:
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > self.max_bytes:
                raise DataError(f"{url}: {declared} bytes is over the {self.max_bytes}-byte limit")
            total = 0
            with open(output_file, "wb") as out:
                while chunk := resp.read(1 << 20):
                    total += len(chunk)
                    if total > self.max_bytes:
                        raise DataError(f"{url}: more than {self.max_bytes} bytes; download stopped")
                    out.write(chunk)


def fetch(art: Artifact, root: Path, *, what: str, max_bytes: int = MAX_BYTES) -> Path:
    """A local, hash-verified copy of an artifact; DataError with one clear line otherwise."""
    if art.path is not None:
        target = resolve_inside(root, art.path)
        if target is None or not target.is_file():
            raise DataError(f"{what}: {art.path} is not a file inside the repository")
        if target.stat().st_size > max_bytes:
            raise DataError(f"{what}: {art.path} is over the {max_bytes}-byte limit")
        actual = sha256_file(target)
        if actual != art.sha256:
            raise DataError(f"{what}: sha256 mismatch for {art.path}: entry pins {art.sha256}, file has {actual}")
        return target
    import pooch

    assert art.url is not None
    try:
        out = pooch.retrieve(
            art.url,
            known_hash=f"sha256:{art.sha256}",
            fname=art.sha256,
            path=cache_dir(),
            downloader=Downloader(max_bytes=max_bytes),
            progressbar=False,
        )
    except ValueError as exc:
        if "hash" in str(exc).lower():
            raise DataError(
                f"{what}: sha256 mismatch for {art.url}: entry pins {art.sha256}; the server sent different bytes"
            ) from exc
        raise DataError(f"{what}: {art.url}: {exc}") from exc
    return Path(out)
