"""`aieff cache add`: seed the artifact cache with local files, so entries that pin them verify offline.

A file is stored under its sha256 only when some entry pins that hash for a URL artifact: the cache
never holds bytes nothing asked for, and a file with a different hash is refused by name.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from aieff.fetch import cache_dir, sha256_file
from aieff.repo import UsageError
from aieff.validate import validate


def pinned(root: Path) -> dict[str, list[str]]:
    """sha256 -> 'entry-id (field)' for every URL artifact of every valid entry."""
    out: dict[str, list[str]] = {}
    for entry_id, entry in validate(root).all_entries().items():
        for where, art in entry.artifacts.files() if entry.artifacts else []:
            if art.url is not None:
                out.setdefault(art.sha256, []).append(f"{entry_id} ({'.'.join(where)})")
    return out


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
            fd, tmp = tempfile.mkstemp(dir=target, prefix=f".{digest[:12]}.")
            os.close(fd)
            shutil.copyfile(file, tmp)
            os.replace(tmp, dest)
        print(f"cached {file} as {digest} for {', '.join(wanted[digest])}")
    return 1 if refused else 0
