"""The hardware table: each accelerator's peak dense throughput per training precision, with its source."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Literal

from pydantic import Field
from ruamel.yaml import YAML

from aieff.dataset.schema import CitedSource, Model, Name, Positive, Text

TABLE = Path(__file__).with_name("data") / "hardware.yaml"
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
Precision = Literal["fp32", "tf32", "fp16", "bf16", "fp8"]


class Accelerator(Model):
    """One accelerator: its peak dense FLOP/s per precision, for one unit (GPU, TPU chip, IPU, CPU socket)."""

    name: Name = Field(description="What the key stands for, precisely enough to tell variants apart.")
    unit: Name = Field(description="What one counts: a GPU, a TPU chip, an IPU, a CPU socket.")
    peak_flop_per_s: dict[Precision, Positive] = Field(
        min_length=1, description="Peak dense throughput of one unit at each precision, FLOP/s."
    )
    source: CitedSource = Field(description="The vendor's statement of the figures.")
    derived: Text | None = Field(None, description="How a figure the vendor does not print is computed from it.")


@functools.cache
def table(path: Path = TABLE) -> dict[str, Accelerator]:
    """Key -> accelerator, read and validated once."""
    raw = YAML(typ="safe", pure=False).load(path.read_text(encoding="utf-8"))
    out = {}
    for key, body in raw.items():
        if not isinstance(key, str) or not _SLUG.fullmatch(key):
            raise ValueError(f"{path.name}: key {key!r} is not a slug")
        out[key] = Accelerator.model_validate(body)
    return out


def peak(kind: str, precision: str) -> float | None:
    """Peak dense FLOP/s of one unit of `kind` at `precision`; None when the table has no such figure."""
    acc = table().get(kind)
    return acc.peak_flop_per_s.get(precision) if acc else None  # type: ignore[call-overload]
