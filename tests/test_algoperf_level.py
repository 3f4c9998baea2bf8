"""The AlgoPerf v0.5 WMT level: one fixed model, counted as the workload's shapes say, pinned by every entry."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from conftest import run_script

torch = pytest.importorskip("torch")

from aieff.dataset.validate import validate  # noqa: E402
from aieff.verify.flops import count_forward, example_input, load_export  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LEVEL = ROOT / "entries" / "algoperf-v0-5-wmt"
EXPORT = LEVEL / "exports" / "algoperf_wmt_transformer.pt2"


def by_hand(d: int = 1024, hidden: int = 1024, vocab: int = 32000, layers: int = 6, length: int = 256) -> int:
    """Multiply-adds of one packed example: encoder layers (4 projections, dense attention, MLP), decoder layers
    (self- and cross-attention, each 4 projections and dense attention, MLP), then the tied logits."""
    attention = 4 * d * d * length + 2 * length * length * d
    mlp = 2 * d * hidden * length
    return layers * (attention + mlp) + layers * (2 * attention + mlp) + length * d * vocab


def test_the_export_counts_as_the_workload_shapes_say() -> None:
    assert by_hand() == 36_574_330_880
    count = count_forward(load_export(EXPORT, every_weight_used=True), example_input("tokens", sequence_length=512))
    assert not count.unsupported, count.notes
    assert count.multiply_adds == by_hand()


def test_every_entry_pins_the_export_and_one_run_per_study() -> None:
    entries = [e for e in validate(ROOT, jobs=1).all_entries().values() if e.benchmark == LEVEL.name]
    assert len(entries) == 10
    digest = hashlib.sha256(EXPORT.read_bytes()).hexdigest()
    for e in entries:
        assert e.artifacts.architecture.export.sha256 == digest, e.id
        assert (e.training.forward_cost.value, e.training.forward_cost.sequence_length) == (by_hand(), 512), e.id
        lawa = e.id.startswith("algoperf-v0-5-wmt-lawa-")  # 582 optimizer steps of 128 per logged global_step
        assert e.training.samples_per_step == (582 * 128 if lawa else 128), e.id
        studies = [
            re.search(r"/(study_\d)/wmt_(?:jax|pytorch)/trial_\d/", log.url).group(1) for log in e.artifacts.logs()
        ]
        assert studies == [f"study_{i}" for i in range(5)], e.id


def test_the_script_writes_the_committed_bytes(tmp_path: Path) -> None:
    run_script(LEVEL / "exports" / "make_exports.py", "--out", str(tmp_path))
    assert (tmp_path / EXPORT.name).read_bytes() == EXPORT.read_bytes()
