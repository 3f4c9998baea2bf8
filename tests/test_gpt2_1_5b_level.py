"""The GPT-2 (1.5B) CORE level: nanochat's models counted as their shapes say, and each row's steps as base_train
derives them from its launch command."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import pytest

from conftest import run_script

torch = pytest.importorskip("torch")

from aieff.dataset.validate import validate  # noqa: E402
from aieff.verify.flops import count_forward, example_input, load_export  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LEVEL = ROOT / "entries" / "gpt2-1-5b-core"
VOCAB, LENGTH = 32768, 2048


def _script():
    spec = importlib.util.spec_from_file_location("make_exports", LEVEL / "exports" / "make_exports.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def by_hand(depth: int, width: int, short_keys: int) -> int:
    """Multiply-adds of one 2,048-token sequence: 12 d^2 per layer and token, the LM head, and the attention
    products (2 d per query-key pair) of the long layers (every 4th and the last: L(L+1)/2 pairs) and of the short
    ones (`short_keys` keys per query)."""
    long_layers = sum(1 for i in range(depth) if i % 4 == 3 or i == depth - 1)
    pairs = long_layers * LENGTH * (LENGTH + 1) // 2 + (depth - long_layers) * LENGTH * short_keys
    return LENGTH * (12 * width * width * depth + width * VOCAB) + 2 * width * pairs


def test_every_export_counts_as_by_hand_and_as_its_entries_say() -> None:
    models = _script().MODELS
    keys = {1024: 769, 768: 625, 512: 449}  # mean of min(i + 1, W + 1) over 2,048 positions, rounded
    entries = [e for e in validate(ROOT, jobs=1).all_entries().values() if e.benchmark == LEVEL.name]
    assert len(entries) == 6
    assert {Path(e.artifacts.architecture.export.path).name for e in entries} == set(models)
    for name, (depth, width, short) in models.items():
        path = LEVEL / "exports" / name
        count = count_forward(
            load_export(path, every_weight_used=True), example_input("tokens", sequence_length=LENGTH)
        )
        assert not count.unsupported, count.notes
        assert count.multiply_adds == by_hand(depth, width, keys[short])
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        for e in entries:
            if Path(e.artifacts.architecture.export.path).name == name:
                assert e.artifacts.architecture.export.sha256 == digest, e.id
                assert e.training.forward_cost.value == count.multiply_adds, e.id


def test_the_steps_are_base_trains_from_the_launch_commands() -> None:
    """num_iterations = int(ratio x (transformer matrices + LM head)) // batch tokens: it reproduces the steps
    the leaderboard states for rows 1-3, and gives rows 4-6 the steps their entries use."""

    def scaling(
        depth: int, width: int, gate: int
    ) -> int:  # value-embedding gates (gate channels x heads) on half the layers
        return 12 * width * width * depth + depth // 2 * gate * (width // 128) + width * VOCAB

    rows = {  # entry id: (depth, width, gate channels at its commit, ratio, batch tokens, stated steps)
        "nanochat-run1-d24": (24, 1536, 32, 12, 524288, 16704),
        "nanochat-run2-d26-fp8": (26, 1664, 32, 8.5, 524288, 14889),
        "nanochat-run3-d26-batch-1m": (26, 1664, 32, 8.25, 1048576, 7226),
        "nanochat-run4-climbmix": (24, 1536, 32, 9.5, 1048576, None),
        "nanochat-run5-autoresearch-1": (24, 1536, 12, 8.7, 1048576, None),
        "nanochat-run6-autoresearch-2": (24, 1536, 12, 8, 1048576, None),
    }
    entries = validate(ROOT, jobs=1).all_entries()
    for eid, (depth, width, gate, ratio, batch, stated) in rows.items():
        steps = int(ratio * scaling(depth, width, gate)) // batch
        assert stated is None or steps == stated, eid
        assert entries[eid].training.steps_to_target == steps, eid
        assert entries[eid].training.samples_per_step * LENGTH == batch, eid
    assert scaling(24, 1536, 32) * 12 // 524288 == 16704


def test_the_script_writes_the_committed_bytes(tmp_path: Path) -> None:
    name = "nanochat_d24_w512.pt2"
    run_script(LEVEL / "exports" / "make_exports.py", "--out", str(tmp_path), name)
    assert (tmp_path / name).read_bytes() == (LEVEL / "exports" / name).read_bytes()
