"""The GPT-2 Medium level: complete over the track-2 table, llm.c's 350M run a reference that never reaches
2.92, each entry's runs read as its version says, and the exports pinned, written by their script and counted
as the level's per-token formula says, with the window means the record scripts' schedules give."""

from __future__ import annotations

import hashlib
import importlib.util
import math
import re
from functools import cache
from pathlib import Path

import pytest

from aieff.dataset.schema import Benchmark, Entry
from aieff.dataset.validate import validate
from conftest import run_script

ROOT = Path(__file__).resolve().parents[1]
LEVEL_ID = "gpt2-medium-fineweb-2-92"
LEVEL = ROOT / "entries" / LEVEL_ID
D, VOCAB = 1024, 50304


def _level() -> tuple[Benchmark, list[Entry]]:
    ds = validate(ROOT, jobs=1)
    return ds.level(LEVEL_ID), [e for e in ds.all_entries().values() if e.benchmark == LEVEL_ID]


def _script():
    spec = importlib.util.spec_from_file_location("make_medium_exports", LEVEL / "exports" / "make_exports.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def per_token_formula(keys: list[int | None]) -> int:
    """The level's rules: MLP layers x 8d^2 + sum over attention layers of (4d^2 + 2d x keys per query) + d x vocab."""
    return 8 * D * D * len(keys) + sum(4 * D * D + 2 * D * k for k in keys if k is not None) + D * VOCAB


def test_every_row_of_the_track_2_table_is_a_candidate_entered_once_or_not_entered_with_a_reason() -> None:
    level, entries = _level()
    assert level.policy is not None
    assert level.policy.candidates == [f"record {i}" for i in range(1, 19)]
    entered = [e.submission.candidate for e in entries if e.submission]
    assert len(entered) == len(set(entered)) == len(entries) == 16
    skipped = {n.candidate: n.reason for n in level.policy.not_entered}
    assert set(skipped) == {"record 1", "record 11"}
    assert set(entered) | set(skipped) == set(level.policy.candidates) and not set(entered) & set(skipped)
    assert skipped["record 11"].startswith("No public log")


def test_llmc_350m_is_a_reference_that_never_reaches_the_level_and_the_baseline_is_the_first_run_that_does() -> None:
    level, entries = _level()
    assert level.policy is not None and level.threshold == 2.92 and level.direction == "lower"
    reason = {n.candidate: n.reason for n in level.policy.not_entered}["record 1"]
    assert reason.startswith("No run of its submitted version reaches 2.92") and "llm.c" in reason
    losses = [float(v) for v in re.findall(r"\b2\.9\d{2,}\b", reason)]
    assert losses and min(losses) == 2.9281 and all(v > level.threshold for v in losses)  # best 2.9281, final 2.9282
    assert "llm.c" in level.rules and "2.9281" in level.rules and "not entered" in level.rules
    assert not any("llmc" in e.id or e.submission.candidate == "record 1" for e in entries)
    baseline = next(e for e in entries if e.id == level.baseline)
    assert baseline.submission.candidate == "record 2"
    assert baseline.publication.date == min(e.publication.date for e in entries)


def test_an_entry_is_the_record_its_name_says_and_reads_every_run_of_its_version() -> None:
    _, entries = _level()
    for e in entries:
        sub = e.submission
        assert sub is not None and e.artifacts is not None, e.id
        number = int(re.fullmatch(r"nanogpt-medium-r(\d+)-.*", e.id).group(1))
        assert e.model == f"modded-nanogpt medium #{number}" and sub.candidate == f"record {number}", e.id
        logs = e.artifacts.logs()
        urls = [str(log.url) for log in logs]
        assert all("/records/track_2_medium/" in u and "f411b3d346aa52d3504324ca93c230fd84c6c07f" in u for u in urls)
        if len(logs) > 1:
            assert sub.run_choice == "submitted-version" and sub.version, e.id
            assert all(f"/{sub.version}/" in u for u in urls), e.id
            assert "median over the version's" in e.training.source.locator, e.id
        else:
            assert sub.run_choice == "only-run", e.id
        assert sub.dated_by is not None and "/commit/" in str(sub.dated_by.url), e.id
    same = {e.id: e.same_recipe_as for e in entries if e.same_recipe_as}
    assert same == {"nanogpt-medium-r17-redundant-mask-op": "nanogpt-medium-r08-cubic-window-schedule"}


@cache
def _flex_keys(blocks: int) -> float:
    """Exact mean causal keys per query of a FlexAttention window of `blocks` 128-token blocks over 65,536 tokens."""
    n, count = max(blocks, 1), 65536 // 128
    return 64.5 + 128 * sum(min(q, n - 1) for q in range(count)) / count


def _next_multiple(v: float, n: int = 128) -> int:
    return max(n, math.ceil(v / n) * n)


def _flex_means(iterations: int, steps: int, cubic: bool) -> tuple[float, float]:
    """Records 2-17: mean keys per query of the long and short windows over steps 0 .. steps - 1."""
    long = short = 0.0
    for step in range(steps):
        x = step / iterations
        window = _next_multiple(3456 * (4 * x**3 - 6 * x**2 + 3 * x)) if cubic else _next_multiple(1728 * x)
        blocks = window // 128
        long, short = long + _flex_keys(blocks), short + _flex_keys(max(blocks // 2, 1))
    return long / steps, short / steps


def _r18_means(steps: int) -> tuple[float, float]:
    """Record 18: FlashAttention 3 windows inside 4,096-token sequences, weighted by each step's tokens."""
    windows, batches = (3, 7, 11, 13, 15, 17, 19, 21, 23, 23, 23, 23), (131072, 262144, 393216) + (524288,) * 9

    def keys(blocks: int) -> float:
        return sum(min(p + 1, blocks * 128 + 1) for p in range(4096)) / 4096

    total = long = short = 0.0
    for step in range(steps):
        i = int(12 * step / 4700)
        ws, tokens = (23, 524288) if step >= 4700 else (windows[i], batches[i])
        total += tokens
        long, short = long + tokens * keys(ws), short + tokens * keys(min(11, ws // 2))
    return long / total, short / total


# record: (the script's num_iterations, cubic window schedule) for the FlexAttention records
SCHEDULES = {2: (7500, False), 3: (7150, False), 4: (7050, False), 5: (6950, False), 6: (6710, False)}
SCHEDULES |= {7: (6450, False), 8: (5960, True), 9: (5820, True), 10: (5690, True), 12: (5640, True)}
SCHEDULES |= {13: (5610, True), 14: (5590, True), 15: (5550, True), 16: (5535, True), 17: (5960, True)}


def test_each_entrys_window_means_are_its_schedules_and_its_export_rounds_them() -> None:
    _, entries = _level()
    models = _script().MODELS
    for e in entries:
        number = int(e.id.split("-")[2][1:])
        steps = e.training.steps_to_target
        if number == 18:
            long, short = _r18_means(steps)
        else:
            iterations, cubic = SCHEDULES[number]
            long, short = _flex_means(iterations, steps, cubic)
        stated = re.search(r"long (\d+\.\d\d), short (\d+\.\d\d) \(export (\d+) and (\d+)\)", e.notes or "")
        assert stated, e.id
        assert (float(stated[1]), float(stated[2])) == (round(long, 2), round(short, 2)), e.id
        assert (int(stated[3]), int(stated[4])) == (round(long), round(short)), e.id
        keys, length = models[Path(e.artifacts.architecture.export.path).name]
        assert {k for k in keys if k is not None} == {round(long), round(short)}, e.id
        assert [k == round(long) for k in keys] == [i in (0, 4, 11, 15) for i in range(16)], e.id
        assert keys.count(None) == (0 if number == 18 else 1) and length == (4096 if number == 18 else 65536), e.id


def test_every_export_counts_as_the_formula_and_as_its_entries_say() -> None:
    pytest.importorskip("torch")
    from aieff.verify.flops import count_forward, example_input, load_export

    models = _script().MODELS
    _, entries = _level()
    used = {Path(e.artifacts.architecture.export.path).name for e in entries}
    assert used == set(models), "every export is used, and every entry's export is written by the script"
    for name, (keys, length) in models.items():
        path = LEVEL / "exports" / name
        model = load_export(path, every_weight_used=True)
        count = count_forward(model, example_input("tokens", sequence_length=length), grad=False)
        assert not count.unsupported, count.notes
        assert count.multiply_adds == per_token_formula(keys) * length
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        for e in entries:
            if Path(e.artifacts.architecture.export.path).name == name:
                assert e.artifacts.architecture.export.sha256 == digest, e.id
                assert e.training.forward_cost.sequence_length == length, e.id
                assert e.training.forward_cost.value == count.multiply_adds, e.id


def test_the_formula_by_hand_for_the_first_and_last_record() -> None:
    # record 2: 16 MLPs, 15 attention layers (none in layer 8), 4 long windows of 858 keys, 11 short of 376
    first = 16 * 8 * D * D + 15 * 4 * D * D + 2 * D * (4 * 858 + 11 * 376) + D * VOCAB
    assert first == per_token_formula(_script().MODELS["medium_flex_858_376.pt2"][0]) == 264_142_848
    # record 18: attention in all 16 layers, 4 long windows of 1,605 keys, 12 short of 935
    last = 16 * 8 * D * D + 16 * 4 * D * D + 2 * D * (4 * 1605 + 12 * 935) + D * VOCAB
    assert last == per_token_formula(_script().MODELS["medium_r18_varlen.pt2"][0]) == 288_964_608


def test_the_script_writes_the_committed_bytes(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    name = "medium_r18_varlen.pt2"
    run_script(LEVEL / "exports" / "make_exports.py", "--out", str(tmp_path), name)
    assert (tmp_path / name).read_bytes() == (LEVEL / "exports" / name).read_bytes()
