"""`aieff estimate`: re-estimate training compute from architecture, checkpoint and log, and judge the claim.

verified: the re-estimate is within the level's tolerance of the claim (needs a training log).
failed: it is not, or an artifact is missing, tampered with or of another architecture.
claimed: the entry references nothing to re-estimate from (forward cost is still checked when an
architecture is given, and reported).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aieff.repo import DataError, UsageError, inside, write_atomic
from aieff.schema import Benchmark, Entry, ForwardCost
from aieff.units import FORWARD_AND_BACKWARD, flop_to_pfs_days, to_flop
from aieff.validate import Dataset


@dataclass
class Estimate:
    """The verdict on one entry, with the factors side by side."""

    id: str
    level: str
    path: str
    status: str = "claimed"
    compute_flop: float | None = None
    compute_multiply_adds: float | None = None
    compute_pfs_days: float | None = None
    claimed_flop: float | None = None
    rows: list[list[str]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    def fail(self, message: str) -> Estimate:
        self.status = "failed"
        self.messages.append(message)
        return self


def _pct(new: float, old: float) -> str:
    return f"{(new - old) / old:+.1%}"


def _phases(entry: Entry) -> list[tuple[float, float, ForwardCost]]:
    t = entry.training
    if t is None:
        return []
    if t.resolution_schedule:
        return [(p.start_epoch, p.end_epoch, p.forward_cost) for p in t.resolution_schedule]
    if t.forward_cost:
        return [(0.0, float("inf"), t.forward_cost)]
    return []


def _model(entry: Entry, root: Path) -> tuple[Any, str]:
    from aieff.fetch import fetch
    from aieff.flops import build_torchvision, load_export

    arch = entry.artifacts.architecture  # type: ignore[union-attr]
    if arch.torchvision:
        return build_torchvision(arch.torchvision, dict(arch.kwargs)), "meta"
    path = fetch(arch.export, root, what="architecture")  # type: ignore[arg-type]
    return load_export(path), "cpu"


def estimate_entry(root: Path, ds: Dataset, entry: Entry) -> Estimate:
    """Re-estimate one entry; never raises DataError (it becomes a failed verdict)."""
    path = ds.entries[entry.id].path
    est = Estimate(entry.id, entry.benchmark, path)
    try:
        return _estimate(root, ds, entry, est)
    except DataError as exc:
        return est.fail(str(exc))


def _estimate(root: Path, ds: Dataset, entry: Entry, est: Estimate) -> Estimate:
    level = ds.level(entry.benchmark)
    arts = entry.artifacts
    if arts is None or arts.architecture is None:
        est.messages.append("no architecture referenced: nothing to re-estimate")
        return est
    from aieff.flops import count_forward, example_input

    phases = _phases(entry)
    if not phases and arts.architecture.input != "vector":
        est.messages.append("no training.forward_cost (with resolution or sequence length): nothing to count at")
        return est
    model, device = _model(entry, root)
    arch = arts.architecture
    counted: list[tuple[float, float, float]] = []  # (start, end, forward FLOP) per phase
    for start, end, fc in phases or [(0.0, float("inf"), None)]:
        sample = example_input(
            arch.input,
            resolution=fc.resolution if fc else None,
            features=arch.input_features,
            sequence_length=fc.sequence_length if fc else None,
            device=device,
        )
        count = count_forward(model, sample)
        est.messages += count.notes
        counted.append((start, end, count.flop))
        label = f"forward cost{f' @{fc.resolution}px' if fc and fc.resolution else ''}"
        if fc is None:
            est.rows.append([label, "-", f"{count.multiply_adds:,.0f} multiply-adds", ""])
            continue
        claimed = to_flop(fc.value, fc.unit) / 2
        ok = level.agrees(count.multiply_adds, claimed)
        est.rows.append(
            [
                label,
                f"{claimed:,.4g} multiply-adds",
                f"{count.multiply_adds:,.4g} multiply-adds",
                "ok" if ok else f"differs {_pct(count.multiply_adds, claimed)}",
            ]
        )
        if not ok:
            est.messages.append(f"{label}: entry says {claimed:.4g} multiply-adds, counted {count.multiply_adds:.4g}")
    if arts.checkpoint:
        from aieff.checkpoint import compare, state_shapes
        from aieff.fetch import fetch

        expected = state_shapes(model)
        report = compare(expected, fetch(arts.checkpoint, root, what="checkpoint"))
        est.rows.append(
            [
                "checkpoint",
                f"{len(expected)} tensors (architecture)",
                f"{report.tensors} tensors, {report.parameters:,} parameters ({report.format})",
                "ok" if report.ok else "differs",
            ]
        )
        if not report.ok:
            return est.fail("checkpoint is not this architecture: " + "; ".join(report.problems()))
    if arts.training_log is None:
        est.messages.append("no training log: compute not re-estimated, the entry stays claimed")
        return est
    return _judge_log(root, entry, level, est, counted, ds)


def _judge_log(
    root: Path,
    entry: Entry,
    level: Benchmark,
    est: Estimate,
    counted: list[tuple[float, float, float]],
    ds: Dataset,
) -> Estimate:
    from aieff import logs
    from aieff.fetch import fetch

    spec = entry.artifacts.training_log  # type: ignore[union-attr]
    raw = fetch(spec, root, what="training log").read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"training log is not UTF-8 text (byte {exc.start})") from exc
    reached = logs.first_reaching(logs.parse(text, spec, level), level)
    ev = reached.eval
    t = entry.training
    per_epoch = (t.samples_per_epoch if t else None) or level.dataset.train_samples_per_epoch
    if ev.samples is not None:
        samples = float(ev.samples)
        epochs = samples / per_epoch if per_epoch else None
    elif per_epoch and ev.epochs is not None:
        epochs, samples = ev.epochs, ev.epochs * per_epoch
    else:
        raise DataError("the log counts epochs but the level has no train_samples_per_epoch")
    if t and t.epochs_to_target is not None:
        ok = epochs is not None and abs(epochs - t.epochs_to_target) <= 1e-9
        est.rows.append(
            [
                "epochs to target",
                f"{t.epochs_to_target:g}",
                f"{epochs:g} (log line {ev.line})",
                "ok" if ok else "differs",
            ]
        )
    elif t and t.samples_to_target is not None:
        est.rows.append(
            [
                "samples to target",
                f"{t.samples_to_target:,}",
                f"{samples:,.0f} (log line {ev.line})",
                "ok" if abs(samples - t.samples_to_target) < 1 else "differs",
            ]
        )
    est.rows.append(
        [
            "value reached",
            f">= {level.threshold:g}" if level.direction == "higher" else f"<= {level.threshold:g}",
            f"{ev.value:g}",
            reached.cadence,
        ]
    )
    if epochs is not None and len(counted) > 1:
        flop = sum(
            FORWARD_AND_BACKWARD * f * (min(end, epochs) - start) * per_epoch
            for start, end, f in counted
            if epochs > start
        )
    else:
        flop = FORWARD_AND_BACKWARD * counted[0][2] * samples
    est.compute_flop, est.compute_multiply_adds, est.compute_pfs_days = flop, flop / 2, flop_to_pfs_days(flop)
    if entry.claims:
        claim = entry.claims[0]
        est.claimed_flop = to_flop(claim.value, claim.unit)
        what = f"claim ({claim.value:g} {claim.unit})"
    else:
        from aieff.analysis import derive

        d = derive(entry, level, ds.all_entries())
        est.claimed_flop = d.flop
        what = "derived from the training facts"
    ok = level.agrees(flop, est.claimed_flop)
    est.rows.append(
        [
            "compute",
            f"{est.claimed_flop:.4g} FLOP {what}",
            f"{flop:.4g} FLOP = {flop / 2:.4g} multiply-adds = {flop_to_pfs_days(flop):.4g} petaflop/s-days",
            "ok" if ok else f"differs {_pct(flop, est.claimed_flop)}",
        ]
    )
    if not ok:
        return est.fail(
            f"re-estimated compute {flop:.4g} FLOP is {flop / est.claimed_flop:.2f}x the {what} "
            f"({est.claimed_flop:.4g} FLOP); tolerance {level.tolerance_percent:g}%"
        )
    est.status = "failed" if est.status == "failed" else "verified"
    return est


def render_text(ests: list[Estimate]) -> str:
    """A block per entry: the verdict, the factors side by side, then notes."""
    out = []
    for e in ests:
        out.append(f"{e.path}: {e.status}")
        if e.rows:
            widths = [max(len(r[i]) for r in [["factor", "entry", "re-estimate", ""], *e.rows]) for i in range(4)]
            for r in [["factor", "entry", "re-estimate", ""], *e.rows]:
                out.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        out += [f"  - {m}" for m in e.messages]
    counts = {s: sum(e.status == s for e in ests) for s in ("verified", "claimed", "failed")}
    out.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(out) + "\n"


def _summary(ests: list[Estimate]) -> None:
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if os.environ.get("GITHUB_ACTIONS") != "true" or not summary:
        return
    lines = [
        "### aieff estimate",
        "",
        "| entry | status | factor | entry says | re-estimate | |",
        "|---|---|---|---|---|---|",
    ]
    for e in ests:
        for i, r in enumerate(e.rows or [["-", "-", "-", ""]]):
            lines.append(f"| {e.path if i == 0 else ''} | {e.status if i == 0 else ''} | " + " | ".join(r) + " |")
        for m in e.messages:
            lines.append(f"| | | note | {m.replace('|', '/')} | | |")
    with open(summary, "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n\n")


def run_estimates(root: Path, ds: Dataset, paths: list[str], *, all_entries: bool, record: str | None, fmt: str) -> int:
    """Estimate the named entries (or all with artifacts); exit 1 when any failed."""
    entries: list[Entry] = []
    if all_entries:
        entries = sorted(
            (e for e in ds.all_entries().values() if not e.withdrawn),
            key=lambda e: (e.benchmark, e.id),
        )
    for p in paths:
        rel = inside(root, p).relative_to(root.resolve()).as_posix()
        match = [d.model for d in ds.entries.values() if d.path == rel]
        if not match or not isinstance(match[0], Entry):
            raise UsageError(f"{p}: not an entry file")
        entries.append(match[0])
    if not entries:
        raise UsageError("name entry files, or pass --all")
    ests = [estimate_entry(root, ds, e) for e in entries]
    if fmt == "json":
        sys.stdout.write(json.dumps([asdict(e) for e in ests], indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(render_text(ests))
    _summary(ests)
    if record:
        doc = {
            "entries": {
                e.id: {"level": e.level, "status": e.status, "compute_flop": e.compute_flop, "messages": e.messages}
                for e in ests
            }
        }
        write_atomic(inside(root, record), json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return 1 if any(e.status == "failed" for e in ests) else 0
