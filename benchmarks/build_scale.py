"""Time `aieff build` stages on 1,000 synthetic entries across 10 levels; print peak memory.

Target: under 60 s in total on a 2-core machine.
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from aieff.analysis.analyze import analyze
from aieff.dataset.validate import validate
from aieff.publish import charts, export, tables
from aieff.repo import write_atomic
from validate_scale import make_repo

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        os.environ["AIEFF_CACHE"] = str(Path(tmp) / "cache")  # an empty render cache, not the user's
        make_repo(repo, 10, 100)
        shutil.copyfile(ROOT / "README.md", repo / "README.md")
        stages: dict[str, float] = {}
        t = time.perf_counter()
        ds = validate(repo)
        stages["load+validate"] = time.perf_counter() - t
        assert not ds.diagnostics, ds.diagnostics[:3]
        t = time.perf_counter()
        result = analyze(ds)
        stages["analyze"] = time.perf_counter() - t
        t = time.perf_counter()
        readme = tables.render_readme((repo / "README.md").read_text(), result, {})
        write_atomic(repo / "README.md", readme)
        stages["tables"] = time.perf_counter() - t
        for stage, fresh in (("charts drawn", True), ("charts cached", False)):  # a rebuild, nothing changed
            t = time.perf_counter()
            for lv in result.levels:
                for fmt, data in charts.level_chart(lv, fresh=fresh).items():
                    write_atomic(repo / "charts" / f"{lv.id}.{fmt}", data)
            for fmt, data in charts.overview_chart(result, fresh=fresh).items():
                write_atomic(repo / "charts" / f"overview.{fmt}", data)
            stages[stage] = time.perf_counter() - t
        t = time.perf_counter()
        rows, levels = export.records(ds, result, {}), export.level_records(ds, result, {})
        version, released = export.release(ROOT)  # the synthetic repository has no CITATION.cff of its own
        legacy_rows, corrections = export.legacy(ds, result)
        for name, data in {
            "exports/aieff.csv": export.to_csv(rows),
            "exports/levels.csv": export.to_csv(levels, export.LEVEL_COLUMNS),
            "exports/aieff.json": export.to_json(rows, levels, version),
            "exports/datapackage.json": export.datapackage(version, released),
            "exports/aieff.parquet": export.to_parquet(rows, export.COLUMNS),
            "exports/levels.parquet": export.to_parquet(levels, export.LEVEL_COLUMNS),
            "efficiency_sota.csv": export.legacy_csv(legacy_rows),
            "docs/corrections.md": export.corrections_markdown(corrections),
        }.items():
            write_atomic(repo / name, data)
        stages["exports"] = time.perf_counter() - t
        n = sum(len(lv.rows) for lv in result.levels)
        for name, sec in stages.items():
            print(f"{name:>14}: {sec:6.2f} s")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        first = sum(v for k, v in stages.items() if k != "charts cached")
        again = sum(v for k, v in stages.items() if k != "charts drawn")
        print(
            f"{'total':>14}: {first:6.2f} s for {n} entries in {len(result.levels)} levels, charts drawn "
            f"(target < 60 s); {again:.2f} s rebuilt with nothing changed; peak RSS {peak:.0f} MiB"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
