"""The published results follow from the entries, not from constants (issue: dataset and analysis)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from aieff.analysis import Result, analyze, fit_doubling
from aieff.units import flop_to_multiply_add_tfs_days, to_flop
from aieff.validate import validate
from conftest import ROOT, run


@pytest.fixture(scope="module")
def result() -> Result:
    ds = validate(ROOT)
    assert ds.diagnostics == []
    return analyze(ds)


def _row(result: Result, level: str, entry: str):
    return next(r for r in result.level(level).rows if r.id == entry)


def test_alexnet_level_has_all_sixteen_architectures(result: Result) -> None:
    assert len(result.level("alexnet-imagenet").rows) == 16


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
