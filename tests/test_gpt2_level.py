"""The GPT-2 level's exports: pinned, written by their script, and counted as the level's per-token formula says."""

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
LEVEL = ROOT / "entries" / "gpt2-fineweb-3-28"
D = 768


def _script():
    spec = importlib.util.spec_from_file_location("make_exports", LEVEL / "exports" / "make_exports.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def per_token_formula(vocab: int, windows: list, length: int, mlps: list[bool] | None = None) -> float:
    """The level's rules: MLP layers x 8d^2 + sum over attention layers of (4d^2 + 2d x keys per query) + d x vocab."""
    total = 8 * D * D * (len(windows) if mlps is None else sum(mlps)) + D * vocab
    for w in windows:
        if w is None:
            continue
        if w == "causal":
            keys = (length + 1) / 2  # dense causal: L(L+1)/2 pairs
        elif isinstance(w, tuple):
            keys = w[1]  # ("keys", K)
        else:
            keys = 128 * int(w)  # FlexAttention blocks
        total += 4 * D * D + 2 * D * keys
    return total


def test_every_export_counts_as_the_formula_and_as_its_entries_say() -> None:
    models = _script().MODELS
    entries = [e for e in validate(ROOT, jobs=1).all_entries().values() if e.benchmark == "gpt2-fineweb-3-28"]
    assert len(entries) >= 25
    used = {Path(e.artifacts.architecture.export.path).name for e in entries}
    assert used == set(models), "every export is used, and every entry's export is written by the script"
    for name, (vocab, _heads, windows, length, *mlps) in models.items():
        path = LEVEL / "exports" / name
        model = load_export(path, every_weight_used=True)  # every weight passes the rule a checkpoint needs
        count = count_forward(model, example_input("tokens", sequence_length=length), grad=False)
        assert not count.unsupported, count.notes
        assert count.multiply_adds == pytest.approx(per_token_formula(vocab, windows, length, *mlps) * length, rel=1e-9)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        for e in entries:
            if Path(e.artifacts.architecture.export.path).name == name:
                assert e.artifacts.architecture.export.sha256 == digest, e.id
                assert e.training.forward_cost.sequence_length == length, e.id
                assert e.training.forward_cost.value == pytest.approx(count.multiply_adds, rel=1e-9), e.id


def test_the_script_writes_the_committed_bytes(tmp_path: Path) -> None:
    name = "nanogpt_long7_short3_no_attn7.pt2"
    script = LEVEL / "exports" / "make_exports.py"
    run_script(script, "--out", str(tmp_path), name)
    assert (tmp_path / name).read_bytes() == (LEVEL / "exports" / name).read_bytes()


def test_the_formula_sees_a_window_and_a_missing_layer() -> None:
    dense = per_token_formula(50304, ["causal"] * 12, 1024)
    assert dense == 133_014_528  # GPT-2 small at 1,024 tokens, counted by hand in the level's rules
    assert per_token_formula(50304, [7] * 12, 65536) - per_token_formula(50304, [6] * 12, 65536) == 12 * 2 * D * 128
    assert per_token_formula(50304, [7] * 11 + [None], 65536) < per_token_formula(50304, [7] * 12, 65536)
    keyed = per_token_formula(50304, [("keys", 400)] * 12, 2048, [False] + [True] * 11)
    assert keyed == per_token_formula(50304, [("keys", 400)] * 12, 2048) - 8 * D * D
