"""A contributor's path without reading the source (issue 20): what check re-estimates and why, offline
failures that say what happened, cache add --git-dir, probe, estimate on folders with the exact forward
cost, the model builders, and words that do not change from one place to the next."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, TOY, run

GIT_ENV = {
    "GIT_AUTHOR_NAME": "aieff tests",
    "GIT_AUTHOR_EMAIL": "tests@example.org",
    "GIT_COMMITTER_NAME": "aieff tests",
    "GIT_COMMITTER_EMAIL": "tests@example.org",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}
LOG = b"epoch\ttop1Accuracy\n1\t70\n2\t85\n3\t91\n4\t93\n"


def git(cwd: Path, *args: str) -> str:
    """Run git in cwd with a fixed identity and no user configuration; its stdout."""
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def source_repo(folder: Path, files: dict[str, bytes]) -> tuple[Path, str]:
    """A git work tree holding `files` in one commit (what a contributor clones or snapshots); (path, commit)."""
    folder.mkdir(parents=True)
    git(folder, "init", "-q", "-b", "main")
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "runs")
    return folder, git(folder, "rev-parse", "HEAD")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def runs_entry(logs: list[tuple[str, str]]) -> str:
    """An entry of the toy level whose runs' logs are pinned by these (url, sha256) pairs."""
    text = (TOY / "entries/toy-level/better.yaml").read_text()
    pinned = "".join(
        f'    - url: "{url}"\n      sha256: "{digest}"\n      format: dawnbench-tsv\n'
        "      columns: {metric: top1Accuracy}\n"
        for url, digest in logs
    )
    return text.replace("id: better", "id: runs") + f"artifacts:\n  training_logs:\n{pinned}"


# 1. offline failures say what happened in this run


def test_an_offline_failure_names_its_cause_and_the_time_taken(tmp_path: Path, monkeypatch) -> None:
    from aieff.repo import Unreachable
    from aieff.verify.fetch import Downloader

    monkeypatch.setenv("AIEFF_FETCH_ALLOW_LOOPBACK", "1")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens: every connection is refused at once
    with pytest.raises(Unreachable) as info:
        Downloader(max_bytes=100, deadline=60)(f"https://127.0.0.1:{port}/log.tsv", str(tmp_path / "out"), None)
    message = str(info.value)
    assert f"could not connect to 127.0.0.1:{port} (connection refused); 3 tries in" in message, message
    assert "within 60 s" not in message  # the 60 s were not spent: never claim they were


def test_check_says_what_it_re_estimates_and_why(toy: Path) -> None:
    git(toy, "init", "-q", "-b", "main")
    git(toy, "add", "-A")
    git(toy, "commit", "-q", "-m", "base")
    entry = toy / "entries/toy-level/better.yaml"
    entry.write_text(entry.read_text().replace('model: "Better net"', 'model: "Better net v2"'))
    proc = run("check", "--changed-since", "HEAD", cwd=toy)
    assert "re-estimating 1 entry changed since HEAD:\n  entries/toy-level/better.yaml: the entry file changed" in (
        proc.stdout
    ), proc.stdout + proc.stderr
    git(toy, "commit", "-q", "-am", "entry")
    bench = toy / "entries/toy-level/benchmark.yaml"
    bench.write_text(bench.read_text().replace('rules: "Toy data only."', 'rules: "Toy data only, any hardware."'))
    proc = run("check", "--changed-since", "HEAD", cwd=toy)
    level = "its level's entries/toy-level/benchmark.yaml changed"
    assert f"entries/toy-level/base.yaml: {level}" in proc.stdout and f"better.yaml: {level}" in proc.stdout


# 2. cache add --git-dir


def test_cache_add_reads_every_pinned_github_artifact_from_a_local_git_directory(toy: Path, tmp_path: Path) -> None:
    other = b"epoch\ttop1Accuracy\n1\t99\n"
    src, commit = source_repo(tmp_path / "runs", {"logs/a.tsv": LOG, "logs/b c.tsv": other})
    raw = f"https://raw.githubusercontent.com/someone/runs/{commit}"
    absent = "0" * 40
    (toy / "entries/toy-level/runs.yaml").write_text(
        runs_entry(
            [
                (f"{raw}/logs/a.tsv", sha(LOG)),  # added
                (f"https://github.com/someone/runs/raw/{commit}/logs/b%20c.tsv", sha(other)),  # added (quoted name)
                (f"{raw}/logs/missing.tsv", "1" * 64),  # not found: no such path at the commit
                (f"https://raw.githubusercontent.com/someone/runs/{absent}/logs/a.tsv", "2" * 64),  # commit absent
                (f"{raw}/logs/../logs/a.tsv", "3" * 64),  # never read: a path that climbs
                (f"{raw}/logs/a.tsv?x=1", "5" * 64),  # never read: a query
            ]
        )
    )
    cache = tmp_path / "cache"
    env = {"AIEFF_CACHE": str(cache)}
    assert run("validate", cwd=toy).returncode == 0
    proc = run("cache", "add", "--git-dir", str(src), cwd=toy, env=env)  # a work tree
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 added, 0 already cached, 2 not found, 0 mismatched of 4 artifacts" in proc.stdout, proc.stdout
    assert "1 at a commit" in proc.stdout and "1 paths missing at a commit it has" in proc.stdout
    assert "not found: logs/missing.tsv" in proc.stdout
    assert sorted(p.name for p in cache.iterdir()) == sorted([sha(LOG), sha(other)])
    bare = tmp_path / "runs.git"
    git(tmp_path, "clone", "-q", "--bare", str(src), str(bare))
    proc = run("cache", "add", "--git-dir", str(bare), cwd=toy, env=env)  # a bare clone or snapshot
    assert proc.returncode == 0 and "0 added, 2 already cached" in proc.stdout, proc.stdout
    # bytes that are not what an entry pins are refused by name, and not cached
    (toy / "entries/toy-level/runs.yaml").write_text(
        runs_entry([(f"{raw}/logs/a.tsv", "4" * 64), (f"{raw}/logs/b%20c.tsv", sha(other))])
    )
    shutil.rmtree(cache)
    proc = run("cache", "add", "--git-dir", str(src), cwd=toy, env=env)
    assert proc.returncode == 1 and "1 mismatched" in proc.stdout and f"has sha256 {sha(LOG)}" in proc.stdout
    assert not (cache / ("4" * 64)).exists() and not (cache / sha(LOG)).exists()
    proc = run("cache", "add", "--git-dir", str(tmp_path), cwd=toy, env=env)
    assert proc.returncode == 2 and "not a git directory" in proc.stderr


def test_cache_add_help_says_files_need_a_pin_first() -> None:
    proc = run("cache", "--help")
    assert "refused until a valid entry pins its sha256" in " ".join(proc.stdout.split())
    assert "--git-dir" in proc.stdout


# 3. probe


def test_probe_reads_a_local_log_against_a_level_without_an_entry(toy: Path, tmp_path: Path) -> None:
    log = tmp_path / "run.tsv"
    log.write_bytes(LOG)
    args = ["probe", str(log), "--level", "toy-level", "--format", "dawnbench-tsv", "--column", "metric=top1Accuracy"]
    proc = run(*args, cwd=toy)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 evaluations against toy-level (accuracy >= 90)" in proc.stdout
    assert "first at the level: line 4, value 91, at 3,000 samples = 3 epochs" in proc.stdout, proc.stdout
    assert "bracket: line 3, value 85, at 2,000 samples = 2 epochs (not yet at the level) -> line 4" in proc.stdout
    data = json.loads(run(*args, "--output", "json", cwd=toy).stdout)
    assert data["reached"]["epochs"] == 3 and data["previous"]["line"] == 3
    steps = tmp_path / "steps.log"
    steps.write_text("".join(f"step:{s}/400 val_loss:{v}\n" for s, v in [(100, 4.0), (200, 3.3), (300, 3.25)]))
    bench = toy / "entries/toy-level/benchmark.yaml"
    bench.write_text(
        bench.read_text()
        .replace('  name: "accuracy"\n  unit: percent', '  name: "validation loss"\n  unit: loss')
        .replace("direction: higher\nthreshold: 90", "direction: lower\nthreshold: 3.28")
    )
    pattern = "step:(?P<step>[0-9]+)/[0-9]+ val_loss:(?P<value>[0-9.]+)"
    base = ["probe", str(steps), "--level", "toy-level", "--format", "step-log", "--pattern", pattern]
    proc = run(*base, "--samples-per-step", "8", "--sequence-length", "1024", cwd=toy)
    assert "first at the level: line 3, value 3.25, at step 300 = 2,400 samples = 2,457,600 tokens" in proc.stdout
    assert "bracket: line 2, value 3.3, at step 200 = 1,600 samples" in proc.stdout, proc.stdout
    proc = run(*base[:-2], "--pattern", pattern.replace("val_loss", "train_loss"), cwd=toy)
    assert proc.returncode == 1 or "no evaluation" in proc.stdout + proc.stderr
    bench.write_text(bench.read_text().replace("threshold: 3.28", "threshold: 3.0"))
    proc = run(*base, cwd=toy)
    assert proc.returncode == 1 and "never reaches the level" in proc.stdout, proc.stdout + proc.stderr
    proc = run("probe", str(steps), "--level", "toy-level", cwd=toy)
    assert proc.returncode == 2 and "--format" in proc.stderr


def test_probe_counts_an_export_exactly(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    with torch.device("meta"):
        model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)).eval()
    path = tmp_path / "mlp.pt2"
    torch.export.save(torch.export.export(model, (torch.empty(1, 64, device="meta"),)), path)
    proc = run("probe", "--export", str(path), "--input", "vector", "--features", "64")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2,410 multiply-adds per sample at 64 features" in proc.stdout
    assert "training.forward_cost: {value: 2410, unit: multiply-adds}" in proc.stdout
    proc = run("probe", "--export", str(path), "--input", "tokens")
    assert proc.returncode == 2 and "--sequence-length" in proc.stderr


# 4. estimate on folders and globs, with the exact forward cost


@pytest.fixture
def digits(tmp_path: Path) -> Path:
    """The end-to-end level with one MLP entry whose export and log live in the repository."""
    torch = pytest.importorskip("torch")
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "e2e", repo)
    folder = repo / "entries/test-digits"
    with torch.device("meta"):
        model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)).eval()
    buf = io.BytesIO()
    torch.export.save(torch.export.export(model, (torch.empty(1, 64, device="meta"),)), buf)
    (folder / "mlp.pt2").write_bytes(buf.getvalue())
    (folder / "mlp.tsv").write_bytes(LOG)
    macs = 64 * 32 + 32 * 10 + 32 + 10  # with the biases, as the counter counts
    (folder / "mlp.yaml").write_text(
        f"""# yaml-language-server: $schema=../../schema/entry.schema.json
id: mlp
benchmark: test-digits
model: "MLP 64-32-10"
publication: {{title: "t", authors: ["a"], url: "https://example.org/t", date: 2026-01-01}}
claims:
  - value: {3 * 2 * macs * 3 * 1347}
    unit: FLOP
    method: counted
    source: {{title: "t", url: "https://example.org/t", locator: "Table 1"}}
    confidence: high
training:
  epochs_to_target: 3
  forward_cost: {{value: {macs}, unit: multiply-adds}}
artifacts:
  architecture:
    export: {{path: entries/test-digits/mlp.pt2, sha256: {sha(buf.getvalue())}}}
    input: vector
    input_features: 64
  training_log:
    path: entries/test-digits/mlp.tsv
    sha256: {sha(LOG)}
    format: dawnbench-tsv
    columns: {{metric: top1Accuracy}}
"""
    )
    return repo


def test_estimate_takes_a_level_folder_and_a_glob_and_shows_the_exact_forward_cost(digits: Path) -> None:
    proc = run("estimate", "entries/test-digits", cwd=digits)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "entries/test-digits/mlp.yaml: verified" in proc.stdout
    assert re.search(r"forward cost +2,410 multiply-adds +2,410 multiply-adds +ok", proc.stdout), proc.stdout
    assert "from a forward cost of 2,410 multiply-adds per sample (counted)" in proc.stdout
    proc = run("estimate", "entries/test-digits/*.yaml", "--format", "json", cwd=digits)  # benchmark.yaml skipped
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (est,) = json.loads(proc.stdout)
    assert est["forward_multiply_adds"] == 2410 and est["forward_multiply_adds_by_phase"] == [2410]
    proc = run("estimate", "entries/test-digits/benchmark.yaml", "entries/test-digits/mlp.yaml", cwd=digits)
    assert proc.returncode == 0 and "1 verified" in proc.stdout
    assert run("estimate", "entries/test-digits/benchmark.yaml", cwd=digits).returncode == 2
    assert run("estimate", "entries/nowhere/*.yaml", cwd=digits).returncode == 2


# 5. the model builders count what the committed exports count


def _count(path: Path, *shape: str) -> int:
    proc = run("probe", "--export", str(path), *shape, "--output", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)["forward_multiply_adds"]


def test_the_gpt_builder_counts_what_the_records_count(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from aieff import models

    with torch.device("meta"):
        r02 = models.gpt(width=768, depth=12, heads=12)  # llm.c's GPT-2 small, as record 2 trained it
    mine = models.save(r02, tmp_path / "r02.pt2", sequence_length=1024)
    committed = ROOT / "entries/gpt2-fineweb-3-28/exports/gpt2_12h_dense_1024.pt2"
    tokens = ("--input", "tokens", "--sequence-length", "1024")
    assert _count(mine, *tokens) == _count(committed, *tokens) == 136_206_876_672
    windows = [443, 410, 443, 751, 410, 443, None, 410, 410, 443, 860]  # record 85 (v3): mean keys per query
    with torch.device("meta"):
        r85 = models.gpt(width=768, depth=11, heads=6, windows=windows, value_embeddings=(0, 1, 2, 8, 9, 10))
    mine = models.save(r85, tmp_path / "r85.pt2", sequence_length=2048)
    entry = (ROOT / "entries/gpt2-fineweb-3-28/nanogpt-r85-mudd-gates-dc-mha.yaml").read_text()
    assert "value: 249541165056" in entry  # the figure the record's entry states, counted from its export
    assert _count(mine, "--input", "tokens", "--sequence-length", "2048") == 249_541_165_056
    with pytest.raises(ValueError, match="one value per layer"):
        models.gpt(depth=2, windows=["causal"])
    # one attention convention: keys per query a mask keeps, never whole FlexAttention blocks a kernel computes
    assert not hasattr(models, "Blocks")
    with pytest.raises(ValueError, match="keys per query"):
        models.gpt(depth=1, windows=[(7, 128)])
    with pytest.raises(ValueError, match="does not divide"):
        models.gpt(width=100, heads=12)


def test_the_cifar_builders_count_what_the_committed_exports_count(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from aieff import models

    image = ("--input", "image", "--resolution", "32")
    with torch.device("meta"):
        mine = models.save(models.resnet9(), tmp_path / "r9.pt2", resolution=32)
        r164 = models.cifar_resnet(blocks=18, block="bottleneck", norms=False)  # Stanford DAWN's ResNet-164
        r164 = models.save(r164, tmp_path / "r164.pt2", resolution=32)
    exports = ROOT / "entries/cifar10-94/exports"
    assert _count(mine, *image) == _count(exports / "page_resnet9.pt2", *image)
    assert _count(r164, *image) == _count(exports / "preact_resnet164_bottleneck.pt2", *image)


def test_the_export_doc_example_runs_and_writes_what_it_says(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    doc = (ROOT / "docs/graph-only-exports.md").read_text()
    block = re.search(r"<!-- tested: tests/test_contrib.py runs this block -->\n```python\n(.*?)```", doc, re.S)
    exec(compile(block.group(1), "graph-only-exports.md", "exec"), {"__file__": str(tmp_path / "make_exports.py")})
    written = sorted(p.name for p in tmp_path.glob("*.pt2"))
    assert written == ["gpt2_small_1024.pt2", "resnet164.pt2", "resnet9.pt2", "speedrun_2048.pt2"]
    assert all(p.stat().st_size < 1 << 20 for p in tmp_path.glob("*.pt2"))  # they fit beside an entry


def test_import_of_the_builders_does_not_import_torch() -> None:
    code = "import sys, aieff.models; print('torch' in sys.modules)"
    proc = subprocess.run([str(ROOT / ".venv/bin/python"), "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"


# 7. one word for the trend


def test_run_names_are_never_cut() -> None:
    from aieff.dataset.schema import TrainingLog
    from aieff.verify.estimate import _file_name

    stem = "x" * 70
    names = [
        _file_name(TrainingLog(url=f"https://example.org/{stem}{i}.log", sha256="a" * 64, format="dawnbench-tsv"))
        for i in (1, 2)
    ]
    assert names == [f"{stem}1.log", f"{stem}2.log"]  # cut at 60 characters they read alike


def test_the_trend_reads_halves_in_help_and_charts() -> None:
    assert "halves every" in run("analyze", "--help").stdout
    for name in (
        "cli.py",
        "publish/charts.py",
        "publish/tables.py",
        "verify/estimate.py",
        "verify/probe.py",
        "verify/cache.py",
    ):
        assert "doubling every" not in (ROOT / "tools/aieff" / name).read_text(), name
