"""Student's t quantiles for any degrees of freedom, without scipy: the t distribution's CDF through the
regularized incomplete beta function (a Lentz continued fraction), inverted by bisection.

For df degrees of freedom and t >= 0, P(|T| > t) = I_x(df/2, 1/2) with x = df / (df + t^2), and I_x(a, b)
increases with x, so the quantile is found by halving an interval of x; tests/test_student.py checks it
against scipy.stats.t.ppf for df 1..200.
"""

from __future__ import annotations

import math

_EPS = 1e-15
_TINY = 1e-300


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) (modified Lentz), converging for x < (a + 1) / (a + b + 2)."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 10_000):
        for num in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + num / c
            c = c if abs(c) > _TINY else _TINY
            h *= d * c
        if abs(d * c - 1.0) < _EPS:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if not (a > 0 and b > 0 and 0.0 <= x <= 1.0):
        raise ValueError(f"incomplete_beta({a}, {b}, {x}): needs a, b > 0 and 0 <= x <= 1")
    if x in (0.0, 1.0):
        return x
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with df > 0 degrees of freedom."""
    tail = incomplete_beta(df / 2.0, 0.5, df / (df + t * t)) / 2.0
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The t with P(T <= t) = p, for 0 < p < 1 and df > 0 (two-sided 95%: t_quantile(0.975, df))."""
    if not (0.0 < p < 1.0 and df > 0):
        raise ValueError(f"t_quantile({p}, {df}): needs 0 < p < 1 and df > 0")
    if p == 0.5:
        return 0.0
    tail = 2.0 * min(p, 1.0 - p)  # P(|T| > t)
    a = df / 2.0
    # Halve whichever of x = df / (df + t^2) (where P(|T| > t) = I_x(a, 1/2)) or y = 1 - x (where
    # P(|T| <= t) = I_y(1/2, a)) is small at the quantile: a small number is held to full relative precision.
    far = tail < 0.5
    target = tail if far else 1.0 - tail
    lo, hi = 0.0, 1.0
    for _ in range(1100):  # enough halvings to reach any double in (0, 1)
        mid = (lo + hi) / 2.0
        if mid in (lo, hi):
            break
        if (incomplete_beta(a, 0.5, mid) if far else incomplete_beta(0.5, a, mid)) < target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-17 * hi:
            break
    u = (lo + hi) / 2.0
    t = math.sqrt(df * (1.0 - u) / u) if far else math.sqrt(df * u / (1.0 - u))
    return t if p > 0.5 else -t
