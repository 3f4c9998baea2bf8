"""Every attack in the hostile corpus ends in its coded error or a safe output: no traceback, hang or false pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostile_corpus import CASES, run_case


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_case_is_refused_cleanly(case, tmp_path: Path) -> None:
    if case.needs_torch:
        pytest.importorskip("torch")
    outcome, detail = run_case(case, tmp_path)
    assert outcome == "coded", detail
