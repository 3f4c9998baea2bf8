"""Copy the nightly rebuild's generated files into the checkout: an allow-list of regular files, nothing else.

`python3 take_generated.py ARTIFACT CHECKOUT`. The publish job holds the write token and does not trust
the artifact the rebuild job uploaded (that job handles contributors' artifacts). Every entry of the
downloaded tree is judged before anything is written: only the files `aieff build` and
`aieff estimate --record` generate, by exact name (charts by level-id pattern), each a regular file
with one link, under a size cap, with the content its extension promises. Any other entry (a .git
directory, a symlink, a FIFO or device, an unexpected name, a name that is not UTF-8, an oversized
file) refuses the whole artifact: nothing is written and the exit code is 1. Standard library only:
the publish job never installs the project.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from pathlib import Path

# What `aieff build` writes (tools/aieff/publish/build.py, schemagen.generated) and `aieff estimate --record`
# writes (exports/verification.json). tests/test_workflows.py checks this list against expected_files().
FIXED = frozenset(
    {
        "README.md",
        "efficiency_sota.csv",
        "docs/corrections.md",
        "docs/errors.md",
        "docs/exports.md",
        "docs/fields.md",
        "exports/aieff.csv",
        "exports/aieff.json",
        "exports/aieff.parquet",
        "exports/datapackage.json",
        "exports/levels.csv",
        "exports/levels.parquet",
        "exports/verification.json",
        "schema/benchmark.schema.json",
        "schema/entry.schema.json",
    }
)
CHART = re.compile(r"charts/[a-z0-9]+(?:-[a-z0-9]+)*\.(?:png|svg)")  # a level id (schema.Slug), or overview
DIRS = frozenset({"charts", "docs", "exports", "schema"})
MAX_FILE = 16 << 20  # bytes; the largest generated file is under 200 KiB
MAX_TOTAL = 128 << 20
MAX_ENTRIES = 2000
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def allowed(rel: str) -> bool:
    """Whether a repository-relative path is one the rebuild generates."""
    return rel in FIXED or CHART.fullmatch(rel) is not None


def show(rel: str) -> str:
    """A path for a log line: quoted and escaped, so no name can start a line or a workflow command."""
    return ascii(rel)


def content_problem(rel: str, data: bytes) -> str | None:
    """Why the bytes are not what a file of this name holds, or None."""
    if rel.endswith(".png"):
        return None if data.startswith(b"\x89PNG\r\n\x1a\n") else "not a PNG"
    if rel.endswith(".parquet"):
        return None if len(data) >= 8 and data[:4] == data[-4:] == b"PAR1" else "not a Parquet file"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8 text"
    if "\0" in text:
        return "text with a NUL byte"
    if rel.endswith(".json"):
        try:
            json.loads(text)
        except ValueError:
            return "not JSON"
    return None


def _kind(mode: int) -> str:
    kinds = {stat.S_ISLNK: "symlink", stat.S_ISFIFO: "FIFO", stat.S_ISSOCK: "socket"}
    kinds |= {stat.S_ISCHR: "character device", stat.S_ISBLK: "block device", stat.S_ISDIR: "directory"}
    return next((name for test, name in kinds.items() if test(mode)), "special file")


class Scan:
    """The accepted files' bytes by path, and every reason to refuse the artifact."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.problems: list[str] = []
        self.refused: set[str] = set()
        self.seen = 0
        self.total = 0

    def refuse(self, rel: str, why: str) -> None:
        self.refused.add(rel)
        self.problems.append(f"{show(rel)}: {why}")

    def walk(self, dir_fd: int, prefix: str) -> None:
        for name in sorted(os.listdir(dir_fd)):
            self.seen += 1
            if self.seen > MAX_ENTRIES:
                self.problems.append(f"more than {MAX_ENTRIES} entries; the rest were not read")
                return
            rel = prefix + name
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                self.refuse(rel, "name is not UTF-8")
                continue
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                if prefix or name not in DIRS:
                    self.refuse(rel, "unexpected directory (not read)")
                    continue
                sub = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
                try:
                    self.walk(sub, rel + "/")
                finally:
                    os.close(sub)
            elif not stat.S_ISREG(st.st_mode):
                self.refuse(rel, f"a {_kind(st.st_mode)}, not a regular file")
            elif not allowed(rel):
                self.refuse(rel, "not a file the rebuild generates")
            else:
                self.read(dir_fd, name, rel)

    def read(self, dir_fd: int, name: str, rel: str) -> None:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError as exc:
            self.refuse(rel, f"cannot be opened ({exc.strerror})")
            return
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):  # replaced between stat and open
                self.refuse(rel, f"a {_kind(st.st_mode)}, not a regular file")
            elif st.st_nlink != 1:
                self.refuse(rel, f"has {st.st_nlink} hard links; a generated file has one")
            elif st.st_size > MAX_FILE:
                self.refuse(rel, f"{st.st_size} bytes is over the {MAX_FILE}-byte limit")
            else:
                data = fh.read(MAX_FILE + 1)
                self.total += len(data)
                if len(data) > MAX_FILE:
                    self.refuse(rel, f"over the {MAX_FILE}-byte limit")
                elif self.total > MAX_TOTAL:
                    self.refuse(rel, f"the artifact is over {MAX_TOTAL} bytes in all")
                elif why := content_problem(rel, data):
                    self.refuse(rel, why)
                else:
                    self.files[rel] = data


def scan(artifact: Path) -> Scan:
    """Judge every entry of the artifact tree; read the accepted files into memory."""
    result = Scan()
    try:
        root = os.open(artifact, _DIR_FLAGS)
    except OSError as exc:
        result.problems.append(f"{show(str(artifact))}: not a directory ({exc.strerror})")
        return result
    try:
        result.walk(root, "")
    finally:
        os.close(root)
    for rel in sorted(FIXED - result.files.keys() - result.refused):
        result.refuse(rel, "missing from the artifact")
    return result


def _open_dir(parent: int, name: str, *, create: bool) -> int:
    if create:
        try:
            os.mkdir(name, 0o755, dir_fd=parent)
        except FileExistsError:
            pass
    return os.open(name, _DIR_FLAGS, dir_fd=parent)  # ELOOP when the checkout holds a symlink here


def write(checkout: Path, files: dict[str, bytes]) -> None:
    """Write each file into the checkout through a temporary sibling and a rename, never following a link."""
    root = os.open(checkout, _DIR_FLAGS)
    try:
        for rel, data in sorted(files.items()):
            *dirs, name = rel.split("/")
            fd = root
            for d in dirs:
                fd = _open_dir(fd, d, create=True)
            try:
                tmp = f".{name}.take-generated"
                out = os.open(tmp, _NEW_FILE, 0o644, dir_fd=fd)
                try:
                    with os.fdopen(out, "wb") as fh:
                        fh.write(data)
                    os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)  # replaces a link, never writes through it
                except BaseException:
                    os.unlink(tmp, dir_fd=fd)
                    raise
            finally:
                if fd != root:
                    os.close(fd)
    finally:
        os.close(root)


def _error(message: str) -> None:
    prefix = "::error::" if os.environ.get("GITHUB_ACTIONS") == "true" else "error: "
    print(prefix + message, flush=True)


def main(argv: list[str]) -> int:
    """Exit 0 after writing the accepted files, 1 when the artifact is refused, 2 on a usage error."""
    if len(argv) != 2:
        print("usage: take_generated.py ARTIFACT CHECKOUT", file=sys.stderr)
        return 2
    artifact, checkout = Path(argv[0]).resolve(), Path(argv[1]).resolve()
    if artifact.is_relative_to(checkout) or checkout.is_relative_to(artifact):
        _error(f"the artifact {show(str(artifact))} and the checkout {show(str(checkout))} overlap; refused")
        return 2
    result = scan(artifact)
    if result.problems:
        for problem in result.problems:
            _error(f"refused artifact: {problem}")
        _error(f"the artifact was refused ({len(result.problems)} problems); nothing was written")
        return 1
    try:
        write(checkout, result.files)
    except OSError as exc:
        _error(f"writing into the checkout failed: {exc.strerror} ({show(str(exc.filename))})")
        return 1
    for rel in sorted(result.files):
        print(f"took {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
