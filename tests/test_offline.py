"""Offline: an artifact that cannot be fetched is `unreachable`, never a verdict; `aieff cache add` fixes that."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest

import batch_logs
from conftest import FIXTURES, run

torch = pytest.importorskip("torch")

LOG = b"epoch\ttop1Accuracy\n1\t70\n2\t85\n3\t91\n4\t93\n"
MACS = 64 * 32 + 32 * 10
SAMPLES = 1347


def _graph_only_mlp() -> bytes:
    with torch.device("meta"):
        model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)).eval()
    buf = io.BytesIO()
    torch.export.save(torch.export.export(model, (torch.empty(1, 64, device="meta"),)), buf)
    return buf.getvalue()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    dest = tmp_path / "repo"
    shutil.copytree(FIXTURES / "e2e", dest)
    arch = _graph_only_mlp()
    (dest / "entries/test-digits/mlp.pt2").write_bytes(arch)
    claim = 3 * 2 * MACS * 3 * SAMPLES
    (dest / "entries/test-digits/mlp.yaml").write_text(
        f"""# yaml-language-server: $schema=../../schema/entry.schema.json
id: mlp
benchmark: test-digits
model: "MLP 64-32-10"
publication:
  title: "aieff offline test"
  authors: ["aieff tests"]
  url: https://example.org/aieff-offline
  date: 2026-01-01
claims:
  - value: {claim}
    unit: FLOP
    method: counted
    source:
      title: "aieff offline test"
      url: https://example.org/aieff-offline
      locator: "Table 1"
    confidence: high
training:
  epochs_to_target: 3
  forward_cost: {{value: {MACS}, unit: multiply-adds}}
artifacts:
  architecture:
    export: {{path: entries/test-digits/mlp.pt2, sha256: {hashlib.sha256(arch).hexdigest()}}}
    input: vector
    input_features: 64
  training_log:
    url: https://aieff-offline-test.invalid/log.tsv
    sha256: {hashlib.sha256(LOG).hexdigest()}
    format: dawnbench-tsv
    columns: {{metric: top1Accuracy}}
"""
    )
    return dest


def test_unreachable_keeps_the_recorded_verdict_and_cache_add_verifies_offline(repo: Path, tmp_path: Path) -> None:
    env = {"AIEFF_CACHE": str(tmp_path / "cache"), "AIEFF_FETCH_DEADLINE": "5"}
    record = repo / "exports/verification.json"
    record.parent.mkdir()
    from aieff.dataset.validate import validate
    from aieff.verify.record import judge_inputs

    ds = validate(repo)
    judged = judge_inputs(ds.all_entries()["mlp"], ds.level("test-digits"), ds.all_entries()).model_dump()
    verdict = {"level": "test-digits", "status": "verified", "judged": judged, "compute_flop": 1.9e8, "messages": []}
    from aieff.verify.record import Record, write

    write(record, Record.model_validate({"entries": {"mlp": verdict}}))  # as the nightly writes it
    before = record.read_bytes()
    proc = run("estimate", "--all", "--record", "exports/verification.json", cwd=repo, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # offline is not a failure of the entry
    assert "entries/test-digits/mlp.yaml: unreachable" in proc.stdout and "unreachable (" in proc.stdout
    assert record.read_bytes() == before  # the last real verdict on the same inputs stays, byte for byte
    stale = json.loads(before) | {}
    stale["entries"]["mlp"]["judged"]["code"] = "0" * 64  # judged by other counting code
    record.write_text(json.dumps(stale, indent=2, sort_keys=True) + "\n")
    assert run("estimate", "--all", "--record", "exports/verification.json", cwd=repo, env=env).returncode == 0
    assert json.loads(record.read_text())["entries"]["mlp"]["status"] == "unreachable"  # not kept: it binds no more
    record.write_bytes(before)
    # The PR check cannot pass on an artifact nobody can fetch.
    other = tmp_path / "other.tsv"
    other.write_bytes(b"epoch\ttop1Accuracy\n1\t99\n")
    local = tmp_path / "log.tsv"
    local.write_bytes(LOG)
    proc = run("cache", "add", str(other), cwd=repo, env=env)
    assert proc.returncode == 1 and "is pinned by no entry" in proc.stdout
    assert not (tmp_path / "cache" / hashlib.sha256(other.read_bytes()).hexdigest()).exists()
    proc = run("cache", "add", str(local), cwd=repo, env=env)
    assert proc.returncode == 0 and "for mlp (training_log)" in proc.stdout, proc.stdout + proc.stderr
    proc = run("estimate", "--all", "--record", "exports/verification.json", cwd=repo, env=env)
    assert proc.returncode == 0 and "entries/test-digits/mlp.yaml: verified" in proc.stdout, proc.stdout
    verdict = json.loads(record.read_text())["entries"]["mlp"]
    assert verdict["status"] == "verified" and verdict["date"] == "2026-11-22" and verdict["aieff_version"]


class _TinyLM(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(100, 16)
        self.qkv = torch.nn.Linear(16, 48)
        self.out = torch.nn.Linear(16, 100, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(self.emb(ids)).unsqueeze(1).split(16, dim=-1)
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.squeeze(1))


def test_a_step_log_and_a_token_model_verify_through_the_cli(tmp_path: Path) -> None:
    """A script-in-log as modded-nanogpt publishes them (the batch schedule read from the script by the level's
    batch_reader) and its evaluation lines, samples per step changing mid-run, a graph-only token model."""
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "valid/basic", repo)
    bench = repo / "entries/toy-level/benchmark.yaml"
    bench.write_text(
        bench.read_text()
        .replace('  name: "accuracy"\n  unit: percent', '  name: "validation loss"\n  unit: loss')
        .replace("direction: higher\nthreshold: 90", "direction: lower\nthreshold: 3.28")
        + "batch_reader: modded-nanogpt\n"
    )
    with torch.device("meta"):
        model = _TinyLM().eval()
    buf = io.BytesIO()
    torch.export.save(torch.export.export(model, (torch.zeros(1, 32, dtype=torch.long, device="meta"),)), buf)
    (repo / "entries/toy-level/lm.pt2").write_bytes(buf.getvalue())
    log = batch_logs.log(  # 8 sequences of 32 tokens a step for 100 steps, then 16; evaluations every 100 steps
        "    train_bs_schedule: tuple = (8 * 32, 16 * 32)\n    train_bs_extension: int = 16 * 32\n"
        "    num_scheduled_iterations: int = 200\n",
        batch_logs.GET_BS,
        steps=300,
        values=(10.9, 3.5, 3.27, 3.2),
    ).decode()
    (repo / "entries/toy-level/lm.log").write_text(log)
    macs = 32 * (16 * 48 + 16 * 100) + (32 * 33 // 2) * (16 + 16)  # linears per token + causal attention
    samples = 100 * 8 + 100 * 16  # sequences: 8 per step for 100 steps, then 16
    claim = 3 * 2 * macs * samples
    entry = repo / "entries/toy-level/better.yaml"
    text = entry.read_text()
    text = (
        text[: text.index("claims:")]
        + f"""claims:
  - value: {claim}
    unit: FLOP
    method: counted
    source:
      title: "Better net paper"
      url: https://arxiv.org/abs/1807.00002
      locator: "Table 1"
    confidence: high
training:
  steps_to_target: 200
  samples_per_step_schedule:
    - {{from_step: 0, samples: 8}}
    - {{from_step: 100, samples: 16}}
  forward_cost:
    value: {macs}
    unit: multiply-adds
    sequence_length: 32
artifacts:
  architecture:
    export:
      path: entries/toy-level/lm.pt2
      sha256: {hashlib.sha256(buf.getvalue()).hexdigest()}
    input: tokens
  training_log:
    path: entries/toy-level/lm.log
    sha256: {hashlib.sha256(log.encode()).hexdigest()}
    format: step-log
    pattern: '^step:(?P<step>[0-9]+)/[0-9]+ val_loss:(?P<value>[0-9.]+)'
"""
    )
    entry.write_text(text)
    assert run("validate", cwd=repo).returncode == 0, run("validate", cwd=repo).stdout
    proc = run("estimate", "entries/toy-level/better.yaml", cwd=repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "entries/toy-level/better.yaml: verified" in proc.stdout
    assert "steps to target" in proc.stdout and "200 steps = 2,400 samples" in proc.stdout
    assert "graph-only export: counted on the meta device" in proc.stdout
    assert "samples per step 8 from step 0, 16 from step 100, as the entry states" in proc.stdout, proc.stdout
