"""Fixtures decide the expectation by folder: valid/ must be clean, invalid/<CODE>/ must raise CODE."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from aieff.analysis.plausibility import warnings_for
from aieff.dataset.diagnostics import CODES
from aieff.dataset.validate import validate
from conftest import FIXTURES, TOY, run

INVALID = sorted(p for p in (FIXTURES / "invalid").glob("*/*") if p.is_dir())


def _materialise(case: Path, dest: Path) -> dict:
    shutil.copytree(TOY, dest)
    for src in sorted((case / "overlay").rglob("*")):
        if src.is_file():
            target = dest / src.relative_to(case / "overlay")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
    expect = json.loads((case / "expect.json").read_text())
    for old, new in expect.get("rename", {}).items():  # names a checkout cannot hold (\udcff: byte 0xff)
        (dest / old).rename(dest / new)
    if "pad_to_bytes" in expect:
        target = dest / expect["path"]
        data = target.read_bytes()
        target.write_bytes(data + b"#" * (expect["pad_to_bytes"] - len(data)))
    return expect


def test_valid_toy_is_clean() -> None:
    ds = validate(TOY)
    assert ds.diagnostics == []
    assert sorted(ds.entries) == ["base", "better"]


@pytest.mark.parametrize("case", INVALID, ids=[f"{p.parent.name}-{p.name}" for p in INVALID])
def test_invalid_fixture_raises_its_code_at_its_place(case: Path, tmp_path: Path) -> None:
    expect = _materialise(case, tmp_path / "repo")
    assert case.parent.name == expect["code"]
    ds = validate(tmp_path / "repo")
    diags = ds.diagnostics + warnings_for(ds)
    assert diags, "fixture produced no error"
    assert {d.code for d in diags} == {expect["code"]}, [d.text() for d in diags]
    first = diags[0]
    assert (first.path, first.line, first.col) == (expect["path"], expect["line"], expect["col"]), first.text()


def test_every_code_has_a_fixture() -> None:
    assert {p.parent.name for p in INVALID} == set(CODES)


def test_cli_reports_each_error_on_one_line_and_exits_1(tmp_path: Path) -> None:
    _materialise(FIXTURES / "invalid" / "E010" / "unknown-field", tmp_path / "repo")
    proc = run("validate", cwd=tmp_path / "repo")
    assert proc.returncode == 1
    assert (
        proc.stdout == "entries/toy-level/better.yaml:5:1: E010 reduction_factor: unknown field (not in the schema)\n"
    )
    assert "Traceback" not in proc.stderr


def test_cli_collects_errors_from_every_file(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _materialise(FIXTURES / "invalid" / "E014" / "us-date", repo)
    (repo / "entries/toy-level/extra.yaml").write_text("id: [\n")
    proc = run("validate", "--format", "json", cwd=repo)
    assert proc.returncode == 1
    codes = sorted(e["code"] for e in json.loads(proc.stdout)["errors"])
    assert codes == ["E001", "E014", "E015"]
