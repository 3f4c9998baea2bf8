"""Compute units: every unit's size in FLOP, with a multiply-add counted as 2 FLOP."""

from __future__ import annotations

FLOP_PER_MULTIPLY_ADD = 2.0
SECONDS_PER_DAY = 86_400.0
TERAFLOP_S_DAY = 1e12 * SECONDS_PER_DAY  # 8.64e16 operations
PETAFLOP_S_DAY = 1e15 * SECONDS_PER_DAY  # 8.64e19 operations
FORWARD_AND_BACKWARD = 3.0  # training cost per sample = 3 x forward (the paper's convention)

FLOP_PER_UNIT: dict[str, float] = {
    "FLOP": 1.0,
    "multiply-adds": FLOP_PER_MULTIPLY_ADD,
    "1e15 multiply-adds": 1e15 * FLOP_PER_MULTIPLY_ADD,
    "teraflop/s-days": TERAFLOP_S_DAY,
    "petaflop/s-days": PETAFLOP_S_DAY,
    "teraflop/s-days (multiply-adds)": TERAFLOP_S_DAY * FLOP_PER_MULTIPLY_ADD,
    "petaflop/s-days (multiply-adds)": PETAFLOP_S_DAY * FLOP_PER_MULTIPLY_ADD,
}


def to_flop(value: float, unit: str) -> float:
    """Convert a quantity in one of FLOP_PER_UNIT's units to FLOP."""
    return value * FLOP_PER_UNIT[unit]


def flop_to_pfs_days(flop: float) -> float:
    """FLOP to petaflop/s-days (1 petaflop/s-day = 8.64e19 FLOP)."""
    return flop / PETAFLOP_S_DAY


def flop_to_multiply_add_tfs_days(flop: float) -> float:
    """FLOP to the original tracker's 'teraflop/s-days', which count multiply-adds."""
    return flop / FLOP_PER_MULTIPLY_ADD / TERAFLOP_S_DAY
