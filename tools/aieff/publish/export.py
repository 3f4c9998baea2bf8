"""CSV, JSON and Parquet exports with documented columns, their Frictionless data package, and the
original tracker's efficiency_sota.csv.

The dataset's version is recorded once, in CITATION.cff (`version`, `date-released`): the data
package and the README's BibTeX take it from there, and no row repeats it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

from aieff.analysis.analyze import Level, Result
from aieff.dataset.docset import Dataset
from aieff.dataset.schema import TRACKER_CSV
from aieff.escape import code_line, csv_cell, markdown
from aieff.repo import DataError
from aieff.verdict import Status

# column -> (dtype for readers, meaning). The order here is the order in the CSV.
COLUMNS: dict[str, tuple[str, str]] = {
    "id": ("string", "Entry id (file name under entries/<level>/)."),
    "level": ("string", "Level id (folder under entries/)."),
    "model": ("string", "Model name as the paper writes it."),
    "publication_date": ("date", "First public date, ISO 8601."),
    "publication_url": ("string", "Link to the paper."),
    "arxiv": (
        "string",
        "arXiv identifier as 'arXiv:<id>' (arXiv:2005.04305): never read as a number; empty when none.",
    ),
    "compute_flop": ("float64", "Training compute to reach the level, FLOP (multiply-add = 2 FLOP)."),
    "compute_pfs_days": ("float64", "The same in petaflop/s-days (8.64e19 FLOP)."),
    "compute_flop_low": (
        "float64",
        "Verified entries: the re-estimated compute at the log's evaluation before the first at the level, FLOP. "
        "The log fixes the compute only to the interval (compute_flop_low, compute_flop]; empty when not verified.",
    ),
    "basis": ("string", "'derived from training facts' or the source of the claim used."),
    "source_value": ("float64", "The primary source's own number, empty when no claim is recorded."),
    "source_unit": ("string", "The unit of source_value, convention included."),
    "reduction_factor": ("float64", "Baseline compute / this entry's compute."),
    "rank": ("int64", "Rank by compute within the level (1 = least); a same-recipe run shares its recipe's rank."),
    "frontier": ("bool", "True when no earlier or same-day entry needed less compute."),
    "same_recipe_as": (
        "string",
        "Entry id of the ranked run whose computation it repeats (other hardware, faster software); empty if ranked.",
    ),
    "hardware": ("string", "What the run trained on, as its submission states it; empty when not recorded."),
    "verification": (
        "string",
        f"{', '.join(list(Status)[:-1])} or {list(Status)[-1]} (re-estimation by CI; pending: not yet judged "
        "in its current form). A verified entry's compute is the re-estimate.",
    ),
    "optimizer_flop": (
        "float64",
        "The optimizer's own arithmetic to the level (Newton-Schulz, preconditioners: FLOP per step x steps), "
        "FLOP, included in compute_flop (compute_flop - optimizer_flop = 3 x forward x samples); empty when the "
        "entry states no optimizer term.",
    ),
    # time to the level (issue 22): facts from the entry's time_to_level block, then what follows from them
    "time_to_level_s": (
        "float64",
        "Wall-clock seconds to the first evaluation at the level (median over the counted runs), read from the "
        "run's log or source; empty when not recorded.",
    ),
    "time_scope": ("string", "What time_to_level_s includes and leaves out (evaluation, data loading, compilation)."),
    "accelerator": ("string", "The accelerator's key in the hardware table (tools/aieff/dataset/data/hardware.yaml)."),
    "accelerator_count": (
        "float64",
        "How many accelerators (GPUs, TPU chips, IPUs, CPU sockets) the timed run used: a whole number, float so "
        "that it can be empty.",
    ),
    "precision": ("string", "The precision whose peak is the utilisation's denominator: fp32, tf32, fp16, bf16, fp8."),
    "peak_flop_per_s": ("float64", "Peak dense FLOP/s of ONE accelerator at that precision (hardware table)."),
    "achieved_flop_per_s": ("float64", "compute_flop / time_to_level_s: achieved training FLOP/s."),
    "utilisation": (
        "float64",
        "achieved_flop_per_s / (accelerator_count x peak_flop_per_s), a fraction (0.4 = 40%); empty without "
        "accelerators in the hardware table.",
    ),
}

# The levels table: one row per level, its definition and headline figures.
LEVEL_COLUMNS: dict[str, tuple[str, str]] = {
    "id": ("string", "Level id (folder under entries/)."),
    "title": ("string", "The level's name."),
    "task": ("string", "The task, e.g. image classification."),
    "dataset": ("string", "The training data every entry must use."),
    "metric": ("string", "What is measured, and its unit."),
    "split": ("string", "The evaluation split."),
    "direction": ("string", "'higher' or 'lower': which way the metric improves."),
    "threshold": ("float64", "The level, in the metric's unit; empty for a textual criterion."),
    "criterion": ("string", "The textual criterion where there is no threshold."),
    "baseline_id": ("string", "Entry id of the baseline."),
    "baseline_model": ("string", "The baseline's model name."),
    "baseline_compute_flop": ("float64", "The baseline's training compute to the level, FLOP."),
    "best_id": ("string", "Entry id of the ranked entry that needed the least compute."),
    "best_model": ("string", "That entry's model name."),
    "best_date": ("date", "That entry's first public date, ISO 8601."),
    "best_compute_flop": ("float64", "Its training compute to the level, FLOP."),
    "reduction_factor": ("float64", "Baseline compute / best compute."),
    "frontier_points": ("int64", "Distinct dates on the frontier (what the fit uses)."),
    "frontier_span_months": ("float64", "Months from the first to the last frontier point; empty for one point."),
    "frontier_span_factor": ("float64", "First frontier point's compute / last's (the factor over that span)."),
    "doubling_months": ("float64", "Fitted halving time of compute on the frontier, months; empty below 3 points."),
    "doubling_ci95_low_months": ("float64", "Lower end of its 95% confidence interval, months; empty below 3 points."),
    "doubling_ci95_high_months": ("float64", "Upper end (empty also when unbounded), months."),
    "theil_sen_months": (
        "float64",
        "Robust halving time: Theil-Sen's median pairwise slope over the same frontier points, months; empty "
        "below 3 points.",
    ),
    "theil_sen_ci95_low_months": ("float64", "Lower end of its distribution-free 95% interval (Sen 1968), months."),
    "theil_sen_ci95_high_months": ("float64", "Upper end (empty also when unbounded), months."),
    "verified_reduction_factor": (
        "float64",
        "Baseline compute / the least compute of a verified entry; empty with fewer than 2 verified entries.",
    ),
    "verified_doubling_months": ("float64", "Halving time fitted over verified entries only, months."),
    "verified_doubling_ci95_low_months": ("float64", "Lower end of its 95% confidence interval, months."),
    "verified_doubling_ci95_high_months": ("float64", "Upper end (empty also when unbounded), months."),
    "split_unit": ("string", "What the reduction split counts: sample (image, sequence) or token."),
    "forward_factor": (
        "float64",
        "Baseline's forward FLOP per split_unit / the best entry's: the architecture and resolution part.",
    ),
    "seen_factor": (
        "float64",
        "split_units the baseline saw to the level / the best entry saw; forward_factor x seen_factor = "
        "reduction_factor.",
    ),
    "entries": ("int64", "Entries in the level (withdrawn ones excluded)."),
    **{str(s): ("int64", f"Entries whose status is {s}: {s.meaning}.") for s in Status},
    "time_fastest_id": (
        "string",
        "The verified entry that reached the level in the least wall-clock time; empty without a time split.",
    ),
    "time_speedup": (
        "float64",
        "The baseline's time to the level / time_fastest_id's: the speedup that the four time_* factors split.",
    ),
    "time_compute_factor": ("float64", "Baseline compute / the fastest entry's compute (the algorithm part)."),
    "time_count_factor": ("float64", "The fastest entry's accelerator count / the baseline's."),
    "time_peak_factor": ("float64", "The fastest entry's peak FLOP/s per accelerator / the baseline's."),
    "time_utilisation_factor": (
        "float64",
        "The fastest entry's utilisation / the baseline's; time_compute_factor x time_count_factor x "
        "time_peak_factor x time_utilisation_factor = time_speedup exactly.",
    ),
    "time_dominant": ("string", "The largest of the four factors: compute, count, peak or utilisation."),
}


def release(root: Path) -> tuple[str, str]:
    """The dataset's (version, date-released) as CITATION.cff records them, the one place they are kept."""
    from aieff.dataset.validate import CITATION_FILE, citation

    if not (root / CITATION_FILE).is_file():
        raise DataError("CITATION.cff: missing; it records the dataset's version and date-released")
    cff, problems = citation(root)
    if cff is None:
        raise DataError(f"CITATION.cff is invalid: {problems[0].text()}")
    return cff.version, cff.date_released.isoformat()


def _sig6(value: float | None) -> float | None:
    """A number as the exports store it: 6 significant digits (None stays None, an empty cell)."""
    return None if value is None else float(f"{value:.6g}")


def records(ds: Dataset, result: Result, status: dict[str, Status]) -> list[dict[str, object]]:
    """One record per entry, sorted by level then rank."""
    out: list[dict[str, object]] = []
    entries = ds.all_entries()
    for lv in result.levels:
        timed = {t.id: t for t in (lv.timing.rows if lv.timing else [])}
        for r in lv.rows:
            entry = entries[r.id]
            t = timed.get(r.id)
            out.append(
                {
                    "id": r.id,
                    "level": lv.id,
                    "model": r.model,
                    "publication_date": r.date,
                    "publication_url": r.url,
                    "arxiv": f"arXiv:{entry.publication.arxiv}" if getattr(entry.publication, "arxiv", None) else "",
                    "compute_flop": _sig6(r.flop),
                    "compute_pfs_days": _sig6(r.pfs_days),
                    "compute_flop_low": _sig6(r.flop_low),
                    "basis": r.basis,
                    "source_value": _sig6(r.source_value),
                    "source_unit": r.source_unit or "",
                    "reduction_factor": _sig6(r.reduction_factor),
                    "rank": r.rank,
                    "frontier": r.frontier,
                    "same_recipe_as": r.same_recipe_as or "",
                    "hardware": r.hardware or "",
                    "verification": str(status.get(r.id, Status.PENDING)),
                    "optimizer_flop": _sig6(r.optimizer_flop),
                    "time_to_level_s": _sig6(t.seconds) if t else None,
                    "time_scope": entry.time_to_level.scope if t and entry.time_to_level else "",
                    "accelerator": (t.accelerator or "") if t else "",
                    "accelerator_count": float(t.accelerator_count) if t and t.accelerator_count else None,
                    "precision": (t.precision or "") if t else "",
                    "peak_flop_per_s": _sig6(t.peak_flop_per_s) if t else None,
                    "achieved_flop_per_s": _sig6(t.achieved_flop_per_s) if t else None,
                    "utilisation": _sig6(t.utilisation) if t else None,
                }
            )
    return out


def level_records(ds: Dataset, result: Result, status: dict[str, Status]) -> list[dict[str, object]]:
    """One record per level, in level order: definition, baseline, best, factor and fit."""
    out: list[dict[str, object]] = []
    for lv in result.levels:
        level = ds.level(lv.id)
        best, base = lv.best_row(), lv.baseline_row()
        fit = lv.fit if lv.fit.points >= 3 else None
        ci = fit.ci95_months if fit else None
        states = [status.get(r.id, Status.PENDING) for r in lv.rows]
        ts = lv.fit.theil_sen_ci95_months
        vf = lv.verified_fit if lv.verified_fit and lv.verified_fit.points >= 3 else None
        vci = vf.ci95_months if vf else None
        out.append(
            {
                "id": lv.id,
                "title": level.title,
                "task": level.task,
                "dataset": level.dataset.name,
                "metric": f"{level.metric.name} ({level.metric.unit})",
                "split": level.metric.split,
                "direction": level.direction,
                "threshold": level.threshold,
                "criterion": level.criterion or "",
                "baseline_id": lv.baseline,
                "baseline_model": base.model if base else "",
                "baseline_compute_flop": _sig6(base.flop) if base else None,
                "best_id": best.id if best else "",
                "best_model": best.model if best else "",
                "best_date": best.date if best else "",
                "best_compute_flop": _sig6(best.flop) if best else None,
                "reduction_factor": _sig6(best.reduction_factor) if best else None,
                "frontier_points": lv.fit.points,
                "frontier_span_months": _sig6(lv.frontier_span_months or None),
                "frontier_span_factor": _sig6(lv.frontier_span_factor or None),
                "doubling_months": _sig6(fit.doubling_months or None) if fit else None,
                "doubling_ci95_low_months": _sig6(ci[0]) if ci else None,
                "doubling_ci95_high_months": _sig6(ci[1]) if ci and ci[1] != float("inf") else None,
                "theil_sen_months": _sig6(lv.fit.theil_sen_months),
                "theil_sen_ci95_low_months": _sig6(ts[0]) if ts else None,
                "theil_sen_ci95_high_months": _sig6(ts[1]) if ts and ts[1] != float("inf") else None,
                "verified_reduction_factor": _sig6(lv.verified_factor),
                "verified_doubling_months": _sig6(vf.doubling_months) if vf else None,
                "verified_doubling_ci95_low_months": _sig6(vci[0]) if vci else None,
                "verified_doubling_ci95_high_months": _sig6(vci[1]) if vci and vci[1] != float("inf") else None,
                "split_unit": lv.split.unit if lv.split else "",
                "forward_factor": _sig6(lv.split.forward_factor) if lv.split else None,
                "seen_factor": _sig6(lv.split.seen_factor) if lv.split else None,
                "entries": len(lv.rows),
                **{str(s): states.count(s) for s in Status},  # a column per status, LEVEL_COLUMNS' last
                **_time_split(lv),
            }
        )
    return out


def _time_split(lv: Level) -> dict[str, object]:
    """The level's time_* columns: its baseline-to-fastest time split, or empty cells."""
    sp = lv.timing.split if lv.timing else None
    return {
        "time_fastest_id": sp.to_id if sp else "",
        "time_speedup": _sig6(sp.speedup) if sp else None,
        "time_compute_factor": _sig6(sp.compute) if sp else None,
        "time_count_factor": _sig6(sp.count) if sp else None,
        "time_peak_factor": _sig6(sp.peak) if sp else None,
        "time_utilisation_factor": _sig6(sp.utilisation) if sp else None,
        "time_dominant": sp.dominant if sp else "",
    }


def to_csv(rows: list[dict[str, object]], columns: dict[str, tuple[str, str]] = COLUMNS) -> str:
    """CSV with a fixed column order and float formatting; booleans as true/false."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for row in rows:
        w.writerow(
            [
                ""
                if row[c] is None
                else (
                    str(row[c]).lower()
                    if isinstance(row[c], bool)
                    else (f"{row[c]:.6g}" if isinstance(row[c], float) else csv_cell(row[c]))
                )
                for c in columns
            ]
        )
    return buf.getvalue()


def to_json(rows: list[dict[str, object]], levels: list[dict[str, object]], version: str) -> str:
    """JSON export: entries and levels, each with its column documentation, and the dataset version."""
    doc = {
        "version": version,
        "columns": {k: {"dtype": t, "description": d} for k, (t, d) in COLUMNS.items()},
        "entries": rows,
        "level_columns": {k: {"dtype": t, "description": d} for k, (t, d) in LEVEL_COLUMNS.items()},
        "levels": levels,
    }
    try:
        return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    except ValueError as exc:  # never publish NaN or Infinity: that is not JSON
        raise DataError(f"exports/aieff.json: a value is not finite ({exc})") from exc


LEGACY_HEADER = [
    "Metric",
    "Publication Date",
    "Publication",
    "Publication link",
    "Compute (teraflops-s/days)",
    "Reduction Factor",
    "Analysis",
    "Analysis link",
]


def _mdy(iso: str) -> str:
    y, m, d = iso.split("-")
    return f"{int(m)}/{int(d)}/{y}"


def _same_as_printed(printed: str, value: float) -> bool:
    """Whether value rounds to the number as the tracker printed it (its significant digits; an integer's
    trailing zeros are not significant: 1620 has 3)."""
    significant = printed.replace(".", "").lstrip("0")
    if "." not in printed:
        significant = significant.rstrip("0")
    return float(f"{value:.{max(len(significant), 1)}g}") == float(printed)


def legacy(ds: Dataset, result: Result) -> tuple[list[list[str]], list[dict[str, str]]]:
    """The legacy CSV's rows and the cells that differ from the original tracker, with why (computed once,
    written by legacy_csv and corrections_markdown)."""
    rows: list[list[str]] = []
    corrections: list[dict[str, str]] = []
    written: set[str] = set()
    by_level = {lv.id: lv for lv in result.levels}
    entries = ds.all_entries()
    tracked = sorted(
        (e for e in entries.values() if e.tracker_row and e.benchmark in by_level),
        key=lambda e: e.tracker_row.row if e.tracker_row else 0,
    )

    # Each level keeps the convention its tracker claims used: multiply-adds for ImageNet, FLOP otherwise.
    counts_multiply_adds = {
        lv.id: any(c.unit.endswith("(multiply-adds)") for r in lv.rows for c in entries[r.id].claims)
        for lv in result.levels
    }

    def tfs_of(level_id: str, flop: float, multiply_add_tfs: float) -> float:
        return multiply_add_tfs if counts_multiply_adds[level_id] else flop / 8.64e16

    for e in tracked:
        tr, lv = e.tracker_row, by_level[e.benchmark]
        assert tr is not None
        r = next(x for x in lv.rows if x.id == e.id)
        claim = next(c for c in e.claims if TRACKER_CSV in c.source.url)
        cells = {
            "Metric": tr.metric,
            "Publication Date": _mdy(tr.date.isoformat()),
            "Publication": tr.publication,
            "Publication link": tr.link,
            "Compute (teraflops-s/days)": f"{claim.value:g}",
            "Reduction Factor": f"{claim.stated_reduction_factor:g}" if claim.stated_reduction_factor else "",
            "Analysis": tr.analysis,
            "Analysis link": tr.analysis_link or "",
        }
        ours = dict(cells)
        if r.date != tr.date.isoformat():
            ours["Publication Date"] = _mdy(r.date)
        tfs = tfs_of(e.benchmark, r.flop, r.multiply_add_tfs_days)
        if not _same_as_printed(cells["Compute (teraflops-s/days)"], tfs):
            ours["Compute (teraflops-s/days)"] = f"{tfs:.3g}"
        if cells["Reduction Factor"] and not _same_as_printed(cells["Reduction Factor"], r.reduction_factor):
            ours["Reduction Factor"] = f"{r.reduction_factor:.3g}"
        if tr.corrected_analysis_link:
            ours["Analysis link"] = tr.corrected_analysis_link
        for column in LEGACY_HEADER:
            if ours[column] != cells[column]:
                corrections.append(
                    {
                        "row": str(tr.row),
                        "publication": tr.publication,
                        "column": column,
                        "tracker": cells[column],
                        "aieff": ours[column],
                        "entry": f"entries/{e.benchmark}/{e.id}.yaml",
                        "why": tr.why or "",
                    }
                )
        rows.append([csv_cell(ours[c]) for c in LEGACY_HEADER])
        written.add(e.id)
    metric_of = {e.benchmark: e.tracker_row.metric for e in tracked if e.tracker_row}
    for lv in result.levels:
        for r in sorted((r for r in lv.rows if r.frontier and r.id not in written), key=lambda r: (r.date, r.id)):
            e = entries[r.id]
            tfs = tfs_of(lv.id, r.flop, r.multiply_add_tfs_days)
            analysis = e.analysis
            rows.append(
                [
                    csv_cell(metric_of.get(lv.id, lv.title)),
                    _mdy(r.date),
                    csv_cell(r.model),
                    csv_cell(r.url),
                    f"{tfs:.3g}",
                    f"{r.reduction_factor:.3g}",
                    csv_cell(analysis.title) if analysis else "",
                    csv_cell(analysis.url) if analysis else "",
                ]
            )
    return rows, corrections


def legacy_csv(rows: list[list[str]]) -> str:
    """A drop-in efficiency_sota.csv: the original tracker's rows first, in its order and with its Metric
    and Publication names, changed only where docs/corrections.md says so; then every other frontier row.

    Its compute column counted multiply-adds for the ImageNet levels and FLOP for the others; each
    level keeps the convention its tracker claims used, so existing readers see the same scale.
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(LEGACY_HEADER)
    for row in rows:
        w.writerow(row)
    return buf.getvalue()


def corrections_markdown(corrections: list[dict[str, str]]) -> str:
    """docs/corrections.md: every cell of the original tracker's rows that aieff publishes differently."""
    lines = [
        "# Corrections to the original tracker",
        "",
        "Generated by `aieff build` from the entries' `tracker_row`; do not edit.",
        "",
        "efficiency_sota.csv keeps the original tracker's 12 rows (openai/ai-and-efficiency, last commit",
        "2020-06-01) first, in their order, with their Metric, Publication and link cells. A cell differs only",
        "where it is listed here: dates are first public dates, compute and factors are what aieff derives",
        "from each entry's facts where they do not round to the tracker's printed value, and a wrong link is",
        "replaced. Every other row of the file is appended after those 12, with the same columns (Metric: the",
        "tracker's name for its levels, the level's title for new ones).",
        "",
        "| row | publication | column | tracker | aieff | why | entry |",
        "|---:|---|---|---|---|---|---|",
    ]
    for c in corrections:
        lines.append(
            f"| {c['row']} | {markdown(c['publication'])} | {c['column']} | {markdown(c['tracker'])} | "
            f"{markdown(c['aieff'])} | {markdown(c['why'], 1000)} | [{c['entry']}](../{c['entry']}) |"
        )
    return "\n".join(lines) + "\n"


def columns_markdown() -> str:
    """The export column reference for docs/exports.md."""
    lines = [
        "# Exports",
        "",
        "Generated by `aieff build` from `tools/aieff/publish/export.py`; do not edit.",
        "",
        "- `exports/aieff.csv`, `exports/aieff.parquet`: one row per entry (columns below).",
        "- `exports/levels.csv`, `exports/levels.parquet`: one row per level (columns below).",
        "- `exports/aieff.json`: both tables, their column documentation and the dataset version.",
        "- `exports/datapackage.json`: a Frictionless Data Package describing both CSV tables (types,",
        "  units in the descriptions, keys). `frictionless validate exports/datapackage.json` checks them.",
        "",
        "The dataset version is a dated release version (`YYYY.MM.DD`), kept once in CITATION.cff",
        "(`version`, `date-released`); the data package, aieff.json and the README's BibTeX take it from",
        "there. `pandas.read_csv` with no arguments gives each column the dtype listed (dates stay ISO",
        "8601 strings unless parsed; `pandas.read_parquet` gives them as dates).",
        "",
        "## Entries: `exports/aieff.csv`",
        "",
        "| column | dtype | meaning |",
        "|---|---|---|",
    ]
    lines += [f"| `{c}` | {t} | {d} |" for c, (t, d) in COLUMNS.items()]
    lines += ["", "## Levels: `exports/levels.csv`", "", "| column | dtype | meaning |", "|---|---|---|"]
    lines += [f"| `{c}` | {t} | {d} |" for c, (t, d) in LEVEL_COLUMNS.items()]
    return "\n".join(lines + _record_markdown()) + "\n"


def _record_markdown() -> list[str]:
    """The verification record's format, statuses and reason codes, from the types that define them."""
    from aieff.verdict import CONDITIONS, Reason
    from aieff.verify.record import FORMAT

    lines = [
        "",
        "## Verification record: `exports/verification.json`",
        "",
        f"Written by `aieff estimate --record` (the nightly), read by `aieff build`; format {FORMAT}. An object with",
        f"`format` ({FORMAT}) and `entries`: entry id -> the last verdict on it, with `level`, `status`, `judged`",
        "(sha256s of the entry, its level, the entries it refers to and the counting code: the verdict binds only",
        "while they are what they are now), `compute_flop` and `compute_flop_low` (a verified re-estimate and the",
        "bracket's lower end, FLOP), `messages` (the estimate's notes, as its text output shows them), `reasons`,",
        "`date` and `aieff_version`. A partial record of a sharded run also has `shard` (`index`, `count`, `ids`).",
        "Format 1 (no `format`, no `reasons`) is still read; its verdicts give no reasons.",
        "",
        "| status | recorded | meaning |",
        "|---|---|---|",
    ]
    lines += [f"| `{s}` | {'yes' if s.recorded else 'no: shown only'} | {s.meaning} |" for s in Status]
    lines += ["", "A reason:", "", "| field | meaning |", "|---|---|"]
    lines += [f"| `{name}` | {f.description} |" for name, f in Reason.model_fields.items()]
    lines += [
        "",
        "Reason codes: an A-code (a refusal, [errors.md](errors.md)), or one of these conditions:",
        "",
        "| code | meaning |",
        "|---|---|",
    ]
    lines += [f"| `{c}` | {m} |" for c, m in CONDITIONS.items()]
    return lines


FRICTIONLESS_TYPE = {"string": "string", "date": "date", "float64": "number", "int64": "integer", "bool": "boolean"}


def datapackage(version: str, released: str) -> str:
    """A Frictionless Data Package (v1) describing aieff.csv and levels.csv."""

    def schema(columns: dict[str, tuple[str, str]]) -> dict[str, object]:
        return {
            "fields": [{"name": c, "type": FRICTIONLESS_TYPE[t], "description": d} for c, (t, d) in columns.items()],
            "missingValues": [""],
            "primaryKey": ["id"],
        }

    entries = schema(COLUMNS)
    entries["foreignKeys"] = [{"fields": ["level"], "reference": {"resource": "levels", "fields": ["id"]}}]
    doc = {
        "profile": "tabular-data-package",
        "name": "aieff",
        "title": "aieff: training compute to reach fixed capability levels",
        "version": version,
        "created": f"{released}T00:00:00Z",
        "homepage": "https://github.com/aieff/aieff",
        "licenses": [{"name": "MIT", "path": "https://opensource.org/licenses/MIT", "title": "MIT License"}],
        "resources": [
            {
                "name": "entries",
                "path": "aieff.csv",
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "description": "One row per entry: training compute to reach its level (FLOP, petaflop/s-days).",
                "schema": entries,
            },
            {
                "name": "levels",
                "path": "levels.csv",
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "description": "One row per level: its definition, baseline, best entry, factor and fit.",
                "schema": schema(LEVEL_COLUMNS),
            },
        ],
    }
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def to_parquet(rows: list[dict[str, object]], columns: dict[str, tuple[str, str]]) -> bytes:
    """Parquet with the documented types (dates as dates), written by pyarrow (pinned, so bytes are stable)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    kinds = {
        "string": pa.string(),
        "date": pa.date32(),
        "float64": pa.float64(),
        "int64": pa.int64(),
        "bool": pa.bool_(),
    }

    def value(v: object, t: str) -> object:
        if t == "date" and v:
            return dt.date.fromisoformat(str(v))
        if t in ("string", "date") and v == "":
            return None
        return v

    table = pa.table(
        {c: pa.array([value(r[c], t) for r in rows], type=kinds[t]) for c, (t, _) in columns.items()},
    )
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", store_schema=False)
    return buf.getvalue()


def bibtex(version: str, released: str) -> str:
    """The README's citation block (between its citation markers), from CITATION.cff's version and date."""
    return "\n".join(
        [
            "<!-- citation start: generated by `aieff build` from CITATION.cff -->",
            "```bibtex",
            "@misc{aieff,",
            "  title        = {aieff: a tracker of the training compute needed to reach fixed capability levels},",
            "  author       = {{aieff contributors}},",
            f"  year         = {{{code_line(released[:4])}}},",
            f"  version      = {{{code_line(version)}}},",
            "  howpublished = {\\url{https://github.com/aieff/aieff}},",
            f"  note         = {{Dataset version {code_line(version)}, released {code_line(released)}}}",
            "}",
            "",
            "@article{hernandez2020measuring,",
            "  title   = {Measuring the Algorithmic Efficiency of Neural Networks},",
            "  author  = {Hernandez, Danny and Brown, Tom B.},",
            "  journal = {arXiv preprint arXiv:2005.04305},",
            "  year    = {2020}",
            "}",
            "```",
            "<!-- citation end -->",
        ]
    )
