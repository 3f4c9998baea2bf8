"""The optimizer's own FLOP per step (aieff.verify.optimizer_cost): the Newton-Schulz formula against a
brute-force count, the rules over an export's parameters, and the term in the published total."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import batch_logs
from aieff.dataset.schema import Benchmark, Entry, OptimizerDefinition
from aieff.repo import DataError
from aieff.verify.optimizer_cost import newton_schulz_multiply_adds, step_cost
from conftest import run


def _matmul_multiply_adds(a: list[list[float]], b: list[list[float]], tally: list[int]) -> list[list[float]]:
    """A plain triple loop that counts each multiply-add it does."""
    rows, inner, cols = len(a), len(b), len(b[0])
    out = [[0.0] * cols for _ in range(rows)]
    for i in range(rows):
        for j in range(cols):
            for k in range(inner):
                out[i][j] += a[i][k] * b[k][j]
                tally[0] += 1
    return out


def _newton_schulz_by_loops(g: list[list[float]], steps: int) -> int:
    """Muon's iteration as the modded-nanogpt scripts write it (transpose to rows <= cols, then
    A = X X^T, B = bA + cAA, X = aX + BX), with every product done by the counting loop."""
    x = [list(r) for r in (zip(*g, strict=True) if len(g) > len(g[0]) else g)]
    a, b, c = 3.4445, -4.7750, 2.0315
    tally = [0]
    for _ in range(steps):
        xt = [list(r) for r in zip(*x, strict=True)]
        am = _matmul_multiply_adds(x, xt, tally)
        aa = _matmul_multiply_adds(am, am, tally)
        bm = [[b * p + c * q for p, q in zip(r1, r2, strict=True)] for r1, r2 in zip(am, aa, strict=True)]
        bx = _matmul_multiply_adds(bm, x, tally)
        x = [[a * p + q for p, q in zip(r1, r2, strict=True)] for r1, r2 in zip(x, bx, strict=True)]
    return tally[0]


@pytest.mark.parametrize(("rows", "cols", "steps"), [(3, 5, 1), (5, 3, 2), (4, 4, 3), (2, 7, 5)])
def test_newton_schulz_formula_matches_a_loop_count(rows: int, cols: int, steps: int) -> None:
    g = [[(i * cols + j) % 7 / 7 for j in range(cols)] for i in range(rows)]
    assert newton_schulz_multiply_adds(rows, cols, steps) == _newton_schulz_by_loops(g, steps)


def test_newton_schulz_formula_matches_torch_flop_counter() -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    def zeropower(g: torch.Tensor, steps: int) -> torch.Tensor:  # the track-3 baseline's definition
        x = g.mT if g.size(-2) > g.size(-1) else g
        x = x / (x.norm(dim=(-2, -1), keepdim=True) + 1e-7)
        a, b, c = 2, -1.5, 0.5
        for _ in range(steps):
            am = x @ x.mT
            bm = b * am + c * am @ am
            x = a * x + bm @ x
        return x

    for shape, steps in (((24, 96), 12), ((96, 24), 5), ((32, 32), 3)):
        with FlopCounterMode(display=False) as counter:
            zeropower(torch.randn(*shape), steps)
        assert counter.get_total_flops() == 2 * newton_schulz_multiply_adds(*shape, steps)


DEFINITION = {
    "name": "toy Muon (3 Newton-Schulz steps) with Adam",
    "rules": [  # the first: q, k and v fused in one tensor, each orthogonalized (4 FLOP per parameter besides)
        {
            "parameters": r"attn\.qkv\.weight",
            "method": "newton-schulz",
            "ns_steps": 3,
            "split": 3,
            "elementwise_flop": 4,
        },
        {"parameters": r"mlp\..*\.weight", "method": "newton-schulz", "ns_steps": 3, "elementwise_flop": 4},
        {"parameters": r".*", "method": "elementwise", "elementwise_flop": 10},
    ],
    "extra_parameters": 20,
    "extra_elementwise_flop": 10,
    "source": {"title": "toy script", "url": "https://example.org/toy", "locator": "Muon"},
}
SHAPES = {"embed.weight": [50, 8], "attn.qkv.weight": [24, 8], "mlp.fc.weight": [12, 8], "mlp.proj.weight": [8, 12]}


def _by_hand() -> float:
    ns = 3 * newton_schulz_multiply_adds(8, 8, 3) + 2 * newton_schulz_multiply_adds(8, 12, 3)
    return 2 * ns + 4 * (24 * 8 + 2 * 96) + 10 * 400 + 20 * 10


def test_step_cost_applies_rules_in_order_and_splits_fused_matrices() -> None:
    cost = step_cost(OptimizerDefinition.model_validate(DEFINITION), SHAPES)
    # 8x8 blocks: 3 x (2*64*8 + 512) = 4,608 multiply-adds each; 8x12: 3 x (2*64*12 + 512) = 6,144.
    assert newton_schulz_multiply_adds(8, 8, 3) == 4608 and newton_schulz_multiply_adds(12, 8, 3) == 6144
    assert cost.flop == _by_hand() == 2 * (3 * 4608 + 2 * 6144) + 4 * 384 + 4000 + 200
    assert len(cost.rows) == 4


def test_a_parameter_no_rule_covers_is_refused() -> None:
    d = OptimizerDefinition.model_validate({**DEFINITION, "rules": DEFINITION["rules"][:2]})
    with pytest.raises(DataError, match="no rule covers the export's parameter embed.weight"):
        step_cost(d, SHAPES)
    with pytest.raises(DataError, match="equal row blocks"):
        step_cost(OptimizerDefinition.model_validate(DEFINITION), {**SHAPES, "attn.qkv.weight": [25, 8]})


# --- end to end: a token model's export, a step log, a level that defines the optimizer ---------------

LEVEL = """# yaml-language-server: $schema=../../schema/benchmark.schema.json
id: toy-lm
title: "Toy language level"
task: "language modelling"
dataset: {name: "toy tokens"}
metric: {name: "cross-entropy loss", unit: loss, split: "val"}
direction: lower
threshold: 3.28
baseline: lm
rules: "Toy tokens; compute = 3 x forward x samples + the optimizer's FLOP per step x steps."
source: {title: "Toy paper", url: "https://example.org/toy", locator: "Table 1"}
batch_reader: modded-nanogpt
"""
# The script the run printed, as modded-nanogpt's logs start (the level's batch reader reads 4 sequences of 16
# tokens per step from it), then the run's output.
SCRIPT = (
    batch_logs.log(
        "    batch_size : int = 4 # batch size, in sequences, across all devices\n"
        "    sequence_length : int = 16 # sequence length, in tokens\n"
    )
    .decode()
    .split("Running Python")[0]
)
LOG = "step:0/20 val_loss:10.9\nstep:10/20 val_loss:3.5\nstep:20/20 val_loss:3.2\n"
FORWARD = 16 * (24 * 8 + 96 + 96 + 400)  # multiply-adds per 16-token sequence: qkv, fc, proj, head


def _toy_lm(toy: Path, flop_per_step: float, log: str = LOG, several: bool = False) -> Path:
    torch = pytest.importorskip("torch")
    from aieff.verify.pt2 import save_graph_only

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(50, 8)
            self.attn = torch.nn.ModuleDict({"qkv": torch.nn.Linear(8, 24, bias=False)})
            self.mlp = torch.nn.ModuleDict(
                {"fc": torch.nn.Linear(8, 12, bias=False), "proj": torch.nn.Linear(12, 8, bias=False)}
            )
            self.head = torch.nn.Linear(8, 50, bias=False)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            x = self.embed(ids)
            x = x + self.attn["qkv"](x)[..., :8]
            return self.head(x + self.mlp["proj"](self.mlp["fc"](x).relu()))

    folder = toy / "entries/toy-lm"
    folder.mkdir()
    with torch.device("meta"):
        net = Net().eval()
    save_graph_only(net, (torch.zeros(1, 16, dtype=torch.long, device="meta"),), folder / "net.pt2")
    adam = {"parameters": r"(embed|head)\.weight", "method": "elementwise", "elementwise_flop": 10}
    muon = {**DEFINITION, "rules": [*DEFINITION["rules"][:2], adam]}
    (folder / "benchmark.yaml").write_text(LEVEL + f"optimizers: {json.dumps({'toy-muon': muon})}\n")  # JSON is YAML
    log = SCRIPT + log
    (folder / "run.txt").write_text(log)
    export_sha = hashlib.sha256((folder / "net.pt2").read_bytes()).hexdigest()
    (folder / "lm.yaml").write_text(
        f"""# yaml-language-server: $schema=../../schema/entry.schema.json
id: lm
benchmark: toy-lm
model: "Toy LM"
publication: {{title: "Toy LM", authors: ["A. Author"], url: "https://example.org/lm", date: 2024-01-01}}
training:
  steps_to_target: 20
  samples_per_step: 4
  forward_cost: {{value: {FORWARD}, unit: multiply-adds, sequence_length: 16}}
  optimizer: {{definition: toy-muon, flop_per_step: {flop_per_step:g}}}
artifacts:
  architecture:
    export: {{path: entries/toy-lm/net.pt2, sha256: {export_sha}}}
    input: tokens
  training_log:
    path: entries/toy-lm/run.txt
    sha256: {hashlib.sha256(log.encode()).hexdigest()}
    several_runs: {str(several).lower()}
    format: step-log
    pattern: '^step:(?P<step>[0-9]+)/[0-9]+ val_loss:(?P<value>[0-9.]+)'
"""
    )
    return folder


def test_the_optimizer_term_is_counted_verified_and_added_to_the_total(toy: Path) -> None:
    import yaml

    from aieff.analysis.analyze import derive

    per_step = _by_hand() + 10 * 400  # the toy net also has a 50-row head under Adam
    folder = _toy_lm(toy, per_step)
    proc = run("validate", cwd=toy)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    forward_term = 3 * 2 * FORWARD * 4 * 20  # 3 x forward FLOP x 80 sequences
    level = Benchmark.model_validate(yaml.safe_load((folder / "benchmark.yaml").read_text()))
    entry = Entry.model_validate(yaml.safe_load((folder / "lm.yaml").read_text()))
    d = derive(entry, level, {"lm": entry})
    assert d is not None and d.optimizer_flop == per_step * 20
    assert d.flop == forward_term + per_step * 20  # fails if the term is dropped from the total
    proc = run("estimate", "entries/toy-lm/lm.yaml", "--format", "json", cwd=toy)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [est] = json.loads(proc.stdout)
    assert est["status"] == "verified"
    assert est["optimizer_flop"] == per_step * 20
    assert est["compute_flop"] == pytest.approx(forward_term + per_step * 20, rel=1e-12)
    [row] = [r for r in est["rows"] if r["what"] == "optimizer FLOP per step (toy-muon)"]
    assert (row["claimed"], row["counted"], row["unit"], row["agreement"]) == (per_step, per_step, "FLOP", "ok")
    text = run("estimate", "entries/toy-lm/lm.yaml", cwd=toy)  # the text table: every row has its four columns
    assert text.returncode == 0 and "optimizer: outside the export" in text.stdout, text.stdout + text.stderr


def test_a_wrong_optimizer_figure_fails_even_inside_the_compute_tolerance(toy: Path) -> None:
    _toy_lm(toy, (_by_hand() + 4000) * 1.5)  # 50% off on a term far under 10% of the total
    proc = run("estimate", "entries/toy-lm/lm.yaml", "--format", "json", cwd=toy)
    [est] = json.loads(proc.stdout)
    assert proc.returncode == 1 and est["status"] == "failed"
    assert any("optimizer FLOP per step: the entry says" in m for m in est["messages"])


def test_the_first_muon_records_form_counts_three_full_products() -> None:
    """Record 4's zeropower_via_newtonschulz5: A = X X^T, B = A X, X = aX + bB + cAB."""
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(16, 40)
    with FlopCounterMode(display=False) as counter:
        for _ in range(5):
            a = x @ x.T
            b = a @ x
            x = 3.4445 * x - 4.7750 * b + 2.0315 * a @ b
    assert (
        counter.get_total_flops()
        == 2 * newton_schulz_multiply_adds(16, 40, 5, "XXt, AX, AB")
        == 2 * 5 * 3 * 16 * 16 * 40
    )


THREE_RUNS = (  # one file, three runs: the first reaches 3.28 at step 10, the second at 20, the third never
    "step:0/20 val_loss:10.9\nstep:10/20 val_loss:3.27\nstep:20/20 val_loss:3.25\n"
    "step:0/20 val_loss:10.9\nstep:10/20 val_loss:3.4\nstep:20/20 val_loss:3.2\n"
    "step:0/20 val_loss:10.9\nstep:10/20 val_loss:3.5\nstep:20/20 val_loss:3.3\n"
)


def test_a_file_of_several_runs_is_read_run_by_run(toy: Path) -> None:
    """Read as one run, the file's evaluations mix: the earliest crossing of any run (step 10) would count.
    Split where the step counter goes back, the median of the three runs (10, 20, never) is step 20."""
    per_step = _by_hand() + 10 * 400
    _toy_lm(toy, per_step, log=THREE_RUNS, several=True)
    proc = run("estimate", "entries/toy-lm/lm.yaml", "--format", "json", cwd=toy)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [est] = json.loads(proc.stdout)
    assert est["status"] == "verified" and est["optimizer_flop"] == per_step * 20
    assert est["compute_flop"] == pytest.approx(3 * 2 * FORWARD * 4 * 20 + per_step * 20, rel=1e-12)
    runs = [r for r in est["rows"] if r["what"].startswith("run 0.")]
    top = SCRIPT.count("\n")  # the script's lines before the run's output
    assert [r["what"] for r in runs] == [
        f"run 0.{k} (run.txt, lines {top + 3 * k + 1}-{top + 3 * k + 3})" for k in range(3)
    ]
    assert "never reaches the level" in runs[2]["counted_text"]


def test_soap_products_match_torch_flop_counter_for_the_matrix_products() -> None:
    """The SOAP rotations and statistics a rule states as r2c / rc2 coefficients, against FlopCounterMode."""
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    from aieff.verify.optimizer_cost import matrix_products

    r, c = 12, 5
    u, q_row, q_col = torch.randn(r, c), torch.randn(r, r), torch.randn(c, c)
    with FlopCounterMode(display=False) as counter:
        projected = q_row.T @ u @ q_col  # r^2 c + r c^2
        _ = q_row @ projected @ q_col.T  # r^2 c + r c^2
        _ = u @ u.T, u.T @ u  # r^2 c, r c^2
        _ = q_row.T @ (q_row @ q_row) @ q_row  # 3 r^3
    assert counter.get_total_flops() == 2 * matrix_products(r, c, {"r2c": 3, "rc2": 3, "r3": 3})
    assert matrix_products(r, c, {"m2n": 1, "m3": 2, "r2": 1.5, "c2": 1.5}) == 25 * 12 + 2 * 125 + 1.5 * (144 + 25)


def test_a_rules_products_are_added_per_matrix_and_per_block() -> None:
    d = OptimizerDefinition.model_validate(
        {
            **DEFINITION,
            "rules": [
                {**DEFINITION["rules"][0], "products": {"r2c": 3, "c3": 1}},
                *DEFINITION["rules"][1:],
            ],
        }
    )
    # three 8 x 8 blocks of the fused qkv: 3 x (3 x 64 x 8 + 512) multiply-adds more
    assert step_cost(d, SHAPES).flop == _by_hand() + 2 * 3 * (3 * 64 * 8 + 512)
