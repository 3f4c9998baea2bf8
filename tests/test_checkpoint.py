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

from aieff.refusals import Refused  # noqa: E402
from aieff.repo import DataError  # noqa: E402
from aieff.verify.checkpoint import compare, read_checkpoint, read_checkpoint_header, state_shapes  # noqa: E402

SHAPES = {"0.weight": (32, 64), "0.bias": (32,)}


def _state() -> dict:
    return {"0.weight": torch.randn(32, 64), "0.bias": torch.zeros(32)}  # a zero bias is a real one


def test_safetensors_and_torch_zip_match(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file(_state(), str(tmp_path / "a.safetensors"))
    torch.save(_state(), tmp_path / "a.pt")
    for name in ("a.safetensors", "a.pt"):
        report = compare(SHAPES, tmp_path / name)
        assert report.ok and report.parameters == 32 * 64 + 32


def test_shape_and_name_differences_are_listed(tmp_path: Path) -> None:
    torch.save({"0.weight": torch.randn(48, 64), "extra": torch.zeros(1)}, tmp_path / "b.pt")
    report = compare(SHAPES, tmp_path / "b.pt")
    assert report.missing == ["0.bias"] and report.unexpected == ["extra"]
    assert report.mismatched == ["0.weight [48, 64] vs [32, 64]"]


class Payload:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
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
    with pytest.raises(Refused, match="A501 .*tensor 'w': data_offsets \\[0, 4000\\] run past the 16-byte"):
        read_checkpoint(tmp_path / "short.safetensors")
    (tmp_path / "huge.safetensors").write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    with pytest.raises(DataError, match="does not fit"):
        read_checkpoint(tmp_path / "huge.safetensors")
    _safetensors(tmp_path / "meta.safetensors", {"__metadata__": {"format": 1}}, b"")
    with pytest.raises(DataError, match="__metadata__ is not a mapping of strings"):
        read_checkpoint(tmp_path / "meta.safetensors")
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
    from aieff.verify.flops import load_export

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


# --- a checkpoint must carry real weights --------------------------------------------------------


def _safetensors(path: Path, header: dict, data: bytes) -> Path:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def _library_refuses(path: Path) -> bool:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "pt") as f:
            for key in f.keys():  # safe_open is not a mapping
                f.get_tensor(key)
    except SafetensorError:
        return True
    return False


def test_a_header_only_safetensors_file_is_refused(tmp_path: Path) -> None:
    """The names and shapes of a real model, without its weights: safetensors itself refuses such a file."""
    kernel = {"dtype": "F32", "shape": [64, 3, 3, 3]}
    empty = _safetensors(tmp_path / "empty.safetensors", {"conv1.weight": {**kernel, "data_offsets": [0, 0]}}, b"")
    declared = _safetensors(
        tmp_path / "declared.safetensors", {"conv1.weight": {**kernel, "data_offsets": [0, 6912]}}, b""
    )
    for path, why in ((empty, "needs 6912 bytes; its data_offsets \\[0, 0\\] hold 0"), (declared, "run past")):
        assert _library_refuses(path)
        with pytest.raises(Refused, match=f"A501 checkpoint-layout: .*tensor 'conv1.weight'.*{why}"):
            read_checkpoint_header(path)  # the torch-free precheck refuses it already


def test_safetensors_with_overlapping_or_short_ranges_is_refused(tmp_path: Path) -> None:
    data = torch.randn(6).numpy().tobytes()  # 24 bytes
    overlap = _safetensors(
        tmp_path / "overlap.safetensors",
        {
            "a.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
            "b.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [8, 24]},
        },
        data,
    )
    assert _library_refuses(overlap)
    with pytest.raises(Refused, match="A501 .*tensor 'b.weight' at \\[8, 24\\] overlaps tensor 'a.weight'"):
        read_checkpoint(overlap)
    extra = _safetensors(
        tmp_path / "extra.safetensors", {"a.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}, data
    )
    assert _library_refuses(extra)
    with pytest.raises(Refused, match="A501 .*cover 16 bytes of a 24-byte data section"):
        read_checkpoint(extra)


def test_a_torch_zip_of_expanded_views_is_refused(tmp_path: Path) -> None:
    """One stored float, seen as a 64x3x3x3 kernel through zero strides."""
    torch.save({"conv1.weight": torch.randn(1).expand(64, 3, 3, 3), "conv1.bias": torch.randn(64)}, tmp_path / "x.pt")
    with pytest.raises(Refused, match="A503 checkpoint-view: .*tensor 'conv1.weight' \\[64, 3, 3, 3\\].*zero stride"):
        read_checkpoint_header(tmp_path / "x.pt")
    with pytest.raises(Refused, match="A503"):
        compare({"conv1.weight": (64, 3, 3, 3), "conv1.bias": (64,)}, tmp_path / "x.pt")


def test_a_torch_zip_of_views_sharing_one_storage_is_refused(tmp_path: Path) -> None:
    base = torch.randn(100)
    torch.save({"a.weight": base[:60].view(6, 10), "b.weight": base[40:].view(6, 10)}, tmp_path / "overlap.pt")
    with pytest.raises(Refused, match="A504 checkpoint-shared-storage: .*'a.weight' and 'b.weight' share storage"):
        read_checkpoint(tmp_path / "overlap.pt")
    same = base[:60].view(6, 10)
    torch.save({"a.weight": same, "b.weight": same}, tmp_path / "alias.pt")
    with pytest.raises(Refused, match="A504 .*'a.weight' and 'b.weight' are one storage; the architecture does not"):
        compare({"a.weight": (6, 10), "b.weight": (6, 10)}, tmp_path / "alias.pt")


class Tied(torch.nn.Module):
    """An embedding and an output layer sharing one weight, as GPT-2's do."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(10, 4)
        self.head = torch.nn.Linear(4, 10, bias=False)
        self.head.weight = self.embed.weight
        self.other = torch.nn.Linear(4, 10, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x)) + self.other(self.embed(x))


def test_weights_tied_by_the_architecture_may_share_storage(tmp_path: Path) -> None:
    from aieff.verify.flops import load_export

    model = Tied()
    torch.save(model.state_dict(), tmp_path / "tied.pt")
    assert read_checkpoint_header(tmp_path / "tied.pt") == "torch-zip"
    ids = torch.zeros(1, 3, dtype=torch.long)
    with torch.device("meta"):
        graph_only = torch.export.export(Tied(), (ids.to("meta"),))
    torch.export.save(torch.export.export(model, (ids,)), str(tmp_path / "tied.pt2"))
    torch.export.save(graph_only, str(tmp_path / "graph_only.pt2"))
    tie = [frozenset({"embed.weight", "head.weight"})]
    for arch, ties in (
        (model, tie),
        (load_export(tmp_path / "tied.pt2"), tie),  # loaded, its tied weights are distinct objects on one storage
        (load_export(tmp_path / "graph_only.pt2"), None),  # every meta tensor reads as one storage: ties unknown
    ):
        shapes = state_shapes(arch)
        assert shapes.tied == ties
        assert compare(shapes, tmp_path / "tied.pt").ok
    # The same archive with the other layer also on that storage: not a tie of this architecture.
    state = model.state_dict()
    torch.save({**state, "other.weight": state["embed.weight"]}, tmp_path / "alias.pt")
    with pytest.raises(Refused, match="A504 .*'embed.weight' and 'other.weight' are one storage"):
        compare(state_shapes(model), tmp_path / "alias.pt")


def test_a_storage_that_is_not_its_record_is_refused(tmp_path: Path) -> None:
    """The pickle declares 64x64 floats; the archive's record for that storage holds 4 bytes."""
    torch.save({"w.weight": torch.randn(64, 64)}, tmp_path / "ok.pt")
    with zipfile.ZipFile(tmp_path / "ok.pt") as zin, zipfile.ZipFile(tmp_path / "short.pt", "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info)[:4] if info.filename.endswith("/data/0") else zin.read(info))
    with pytest.raises(Refused, match="A502 .*storage '0' declares 16384 bytes; its record holds 4"):
        read_checkpoint_header(tmp_path / "short.pt")


def test_constant_weights_are_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    state = {"conv.weight": torch.randn(8, 3, 3, 3), "fc.weight": torch.full((10, 8), 0.5), "fc.bias": torch.zeros(10)}
    save_file(state, str(tmp_path / "c.safetensors"))
    torch.save(state, tmp_path / "c.pt")
    for name in ("c.safetensors", "c.pt"):
        with pytest.raises(Refused, match="A505 checkpoint-constant: .*tensor 'fc.weight' \\[10, 8\\] is one value"):
            read_checkpoint_header(tmp_path / name)
    # Without any weight matrix, a checkpoint whose every tensor is constant is refused as a whole...
    flat = {"norm.bias": torch.zeros(10), "norm.running_var": torch.ones(10), "step": torch.tensor(0)}
    save_file(flat, str(tmp_path / "flat.safetensors"))
    with pytest.raises(Refused, match="A505 .*every tensor of more than one element is one value repeated"):
        read_checkpoint(tmp_path / "flat.safetensors")
    # ...and passes with one tensor that varies.
    save_file({**flat, "norm.weight": torch.randn(10)}, str(tmp_path / "varied.safetensors"))
    assert read_checkpoint(tmp_path / "varied.safetensors")[0] == "safetensors"


def test_a_real_torchvision_checkpoint_passes(tmp_path: Path) -> None:
    """ResNet-18 with its random initial weights (constant BN weights and running statistics included)."""
    from safetensors.torch import save_file
    from torchvision import models

    model = models.resnet18(weights=None)
    torch.save(model.state_dict(), tmp_path / "r18.pt")
    save_file(model.state_dict(), str(tmp_path / "r18.safetensors"))
    with torch.device("meta"):
        expected = state_shapes(models.resnet18(weights=None))
    for name in ("r18.pt", "r18.safetensors"):
        assert read_checkpoint_header(tmp_path / name)
        report = compare(expected, tmp_path / name)
        assert report.ok and report.tensors == 122 and report.parameters == 11_689_512 + 9_600 + 20, report
