"""Re-verification that scales out: N shards of `estimate --all`, merged, give the record one run gives;
merging refuses overlaps and gaps; a second run with nothing changed takes its counts and readings from
the memo, without a sandbox job."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from aieff.verify import record
from conftest import run

pytest.importorskip("torch")

IDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"]


def _repo(toy: Path) -> Path:
    """The toy level with seven verifiable entries: a local DAWNBench log each, ResNet-18 at 32 px."""
    from aieff.verify.flops import build_torchvision, count_forward, example_input

    macs = count_forward(build_torchvision("resnet18", {}), example_input("image", resolution=32)).multiply_adds
    level = toy / "entries/toy-level"
    for f in level.glob("*.yaml"):
        if f.name != "benchmark.yaml":
            f.unlink()
    for i, entry_id in enumerate(IDS):
        epochs = 2 + i
        log = "epoch\thours\ttop1Accuracy\n" + "".join(
            f"{e}\t{e * 0.1:.1f}\t{85 if e < epochs else 91}\n" for e in range(1, epochs + 1)
        )
        (level / f"{entry_id}.tsv").write_text(log)
        sha = hashlib.sha256(log.encode()).hexdigest()
        (level / f"{entry_id}.yaml").write_text(
            f"""# yaml-language-server: $schema=../../schema/entry.schema.json
id: {entry_id}
benchmark: toy-level
model: "ResNet-18 run {entry_id}"
publication:
  title: "Run {entry_id}"
  authors: ["A. Author"]
  url: https://example.org/{entry_id}
  date: 2018-0{1 + i}-01
training:
  epochs_to_target: {epochs}
  forward_cost:
    value: {macs}
    unit: multiply-adds
    resolution: 32
artifacts:
  architecture:
    torchvision: resnet18
  training_log:
    path: entries/toy-level/{entry_id}.tsv
    sha256: {sha}
    format: dawnbench-tsv
    columns: {{metric: top1Accuracy}}
"""
        )
    bench = level / "benchmark.yaml"
    bench.write_text(bench.read_text().replace("baseline: base", "baseline: alpha"))
    assert run("validate", cwd=toy).returncode == 0, run("validate", cwd=toy).stdout
    return toy


def test_shards_merged_equal_one_run(toy: Path, tmp_path: Path) -> None:
    repo = _repo(toy)
    env = {"AIEFF_CACHE": str(tmp_path / "cache")}
    proc = run("estimate", "--all", "--record", "one.json", cwd=repo, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    one = (repo / "one.json").read_text()
    assert set(json.loads(one)["entries"]) == set(IDS)
    for n in (1, 3, 4):
        parts = []
        for k in range(1, n + 1):
            part = f"part-{k}-of-{n}.json"
            proc = run("estimate", "--all", "--shard", f"{k}/{n}", "--record", part, cwd=repo, env=env)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            doc = json.loads((repo / part).read_text())
            assert doc["shard"] == {"index": k, "count": n, "ids": sorted(doc["entries"])}
            parts.append(part)
        proc = run("record", "merge", *parts, "--out", f"merged-{n}.json", cwd=repo, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert (repo / f"merged-{n}.json").read_text() == one, n
    sizes = [len(json.loads((repo / f"part-{k}-of-4.json").read_text())["entries"]) for k in range(1, 5)]
    assert sum(sizes) == len(IDS) and max(sizes) < len(IDS)  # a real split


def test_jobs_give_the_output_and_record_of_one_at_a_time(toy: Path, tmp_path: Path) -> None:
    """--jobs N estimates N entries at a time (each worker in a sandbox helper of its own, both runs cold):
    the JSON output and the record are those of one at a time, in the same order."""
    repo = _repo(toy)
    out = {}
    for jobs in (1, 3):
        env = {"AIEFF_CACHE": str(tmp_path / f"cache-{jobs}")}
        args = ("estimate", "--all", "--format", "json", "--jobs", str(jobs), "--record", f"jobs-{jobs}.json")
        proc = run(*args, cwd=repo, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out[jobs] = proc.stdout
        assert [e["status"] for e in json.loads(proc.stdout)] == ["verified"] * len(IDS)
    assert [e["id"] for e in json.loads(out[3])] == sorted(IDS)
    assert out[3] == out[1]
    assert (repo / "jobs-3.json").read_text() == (repo / "jobs-1.json").read_text()


def test_jobs_stop_their_helpers(toy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The workers' sandbox helpers (slots 1..N) are stopped when the run ends: none is left running."""
    from aieff.dataset.validate import validate
    from aieff.verify import sandbox
    from aieff.verify.estimate import _estimate_all

    repo = _repo(toy)
    monkeypatch.setenv("AIEFF_CACHE", str(tmp_path / "cache"))
    ds = validate(repo)
    entries = [ds.all_entries()[i] for i in IDS]
    ests, protection = _estimate_all(repo, ds, entries, jobs=2)
    assert [e.status for e in ests] == ["verified"] * len(IDS), [e.messages for e in ests]
    assert protection
    assert not [key for key in sandbox._HELPERS if key[1] != 0]


def test_merge_refuses_overlaps_gaps_and_strangers(toy: Path, tmp_path: Path) -> None:
    repo = _repo(toy)
    env = {"AIEFF_CACHE": str(tmp_path / "cache")}
    for k in (1, 2):
        assert (
            run("estimate", "--all", "--shard", f"{k}/2", "--record", f"p{k}.json", cwd=repo, env=env).returncode == 0
        )
    proc = run("record", "merge", "p1.json", "p1.json", "--out", "m.json", cwd=repo)
    assert proc.returncode == 1 and "overlaps p1.json" in proc.stderr
    proc = run("record", "merge", "p1.json", "--out", "m.json", cwd=repo)
    assert proc.returncode == 1 and "shard(s) [2] of 2 missing" in proc.stderr
    doc = json.loads((repo / "p2.json").read_text())
    moved = next(i for i in doc["shard"]["ids"])
    doc["shard"]["ids"].remove(moved)
    doc["entries"].pop(moved)
    (repo / "p2b.json").write_text(json.dumps(doc))
    proc = run("record", "merge", "p1.json", "p2b.json", "--out", "m.json", cwd=repo)
    assert proc.returncode == 1 and "in no shard" in proc.stderr
    one = json.loads((repo / "p1.json").read_text())
    one["shard"] = None
    (repo / "whole.json").write_text(json.dumps(one))
    proc = run("record", "merge", "whole.json", "p2.json", "--out", "m.json", cwd=repo)
    assert proc.returncode == 1 and "not a partial record" in proc.stderr
    assert not (repo / "m.json").exists()
    assert run("estimate", "entries/toy-level/alpha.yaml", "--shard", "1/2", cwd=repo).returncode == 2
    assert run("estimate", "--all", "--shard", "3/2", cwd=repo).returncode == 2


def test_in_shard_is_a_stable_partition() -> None:
    ids = [f"entry-{i}" for i in range(1000)]
    for n in (1, 2, 7):
        owners = [[k for k in range(1, n + 1) if record.in_shard(i, k, n)] for i in ids]
        assert all(len(o) == 1 for o in owners)
    assert sum(record.in_shard(i, 1, 4) for i in ids) in range(200, 300)  # roughly even


def test_a_second_run_takes_counts_and_readings_from_the_memo(toy: Path, tmp_path: Path) -> None:
    repo = _repo(toy)
    env = {"AIEFF_CACHE": str(tmp_path / "cache")}
    first = run("estimate", "--all", "--format", "json", cwd=repo, env=env)
    memo = tmp_path / "cache" / "memo"
    kept = sorted(p.name for p in memo.rglob("*.json"))
    assert len(kept) == 2 * len(IDS) - len(IDS) + 1  # a reading per log, one count shared by all seven
    second = run("estimate", "--all", "--format", "json", cwd=repo, env=env)
    assert json.loads(second.stdout) == json.loads(first.stdout)
    assert "sandbox:" not in run("estimate", "--all", cwd=repo, env=env).stdout  # no job ran
    planted = next(memo.rglob("*.json"))
    doc = json.loads(planted.read_text())
    doc["key"] = "0" * 64  # a file whose key is not its name's is ignored, not trusted
    planted.write_text(json.dumps(doc))
    third = run("estimate", "--all", "--format", "json", cwd=repo, env=env)
    assert json.loads(third.stdout) == json.loads(first.stdout)


def test_the_entry_lookup_reads_as_every_entry_and_follows_the_dataset(toy: Path) -> None:
    """estimate looks entries up once per entry through a view, not a copy of the dataset (a copy each time made
    a warm 10,000-entry run spend 36 of its 61 s copying): the view must read exactly as all_entries does."""
    from aieff.dataset.docset import Doc
    from aieff.dataset.validate import validate

    ds = validate(_repo(toy))
    view = ds.entry_lookup()
    assert dict(view) == ds.all_entries() and len(view) == len(ds.all_entries()) == len(IDS)
    broken = Doc(ds.entries["alpha"].loaded, None)  # a file that did not validate has no entry
    ds.entries["alpha"] = broken
    assert "alpha" not in view and view.get("alpha") is None and "alpha" not in ds.all_entries()
    assert list(view) == list(ds.all_entries())
