"""The verification record (exports/verification.json): its schema, a checked reader, a merging writer.

The record is written by `aieff estimate --record` and read by `aieff build`; anything in it reaches
the README, so it is validated like an entry before use. Recording a subset of entries updates only
those; an `unreachable` verdict (artifact could not be fetched) keeps the last real verdict judged on
the same inputs.

A verdict names what it judged (`judged`): sha256s of the entry as validated, of its level, of the
entries its compute refers to, and of the counting code (every aieff module that can change a
verdict, and the pinned versions of the compute stack). A verdict whose `judged` differs from what
the entry, level and code are now is void: the entry shows as pending (not yet verified), and a
verified verdict's re-estimated compute is published only while its binding holds. Only the nightly
on the default branch writes the record; `aieff check` fails a change that edits it.

A verdict's status is aieff.verdict.Status and its `reasons` are aieff.verdict.Reason (a code and a
detail, as the estimate raised them); the README's words come from the reasons, never from a message.
The file names its format (FORMAT); format 1 had no `format` and no reasons and is still read. The
format is documented in docs/exports.md (generated from these types).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import Field, ValidationError, field_validator

from aieff import __version__
from aieff.dataset.schema import Benchmark, Entry, Model, Slug
from aieff.repo import DataError, write_atomic
from aieff.verdict import Reason, Status

if TYPE_CHECKING:
    from aieff.dataset.docset import Dataset

RECORD_PATH = "exports/verification.json"


# The record's format: 1 had no `format` and no `reasons` (still read: its verdicts have no reasons);
# 2 adds both. Written as FORMAT.
FORMAT: Final = 2
_SHA = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Judged(Model):
    """What a verdict judged, as sha256s: it binds only while all four are what they are now."""

    entry: _SHA
    level: _SHA
    references: _SHA
    code: _SHA

    def differs(self, now: Judged) -> list[str]:
        """The parts that changed since the verdict, in words."""
        names = {
            "entry": "the entry",
            "level": "its level",
            "references": "an entry it refers to",
            "code": "aieff's counting code",
        }
        return [names[k] for k in names if getattr(self, k) != getattr(now, k)]


class Verdict(Model):
    """The last verdict on one entry."""

    level: Slug
    status: Annotated[Status, Field(strict=False)]  # as JSON holds it: the status's value
    judged: Judged | None = None
    compute_flop: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    compute_flop_low: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None  # the bracket's lower end
    messages: list[Annotated[str, Field(max_length=1000)]] = Field(default_factory=list, max_length=100)
    date: str | None = Field(None, pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    aieff_version: str | None = Field(None, max_length=40)
    reasons: list[Reason] = Field(default_factory=list, max_length=100)  # why: claimed, failed or unreachable

    @field_validator("status")
    @classmethod
    def _a_verdict(cls, status: Status) -> Status:
        if not status.recorded:
            raise ValueError(f"{status} is shown, never recorded")
        return status


class Shard(Model):
    """Which part of a sharded run a partial record is: shard `index` of `count`, and the ids it covers."""

    index: Annotated[int, Field(ge=1, le=10_000)]
    count: Annotated[int, Field(ge=1, le=10_000)]
    ids: list[Slug] = Field(default_factory=list, max_length=1_000_000)


class Record(Model):
    """Every entry's last verdict, by entry id (a partial record of a sharded run also names its shard)."""

    format: Literal[1, 2] = FORMAT  # what a file was read as: absent in format 1 (see load)
    entries: dict[Slug, Verdict] = Field(default_factory=dict)
    shard: Shard | None = None


# What only publishes (README, charts, exports: the publishing subpackage) and the CLI's wiring, as
# paths inside the package: a change to them cannot change a verdict, so it does not void one. Every
# other file of the package is counting code.
PUBLISH_ONLY = ("publish/", "cli.py", "__main__.py")
_COMPUTE_STACK = ("torch", "torchvision", "ptflops", "safetensors", "tensorboard", "google-re2")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def _sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def _canonical(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def code_fingerprint(package: Path | None = None) -> str:
    """sha256 over every counting-code file of the aieff package (path and bytes; not PUBLISH_ONLY) and
    the package's declared requirements (the compute stack's pins). Torch-free: versions are read from
    the package metadata, so a YAML-only install computes the same fingerprint as CI."""
    return _fingerprint(package) if package else _installed_fingerprint()


@functools.cache
def _installed_fingerprint() -> str:
    return _fingerprint(Path(__file__).resolve().parents[1])  # the aieff package, above verify/


def _fingerprint(base: Path) -> str:
    from importlib import metadata

    h = hashlib.sha256()
    files = sorted(
        f
        for f in base.rglob("*")
        if f.is_file()
        and f.suffix in (".py", ".json")
        and "__pycache__" not in f.parts
        and not f.relative_to(base).as_posix().startswith(PUBLISH_ONLY)
    )
    for f in files:
        rel = f.relative_to(base).as_posix()
        h.update(f"{rel}\0{len(f.read_bytes())}\0".encode())
        h.update(f.read_bytes())
    try:
        declared = metadata.requires("aieff") or []
    except metadata.PackageNotFoundError:
        declared = []
    requires = sorted(r for r in declared if (m := _NAME.match(r)) and m.group(0).lower() in _COMPUTE_STACK)
    h.update(_canonical(requires).encode())
    return h.hexdigest()


def _referenced(entry: Entry, entries: dict[str, Entry]) -> list[Entry]:
    """The entries whose compute this entry's compute is derived from (relative_to, transitively), and the
    entry whose run it reads (derived_from)."""
    out: list[Entry] = []
    seen = {entry.id}
    e = entry
    while e.training and e.training.total_run_compute and (ref_id := e.training.total_run_compute.relative_to):
        ref = entries.get(ref_id)
        if ref is None or ref.id in seen:
            break
        out.append(ref)
        seen.add(ref.id)
        e = ref
    # An entry read from another entry's run (derived_from) is judged on that entry too: its artifacts,
    # facts and notes are what the derived entry rests on.
    if entry.derived_from and (src := entries.get(entry.derived_from)) is not None and src.id not in seen:
        out.append(src)
    return out


def judge_inputs(entry: Entry, level: Benchmark, entries: dict[str, Entry]) -> Judged:
    """What a verdict on this entry judges now: its content, its level, what it refers to, the code."""

    def dump(m: Model) -> str:
        return _canonical(m.model_dump(mode="json"))

    refs = {r.id: _sha(dump(r)) for r in _referenced(entry, entries)}
    return Judged(
        entry=_sha(dump(entry)),
        level=_sha(dump(level)),
        references=_sha(_canonical(refs)),
        code=code_fingerprint(),
    )


def load(path: Path) -> Record:
    """The record at path (empty when absent); DataError naming the file and field when it is invalid."""
    if not path.is_file():
        return Record()
    if path.stat().st_size > 16 << 20:
        raise DataError(f"{path.name}: verification record over 16 MiB")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(doc, dict) and "format" not in doc:
            doc = {"format": 1, **doc}  # format 1 named none
        return Record.model_validate(doc)
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, ValidationError):
            err = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in err["loc"])
            raise DataError(f"{path}: invalid verification record at {where}: {err['msg']}") from exc
        raise DataError(f"{path}: verification record is not JSON") from exc


def _reasons(v: Verdict) -> list[str]:
    """Why a claimed or failed entry is not verified, in a few words a reader can act on."""
    out = []
    for r in v.reasons:
        if r.code == "no-architecture":
            out.append("no artifact to re-estimate from")
        elif r.code == "no-training-log":
            out.append("no training log")
        elif r.code == "forward-cost-differs" and r.claimed and r.counted is not None:
            out.append(f"forward cost differs {(r.counted - r.claimed) / r.claimed:+.0%}")
    if v.status == Status.FAILED and not out and v.reasons:
        out.append(v.reasons[-1].text()[:120])  # the reason it failed: the last one given
    return out


@dataclass(frozen=True)
class Shown:
    """How an entry's verification is published: status, the README's words, and for a verified verdict
    that still binds, the re-estimated compute (the figure published for the entry)."""

    status: Status
    label: str
    compute_flop: float | None = None
    compute_flop_low: float | None = None  # the bracket's lower end: compute at the evaluation before


def shown(record: Record, ds: Dataset) -> dict[str, Shown]:
    """Entry id -> how its verification is shown, for every valid entry of a valid level.

    A verdict counts only while its binding holds: an entry without one, or whose entry, level, referenced
    entries or counting code changed since, is pending, never verified.
    """
    entries = ds.all_entries()
    out: dict[str, Shown] = {}
    for entry_id, entry in sorted(entries.items()):
        if entry.benchmark not in ds.benchmarks:
            continue
        v = record.entries.get(entry_id)
        if v is None:
            out[entry_id] = Shown(Status.PENDING, "pending (no verdict yet)")
            continue
        level = ds.level(entry.benchmark)
        now = judge_inputs(entry, level, entries)
        if v.judged != now:
            changed = v.judged.differs(now) if v.judged else ["the verdict names no inputs"]
            since = f" since the verdict of {v.date}" if v.date else ""
            out[entry_id] = Shown(Status.PENDING, f"pending ({', '.join(changed)} changed{since})")
            continue
        if v.status == Status.VERIFIED and not _agrees_with_entry(v, entry, level, entries):
            out[entry_id] = Shown(Status.PENDING, "pending (the recorded compute disagrees with what the entry states)")
            continue
        text = f"{v.status} {v.date}" if v.date else str(v.status)
        reasons = _reasons(v) if v.status != Status.VERIFIED else []
        label = f"{text} ({'; '.join(reasons)})" if reasons else text
        flop = v.compute_flop if v.status == Status.VERIFIED else None
        low = v.compute_flop_low if flop is not None and v.compute_flop_low is not None else None
        out[entry_id] = Shown(v.status, label, flop, min(low, flop) if low is not None and flop else None)
    return out


def _agrees_with_entry(v: Verdict, entry: Entry, level: Benchmark, entries: dict[str, Entry]) -> bool:
    """A verified verdict publishes its compute only when that agrees with every figure the entry states,
    within the level's tolerance, as `aieff estimate` required when it judged."""
    from aieff.analysis.analyze import stated_compute

    stated = stated_compute(entry, level, entries)
    return v.compute_flop is not None and bool(stated) and all(level.agrees(v.compute_flop, x) for _, x in stated)


def published_compute(shown_: dict[str, Shown]) -> dict[str, float]:
    """Entry id -> re-estimated FLOP, for the verified verdicts that still bind: what analysis publishes."""
    return {k: v.compute_flop for k, v in shown_.items() if v.compute_flop is not None}


def published_brackets(shown_: dict[str, Shown]) -> dict[str, float]:
    """Entry id -> the re-estimated compute at the evaluation before the first at the level (the lower end
    of what the log fixes), for the verified verdicts that still bind."""
    return {k: v.compute_flop_low for k, v in shown_.items() if v.compute_flop_low is not None}


def merge(old: Record, new: dict[str, dict[str, Any]], *, today: str, keep: set[str] | None) -> Record:
    """The old record updated with new verdicts; `keep` (ids still in the dataset) drops the rest.

    An unreachable verdict keeps the previous one only when that judged the same inputs; otherwise it is
    recorded, and the entry shows as unreachable, not as its old status."""
    out = dict(old.entries) if keep is None else {k: v for k, v in old.entries.items() if k in keep}
    for entry_id, fresh in new.items():
        previous = out.get(entry_id)
        verdict = Verdict(**fresh, date=today, aieff_version=__version__)
        if (
            verdict.status == Status.UNREACHABLE
            and previous is not None
            and previous.status != Status.UNREACHABLE
            and previous.judged == verdict.judged
        ):
            continue  # an offline run is not a verdict: the last one on the same inputs stands
        same = previous is not None and previous.model_dump(exclude={"date", "aieff_version"}) == verdict.model_dump(
            exclude={"date", "aieff_version"}
        )
        if not same:
            out[entry_id] = verdict
    return Record(entries=dict(sorted(out.items())))


def in_shard(entry_id: str, index: int, count: int) -> bool:
    """Whether an entry belongs to shard index (1-based) of count: a stable split by the sha256 of its id,
    so an entry stays in its shard however many entries are added."""
    return int(hashlib.sha256(entry_id.encode()).hexdigest(), 16) % count == index - 1


def merge_parts(parts: list[tuple[str, Record]], ids: set[str]) -> Record:
    """One record from the partial records of a sharded run; DataError naming the file on a gap or overlap:
    every shard 1..N exactly once, each id in one shard only, together every id of the dataset."""
    if not parts:
        raise DataError("no partial records to merge")
    counts = {part.shard.count if part.shard else None for _, part in parts}
    bad = [name for name, part in parts if part.shard is None]
    if bad:
        raise DataError(f"{bad[0]}: not a partial record (no shard): write it with estimate --all --shard K/N")
    if len(counts) != 1:
        raise DataError(f"partial records of different shard counts: {sorted(c for c in counts if c)}")
    (count,) = counts
    assert count is not None
    seen: dict[int, str] = {}
    owner: dict[str, str] = {}
    out: dict[str, Verdict] = {}
    for name, part in parts:
        assert part.shard is not None
        if part.shard.index in seen:
            raise DataError(f"{name}: shard {part.shard.index}/{count} overlaps {seen[part.shard.index]}")
        seen[part.shard.index] = name
        for entry_id in part.shard.ids:
            if entry_id in owner:
                raise DataError(f"{name}: {entry_id} is also in {owner[entry_id]}")
            if not in_shard(entry_id, part.shard.index, count):
                raise DataError(f"{name}: {entry_id} does not belong to shard {part.shard.index}/{count}")
            owner[entry_id] = name
        extra = set(part.entries) - set(part.shard.ids)
        if extra:
            raise DataError(f"{name}: verdicts for ids outside its shard: {sorted(extra)[:3]}")
        out.update(part.entries)
    missing_shards = sorted(set(range(1, count + 1)) - set(seen))
    if missing_shards:
        raise DataError(f"shard(s) {missing_shards} of {count} missing: every shard must be merged")
    gaps = sorted(ids - set(owner))
    if gaps:
        raise DataError(f"{len(gaps)} entries of the dataset are in no shard (e.g. {gaps[0]}): rerun the shards")
    return Record(entries=dict(sorted(out.items())))


_OPTIONAL = ("date", "aieff_version")  # written only when set


def write(path: Path, record: Record) -> None:
    """Write the record atomically with sorted keys (a rerun with no change writes nothing)."""
    doc: dict[str, Any] = {
        "format": FORMAT,
        "entries": {
            k: {f: x for f, x in v.model_dump(mode="json").items() if x is not None or f not in _OPTIONAL}
            | {"reasons": [r.model_dump(mode="json", exclude_none=True) for r in v.reasons]}
            for k, v in record.entries.items()
        },
    }
    if record.shard is not None:
        doc["shard"] = record.shard.model_dump()
    write_atomic(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")
