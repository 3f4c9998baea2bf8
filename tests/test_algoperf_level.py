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
    (causal self-attention: the length (length + 1) / 2 query-key pairs the mask keeps; dense cross-attention;
    each 4 projections; MLP), then the tied logits. Attention is Q.K^T plus weights.V: 2 x pairs x d."""
    projections = 4 * d * d * length
    dense, causal = 2 * length * length * d, 2 * (length * (length + 1) // 2) * d
    mlp = 2 * d * hidden * length
    encoder = projections + dense + mlp
    decoder = (projections + causal) + (projections + dense) + mlp
    return layers * (encoder + decoder) + length * d * vocab


def test_the_export_counts_as_the_workload_shapes_say() -> None:
    assert by_hand() == 36_173_250_560  # 36,574,330,880 with the decoder's self-attention dense
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
        source = e.artifacts.batch_source  # the submission.py the level's batch reader reads the 128 from
        if lawa:
            assert source is None, e.id  # the 582 is no literal a reader reads: claimed (A471)
        else:
            assert source.url.endswith("/submission.py") and "/12c8e4ea93dc41a1ff6abc3debba9accd8ac1e3a/" in source.url


def test_the_script_writes_the_committed_bytes(tmp_path: Path) -> None:
    run_script(LEVEL / "exports" / "make_exports.py", "--out", str(tmp_path))
    assert (tmp_path / EXPORT.name).read_bytes() == EXPORT.read_bytes()


def test_a_study_s_run_is_the_trial_algoperf_s_scoring_takes() -> None:
    """AlgoPerf's get_best_trial_index: the earliest evaluation index at or above the target, ties to the first
    trial; not the fewest steps (a trial with fewer steps can reach the target at a later evaluation)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("algoperf_make_entries", LEVEL / "make_entries.py")
    make = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = make  # dataclasses look their module up
    spec.loader.exec_module(make)
    trials = [  # (trial, evaluation index reached, steps there)
        make.Trial("study_0", "trial_1", "", b"", steps=120_000, index=49),
        make.Trial("study_0", "trial_2", "", b"", steps=117_000, index=50),  # fewest steps, a later evaluation
        make.Trial("study_0", "trial_3", "", b"", steps=119_000, index=49),  # ties trial_1: the first wins
        make.Trial("study_1", "trial_1", "", b"", best=30.7),  # never reaches the target
        make.Trial("study_1", "trial_2", "", b"", steps=100_000, index=45),
    ]
    sub = make.Sub("baseline", trials=trials)
    assert [(t.study, t.trial) for t in sub.chosen()] == [("study_0", "trial_1"), ("study_1", "trial_2")]
