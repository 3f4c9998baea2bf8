"""What a headline rests on, computed: the robust trend, the trend on verified entries only, and where a
reduction came from (forward cost per unit x units seen)."""

from __future__ import annotations

import datetime as dt
import json
import math
import random

import pytest

from aieff.analysis.analyze import analyze, fit_doubling, theil_sen
from aieff.dataset.validate import validate
from aieff.verify import record
from conftest import ROOT, run

scipy_stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("n", [3, 4, 7, 12, 22, 40])
def test_theil_sen_matches_scipy_on_noisy_points(n: int) -> None:
    rng = random.Random(n)
    xs = sorted(rng.uniform(0, 120) for _ in range(n))
    ys = [-0.12 * x + rng.gauss(0, 0.8) for x in xs]
    ref = scipy_stats.theilslopes(ys, xs)
    halving, ci = theil_sen(xs, ys)
    if ref.slope >= 0:
        assert halving is None
        return
    assert halving == pytest.approx(-1 / ref.slope, rel=1e-12)
    assert ci is not None
    assert ci[0] == pytest.approx(-1 / ref.low_slope, rel=1e-12)
    assert ci[1] == (pytest.approx(-1 / ref.high_slope, rel=1e-12) if ref.high_slope < 0 else math.inf)


def test_theil_sen_with_ties_matches_scipy() -> None:
    xs = [0.0, 0.0, 10.0, 20.0, 20.0, 30.0, 45.0]
    ys = [10.0, 9.5, 8.0, 8.0, 6.5, 5.0, 3.0]
    ref = scipy_stats.theilslopes(ys, xs)
    halving, ci = theil_sen(xs, ys)
    assert halving == pytest.approx(-1 / ref.slope)
    assert ci == (pytest.approx(-1 / ref.low_slope), pytest.approx(-1 / ref.high_slope))


def test_one_outlying_record_moves_least_squares_not_theil_sen() -> None:
    base = dt.date(2020, 1, 1)
    points = [(base + dt.timedelta(days=30 * i), 2.0 ** (-i / 6)) for i in range(12)]
    clean = fit_doubling(points)
    points[5] = (points[5][0], points[5][1] / 1000)  # one record 1000x below the trend
    dirty = fit_doubling(points)
    assert dirty.doubling_months is not None and clean.doubling_months is not None
    assert abs(dirty.doubling_months - clean.doubling_months) > 0.5
    assert dirty.theil_sen_months == pytest.approx(clean.theil_sen_months, rel=0.05)


@pytest.mark.parametrize(
    ("seed", "base", "spacing", "n", "per_halving", "noise", "rel"),
    [
        (7, dt.date(2018, 1, 1), 40, 9, 5, 0.3, 1e-3),
        # 40 points: 38 degrees of freedom, t = 2.024, not the normal's 1.96 (issue 23)
        (11, dt.date(2016, 1, 1), 30, 40, 6, 1.5, 1e-9),
    ],
)
def test_least_squares_interval_agrees_with_scipy_linregress(
    seed: int, base: dt.date, spacing: int, n: int, per_halving: int, noise: float, rel: float
) -> None:
    """The fit's 95% CI comes from the slope's standard error and Student's t with n - 2 df."""
    rng = random.Random(seed)
    points = [
        (
            base + dt.timedelta(days=int(spacing * i + rng.uniform(0, 20))),
            2.0 ** (-i / per_halving + rng.gauss(0, noise)),
        )
        for i in range(n)
    ]
    fit = fit_doubling(points)
    xs = [(d - dt.date(1970, 1, 1)).days / (365.25 / 12) for d, _ in points]
    ys = [math.log2(c) for _, c in points]
    ref = scipy_stats.linregress(xs, ys)
    t = scipy_stats.t.ppf(0.975, len(points) - 2)
    assert fit.doubling_months == pytest.approx(-1 / ref.slope)
    assert fit.se_months == pytest.approx(ref.stderr / ref.slope**2)
    assert fit.ci95_months is not None
    assert fit.ci95_months[0] == pytest.approx(-1 / (ref.slope - t * ref.stderr), rel=rel)
    assert fit.ci95_months[1] == pytest.approx(-1 / (ref.slope + t * ref.stderr), rel=rel)


def _result(reestimated: dict[str, float] | None = None):
    ds = validate(ROOT)
    return analyze(ds, reestimated=reestimated)


def test_split_multiplies_to_the_reduction() -> None:
    for lv in _result().levels:
        best = lv.best_row()
        if lv.split is None or best is None:
            continue
        assert lv.split.forward_factor * lv.split.seen_factor == pytest.approx(best.reduction_factor, rel=1e-9), lv.id
    gpt2 = _result().level("gpt2-fineweb-3-28")
    assert gpt2.split is not None and gpt2.split.unit == "token"  # sequences of different lengths: tokens
    mlperf = _result().level("mlperf-resnet50-v1-5")
    assert mlperf.split is not None and mlperf.split.forward_factor == pytest.approx(1.0)  # the rules fix the model


def test_verified_only_trend_uses_only_verified_entries() -> None:
    ds = validate(ROOT)
    level = "cifar10-94"
    rows = analyze(ds).level(level).rows
    derived = {r.id: r.flop for r in rows if any(label.startswith("log") for label, _ in r.evidence)}
    all_only = analyze(ds).level(level)
    assert all_only.verified_fit is None and all_only.verified_factor is None  # nothing verified
    checked = analyze(ds, reestimated=derived).level(level)
    least = min((r for r in checked.rows if r.verified and r.same_recipe_as is None), key=lambda r: r.flop)
    base = checked.baseline_row()
    assert base is not None and checked.verified_factor == pytest.approx(base.flop / least.flop)
    assert checked.verified_fit is not None and checked.verified_fit.points <= checked.fit.points
    claimed_low = min(r.flop for r in checked.rows if not r.verified)
    assert claimed_low < least.flop  # the claimed entries are what the all-entries headline rests on


def test_analyze_json_and_levels_export_carry_the_choices() -> None:
    proc = run("analyze", "--format", "json", "--level", "dawnbench-imagenet-93")
    assert proc.returncode == 0, proc.stderr
    (lv,) = json.loads(proc.stdout)["levels"]
    assert {"theil_sen_months", "theil_sen_ci95_months"} <= set(lv["fit"])
    assert {"verified_fit", "verified_factor", "split"} <= set(lv)
    assert set(lv["split"]) >= {"unit", "forward_factor", "seen_factor"}


def test_published_status_feeds_the_verified_trend(tmp_path) -> None:
    """analyze reads the record: an entry is verified for the trend only while its verdict binds."""
    ds = validate(ROOT)
    shown = record.shown(record.load(ROOT / record.RECORD_PATH), ds)
    published = record.published_compute(shown)
    result = analyze(ds, reestimated=published)
    for lv in result.levels:
        for r in lv.rows:
            assert r.verified == (r.id in published)
            if r.verified:
                assert r.flop == published[r.id]
