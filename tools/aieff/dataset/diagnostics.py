"""Stable error codes and the one-line diagnostics every command reports."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from typing import TextIO

from aieff.escape import markdown, visible

# code -> (short name, what it means). Codes are stable: never renumber, only add.
CODES: dict[str, tuple[str, str]] = {
    "E001": ("yaml-syntax", "The file is not valid YAML."),
    "E002": ("file-too-large", "The file is larger than 1 MiB."),
    "E003": ("not-utf8", "The file is not UTF-8 text or holds a forbidden control character."),
    "E004": ("empty-file", "The file holds no YAML document."),
    "E005": ("tab-character", "The file holds a tab character; indent with spaces."),
    "E006": ("duplicate-key", "A mapping has the same key twice."),
    "E007": ("yaml-alias", "YAML anchors and aliases are not allowed (they hide alias bombs)."),
    "E008": ("not-a-mapping", "The document is not a mapping of fields."),
    "E009": ("unsupported-tag", "A YAML tag other than the core schema's (e.g. !!python/...)."),
    "E010": ("unknown-field", "A field the schema does not define."),
    "E011": ("missing-field", "A required field is absent."),
    "E012": ("wrong-type", "A value has the wrong type."),
    "E013": ("invalid-value", "A value breaks a constraint (range, pattern, choice, combination)."),
    "E014": ("invalid-date", "A date is not an ISO 8601 calendar date (YYYY-MM-DD)."),
    "E015": ("missing-schema-line", "The file does not start with its yaml-language-server line."),
    "E020": ("id-mismatch", "The id differs from the file name."),
    "E021": ("benchmark-mismatch", "The benchmark differs from the folder the file is in."),
    "E022": ("duplicate-id", "Two entries share an id."),
    "E023": ("unknown-benchmark", "The entry's folder has no valid benchmark.yaml."),
    "E024": ("unknown-baseline", "The level's baseline is not an entry of that level."),
    "E025": ("future-date", "A date lies in the future."),
    "E026": ("arxiv-date-mismatch", "The publication date disagrees with the arXiv id's year-month."),
    "E027": ("duplicate-paper-link", "The same paper link is attached to two different papers."),
    "E028": ("non-https-url", "A URL does not use https."),
    "E029": ("path-escapes-repo", "A path is absolute, climbs out of the repository or is missing."),
    "E030": ("stray-file", "A file under entries/ that is neither an entry nor a small artifact."),
    "E031": ("baseline-withdrawn", "The level's baseline entry is withdrawn."),
    "E032": ("placeholder", "A value still holds a TODO placeholder from `aieff new` or `aieff new-level`."),
    "E033": (
        "unknown-recipe",
        "same_recipe_as names no earlier, ranked entry of the same level.",
    ),
    "E034": (
        "invisible-character",
        "A Unicode format character (bidi control, zero-width character, tag): invisible, it can reorder or hide text.",
    ),
    "E035": (
        "bad-file-name",
        "A file or folder name under entries/ that is not UTF-8 or holds a control or format character.",
    ),
    "E040": ("rule-division", "The submission's division is not the one the level's policy admits."),
    "E041": (
        "rule-run-choice",
        "The run the entry reads is not chosen as the level's policy says (e.g. not the submitted version).",
    ),
    "E042": (
        "rule-inclusion",
        "A candidate of the level's policy is neither an entry nor listed as not entered, or an entry is no "
        "candidate (or a second entry of one).",
    ),
    "E043": ("rule-date", "The entry is not dated as the level's policy says (e.g. no evidence for its run's date)."),
    "E044": (
        "narrative-figure",
        "A level's narrative types a number or names an unknown placeholder, entry or level: figures are "
        "placeholders the build fills in.",
    ),
    "E087": (
        "unknown-optimizer",
        "training.optimizer names a definition the level's optimizers do not hold (its FLOP per step could not be "
        "counted).",
    ),
    # One run, several levels (derived_from; aieff.dataset.derived).
    "E070": ("derived-unknown-source", "derived_from names no other entry, or an entry of the same level."),
    "E071": ("derived-chain", "derived_from names an entry that is itself derived (a chain or a cycle)."),
    "E072": (
        "derived-own-artifacts",
        "A derived entry names artifacts or hardware of its own, or its source has no training log to share.",
    ),
    "E073": (
        "derived-metric-mismatch",
        "A derived entry's level trains on other data or measures another metric than its source's level: the "
        "shared log does not record it.",
    ),
    "E074": (
        "derived-facts-mismatch",
        "A derived entry's per-sample facts (forward cost, resolution schedule, samples per step or epoch) are "
        "not its source's.",
    ),
    # Warnings: reported, never a failure. Each flags a number that is probably a typo.
    "E060": (
        "unknown-accelerator",
        "time_to_level.accelerators names a type the hardware table does not hold, or a precision it gives no "
        "peak for (tools/aieff/dataset/data/hardware.yaml).",
    ),
    "W001": ("implausible-compute", "Training compute outside 1e9 to 1e28 FLOP."),
    "W002": ("implausible-epochs", "More than 10,000 epochs to the level."),
    "W003": ("before-baseline", "A result dated before its level's baseline."),
    "W004": ("implausible-reduction", "More than 10,000x less compute than the level's baseline."),
    "W005": ("forward-cost-vs-torchvision", "A forward cost over 2x off torchvision's figure for the named model."),
    "W060": (
        "utilisation-over-peak",
        "Counted compute / time to the level is above the peak of every accelerator used: a wrong accelerator "
        "count, precision or time scope?",
    ),
    "W061": (
        "utilisation-below-0.1-percent",
        "Counted compute / time to the level is below 0.1% of the accelerators' peak: a wrong accelerator count, "
        "precision or time scope?",
    ),
}


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem at one place: `path:line:col: CODE field: message`."""

    path: str
    line: int
    col: int
    code: str
    field: str
    message: str

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unregistered diagnostic code {self.code}")
        # Undecodable bytes of a file name and format characters are shown as escapes in every output
        # (text, JSON, annotations, job summary), so none can fail to encode or reorder the line.
        for name in ("path", "field", "message"):
            object.__setattr__(self, name, visible(str(getattr(self, name))))

    def text(self) -> str:
        """One line, whatever the file name or message holds (control characters are escaped)."""
        return printable(f"{self.path}:{self.line}:{self.col}: {self.code} {self.field}: {self.message}")

    @property
    def is_warning(self) -> bool:
        return self.code.startswith("W")

    def github(self) -> str:
        """A workflow `::error` (or `::warning`) command; every value escaped so no text can start another."""
        props = {"file": self.path, "line": self.line, "col": self.col, "title": f"{self.code} {CODES[self.code][0]}"}
        head = ",".join(f"{k}={_escape_property(str(v))}" for k, v in props.items())
        kind = "warning" if self.is_warning else "error"
        return f"::{kind} {head}::{_escape_data(f'{self.code} {self.field}: {self.message}')}"


_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F]} | {0x85: "\\x85", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def printable(text: str) -> str:
    """Text with control characters and line separators written as escapes, so it stays one line."""
    return text.translate(_CONTROL)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def first_line(error: object) -> str:
    """The first non-empty line of an exception's (or any object's) text, or ''."""
    return (str(error).strip().splitlines() or [""])[0]


def excerpt(text: object, limit: int = 80) -> str:
    """A short, escaped quotation of untrusted text for a message: repr-escaped, cut at limit characters."""
    text = str(text)
    cut = text[:limit]
    return repr(cut) + (f" (+{len(text) - limit} characters)" if len(text) > limit else "")


def render(diags: list[Diagnostic], fmt: str) -> str:
    """Render diagnostics as text lines or a JSON document."""
    ordered = sorted(diags)
    if fmt == "json":
        rows = [asdict(d) | {"name": CODES[d.code][0]} for d in ordered]
        doc = {"errors": [r for r in rows if r["code"][0] == "E"], "warnings": [r for r in rows if r["code"][0] == "W"]}
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"
    return "".join(d.text() + "\n" for d in ordered)


def github_report(diags: list[Diagnostic], n_files: int, *, stream: TextIO | None = None) -> None:
    """Emit workflow annotations (on stream: stdout by default, stderr where stdout is JSON, so the JSON
    still parses; the runner reads commands from both) and a markdown job summary under GitHub Actions."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    for d in sorted(diags):
        print(d.github(), file=stream or sys.stdout)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if not summary:
        return
    errors = sum(not d.is_warning for d in diags)
    lines = [f"### aieff validate: {errors} error(s), {len(diags) - errors} warning(s) in {n_files} file(s)", ""]
    if diags:
        lines += ["| file | line | code | field | message |", "|---|---|---|---|---|"]
        for d in sorted(diags):
            lines.append(
                f"| {markdown(d.path, 1000)} | {d.line}:{d.col} | {d.code} | {markdown(d.field, 1000)} "
                f"| {markdown(d.message, 1000)} |"
            )
    with open(summary, "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n\n")


def codes_markdown() -> str:
    """The error-code reference for docs/errors.md (generated)."""
    rows = ["| code | name | meaning |", "|---|---|---|"]
    rows += [f"| {c} | `{n}` | {m} |" for c, (n, m) in sorted(CODES.items())]
    return "\n".join(rows) + "\n"
