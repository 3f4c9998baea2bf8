"""Content-addressed memo of sandbox results, beside the artifact cache (`memo/` in $AIEFF_CACHE).

A forward count is a pure function of the architecture (a pinned export's sha256, or a torchvision name
and kwargs), the input shapes, the checkpoint's sha256 and the counting code; a log's reading is one of
the log's sha256, how the entry reads it, the level and the same code. Each result is kept under the
sha256 of exactly those inputs and the code fingerprint (aieff.verify.record.code_fingerprint), and is used
only when the key stored inside the file is the one asked for and the result has the expected shape:
a stale or planted file is ignored, never trusted. Only successful results are kept (a refusal is
cheap to repeat and must name what the current code refuses). AIEFF_MEMO=off turns it off;
AIEFF_MEMO_DIR puts it elsewhere (benchmarks measure a cold run with an empty one).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from aieff.repo import write_atomic

MAX_BYTES = 4 << 20  # a memo file over this is ignored (a count or a reading is a few KiB; 100,000 evals ~ 4 MiB)


def _folder() -> Path:
    from aieff.verify.fetch import cache_dir

    return Path(os.environ.get("AIEFF_MEMO_DIR") or cache_dir() / "memo")


def enabled() -> bool:
    return os.environ.get("AIEFF_MEMO", "on").lower() not in ("off", "0", "no")


def key(kind: str, material: dict[str, Any]) -> str:
    """The memo key of a result: sha256 of its kind, its content-addressed inputs and the counting code."""
    from aieff.verify.record import code_fingerprint

    doc = {"kind": kind, "code": code_fingerprint(), "inputs": material}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _path(k: str) -> Path:
    return _folder() / k[:2] / f"{k}.json"


def get(k: str, kind: str) -> dict[str, Any] | None:
    """The kept result for key k, or None (absent, off, unreadable, another key inside, or not a result)."""
    if not enabled():
        return None
    path = _path(k)
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_BYTES:
            return None
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("key") != k or doc.get("kind") != kind:
        return None
    result = doc.get("result")
    return result if isinstance(result, dict) and result.get("ok") is True else None


def put(k: str, kind: str, result: dict[str, Any]) -> None:
    """Keep a successful result under key k (atomically); anything else is not kept."""
    if not enabled() or result.get("ok") is not True:
        return
    data = json.dumps({"key": k, "kind": kind, "result": result}, sort_keys=True)
    if len(data) > MAX_BYTES:
        return
    try:
        write_atomic(_path(k), data)
    except OSError:
        pass  # a read-only or full cache only costs the next run the work
