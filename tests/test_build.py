"""Publishing: deterministic, atomic, and every generated number traceable to the analysis."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pytest

from aieff.analysis.analyze import analyze
from aieff.dataset.validate import validate
from aieff.escape import link
from aieff.publish.build import expected_files
from aieff.publish.export import COLUMNS, LEVEL_COLUMNS
from aieff.publish.tables import parse_tables
from conftest import ROOT, run

GENERATED = ["README.md", "efficiency_sota.csv", "exports", "charts", "schema", "docs"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    dest = tmp_path / "repo"
    dest.mkdir()
    for name in ["entries", "CITATION.cff", *GENERATED]:
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copyfile)(src, dest / name)
    return dest


def _snapshot(root: Path) -> dict[str, bytes]:
    out = {}
    for name in GENERATED:
        p = root / name
        for f in [p] if p.is_file() else sorted(p.rglob("*")):
            if f.is_file():
                out[f.relative_to(root).as_posix()] = f.read_bytes()
    return out


def test_committed_outputs_are_current() -> None:
    """Every generated file, charts drawn afresh (not from any cache), equals the committed bytes."""
    proc = run("build", "--check", "--fresh")
    assert proc.returncode == 0, proc.stderr


def test_two_builds_are_byte_identical(repo: Path, tmp_path: Path) -> None:
    """Charts drawn again in another process and place give the committed bytes; so does the render cache."""
    own = {"AIEFF_CACHE": str(tmp_path / "cache")}  # empty: every chart is drawn
    committed = _snapshot(repo)
    for f in (repo / "charts").iterdir():
        f.unlink()
    assert run("build", cwd=repo, env=own).returncode == 0
    assert _snapshot(repo) == committed
    charts = len(list((repo / "charts").glob("*.svg")))  # one per level and the overview
    assert len(list((tmp_path / "cache" / "renders").iterdir())) == charts
    for f in (repo / "charts").iterdir():
        f.unlink()
    assert run("build", cwd=repo, env=own).returncode == 0  # every chart from the cache the first build filled
    assert _snapshot(repo) == committed
    assert run("build", "--check", cwd=repo).returncode == 0


def test_a_users_matplotlibrc_does_not_change_a_chart(tmp_path: Path) -> None:
    """Charts start from matplotlib's own defaults: a matplotlibrc (read when matplotlib is imported, so
    in a fresh process) changes nothing, as the render cache's key assumes."""
    import subprocess
    import sys

    (tmp_path / "matplotlibrc").write_text("axes.facecolor: red\ngrid.linewidth: 5\nfont.size: 20\n")
    code = (
        "import sys; from pathlib import Path; from aieff.publish import charts; "
        "from aieff.analysis.analyze import analyze; from aieff.dataset.validate import validate; "
        "lv = analyze(validate(Path(sys.argv[1]))).level('gpt2-1-5b-core'); "
        "sys.stdout.buffer.write(charts.level_chart(lv, fresh=True)['svg'])"
    )
    env = {**os.environ, "MATPLOTLIBRC": str(tmp_path / "matplotlibrc"), "AIEFF_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, env=env, check=True)
    # a level whose entries are all claimed (a trend, its interval, six points), so no verdict is needed to draw it
    assert proc.stdout == (ROOT / "charts/gpt2-1-5b-core.svg").read_bytes()


def test_the_render_cache_is_keyed_by_data_and_code_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from aieff.publish import charts

    monkeypatch.setenv("AIEFF_CACHE", str(tmp_path / "cache"))
    level = analyze(validate(ROOT)).level("resnet50-imagenet")
    key = charts.render_key("level", asdict(level))
    moved = replace(level, rows=[replace(level.rows[0], pfs_days=level.rows[0].pfs_days * 1.001), *level.rows[1:]])
    renamed = replace(level, rows=[replace(level.rows[0], model=level.rows[0].model + "!"), *level.rows[1:]])
    assert len({key, charts.render_key("level", asdict(moved)), charts.render_key("level", asdict(renamed))}) == 3
    monkeypatch.setattr(charts, "DRAWING_CODE", (*charts.DRAWING_CODE, "units.py"))
    assert charts.render_key("level", asdict(level)) != key  # other drawing code: another key
    monkeypatch.undo()
    monkeypatch.setenv("AIEFF_CACHE", str(tmp_path / "cache"))
    drawn = charts.level_chart(level)
    cached = charts.render_cache() / f"{key}.json"
    assert cached.is_file() and charts.level_chart(level) == drawn
    # A cached chart whose bytes no longer match their sha256 is drawn again, and the cache repaired.
    record = json.loads(cached.read_text())
    record["bytes"]["svg"] = base64.b64encode(b"<svg>forged</svg>").decode()
    cached.write_text(json.dumps(record))
    assert charts.level_chart(level) == drawn
    assert json.loads(cached.read_text())["bytes"]["svg"] != record["bytes"]["svg"]
    # The cache keeps the most recently used charts only.
    monkeypatch.setattr(charts, "KEEP_RENDERS", 1)
    charts.level_chart(moved)
    assert [f.name for f in charts.render_cache().iterdir()] == [f"{charts.render_key('level', asdict(moved))}.json"]


def test_check_names_stale_files(repo: Path) -> None:
    f = repo / "entries/alexnet-imagenet/efficientnet-b0.yaml"
    f.write_text(f.read_text().replace("epochs_to_target: 4", "epochs_to_target: 5"))
    proc = run("build", "--check", cwd=repo)
    assert proc.returncode == 1
    assert "stale: README.md" in proc.stderr and "stale: exports/aieff.csv" in proc.stderr
    before = _snapshot(repo)
    proc = run("build", "--dry-run", cwd=repo)  # generates everything in memory, writes nothing
    assert proc.returncode == 0 and "would write README.md" in proc.stdout
    assert _snapshot(repo) == before


def test_a_corrupt_entry_leaves_previous_outputs_intact(repo: Path) -> None:
    before = _snapshot(repo)
    f = repo / "entries/alexnet-imagenet/efficientnet-b0.yaml"
    f.write_text(f.read_text().replace("epochs_to_target: 4", "epochs_to_target: [4"))
    proc = run("build", cwd=repo)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "efficientnet-b0.yaml" in proc.stderr
    assert _snapshot(repo) == before


def test_readme_tables_match_the_analysis() -> None:
    """What the generator writes now (not the committed README) agrees with the analysis it rests on."""
    from aieff.publish.build import expected_files
    from aieff.verify import record

    ds = validate(ROOT)
    shown = record.shown(record.load(ROOT / record.RECORD_PATH), ds)
    result = analyze(ds, reestimated=record.published_compute(shown), brackets=record.published_brackets(shown))
    tables = parse_tables(str(expected_files(ROOT, ds)[ROOT / "README.md"]))
    assert set(tables) == {lv.id for lv in result.levels}
    for lv in result.levels:
        rows = tables[lv.id]
        assert [r["rank"] for r in rows] == [f"={r.rank}" if r.same_recipe_as else str(r.rank) for r in lv.rows]
        for cell, row in zip(rows, lv.rows, strict=True):
            assert cell["model"].startswith(link(row.model, row.url))
            flop, _, low = cell["compute (FLOP)"].partition(" (from ")
            assert float(flop) == pytest.approx(row.flop, rel=5e-3)
            assert float(cell["compute (petaflop/s-days)"]) == pytest.approx(row.pfs_days, rel=5e-3)
            if low:  # a verified log's bracket: from the evaluation before the first at the level
                assert row.flop_low is not None and float(low.rstrip(")")) == pytest.approx(row.flop_low, rel=5e-3)
                assert row.flop_low < row.flop
            for text in (flop, cell["compute (petaflop/s-days)"], low.rstrip(")") or flop):  # one format
                assert re.fullmatch(r"\d\.\d\de[+-]\d\d", text), text
            assert cell["reduction"] == f"{row.reduction_factor:.1f}x"
            assert (cell["frontier"] == "★") == row.frontier


def _pandas_kind(series: pd.Series) -> str:
    """The documented dtype a pandas column matches (pandas 2 reads text as object, pandas 3 as str)."""
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int64"
    if pd.api.types.is_float_dtype(series):
        return "float64"
    if pd.api.types.is_string_dtype(series) or pd.api.types.is_object_dtype(series):
        return "text"
    return str(series.dtype)


@pytest.mark.parametrize(("name", "columns"), [("aieff", COLUMNS), ("levels", LEVEL_COLUMNS)])
def test_pandas_reads_every_column_with_its_documented_dtype(name: str, columns: dict) -> None:
    """No arguments: what a citer types first. Ids stay strings (arXiv:2001.08210, never 2001.0821)."""
    df = pd.read_csv(ROOT / f"exports/{name}.csv")
    assert list(df.columns) == list(columns)
    text = {"string", "date"}  # ISO dates stay text in a CSV read without arguments
    assert {c: _pandas_kind(df[c]) for c in columns} == {c: "text" if t in text else t for c, (t, _) in columns.items()}
    parquet = pd.read_parquet(ROOT / f"exports/{name}.parquet")
    assert list(parquet.columns) == list(columns)
    for c, (t, _) in columns.items():  # the same values, dates as dates
        csv_values = [None if pd.isna(v) else v for v in df[c]]
        pq_values = [None if pd.isna(v) else (v.isoformat() if t == "date" else v) for v in parquet[c]]
        assert csv_values == pq_values, c
    if name == "aieff":
        b0 = df[df["id"] == "efficientnet-b0"].iloc[0]
        assert b0["reduction_factor"] == pytest.approx(44.4, abs=0.1) and b0["arxiv"] == "arXiv:1905.11946"
        assert all(a.startswith("arXiv:") for a in df["arxiv"].dropna())
    else:
        alexnet = df.set_index("id").loc["alexnet-imagenet"]
        assert alexnet["doubling_months"] == pytest.approx(15.9, abs=0.1) and alexnet["frontier_points"] == 6
        two_points = df.set_index("id").loc["alphago-zero-go"]
        assert two_points["frontier_points"] == 2 and pd.isna(two_points["doubling_months"])


def test_the_data_package_validates_with_frictionless() -> None:
    from frictionless import validate as frictionless_validate

    report = frictionless_validate(str(ROOT / "exports/datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldNumber", "type", "note"])[:5]
    package = json.loads((ROOT / "exports/datapackage.json").read_text())
    fields = {r["name"]: [f["name"] for f in r["schema"]["fields"]] for r in package["resources"]}
    assert fields == {"entries": list(COLUMNS), "levels": list(LEVEL_COLUMNS)}


def test_a_broken_row_fails_the_data_package(tmp_path: Path) -> None:
    from frictionless import validate as frictionless_validate

    for name in ("datapackage.json", "aieff.csv", "levels.csv"):
        shutil.copyfile(ROOT / "exports" / name, tmp_path / name)
    csv_path = tmp_path / "aieff.csv"
    lines = csv_path.read_text().splitlines()
    lines[1] = lines[1].replace(",alexnet-imagenet,", ",no-such-level,", 1)  # a foreign key that points nowhere
    csv_path.write_text("\n".join(lines) + "\n")
    assert not frictionless_validate(str(tmp_path / "datapackage.json")).valid


def test_the_version_is_recorded_once_and_read_everywhere() -> None:
    from ruamel.yaml import YAML

    cff = YAML(typ="safe").load((ROOT / "CITATION.cff").read_text())
    version, released = cff["version"], cff["date-released"].isoformat()
    assert re.fullmatch(r"\d{4}\.\d{2}\.\d{2}", version) and version == released.replace("-", ".")
    assert json.loads((ROOT / "exports/datapackage.json").read_text())["version"] == version
    assert json.loads((ROOT / "exports/aieff.json").read_text())["version"] == version
    readme = (ROOT / "README.md").read_text()
    assert f"version      = {{{version}}}" in readme and f"year         = {{{released[:4]}}}" in readme
    header = (ROOT / "exports/aieff.csv").read_text().splitlines()[0]
    assert "version" not in header  # not repeated on every row


def test_a_missing_release_version_is_a_clean_error(repo: Path) -> None:
    cff = repo / "CITATION.cff"
    cff.write_text(re.sub(r"(?m)^version:.*\n", "", cff.read_text()))
    proc = run("build", "--check", cwd=repo)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert re.search(r"CITATION\.cff:\d+:\d+: E011 version: required field is missing", proc.stderr), proc.stderr


# The original tracker's 12 rows (openai/ai-and-efficiency, efficiency_sota.csv at 1f280d1, 2020-06-01): the
# expectation the drop-in file is checked against, cell by cell.
NIPS = "https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-convolutional-neural-networks.pdf"
TRACKER_ROWS = f"""\
AlexNet,6/1/2012,AlexNet,{NIPS},3.1,1,AI and Efficiency,
AlexNet,9/17/2014,GoogLeNet,https://arxiv.org/abs/1409.4842,0.71,4.3,AI and Efficiency,
AlexNet,4/17/2017,MobileNet,https://arxiv.org/abs/1704.04861,0.28,11,AI and Efficiency,
AlexNet,7/3/2017,ShuffleNet (1x),https://arxiv.org/abs/1707.01083,0.15,21,AI and Efficiency,
AlexNet,6/30/2018,ShuffleNet v2 (1x),https://arxiv.org/abs/1807.11164,0.12,25,AI and Efficiency,
AlexNet,5/28/2019,EfficientNet (b0),https://arxiv.org/abs/1905.11946,0.069,44,EfficientNet,https://arxiv.org/abs/1905.11946
ResNet-50,1/10/2015,ResNet-50,https://arxiv.org/abs/1512.03385,17,1,AI and Efficiency,
ResNet-50,5/28/2019,EfficientNet (b1),https://arxiv.org/abs/1905.11946,0.75,10,EfficientNet,https://arxiv.org/abs/1905.11946
Seq2Seq,1/10/2014,Seq2Seq (Ensemble),https://arxiv.org/abs/1409.3215,465,1,AI and Compute,https://openai.com/blog/ai-and-compute/
Seq2Seq,1/12/2017,Transformer (Base),https://arxiv.org/abs/1706.03762,8,61,Attention is all you need,https://arxiv.org/abs/1807.11164
GNMT,1/26/2016,GNMT,https://arxiv.org/abs/1609.08144,1620,1,Attention is all you need,https://arxiv.org/abs/1807.11164
GNMT,1/12/2017,Transformer (Big),https://arxiv.org/abs/1706.03762,181,9,Attention is all you need,https://arxiv.org/abs/1807.11164
"""


def test_legacy_csv_is_a_drop_in_with_every_change_documented() -> None:
    header = [
        "Metric",
        "Publication Date",
        "Publication",
        "Publication link",
        "Compute (teraflops-s/days)",
        "Reduction Factor",
        "Analysis",
        "Analysis link",
    ]
    rows = list(csv.reader(io.StringIO((ROOT / "efficiency_sota.csv").read_text())))
    assert rows[0] == header
    original = list(csv.reader(io.StringIO(TRACKER_ROWS)))
    diffs = {
        (str(i), header[j], old, new)
        for i, (was, now) in enumerate(zip(original, rows[1:13], strict=True), 1)
        for j, (old, new) in enumerate(zip(was, now, strict=True))
        if old != new
    }
    doc = (ROOT / "docs/corrections.md").read_text()
    listed = {
        tuple(c.strip().strip("`") for c in line.strip("|").split("|")[:5])  # URLs are shown as code
        for line in doc.splitlines()
        if re.match(r"\| \d+ \|", line)
    }
    assert {(r, col, old, new) for r, _pub, col, old, new in listed} == diffs  # every change listed, no other
    assert ("8", "Compute (teraflops-s/days)", "0.75", "2.21") in diffs  # EfficientNet-B1 with forward and backward
    assert ("10", "Analysis link", "https://arxiv.org/abs/1807.11164", "https://arxiv.org/abs/1706.03762") in diffs
    assert sum(r[0] == "AlexNet" for r in rows) == 6  # a filter on the tracker's Metric still finds its rows
    appended = rows[13:]
    assert appended and all(len(r) == len(header) for r in appended)
    s2s_big = [r for r in rows if r[2] == "Seq2Seq (Ensemble)"]
    assert len(s2s_big) == 1  # an original row is not repeated among the appended ones


def test_chart_data_points_are_the_entries() -> None:
    import matplotlib.dates as mdates

    from aieff.escape import chart_text
    from aieff.publish.charts import level_figure

    for level in analyze(validate(ROOT)).levels:
        fig = level_figure(level)
        ax = fig.axes[0]
        grey = next(c for c in ax.collections if c.get_gid() == "entries").get_offsets()
        line = next(ln for ln in ax.lines if ln.get_gid() == "frontier").get_xydata()
        others = sorted((r.date, r.pfs_days) for r in level.rows if not r.frontier)
        front = sorted((r.date, r.pfs_days) for r in level.rows if r.frontier)
        plotted = sorted((mdates.num2date(x).date().isoformat(), y) for x, y in grey)
        assert [d for d, _ in plotted] == [d for d, _ in others]
        assert [y for _, y in plotted] == pytest.approx([y for _, y in others])
        assert [mdates.num2date(x).date().isoformat() for x, _ in line] == [d for d, _ in front]
        assert list(line[:, 1]) == pytest.approx([y for _, y in front])
        labels = [t.get_text() for t in ax.texts if t.get_text() and not t.get_text().startswith("numbers:")]
        named = len(level.rows) <= 8
        ordered = sorted(level.rows, key=lambda r: (r.date, r.rank, r.id))
        expected = [
            chart_text(f"{'=' if r.same_recipe_as else ''}{r.rank}" + (f" {r.model}" if named else "")) for r in ordered
        ]
        assert labels == expected  # every point, grey ones included, carries its leaderboard rank
        assert not any(t.get_text().endswith("...") for t in [ax.title])  # the title is wrapped, never cut


def test_chart_points_equal_the_entries() -> None:
    ds = validate(ROOT)
    files = expected_files(ROOT, ds)
    svg = files[ROOT / "charts/alexnet-imagenet.svg"].decode()
    level = analyze(ds).level("alexnet-imagenet")
    # Each scatter/marker point is one <use> element inside the group with our gid.
    groups = {g: re.search(rf'<g id="{g}">(.*?)</g>\s*<g id=', svg, re.S) for g in ("entries", "frontier")}
    n_entries = len(re.findall(r"<use ", groups["entries"].group(1)))
    n_front = len(re.findall(r"<use ", groups["frontier"].group(1)))
    assert n_entries == sum(not r.frontier for r in level.rows)
    assert n_front == sum(r.frontier for r in level.rows)
    assert "compute halving every 15.9 months" in files[ROOT / "README.md"]


def test_bibtex_in_readme_parses() -> None:
    import bibtexparser

    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bibtex\n(.*?)```", text, re.S).group(1)
    lib = bibtexparser.parse_string(block)
    assert not lib.failed_blocks
    assert {e.key for e in lib.entries} == {"aieff", "hernandez2020measuring"}


def test_citation_cff_validates_with_cffconvert(tmp_path: Path) -> None:
    import shutil
    import subprocess

    found = os.environ.get("CFFCONVERT") or shutil.which("cffconvert")
    tool = Path(found) if found else Path(sys.prefix) / "cffconvert/bin/cffconvert"  # where `make test` puts it
    assert tool.is_file(), "run `make test` (it installs cffconvert beside the venv) or set CFFCONVERT"
    proc = subprocess.run(
        [str(tool), "--validate", "-i", str(ROOT / "CITATION.cff")], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    incomplete = tmp_path / "CITATION.cff"
    incomplete.write_text("cff-version: 1.2.0\ntitle: x\n")  # no authors, no message
    broken = subprocess.run(
        [str(tool), "--validate", "-i", str(incomplete)], capture_output=True, text=True, check=False
    )
    assert broken.returncode != 0 and "authors" in broken.stdout + broken.stderr


def test_citation_cff_is_well_formed() -> None:
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load((ROOT / "CITATION.cff").read_text())
    assert data["cff-version"] == "1.2.0"
    assert {"message", "title", "authors"} <= set(data)
    assert all("name" in a or "family-names" in a for a in data["authors"])


def test_readme_opens_with_a_summary_of_every_level_whose_links_resolve() -> None:
    import markdown as md

    from aieff.publish.tables import anchor

    text = (ROOT / "README.md").read_text()
    html = md.markdown(text, extensions=["tables"])
    first_table = html.index("<table>")
    assert html.index("least compute", first_table) < html.index("</table>", first_table)  # the summary comes first
    assert text.index("<!-- summary start -->") < text.index("<!-- leaderboards start -->")
    block = text[text.index("<!-- summary start -->") : text.index("<!-- summary end -->")]
    rows = [line for line in block.splitlines() if line.startswith("| [")]
    result = analyze(validate(ROOT))
    assert len(rows) == len(result.levels)
    headings = {anchor(line[4:]) for line in text.splitlines() if line.startswith("### ")}
    targets = re.findall(r"\]\(#([^)]+)\)", block)
    assert len(targets) == len(rows) and set(targets) <= headings
    go = next(r for r in rows if "AlphaGo" in r)
    assert "2 points: 7.9x in 1.6 months" in go and "halves every" not in go


def test_every_leaderboard_row_links_its_yaml_and_its_evidence() -> None:
    text = (ROOT / "README.md").read_text()
    block = text[text.index("<!-- leaderboards start -->") : text.index("<!-- leaderboards end -->")]
    rows = [line for line in block.splitlines() if line.startswith("| ") and not line.startswith("| rank")]
    assert len(rows) == sum(len(lv.rows) for lv in analyze(validate(ROOT)).levels)
    for row in rows:
        cell = row.rstrip(" |").rsplit("|", 1)[1]
        local = re.findall(r"\]\((entries/[^)]+)\)", cell)
        assert local and local[0].endswith(".yaml"), row[:80]
        assert all((ROOT / path).is_file() for path in local), row[:80]
        for url in re.findall(r"\]\((https://[^)]+)\)", cell):  # logs and checkpoints: pinned to a commit
            assert re.search(r"/[0-9a-f]{40}/", url), url
    googlenet = next(r for r in rows if "GoogLeNet" in r)
    assert re.search(r"claimed( \d{4}-\d\d-\d\d)? \(forward cost differs -25%; no training log\)", googlenet)
    dawn = next(r for r in rows if "alibaba-resnet50-8v100.yaml" in r)
    assert re.search(r"\| verified \d{4}-\d{2}-\d{2} \|", dawn) and "[log](https://raw.githubusercontent.com/" in dawn
