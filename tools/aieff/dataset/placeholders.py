"""A level narrative's placeholders, and the check (E044) that it types no number and names only figures,
entries and levels that exist: the validation side of a narrative (aieff.publish.narrative fills it in).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aieff.dataset.docset import Dataset

PLACEHOLDER = re.compile(r"\{([a-z_]+)((?::[a-z0-9][a-z0-9-]*)*)\}")
# A number a reader could check: a digit that does not continue a word or a name (ResNet-50, GPT-2, v0.7
# and 124M are names; 28.0x, 6.7 months, 2020 and 36% are figures).
TYPED_NUMBER = re.compile(r"(?<![A-Za-z0-9_.\-])(?:\d[\d,.]*\d|\d)[x%]?(?![A-Za-z0-9_])")


LEVEL_FIGURES = (
    "title", "entries", "verified", "claimed", "first_date", "last_date", "baseline", "baseline_date",
    "baseline_compute", "baseline_pfs_days", "best", "best_date", "best_compute", "best_pfs_days",
    "reduction", "trend", "points", "robust", "verified_only", "forward_factor", "seen_factor",
    "split_unit", "baseline_seen", "best_seen", "not_entered",
)  # fmt: skip
ENTRY_FIGURES = ("model", "date", "compute", "pfs_days", "reduction", "rank", "samples", "tokens")
PAIR_FIGURES = ("ratio", "months")  # {ratio:A:B} = A's compute / B's; {months:A:B} from A's date to B's
OTHER_LEVEL_FIGURES = ("trend_of", "reduction_of")  # {trend_of:LEVEL}


def typed_numbers(template: str) -> list[tuple[int, str]]:
    """(offset, text) of every number typed into a template outside its placeholders."""
    blanked = PLACEHOLDER.sub(lambda m: " " * len(m.group(0)), template)
    return [(m.start(), m.group(0)) for m in TYPED_NUMBER.finditer(blanked)]


def check(ds: Dataset) -> None:
    """E044 for every level narrative that types a number or names an unknown placeholder, entry or level."""
    for level_id, bdoc in sorted(ds.benchmarks.items()):
        text = ds.level(level_id).narrative
        if text is None:
            continue
        err = bdoc.loaded.error
        for offset, number in typed_numbers(text):
            context = text[max(0, offset - 30) : offset + len(number) + 10].replace("\n", " ")
            ds.diagnostics.append(
                err(
                    "E044",
                    ("narrative",),
                    f"typed number {number!r} at character {offset} (...{context}...): use a placeholder",
                )
            )
        ids = {e.id for e in ds.entries_of(level_id)}
        for m in PLACEHOLDER.finditer(text):
            name, args = m.group(1), [a for a in m.group(2).split(":") if a]
            known = (
                (not args and name in LEVEL_FIGURES)
                or (len(args) == 1 and name in ENTRY_FIGURES and args[0] in ids)
                or (len(args) == 2 and name in PAIR_FIGURES and set(args) <= ids)
                or (len(args) == 1 and name in OTHER_LEVEL_FIGURES and args[0] in ds.benchmarks)
            )
            if not known:
                ds.diagnostics.append(
                    err("E044", ("narrative",), f"{m.group(0)} names no figure, entry of this level or level")
                )
