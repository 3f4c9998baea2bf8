"""torchvision's published forward cost per model, kept as data so `aieff validate` can compare a typed
forward cost with it without importing torch.

`python -m aieff.analysis.torchvision_table` regenerates tools/aieff/analysis/data/torchvision_ops.json from
the installed torchvision's weight metadata (`_ops`: G multiply-adds at the weights' crop size); a test fails when
the committed file differs from what the pinned torchvision says.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

TABLE = Path(__file__).with_name("data") / "torchvision_ops.json"


def generate() -> str:
    """The table's JSON text, from the installed torchvision (imports torch)."""
    from torchvision import models

    rows = {}
    for name in sorted(models.list_models(module=models)):
        weights = models.get_model_weights(name).DEFAULT
        crop = weights.transforms.keywords.get("crop_size")
        rows[name] = {"multiply_adds": round(weights.meta["_ops"] * 1e9), "resolution": crop}
    doc = {"source": "torchvision weight metadata `_ops` (G multiply-adds, rounded to 3 decimals)", "models": rows}
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


@cache
def known() -> dict[str, dict[str, int]]:
    """Model name -> {'multiply_adds', 'resolution'} from the committed table."""
    return json.loads(TABLE.read_text())["models"]


def expected_multiply_adds(name: str, resolution: int | None) -> float | None:
    """torchvision's figure scaled to `resolution` by area (close for convolutional networks)."""
    row = known().get(name)
    if row is None or not row.get("resolution"):
        return None
    side = resolution or row["resolution"]
    return row["multiply_adds"] * (side / row["resolution"]) ** 2


if __name__ == "__main__":
    from aieff.repo import write_atomic

    write_atomic(TABLE, generate())
    print(f"wrote {TABLE}")
