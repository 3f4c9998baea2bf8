"""Find the repository root, resolve user-given paths safely, ask git what changed, write atomically."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path


class UsageError(Exception):
    """A problem with how a command was called: exit code 2, one clean message."""


class DataError(Exception):
    """The data cannot be processed: exit code 1, one clean message."""


class RunAborted(DataError):
    """The log records a run that stopped without success (MLPerf run_stop status aborted): not a result."""


class NotReached(DataError):
    """The log never reaches the level: for one run of several, a run that needed more than it trained."""


class Unreachable(DataError):
    """An artifact could not be fetched (offline, timeout, server error): not a verdict on the entry."""


def find_root(start: Path | None = None) -> Path:
    """The nearest folder at or above start (default: AIEFF_ROOT or cwd) that holds entries/."""
    env = os.environ.get("AIEFF_ROOT")
    here = Path(env) if env and start is None else (start or Path.cwd())
    here = here.resolve()
    for folder in (here, *here.parents):
        if (folder / "entries").is_dir():
            return folder
    raise UsageError(f"no entries/ folder at or above {here}; run inside an aieff checkout or set --root")


def inside(root: Path, user_path: str) -> Path:
    """Resolve a user path and refuse it when it leaves the repository."""
    target = (Path.cwd() / user_path).resolve()
    if not target.is_relative_to(root.resolve()):
        raise UsageError(f"{user_path}: path is outside the repository {root}")
    return target


def resolve_inside(root: Path, rel: str) -> Path | None:
    """root/rel with links resolved, or None when that leaves the repository."""
    target = (root / rel).resolve()
    return target if target.is_relative_to(root.resolve()) else None


def changed_files(root: Path, ref: str, under: tuple[str, ...] = ("entries",)) -> set[str]:
    """Repository-relative paths under `under` changed since ref (committed, staged, unstaged or untracked)."""

    def git(*args: str) -> str:
        try:
            proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise UsageError(f"git failed: {exc}") from exc
        if proc.returncode != 0:
            raise UsageError(f"--changed-since {ref}: git {' '.join(args[:2])}: {proc.stderr.strip()}")
        return proc.stdout

    if ref.startswith("-"):
        raise UsageError(f"--changed-since {ref}: not a revision")
    out = git("diff", "--name-only", "--no-renames", ref, "--", *under)
    out += git("ls-files", "--others", "--exclude-standard", "--", *under)
    return {line for line in out.splitlines() if line}


def write_atomic(path: Path, data: bytes | str) -> bool:
    """Write a file via a temporary sibling and rename; return True when the bytes changed."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if path.is_file() and path.read_bytes() == payload:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True
