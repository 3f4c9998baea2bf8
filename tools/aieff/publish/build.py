"""`aieff build`: regenerate every generated file, or check that each is current."""

from __future__ import annotations

import sys
from pathlib import Path

from aieff.analysis.analyze import analyze
from aieff.dataset.docset import Dataset
from aieff.publish.narrative import NarrativeError
from aieff.publish.outputs import sync
from aieff.repo import DataError


def expected_files(root: Path, ds: Dataset, *, fresh: bool = False) -> dict[Path, str | bytes]:
    """Every generated file and its content; computed in memory before anything is written.

    fresh draws every chart instead of taking unchanged ones from the render cache.
    """
    from aieff.dataset.schemagen import generated
    from aieff.publish import charts, export, tables, timetables
    from aieff.verify import record

    shown = record.shown(record.load(root / record.RECORD_PATH), ds)  # read, validated and bound once
    result = analyze(ds, reestimated=record.published_compute(shown), brackets=record.published_brackets(shown))
    readme_path = root / "README.md"
    if not readme_path.is_file():
        raise DataError("README.md is missing")
    try:
        labels = {k: v.label for k, v in shown.items()}
        texts = {k: ds.level(k).narrative or "" for k in ds.benchmarks if ds.level(k).narrative}
        statuses = {k: v.status for k, v in shown.items()}
        readme = tables.render_readme(readme_path.read_text(encoding="utf-8"), result, labels, texts, statuses)
        readme = timetables.place(readme, timetables.section(result), after=tables.END)
    except (tables.ReadmeError, NarrativeError) as exc:
        raise DataError(str(exc)) from exc
    version, released = export.release(root)
    readme = _citation(readme, export.bibtex(version, released))
    rows, levels = export.records(ds, result, statuses), export.level_records(ds, result, statuses)
    files: dict[Path, str | bytes] = dict(generated(root))
    files[readme_path] = readme
    files[root / "exports" / "aieff.csv"] = export.to_csv(rows)
    files[root / "exports" / "levels.csv"] = export.to_csv(levels, export.LEVEL_COLUMNS)
    files[root / "exports" / "aieff.json"] = export.to_json(rows, levels, version)
    files[root / "exports" / "datapackage.json"] = export.datapackage(version, released)
    files[root / "exports" / "aieff.parquet"] = export.to_parquet(rows, export.COLUMNS)
    files[root / "exports" / "levels.parquet"] = export.to_parquet(levels, export.LEVEL_COLUMNS)
    legacy_rows, corrections = export.legacy(ds, result)
    files[root / "efficiency_sota.csv"] = export.legacy_csv(legacy_rows)
    files[root / "docs" / "corrections.md"] = export.corrections_markdown(corrections)
    files[root / "docs" / "exports.md"] = export.columns_markdown()
    for lv in result.levels:
        for fmt, data in charts.level_chart(lv, fresh=fresh).items():
            files[root / "charts" / f"{lv.id}.{fmt}"] = data
    for fmt, data in charts.overview_chart(result, fresh=fresh).items():
        files[root / "charts" / f"overview.{fmt}"] = data
    for fmt, data in timetables.chart(result, fresh=fresh).items():
        files[root / "charts" / f"time-to-level.{fmt}"] = data
    return files


CITATION_START, CITATION_END = "<!-- citation start", "<!-- citation end -->"


def _citation(readme: str, block: str) -> str:
    """Put the generated BibTeX between the README's citation markers."""
    if readme.count(CITATION_START) != 1 or readme.count(CITATION_END) != 1:
        raise DataError(f"README.md needs exactly one '{CITATION_START} ...' and one '{CITATION_END}' line")
    start, end = readme.index(CITATION_START), readme.index(CITATION_END) + len(CITATION_END)
    if end < start:
        raise DataError("README.md: the citation end marker comes before its start")
    return readme[:start] + block + readme[end:]


def hand_edits(root: Path, files: dict[Path, str | bytes], ref: str) -> list[str]:
    """Generated files a branch changed since ref to something the generator would not write.

    A pull request may leave generated files alone (the nightly rebuilds them) or regenerate them; an
    edit by hand to the README tables, charts or exports is neither.
    """
    from aieff.publish.outputs import stale
    from aieff.repo import changed_files

    rel = {p.relative_to(root).as_posix(): p for p in files}
    tops = tuple(sorted({name.split("/", 1)[0] for name in rel}))
    touched = changed_files(root, ref, tops) & set(rel)
    wrong = {p.relative_to(root).as_posix() for p in stale({rel[t]: files[rel[t]] for t in touched})}
    return sorted(wrong)


def build(
    root: Path,
    ds: Dataset,
    *,
    check: bool,
    dry_run: bool = False,
    edits_since: str | None = None,
    fresh: bool = False,
) -> int:
    """Write what changed (each file atomically), or with check name what is stale and return 1.

    dry_run generates every file in memory (so an entry that breaks any writer fails here), names
    what would change and writes nothing. edits_since does the same generation and fails only on
    generated files changed by hand since that ref (the PR check).
    """
    files = expected_files(root, ds, fresh=fresh)
    if edits_since:
        wrong = hand_edits(root, files, edits_since)
        for name in wrong:
            print(
                f"hand-edited: {name} changed since {edits_since} but is not what `aieff build` writes", file=sys.stderr
            )
        return 1 if wrong else 0
    if dry_run:
        from aieff.publish.outputs import stale

        for path in stale(files):
            print(f"would write {path.relative_to(root).as_posix()}")
        return 0
    return sync(root, files, check=check)
