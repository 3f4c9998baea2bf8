"""What a verdict says, as types shared by estimate, record, analysis and publish: the status, the reasons
behind it, and the rows that set the entry's figures beside the re-estimate.

A reason is carried from where it is raised (a `Refused(code, detail)`, a DataError, a named condition
of the estimate) to the verification record and the JSON output as data, never recovered from a message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from aieff.refusals import REFUSALS, Refused
from aieff.repo import DataError, NotReached, RunAborted, Unreachable


class Status(StrEnum):
    """An entry's verification status. The first four are verdicts `aieff estimate` records; pending is
    only shown, for an entry without a verdict that still binds (new, or changed since its verdict)."""

    VERIFIED = "verified"
    CLAIMED = "claimed"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    PENDING = "pending"

    @property
    def recorded(self) -> bool:
        """Whether `aieff estimate --record` may write this status (pending is only shown)."""
        return self is not Status.PENDING

    @property
    def meaning(self) -> str:
        """What the status means, as the README legend and the exports' documentation say it."""
        return MEANINGS[self]


MEANINGS: dict[Status, str] = {
    Status.VERIFIED: (
        "CI re-estimated the compute from the referenced architecture, checkpoint and log within the level's "
        "tolerance of every figure the entry states, and the compute shown is that re-estimate (with the date "
        "of the verdict)"
    ),
    Status.CLAIMED: (
        "taken from the cited sources, not re-estimated, with why in brackets (no training log, no artifact, "
        "or the forward cost aieff counts differs from the entry's)"
    ),
    Status.FAILED: "the re-estimate disagrees or an artifact was refused (see the nightly job summary)",
    Status.UNREACHABLE: "an artifact could not be fetched when the entry was last judged",
    Status.PENDING: (
        "not yet judged in its current form (a new entry, or the entry, its level or aieff's counting code "
        "changed since its verdict)"
    ),
}


def legend() -> str:
    """The README's status legend, one clause per status."""
    return "Status: " + "; ".join(f"**{s}** = {s.meaning}" for s in Status) + "."


# Named conditions: reasons an estimate gives that are neither a refusal (A-code) nor a validation
# error (E-code). code -> what it means. Stable: never rename, only add.
CONDITIONS: dict[str, str] = {
    "no-architecture": "the entry references no architecture: nothing to re-estimate (claimed)",
    "no-forward-cost": "the entry gives no training.forward_cost to count at (claimed)",
    "no-training-log": "the entry references no training log: compute not re-estimated (claimed)",
    "forward-cost-differs": (
        "the forward cost aieff counts differs from the entry's beyond the level's tolerance (claimed and "
        "counted in multiply-adds per sample)"
    ),
    "checkpoint-differs": "the checkpoint is not the architecture's (failed)",
    "samples-per-epoch-differs": (
        "the log counts epochs and the entry's own samples_per_epoch, which scales them, is not the level's (failed)"
    ),
    "no-stated-compute": "the entry states no compute for the re-estimate to match (failed)",
    "compute-differs": (
        "the re-estimated compute is outside the level's tolerance of a figure the entry states (failed; "
        "claimed and counted in FLOP)"
    ),
    "not-reached": "the training log never reaches the level (failed)",
    "run-aborted": "the training log records a run that stopped without success (failed)",
    "refused": "an artifact, log or the entry was refused for a reason without a code; the detail says which (failed)",
    "unreachable": "an artifact could not be fetched (offline, timeout, server error): not a verdict (unreachable)",
    "internal-error": "aieff failed on this entry (a bug, or a hostile artifact a check missed) (failed)",
}

CODE = re.compile(r"^(?:[AEW][0-9]{3}|[a-z][a-z0-9-]{1,39})$")


class Reason(BaseModel):
    """Why a verdict is what it is: a code (an A-code, an E-code or a named condition), a detail, and
    optionally where (the entry's field) and the two figures that disagree, in the condition's unit."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    code: str = Field(pattern=CODE.pattern, description="An A-code, an E-code or a named condition.")
    detail: str = Field(max_length=1000, description="What happened, in words (a refusal's detail, without its code).")
    field: str | None = Field(None, max_length=200, description="The entry's field it concerns, when one does.")
    claimed: float | None = Field(
        None, allow_inf_nan=False, description="The entry's figure, when two disagree (in the condition's unit)."
    )
    counted: float | None = Field(None, allow_inf_nan=False, description="What aieff counted, when two disagree.")

    def text(self) -> str:
        """The reason as one line: `A101 pt2-operator: detail` for a refusal, the detail otherwise."""
        if self.code in REFUSALS:
            return f"{self.code} {REFUSALS[self.code][0]}: {self.detail}"
        return self.detail


def reason_of(exc: DataError) -> Reason:
    """The reason a raised error gives: a refusal's code (also through an error that wraps it, as a run of
    several is reported), or the named condition its type stands for; the detail is its message."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, Refused):
            detail = cause.detail if cause is exc else str(exc)
            return Reason(code=cause.code, detail=detail[:1000])
        cause = cause.__cause__
    code = (
        "unreachable"
        if isinstance(exc, Unreachable)
        else "not-reached"
        if isinstance(exc, NotReached)
        else "run-aborted"
        if isinstance(exc, RunAborted)
        else "refused"
    )
    return Reason(code=code, detail=str(exc)[:1000])


@dataclass(frozen=True)
class Row:
    """One factor of an estimate: the entry's figure beside the re-estimate, as numbers in `unit` (None where
    there is none) and as the text table shows them."""

    what: str  # the factor: forward cost, checkpoint, epochs to target, compute, a run of several, ...
    claimed: float | None  # what the entry states, in unit
    counted: float | None  # what aieff counted or read, in unit
    agreement: str  # "ok", "differs", "differs +3.1%", or a note (the evaluation cadence, why a run is not counted)
    unit: str  # multiply-adds, FLOP, tensors, steps, epochs, samples, or the level's metric unit
    claimed_text: str = ""
    counted_text: str = ""

    def cells(self) -> list[str]:
        """The text table's four cells: factor, entry, re-estimate, agreement."""
        return [self.what, self.claimed_text, self.counted_text, self.agreement]
