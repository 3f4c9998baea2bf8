"""Behaviours a mutation review found unguarded: each test here fails when its rule is broken by a small
change (>= to >, a guard removed, a factor dropped), not only when a snapshot changes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

import hostile_corpus
from aieff.analysis.analyze import derive
from aieff.dataset.validate import validate
from aieff.escape import csv_cell
from aieff.publish.export import to_csv
from aieff.repo import NotReached
from aieff.units import flop_to_pfs_days, to_flop
from aieff.verify.logs import Eval, first_reaching
from conftest import run


def _level(toy: Path, **change: object):
    return validate(toy).level("toy-level").model_copy(update=change)


@pytest.mark.parametrize(
    ("direction", "unit", "threshold", "values", "first"),
    [
        ("higher", "percent", 90.0, [85.0, 90.0, 95.0], 1),  # exactly at the threshold reaches it
        ("higher", "fraction", 0.759, [0.75, 0.759, 0.76], 1),
        ("lower", "loss", 3.28, [3.4, 3.28, 3.2], 1),
        ("higher", "percent", 90.0, [85.0, 89.999, 90.001], 2),  # just short does not
        ("lower", "loss", 3.28, [3.4, 3.2800001, 3.2799999], 2),
    ],
)
def test_the_first_evaluation_at_or_beyond_the_threshold_reaches_the_level(
    toy: Path, direction: str, unit: str, threshold: float, values: list[float], first: int
) -> None:
    level = _level(toy, direction=direction, threshold=threshold)
    level = level.model_copy(update={"metric": level.metric.model_copy(update={"unit": unit})})
    evals = [Eval(line=i + 1, value=v, epochs=float(i + 1)) for i, v in enumerate(values)]
    reached = first_reaching(evals, level)
    assert reached.eval is evals[first]


def test_a_log_that_stops_short_of_the_threshold_does_not_reach_it(toy: Path) -> None:
    level = _level(toy, direction="lower", threshold=3.28)
    with pytest.raises(NotReached, match="never reaches the level"):
        first_reaching([Eval(line=1, value=3.2800001, steps=10)], level)


@pytest.mark.parametrize("text", ['=HYPERLINK("https://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_a_csv_cell_a_spreadsheet_would_run_is_neutralised(text: str) -> None:
    assert csv_cell(text) == "'" + text
    if "\r" in text:
        return  # a bare CR never reaches a cell (E003 refuses it in every text field); csv would split it
    out = to_csv([{"id": "x", "model": text}], {"id": ("string", ""), "model": ("string", "")})
    (row,) = list(csv.DictReader(io.StringIO(out, newline="")))
    assert row["model"] == "'" + text


def test_plain_cells_are_left_alone() -> None:
    for text in ("ResNet-50", "a=b", "", "x-1"):
        assert csv_cell(text) == text


def test_the_built_csv_neutralises_a_formula_in_a_model_name(toy: Path) -> None:
    better = toy / "entries/toy-level/better.yaml"
    better.write_text(better.read_text().replace('model: "Better net"', "model: \"=cmd|' /C calc'!A0\""))
    (toy / "README.md").write_text(hostile_corpus.README)
    (toy / "CITATION.cff").write_text(hostile_corpus.CITATION)
    assert run("build", cwd=toy).returncode == 0
    rows = list(csv.DictReader((toy / "exports/aieff.csv").open()))
    assert {r["model"] for r in rows} == {"Base net", "'=cmd|' /C calc'!A0"}


def test_a_relative_total_is_rescaled_by_the_referenced_runs_fraction(toy: Path) -> None:
    """B's whole run is A's whole run / fewer_by, and A's whole run is A's compute to the level / A's
    fraction of its run: with A at half its run, dropping that factor would halve B."""
    base = toy / "entries/toy-level/base.yaml"
    text = base.read_text()
    head = text.split("claims:")[0]
    base.write_text(
        head
        + """training:
  total_run_compute:
    value: 100
    unit: petaflop/s-days
    source:
      title: "Base net paper"
      url: https://arxiv.org/abs/1503.00001
      locator: "Table 2"
  fraction_of_run_to_target: 0.5
"""
    )
    better = toy / "entries/toy-level/better.yaml"
    head = better.read_text().split("claims:")[0]
    better.write_text(
        head
        + """training:
  total_run_compute:
    relative_to: base
    fewer_by: 4
    source:
      title: "Better net paper"
      url: https://arxiv.org/abs/1807.00002
      locator: "Table 2"
  steps_to_target: 300
  total_steps: 1000
"""
    )
    ds = validate(toy)
    assert ds.diagnostics == []
    entries = ds.all_entries()
    level = ds.level("toy-level")
    a = derive(entries["base"], level, entries)
    b = derive(entries["better"], level, entries)
    assert a is not None and b is not None
    whole = to_flop(100, "petaflop/s-days")
    assert a.flop == pytest.approx(whole * 0.5)
    assert b.flop == pytest.approx(whole / 4 * 0.3)  # A's whole run, not A's half, divided by 4
    assert flop_to_pfs_days(b.flop) == pytest.approx(7.5)


@pytest.mark.parametrize("fewer_by", ["5", "6"])
def test_a_run_compute_with_a_third_field_is_refused_whatever_its_value(toy: Path, fewer_by: str) -> None:
    """value and unit, or relative_to and fewer_by: a third field is refused even when it repeats a value
    (the check once counted distinct values, so value 5 with fewer_by 5 passed)."""
    better = toy / "entries/toy-level/better.yaml"
    head = better.read_text().split("claims:")[0]
    better.write_text(
        head
        + f"""training:
  total_run_compute:
    value: 5
    unit: petaflop/s-days
    fewer_by: {fewer_by}
    source:
      title: "Better net paper"
      url: https://arxiv.org/abs/1807.00002
      locator: "Table 2"
"""
    )
    codes = {(d.code, d.field) for d in validate(toy).diagnostics}
    assert ("E013", "training.total_run_compute") in codes


def test_a_tracker_row_without_the_tracker_claim_is_refused_not_a_crash(toy: Path) -> None:
    better = toy / "entries/toy-level/better.yaml"
    better.write_text(
        better.read_text()
        + """tracker_row:
  row: 1
  metric: "Toy"
  publication: "Better net"
  date: 2018-07-09
  link: https://arxiv.org/abs/1807.00002
  analysis: "none"
"""
    )
    (diag,) = validate(toy).diagnostics
    assert diag.code == "E013" and "tracker_row needs the claim it continues" in diag.message
    (toy / "README.md").write_text(hostile_corpus.README)
    (toy / "CITATION.cff").write_text(hostile_corpus.CITATION)
    proc = run("build", cwd=toy)
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr


def test_validate_json_still_parses_under_github_actions(toy: Path, tmp_path: Path) -> None:
    import json

    better = toy / "entries/toy-level/better.yaml"
    better.write_text(better.read_text().replace("epochs_to_target: 10", "epochs_to_target: -1"))
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    proc = run("validate", "--format", "json", cwd=toy, env=env)
    assert proc.returncode == 1
    (diag,) = json.loads(proc.stdout)["errors"]  # the annotations went to stderr
    assert diag["code"] == "E013" and "::error file=entries/toy-level/better.yaml" in proc.stderr
