"""The .pt2 gate's operator list, argument values and dialect: what every committed export needs passes,
anything that writes, reads files, mutates an input or draws random numbers is refused by code and name."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from aieff.refusals import Refused
from aieff.repo import DataError
from aieff.verify.pt2 import check_without_torch, clean_model_json
from aieff.verify.pt2_operators import TABLE, VALUES, allowed, committed_exports, generate, model_jsons, why_impure
from conftest import ROOT


def _arg(name: str, **arg: Any) -> dict[str, Any]:
    return {"name": name, "arg": arg, "kind": 1}


def _x() -> dict[str, Any]:
    return _arg("self", as_tensor={"name": "x"})


def _doc(target: str, inputs: list[dict[str, Any]] | None = None, verifiers: Any = ("TRAINING",)) -> dict[str, Any]:
    node = {"target": target, "inputs": [_x()] if inputs is None else inputs, "outputs": [], "name": "n"}
    return {"graph_module": {"graph": {"nodes": [node]}}, "verifiers": list(verifiers)}


def _clean(doc: dict[str, Any]) -> dict[str, Any]:
    return json.loads(clean_model_json(json.dumps(doc).encode(), "m.json"))


def _refused(doc: dict[str, Any], code: str, *needles: str) -> None:
    with pytest.raises(Refused) as caught:
        _clean(doc)
    assert caught.value.code == code, caught.value
    for needle in needles:
        assert needle in str(caught.value)


# --- the list against the committed exports ---------------------------------------------------------


def test_the_operator_list_is_what_the_committed_exports_and_extras_give() -> None:
    """tools/aieff/verify/data/pt2_operators.json is current (regenerate: python -m aieff.verify.pt2_operators)."""
    assert TABLE.read_text() == generate(ROOT)


def test_every_operator_a_committed_export_calls_is_listed() -> None:
    listed = allowed()["operators"]
    exports = committed_exports(ROOT)
    assert len(exports) >= 29
    for path, doc in model_jsons(exports):
        missing = {n["target"] for n in doc["graph_module"]["graph"]["nodes"]} - set(listed)
        assert not missing, f"{path.name} calls {missing}"


def test_every_committed_export_passes_the_gate() -> None:
    for path in committed_exports(ROOT):
        check_without_torch(path)


def test_regenerating_refuses_an_impure_operator_or_an_unreviewed_string(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "entries/level/exports"
    folder.mkdir(parents=True)

    def write(doc: dict[str, Any]) -> None:
        with zipfile.ZipFile(folder / "bad.pt2", "w") as zf:
            zf.writestr("bad/models/model.json", json.dumps(doc))

    write(_doc("torch.ops.aten.from_file.default"))
    with pytest.raises(ValueError, match="from_file.default .touches files"):
        generate(tmp_path)
    write(_doc("torch.ops.aten.gelu.default", [_x(), _arg("approximate", as_string="erf")]))
    with pytest.raises(ValueError, match="review VALUES"):
        generate(tmp_path)
    write(_doc("torch.ops.aten.relu.default"))
    assert json.loads(generate(tmp_path))["operators"]["torch.ops.aten.relu.default"]["exports"] == 1
    monkeypatch.setattr("aieff.verify.pt2_operators.EXTRAS", frozenset({"torch.ops.aten.add_.Tensor"}))
    with pytest.raises(ValueError, match="EXTRAS lists torch.ops.aten.add_.Tensor .in-place"):
        generate(tmp_path)


def test_every_listed_operator_is_pure_by_its_torch_schema() -> None:
    """No listed operator writes to an argument, has an `.out` or in-place form, or is random unless its
    random flag is pinned; every string argument has its values listed, and every listed argument exists."""
    torch = pytest.importorskip("torch")

    for target, entry in allowed()["operators"].items():
        _, _, namespace, name, overload = target.split(".")
        assert namespace == "aten" and why_impure(target) is None, target
        op = getattr(getattr(torch.ops.aten, name), overload)
        schema = op._schema
        assert not schema.is_mutable, target
        assert not any(a.alias_info is not None and a.alias_info.is_write for a in schema.arguments), target
        names = {a.name for a in schema.arguments}
        pinned = set(entry["arguments"])
        assert pinned <= names, f"{target}: {pinned - names} are not arguments"
        strings = {a.name for a in schema.arguments if "str" in str(a.type)}
        assert strings <= pinned, f"{target}: string arguments {strings - pinned} have no listed values"
        if torch.Tag.nondeterministic_seeded in op.tags:
            assert target == "torch.ops.aten.scaled_dot_product_attention.default", target
            assert entry["arguments"]["dropout_p"] == [0.0]


# --- operators ----------------------------------------------------------------------------------------


def test_listed_operators_pass_and_the_loaded_copy_names_the_strict_verifier() -> None:
    doc = _clean(_doc("torch.ops.aten.relu.default"))
    assert doc["verifiers"] == ["ATEN"]
    _clean(_doc("torch.ops.aten.conv2d.padding", [_x(), _arg("padding", as_string="same")]))


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("torch.ops.aten.from_file.default", "touches files"),
        ("torch.ops.aten.copy_.default", "in-place"),
        ("torch.ops.aten.set_.source_Storage", "in-place"),
        ("torch.ops.aten.resize_.default", "in-place"),
        ("torch.ops.aten.add_.Tensor", "in-place"),
        ("torch.ops.aten.add.out", "writes into a tensor"),
        ("torch.ops.aten.max.dim_max", None),
        ("torch.ops.aten.bernoulli.default", "random"),
        ("torch.ops.aten.normal.Tensor_float", "random"),
        ("torch.ops.aten.rand.default", "random"),
        ("torch.ops.aten._local_scalar_dense.default", "storage"),
        ("torch.ops.aten.empty.memory_format", "storage"),
        ("torch.ops.aten.sym_size.int", None),
        ("torch.ops.prims.convert_element_type.default", "not an aten operator"),
        ("torch.ops.higher_order.cond", "not an aten operator"),
        ("torch.hub.load", "not an aten operator"),
        ("torch.save", "not an aten operator"),
        ("builtins.eval", "not an aten operator"),
        ("math.sqrt", "not an aten operator"),
        ("_operator.getitem", "not an aten operator"),
        ("_operator.setitem", "not an aten operator"),
        ("torch.ops.aten.relu.default.x", "not an aten operator"),
        ("", "not an aten operator"),
    ],
)
def test_operators_off_the_list_are_refused_by_name(target: str, why: str | None) -> None:
    _refused(_doc(target), "A101", repr(target), *([why] if why else []))


def test_a_target_that_is_not_a_string_is_refused() -> None:
    doc = _doc("torch.ops.aten.relu.default")
    doc["graph_module"]["graph"]["nodes"][0]["target"] = ["torch.ops.aten.relu.default"]
    _refused(doc, "A101")


def test_a_target_outside_a_node_is_refused() -> None:
    doc = _doc("torch.ops.aten.relu.default")
    doc["graph_module"]["elsewhere"] = {"target": "torch.ops.aten.from_file.default"}
    _refused(doc, "A101", "from_file")


# --- argument values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "name", "value"),
    [
        ("torch.ops.aten.gelu.default", "approximate", "none"),
        ("torch.ops.aten.gelu.default", "approximate", "tanh"),
        ("torch.ops.aten.conv2d.padding", "padding", "valid"),
        ("torch.ops.aten.div.Tensor_mode", "rounding_mode", "floor"),
        ("torch.ops.aten.pad.default", "mode", "reflect"),
    ],
)
def test_listed_string_values_pass(target: str, name: str, value: str) -> None:
    _clean(_doc(target, [_x(), _arg(name, as_string=value)]))


@pytest.mark.parametrize(
    ("target", "name", "value"),
    [
        ("torch.ops.aten.gelu.default", "approximate", "/etc/passwd"),
        ("torch.ops.aten.gelu.default", "approximate", "TANH"),
        ("torch.ops.aten.conv2d.padding", "padding", "../../.git/config"),
        ("torch.ops.aten.relu.default", "self", "/tmp/x"),  # an operator that takes no string at all
        ("torch.ops.aten.relu.default", "filename", "/tmp/x"),  # an argument torch would ignore
    ],
)
def test_other_strings_are_refused_naming_operator_and_argument(target: str, name: str, value: str) -> None:
    _refused(_doc(target, [_x(), _arg(name, as_string=value)]), "A102", target, repr(name), repr(value))


def test_every_occurrence_of_an_argument_is_checked() -> None:
    """torch keeps the last of two same-named arguments: both must pass."""
    target = "torch.ops.aten.gelu.default"
    inputs = [_x(), _arg("approximate", as_string="/etc/passwd"), _arg("approximate", as_string="none")]
    _refused(_doc(target, inputs), "A102", "/etc/passwd")


@pytest.mark.parametrize(
    ("target", "name", "arg"),
    [
        ("torch.ops.aten.batch_norm.default", "training", {"as_bool": True}),
        ("torch.ops.aten.batch_norm.default", "training", {"as_int": 0}),
        ("torch.ops.aten.batch_norm.default", "training", {"as_tensor": {"name": "x"}}),
        ("torch.ops.aten.scaled_dot_product_attention.default", "dropout_p", {"as_float": 0.1}),
    ],
)
def test_flags_that_write_or_draw_random_numbers_are_refused(target: str, name: str, arg: dict[str, Any]) -> None:
    _refused(_doc(target, [_x(), {"name": name, "arg": arg, "kind": 1}]), "A102", target, repr(name))


def test_flags_at_their_pure_values_pass() -> None:
    _clean(_doc("torch.ops.aten.batch_norm.default", [_x(), _arg("training", as_bool=False)]))
    _clean(_doc("torch.ops.aten.scaled_dot_product_attention.default", [_x(), _arg("dropout_p", as_float=0.0)]))


def test_a_string_outside_a_node_is_refused() -> None:
    doc = _doc("torch.ops.aten.relu.default")
    doc["graph_module"]["graph"]["outputs"] = [{"as_string": "/etc/passwd"}]
    _refused(doc, "A102", "/etc/passwd")


@pytest.mark.parametrize(
    "arg",
    [
        {"as_strings": ["none"]},
        {"as_string_to_argument": {"a": {"as_string": "/etc/passwd"}}},
        {"as_nested_tensors": []},
        {"as_complex": {"real": 1.0, "imag": 0.0}},
        {},
        {"as_bool": True, "as_string": "none"},
    ],
)
def test_argument_kinds_off_the_list_are_refused(arg: dict[str, Any]) -> None:
    _refused(_doc("torch.ops.aten.gelu.default", [_x(), {"name": "approximate", "arg": arg, "kind": 1}]), "A103")


def test_every_value_list_is_in_the_committed_table() -> None:
    for target, values in VALUES.items():
        assert allowed()["operators"][target]["arguments"] == {k: list(v) for k, v in values.items()}


# --- dialect and archive ------------------------------------------------------------------------------


@pytest.mark.parametrize("verifiers", [["ATEN"], [], ["TRAINING", "ATEN"], "TRAINING", None, ["CUSTOM"], ["training"]])
def test_a_dialect_the_committed_exports_do_not_use_is_refused(verifiers: Any) -> None:
    doc = _doc("torch.ops.aten.relu.default")
    doc["verifiers"] = verifiers
    _refused(doc, "A104")
    del doc["verifiers"]
    _refused(doc, "A104")


def test_pickled_weights_are_refused_as_unexpected_members(tmp_path: Path) -> None:
    """The old format's weights/*.pt (pickles) never pass the member list."""
    archive = tmp_path / "m.pt2"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("m/archive_format", "pt2")
        zf.writestr("m/data/weights/model.pt", b"\x80\x04N.")
    with pytest.raises(DataError, match="unexpected member 'm/data/weights/model.pt'"):
        check_without_torch(archive)


def test_torch_itself_refuses_a_listed_in_place_operator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second barrier: were an in-place operator ever listed, the copy torch loads names the strict
    verifier, which refuses it."""
    torch = pytest.importorskip("torch")
    from aieff.verify.pt2 import sanitized_copy
    from hostile_corpus import tiny_export, with_model_json

    src = tmp_path / "tiny.pt2"
    tiny_export(src)

    def in_place(doc: dict[str, Any]) -> None:
        doc["graph_module"]["graph"]["nodes"][-1]["target"] = "torch.ops.aten.relu_.default"

    (tmp_path / "bad.pt2").write_bytes(with_model_json(in_place)(src))
    table = json.loads(TABLE.read_text())
    table["operators"]["torch.ops.aten.relu_.default"] = {"arguments": {}, "exports": 0}
    monkeypatch.setattr("aieff.verify.pt2.allowed", lambda: table)
    clean = sanitized_copy(tmp_path / "bad.pt2", tmp_path / "checked.pt2")
    with pytest.raises(Exception, match="not functional"):
        torch.export.load(str(clean))
