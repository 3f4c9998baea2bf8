"""Hostile cases from an independent attack on the second round's fixes: each got a false "verified", a
per-sample count far below the real cost, or a workflow command into the CLI's output before its fix."""

from __future__ import annotations

import io
from pathlib import Path

from hostile_corpus import LEVEL, Case, Result, add_artifacts, edit, failed_with, log_entry, sha


def _batch_mixing_export() -> bytes:
    """A layer that mixes the samples of its batch (h @ h^T over the batch), the batch left dynamic: at a
    batch of one it costs a fraction of what it costs at the batch it trained with."""
    import torch

    class Mix(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.fc(x)
            return torch.softmax(h @ h.transpose(0, 1), -1) @ h

    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    program = torch.export.export(Mix().eval(), (torch.zeros(8, 4),), dynamic_shapes=({0: batch},))
    buf = io.BytesIO()
    torch.export.save(program, buf)
    return buf.getvalue()


def _batch_mixing(repo: Path) -> list[str]:
    data = _batch_mixing_export()
    (repo / LEVEL / "m.pt2").write_bytes(data)
    add_artifacts(
        repo,
        f"  architecture:\n    export:\n      path: {LEVEL}/m.pt2\n      sha256: {sha(data)}\n"
        "    input: vector\n    input_features: 4\n",
    )
    return ["estimate", f"{LEVEL}/better.yaml"]


def _pow_hidden_linear(repo: Path) -> list[str]:
    """A Linear as a broadcast product whose sum the summed-product search does not follow (pow(p, 1))."""
    # The activation-only form, (q[:, None] * q[None]).pow(1).sum(-1), is priced as a broadcast product
    # (tests/test_export_graph.py); with a weight operand the weight rule refuses it first.
    import torch

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(4, 3, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x.unsqueeze(-2) * self.fc.weight).pow(1).sum(-1)

    buf = io.BytesIO()
    with torch.device("meta"):
        model = Hidden().eval()
    torch.export.save(torch.export.export(model, (torch.empty(1, 4, device="meta"),)), buf)
    (repo / LEVEL / "m.pt2").write_bytes(buf.getvalue())
    return ["probe", "--export", f"{LEVEL}/m.pt2", "--input", "vector", "--features", "4"]


def _counted_or_refused(r: Result) -> str | None:
    """Counted as the Linear (12 multiply-adds), or its weight refused (A201): never counted as zero."""
    if r.code == 0 and "value: 12, unit: multiply-adds" in r.out or r.code == 1 and "A201" in r.out:
        return None
    return f"exit {r.code}: neither counted as the Linear nor refused"


def _rows_as_scales(repo: Path) -> list[str]:
    """A Linear whose weight rows are applied one by one as per-channel scales and summed by slices and
    adds (never reaching a sum): each row alone is no larger than the input, together they are the matrix."""
    import torch

    class Rows(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(4, 3, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            outs = []
            for i in range(3):
                p = x * self.fc.weight[i]
                outs.append(p[:, 0:1] + p[:, 1:2] + p[:, 2:3] + p[:, 3:4])
            return torch.cat(outs, -1)

    buf = io.BytesIO()
    with torch.device("meta"):
        model = Rows().eval()
    torch.export.save(torch.export.export(model, (torch.empty(1, 4, device="meta"),)), buf)
    (repo / LEVEL / "m.pt2").write_bytes(buf.getvalue())
    return ["probe", "--export", f"{LEVEL}/m.pt2", "--input", "vector", "--features", "4"]


def _own_samples_per_epoch(repo: Path) -> list[str]:
    """An honest DAWNBench log, but the entry scales its epochs by its own samples_per_epoch, 100x below
    the level's, with a claim scaled to match: the log cannot contradict a figure it never states."""
    log = b"epoch\thours\ttop1Accuracy\n1\t0.1\t80\n2\t0.2\t91\n"
    edit(repo, "  epochs_to_target: 10\n", "  epochs_to_target: 2\n  samples_per_epoch: 10\n")
    return log_entry(repo, log, extra="    columns: {metric: top1Accuracy}\n")


def _column_name_injection(repo: Path) -> list[str]:
    log = b'{"acc": 91, "e": "zz"}\n'
    return log_entry(repo, log, "jsonl", '    columns: {metric: acc, epoch: "e\\n::warning title=INJECTED::pwned"}\n')


def _no_workflow_command(r: Result) -> str | None:
    if any(line.lstrip().startswith("::") for line in r.out.splitlines()):
        return "a line of the output is a workflow command"
    shown = any("INJECTED" in line and not line.lstrip().startswith("::") for line in r.out.splitlines())
    return None if r.code == 1 and shown else f"exit {r.code}, or the name is not shown on a line of its own"


def cases() -> list[Case]:
    return [
        Case("audit-batch-mixing-export", _batch_mixing, failed_with("A204", "a batch of two costs"), needs_torch=True),
        Case(
            "audit-entry-scales-epochs-itself",
            _own_samples_per_epoch,
            failed_with("samples_per_epoch (10)", "not within 10% of the level's (1,000)"),
            needs_torch=True,
        ),
        Case("audit-linear-behind-pow-1", _pow_hidden_linear, _counted_or_refused, needs_torch=True),
        Case(
            "audit-linear-as-row-scales",
            _rows_as_scales,
            failed_with("A201", "over several free products"),
            needs_torch=True,
        ),
        Case("audit-column-name-workflow-command", _column_name_injection, _no_workflow_command, needs_torch=True),
    ]
