"""`aieff cache add`: seed the artifact cache with local files, so entries that pin them verify offline.

A file is stored under its sha256 only when some entry pins that hash for a URL artifact: the cache
never holds bytes nothing asked for, and a file with a different hash is refused by name. With
--git-dir, every artifact pinned by a GitHub raw URL at a commit is read from a local clone or
snapshot (`git cat-file blob COMMIT:PATH`) instead of the network.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from aieff.dataset.validate import validate
from aieff.repo import DataError, UsageError
from aieff.verify.fetch import MAX_BYTES, cache_dir, sha256_file


def pinned(root: Path) -> dict[str, list[str]]:
    """sha256 -> 'entry-id (field)' for every URL artifact of every valid entry."""
    out: dict[str, list[str]] = {}
    for entry_id, entry in validate(root).all_entries().items():
        for where, art in entry.artifacts.files() if entry.artifacts else []:
            if art.url is not None:
                out.setdefault(art.sha256, []).append(f"{entry_id} ({'.'.join(where)})")
    return out


def _store(target: Path, digest: str, source: Path) -> None:
    """Move or copy `source` into the cache as `digest`, atomically (a temporary file, then a rename)."""
    fd, tmp = tempfile.mkstemp(dir=target, prefix=f".{digest[:12]}.")
    os.close(fd)
    shutil.copyfile(source, tmp)
    os.replace(tmp, target / digest)


def add(root: Path, files: list[Path]) -> int:
    """Copy each file into the cache under its hash; exit 1 when any file is pinned by no entry."""
    wanted = pinned(root)
    target = cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    refused = 0
    for file in files:
        if not file.is_file():
            raise UsageError(f"{file}: no such file")
        digest = sha256_file(file)
        if digest not in wanted:
            print(f"refused {file}: sha256 {digest} is pinned by no entry")
            refused += 1
            continue
        dest = target / digest
        if not dest.is_file() or sha256_file(dest) != digest:
            _store(target, digest, file)
        print(f"cached {file} as {digest} for {', '.join(wanted[digest])}")
    return 1 if refused else 0


_RAW = re.compile(r"https://raw\.githubusercontent\.com/([^/]+)/([^/]+)/([0-9a-f]{7,40})/(.+)")
_BLOB = re.compile(r"https://github\.com/([^/]+)/([^/]+)/(?:raw|blob)/([0-9a-f]{7,40})/(.+)")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
LARGEST = max(MAX_BYTES.values())  # the largest artifact any kind may be
GIT_SECONDS = 120.0  # per git command: a blob of a few GiB reads in well under that


@dataclass(frozen=True)
class GitPin:
    """A GitHub URL at a commit: which repository, commit and path inside it."""

    repo: str
    commit: str
    path: str


def github_pin(url: str) -> GitPin | None:
    """The repository, commit and path of a raw GitHub URL at a commit; None for any other URL or an odd path."""
    m = _RAW.fullmatch(url) or _BLOB.fullmatch(url)
    if m is None or "?" in url or "#" in url:
        return None
    owner, name, commit, path = m.group(1), m.group(2), m.group(3), unquote(m.group(4))
    parts = path.split("/")
    if not (_NAME.fullmatch(owner) and _NAME.fullmatch(name)) or any(p in {"", ".", ".."} for p in parts):
        return None
    if path.startswith("-") or any(c in path for c in "\0\n\r\\:") or not path.isprintable():
        return None
    return GitPin(f"{owner}/{name}", commit, path)


def _env() -> dict[str, str]:
    """git without system configuration, prompts or replace refs (a snapshot's objects read as they are)."""
    return {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "GIT_NO_REPLACE_OBJECTS": "1"}


def _git(git_dir: Path, *args: str, out: Path | None = None) -> bool:
    """Run git on `git_dir` (no shell, no config from the snapshot's hooks), True when it succeeded."""
    cmd = ["git", "--git-dir", str(git_dir), "-c", "core.fsmonitor=false", *args]
    env = _env()
    try:
        if out is None:
            proc = subprocess.run(cmd, capture_output=True, timeout=GIT_SECONDS, env=env, check=False)
        else:
            with out.open("wb") as fh:
                proc = subprocess.run(
                    cmd, stdout=fh, stderr=subprocess.DEVNULL, timeout=GIT_SECONDS, env=env, check=False
                )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DataError(f"git on {git_dir}: {type(exc).__name__}: {str(exc)[:200]}") from exc
    return proc.returncode == 0


def _git_size(git_dir: Path, spec: str) -> int | None:
    """The size of the blob at COMMIT:PATH, or None when there is no such blob."""
    cmd = ["git", "--git-dir", str(git_dir), "cat-file", "-s", spec]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=GIT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DataError(f"git on {git_dir}: {type(exc).__name__}: {str(exc)[:200]}") from exc
    kind = subprocess.run(
        ["git", "--git-dir", str(git_dir), "cat-file", "-t", spec],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode or kind.stdout.strip() != "blob" or not proc.stdout.strip().isdigit():
        return None
    return int(proc.stdout)


def git_dir_of(path: Path) -> Path:
    """The git directory of a bare clone, a mirror snapshot or a work tree."""
    if not path.is_dir():
        raise UsageError(f"{path}: no such folder")
    if (path / "objects").is_dir() and (path / "HEAD").is_file():
        return path
    dotgit = path / ".git"
    if dotgit.is_dir():
        return dotgit
    if dotgit.is_file():  # a linked work tree: ask git where its directory is
        proc = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "--absolute-git-dir"],
            capture_output=True,
            text=True,
            timeout=GIT_SECONDS,
            check=False,
        )
        if proc.returncode == 0:
            return Path(proc.stdout.strip())
    raise UsageError(f"{path}: not a git directory or a work tree (no objects/ and HEAD, no .git)")


def add_git(root: Path, path: Path) -> int:
    """Cache every artifact an entry pins by a GitHub URL at a commit that this git directory holds.

    Which repository the directory is does not matter (no remote is read): each pinned commit is looked
    up, and the ones it has are read. Exit 1 when a file's bytes differ from its pin, or nothing matched.
    """
    git_dir = git_dir_of(path)
    wanted: dict[str, tuple[GitPin, list[str]]] = {}
    for entry_id, entry in validate(root).all_entries().items():
        for where, art in entry.artifacts.files() if entry.artifacts else []:
            pin = github_pin(art.url) if art.url else None
            if pin is not None:
                wanted.setdefault(art.sha256, (pin, []))[1].append(f"{entry_id} ({'.'.join(where)})")
    target = cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    counts = {"added": 0, "already cached": 0, "not found": 0, "mismatched": 0}
    has: dict[str, bool] = {}
    for digest, (pin, users) in sorted(wanted.items(), key=lambda kv: (kv[1][0].repo, kv[1][0].path)):
        dest = target / digest
        if dest.is_file() and sha256_file(dest) == digest:
            counts["already cached"] += 1
            continue
        if pin.commit not in has:
            has[pin.commit] = _git(git_dir, "cat-file", "-e", f"{pin.commit}^{{commit}}")
        fd, tmp = tempfile.mkstemp(dir=target, prefix=f".{digest[:12]}.")
        os.close(fd)
        try:
            size = _git_size(git_dir, f"{pin.commit}:{pin.path}") if has[pin.commit] else None
            if size is not None and size > LARGEST:
                counts["mismatched"] += 1
                print(f"refused: {pin.path} at {pin.commit[:12]} is {size} bytes, over the {LARGEST}-byte limit")
                continue
            if size is None or not _git(git_dir, "cat-file", "blob", f"{pin.commit}:{pin.path}", out=Path(tmp)):
                counts["not found"] += 1
                if has[pin.commit]:
                    print(f"not found: {pin.path} at {pin.commit[:12]} of {pin.repo} ({', '.join(users)})")
                continue
            got = sha256_file(Path(tmp))
            if got != digest:
                counts["mismatched"] += 1
                pinned = f"{pin.repo}/{pin.commit[:12]}/{pin.path}"
                lfs = Path(tmp).stat().st_size < 1024 and Path(tmp).read_bytes().startswith(b"version https://git-lfs")
                hint = " (a Git LFS pointer: fetch the LFS object and cache the file itself)" if lfs else ""
                print(f"mismatched: {pinned} has sha256 {got}; {', '.join(users)} pin {digest}{hint}")
                continue
            os.replace(tmp, dest)
            counts["added"] += 1
            print(f"cached {pin.repo}/{pin.commit[:12]}/{pin.path} as {digest} for {', '.join(users)}")
        finally:
            Path(tmp).unlink(missing_ok=True)
    other = sum(not has.get(pin.commit, True) for pin, _ in wanted.values())
    print(
        ", ".join(f"{n} {what}" for what, n in counts.items())
        + f" of {len(wanted)} artifacts pinned by GitHub URLs at a commit (not found: {other} at a commit "
        f"{path} does not have, {counts['not found'] - other} paths missing at a commit it has)"
    )
    return 1 if counts["mismatched"] or not (counts["added"] or counts["already cached"]) else 0
