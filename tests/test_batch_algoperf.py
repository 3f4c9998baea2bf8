"""The algoperf-submission batch reader: the batch per step an AlgoPerf submission's get_batch_size returns for
the level's workload, read from the entry's pinned batch_source with ast (never run); the verdict is bound to
the source's sha256 like a log's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import hostile_cases_algoperf as algo
from aieff.verify import batch, record
from aieff.verify.record import Record, Status, Verdict, judge_inputs, shown
from conftest import run

# get_batch_size in the shapes real submissions write it (v0.5: the if/elif chain, two indents, annotations).
BASELINE = algo.submission().decode()
SHAMPOO = '''
def get_batch_size(workload_name: str) -> int:
    """Global batch size."""
    if workload_name == 'criteo1tb':
        return 262_144
        # return 524_288
    elif workload_name == 'wmt':
        return 128
    else:
        raise ValueError(f'Unsupported workload name: {workload_name}.')
'''
DICT = "def get_batch_size(workload_name):\n  return {'criteo1tb': 262_144, 'wmt': 128, 'ogbg': 512}[workload_name]\n"
NAMED_DICT = "def get_batch_size(name):\n  sizes = {'wmt': 64 * 2, 'fastmri': 32}\n  return sizes[name]\n"
IN_TUPLE = "def get_batch_size(w):\n  if w in ('wmt', 'wmt_transformer'):\n    return 128\n  return 32\n"


@pytest.mark.parametrize("source", [BASELINE, SHAMPOO, DICT, NAMED_DICT, IN_TUPLE], ids=lambda s: s[:24])
def test_the_batch_is_read_from_every_real_shape(source: str) -> None:
    got = batch.from_json(batch.read_source(source, "algoperf-submission", "wmt"))
    assert isinstance(got, batch.Reading)
    assert (got.unit, got.phases, got.sequence_length) == ("samples", ((0, 128),), None)
    assert "get_batch_size('wmt') returns 128" in got.notes[0]


@pytest.mark.parametrize(
    ("source", "code", "why"),
    [
        (algo.submission(wmt="128 * jax.device_count()").decode(), "A472", "not evaluated"),
        (algo.submission(wmt="2 ** 7").decode(), "A472", "not evaluated"),
        ("SIZES = {'wmt': 128}\ndef get_batch_size(w):\n  return SIZES[w]\n", "A471", "not a dict literal"),
        ("def get_batch_size(w):\n  if w == 'wmt':\n    n = 128\n    return n\n", "A471", "does more than return"),
        ("def get_batch_size(w):\n  if jax.process_index() == 0:\n    return 1\n", "A471", "a test other than"),
        ("def get_batch_size(w):\n  if w == 'ogbg':\n    return 512\n  return 128\n", "A471", "no branch for 'wmt'"),
        (algo.submission().decode() * 2, "A471", "2 times"),
        ("def get_batch_size(w):\n  return {'wmt': 128, 'wmt': 64}[w]\n", "A471", "2 times, not once"),
        ("def get_batch_size(*w):\n  return 128\n", "A471", "the one argument"),
        ("def get_batch_size(w)\n  return 128\n", "A471", "could not be read: SyntaxError"),
    ],
    ids=[
        "device-count",
        "power",
        "global-table",
        "assigns",
        "other-test",
        "no-branch",
        "twice",
        "dup-key",
        "varargs",
        "syntax",
    ],
)
def test_a_batch_that_is_not_a_literal_for_the_workload_is_unread(source: str, code: str, why: str) -> None:
    got = batch.from_json(batch.read_source(source, "algoperf-submission", "wmt"))
    assert isinstance(got, batch.BatchUnverified)
    assert got.refusal.code == code and why in got.refusal.detail, got.refusal.detail


def test_the_source_is_parsed_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    payload = f"__import__('os').system('touch {marker}')"
    source = algo.submission(prelude=payload) + f"\n{payload}\nget_batch_size = lambda w: {payload}\n".encode()
    got = batch.from_json(batch.read_source(source.decode(), "algoperf-submission", "wmt"))
    assert isinstance(got, batch.Reading) and got.phases == ((0, 128),)  # the one def is read; nothing ran
    assert not marker.exists()


def _repo(tmp_path: Path, samples_per_step: int, source: bytes | None) -> tuple[Path, list[str], dict[str, str]]:
    from hostile_corpus import MARKER_ENV, prepare

    os.environ[MARKER_ENV] = str(tmp_path / "payload-ran")
    repo = prepare(tmp_path)
    args = algo._entry(repo, samples_per_step, source)
    return repo, args, {"AIEFF_CACHE": str(tmp_path / "cache")}


def test_an_entry_whose_batch_the_source_gives_verifies(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    repo, args, env = _repo(tmp_path, 128, algo.submission())
    r = run(*args, cwd=repo, env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and ": verified" in out, out[-600:]
    assert "samples per step 128, as the entry states: read from the entry's batch_source" in out


def test_an_edited_source_under_the_old_pin_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    repo, args, env = _repo(tmp_path, 128, algo.submission())
    (repo / "entries/toy-level/submission.py").write_bytes(algo.submission(wmt="256"))
    r = run(*args, cwd=repo, env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 1 and "sha256 mismatch" in out and ": verified" not in out, out[-600:]


def test_the_verdict_is_bound_to_the_batch_source(tmp_path: Path) -> None:
    """Re-pinning another submission.py (its bytes edited, its sha256 updated) voids the recorded verdict."""
    from aieff.dataset.validate import validate
    from hostile_corpus import sha

    pytest.importorskip("torch")
    repo, _, _ = _repo(tmp_path, 128, algo.submission())
    ds = validate(repo)
    entry = ds.all_entries()["better"]
    judged = judge_inputs(entry, ds.level(entry.benchmark), ds.all_entries())
    verdict = Verdict(
        level="toy-level", status="verified", judged=judged, compute_flop=3 * 2 * 15 * 12_800.0, date="2026-11-26"
    )
    path = repo / record.RECORD_PATH
    path.parent.mkdir(exist_ok=True)
    record.write(path, Record(entries={"better": verdict}))
    assert shown(record.load(path), validate(repo))["better"].status == Status.VERIFIED
    edited = algo.submission(wmt="64")
    (repo / "entries/toy-level/submission.py").write_bytes(edited)
    f = repo / "entries/toy-level/better.yaml"
    f.write_text(f.read_text().replace(sha(algo.submission()), sha(edited)))
    got = shown(record.load(path), validate(repo))["better"]
    assert got.status == Status.PENDING and got.compute_flop is None
    assert got.label == "pending (the entry changed since the verdict of 2026-11-26)"
