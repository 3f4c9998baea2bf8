"""Hostile .pt2 graphs: operators that write or read files, mutate their inputs or are not aten at all, free
strings in arguments, a foreign verifier dialect. Each is the tiny export with its model JSON edited, so
apart from the attack it is an archive torch loads and runs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from hostile_corpus import MARKER_ENV, Case, Result, failed_with, tampered_export, with_model_json

SECRET = "aieff-hostile-secret"


def _arg(name: str, kind: int = 1, **arg: object) -> dict:
    return {"name": name, "arg": arg, "kind": kind}


def _tensor(name: str) -> dict:
    return {"as_tensor": {"name": name}}


def _insert(doc: dict, nodes: list[dict], *, like: str = "p_0_bias", output: str | None = None) -> None:
    """Put nodes before the last one (relu); each output gets the tensor metadata of `like` (float32, [3]).
    With output, the graph returns that tensor instead (so the nodes' result is used)."""
    graph = doc["graph_module"]["graph"]
    graph["nodes"][-1:-1] = nodes
    for node in nodes:
        for out in node["outputs"]:
            graph["tensor_values"][out["as_tensor"]["name"]] = dict(graph["tensor_values"][like])
    if output:
        graph["outputs"] = [_tensor(output)]
        doc["graph_module"]["signature"]["output_specs"] = [{"user_output": {"arg": _tensor(output)}}]


def _node(target: str, inputs: list[dict], out: str) -> dict:
    return {"target": target, "inputs": inputs, "outputs": [_tensor(out)], "metadata": {}, "name": out}


def _from_file(path: str, shared: bool) -> dict:
    return _node(
        "torch.ops.aten.from_file.default",
        [_arg("filename", as_string=path), _arg("shared", as_bool=shared), _arg("size", as_int=3)],
        "mapped",
    )


def _write_canary(doc: dict) -> None:
    """aten.from_file(canary, shared=True) maps (creating) the file, copy_ writes the bias into it."""
    copy = _node(
        "torch.ops.aten.copy_.default", [_arg("self", **_tensor("mapped")), _arg("src", **_tensor("p_0_bias"))], "copy"
    )
    _insert(doc, [_from_file(os.environ[MARKER_ENV], shared=True), copy])


def _read_file(doc: dict) -> None:
    """aten.from_file(secret, shared=False) reads a file outside the job and returns its bytes as the output."""
    secret = Path(os.environ[MARKER_ENV]).with_name(SECRET)
    secret.write_bytes(b"\0" * 12)
    _insert(doc, [_from_file(str(secret), shared=False)], output="mapped")


def _retarget(target: str, extra: list[dict] | None = None) -> Callable[[dict], None]:
    """The last node (relu) calls `target` instead, with `extra` arguments after its own."""

    def change(doc: dict) -> None:
        node = doc["graph_module"]["graph"]["nodes"][-1]
        node["target"] = target
        node["inputs"] += extra or []

    return change


def _dialect(doc: dict) -> None:
    doc["verifiers"] = ["ATEN"]


def refused(code: str, *needles: str) -> Callable[[Result], str | None]:
    """A coded refusal naming every needle, and no canary written."""

    def judge(r: Result) -> str | None:
        if Path(os.environ[MARKER_ENV]).exists():
            return "the graph wrote the canary file"
        return failed_with(code, *needles)(r)

    return judge


def _case(name: str, change: Callable[[dict], None], expect: Callable[[Result], str | None]) -> Case:
    return Case(name, lambda repo: tampered_export(repo, with_model_json(change)), expect, needs_torch=True)


def cases() -> list[Case]:
    """The .pt2 gate's attacks."""
    out = [
        _case("pt2-from-file-copy-writes-a-file", _write_canary, refused("A101", "from_file")),
        _case("pt2-from-file-reads-a-file", _read_file, refused("A101", "from_file")),
        _case(
            "pt2-add-out-overload",
            _retarget(
                "torch.ops.aten.add.out", [_arg("other", **_tensor("linear")), _arg("out", kind=2, **_tensor("linear"))]
            ),
            refused("A101", "torch.ops.aten.add.out"),
        ),
        _case("pt2-in-place-relu", _retarget("torch.ops.aten.relu_.default"), refused("A101", "relu_", "in-place")),
        _case(
            "pt2-string-is-an-absolute-path",
            _retarget("torch.ops.aten.gelu.default", [_arg("approximate", as_string="/etc/passwd")]),
            refused("A102", "gelu", "approximate", "/etc/passwd"),
        ),
        _case("pt2-verifier-dialect", _dialect, refused("A104", "ATEN")),
    ]
    for target in (
        "torch.hub.load",
        "torch.save",
        "builtins.eval",
        "math.sqrt",
        "_operator.setitem",
        "_operator.getitem",
    ):
        out.append(_case(f"pt2-target-{target}", _retarget(target), refused("A101", target)))
    return out
