"""Student's t quantiles (aieff.analysis.student) against scipy.stats.t, and the trend fit's interval with many
points (where a table that stops at 30 degrees of freedom falls back to the normal 1.96)."""

from __future__ import annotations

import pytest

from aieff.analysis.student import incomplete_beta, t_cdf, t_quantile

scipy_stats = pytest.importorskip("scipy.stats")
scipy_special = pytest.importorskip("scipy.special")

PROBABILITIES = (0.001, 0.025, 0.1, 0.4, 0.5001, 0.6, 0.9, 0.95, 0.975, 0.99, 0.995, 0.9995)


@pytest.mark.parametrize("p", PROBABILITIES)
def test_quantile_matches_scipy_for_df_1_to_200(p: float) -> None:
    for df in range(1, 201):
        assert t_quantile(p, df) == pytest.approx(scipy_stats.t.ppf(p, df), rel=1e-8, abs=1e-12), df


@pytest.mark.parametrize("df", [0.5, 2.5, 31, 250, 1000, 10**6])
def test_quantile_and_cdf_for_fractional_and_large_df(df: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(scipy_stats.t.ppf(0.975, df), rel=1e-8)
    assert t_cdf(2.0, df) == pytest.approx(scipy_stats.t.cdf(2.0, df), rel=1e-10)
    assert t_quantile(0.5, df) == 0.0


def test_incomplete_beta_matches_scipy() -> None:
    for a, b, x in [(0.5, 0.5, 0.3), (3, 0.5, 0.99), (100, 0.5, 0.5), (0.5, 50, 1e-4), (2, 3, 0.0), (2, 3, 1.0)]:
        assert incomplete_beta(a, b, x) == pytest.approx(scipy_special.betainc(a, b, x), rel=1e-10, abs=1e-300)


@pytest.mark.parametrize("bad", [(0.0, 3), (1.0, 3), (0.5, 0), (0.975, -1)])
def test_quantile_refuses_what_has_none(bad: tuple[float, float]) -> None:
    with pytest.raises(ValueError):
        t_quantile(*bad)
