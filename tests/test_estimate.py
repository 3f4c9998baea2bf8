"""Re-estimation details: progressive resizing is counted phase by phase; token inputs; claimed entries."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import run

torch = pytest.importorskip("torch")

from aieff.verify.flops import build_torchvision, count_forward, example_input  # noqa: E402

LOG = "epoch\ttop1Accuracy\n1\t60\n2\t85\n3\t91\n4\t93\n"


def _head(model: str) -> str:
    """The toy entry's id, level, model and publication: what every entry written here shares."""
    return f"""# yaml-language-server: $schema=../../schema/entry.schema.json
id: better
benchmark: toy-level
model: "{model}"
publication:
  title: "Better net paper"
  authors: ["A. Author"]
  url: https://arxiv.org/abs/1807.00002
  date: 2018-07-09
  arxiv: "1807.00002"
"""


def _entry(schedule: str, claim: float, log_sha: str) -> str:
    return (
        _head("ResNet-18, progressive resizing")
        + f"""claims:
  - value: {claim:.8g}
    unit: FLOP
    method: counted
    source:
      title: "Better net paper"
      url: https://arxiv.org/abs/1807.00002
      locator: "Table 1"
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
    )


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


class _Block(torch.nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.c1 = torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = torch.nn.BatchNorm2d(cout)
        self.c2 = torch.nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = torch.nn.BatchNorm2d(cout)
        self.skip = torch.nn.Conv2d(cin, cout, 1, stride, bias=False) if stride != 1 or cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.b2(self.c2(self.b1(self.c1(x)).relu()))
        return (y + (self.skip(x) if self.skip is not None else x)).relu()


class CifarResNet(torch.nn.Module):
    """A small CIFAR-style ResNet (3x3 stem, no max-pool), as the DAWNBench CIFAR entries describe theirs."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, 1, 1, bias=False), torch.nn.BatchNorm2d(16))
        self.layers = torch.nn.Sequential(_Block(16, 16, 1), _Block(16, 32, 2), _Block(32, 64, 2))
        self.fc = torch.nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.layers(self.stem(x).relu()).mean((2, 3)))


def _export(device: str, dynamic: bool) -> bytes:
    import io

    with torch.device(device):
        model = CifarResNet().eval()
    example = torch.empty(1, 3, 32, 32, device=device)
    side = torch.export.Dim("side", min=16, max=256)
    program = torch.export.export(model, (example,), dynamic_shapes=({2: side, 3: side},) if dynamic else None)
    buf = io.BytesIO()
    torch.export.save(program, buf)
    return buf.getvalue()


def test_graph_only_export_verifies_a_two_phase_schedule(toy: Path) -> None:
    from aieff.verify.flops import load_export

    graph_only = _export("meta", dynamic=True)
    assert len(graph_only) < 1 << 20
    folder = toy / "entries/toy-level"
    (folder / "net.pt2").write_bytes(graph_only)
    # The same model with real weights, exported at one fixed size, counts the same at 32 px (on meta too).
    full = folder.parent.parent / "full.pt2"
    full.write_bytes(_export("cpu", dynamic=False))
    reference = count_forward(load_export(full), example_input("image", resolution=32), grad=False)
    meta_model = load_export(folder / "net.pt2")
    f24, f32 = (count_forward(meta_model, example_input("image", resolution=r), grad=False).flop for r in (24, 32))
    assert f32 == reference.flop and f24 < f32
    per_epoch = 1000
    claim = 3 * per_epoch * (2 * f24 + 1 * f32)
    (folder / "better.tsv").write_text(LOG)
    schedule = "  resolution_schedule:\n" + _phase(0, 2, 24, f24 / 2) + _phase(2, 4, 32, f32 / 2)
    text = _entry(schedule, claim, hashlib.sha256(LOG.encode()).hexdigest()).replace(
        "    torchvision: resnet18\n",
        f"    export: {{path: entries/toy-level/net.pt2, sha256: {hashlib.sha256(graph_only).hexdigest()}}}\n",
    )
    (folder / "better.yaml").write_text(text)
    assert run("validate", cwd=toy).returncode == 0
    proc = run("estimate", "entries/toy-level/better.yaml", "--format", "json", cwd=toy)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [est] = json.loads(proc.stdout)
    assert est["status"] == "verified" and est["compute_flop"] == pytest.approx(claim, rel=1e-9)
    assert any("epoch labels count from 1" in m for m in est["messages"])


def test_graph_only_export_doc_script_makes_an_accepted_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The script in docs/graph-only-exports.md runs as written and its archive passes the gate."""
    import re

    from aieff.verify.pt2 import sanitized_copy
    from conftest import ROOT

    script = re.search(r"```python\n(.*?)```", (ROOT / "docs/graph-only-exports.md").read_text(), re.S).group(1)
    monkeypatch.chdir(tmp_path)  # as `python -c SCRIPT` in an empty folder, without a second torch start-up
    exec(compile(script, "docs/graph-only-exports.md", "exec"), {"__name__": "__main__"})
    archive = tmp_path / "net.pt2"
    assert archive.stat().st_size < 100_000
    sanitized_copy(archive, tmp_path / "checked.pt2")


def _mllog_run(accuracies: list[float], status: str) -> str:
    lines = [
        ":::MLLOG " + json.dumps({"key": "eval_accuracy", "value": acc, "metadata": {"epoch_num": 2 * (i + 1)}})
        for i, acc in enumerate(accuracies)
    ]
    lines.append(":::MLLOG " + json.dumps({"key": "run_stop", "value": None, "metadata": {"status": status}}))
    return "\n".join(lines) + "\n"


def _runs_entry(epochs: float, f32: float, logs: list[tuple[str, str]]) -> str:
    listed = "".join(
        f"    - path: entries/toy-level/{name}\n      sha256: {sha}\n      format: mlperf-mllog\n"
        "      metric_scale: fraction\n"
        for name, sha in logs
    )
    return (
        _head("ResNet-18, five runs")
        + f"""training:
  epochs_to_target: {epochs:g}
  forward_cost:
    value: {f32 / 2:.8g}
    unit: multiply-adds
    resolution: 32
artifacts:
  architecture:
    torchvision: resnet18
  training_logs:
{listed}"""
    )


def test_several_runs_count_their_median_and_list_aborted_runs(toy: Path) -> None:
    f32 = count_forward(build_torchvision("resnet18", {}), example_input("image", resolution=32)).flop
    runs = {
        "run0.txt": _mllog_run([0.5, 0.8, 0.91], "success"),  # reaches 90% after 6 epochs
        "run1.txt": _mllog_run([0.5, 0.92], "success"),  # after 4
        "run2.txt": _mllog_run([0.5, 0.8, 0.85, 0.95], "success"),  # after 8
        "run3.txt": _mllog_run([0.5, 0.6], "aborted"),
    }
    logs = []
    for name, text in runs.items():
        (toy / "entries/toy-level" / name).write_text(text)
        logs.append((name, hashlib.sha256(text.encode()).hexdigest()))
    entry = toy / "entries/toy-level/better.yaml"
    entry.write_text(_runs_entry(6, f32, logs))
    assert run("validate", cwd=toy).returncode == 0
    proc = run("estimate", "entries/toy-level/better.yaml", "--format", "json", cwd=toy)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [est] = json.loads(proc.stdout)
    assert est["status"] == "verified", est
    assert est["compute_flop"] == pytest.approx(3 * f32 * 6 * 1000, rel=1e-9)  # median of 4, 6 and 8 epochs
    cells = {r["what"]: r["counted_text"] for r in est["rows"]}
    assert cells["run 3 (run3.txt)"] == "aborted: not counted"
    assert cells["run 1 (run1.txt)"].startswith("4 epochs")
    run1 = next(r for r in est["rows"] if r["what"] == "run 1 (run1.txt)")
    assert (run1["counted"], run1["unit"], run1["claimed"]) == (4 * 1000, "samples", None)  # 4 epochs of 1000
    assert any("median over 3 counted runs of 4 (0 never reach the level)" in m for m in est["messages"])
    # An even number of counted runs: the median is the mean of the middle two (4 and 6 -> 5).
    entry.write_text(_runs_entry(5, f32, logs[:2] + logs[3:]))
    [est] = json.loads(run("estimate", "entries/toy-level/better.yaml", "--format", "json", cwd=toy).stdout)
    assert est["status"] == "verified" and est["compute_flop"] == pytest.approx(3 * f32 * 5 * 1000, rel=1e-9)
    # Every run aborted: nothing to count, the entry fails.
    entry.write_text(_runs_entry(5, f32, logs[3:] * 2))
    proc = run("estimate", "entries/toy-level/better.yaml", cwd=toy)
    assert proc.returncode == 1 and "every run aborted" in proc.stdout, proc.stdout
    # A run whose log does not read is the entry's failure, named by its run.
    (toy / "entries/toy-level/run1.txt").write_text("garbage\n")
    entry.write_text(_runs_entry(5, f32, [logs[0], ("run1.txt", hashlib.sha256(b"garbage\n").hexdigest())]))
    proc = run("estimate", "entries/toy-level/better.yaml", cwd=toy)
    assert proc.returncode == 1 and "run 1 (run1.txt): training log" in proc.stdout, proc.stdout


def test_a_run_that_never_reaches_counts_as_needing_more(toy: Path) -> None:
    """A run that never reaches the level is not dropped (that would favour the fast runs): it counts as
    needing more than it trained, so it can only move the median up; below half reaching, the entry fails."""
    f32 = count_forward(build_torchvision("resnet18", {}), example_input("image", resolution=32)).flop
    runs = {
        "fast.txt": _mllog_run([0.5, 0.92], "success"),  # 4 epochs
        "slow.txt": _mllog_run([0.5, 0.8, 0.91], "success"),  # 6 epochs
        "short.txt": _mllog_run([0.5, 0.8, 0.85], "success"),  # never reaches 90%
    }
    logs = []
    for name, text in runs.items():
        (toy / "entries/toy-level" / name).write_text(text)
        logs.append((name, hashlib.sha256(text.encode()).hexdigest()))
    entry = toy / "entries/toy-level/better.yaml"
    entry.write_text(_runs_entry(6, f32, logs))  # median of 4, 6 and "more": 6, not the 5 of dropping it
    [est] = json.loads(run("estimate", "entries/toy-level/better.yaml", "--format", "json", cwd=toy).stdout)
    assert est["status"] == "verified", est
    assert est["compute_flop"] == pytest.approx(3 * f32 * 6 * 1000, rel=1e-9)
    cells = {r["what"]: r["counted_text"] for r in est["rows"]}
    assert cells["run 2 (short.txt)"] == "never reaches the level: counted as more than it trained"
    assert any("median over 3 counted runs of 3 (1 never reach the level)" in m for m in est["messages"])
    entry.write_text(_runs_entry(6, f32, [logs[0], logs[2], logs[2]]))  # one of three reaches
    proc = run("estimate", "entries/toy-level/better.yaml", cwd=toy)
    assert proc.returncode == 1
    assert "only 1 of 3 counted runs reach the level: the median run does not" in proc.stdout
