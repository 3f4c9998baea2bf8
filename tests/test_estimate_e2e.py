"""End to end: a real training run, real artifacts served over HTTPS on 127.0.0.1, `aieff estimate`."""

from __future__ import annotations

import hashlib
import http.server
import re
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import FIXTURES, run, self_signed_cert

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.slow

SAMPLES = 1347  # the level's train_samples_per_epoch
FORWARD_MACS = 64 * 32 + 32 * 10


def _mlp(hidden: int = 32) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))


def train(out: Path, hidden: int = 32, epochs: int = 12) -> None:
    """Train an MLP on scikit-learn's digits; write a DAWNBench log, a checkpoint and the exported graph."""
    from safetensors.torch import save_file
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    torch.manual_seed(0)
    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x / 16.0, y, test_size=0.25, random_state=0)
    assert len(xtr) == SAMPLES
    xtr, xte = torch.tensor(xtr, dtype=torch.float32), torch.tensor(xte, dtype=torch.float32)
    ytr, yte = torch.tensor(ytr), torch.tensor(yte)
    model = _mlp(hidden)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    lines = ["epoch\thours\ttop1Accuracy\ttop5Accuracy"]
    for epoch in range(1, epochs + 1):
        model.train()
        for idx in torch.randperm(len(xtr)).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            logits = model(xte)
        top1 = (logits.argmax(1) == yte).float().mean().item() * 100
        top5 = (logits.topk(5, 1).indices == yte[:, None]).any(1).float().mean().item() * 100
        lines.append(f"{epoch}\t{epoch * 0.001:.3f}\t{top1:.2f}\t{top5:.2f}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "log.tsv").write_text("\r\n".join(lines) + "\r\n")  # CRLF, as DAWNBench logs often are
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "mlp.safetensors"))
    torch.export.save(torch.export.export(model.eval(), (torch.zeros(1, 64),)), str(out / "mlp.pt2"))


def first_epoch_at(log: Path, threshold: float) -> int:
    for line in log.read_text().splitlines()[1:]:
        epoch, _, top1, _ = line.split("\t")
        if float(top1) >= threshold:
            return int(epoch)
    raise AssertionError("the training run never reached the test level")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Server:
    root: Path
    base: str
    ca: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real HTTPS server on 127.0.0.1 with a throwaway self-signed certificate."""
    tmp = tmp_path_factory.mktemp("https")
    cert, key = self_signed_cert(tmp)
    served = tmp / "served"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(served), **kw)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(served, f"https://127.0.0.1:{httpd.server_address[1]}", cert)
    finally:
        httpd.shutdown()


@pytest.fixture(scope="module")
def artifacts(server: Server) -> dict[str, Path]:
    train(server.root / "good")
    train(server.root / "wide", hidden=48, epochs=2)
    return {
        "log": server.root / "good/log.tsv",
        "ckpt": server.root / "good/mlp.safetensors",
        "arch": server.root / "good/mlp.pt2",
        "wide_ckpt": server.root / "wide/mlp.safetensors",
    }


def write_entry(
    repo: Path,
    server: Server,
    files: dict[str, Path],
    *,
    epochs: int,
    claim_factor: float = 1.0,
    log_sha: str | None = None,
    ckpt_sha: str | None = None,
    forward_macs: int = FORWARD_MACS,
) -> Path:
    def url(p: Path) -> str:
        return f"{server.base}/{p.relative_to(server.root).as_posix()}"

    claim = 3 * 2 * FORWARD_MACS * epochs * SAMPLES * claim_factor
    text = f"""# yaml-language-server: $schema=../../schema/entry.schema.json
id: mlp
benchmark: test-digits
model: "MLP 64-32-10"
publication:
  title: "aieff end-to-end test run"
  authors: ["aieff tests"]
  url: https://example.org/aieff-e2e
  date: 2026-01-01
claims:
  - value: {claim:.6g}
    unit: FLOP
    method: counted
    source:
      title: "aieff end-to-end test run"
      url: https://example.org/aieff-e2e
      locator: "Table 1"
    confidence: high
training:
  epochs_to_target: {epochs}
  forward_cost:
    value: {forward_macs}
    unit: multiply-adds
artifacts:
  architecture:
    export:
      url: {url(files["arch"])}
      sha256: {sha(files["arch"])}
    input: vector
    input_features: 64
  checkpoint:
    url: {url(files["ckpt"])}
    sha256: {ckpt_sha or sha(files["ckpt"])}
  training_log:
    url: {url(files["log"])}
    sha256: {log_sha or sha(files["log"])}
    format: dawnbench-tsv
    columns: {{metric: top1Accuracy}}
"""
    path = repo / "entries/test-digits/mlp.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    dest = tmp_path / "repo"
    shutil.copytree(FIXTURES / "e2e", dest)
    return dest


def estimate(repo: Path, server: Server, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {"AIEFF_CA_BUNDLE": str(server.ca), "AIEFF_CACHE": str(tmp_path / "cache"), "AIEFF_FETCH_ALLOW_LOOPBACK": "1"}
    assert run("validate", cwd=repo).returncode == 0, run("validate", cwd=repo).stdout
    return run("estimate", "entries/test-digits/mlp.yaml", cwd=repo, env=env)


def test_a_claim_cannot_verify_a_smaller_published_figure(
    repo: Path, server: Server, artifacts: dict[str, Path], tmp_path: Path
) -> None:
    """The claim matches the log, but the training facts (what the README would publish) give 100x less:
    the re-estimate must agree with both, so the entry fails instead of verifying one figure and
    publishing the other."""
    epochs = first_epoch_at(artifacts["log"], 90)
    write_entry(repo, server, artifacts, epochs=epochs, forward_macs=FORWARD_MACS // 100)
    proc = estimate(repo, server, tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "entries/test-digits/mlp.yaml: failed" in proc.stdout
    assert re.search(r"compute +\S+ FLOP claim .* ok", proc.stdout)
    assert re.search(r"compute +\S+ FLOP derived from the training facts .* differs", proc.stdout)
    assert "the derived from the training facts" in proc.stdout


def test_real_run_verifies(repo: Path, server: Server, artifacts: dict[str, Path], tmp_path: Path) -> None:
    epochs = first_epoch_at(artifacts["log"], 90)
    write_entry(repo, server, artifacts, epochs=epochs)
    proc = estimate(repo, server, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "entries/test-digits/mlp.yaml: verified" in proc.stdout
    assert re.search(rf"epochs to target +{epochs} +{epochs} \(log line {epochs + 1}\) +ok", proc.stdout)
    assert re.search(r"compute +\S+ FLOP claim .* ok", proc.stdout)
    assert "4 tensors, 2,410 parameters (safetensors)" in proc.stdout


def test_tampered_log_fails(repo: Path, server: Server, artifacts: dict[str, Path], tmp_path: Path) -> None:
    tampered = server.root / "tampered.tsv"
    lines = artifacts["log"].read_text().splitlines()
    tampered.write_text("\n".join([lines[0]] + [ln.replace("\t9", "\t8") for ln in lines[1:]]) + "\n")
    files = {**artifacts, "log": tampered}
    write_entry(repo, server, files, epochs=first_epoch_at(artifacts["log"], 90))
    proc = estimate(repo, server, tmp_path)
    assert proc.returncode == 1
    assert "training log never reaches the level: 90" in proc.stdout


def test_wrong_sha256_fails(repo: Path, server: Server, artifacts: dict[str, Path], tmp_path: Path) -> None:
    write_entry(repo, server, artifacts, epochs=first_epoch_at(artifacts["log"], 90), ckpt_sha="ab" * 32)
    proc = estimate(repo, server, tmp_path)
    assert proc.returncode == 1
    assert "checkpoint: sha256 mismatch" in proc.stdout and "the server sent different bytes" in proc.stdout


def test_checkpoint_of_another_architecture_fails(
    repo: Path, server: Server, artifacts: dict[str, Path], tmp_path: Path
) -> None:
    files = {**artifacts, "ckpt": artifacts["wide_ckpt"]}
    write_entry(repo, server, files, epochs=first_epoch_at(artifacts["log"], 90))
    proc = estimate(repo, server, tmp_path)
    assert proc.returncode == 1
    assert "checkpoint is not this architecture: shape mismatch: 0.bias [48] vs [32]" in proc.stdout


def test_compute_claim_off_by_2x_fails(repo: Path, server: Server, artifacts: dict[str, Path], tmp_path: Path) -> None:
    write_entry(repo, server, artifacts, epochs=first_epoch_at(artifacts["log"], 90), claim_factor=2.0)
    proc = estimate(repo, server, tmp_path)
    assert proc.returncode == 1
    assert "is 0.51x the claim" in proc.stdout
    assert "compute" in proc.stdout and "differs -49" in proc.stdout


def test_check_changed_since_verifies_a_new_entry_with_repo_artifacts(
    repo: Path, artifacts: dict[str, Path], tmp_path: Path
) -> None:
    """The PR check: validate, then re-estimate only what the branch adds (artifacts inside the repo)."""

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
            cwd=repo,
            check=True,
            capture_output=True,
        )

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-qm", "level only")
    folder = repo / "entries/test-digits"
    for key, name in (("log", "mlp.tsv"), ("ckpt", "mlp.safetensors"), ("arch", "mlp.pt2")):
        shutil.copyfile(artifacts[key], folder / name)
    epochs = first_epoch_at(artifacts["log"], 90)
    server = Server(artifacts["log"].parents[1], "https://127.0.0.1:1", tmp_path / "unused.pem")
    text = write_entry(repo, server, artifacts, epochs=epochs).read_text()
    for key, name in (("log", "mlp.tsv"), ("ckpt", "mlp.safetensors"), ("arch", "mlp.pt2")):
        url = f"url: https://127.0.0.1:1/{artifacts[key].relative_to(artifacts[key].parents[1]).as_posix()}"
        text = text.replace(url, f"path: entries/test-digits/{name}")
    (folder / "mlp.yaml").write_text(text)
    proc = run("check", "--changed-since", "main", cwd=repo, env={"AIEFF_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "entries/test-digits/mlp.yaml: verified" in proc.stdout
    git("add", "-A")
    git("commit", "-qm", "add mlp")
    (folder / "mlp.tsv").write_text("epoch\ttop1Accuracy\n1\t99\n")  # only the log changes
    proc = run("check", "--changed-since", "main", cwd=repo)
    assert proc.returncode == 1 and "sha256 mismatch for entries/test-digits/mlp.tsv" in proc.stdout
    git("checkout", "--", ".")
    assert "no changed entries" in run("check", "--changed-since", "main", cwd=repo).stdout
