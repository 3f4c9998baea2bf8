"""The DAWNBench levels' curation: every submission is a candidate, every entry is dated by the commit that
first published its run, and ResNets are counted as the variant their code ran (issue 19)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from aieff.dataset.schema import Entry
from aieff.dataset.validate import validate
from conftest import run_script

ROOT = Path(__file__).resolve().parents[1]
IMAGENET = ROOT / "entries" / "dawnbench-imagenet-93"
DAWN_COMMIT = re.compile(r"^https://github\.com/stanford-futuredata/dawn-bench-entries/commit/[0-9a-f]{40}$")


def _entries(level: str) -> list[Entry]:
    return [e for e in validate(ROOT, jobs=1).all_entries().values() if e.benchmark == level]


@pytest.mark.parametrize(("level", "folder_pairs"), [("dawnbench-imagenet-93", 27), ("cifar10-94", 31)])
def test_every_dawnbench_entry_is_its_own_candidate_dated_by_a_commit(level: str, folder_pairs: int) -> None:
    logs = {e.id: e.artifacts.logs() if e.artifacts else [] for e in _entries(level)}
    dawn = [e for e in _entries(level) if logs[e.id] and "dawn-bench-entries" in str(logs[e.id][0].url)]
    assert len(dawn) == folder_pairs  # one entry per JSON/TSV pair of the snapshot's <task>/train/ folder
    for e in dawn:
        sub = e.submission
        assert sub is not None and sub.run_choice == "only-run", e.id
        log = str(logs[e.id][0].url)
        assert sub.candidate == log.rsplit("/", 1)[1].removesuffix(".tsv") + ".json", e.id
        assert sub.dated_by is not None and DAWN_COMMIT.match(str(sub.dated_by.url)), e.id
        # the date is the commit's, as its locator states it; never the JSON's timestamp (that is source_date)
        assert f"committed {e.publication.date.isoformat()}" in sub.dated_by.locator, e.id


def _bottleneck_stage(side: int, c_in: int, planes: int, blocks: int, v1: bool) -> int:
    """Multiply-adds of one ResNet stage whose first block halves `side` (the input's side)."""
    out = side // 2
    first_1x1 = (out if v1 else side) ** 2 * c_in * planes  # v1 strides this 1x1; v1.5 runs it at full size
    first = first_1x1 + out**2 * 9 * planes * planes + out**2 * planes * 4 * planes + out**2 * c_in * 4 * planes
    rest = (blocks - 1) * (out**2 * 4 * planes * planes + out**2 * 9 * planes * planes + out**2 * planes * 4 * planes)
    return first + rest


def _resnet50_by_hand(v1: bool) -> int:
    stem = 112 * 112 * 7 * 7 * 3 * 64
    stage1 = 56 * 56 * (64 * 64 + 9 * 64 * 64 + 64 * 256 + 64 * 256) + 2 * 56 * 56 * (256 * 64 + 9 * 64 * 64 + 64 * 256)
    stages = sum(
        _bottleneck_stage(side, c_in, planes, blocks, v1)
        for side, c_in, planes, blocks in ((56, 256, 128, 4), (28, 512, 256, 6), (14, 1024, 512, 3))
    )
    return stem + stage1 + stages + 2048 * 1000 + 1000  # the classifier's bias counts as its adds


def test_resnet50_v1_export_counts_as_by_hand() -> None:
    torch = pytest.importorskip("torch")
    del torch
    from aieff.verify.flops import build_torchvision, count_forward, example_input, load_export

    v1, v15 = _resnet50_by_hand(True), _resnet50_by_hand(False)
    assert (v1, v15) == (3_857_974_248, 4_089_185_256)
    assert v15 - v1 == 3 * 77_070_336  # the first 1x1 of stages 2-4 at 4x the pixels
    export = load_export(IMAGENET / "exports" / "resnet50_v1.pt2")
    assert count_forward(export, example_input("image", resolution=224)).multiply_adds == v1
    torchvision = build_torchvision("resnet50", {})
    assert count_forward(torchvision, example_input("image", resolution=224)).multiply_adds == v15


def test_v1_entries_pin_the_exports_the_script_writes(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    name = "resnet50_v1.pt2"
    run_script(IMAGENET / "exports" / "make_exports.py", "--out", str(tmp_path), name)
    assert (tmp_path / name).read_bytes() == (IMAGENET / "exports" / name).read_bytes()
    pinned = {
        e.id: e.artifacts.architecture.export
        for e in _entries("dawnbench-imagenet-93")
        if e.artifacts and e.artifacts.architecture and e.artifacts.architecture.export
    }
    assert set(pinned) == {"huawei-resnet50-mxnet-128v100", "dawn-resnet152-tf-4m60"}
    for ref in pinned.values():
        assert ref.sha256 == hashlib.sha256((ROOT / ref.path).read_bytes()).hexdigest()
