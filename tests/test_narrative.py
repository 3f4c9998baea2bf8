"""A level's narrative carries no typed figure: every number in the README's prose is filled from the
analysis, so it moves with the data and cannot disagree with the tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import hostile_corpus
from aieff.analysis.analyze import analyze
from aieff.dataset.placeholders import typed_numbers
from aieff.dataset.validate import validate
from aieff.publish.narrative import NarrativeError, render
from conftest import ROOT, run

LEVEL = "entries/toy-level/benchmark.yaml"


@pytest.mark.parametrize(
    ("text", "typed"),
    [
        ("GPT-2 (124M) on ResNet-50 v1.5, x86 and CIFAR-10", []),
        ("fell 28.0x in 6.7 months", ["28.0x", "6.7"]),
        ("since 2020, 36% and 12,000 runs", ["2020", "36%", "12,000"]),
        ("{reduction} in {months:a:b} (record 85)", ["85"]),
    ],
)
def test_typed_numbers_are_found_outside_placeholders(text: str, typed: list[str]) -> None:
    assert [t for _, t in typed_numbers(text)] == typed


def _narrate(toy: Path, text: str) -> None:
    path = toy / LEVEL
    path.write_text(path.read_text() + f"narrative: >-\n  {text}\n")


def test_placeholders_fill_from_the_analysis_and_move_with_the_data(toy: Path) -> None:
    _narrate(toy, "{baseline} to {best}: {reduction}, {ratio:base:better} in {months:base:better}; {compute:better}.")
    assert validate(toy).diagnostics == []
    ds = validate(toy)
    result = analyze(ds)
    lv = result.level("toy-level")
    text = render(ds.level("toy-level").narrative or "", lv, result)
    assert text == "Base net to Better net: 4.0x, 4.0x in 40.2 months; 6e10 FLOP."
    better = toy / "entries/toy-level/better.yaml"
    better.write_text(better.read_text().replace("epochs_to_target: 10", "epochs_to_target: 5"))
    ds = validate(toy)
    result = analyze(ds)
    assert render(ds.level("toy-level").narrative or "", result.level("toy-level"), result).startswith(
        "Base net to Better net: 8.0x"
    )


@pytest.mark.parametrize(
    "placeholder", ["{nonsense}", "{compute:nobody}", "{ratio:base:nobody}", "{trend_of:no-level}"]
)
def test_unknown_placeholders_are_refused_by_validate(toy: Path, placeholder: str) -> None:
    _narrate(toy, f"Look: {placeholder}.")
    (diag,) = validate(toy).diagnostics
    assert diag.code == "E044" and placeholder in diag.message


def test_a_figure_the_data_cannot_give_fails_the_build_cleanly(toy: Path) -> None:
    _narrate(toy, "Tokens: {tokens:better}.")  # an image level states no tokens
    (toy / "README.md").write_text(
        hostile_corpus.README.replace(
            "<!-- leaderboards start", "<!-- narrative start -->\n<!-- narrative end -->\n\n<!-- leaderboards start"
        )
    )
    (toy / "CITATION.cff").write_text(hostile_corpus.CITATION)
    proc = run("build", cwd=toy)
    assert proc.returncode == 1 and "better states no tokens" in proc.stderr
    with pytest.raises(NarrativeError):
        ds = validate(toy)
        result = analyze(ds)
        render(ds.level("toy-level").narrative or "", result.level("toy-level"), result)


def test_the_readme_narrative_is_generated_and_holds_only_generated_figures() -> None:
    """Every level with prose in the README's narrative region has a narrative in its benchmark.yaml, and
    the region is exactly what the build writes (no hand edit can add a figure)."""
    readme = (ROOT / "README.md").read_text()
    region = re.search(r"<!-- narrative start -->(.*?)<!-- narrative end -->", readme, re.S)
    assert region is not None
    ds = validate(ROOT)
    with_text = {k for k in ds.benchmarks if ds.level(k).narrative}
    assert len(with_text) >= 4
    for k in with_text:
        assert typed_numbers(ds.level(k).narrative or "") == [], k
    from aieff.publish.tables import narratives
    from aieff.verify import record

    shown = record.shown(record.load(ROOT / record.RECORD_PATH), ds)
    result = analyze(ds, reestimated=record.published_compute(shown))
    expected = narratives(result, {k: ds.level(k).narrative or "" for k in with_text})
    assert region.group(0) == expected
