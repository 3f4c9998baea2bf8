"""Stable codes for what re-estimation refuses (A-codes): an artifact, a log or a verdict, by reason.

Validation codes (E/W, aieff.diagnostics) point at a place in a YAML file; these name why an artifact
or a verdict was refused, so a message, a test and the docs can all say `A101` and mean one thing.
Codes are stable: never renumber, only add. Ranges: A1xx the .pt2 gate, A2xx counting, A3xx the
sandbox, A4xx training logs, A5xx fetching and checkpoints, A6xx verdicts.
"""

from __future__ import annotations

from aieff.repo import DataError

# code -> (short name, what it means)
REFUSALS: dict[str, tuple[str, str]] = {
    # --- A1xx: the .pt2 gate ---
    # --- end A1xx ---
    #
    # --- A2xx: counting ---
    "A201": (
        "weight-not-counted",
        "a parameter or buffer of an export meets the input in an operator no counter prices and that is not "
        "free for a weight of its shape (e.g. a Linear written as an elementwise multiply without a visible sum)",
    ),
    "A202": (
        "weight-unused",
        "a floating-point tensor of an export's state dict is never applied to the input while a checkpoint is "
        "compared with that state dict: the checkpoint would match a graph that skips the layer",
    ),
    "A203": (
        "operator-not-counted",
        "an export runs an operator that neither counter prices and that is not conventionally free, so its "
        "cost would be counted as zero",
    ),
    # --- end A2xx ---
    #
    # --- A3xx: the sandbox ---
    # --- end A3xx ---
    #
    # --- A4xx: training logs ---
    # --- end A4xx ---
    #
    # --- A5xx: fetching and checkpoints ---
    # --- end A5xx ---
    #
    # --- A6xx: verdicts ---
    # --- end A6xx ---
}


class Refused(DataError):
    """An artifact, log or verdict refused for a coded reason; str() reads `A101 name: detail`."""

    def __init__(self, code: str, detail: str) -> None:
        if code not in REFUSALS:
            raise ValueError(f"unknown refusal code {code}")
        self.code = code
        self.detail = detail
        super().__init__(f"{code} {REFUSALS[code][0]}: {detail}")


def codes_markdown() -> str:
    """The refusal-code reference for docs/errors.md (generated)."""
    rows = ["| code | name | meaning |", "|---|---|---|"]
    rows += [f"| {c} | `{n}` | {m} |" for c, (n, m) in sorted(REFUSALS.items())]
    return "\n".join(rows) + "\n"
