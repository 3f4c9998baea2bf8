"""The `aieff` command line: one entry point, small subcommands, clean errors and exit codes."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO, get_args

from aieff import __version__
from aieff.repo import DataError, UsageError, find_root

if TYPE_CHECKING:
    from aieff.dataset.docset import Dataset

EXAMPLES = {
    "validate": "aieff validate entries/alexnet-imagenet --format json",
    "new": "aieff new alexnet-imagenet my-model",
    "schema": "aieff schema --check",
    "analyze": "aieff analyze --level alexnet-imagenet --format json",
    "build": "aieff build --check",
    "estimate": "aieff estimate entries/alexnet-imagenet/alexnet.yaml",
    "check": "aieff check --changed-since origin/main",
    "new-level": "aieff new-level svhn-96 resnet18-baseline",
    "probe": "aieff probe nanogpt-r02-adamw-rotary --level gpt2-fineweb-3-28",
    "cache": "aieff cache add log.tsv",
    "record": "aieff record merge part-1.json part-2.json --out exports/verification.json",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse exits 2 on usage errors: keep that, no trace
        self.print_usage(sys.stderr)
        raise UsageError(message)


def _root(args: argparse.Namespace) -> Path:
    return find_root(Path(args.root) if args.root else None)


def cmd_validate(args: argparse.Namespace) -> int:
    from aieff.dataset.diagnostics import github_report, render
    from aieff.dataset.validate import BENCHMARK_FILE, validate
    from aieff.repo import changed_files, inside

    root = _root(args)
    ds = validate(root)
    from aieff.analysis.plausibility import warnings_for

    diags = ds.diagnostics + warnings_for(ds)
    scope: set[str] | None = None
    if args.paths:
        missing = [p for p in args.paths if not Path(p).exists()]
        if missing:
            raise UsageError(f"no such file or folder: {', '.join(missing)}")
        scope = {inside(root, p).relative_to(root.resolve()).as_posix() for p in args.paths}
    if args.changed_since:
        changed = changed_files(root, args.changed_since, ("entries", "CITATION.cff"))
        levels = {Path(p).parent.as_posix() for p in changed if Path(p).name == BENCHMARK_FILE}
        scope = (scope or set()) | changed | levels
    if scope is not None:

        def wanted(path: str) -> bool:
            return any(path == s or path.startswith(s.rstrip("/") + "/") or s in {".", ""} for s in scope)

        diags = [d for d in diags if wanted(d.path)]
    sys.stdout.write(render(diags, args.format))
    github_report(diags, ds.n_files, stream=sys.stderr if args.format == "json" else sys.stdout)
    errors = sum(not d.is_warning for d in diags)
    if args.format == "text":
        word = "error" if errors == 1 else "errors"
        warned = f", {len(diags) - errors} warning(s)" if len(diags) > errors else ""
        print(f"{errors} {word}{warned} in {ds.n_files} files", file=sys.stderr)
    return 1 if errors else 0


def _slugs(**values: str) -> None:
    for what, value in values.items():
        if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", value):
            raise UsageError(f"{what} {value!r} must be a lower-case slug like 'efficientnet-b0'")


def cmd_new(args: argparse.Namespace) -> int:
    from aieff.dataset.skeleton import skeleton
    from aieff.repo import write_atomic

    root = _root(args)
    _slugs(BENCHMARK=args.benchmark, ID=args.id)
    folder = root / "entries" / args.benchmark
    if not (folder / "benchmark.yaml").is_file():
        raise UsageError(f"no level {args.benchmark!r}: entries/{args.benchmark}/benchmark.yaml is missing")
    target = folder / f"{args.id}.yaml"
    if target.exists():
        raise UsageError(f"{target.relative_to(root)} already exists")
    write_atomic(target, skeleton(args.benchmark, args.id))
    print(f"wrote {target.relative_to(root)}: replace every TODO, then run aieff validate on it")
    return 0


def cmd_new_level(args: argparse.Namespace) -> int:
    from aieff.dataset.skeleton import level_skeleton, skeleton
    from aieff.repo import write_atomic

    root = _root(args)
    _slugs(LEVEL=args.level, BASELINE=args.baseline)
    folder = root / "entries" / args.level
    if folder.exists():
        raise UsageError(f"entries/{args.level} already exists")
    write_atomic(folder / "benchmark.yaml", level_skeleton(args.level, args.baseline))
    write_atomic(folder / f"{args.baseline}.yaml", skeleton(args.level, args.baseline))
    print(
        f"wrote entries/{args.level}/benchmark.yaml and entries/{args.level}/{args.baseline}.yaml: "
        f"replace every TODO, then run aieff validate entries/{args.level}"
    )
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from aieff.verify.cache import add, add_git

    if bool(args.files) == bool(args.git_dir):
        raise UsageError("give files to cache, or --git-dir PATH (not both)")
    if args.git_dir:
        return add_git(_root(args), Path(args.git_dir))
    return add(_root(args), [Path(p) for p in args.files])


def cmd_probe(args: argparse.Namespace) -> int:
    from aieff.verify import probe

    if args.export:
        if args.log:
            raise UsageError("give a LOG or --export FILE, not both")
        need_extra("compute", "probe --export")
        return probe.probe_export(
            Path(args.export),
            input_kind=args.input,
            sequence_length=args.sequence_length,
            resolution=args.resolution,
            features=args.features,
            fmt=args.output,
        )
    if not args.log:
        raise UsageError("give a LOG (a file, or the id of an entry that pins one), or --export FILE")
    columns = {}
    for pair in args.column or []:
        key, sep, name = pair.partition("=")
        if not sep:
            raise UsageError(f"--column {pair!r}: write KEY=NAME, e.g. metric=top1Accuracy")
        columns[key] = name
    opts = probe.LogOptions(
        format=args.format,
        pattern=args.pattern,
        tag=args.tag,
        step_means=args.step_means,
        columns=columns or None,
        metric_scale=args.metric_scale,
        epochs_start_at=args.epochs_start_at,
        samples_per_step=args.samples_per_step,
        samples_per_epoch=args.samples_per_epoch,
        sequence_length=args.sequence_length,
    )
    root = _root(args)
    from aieff.dataset.validate import validate

    return probe.probe_log(root, validate(root), args.log, args.level, opts, args.output)


def cmd_schema(args: argparse.Namespace) -> int:
    from aieff.dataset.schemagen import generated
    from aieff.publish.outputs import sync

    return sync(_root(args), generated(_root(args)), check=args.check)


def cmd_analyze(args: argparse.Namespace) -> int:
    from aieff.analysis.analyze import AnalysisError, analyze
    from aieff.analysis.report import render_json, render_text
    from aieff.verify import record

    root = _root(args)
    ds = _valid_dataset(root)
    shown = record.shown(record.load(root / record.RECORD_PATH), ds)
    published, brackets = record.published_compute(shown), record.published_brackets(shown)
    try:
        result = analyze(ds, levels=args.level or None, reestimated=published, brackets=brackets)
    except AnalysisError as exc:
        raise DataError(str(exc)) from exc
    sys.stdout.write(render_json(result) if args.format == "json" else render_text(result))
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    need_extra("publish", "build")
    from aieff.publish.build import build

    root = _root(args)
    ds = _valid_dataset(root)
    return build(root, ds, check=args.check, dry_run=args.dry_run, edits_since=args.edits_since, fresh=args.fresh)


def cmd_estimate(args: argparse.Namespace) -> int:
    need_extra("compute", "estimate")
    from aieff.dataset.diagnostics import render
    from aieff.dataset.validate import validate
    from aieff.verify.estimate import run_estimates

    root = _root(args)
    shard = _shard(args.shard) if args.shard else None
    jobs = args.jobs if args.jobs > 0 else len(os.sched_getaffinity(0))
    ds = validate(root)
    if ds.diagnostics:  # invalid files are reported; every valid entry is still re-estimated
        sys.stderr.write(render(ds.diagnostics, "text"))
        print(f"aieff: {len(ds.diagnostics)} validation error(s): those files are not estimated", file=sys.stderr)
    status = run_estimates(
        root, ds, args.paths, all_entries=args.all, record=args.record, fmt=args.format, shard=shard, jobs=jobs
    )
    return max(status, 1 if ds.diagnostics else 0)


def _shard(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"([0-9]{1,4})/([0-9]{1,4})", text)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise UsageError(f"--shard {text}: give K/N with 1 <= K <= N (e.g. 2/4)")
    return int(m.group(1)), int(m.group(2))


def cmd_record(args: argparse.Namespace) -> int:
    """aieff record merge: one record from the partial records of a sharded run."""
    from aieff.dataset.validate import validate
    from aieff.repo import inside
    from aieff.verify import record

    root = _root(args)
    ds = validate(root)
    ids = {e.id for e in ds.all_entries().values() if not e.withdrawn and e.benchmark in ds.benchmarks}
    parts = [(p, record.load(inside(root, p))) for p in args.parts]
    out = inside(root, args.out)
    merged = record.merge_parts(parts, ids)
    record.write(out, merged)
    print(f"merged {len(parts)} partial records: {len(merged.entries)} verdicts into {args.out}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    need_extra("compute", "check")
    from aieff.repo import changed_files
    from aieff.verify.estimate import run_estimates
    from aieff.verify.record import RECORD_PATH

    root = _root(args)
    status = cmd_validate(args)
    if status:
        return status
    if RECORD_PATH in changed_files(root, args.changed_since, (RECORD_PATH,)):
        print(
            f"aieff: {RECORD_PATH} changed since {args.changed_since}: verdicts are written only by the nightly "
            f"re-estimation on the default branch, never by a pull request; drop the change with "
            f"`git checkout {args.changed_since} -- {RECORD_PATH}`",
            file=sys.stderr,
        )
        return 1
    changed = changed_files(root, args.changed_since)
    from aieff.dataset.validate import validate

    ds = validate(root)
    levels = {Path(p).parent.name for p in changed if Path(p).name == "benchmark.yaml"}
    reasons = {}  # an entry is re-checked when it, its level or one of its in-repo artifacts changed
    for doc in ds.entries.values():
        level = Path(doc.path).parent
        arts = sorted(_artifact_paths(doc.model) & changed)
        if doc.path in changed:
            reasons[doc.path] = "the entry file changed"
        elif level.name in levels:
            reasons[doc.path] = f"its level's {level.as_posix()}/benchmark.yaml changed"
        elif arts:
            reasons[doc.path] = f"its artifact {', '.join(arts)} changed"
    for doc in ds.entries.values():  # an entry read from another's run: re-checked when that entry is
        source = ds.entries.get(getattr(doc.model, "derived_from", None) or "")
        if source is not None and doc.path not in reasons and source.path in reasons:
            reasons[doc.path] = f"it reads the run of {source.path}: {reasons[source.path]}"
    if not reasons:
        print("no changed entries to re-estimate")
        return 0
    out = sys.stderr if args.format == "json" else sys.stdout
    count = f"{len(reasons)} entr{'y' if len(reasons) == 1 else 'ies'}"
    print(f"re-estimating {count} changed since {args.changed_since}:", file=out)
    for path, why in sorted(reasons.items()):
        print(f"  {path}: {why}", file=out)
    out.flush()
    # A PR cannot be checked against an artifact nobody can fetch: unreachable fails the check.
    status = run_estimates(
        root, ds, sorted(reasons), all_entries=False, record=None, fmt=args.format, unreachable_fails=True
    )
    _offline_advice(ds, sorted(reasons), out)
    return status


def _offline_advice(ds: Dataset, paths: list[str], out: TextIO) -> None:
    """After a check, how many pinned URL artifacts of these entries are not in the cache, and how to seed them."""
    from aieff.verify.cache import github_pin
    from aieff.verify.fetch import cache_dir

    missing: dict[str, set[str]] = {}
    for doc in ds.entries.values():
        arts = getattr(doc.model, "artifacts", None)
        if doc.path not in paths or arts is None:
            continue
        for _, art in arts.files():
            if art.url is not None and not (cache_dir() / art.sha256).is_file():
                pin = github_pin(art.url)
                missing.setdefault(pin.repo if pin else art.url.split("/")[2], set()).add(art.sha256)
    if not missing:
        return
    total = sum(len(v) for v in missing.values())
    where = ", ".join(f"{len(v)} from {k}" for k, v in sorted(missing.items()))
    print(
        f"aieff: {total} artifact(s) these entries pin by URL are not cached ({where}); to check offline, seed "
        "them from a local clone or snapshot with `aieff cache add --git-dir PATH` (GitHub URLs at a commit), "
        "or from files with `aieff cache add FILE...`",
        file=out,
    )


def _artifact_paths(entry: object) -> set[str]:
    arts = getattr(entry, "artifacts", None)
    return {art.path for _, art in arts.files() if art.path} if arts else set()


EXTRAS = {"compute": ("torch", "torchvision", "ptflops", "pooch"), "publish": ("matplotlib", "pyarrow")}


def need_extra(extra: str, command: str) -> None:
    """A clear message, not a traceback, when a command's optional dependencies are not installed."""
    import importlib.util

    missing = [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(
            f"aieff {command} needs the '{extra}' extra ({', '.join(missing)} missing): pip install -e '.[{extra}]'"
        )


def _valid_dataset(root: Path) -> Dataset:
    from aieff.dataset.diagnostics import render
    from aieff.dataset.validate import validate

    ds = validate(root)
    if ds.diagnostics:
        sys.stderr.write(render(ds.diagnostics, "text"))
        raise DataError(f"{len(ds.diagnostics)} validation error(s); fix them first (aieff validate)")
    return ds


def parser() -> argparse.ArgumentParser:
    """The argument parser, with one subcommand per developer action."""
    top = _Parser(prog="aieff", description="Curated tracker of training compute to reach fixed capability levels.")
    top.add_argument("--version", action="version", version=f"aieff {__version__}")
    top.add_argument("--root", help="repository root (default: nearest folder with entries/)")
    sub = top.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def add(name: str, func: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_,
            description=help_,
            epilog=f"example: {EXAMPLES[name]}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument("--root", help=argparse.SUPPRESS, default=argparse.SUPPRESS)
        p.set_defaults(func=func)
        return p

    p = add("validate", cmd_validate, "Validate entries: schema, positions, cross-entry checks. Exit 1 on errors.")
    p.add_argument("paths", nargs="*", help="files or folders to report on (default: everything)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--changed-since", metavar="REF", help="report only files changed since git REF")

    p = add("new", cmd_new, "Write a commented skeleton entry to fill in.")
    p.add_argument("benchmark", metavar="BENCHMARK", help="level id (folder under entries/)")
    p.add_argument("id", metavar="ID", help="new entry id (file name without .yaml)")

    p = add("new-level", cmd_new_level, "Write a skeleton level and its baseline entry to fill in.")
    p.add_argument("level", metavar="LEVEL", help="new level id (folder under entries/)")
    p.add_argument("baseline", metavar="BASELINE", help="id of the level's baseline entry")

    p = add(
        "cache",
        cmd_cache,
        "Store local copies of artifacts under their sha256, so entries that pin them verify offline. A file "
        "is refused until a valid entry pins its sha256 for a URL artifact: write the entry first. With "
        "--git-dir, every artifact pinned by a GitHub URL at a commit "
        "(https://raw.githubusercontent.com/OWNER/REPO/COMMIT/PATH) that the local clone or snapshot holds is "
        "read from it, checked and cached in one go.",
    )
    p.add_argument("action", choices=["add"])
    p.add_argument("files", nargs="*", metavar="FILE", help="files whose sha256 an entry pins")
    p.add_argument(
        "--git-dir",
        metavar="PATH",
        help="a local git directory or work tree (clone or snapshot) to read pinned GitHub artifacts from",
    )

    p = add(
        "probe",
        cmd_probe,
        "Without writing an entry: read a training log (a local file, or an entry's pinned log by entry id) "
        "against a level and print the first evaluation at it, the steps, samples, tokens and epochs to it, "
        "and the bracket from the evaluation before; or count an export's exact forward multiply-adds per "
        "sample at a shape, in the sandbox, as estimate does. A local log: aieff probe train.log --level LEVEL "
        "--format step-log --pattern 'step:(?P<step>[0-9]+)/[0-9]+ val_loss:(?P<value>[0-9.]+)' "
        "--samples-per-step 512 --sequence-length 1024. An export: aieff probe --export model.pt2 --input tokens "
        "--sequence-length 1024.",
    )
    p.add_argument("log", nargs="?", metavar="LOG", help="a log file, or the id of an entry whose log to read")
    p.add_argument("--level", help="level id to read the log against (default: the entry's level)")
    from aieff.dataset.schema import LogFormat

    p.add_argument("--format", choices=list(get_args(LogFormat)), help="how to read the log (as training_log.format)")
    p.add_argument("--pattern", help="for step-log: the RE2 pattern with groups step and value")
    p.add_argument("--tag", help="for tensorboard: the scalar tag")
    p.add_argument("--step-means", choices=["steps", "epochs", "samples"], help="for tensorboard")
    p.add_argument("--column", action="append", metavar="KEY=NAME", help="for csv/jsonl/tsv: e.g. metric=top1Accuracy")
    p.add_argument("--metric-scale", choices=["percent", "fraction"])
    p.add_argument("--epochs-start-at", type=int, choices=[0, 1])
    p.add_argument("--samples-per-step", type=int, metavar="N", help="samples (sequences, images) per optimizer step")
    p.add_argument("--samples-per-epoch", type=int, metavar="N", help="default: the level's train_samples_per_epoch")
    p.add_argument("--export", metavar="FILE.pt2", help="count this export instead of reading a log")
    p.add_argument("--input", choices=["tokens", "image", "vector"], default="tokens", help="the export's input")
    p.add_argument("--sequence-length", type=int, metavar="N", help="tokens per sample (tokens input; log tokens)")
    p.add_argument("--resolution", type=int, metavar="N", help="image side in pixels (image input)")
    p.add_argument("--features", type=int, metavar="N", help="features per sample (vector input)")
    p.add_argument("--output", choices=["text", "json"], default="text")

    p = add("schema", cmd_schema, "Regenerate schema/*.json and docs/fields.md, docs/errors.md.")
    p.add_argument("--check", action="store_true", help="exit 1 and name stale files instead of writing")

    p = add(
        "analyze",
        cmd_analyze,
        "Reduction factors, frontiers and the trend (compute halves every N months) per level (no torch).",
    )
    p.add_argument("--level", action="append", help="only this level (repeatable)")
    p.add_argument("--format", choices=["text", "json"], default="text")

    p = add("build", cmd_build, "Regenerate README tables, charts, exports, schemas and docs.")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 and name stale files instead of writing")
    mode.add_argument(
        "--dry-run", action="store_true", help="generate everything in memory, name what would change, write nothing"
    )
    mode.add_argument(
        "--edits-since",
        metavar="REF",
        help="exit 1 naming generated files changed since REF by hand (untouched or regenerated is fine)",
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="draw every chart, not taking unchanged ones from the render cache (renders/ in AIEFF_CACHE)",
    )

    p = add("estimate", cmd_estimate, "Re-estimate training compute from architecture, checkpoint and log.")
    p.add_argument(
        "paths", nargs="*", help="entry files, level folders or globs to re-estimate (benchmark.yaml is skipped)"
    )
    p.add_argument("--all", action="store_true", help="every entry that has artifacts")
    p.add_argument(
        "--record",
        metavar="FILE",
        help="write verdicts to FILE (JSON), each bound to the sha256s of what it judged (the nightly's job)",
    )
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument(
        "--shard",
        metavar="K/N",
        help="with --all: only shard K of N (a stable split by entry id); --record then writes a partial record",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="estimate N entries at a time, each in a sandbox helper of its own (0: one per CPU); same output",
    )

    p = add(
        "record",
        cmd_record,
        "Merge the partial records of a sharded estimate --all into one (refusing overlaps and gaps).",
    )
    p.add_argument("action", choices=["merge"])
    p.add_argument("parts", nargs="+", metavar="PART", help="partial records written by estimate --shard")
    p.add_argument("--out", required=True, metavar="FILE", help="the record to write, e.g. exports/verification.json")

    p = add(
        "check",
        cmd_check,
        "Validate, then re-estimate the entries changed since REF (the PR check); a change to "
        "exports/verification.json fails it (only the nightly writes verdicts).",
    )
    p.add_argument("--changed-since", metavar="REF", required=True)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(paths=[])
    return top


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors print one line and return 1 (data) or 2 (usage)."""
    try:
        args = parser().parse_args(argv)
        if not hasattr(args, "root"):
            args.root = None
        return args.func(args)
    except UsageError as exc:
        print(f"aieff: error: {exc}", file=sys.stderr)
        return 2
    except DataError as exc:
        print(f"aieff: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("aieff: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
