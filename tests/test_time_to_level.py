"""Time to the level (issue 22): the clock read from each log format, the accelerators read from each source's
system description, the exact split of a speedup into four factors, and the entries' recorded facts re-read
from their pinned logs."""

from __future__ import annotations

import math
import os
import random
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from aieff.analysis.timing import Timed, for_level, split, timed
from aieff.dataset import hardware
from aieff.dataset.schema import Benchmark, Entry, TimeToLevel, TrainingLog
from aieff.repo import DataError, RunAborted
from aieff.verify import timefacts
from aieff.verify.logs.times import mlperf_event, seconds_at
from conftest import FIXTURES, ROOT, TOY

TIMING = FIXTURES / "timing"


def _load(text: str) -> Any:
    return YAML(typ="safe", pure=False).load(text)


MIRRORS = Path(os.environ.get("AIEFF_MIRRORS", "/work/.mirror"))


def _level(unit: str = "percent", threshold: float = 75.0, name: str = "top-1 accuracy") -> Benchmark:
    return Benchmark.model_validate(
        {
            "id": "toy-timed",
            "title": "Toy timed level",
            "task": "image classification",
            "dataset": {"name": "toy", "train_samples_per_epoch": 1000},
            "metric": {"name": name, "unit": unit, "split": "validation"},
            "direction": "higher",
            "threshold": threshold,
            "baseline": "base",
            "rules": "toy",
            "source": {"title": "toy", "url": "https://example.org/toy", "locator": "here"},
        }
    )


def _spec(fmt: str, **extra: object) -> TrainingLog:
    return TrainingLog.model_validate(
        {"url": "https://example.org/log.txt", "sha256": "0" * 64, "size_bytes": 1, "format": fmt, **extra}
    )


def _text(name: str) -> str:
    return (TIMING / name).read_text(encoding="utf-8")


# --- the clock of each log format ---------------------------------------------------------------------


def test_dawnbench_time_is_the_hours_column_of_the_first_row_at_the_level() -> None:
    clock, line = timefacts.run_clock(
        _text("dawnbench.tsv"), _spec("dawnbench-tsv"), _level(name="top-5 accuracy", threshold=93)
    )
    assert line == 4  # the row labelled 2, 93.5% top-5
    assert clock.seconds == pytest.approx(1.25 * 3600)


@pytest.mark.parametrize(
    ("name", "seconds", "line"),
    [
        ("mlperf_v05.txt", 1541721323.5 - 1541720386.5, 4),  # :::MLPv0.5.0 <benchmark> <seconds>
        ("mlperf_v06.txt", 1558421245.836 - 1558420845.819, 3),  # :::MLL <seconds> <key>: {json}
        ("mlperf_v07.txt", (1592669510406 - 1592669212356) / 1000, 4),  # time_ms; the FIRST rank's run_start
    ],
)
def test_mlperf_time_is_the_eval_event_minus_the_first_run_start(name: str, seconds: float, line: int) -> None:
    clock, at = timefacts.run_clock(_text(name), _spec("mlperf-mllog", metric_scale="fraction"), _level())
    assert at == line
    assert clock.seconds == pytest.approx(seconds, abs=1e-6)


def test_speedrun_time_is_train_time_on_the_evaluation_line() -> None:
    level = _level(unit="loss", threshold=3.28, name="val loss").model_copy(update={"direction": "lower"})
    spec = _spec("step-log", pattern=r"^step:(?P<step>[0-9]+)/[0-9]+ val_loss:(?P<value>[0-9.]+)")
    clock, line = timefacts.run_clock(_text("speedrun.txt"), spec, level)
    assert (line, clock.seconds) == (13, 189.123)


def test_a_log_without_a_clock_is_refused_not_guessed() -> None:
    with pytest.raises(DataError, match="no train_time"):
        seconds_at("step:5/10 val_loss:3.0\n", "step-log", 1)
    with pytest.raises(DataError, match="no run_start"):
        seconds_at(':::MLL 10.0 eval_accuracy: {"value": 0.8}\n', "mlperf-mllog", 1)
    with pytest.raises(DataError, match="record no wall-clock"):
        seconds_at("x\n", "jsonl", 1)
    assert mlperf_event("no event here") is None


def test_runs_combine_as_their_compute_does_median_with_unreached_runs_slowest() -> None:
    assert timefacts.median_seconds([30.0, 10.0, 20.0]) == 20.0
    assert timefacts.median_seconds([10.0, 20.0, 30.0, math.inf]) == 25.0
    with pytest.raises(DataError, match="median run never reaches"):
        timefacts.median_seconds([10.0, math.inf, math.inf])


def test_an_aborted_run_is_not_timed() -> None:
    with pytest.raises(RunAborted):
        timefacts.run_clock(_text("mlperf_v07_aborted.txt"), _spec("mlperf-mllog", metric_scale="fraction"), _level())


# --- accelerators from system descriptions --------------------------------------------------------------


def test_v05_tpu_name_counts_cores_so_chips_are_half() -> None:
    doc = timefacts.system_description(_text("system_v05_entry.json"))
    name, count, _how = timefacts._system_accelerators(doc)
    assert (name, count) == ("tpuv2-512", 64 * 512)  # what the nodes say literally ...
    assert timefacts.mlperf_kind(name, doc) == "google-tpu-v2"  # ... which mlperf_accelerators reads as 256 chips


def test_v05_cpu_submission_counts_sockets() -> None:
    doc = timefacts.system_description(_text("system_v05_cpu.json"))
    name, count, how = timefacts._system_accelerators(doc)
    assert count == 16 and "448 cores" in how
    assert timefacts.mlperf_kind(name, doc) == "intel-xeon-platinum-8180"


def test_v06_nvidia_key_lines_with_a_python_dict_are_read() -> None:
    doc = timefacts.system_description(_text("system_v06_nvidia.json"))
    name, count, _how = timefacts._system_accelerators(doc)
    assert (name, count) == ("Tesla V100-SXM2-16GB", 16)
    assert timefacts.mlperf_kind(name, doc) == "nvidia-v100-sxm2"


def test_v07_bare_tpu_name_takes_its_generation_from_the_system_name() -> None:
    doc = timefacts.system_description(_text("system_v07.json"))
    name, count, how = timefacts._system_accelerators(doc)
    assert count == 64 and "accelerators_per_node 64" in how
    assert timefacts.mlperf_kind(name, doc) == "google-tpu-v4"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("NVIDIA A100-SXM4-80GB (400W)", "nvidia-a100"),
        ("NVIDIA H100-SXM5-80GB", "nvidia-h100-sxm"),
        ("NVIDIA H100-PCIe-80GB", "nvidia-h100-pcie"),
        ("Tesla V100-SXM3-32GB", "nvidia-v100-sxm3"),
        ("Tesla V100-SXM3-H-32GB", None),  # the DGX-2H's 450 W part: not in the table, never guessed
        ("Habana Gaudi2", None),
    ],
)
def test_accelerator_names_map_to_table_keys_or_to_nothing(name: str, kind: str | None) -> None:
    assert timefacts.mlperf_kind(name, {}) == kind
    if kind:
        assert kind in hardware.table()


def test_speedrun_gpus_are_counted_from_the_logs_nvidia_smi_table() -> None:
    gpus = {int(m.group(1)) for m in timefacts.SMI.finditer(_text("speedrun.txt"))}
    assert gpus == {0, 1}


def test_every_table_figure_names_its_source_and_is_per_second() -> None:
    for key, acc in hardware.table().items():
        assert acc.source.url.startswith("https://") and acc.source.locator, key
        assert all(1e9 < v < 1e16 for v in acc.peak_flop_per_s.values()), key  # FLOP/s of one unit


# --- the split -------------------------------------------------------------------------------------


def _row(rid: str, date: str, seconds: float, flop: float, n: int, kind: str, precision: str) -> Timed:
    peak = hardware.peak(kind, precision)
    assert peak is not None
    return Timed(
        id=rid,
        date=date,
        seconds=seconds,
        compute_flop=flop,
        verified=True,
        achieved_flop_per_s=flop / seconds,
        accelerator=kind,
        accelerator_count=n,
        precision=precision,
        peak_flop_per_s=peak,
        utilisation=flop / seconds / (n * peak),
    )


def test_split_factors_multiply_to_the_speedup_exactly() -> None:
    a = _row("a", "2017-11-28", 1161696.4, 7.892e18, 4, "nvidia-m60", "fp32")
    b = _row("b", "2020-03-17", 157.6, 3.345e17, 128, "nvidia-v100-sxm2", "fp16")
    s = split(a, b)
    assert s.product() == pytest.approx(s.speedup, rel=1e-12)
    assert s.compute == pytest.approx(7.892e18 / 3.345e17)
    assert s.count == 32
    assert s.peak == pytest.approx(125e12 / 4.825e12)
    assert s.dominant == "count"


def test_split_identity_holds_for_any_runs() -> None:
    rng = random.Random(22)
    kinds = [(k, p) for k, acc in hardware.table().items() for p in acc.peak_flop_per_s]
    for _ in range(200):
        rows = [
            _row(
                str(i),
                "2020-01-01",
                10 ** rng.uniform(0, 6),
                10 ** rng.uniform(14, 20),
                rng.randint(1, 4096),
                *rng.choice(kinds),
            )
            for i in range(2)
        ]
        s = split(*rows)
        assert math.isclose(s.product(), s.speedup, rel_tol=1e-9)
        assert math.isclose(
            math.prod([s.compute, s.count, s.peak, s.utilisation]), rows[0].seconds / rows[1].seconds, rel_tol=1e-9
        )


def _entry(name: str, time_block: str | None) -> Entry:
    from aieff.dataset.validate import validate

    entry = validate(TOY).all_entries()[name]
    if time_block is None:
        return entry
    block = TimeToLevel.model_validate(_load(time_block)["time_to_level"])
    return entry.model_copy(update={"time_to_level": block})


BLOCK = """time_to_level:
  seconds: {seconds}
  scope: "toy"
  source: {{title: "toy log", url: "https://example.org/log", locator: "line 3"}}
  accelerators:
    type: "{kind}"
    count: {count}
    precision: "{precision}"
    source: {{title: "toy", url: "https://example.org/sys", locator: "nodes"}}
    note: "toy"
"""


class _R:
    def __init__(self, rid: str, flop: float, verified: bool = True) -> None:
        self.id, self.flop, self.verified = rid, flop, verified


def test_level_split_runs_from_the_baseline_to_the_fastest_verified_entry() -> None:
    entries = {
        "base": _entry("base", BLOCK.format(seconds=1000.0, kind="nvidia-k80", count=1, precision="fp32")),
        "better": _entry("better", BLOCK.format(seconds=10.0, kind="nvidia-v100-sxm2", count=8, precision="fp16")),
    }
    timing = for_level("base", [_R("base", 1e16), _R("better", 2e15)], entries)
    assert timing.split is not None and timing.split.to_id == "better"
    assert timing.split.speedup == pytest.approx(100.0)
    assert timing.split.product() == pytest.approx(100.0)
    assert [r.to_id for r in timing.records] == ["better"]
    unverified = for_level("base", [_R("base", 1e16, verified=False), _R("better", 2e15)], entries)
    # a claimed baseline: the split runs from the earliest verified timed entry, and the note says so
    assert unverified.split is not None and unverified.split.from_id == "better"
    assert "base is not verified" in unverified.note and "earliest verified timed entry, better" in unverified.note


def test_an_entry_without_accelerators_has_a_time_but_no_utilisation() -> None:
    block = (
        'time_to_level:\n  seconds: 50.0\n  scope: "toy"\n'
        '  source: {title: "t", url: "https://example.org/l", locator: "x"}\n'
    )
    row = timed(_entry("better", block), 1e15, True)
    assert row is not None and row.achieved_flop_per_s == pytest.approx(2e13) and row.utilisation is None


def test_the_written_block_reads_back_as_the_schema_block() -> None:
    block = {
        "seconds": 157.625,
        "runs_seconds": [157.625, 160.0],
        "scope": 'a "quoted" scope',
        "source": {"title": "t", "url": "https://example.org/l", "locator": "line 1"},
        "accelerators": {
            "type": "nvidia-a100",
            "count": 8,
            "precision": "fp16",
            "source": {"title": "s", "url": "https://example.org/s", "locator": "nodes"},
            "note": "n",
        },
    }
    text = 'id: x\nnotes: "y"\n'
    written = timefacts.replace_block(text, timefacts.render(block))
    again = timefacts.replace_block(written, timefacts.render(block))
    assert again == written  # replacing is idempotent: the block is found and swapped, never duplicated
    parsed = _load(written)
    assert TimeToLevel.model_validate(parsed["time_to_level"]).model_dump(exclude_none=True) == block
    assert timefacts.replace_block(written, None) == text


# --- the recorded facts, re-read from the pinned logs --------------------------------------------------


def _pinned_cases() -> list[tuple[str, str]]:
    """Each timed level's baseline and fastest entry (the split's two ends)."""
    out = []
    for level_id in ("dawnbench-imagenet-93", "cifar10-94", "mlperf-resnet50-v0-5", "gpt2-fineweb-3-28"):
        docs = [_load(p.read_text()) for p in sorted((ROOT / "entries" / level_id).glob("*.yaml"))]
        base = next(d for d in docs if "baseline" in d)["baseline"]
        timed_docs = [d for d in docs if d.get("time_to_level")]
        fastest = min(timed_docs, key=lambda d: d["time_to_level"]["seconds"])["id"]
        out += [(level_id, base), (level_id, fastest)]
    return out


@pytest.mark.skipif(not MIRRORS.is_dir(), reason="no repository snapshots (AIEFF_MIRRORS)")
@pytest.mark.parametrize(("level_id", "entry_id"), _pinned_cases())
def test_recorded_time_to_level_is_what_the_pinned_logs_say(level_id: str, entry_id: str) -> None:
    from aieff.dataset.validate import validate

    ds = validate(ROOT)
    entry = ds.all_entries()[entry_id]
    found = timefacts.read(entry, ds.level(level_id), ROOT, MIRRORS)  # logs from the snapshots, sha256-checked
    assert entry.time_to_level is not None and found.block is not None, found.why
    assert entry.time_to_level.model_dump(mode="json", exclude_none=True) == found.block


# --- publishing: analyze, README section, exports -------------------------------------------------------


def _timed_toy(toy: Path) -> tuple[object, object]:
    from aieff.analysis.analyze import analyze
    from aieff.dataset.validate import validate

    level_dir = toy / "entries" / "toy-level"
    for name, block in (
        ("base", BLOCK.format(seconds=1000.0, kind="nvidia-k80", count=1, precision="fp32")),
        ("better", BLOCK.format(seconds=10.0, kind="nvidia-v100-sxm2", count=8, precision="fp16")),
    ):
        path = level_dir / f"{name}.yaml"
        path.write_text(path.read_text() + block)
    ds = validate(toy)
    assert ds.diagnostics == []
    flops = {e.id: 1e16 if e.id == "base" else 2e15 for e in ds.all_entries().values()}
    return ds, analyze(ds, reestimated=flops)


def test_analyze_json_readme_section_and_exports_carry_the_split(toy: Path) -> None:
    import json

    from aieff.analysis.report import render_json, render_text
    from aieff.publish import export, tables, timetables

    ds, result = _timed_toy(toy)
    level = result.levels[0]
    doc = json.loads(render_json(result))["levels"][0]["timing"]
    assert (
        doc["split"]["speedup"] == pytest.approx(100.0) and doc["split"]["dominant"] == "peak"
    )  # 125e12 / 4.365e12 = 28.6x > 8x
    assert doc["rows"][0]["utilisation"] == pytest.approx(1e16 / 1000 / 4.365e12, rel=1e-5)
    assert "speedup from baseline to the fastest verified entry: 1000.0 s -> 10.0 s = 100x" in render_text(result)
    section = timetables.section(result)
    assert section.count("### ") == 1 and "**100x faster**" in section
    assert (
        "| 2018-07-09 | [Better net](entries/toy-level/better.yaml) | 10.0 s | 8 x nvidia-v100-sxm2 (fp16) |" in section
    )
    readme = f"intro\n\n## Leaderboards\n\n{tables.START}\nx\n{tables.END}\n\n## How to cite\n"
    placed = timetables.place(readme, section, after=tables.END)
    assert placed.index(tables.END) < placed.index(timetables.TIME_START) < placed.index("## How to cite")
    assert timetables.place(placed, section, after=tables.END) == placed  # replaced in place, once
    rows = {r["id"]: r for r in export.records(ds, result, {})}
    assert rows["better"]["accelerator"] == "nvidia-v100-sxm2" and rows["better"]["accelerator_count"] == 8.0
    assert rows["better"]["utilisation"] == pytest.approx(2e15 / 10 / (8 * 125e12), rel=1e-5)
    (lv,) = export.level_records(ds, result, {})
    factors = [lv[f"time_{k}_factor"] for k in ("compute", "count", "peak", "utilisation")]
    assert math.prod(factors) == pytest.approx(lv["time_speedup"], rel=1e-5)
    assert set(export.COLUMNS) >= {"time_to_level_s", "achieved_flop_per_s", "utilisation"}
    assert level.timing is not None and level.timing.split is not None


def test_time_chart_is_deterministic(toy: Path) -> None:
    from aieff.publish import timetables

    _ds, result = _timed_toy(toy)
    first = timetables.chart(result, fresh=True)
    assert first == timetables.chart(result, fresh=True)
    assert b"<svg" in first["svg"] and b"Date" not in first["svg"][:2000]


# --- aieff estimate checks the time like the steps -------------------------------------------------------

TSV = "epoch\thours\ttop1Accuracy\n1\t0.1\t60\n2\t0.2\t85\n3\t0.3\t91\n4\t0.4\t93\n"


def _timed_entry(macs: float, sha: str, seconds: float) -> str:
    return f"""# yaml-language-server: $schema=../../schema/entry.schema.json
id: better
benchmark: toy-level
model: "ResNet-18"
publication:
  title: "Better net paper"
  authors: ["A. Author"]
  url: https://arxiv.org/abs/1807.00002
  date: 2018-07-09
  arxiv: "1807.00002"
training:
  epochs_to_target: 3
  forward_cost:
    value: {macs:.8g}
    unit: multiply-adds
    resolution: 32
artifacts:
  architecture:
    torchvision: resnet18
  training_log:
    path: entries/toy-level/better.tsv
    sha256: {sha}
    format: dawnbench-tsv
    columns: {{metric: top1Accuracy}}
time_to_level:
  seconds: {seconds}
  scope: "toy"
  source: {{title: "toy log", url: "https://example.org/log", locator: "line 4"}}
"""


def test_estimate_reads_the_time_from_the_log_and_flags_a_typed_one(toy: Path) -> None:
    import hashlib
    import json

    pytest.importorskip("torch")
    from aieff.verify.flops import build_torchvision, count_forward, example_input
    from conftest import run

    macs = count_forward(build_torchvision("resnet18", {}), example_input("image", resolution=32)).flop / 2
    (toy / "entries/toy-level/better.tsv").write_text(TSV)
    sha = hashlib.sha256(TSV.encode()).hexdigest()
    entry = toy / "entries/toy-level/better.yaml"
    for seconds, verdict in ((1080.0, "ok"), (1200.0, "differs")):  # 0.3 h on the row labelled 3 is 1080 s
        entry.write_text(_timed_entry(macs, sha, seconds))
        assert run("validate", cwd=toy).returncode == 0
        proc = run("estimate", "entries/toy-level/better.yaml", "--format", "json", cwd=toy)
        [est] = json.loads(proc.stdout)
        assert est["status"] == "verified", est  # the time is a fact beside the compute, not part of it
        row = next(r for r in est["rows"] if r["what"] == "time to level")
        assert (row["claimed"], row["counted"], row["unit"], row["agreement"]) == (seconds, 1080.0, "seconds", verdict)
        assert (row["claimed_text"], row["counted_text"]) == (f"{seconds:.3f} s", "1080.000 s (log line 4)")
