"""The CIFAR-10 level's exports: pinned, written by their script, and counted as the entries say."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from conftest import run_script

torch = pytest.importorskip("torch")

from aieff.dataset.validate import validate  # noqa: E402
from aieff.verify.flops import count_forward, example_input, load_export  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LEVEL = ROOT / "entries" / "cifar10-94"


def _count(path: Path, side: int) -> float:
    model = load_export(path, every_weight_used=True)  # and every weight passes the rule a checkpoint needs
    count = count_forward(model, example_input("image", resolution=side), grad=False)
    assert not count.unsupported, count.notes
    return count.multiply_adds


def test_every_entry_pins_its_export_and_states_its_count() -> None:
    level = [e for e in validate(ROOT, jobs=1).all_entries().values() if e.benchmark == "cifar10-94"]
    entries = [e for e in level if e.artifacts and e.artifacts.architecture]
    assert len(level) >= 34 and len(entries) >= 30  # the rest are hardware-time claims without a network
    counted: dict[tuple[str, int], float] = {}
    for e in entries:
        ref, fc = e.artifacts.architecture.export, e.training.forward_cost
        path = ROOT / ref.path
        assert ref.sha256 == hashlib.sha256(path.read_bytes()).hexdigest(), e.id
        key = (ref.path, fc.resolution)
        if key not in counted:  # each export counted once per resolution, however many entries share it
            counted[key] = _count(path, fc.resolution)
        assert fc.value == pytest.approx(counted[key], rel=1e-9), e.id
    assert len(counted) == len({p.name for p in (LEVEL / "exports").glob("*.pt2")})  # and every export is used


def test_page_resnet9_counts_as_by_hand() -> None:
    # prep 3->64 at 32 px, then 64->128 (32 px), 2 x 128->128 (16), 128->256 (16), 256->512 (8), 2 x 512->512 (4)
    by_hand = 9 * (32 * 32 * 3 * 64 + 32 * 32 * 64 * 128 + 2 * 16 * 16 * 128 * 128 + 16 * 16 * 128 * 256)
    by_hand += 9 * (8 * 8 * 256 * 512 + 2 * 4 * 4 * 512 * 512) + 512 * 10
    assert by_hand == 379_261_952
    assert _count(LEVEL / "exports" / "page_resnet9.pt2", 32) == by_hand


def test_the_script_writes_the_committed_bytes(tmp_path: Path) -> None:
    name = "kakao_resnet9.pt2"
    script = LEVEL / "exports" / "make_exports.py"
    run_script(script, "--out", str(tmp_path), name)
    assert (tmp_path / name).read_bytes() == (LEVEL / "exports" / name).read_bytes()
