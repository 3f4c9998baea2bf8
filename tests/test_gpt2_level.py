"""The GPT-2 level's exports: pinned, written by their script, and counted as the level's per-token formula says."""

from __future__ import annotations

import hashlib
import importlib.util
import math
from collections.abc import Callable
from functools import cache
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
        elif isinstance(w, tuple) and w[0] == "keys":
            keys = w[1]  # ("keys", K): the mean keys per query the record's mask keeps
        else:
            raise AssertionError(f"one convention: a window is 'causal' or ('keys', K), not {w!r}")
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
    name = "nanogpt_r20_flex.pt2"
    script = LEVEL / "exports" / "make_exports.py"
    run_script(script, "--out", str(tmp_path), name)
    assert (tmp_path / name).read_bytes() == (LEVEL / "exports" / name).read_bytes()


def test_the_formula_sees_a_window_and_a_missing_layer() -> None:
    dense = per_token_formula(50304, ["causal"] * 12, 1024)
    assert dense == 133_014_528  # GPT-2 small at 1,024 tokens, counted by hand in the level's rules
    seven, six = [("keys", 896)] * 12, [("keys", 768)] * 12
    assert per_token_formula(50304, seven, 65536) - per_token_formula(50304, six, 65536) == 12 * 2 * D * 128
    assert per_token_formula(50304, seven[:11] + [None], 65536) < per_token_formula(50304, seven, 65536)
    with pytest.raises(AssertionError, match="one convention"):
        per_token_formula(50304, [7] * 12, 65536)  # a number of whole blocks is not a window any more
    keyed = per_token_formula(50304, [("keys", 400)] * 12, 2048, [False] + [True] * 11)
    assert keyed == per_token_formula(50304, [("keys", 400)] * 12, 2048) - 8 * D * D


# One attention convention (issue 19): the pairs the record's attention mask keeps, per query, averaged over the
# sequence and over the steps to the level. Below, the masks of the FlexAttention records (12-28) as their
# scripts build them, counted two ways: a brute force over every (query, key) pair of a short sequence, and the
# closed forms per position that give each record's mean over 65,536 or 49,152 tokens.
BLOCK = 128  # FlexAttention's block size in every record that uses it


def kept_by_tokens(length: int, window: int) -> torch.Tensor:
    """Records 12-14: mask_mod q - k < window and causal, blocks built from it: min(p + 1, window) keys."""
    return torch.clamp(torch.arange(length) + 1, max=window)


def kept_by_tokens_in_blocks(length: int, window: int) -> torch.Tensor:
    """Record 15: the token window inside a block mask of the ceil(window / 128) blocks ending with the query's."""
    p = torch.arange(length)
    low = torch.maximum(p - window + 1, BLOCK * (p // BLOCK - math.ceil(window / BLOCK) + 1)).clamp(min=0)
    return p - low + 1


def kept_by_blocks(length: int, blocks: int) -> torch.Tensor:
    """Records 16-28: the blocks - 1 whole blocks before the query's and the causal part of its own (0 blocks: its
    own, as 1)."""
    p = torch.arange(length)
    return torch.clamp(p // BLOCK, max=max(blocks - 1, 0)) * BLOCK + p % BLOCK + 1


def _flex_kept(length: int, full: torch.Tensor, partial: torch.Tensor, mask_mod: Callable) -> torch.Tensor:
    """FlexAttention's rule, pair by pair: a full block keeps every pair, a partial one the pairs mask_mod keeps,
    a block not listed none (full and partial: query block x key block booleans)."""
    q, k = torch.arange(length)[:, None], torch.arange(length)[None, :]
    return (full[q // BLOCK, k // BLOCK] | partial[q // BLOCK, k // BLOCK] & mask_mod(q, k)).sum(-1)


def test_the_closed_forms_count_the_pairs_each_records_mask_keeps() -> None:
    length = 8 * BLOCK
    qb, kb = torch.arange(8)[:, None], torch.arange(8)[None, :]
    none, every = torch.zeros(8, 8, dtype=torch.bool), torch.ones(8, 8, dtype=torch.bool)
    for window in (64, 192, 256, 960):
        # records 12-14: create_block_mask from a token mask_mod (every block it touches listed, mask_mod applied)
        by_tokens = _flex_kept(length, none, every, lambda q, k, w=window: (q >= k) & (q - k < w))
        assert torch.equal(by_tokens, kept_by_tokens(length, window))
        # record 15: blocks within ceil(window / 128) of the query's, all partial, the token mask_mod applied
        listed = (qb >= kb) & (qb - kb < math.ceil(window / BLOCK))
        in_blocks = _flex_kept(length, none, listed, lambda q, k, w=window: (q >= k) & (q - k < w))
        assert torch.equal(in_blocks, kept_by_tokens_in_blocks(length, window))
        assert in_blocks.sum() <= by_tokens.sum()
    for blocks in (0, 1, 2, 3, 5, 8):
        kept = kept_by_blocks(length, blocks)
        if blocks:  # records 16-19 (windows of 1 block or more): the window in the block mask, the diagonal causal
            full = (qb > kb) & (qb - kb < blocks)
            assert torch.equal(_flex_kept(length, full, qb == kb, lambda q, k: q >= k), kept), blocks
        # records 20-28: every causal block listed, the nearest first, the full count clamped to blocks - 1 (at 0
        # blocks, -1: no full block) and the partial count to at least 1 (the diagonal)
        nearest = (qb > kb) & (qb - kb <= max(blocks - 1, 0))
        assert torch.equal(_flex_kept(length, nearest, qb == kb, lambda q, k: q >= k), kept), blocks
        # every key of each listed block is what the kernel computes, more than the mask keeps
        computed = BLOCK * ((qb >= kb) & (qb - kb < max(blocks, 1))).sum(-1).repeat_interleave(BLOCK)
        assert kept.sum() < computed.sum()


def _next_multiple_of_128(v: float) -> int:
    """next_multiple_of_n(v, n=128) from the records' scripts: the least multiple of 128 at or above v, at least 128."""
    return max(1, math.ceil(v / BLOCK)) * BLOCK


# Each FlexAttention record's entry: (its export, sequence length, steps to the level, its layers (L: long window,
# S: short, -: no attention), and per step s before the level's evaluation the (closed form, window) of its long
# layers and of its short ones, as the record's script sets them (N: the script's num_iterations).
def _tokens_13(n: int) -> Callable[[int], tuple]:
    """Records 13 and 14: 64 x ((s / N x (1792 - 64) + 64) // 64) tokens."""
    return lambda s: ((kept_by_tokens, int(64 * ((s / n * (1792 - 64) + 64) // 64))),) * 2


def _blocks_16(n: int) -> Callable[[int], tuple]:
    """Records 16 and 17: int(((1 - s / N) x 64 + s / N x 1792 + 64) // 128) blocks."""
    return lambda s: ((kept_by_blocks, int(((1 - s / n) * 64 + s / n * 1792 + 64) // 128)),) * 2


def _blocks_19(n: int) -> Callable[[int], tuple]:
    """Records 19-28: next_multiple_of_n(1728 x s / N, n=128) // 128 blocks, short windows half of them."""
    return lambda s: (
        (kept_by_blocks, _next_multiple_of_128(1728 * s / n) // BLOCK),
        (kept_by_blocks, _next_multiple_of_128(1728 * s / n) // BLOCK // 2),
    )


ALL, NO_ATTN_8, LONG_SHORT = "LLLLLLLLLLLL", "LLLLLLL-LLLL", "LSSSLSS-SSSL"
FLEX_RECORDS: dict[str, tuple[str, int, int, str, Callable[[int], tuple]]] = {
    "nanogpt-r12-flexattention": ("nanogpt_r12_flex.pt2", 65536, 1875, ALL, lambda s: ((kept_by_tokens, 1024),) * 2),
    "nanogpt-r13-window-warmup": ("nanogpt_r13_flex.pt2", 65536, 1750, ALL, _tokens_13(1750)),
    "nanogpt-r14-value-embeddings": ("nanogpt_r14_flex.pt2", 65536, 1500, ALL, _tokens_13(1530)),
    "nanogpt-r15-unet-value-embeddings": (
        "nanogpt_r15_flex.pt2",
        65536,
        1480,
        ALL,
        lambda s: ((kept_by_tokens_in_blocks, 64 * int((64 + (1792 - 64) * s / 1480) // 64)),) * 2,
    ),
    "nanogpt-r16-block-sliding-window": ("nanogpt_r16_flex.pt2", 65536, 1480, ALL, _blocks_16(1480)),
    "nanogpt-r17-sparse-value-embeddings": ("nanogpt_r17_flex.pt2", 65536, 1490, NO_ATTN_8, _blocks_16(1490)),
    "nanogpt-r18-softcap-15": (
        "nanogpt_r18_flex.pt2",
        65536,
        1375,
        NO_ATTN_8,
        lambda s: ((kept_by_blocks, int(((1 - s / 1390) * 128 + s / 1390 * 1856) // 128)),) * 2,
    ),
    "nanogpt-r19-fp8-head": ("nanogpt_r19_flex.pt2", 65536, 1395, NO_ATTN_8, _blocks_19(1395)),
    "nanogpt-r20-sub-3-minutes": ("nanogpt_r20_flex.pt2", 65536, 1393, LONG_SHORT, _blocks_19(1393)),
    **{
        f"nanogpt-r{name}": ("nanogpt_r21_flex_48k.pt2", 49152, steps, LONG_SHORT, _blocks_19(steps))
        for name, steps in [
            ("21-smaller-batch", 1770),
            ("22-faster-reduce", 1770),
            ("23-even-faster-reduce", 1770),
            ("24-noallreduce", 1770),
            ("25-upgrade-torch190", 1770),
            ("26-bos-align", 1750),
            ("27-triton-muon", 1750),
            ("28-sparse-attn-gate", 1695),
        ]
    },
}


@cache
def _mean_kept(form: Callable, window: int, length: int) -> float:
    return form(length, window).double().mean().item()


def _mean_over_steps(windows: Callable[[int], tuple], steps: int, length: int, layer: int) -> float:
    """Mean keys per query of the long (layer 0) or short (1) layers over steps 0 to steps - 1 (equal tokens each)."""
    return sum(_mean_kept(*windows(s)[layer], length) for s in range(steps)) / steps


def test_every_flexattention_export_counts_the_pairs_its_records_mask_keeps() -> None:
    """Records 12-28: each layer's K is the mean over the steps to the level of the keys per query the record's
    mask keeps, rounded to a whole key; a block-granular count (every key of each listed block) fails here."""
    models = _script().MODELS
    entries = {e.id: e for e in validate(ROOT, jobs=1).all_entries().values() if e.benchmark == "gpt2-fineweb-3-28"}
    flex = {i for i, e in entries.items() if e.training.forward_cost.sequence_length in (65536, 49152)}
    assert flex == set(FLEX_RECORDS), "every FlexAttention record is checked"
    for entry_id, (export, length, steps, layers, windows) in FLEX_RECORDS.items():
        entry = entries[entry_id]
        assert Path(entry.artifacts.architecture.export.path).name == export, entry_id
        assert entry.training.steps_to_target == steps, entry_id
        long, short = (_mean_over_steps(windows, steps, length, layer) for layer in (0, 1))
        keys = {"L": ("keys", round(long)), "S": ("keys", round(short)), "-": None}
        _vocab, _heads, exported, exported_length = models[export][:4]
        assert exported_length == length, entry_id
        assert exported == [keys[c] for c in layers], (entry_id, long, short)
        for mean in {long, short} if "S" in layers else {long}:
            assert f"{mean:,.2f}" in entry.notes, (entry_id, mean)  # the notes give the means the export rounds


def test_a_keys_window_counts_k_keys_per_query_and_whole_blocks_are_refused(tmp_path: Path) -> None:
    """The script's ("keys", K) attention on a short sequence: its graph's attention multiply-adds are the kept
    pairs of a 3-block window (272.5 per query over 1,024 tokens), to the rounding of K; an int window is refused."""
    script = _script()
    length, dim = 8 * BLOCK, 64
    kept = int(kept_by_blocks(length, 3).sum())
    counts = {}
    for name, window in (("none", None), ("keys", ("keys", round(kept / length)))):
        with torch.device("meta"):
            model = script.GPT(16, dim, 2, [window], 4 * dim, [False]).eval()
        path = script.save_graph_only(
            model, (torch.zeros(1, length, dtype=torch.long, device="meta"),), tmp_path / f"{name}.pt2"
        )
        counts[name] = count_forward(
            load_export(path), example_input("tokens", sequence_length=length), grad=False
        ).multiply_adds
    attention = counts["keys"] - counts["none"] - 4 * dim * dim * length  # the projections, then the products
    assert abs(attention / (2 * dim) - kept) <= length / 2
    with torch.device("meta"), pytest.raises(ValueError, match="keys"):
        script.GPT(16, dim, 2, [3], 4 * dim, [False])(torch.zeros(1, length, dtype=torch.long))
