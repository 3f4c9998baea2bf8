"""Checkpoints are read without trusting them: headers only, or the restricted unpickler."""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from aieff.checkpoint import compare, read_checkpoint  # noqa: E402
from aieff.repo import DataError  # noqa: E402

SHAPES = {"0.weight": (32, 64), "0.bias": (32,)}


def _state() -> dict:
    return {"0.weight": torch.zeros(32, 64), "0.bias": torch.zeros(32)}


def test_safetensors_and_torch_zip_match(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file(_state(), str(tmp_path / "a.safetensors"))
    torch.save(_state(), tmp_path / "a.pt")
    for name in ("a.safetensors", "a.pt"):
        report = compare(SHAPES, tmp_path / name)
        assert report.ok and report.parameters == 32 * 64 + 32


def test_shape_and_name_differences_are_listed(tmp_path: Path) -> None:
    torch.save({"0.weight": torch.zeros(48, 64), "extra": torch.zeros(1)}, tmp_path / "b.pt")
    report = compare(SHAPES, tmp_path / "b.pt")
    assert report.missing == ["0.bias"] and report.unexpected == ["extra"]
    assert report.mismatched == ["0.weight [48, 64] vs [32, 64]"]


class Payload:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):  # noqa: ANN204
        return (Path.touch, (self.target,))


def test_a_pickle_that_would_run_code_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    assert pickle.loads(pickle.dumps(Payload(tmp_path / "probe"))) is None and (tmp_path / "probe").exists()
    torch.save({"w": torch.zeros(1), "evil": Payload(marker)}, tmp_path / "evil.pt")
    with pytest.raises(DataError, match="refused"):
        read_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()


def test_legacy_pickles_and_garbage_are_refused(tmp_path: Path) -> None:
    (tmp_path / "legacy.pt").write_bytes(pickle.dumps({"w": 1}))
    with pytest.raises(DataError, match="neither safetensors nor a torch zip"):
        read_checkpoint(tmp_path / "legacy.pt")
    with zipfile.ZipFile(tmp_path / "broken.pt", "w") as zf:
        zf.writestr("archive/data.pkl", b"not a pickle")
    with pytest.raises(DataError):
        read_checkpoint(tmp_path / "broken.pt")


def test_safetensors_header_lies_are_caught(tmp_path: Path) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}}).encode()
    (tmp_path / "short.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    with pytest.raises(DataError, match="bad dtype or offsets"):
        read_checkpoint(tmp_path / "short.safetensors")
    (tmp_path / "huge.safetensors").write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    with pytest.raises(DataError, match="does not fit"):
        read_checkpoint(tmp_path / "huge.safetensors")
    buf = io.BytesIO(struct.pack("<Q", 5) + b"{nope")
    (tmp_path / "bad.safetensors").write_bytes(buf.getvalue())
    with pytest.raises(DataError, match="not JSON"):
        read_checkpoint(tmp_path / "bad.safetensors")


def _exported_mlp(tmp_path: Path) -> Path:
    model = torch.nn.Sequential(torch.nn.Linear(4, 3))
    path = tmp_path / "mlp.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(1, 4),)), str(path))
    return path


def _rewrite(src: Path, dest: Path, replace: dict[str, bytes]) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, replace.get(info.filename.split("/", 1)[1], zin.read(info)))


def test_a_hostile_export_archive_is_refused_before_torch_unpickles_it(tmp_path: Path) -> None:
    from aieff.flops import load_export

    good = _exported_mlp(tmp_path)
    assert load_export(good).state_dict()["0.weight"].shape == (3, 4)
    marker = tmp_path / "pwned"
    payload = io.BytesIO()
    torch.save(Payload(marker), payload)
    with zipfile.ZipFile(good) as zf:
        config = json.loads(zf.read("mlp/data/weights/model_weights_config.json"))
    config["config"]["0.weight"]["use_pickle"] = True
    evil = tmp_path / "evil.pt2"
    _rewrite(
        good,
        evil,
        {
            "data/weights/model_weights_config.json": json.dumps(config).encode(),
            "data/weights/weight_0": payload.getvalue(),
        },
    )
    with pytest.raises(DataError, match="would be unpickled"):
        load_export(evil)
    assert not marker.exists()
    # The payload is real: torch.export.load itself would run it.
    with pytest.raises(Exception):  # noqa: B017 - whatever torch makes of the result, the code has run
        torch.export.load(str(evil))
    assert marker.exists()
