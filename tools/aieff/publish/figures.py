"""A level's fitted figures in words, shared by the README's tables and the narratives the build fills in."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aieff.analysis.analyze import Fit, Level


def trend(level: Level) -> str:
    return fit_text(level.fit, level.frontier_span_factor, level.frontier_span_months)


def fit_text(fit: Fit, span_factor: float | None = None, span_months: float | None = None) -> str:
    """A least-squares trend in words: the halving time and its 95% CI, or what two points say."""
    if fit.doubling_months is not None and fit.points >= 3:
        ci = f" (95% CI {fit.ci95_months[0]:.1f}-{fit.ci95_months[1]:.1f})" if fit.ci95_months else ""
        return f"halves every {fit.doubling_months:.1f} months{ci}"
    if fit.points == 2 and span_months and span_factor:
        return f"2 points: {span_factor:.1f}x in {span_months:.1f} months"
    return "no trend yet"


def robust(fit: Fit) -> str:
    """Theil-Sen's halving time over the same frontier points, with its distribution-free 95% interval."""
    if fit.theil_sen_months is None or fit.theil_sen_ci95_months is None:
        return "-"
    lo, hi = fit.theil_sen_ci95_months
    return f"{fit.theil_sen_months:.1f} months ({lo:.1f}-{'∞' if hi == float('inf') else f'{hi:.1f}'})"


def verified_only(level: Level) -> str:
    """The reduction and trend when only verified entries count (the baseline stays the level's)."""
    if level.verified_factor is None or level.verified_fit is None:
        return "fewer than 2 verified"
    fit = level.verified_fit
    if fit.points >= 3 and fit.doubling_months is not None:
        return f"{level.verified_factor:.1f}x; {fit_text(fit)}"
    return f"{level.verified_factor:.1f}x; {fit.points} frontier point{'s' if fit.points != 1 else ''}"
