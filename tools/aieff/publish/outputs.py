"""Write or check a set of generated files: the one mechanism behind every `--check`."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from aieff.repo import write_atomic


def stale(expected: Mapping[Path, str | bytes]) -> list[Path]:
    """Files whose bytes differ from what would be generated."""
    out = []
    for path, content in sorted(expected.items()):
        payload = content.encode("utf-8") if isinstance(content, str) else content
        if not path.is_file() or path.read_bytes() != payload:
            out.append(path)
    return out


def sync(root: Path, expected: Mapping[Path, str | bytes], *, check: bool) -> int:
    """With check, name stale files and return 1; otherwise write them atomically and return 0."""
    old = stale(expected)
    rel = [p.relative_to(root).as_posix() for p in old]
    if check:
        for name in rel:
            print(f"stale: {name} (run `aieff build`)", file=sys.stderr)
        return 1 if old else 0
    for path in old:
        write_atomic(path, expected[path])
    for name in rel:
        print(f"wrote {name}")
    return 0
