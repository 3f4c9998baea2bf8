"""`aieff build`: regenerate every generated file, or check that each is current."""

from __future__ import annotations

from pathlib import Path

from aieff.analysis import analyze
from aieff.outputs import sync
from aieff.repo import DataError
from aieff.validate import Dataset


def expected_files(root: Path, ds: Dataset) -> dict[Path, str | bytes]:
    """Every generated file and its content; computed in memory before anything is written."""
    from aieff import charts, export, tables
    from aieff.schemagen import generated

    result = analyze(ds)
    status = export.load_status(root)
    readme_path = root / "README.md"
    if not readme_path.is_file():
        raise DataError("README.md is missing")
    try:
        readme = tables.render_readme(readme_path.read_text(encoding="utf-8"), result, status)
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


def build(root: Path, ds: Dataset, *, check: bool) -> int:
    """Write what changed (each file atomically), or with check name what is stale and return 1."""
    return sync(root, expected_files(root, ds), check=check)
