"""The operators a .pt2 graph may call, kept as data so the gate can read them without torch.

`python -m aieff.verify.pt2_operators` regenerates tools/aieff/verify/data/pt2_operators.json from every committed
export (entries/*/exports/*.pt2) plus EXTRAS; a test fails when the committed file differs from what
they give, or when a listed operator is not pure by its torch schema. An operator is allowed only if it
neither writes to an input (in-place `_` ops, `.out` overloads, `copy_`, `set_`, `resize_`), nor
touches files or storage (`from_file`), nor draws random numbers: everything else is refused by name.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from aieff.dataset.diagnostics import excerpt

TABLE = Path(__file__).with_name("data") / "pt2_operators.json"

# Pure operators no committed export calls yet, reviewed by hand: each only reads its inputs and returns
# new tensors or views, and the counters price it or know it as free (flops.KNOWN_ZERO_MAC).
EXTRAS = frozenset(
    "torch.ops.aten." + name
    for name in """
    conv1d.default conv1d.padding conv3d.default convolution.default
    mm.default bmm.default addmm.default
    layer_norm.default group_norm.default
    sub.Tensor mul.Tensor div.Tensor div.Tensor_mode neg.default rsqrt.default sqrt.default exp.default
    pow.Tensor_Scalar tanh.default sigmoid.default silu.default hardswish.default hardsigmoid.default
    hardtanh.default leaky_relu.default clamp.default erf.default
    sum.dim_IntList log_softmax.int
    permute.default t.default unsqueeze.default squeeze.dim expand.default contiguous.default
    select.int slice.Tensor stack.default chunk.default
    arange.default arange.start ones.default zeros.default full.default
    """.split()
)

# The only values an argument may take, by operator and argument. Every string argument is listed (from
# each operator's schema; anything else, a file path above all, is refused), and so is every flag that
# would make a listed operator write to an input or draw random numbers.
VALUES: dict[str, dict[str, tuple[str | bool | float, ...]]] = {
    "torch.ops.aten.batch_norm.default": {"training": (False,)},  # True updates the running statistics
    "torch.ops.aten.conv1d.padding": {"padding": ("same", "valid")},
    "torch.ops.aten.conv2d.padding": {"padding": ("same", "valid")},
    "torch.ops.aten.div.Tensor_mode": {"rounding_mode": ("floor", "trunc")},
    "torch.ops.aten.gelu.default": {"approximate": ("none", "tanh")},
    "torch.ops.aten.pad.default": {"mode": ("circular", "constant", "reflect", "replicate")},
    "torch.ops.aten.scaled_dot_product_attention.default": {"dropout_p": (0.0,)},  # above 0 draws random numbers
}

_LITERALS = frozenset({"as_string", "as_bool", "as_float", "as_int"})

# What a pure operator never looks like: an in-place name, an overload that writes into a given tensor,
# or one of the known operators that touch storage, files or random state.
_IMPURE_OVERLOAD = re.compile(r"(?:^|_)out(?:$|_)")
_IMPURE_NAMES = frozenset(
    """
    from_file copy_ set_ resize_ resize_as_ _local_scalar_dense item set_data _set_grad_enabled
    bernoulli dropout native_dropout feature_dropout alpha_dropout rand rand_like randn randn_like randint
    randint_like randperm normal multinomial poisson uniform exponential geometric cauchy log_normal
    _fused_dropout rrelu rrelu_with_noise empty empty_like empty_strided new_empty new_empty_strided
    _assert_async _print save load
    """.split()
)


def why_impure(target: str) -> str | None:
    """Why an operator target is plainly not pure (in-place, .out, files, storage, randomness), or None."""
    parts = target.split(".")
    if parts[:3] != ["torch", "ops", "aten"] or len(parts) != 5:
        return "not an aten operator"
    name, overload = parts[3], parts[4]
    if name.endswith("_") and not name.startswith("__"):
        return "in-place: writes to its input"
    if _IMPURE_OVERLOAD.search(overload):
        return "writes into a tensor it is given"
    if name in _IMPURE_NAMES or name.lstrip("_") in _IMPURE_NAMES:
        return "touches files, storage or random state"
    return None


def argument_refusal(target: str, named: Any, values: dict[str, Any]) -> str | None:
    """Why one serialized argument of `target` is refused (a string or flag outside its enumeration), or None."""
    if not isinstance(named, dict) or not isinstance(named.get("arg"), dict) or len(named["arg"]) != 1:
        return "has a malformed argument"
    name = named.get("name")
    [(kind, value)] = named["arg"].items()
    if kind == "as_string" and name not in values:
        return f"argument {excerpt(name)} takes no string (got {excerpt(value)})"
    if name in values and (
        kind not in _LITERALS or type(value) is not type(values[name][0]) or value not in values[name]
    ):
        return f"argument {excerpt(name)} is {excerpt(value)}; allowed: {', '.join(map(repr, values[name]))}"
    return None


def model_jsons(paths: Iterable[Path]) -> Iterable[tuple[Path, dict[str, Any]]]:
    """(archive, model JSON) for every model in the given .pt2 archives."""
    for path in paths:
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                if "/models/" in name and name.endswith(".json"):
                    yield path, json.loads(zf.read(name))


def committed_exports(root: Path) -> list[Path]:
    """Every committed export under entries/, in a stable order."""
    return sorted(root.glob("entries/*/exports/*.pt2"))


def generate(root: Path) -> str:
    """The allow-list's JSON text, from the committed exports under root and EXTRAS (no torch)."""
    for target in sorted(EXTRAS):
        if reason := why_impure(target):
            raise ValueError(f"EXTRAS lists {target} ({reason}): the gate cannot allow it")
    uses: dict[str, set[str]] = {target: set() for target in EXTRAS}
    verifiers: set[tuple[str, ...]] = set()
    for path, doc in model_jsons(committed_exports(root)):
        label = path.relative_to(root / "entries").as_posix()
        verifiers.add(tuple(doc["verifiers"]))
        for node in doc["graph_module"]["graph"]["nodes"]:
            target = node["target"]
            if reason := why_impure(target):
                raise ValueError(f"{label} calls {target} ({reason}): the gate cannot allow it")
            uses.setdefault(target, set()).add(label)
            for named in node["inputs"]:
                if reason := argument_refusal(target, named, VALUES.get(target, {})):
                    raise ValueError(f"{label}: {target} {reason}: review VALUES")
    if len(verifiers) != 1:
        raise ValueError(f"committed exports use several verifier dialects: {sorted(verifiers)}")
    operators = {
        target: {"exports": len(uses[target]), "arguments": {k: list(v) for k, v in VALUES.get(target, {}).items()}}
        for target in sorted(uses)
    }
    doc = {
        "about": "Operators a .pt2 graph may call, with the values each string argument may take. "
        "Generated by `python -m aieff.verify.pt2_operators` from entries/*/exports/*.pt2 (exports: how many call it) "
        "and reviewed extras (exports: 0).",
        "verifiers": list(verifiers.pop()),
        "operators": operators,
    }
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


@cache
def allowed() -> dict[str, Any]:
    """The committed allow-list: {'verifiers': [...], 'operators': {target: {'arguments': {name: [values]}}}}."""
    return json.loads(TABLE.read_text())


if __name__ == "__main__":
    from aieff.repo import find_root, write_atomic

    write_atomic(TABLE, generate(find_root()))
    print(f"wrote {TABLE}")
