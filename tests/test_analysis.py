"""The published results follow from the entries, not from constants (issue: dataset and analysis)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from aieff.analysis.analyze import Result, analyze, fit_doubling
from aieff.dataset.validate import validate
from aieff.units import flop_to_multiply_add_tfs_days, to_flop
from conftest import ROOT, run


@pytest.fixture(scope="module")
def result() -> Result:
    ds = validate(ROOT)
    assert ds.diagnostics == []
    return analyze(ds)


def _row(result: Result, level: str, entry: str):
    return next(r for r in result.level(level).rows if r.id == entry)


def test_alexnet_level_has_all_sixteen_architectures(result: Result) -> None:
    """The paper's sixteen, plus the runs read from DAWNBench logs (derived_from), which are not the paper's."""
    rows = result.level("alexnet-imagenet").rows
    assert len([r for r in rows if r.derived_from is None]) == 16
    sources = {r.id for r in result.level("dawnbench-imagenet-93").rows}
    assert {r.derived_from for r in rows if r.derived_from} <= sources


def test_alexnet_to_efficientnet_is_44x(result: Result) -> None:
    assert _row(result, "alexnet-imagenet", "efficientnet-b0").reduction_factor == pytest.approx(44, abs=1)


def test_alexnet_level_compute_in_the_papers_multiply_add_convention(result: Result) -> None:
    alexnet = _row(result, "alexnet-imagenet", "alexnet")
    b0 = _row(result, "alexnet-imagenet", "efficientnet-b0")
    assert round(alexnet.multiply_add_tfs_days, 1) == 3.1
    assert round(b0.multiply_add_tfs_days, 3) == 0.069
    # In FLOP the teraflop/s-days double; the ratio does not change.
    assert round(alexnet.flop / 8.64e16, 1) == 6.2
    assert round(b0.flop / 8.64e16, 3) == 0.139


def test_frontier_is_the_six_points_of_the_paper(result: Result) -> None:
    frontier = sorted(r.id for r in result.level("alexnet-imagenet").rows if r.frontier)
    assert frontier == sorted(
        ["alexnet", "googlenet", "mobilenet-v1", "shufflenet-v1-1x", "shufflenet-v2-1x", "efficientnet-b0"]
    )


def test_doubling_time_is_about_16_months(result: Result) -> None:
    fit = result.level("alexnet-imagenet").fit
    assert fit.points == 6
    assert fit.doubling_months == pytest.approx(16, abs=0.5)
    lo, hi = fit.ci95_months
    assert lo < fit.doubling_months < hi
    assert fit.se_months > 0


def test_translation_and_games_factors(result: Result) -> None:
    assert round(_row(result, "seq2seq-wmt14-enfr", "transformer-base").reduction_factor) == 61
    assert round(_row(result, "gnmt-wmt14-enfr", "transformer-big").reduction_factor) == 9
    assert round(_row(result, "alphago-zero-go", "alphazero").reduction_factor) == 8
    assert round(_row(result, "openai-five-dota2", "openai-five-rerun").reduction_factor) == 5


def test_the_sources_inconsistencies_are_reported(result: Result) -> None:
    r50 = result.level("resnet50-imagenet").warnings
    assert any("W103" in w and "states 10x" in w and "22.7x" in w for w in r50)
    s2s = result.level("seq2seq-wmt14-enfr").warnings
    assert any("W103" in w and "states 61x" in w and "58.1x" in w for w in s2s)
    alex = result.level("alexnet-imagenet").warnings
    assert any("W102" in w and "'teraflop/s-days'" in w and "'1e15 multiply-adds'" in w for w in alex)


def test_units() -> None:
    assert to_flop(1, "multiply-adds") == 2
    assert to_flop(1, "petaflop/s-days") == 8.64e19
    assert to_flop(266.1, "1e15 multiply-adds") == pytest.approx(2 * 266.1e15)
    assert flop_to_multiply_add_tfs_days(2 * 8.64e16) == pytest.approx(1)


def test_fit_recovers_a_known_doubling_time() -> None:
    import datetime as dt

    start = dt.date(2010, 1, 1)
    points = [(start + dt.timedelta(days=365.25 / 12 * m), 2.0 ** (40 - m / 12)) for m in (0, 24, 36, 60)]
    fit = fit_doubling(points)
    assert fit.doubling_months == pytest.approx(12, rel=1e-3)
    assert fit.se_months == pytest.approx(0, abs=0.01)  # dates are whole days


def test_a_derived_number_moves_when_its_input_does(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "entries", repo / "entries")
    before = analyze(validate(repo))
    f = repo / "entries/alexnet-imagenet/efficientnet-b0.yaml"
    f.write_text(f.read_text().replace("epochs_to_target: 4", "epochs_to_target: 8"))
    after = analyze(validate(repo))
    old = _row(before, "alexnet-imagenet", "efficientnet-b0").reduction_factor
    new = _row(after, "alexnet-imagenet", "efficientnet-b0").reduction_factor
    assert new == pytest.approx(old / 2)
    assert after.level("alexnet-imagenet").fit.doubling_months != before.level("alexnet-imagenet").fit.doubling_months


def test_analyze_cli_json_is_deterministic_and_names_units() -> None:
    a, b = run("analyze", "--format", "json"), run("analyze", "--format", "json")
    assert a.returncode == 0 and a.stdout == b.stdout
    data = json.loads(a.stdout)
    row = data["levels"][0]["rows"][0]
    assert {"flop", "pfs_days", "multiply_add_tfs_days", "source_value", "source_unit"} <= set(row)
    assert run("analyze", "--level", "nope").returncode == 1


def test_modern_levels_headlines_from_the_logs(result: Result) -> None:
    dawn = result.level("dawnbench-imagenet-93")
    # 11 points since Huawei's MXNet ResNet-50 is counted as the v1 it ran (issue 19); dated by first public runs
    assert len(dawn.rows) == 27 and dawn.fit.points == 11
    assert dawn.fit.doubling_months == pytest.approx(6.0, abs=0.05)
    # AmoebaNet-D's hardware-time upper bounds sit above the frontier of their day
    assert not any(r.frontier for r in dawn.rows if r.id.startswith("google-amoebanet"))
    mlperf = result.level("mlperf-resnet50-v1-5")
    # v0.6 (60 epochs) then v0.7 (35 epochs); every later round ties v0.7: two distinct frontier points.
    assert mlperf.fit.points == 2 and mlperf.fit.ci95_months is None
    assert "no entry since 2020-07-29 needed less compute" in mlperf.headline
    gpt = result.level("gpt2-fineweb-3-28")
    # every track-1 record whose log reaches 3.28, dated by its run's first public appearance (pull-request heads
    # included), record 85 read at its submitted v3 (issue 19): 46 points, 8.60 months (44 and 8.70 by master dates)
    assert gpt.fit.points == 46 and gpt.fit.doubling_months == pytest.approx(8.60, abs=0.05)
    # 29.03 before the Muon records counted their Newton-Schulz FLOP (issue 24): 0.75% more compute for r85
    assert _row(result, "gpt2-fineweb-3-28", "nanogpt-r85-mudd-gates-dc-mha").reduction_factor == pytest.approx(
        28.81, abs=0.05
    )
    faster = [_row(result, "gpt2-fineweb-3-28", f"nanogpt-r0{n}") for n in ("6-distributed-muon", "7-pytorch-2-5")]
    recipe = _row(result, "gpt2-fineweb-3-28", "nanogpt-r05-modern-arch")
    assert all(r.rank == recipe.rank and not r.frontier for r in faster)  # speed-only records keep record 5's place
    cifar = result.level("cifar10-94")
    # hlb-CIFAR10's releases v0.1.0-v0.6.0 joined as claimed entries (issue 19): 5 more frontier points
    assert cifar.fit.points == 14 and cifar.fit.ci95_months is not None


def test_same_day_ties_are_one_frontier_point_and_same_recipe_runs_are_not_ranked(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "entries", repo / "entries")
    level = repo / "entries/mlperf-resnet50-v1-5"
    before = analyze(validate(repo)).level("mlperf-resnet50-v1-5")
    # The level holds every closed submission (issue 19): v0.7's three at 35 epochs tie on the frontier.
    least = min(r.flop for r in before.rows if r.date == "2020-07-29")
    ties = [r for r in before.rows if r.date == "2020-07-29" and r.flop == least]
    assert len(ties) == 3 and all(r.frontier for r in ties)  # three submissions, one point for the fit
    twin = "mlperf-v0-7-inspur-nf5488-mxnet"
    first = "mlperf-v0-7-dellemc-dss8440"
    f = level / f"{twin}.yaml"
    f.write_text(f.read_text().replace("\nhardware:", f"\nsame_recipe_as: {first}\nhardware:", 1))
    ds = validate(repo)
    assert ds.diagnostics == []
    after = analyze(ds).level("mlperf-resnet50-v1-5")
    row = next(r for r in after.rows if r.id == twin)
    assert not row.frontier and row.rank == next(r.rank for r in after.rows if r.id == first)
    assert len({r.rank for r in after.rows}) == len(after.rows) - 1  # the twin shares its recipe's rank
    # Naming a twin, or an entry of another level, is refused.
    g = level / "mlperf-v0-7-fujitsu-gx-v100x8-ngc20-06-mxnet.yaml"
    g.write_text(g.read_text().replace("\nhardware:", f"\nsame_recipe_as: {twin}\nhardware:", 1))
    codes = {(d.code, d.path.rsplit("/", 1)[-1]) for d in validate(repo).diagnostics}
    assert codes == {("E033", g.name)}


def test_two_points_give_a_factor_and_months_not_a_doubling_time(result: Result) -> None:
    import datetime as dt

    fit = fit_doubling([(dt.date(2017, 10, 19), 16.0), (dt.date(2017, 12, 5), 2.0)])
    assert fit.points == 2 and fit.doubling_months is None and fit.ci95_months is None
    go = result.level("alphago-zero-go")
    assert go.fit.doubling_months is None and go.frontier_span_months == pytest.approx(1.6, abs=0.05)
    assert go.frontier_span_factor == pytest.approx(7.9, abs=0.05)
    assert "2 frontier points: 7.9x in 1.6 months, too few for a halving time" in go.headline
    assert "halving every" not in go.headline


def test_a_level_names_its_papers_period_beside_two_points(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "entries", repo / "entries")
    level = repo / "entries/alphago-zero-go/benchmark.yaml"
    level.write_text(
        level.read_text().replace("baseline: alphago-zero\n", "paper_period: about a year\nbaseline: alphago-zero\n")
    )
    ds = validate(repo)
    assert ds.diagnostics == []
    go = analyze(ds).level("alphago-zero-go")
    assert go.headline.endswith("too few for a halving time (the paper's period: about a year)")
