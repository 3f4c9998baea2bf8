"""Re-estimation details: progressive resizing is counted phase by phase; token inputs; claimed entries."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import run

torch = pytest.importorskip("torch")

from aieff.flops import build_torchvision, count_forward, example_input  # noqa: E402

LOG = "epoch\ttop1Accuracy\n1\t60\n2\t85\n3\t91\n4\t93\n"


def _entry(schedule: str, claim: float, log_sha: str) -> str:
    return f"""# yaml-language-server: $schema=../../schema/entry.schema.json
id: better
benchmark: toy-level
model: "ResNet-18, progressive resizing"
publication:
  title: "Better net paper"
  authors: ["A. Author"]
  url: https://arxiv.org/abs/1807.00002
  date: 2018-07-09
  arxiv: "1807.00002"
claims:
  - value: {claim:.8g}
    unit: FLOP
    method: counted
    source:
      title: "Better net paper"
      url: https://arxiv.org/abs/1807.00002
    confidence: high
training:
  epochs_to_target: 3
{schedule}artifacts:
  architecture:
    torchvision: resnet18
  training_log:
    path: entries/toy-level/better.tsv
    sha256: {log_sha}
    format: dawnbench-tsv
    columns: {{metric: top1Accuracy}}
"""


def _phase(start: int, end: int, res: int, macs: float) -> str:
    return (
        f"    - start_epoch: {start}\n      end_epoch: {end}\n      forward_cost:\n"
        f"        value: {macs:.6g}\n        unit: multiply-adds\n        resolution: {res}\n"
    )


def test_progressive_resizing_is_counted_phase_by_phase(toy: Path) -> None:
    model = build_torchvision("resnet18", {})
    f128, f224 = (count_forward(model, example_input("image", resolution=r)).flop for r in (128, 224))
    per_epoch = 1000  # the toy level's train_samples_per_epoch
    claim = 3 * per_epoch * (2 * f128 + 1 * f224)  # epochs 0-2 at 128 px, the third at 224 px
    log = toy / "entries/toy-level/better.tsv"
    log.write_text(LOG)
    sha = hashlib.sha256(LOG.encode()).hexdigest()
    schedule = "  resolution_schedule:\n" + _phase(0, 2, 128, f128 / 2) + _phase(2, 4, 224, f224 / 2)
    (toy / "entries/toy-level/better.yaml").write_text(_entry(schedule, claim, sha))
    assert run("validate", cwd=toy).returncode == 0
    proc = run("estimate", "entries/toy-level/better.yaml", "--format", "json", cwd=toy)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [est] = json.loads(proc.stdout)
    assert est["status"] == "verified"
    assert est["compute_flop"] == pytest.approx(claim, rel=1e-6)
    assert est["compute_multiply_adds"] == pytest.approx(claim / 2, rel=1e-6)
    assert est["compute_pfs_days"] == pytest.approx(claim / 8.64e19, rel=1e-6)
    # Without a claim, the re-estimate is judged against the compute derived from the training facts.
    no_claim = _entry(schedule, claim, sha)
    no_claim = no_claim[: no_claim.index("claims:")] + no_claim[no_claim.index("training:") :]
    (toy / "entries/toy-level/better.yaml").write_text(no_claim)
    proc = run("estimate", "entries/toy-level/better.yaml", cwd=toy)
    assert proc.returncode == 0 and "FLOP derived from the training facts" in proc.stdout, proc.stdout
    # Counting every epoch at 224 px would overstate it by far more than the tolerance.
    flat = "  forward_cost:\n    value: %.6g\n    unit: multiply-adds\n    resolution: 224\n" % (f224 / 2)
    (toy / "entries/toy-level/better.yaml").write_text(_entry(flat, claim, sha))
    proc = run("estimate", "entries/toy-level/better.yaml", cwd=toy)
    assert proc.returncode == 1 and "failed" in proc.stdout and "differs +" in proc.stdout


def test_token_inputs_are_counted_per_position() -> None:
    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(100, 16)
            self.out = torch.nn.Linear(16, 100, bias=False)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.out(self.emb(ids))

    count = count_forward(Tiny(), example_input("tokens", sequence_length=32, device="cpu"))
    assert count.multiply_adds == 32 * 16 * 100


def test_entries_without_artifacts_are_claimed(toy: Path) -> None:
    proc = run("estimate", "--all", "--record", "v.json", cwd=toy)
    assert proc.returncode == 0
    record = json.loads((toy / "v.json").read_text())
    assert {k: v["status"] for k, v in record["entries"].items()} == {"base": "claimed", "better": "claimed"}
    assert run("estimate", cwd=toy).returncode == 2  # nothing named
    assert run("estimate", "entries/toy-level/benchmark.yaml", cwd=toy).returncode == 2
