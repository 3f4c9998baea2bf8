"""`aieff build`: regenerate every generated file, or check that each is current."""

from __future__ import annotations

from pathlib import Path

from aieff.analysis import analyze
from aieff.outputs import sync
from aieff.repo import DataError
from aieff.validate import Dataset


def expected_files(root: Path, ds: Dataset) -> dict[Path, str | bytes]:
    """Every generated file and its content; computed in memory before anything is written."""
    from aieff import charts, export, record, tables
    from aieff.schemagen import generated

    result = analyze(ds)
    status = record.statuses(root)
    readme_path = root / "README.md"
    if not readme_path.is_file():
        raise DataError("README.md is missing")
    try:
        readme = tables.render_readme(readme_path.read_text(encoding="utf-8"), result, record.labels(root))
    except tables.ReadmeError as exc:
        raise DataError(str(exc)) from exc
    rows = export.records(ds, result, status)
    files: dict[Path, str | bytes] = dict(generated(root))
    files[readme_path] = readme
    files[root / "exports" / "aieff.csv"] = export.to_csv(rows)
    files[root / "exports" / "aieff.json"] = export.to_json(rows)
    files[root / "efficiency_sota.csv"] = export.legacy_csv(ds, result)
    files[root / "docs" / "exports.md"] = export.columns_markdown()
    for lv in result.levels:
        for fmt, data in charts.level_chart(lv).items():
            files[root / "charts" / f"{lv.id}.{fmt}"] = data
    for fmt, data in charts.overview_chart(result).items():
        files[root / "charts" / f"overview.{fmt}"] = data
    return files


def build(root: Path, ds: Dataset, *, check: bool, dry_run: bool = False) -> int:
    """Write what changed (each file atomically), or with check name what is stale and return 1.

    dry_run generates every file in memory (so an entry that breaks any writer fails here), names
    what would change and writes nothing: the PR check, which must not commit generated files.
    """
    files = expected_files(root, ds)
    if dry_run:
        from aieff.outputs import stale

        for path in stale(files):
            print(f"would write {path.relative_to(root).as_posix()}")
        return 0
    return sync(root, files, check=check)
