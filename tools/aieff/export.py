"""CSV and JSON exports with documented columns, and the original tracker's efficiency_sota.csv."""

from __future__ import annotations

import csv
import hashlib
import io
import json

from aieff.analysis import Result
from aieff.escape import csv_cell
from aieff.repo import DataError
from aieff.validate import Dataset

# column -> (dtype for readers, meaning). The order here is the order in the CSV.
COLUMNS: dict[str, tuple[str, str]] = {
    "id": ("string", "Entry id (file name under entries/<level>/)."),
    "level": ("string", "Level id (folder under entries/)."),
    "model": ("string", "Model name as the paper writes it."),
    "publication_date": ("date", "First public date, ISO 8601."),
    "publication_url": ("string", "Link to the paper."),
    "arxiv": ("string", "arXiv id, empty when there is none."),
    "compute_flop": ("float64", "Training compute to reach the level, FLOP (multiply-add = 2 FLOP)."),
    "compute_pfs_days": ("float64", "The same in petaflop/s-days (8.64e19 FLOP)."),
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
    "verification": ("string", "verified, claimed or failed (re-estimation by CI)."),
    "dataset_version": ("string", "sha256 prefix of every entry file: identifies the data cited."),
}


def dataset_version(ds: Dataset) -> str:
    """A content hash of all level and entry files, so a citation pins the exact data."""
    digest = hashlib.sha256()
    for path in sorted([d.path for d in ds.entries.values()] + [d.path for d in ds.benchmarks.values()]):
        digest.update(path.encode() + b"\0" + (ds.root / path).read_bytes() + b"\0")
    return "sha256:" + digest.hexdigest()[:16]


def records(ds: Dataset, result: Result, status: dict[str, str]) -> list[dict[str, object]]:
    """One record per entry, sorted by level then rank."""
    version = dataset_version(ds)
    out = []
    for lv in result.levels:
        for r in lv.rows:
            entry = ds.entries[r.id].model
            out.append(
                {
                    "id": r.id,
                    "level": lv.id,
                    "model": r.model,
                    "publication_date": r.date,
                    "publication_url": r.url,
                    "arxiv": getattr(entry.publication, "arxiv", None) or "",
                    "compute_flop": float(f"{r.flop:.6g}"),
                    "compute_pfs_days": float(f"{r.pfs_days:.6g}"),
                    "basis": r.basis,
                    "source_value": r.source_value,
                    "source_unit": r.source_unit or "",
                    "reduction_factor": float(f"{r.reduction_factor:.6g}"),
                    "rank": r.rank,
                    "frontier": r.frontier,
                    "same_recipe_as": r.same_recipe_as or "",
                    "hardware": r.hardware or "",
                    "verification": status.get(r.id, "claimed"),
                    "dataset_version": version,
                }
            )
    return out


def to_csv(rows: list[dict[str, object]]) -> str:
    """CSV with a fixed column order and float formatting; booleans as true/false."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
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
                for c in COLUMNS
            ]
        )
    return buf.getvalue()


def to_json(rows: list[dict[str, object]]) -> str:
    """JSON export with the column documentation alongside the rows."""
    doc = {"columns": {k: {"dtype": t, "description": d} for k, (t, d) in COLUMNS.items()}, "entries": rows}
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


def legacy_csv(ds: Dataset, result: Result) -> str:
    """The original tracker's efficiency_sota.csv: frontier rows, its columns and M/D/YYYY dates.

    Its compute column counted multiply-adds for the ImageNet levels and FLOP for the others; each
    level keeps the convention its tracker claims used, so existing readers see the same scale.
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(LEGACY_HEADER)
    for lv in result.levels:
        entries = [ds.entries[r.id].model for r in lv.rows]
        multiply_adds = any(c.unit.endswith("(multiply-adds)") for e in entries for c in e.claims)
        base = next(r for r in lv.rows if r.id == lv.baseline)
        for r in sorted((r for r in lv.rows if r.frontier), key=lambda r: (r.date, r.id)):
            e = ds.entries[r.id].model
            y, m, d = r.date.split("-")
            tfs = r.multiply_add_tfs_days if multiply_adds else r.flop / 8.64e16
            analysis = e.analysis
            w.writerow(
                [
                    csv_cell(f"{base.model} ({lv.threshold})"),
                    f"{int(m)}/{int(d)}/{y}",
                    csv_cell(r.model),
                    csv_cell(r.url),
                    f"{tfs:.3g}",
                    f"{r.reduction_factor:.3g}",
                    csv_cell(analysis.title) if analysis else "",
                    csv_cell(analysis.url) if analysis else "",
                ]
            )
    return buf.getvalue()


def columns_markdown() -> str:
    """The export column reference for docs/exports.md."""
    lines = [
        "# Export columns",
        "",
        "Generated by `aieff build` from `tools/aieff/export.py`; do not edit.",
        "",
        "`exports/aieff.csv` and `exports/aieff.json` carry these columns, in this order.",
        "",
        "| column | dtype | meaning |",
        "|---|---|---|",
    ]
    lines += [f"| `{c}` | {t} | {d} |" for c, (t, d) in COLUMNS.items()]
    return "\n".join(lines) + "\n"
