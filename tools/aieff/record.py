"""The verification record (exports/verification.json): its schema, a checked reader, a merging writer.

The record is written by `aieff estimate --record` and read by `aieff build`; anything in it reaches
the README, so it is validated like an entry before use. Recording a subset of entries updates only
those; an `unreachable` verdict (artifact could not be fetched) keeps the last real verdict.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError

from aieff import __version__
from aieff.repo import DataError, write_atomic
from aieff.schema import Model, Slug

RECORD_PATH = "exports/verification.json"
Status = Literal["verified", "claimed", "failed", "unreachable"]


class Verdict(Model):
    """The last verdict on one entry."""

    level: Slug
    status: Status
    compute_flop: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    messages: list[Annotated[str, Field(max_length=1000)]] = Field(default_factory=list, max_length=100)
    date: str | None = Field(None, pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    aieff_version: str | None = Field(None, max_length=40)


class Record(Model):
    """Every entry's last verdict, by entry id."""

    entries: dict[Slug, Verdict] = Field(default_factory=dict)


def load(path: Path) -> Record:
    """The record at path (empty when absent); DataError naming the file and field when it is invalid."""
    if not path.is_file():
        return Record()
    if path.stat().st_size > 16 << 20:
        raise DataError(f"{path.name}: verification record over 16 MiB")
    try:
        return Record.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, ValidationError):
            err = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in err["loc"])
            raise DataError(f"{path}: invalid verification record at {where}: {err['msg']}") from exc
        raise DataError(f"{path}: verification record is not JSON") from exc


def statuses(record: Record) -> dict[str, str]:
    """Entry id -> recorded status."""
    return {k: v.status for k, v in record.entries.items()}


# The messages `aieff estimate` records that the README turns into reasons: written and read here only.
NO_ARCHITECTURE = "no architecture referenced: nothing to re-estimate"
NO_TRAINING_LOG = "no training log: compute not re-estimated, the entry stays claimed"
_FORWARD = re.compile(r"entry says ([0-9.e+-]+) multiply-adds, counted ([0-9.e+-]+)")


def forward_cost_differs(label: str, said: float, counted: float) -> str:
    """The message for a forward cost that disagrees with the entry (parsed back by _reasons)."""
    return f"{label}: entry says {said:.4g} multiply-adds, counted {counted:.4g}"


def _reasons(v: Verdict) -> list[str]:
    """Why a claimed or failed entry is not verified, in a few words a reader can act on."""
    out = []
    for m in v.messages:
        if m == NO_ARCHITECTURE:
            out.append("no artifact to re-estimate from")
        elif m == NO_TRAINING_LOG:
            out.append("no training log")
        elif (f := _FORWARD.search(m)) is not None:
            said, counted = float(f.group(1)), float(f.group(2))
            out.append(f"forward cost differs {(counted - said) / said:+.0%}")
    if v.status == "failed" and not out and v.messages:
        out.append(v.messages[0][:120])
    return out


def labels(record: Record) -> dict[str, str]:
    """Entry id -> status as the README shows it: its date ("verified 2026-11-23") and, short of verified,
    why ("claimed (no training log; forward cost differs -25%)")."""
    out = {}
    for k, v in record.entries.items():
        text = f"{v.status} {v.date}" if v.date else v.status
        reasons = _reasons(v) if v.status != "verified" else []
        out[k] = f"{text} ({'; '.join(reasons)})" if reasons else text
    return out


def merge(old: Record, new: dict[str, dict[str, Any]], *, today: str, keep: set[str] | None) -> Record:
    """The old record updated with new verdicts; `keep` (ids still in the dataset) drops the rest."""
    out = dict(old.entries) if keep is None else {k: v for k, v in old.entries.items() if k in keep}
    for entry_id, fresh in new.items():
        previous = out.get(entry_id)
        if fresh["status"] == "unreachable" and previous is not None and previous.status != "unreachable":
            continue  # an offline run or a transient error is not a verdict
        verdict = Verdict(**fresh, date=today, aieff_version=__version__)
        same = previous is not None and previous.model_dump(exclude={"date", "aieff_version"}) == verdict.model_dump(
            exclude={"date", "aieff_version"}
        )
        out[entry_id] = previous if same else verdict  # type: ignore[assignment]
    return Record(entries=dict(sorted(out.items())))


def write(path: Path, record: Record) -> None:
    """Write the record atomically with sorted keys (a rerun with no change writes nothing)."""
    doc = {
        "entries": {
            k: {f: x for f, x in v.model_dump().items() if x is not None or f not in ("date", "aieff_version")}
            for k, v in record.entries.items()
        }
    }
    write_atomic(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")
