"""Hostile exports against counting: a layer's weights kept in the state dict (so a checkpoint matches)
while the graph hides or skips the layer's arithmetic. Each must end in its A2xx refusal."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hostile_corpus import LEVEL, Case, add_artifacts, export_entry, failed_with, sha


def _export(forward: Callable[[Any, Any], Any]) -> bytes:
    """A graph-only export of a 4 -> 3 layer whose `fc.weight` the forward uses as it likes."""
    import torch

    class Layer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(4, 3, bias=False)

        def forward(self, x: Any) -> Any:
            return forward(x, self.fc.weight)

    with torch.device("meta"):
        model = Layer().eval()
    buf = io.BytesIO()
    torch.export.save(torch.export.export(model, (torch.empty(1, 4, device="meta"),)), buf)
    return buf.getvalue()


def _hidden_product(x: Any, w: Any) -> Any:
    import torch

    p = x.unsqueeze(-2) * w  # a sum behind a smooth op (sigmoid, on the gate's list) no counter sees
    return torch.sigmoid(p).sum(-1)


def _matvec(x: Any, w: Any) -> Any:
    return w @ x.reshape(-1)  # aten.mv: no counter prices it


def _skipped_layer_with_checkpoint(repo: Path) -> list[str]:
    """The export keeps fc.weight (so the real checkpoint matches) but never applies it."""
    data = _export(lambda x, w: x * 2)
    header = b'{"fc.weight":{"dtype":"F32","shape":[3,4],"data_offsets":[0,48]}}'
    blob = len(header).to_bytes(8, "little") + header + struct.pack("<12f", *range(1, 13))  # real, not constant
    (repo / LEVEL / "m.pt2").write_bytes(data)
    (repo / LEVEL / "c.safetensors").write_bytes(blob)
    add_artifacts(
        repo,
        f"  architecture:\n    export:\n      path: {LEVEL}/m.pt2\n      sha256: {sha(data)}\n"
        "    input: vector\n    input_features: 4\n"
        f"  checkpoint:\n    path: {LEVEL}/c.safetensors\n    sha256: {sha(blob)}\n",
    )
    return ["estimate", f"{LEVEL}/better.yaml"]


def _case(name: str, forward: Callable[[Any, Any], Any], *needles: str) -> Case:
    def setup(repo: Path) -> list[str]:
        return export_entry(repo, _export(forward))

    return Case(name, setup, failed_with(*needles), needs_torch=True)


def cases() -> list[Case]:
    return [
        _case("count-linear-as-hidden-product", _hidden_product, "A201", "fc.weight"),
        Case(
            "count-weight-skipped-checkpoint-matches",
            _skipped_layer_with_checkpoint,
            failed_with("A202", "fc.weight"),
            needs_torch=True,
        ),
        _case("count-linear-as-matvec", _matvec, "A203", "aten.mv"),
    ]
