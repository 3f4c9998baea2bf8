"""Validate every level and entry file: schema errors with positions, then cross-entry checks."""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import gc
import os
import re
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from aieff.dataset import hardware
from aieff.dataset.derived import check_derived
from aieff.dataset.diagnostics import Diagnostic
from aieff.dataset.docset import Dataset, Doc
from aieff.dataset.placeholders import check as check_narrative
from aieff.dataset.rules import check_rules
from aieff.dataset.schema import Benchmark, Citation, Entry
from aieff.dataset.yamlload import MAX_BYTES, Loaded, load_file
from aieff.escape import describe, format_chars
from aieff.repo import resolve_inside

BENCHMARK_FILE = "benchmark.yaml"
CITATION_FILE = "CITATION.cff"
PARALLEL_THRESHOLD = 2000


def _code_for(err: ErrorDetails) -> str:
    kind = err["type"]
    if kind.startswith("aieff_"):
        return kind[len("aieff_") :]
    if kind == "extra_forbidden":
        return "E010"
    if kind == "missing":
        return "E011"
    if kind.startswith("date") or kind.startswith("datetime"):
        return "E014"
    if kind.endswith("_type") or kind in {"model_type", "model_attributes_type", "is_instance_of"}:
        return "E012"
    return "E013"


def _clean_loc(data: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop pydantic's union/validator labels from a location, keeping real keys and indexes."""
    out: list[Any] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
            out.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            out.append(part)
        elif i == len(loc) - 1 and isinstance(node, dict) and isinstance(part, str):
            out.append(part)  # a missing field: name it
    return tuple(out)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fields_at(model_cls: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names the schema allows at a location (following nested models and lists)."""
    cls: Any = model_cls
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field_info = cls.model_fields.get(part) if isinstance(cls, type) and issubclass(cls, BaseModel) else None
        if field_info is None:
            return []
        cls = next((a for a in _model_args(field_info.annotation)), None)
        if cls is None:
            return []
    return list(cls.model_fields) if isinstance(cls, type) and issubclass(cls, BaseModel) else []


def _model_args(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in get_args(annotation) for m in _model_args(a)]


def did_you_mean(word: str, options: list[str]) -> str:
    """' (did you mean 'x'?)' when a close option exists, else ''."""
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def schema_errors(loaded: Loaded, exc: ValidationError, model_cls: type[BaseModel] = Entry) -> list[Diagnostic]:
    """Turn a pydantic ValidationError into positioned, coded diagnostics (one per place)."""
    out: dict[tuple[Any, str], Diagnostic] = {}
    for err in exc.errors(include_url=False):
        code = _code_for(err)
        loc = _clean_loc(loaded.data, tuple(err["loc"]))
        msg = err["msg"]
        if code == "E012":
            msg = f"{msg}, got {type(err['input']).__name__} {_short(err['input'])}"
            if loc and loc[-1] == "arxiv" and isinstance(err["input"], float):
                msg += '; quote it: arxiv: "2001.08210" (a bare number loses trailing zeros)'
        elif code == "E010":
            name = str(loc[-1]) if loc else ""
            msg = "unknown field (not in the schema)" + did_you_mean(name, _fields_at(model_cls, loc))
        elif code == "E011":
            msg = "required field is missing"
        out.setdefault((loc, code), loaded.error(code, loc, msg, key=code in {"E010", "E011"}))
    return list(out.values())


_PLACEHOLDER = re.compile(r"\bTODO\b")


def placeholders(loaded: Loaded) -> list[Diagnostic]:
    """E032 for every value (or key) that still says TODO."""
    out = []
    stack: list[tuple[tuple[Any, ...], Any]] = [((), loaded.data)]
    while stack:
        loc, node = stack.pop()
        if isinstance(node, dict):
            stack.extend((loc + (k,), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((loc + (i,), v) for i, v in enumerate(node))
        elif isinstance(node, str) and _PLACEHOLDER.search(node):
            out.append(loaded.error("E032", loc, "replace the TODO placeholder"))
    return sorted(out)


def _load_one(args: tuple[Path, str, bool]) -> Doc:
    file, rel, is_benchmark = args
    loaded = load_file(file, rel)
    doc = Doc(loaded)
    if loaded.errors or loaded.data is None:
        return doc
    if todo := placeholders(loaded):
        loaded.errors.extend(todo)
        return doc  # a skeleton: its TODOs are the errors to fix first
    model_cls = Benchmark if is_benchmark else Entry
    try:
        doc.model = model_cls.model_validate(loaded.data)
    except ValidationError as exc:
        loaded.errors.extend(schema_errors(loaded, exc, model_cls))
    return doc


def _load_chunk(chunk: list[tuple[Path, str, bool]]) -> list[Doc]:
    with _no_gc():
        return [_load_one(item) for item in chunk]


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Loading builds many small containers that never form cycles: cyclic gc passes are pure cost there."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_NAME_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def bad_name(name: str) -> str | None:
    """Why a file or folder name cannot be shown as it is (os.fsdecode's surrogates mark bytes that are
    not UTF-8), or None."""
    if re.search(r"[\ud800-\udfff]", name):
        return "the name is not UTF-8: rename it"
    if m := _NAME_CONTROL.search(name):
        return f"the name holds the control character U+{ord(m.group()):04X}: rename it"
    if hidden := format_chars(name):
        return f"the name holds {describe(name[hidden[0]])}, an invisible formatting character: rename it"
    return None


def discover(root: Path) -> tuple[list[tuple[Path, str, bool]], list[Diagnostic]]:
    """List level and entry files under entries/, and flag stray or oversized files."""
    items: list[tuple[Path, str, bool]] = []
    diags: list[Diagnostic] = []
    base = root / "entries"
    if not base.is_dir():
        return items, diags
    for dirpath, dirnames, filenames in os.walk(base):
        here = Path(dirpath)
        depth = len(here.relative_to(base).parts)
        for name in sorted(dirnames):
            rel = (here / name).relative_to(root).as_posix()
            if why := bad_name(name):
                diags.append(Diagnostic(rel, 1, 1, "E035", "-", why))
            elif (here / name).is_symlink():
                diags.append(Diagnostic(rel, 1, 1, "E029", "-", "symbolic links are not allowed (a linked folder)"))
            else:
                continue
            dirnames.remove(name)
        dirnames.sort()
        for name in sorted(filenames):
            file = here / name
            rel = file.relative_to(root).as_posix()
            if why := bad_name(name):
                diags.append(Diagnostic(rel, 1, 1, "E035", "-", why))
            elif file.is_symlink():
                diags.append(Diagnostic(rel, 1, 1, "E029", "-", "symbolic links are not allowed"))
            elif depth == 0:
                if name not in {"README.md"}:
                    diags.append(Diagnostic(rel, 1, 1, "E030", "-", "put files in entries/<level>/"))
            elif depth == 1 and name.endswith(".yaml"):
                items.append((file, rel, name == BENCHMARK_FILE))
            elif depth == 1 and name.endswith(".yml"):
                diags.append(Diagnostic(rel, 1, 1, "E030", "-", "use the .yaml extension"))
            elif file.stat().st_size > MAX_BYTES:
                diags.append(Diagnostic(rel, 1, 1, "E002", "-", "artifacts over 1 MiB must be referenced by https url"))
    return items, diags


def _load_items(items: list[tuple[Path, str, bool]], jobs: int | None) -> list[Doc]:
    jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    if jobs <= 1 or len(items) < PARALLEL_THRESHOLD:
        return _load_chunk(items)
    size = (len(items) + jobs - 1) // jobs
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return [doc for part in pool.map(_load_chunk, chunks) for doc in part]


def today() -> dt.date:
    """Today's date in UTC (AIEFF_TODAY=YYYY-MM-DD overrides it for reproducible tests)."""
    override = os.environ.get("AIEFF_TODAY")
    return dt.date.fromisoformat(override) if override else dt.datetime.now(dt.UTC).date()


_ARXIV_URL = re.compile(r"^https://(?:www\.)?arxiv\.org/(?:abs|pdf)/([0-9]{4}\.[0-9]{4,5})(?:v[0-9]+)?(?:\.pdf)?/?$")


def _norm_title(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", title.casefold())


def _paper_links(entry: Entry) -> list[tuple[tuple[Any, ...], str, str]]:
    """(location, url, title) of every place an entry names a paper by link."""
    links: list[tuple[tuple[Any, ...], str, str]] = [
        (("publication", "url"), entry.publication.url, entry.publication.title)
    ]
    if entry.analysis:
        links.append((("analysis", "url"), entry.analysis.url, entry.analysis.title))
    for i, claim in enumerate(entry.claims):
        links.append((("claims", i, "source", "url"), claim.source.url, claim.source.title))
    if entry.training and entry.training.source:
        links.append((("training", "source", "url"), entry.training.source.url, entry.training.source.title))
    return links


def cross_check(ds: Dataset, docs: list[Doc]) -> None:
    """Checks that need more than one file: ids, folders, baselines, dates, links, paths."""
    now = today()
    for doc in docs:
        if doc.model is None:
            continue
        folder = Path(doc.path).parent.name
        if isinstance(doc.model, Benchmark):
            if doc.model.id != folder:
                ds.diagnostics.append(doc.loaded.error("E020", ("id",), f"id must equal the folder name {folder!r}"))
            else:
                ds.benchmarks[doc.model.id] = doc
    seen_links: dict[str, tuple[str, str, str]] = {}
    for doc in docs:
        entry = doc.model
        if not isinstance(entry, Entry):
            continue
        stem, folder = Path(doc.path).stem, Path(doc.path).parent.name
        err = doc.loaded.error
        if entry.id != stem:
            ds.diagnostics.append(err("E020", ("id",), f"id must equal the file name {stem!r}"))
        if entry.benchmark != folder:
            ds.diagnostics.append(err("E021", ("benchmark",), f"benchmark must equal the folder name {folder!r}"))
        elif folder not in ds.benchmarks:
            ds.diagnostics.append(
                err("E023", ("benchmark",), f"entries/{folder}/{BENCHMARK_FILE} is missing or invalid")
            )
        if entry.id in ds.entries:  # reported on both files, so a check of either one sees it
            first = ds.entries[entry.id]
            ds.diagnostics.append(err("E022", ("id",), f"id {entry.id!r} is already used by {first.path}"))
            ds.diagnostics.append(first.loaded.error("E022", ("id",), f"id {entry.id!r} is also used by {doc.path}"))
        else:
            ds.entries[entry.id] = doc
        _check_dates(ds, doc, entry, now)
        _check_links(ds, doc, entry, seen_links)
        _check_paths(ds, doc, entry)
        _check_accelerators(ds, doc, entry)
    _check_recipes(ds)
    _check_optimizers(ds)
    check_derived(ds)  # resolves valid derived entries: after the checks of each file, before the rules
    for bench_id, bdoc in sorted(ds.benchmarks.items()):
        level = ds.level(bench_id)
        base = ds.entries.get(level.baseline)
        if base is None or not isinstance(base.model, Entry) or base.model.benchmark != bench_id:
            candidate = ds.root / "entries" / bench_id / f"{level.baseline}.yaml"
            if base is None and candidate.is_file():
                why = f"entries/{bench_id}/{level.baseline}.yaml exists but is invalid (see its errors)"
            elif base is not None and base.path != f"entries/{bench_id}/{level.baseline}.yaml":
                why = f"{level.baseline!r} is an entry of another level ({base.path})"
            else:
                ids = [e.id for e in ds.entries_of(bench_id, include_withdrawn=True)]
                hint = did_you_mean(level.baseline, ids) or f" (aieff new {bench_id} {level.baseline})"
                why = f"no entry {level.baseline!r} in entries/{bench_id}/{hint}"
            ds.diagnostics.append(bdoc.loaded.error("E024", ("baseline",), why))
        elif base.model.withdrawn:
            ds.diagnostics.append(bdoc.loaded.error("E031", ("baseline",), f"baseline {level.baseline!r} is withdrawn"))
    check_rules(ds)
    check_narrative(ds)


def _check_recipes(ds: Dataset) -> None:
    """same_recipe_as names a ranked entry of the same level, published no later."""
    for doc in ds.entries.values():
        entry = doc.model
        if not isinstance(entry, Entry) or entry.same_recipe_as is None:
            continue
        first = ds.entries.get(entry.same_recipe_as)
        ref = first.model if first is not None else None
        why = None
        if not isinstance(ref, Entry) or ref.benchmark != entry.benchmark or ref.id == entry.id:
            ids = [e.id for e in ds.entries_of(entry.benchmark, include_withdrawn=True) if e.id != entry.id]
            why = f"no other entry {entry.same_recipe_as!r} in this level{did_you_mean(entry.same_recipe_as, ids)}"
        elif ref.same_recipe_as is not None:
            why = f"{ref.id} is itself a run of {ref.same_recipe_as}: name {ref.same_recipe_as}"
        elif ref.publication.date > entry.publication.date:
            why = f"{ref.id} was public on {ref.publication.date}, after this entry: name the first public run"
        if why:
            ds.diagnostics.append(doc.loaded.error("E033", ("same_recipe_as",), why))


def _check_optimizers(ds: Dataset) -> None:
    """training.optimizer names one of its level's optimizers (aieff.verify.optimizer_cost counts it)."""
    for doc in ds.entries.values():
        entry = doc.model
        if not isinstance(entry, Entry) or entry.training is None or entry.training.optimizer is None:
            continue
        term = entry.training.optimizer
        if entry.benchmark not in ds.benchmarks:
            continue
        known = sorted(ds.level(entry.benchmark).optimizers or {})
        if term.definition not in known:
            why = f"no optimizer {term.definition!r} in the level's optimizers" + (
                did_you_mean(term.definition, known) or f" (it defines {', '.join(known) or 'none'})"
            )
            ds.diagnostics.append(doc.loaded.error("E087", ("training", "optimizer", "definition"), why))


def _check_dates(ds: Dataset, doc: Doc, entry: Entry, now: dt.date) -> None:
    pub = entry.publication
    dates = [(("publication", "date"), pub.date)]
    if entry.withdrawn:
        dates.append((("withdrawn", "date"), entry.withdrawn.date))
    for loc, value in dates:
        if value > now:
            ds.diagnostics.append(
                doc.loaded.error("E025", loc, f"{value.isoformat()} is after today ({now.isoformat()})")
            )
    url_id = m.group(1) if (m := _ARXIV_URL.match(pub.url)) else None
    if pub.arxiv and url_id and url_id != pub.arxiv:
        ds.diagnostics.append(
            doc.loaded.error("E026", ("publication", "arxiv"), f"arxiv {pub.arxiv} but the url names {url_id}")
        )
    arxiv = pub.arxiv or url_id
    if arxiv:
        year, month = 2000 + int(arxiv[:2]), int(arxiv[2:4])
        if (pub.date.year, pub.date.month) != (year, month):
            ds.diagnostics.append(
                doc.loaded.error(
                    "E026",
                    ("publication", "date"),
                    f"{pub.date.isoformat()} but arXiv {arxiv} was first posted in {year}-{month:02d}",
                )
            )


def _check_links(ds: Dataset, doc: Doc, entry: Entry, seen: dict[str, tuple[str, str, str]]) -> None:
    for loc, url, title in _paper_links(entry):
        m = _ARXIV_URL.match(url)
        key = f"arxiv:{m.group(1)}" if m else url.rstrip("/")
        first = seen.setdefault(key, (_norm_title(title), title, doc.path))
        if first[0] != _norm_title(title):
            ds.diagnostics.append(
                doc.loaded.error(
                    "E027",
                    loc,
                    f"{url} is titled {title!r} here but {first[1]!r} in {first[2]}",
                )
            )


def _check_paths(ds: Dataset, doc: Doc, entry: Entry) -> None:
    arts = entry.artifacts
    if arts is None:
        return
    for where, art in arts.files():
        if art.path is None:
            continue
        loc = ("artifacts", *where, "path")
        target = resolve_inside(ds.root, art.path)
        if target is None:
            ds.diagnostics.append(doc.loaded.error("E029", loc, f"{art.path} resolves outside the repository"))
        elif not target.is_file():
            ds.diagnostics.append(doc.loaded.error("E029", loc, f"{art.path} does not exist"))


def _check_accelerators(ds: Dataset, doc: Doc, entry: Entry) -> None:
    """E060 where time_to_level names an accelerator, or a precision of it, the hardware table lacks."""
    acc = entry.time_to_level.accelerators if entry.time_to_level else None
    if acc is None:
        return
    known = hardware.table()
    loc = ("time_to_level", "accelerators", "type")
    if acc.type not in known:
        why = f"{acc.type!r} is not in the hardware table{did_you_mean(acc.type, sorted(known))}"
        ds.diagnostics.append(doc.loaded.error("E060", loc, why))
    elif hardware.peak(acc.type, acc.precision) is None:
        have = ", ".join(sorted(known[acc.type].peak_flop_per_s))
        why = f"the hardware table gives {acc.type} no {acc.precision} peak (it has: {have})"
        ds.diagnostics.append(doc.loaded.error("E060", ("time_to_level", "accelerators", "precision"), why))


def citation(root: Path) -> tuple[Citation | None, list[Diagnostic]]:
    """CITATION.cff's release (version, date-released), checked as an entry is; (None, []) when there is none.

    Its version reaches the README's BibTeX, the exports and the data package.
    """
    file = root / CITATION_FILE
    if file.is_symlink():
        return None, [Diagnostic(CITATION_FILE, 1, 1, "E029", "-", "symbolic links are not allowed")]
    if not file.exists():
        return None, []
    loaded = load_file(file, CITATION_FILE, require_schema_line=False)
    if loaded.errors or loaded.data is None:
        return None, loaded.errors
    try:
        return Citation.model_validate(loaded.data), []
    except ValidationError as exc:
        return None, schema_errors(loaded, exc, Citation)


def validate(root: Path, *, jobs: int | None = None) -> Dataset:
    """Load, schema-check and cross-check everything under root/entries, and CITATION.cff."""
    ds = Dataset(root)
    items, ds.diagnostics = discover(root)
    docs = _load_items(items, jobs)
    ds.n_files = len(docs)
    if (root / CITATION_FILE).exists() or (root / CITATION_FILE).is_symlink():
        ds.n_files += 1
        ds.diagnostics.extend(citation(root)[1])
    for doc in docs:
        ds.diagnostics.extend(doc.loaded.errors)
    cross_check(ds, docs)
    ds.diagnostics.sort()
    return ds
