"""Gate for torch.export archives (.pt2): check every member and every string, then write a clean copy.
Also the writer the levels' export scripts share (save_graph_only, export_script).

torch.export.load turns names from `models/*.json` into generated Python source (graph inputs become
`forward` parameters, so `x=__import__('os').system(...)` runs while the module is built), passes
`expr_str` to `sympy.sympify` (an eval), compiles `guards_code`, and unpickles payloads marked
`use_pickle`; and the graph it builds runs whatever operator a node names (`aten.from_file` with
`copy_` writes any file). So nothing from an archive reaches torch unless it passed an allow-list here:
member names, payload configs, every key and string of the model JSON (identifiers, sympy expressions
made of known functions and symbols, pytree specs of known container types), the verifier dialect,
and every node: its operator must be on the list of pure operators (aieff.verify.pt2_operators) and its
string and flag arguments among the values listed for them. Free text that torch would only use for
messages (node metadata such as stack traces, guard code) is dropped from the copy that is loaded,
never interpreted.
"""

from __future__ import annotations

import io
import json
import keyword
import re
import shutil
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from aieff.dataset.diagnostics import excerpt
from aieff.refusals import Refused
from aieff.repo import DataError
from aieff.verify.pt2_operators import allowed, argument_refusal, why_impure

MAX_UNPACKED = 1 << 30  # bytes across all members (GPT-2 small in fp32 is 0.5 GiB)
MAX_RATIO = 100  # unpacked / archive bytes above 64 MiB: torch stores payloads uncompressed (ratio ~1)
MAX_JSON = 64 << 20
MAX_STRING = 256

_MEMBER = re.compile(
    r"^[A-Za-z0-9_]+/(?:archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id"
    r"|models/[A-Za-z0-9_]+\.json|data/(?:weights|constants)/[A-Za-z0-9_]+(?:\.json)?"
    r"|data/sample_inputs/[A-Za-z0-9_]+\.pt)$"
)
_SAFE = re.compile(r"^[A-Za-z0-9_.+\-]*$")
_PRINTABLE = re.compile(r"^[ !#-\[\]-~]*$")  # printable ASCII without quotes or backslash
_REFUSED_KEYS = frozenset({"as_custom_obj", "custom_obj", "as_graph", "as_operator", "as_opaque", "opaque"})
# The kinds of value a node's argument may be: tensors, numbers, flags, shapes, dtypes, devices and
# strings (each checked against its operator's list); not lists of strings, mappings, graphs or objects.
_ARGUMENT_KINDS = frozenset(
    """
    as_none as_tensor as_tensors as_optional_tensor as_optional_tensors as_int as_ints as_float as_floats
    as_bool as_bools as_string as_sym_int as_sym_ints as_sym_bool as_sym_float as_scalar_type as_memory_format
    as_layout as_device
    """.split()
)
_NODE_STRING = ("nodes", "inputs", "arg", "as_string")  # the one place a free-standing string may sit
_DROPPED_KEYS = frozenset({"metadata", "guards_code"})
_NAME_KEYS = frozenset({"name", "forward_arg_names"})
_SPEC_KEYS = frozenset({"in_spec", "out_spec"})
_PYTREE_TYPES = frozenset(
    {
        None,
        "builtins.tuple",
        "builtins.list",
        "builtins.dict",
        "collections.OrderedDict",
        "collections.namedtuple",
        "torch.fx.immutable_collections.immutable_list",
        "torch.fx.immutable_collections.immutable_dict",
    }
)
# What a serialized sympy expression may name: torch's shape functions, sympy's classes, assumptions.
_SYMPY_WORDS = frozenset(
    """
    Add Mul Pow Integer Rational Float Symbol Mod Max Min Abs FloorDiv ModularIndexing Where PythonMod
    CleanDiv CeilToInt FloorToInt CeilDiv LShift RShift IsNonOverlappingAndDenseIndicator TruncToFloat
    TruncToInt RoundToInt RoundDecimal ToFloat FloatPow PowByNatural IntTrueDiv FloatTrueDiv Identity
    OpaqueUnaryFn_sqrt Eq Ne Lt Le Gt Ge And Or Not true false True False S Zero One NegativeOne Half
    positive negative nonnegative nonpositive integer real finite zero
    """.split()
)
_SYMBOL = re.compile(r"^[a-z]{1,4}[0-9]+$")  # s0, s77, u3, ps1 ...
_EXPR_TOKEN = re.compile(
    r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<num>[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)"
    r"|(?P<str>'[^'\\]*')|(?P<op>\*\*|//|[-+*/%(),=]))"
)


def check_archive(path: Path) -> list[zipfile.ZipInfo]:
    """Members of a .pt2 archive after checking names, sizes and compression ratios."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DataError(f"{path.name}: not a torch.export archive (not a readable zip)") from exc
    with zf:
        infos = zf.infolist()
    if not infos:
        raise DataError(f"{path.name}: empty archive")
    unpacked = sum(i.file_size for i in infos)
    if unpacked > MAX_UNPACKED:
        raise DataError(f"{path.name}: archive unpacks to more than {MAX_UNPACKED} bytes")
    if unpacked > 64 << 20 and unpacked > MAX_RATIO * path.stat().st_size:
        raise DataError(f"{path.name}: archive unpacks to over {MAX_RATIO}x its size (zip bomb?)")
    prefixes = {i.filename.split("/", 1)[0] for i in infos}
    if len(prefixes) != 1:
        raise DataError(f"{path.name}: members must share one top-level folder")
    for info in infos:
        name = info.filename
        if not _MEMBER.match(name):
            raise DataError(f"{path.name}: unexpected member {excerpt(name)}")
    return infos


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    if info.file_size > limit:
        raise DataError(f"{excerpt(info.filename)}: {info.file_size} bytes is over the {limit}-byte limit")
    try:
        return zf.read(info)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise DataError(f"{excerpt(info.filename)}: damaged member ({type(exc).__name__})") from exc


def _copy(zin: zipfile.ZipFile, info: zipfile.ZipInfo, zout: zipfile.ZipFile | None) -> None:
    """Stream one payload member into the copy, or only read it with zout None (bounded memory; the
    CRC is checked at its end)."""
    try:
        with zin.open(info) as src:
            if zout is None:
                while src.read(1 << 20):
                    pass
                return
            with zout.open(info.filename, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise DataError(f"{excerpt(info.filename)}: damaged member ({type(exc).__name__})") from exc


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise DataError(f"{what}: not valid JSON") from exc


def check_payload_config(config: Any, what: str) -> None:
    """A weights/constants config: only raw tensors (never pickled payloads)."""
    if not isinstance(config, dict) or not isinstance(config.get("config", {}), dict):
        raise DataError(f"{what}: not a payload config")
    for fqn, meta in config.get("config", {}).items():
        if not isinstance(meta, dict):
            raise DataError(f"{what}: payload {excerpt(fqn)} is not described by a mapping")
        path_name = meta.get("path_name")
        if meta.get("use_pickle") or not (
            isinstance(path_name, str) and re.fullmatch(r"(?:weight|tensor)_[0-9]+", path_name)
        ):
            raise DataError(f"{what}: payload {excerpt(fqn)} ({excerpt(path_name)}) would be unpickled")
        _walk(meta, f"{what}: {fqn}", ())


def check_expression(expr: str, where: str) -> None:
    """A serialized sympy expression: known function names, symbols like s0, numbers and operators only."""
    if len(expr) > 4096:
        raise DataError(f"{where}: expression longer than 4096 characters")
    pos = 0
    while pos < len(expr):
        m = _EXPR_TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            if expr[pos:].strip() == "":
                return
            raise DataError(f"{where}: expression has a disallowed character at {excerpt(expr[pos : pos + 20])}")
        if (word := m.group("name")) and word not in _SYMPY_WORDS and not _SYMBOL.match(word):
            raise DataError(f"{where}: expression names {excerpt(word)}, which is not an allowed sympy function")
        if (quoted := m.group("str")) and not _SYMBOL.match(quoted[1:-1]):
            raise DataError(f"{where}: expression quotes {excerpt(quoted)}, which is not a shape symbol")
        pos = m.end()


def _check_spec(text: str, where: str) -> None:
    spec = _json(text.encode(), where)

    def walk(node: Any, depth: int) -> None:
        if depth > 64:
            raise DataError(f"{where}: pytree spec nested too deeply")
        if isinstance(node, list):
            for item in node:
                walk(item, depth + 1)
        elif isinstance(node, dict):
            if node.get("type") not in _PYTREE_TYPES:
                raise DataError(f"{where}: pytree type {excerpt(node.get('type'))} is not allowed")
            context = node.get("context")
            if isinstance(context, str):
                ctx = _json(context.encode(), where)
                for item in ctx if isinstance(ctx, list) else [ctx]:
                    if item is not None and not (isinstance(item, str) and _SAFE.match(item)):
                        raise DataError(f"{where}: pytree context {excerpt(item)} is not allowed")
            elif context is not None:
                raise DataError(f"{where}: pytree context must be JSON text")
            for child in node.get("children_spec", []):
                walk(child, depth + 1)
        elif not (node is None or isinstance(node, int | bool)):
            raise DataError(f"{where}: unexpected value in a pytree spec")

    walk(spec, 0)


def _identifier(value: Any, where: str) -> None:
    if not (isinstance(value, str) and value.isidentifier() and value.isascii() and not keyword.iskeyword(value)):
        raise DataError(f"{where}: {excerpt(value)} is not a plain identifier")


def _check_operator(target: Any, where: str) -> None:
    if not (isinstance(target, str) and target in allowed()["operators"]):
        why = why_impure(target) if isinstance(target, str) else None
        raise Refused(
            "A101",
            f"{where}: operator {excerpt(target)} is not on the list of pure operators" + (f" ({why})" if why else ""),
        )


def _check_node(node: dict[str, Any], where: str) -> None:
    """One graph node: an allowed operator, arguments of allowed kinds, strings and flags among their values."""
    target = node.get("target")
    _check_operator(target, where)
    assert isinstance(target, str)  # _check_operator refused anything else
    inputs = node.get("inputs")
    if not isinstance(inputs, list):
        raise DataError(f"{where}: node {excerpt(node.get('name'))} has no argument list")
    values = allowed()["operators"][target].get("arguments", {})
    for named in inputs:
        arg = named.get("arg") if isinstance(named, dict) else None
        kinds = list(arg) if isinstance(arg, dict) else []
        if len(kinds) != 1 or kinds[0] not in _ARGUMENT_KINDS:
            name = named.get("name") if isinstance(named, dict) else None
            shown = ", ".join(excerpt(k) for k in kinds) or "empty"
            raise Refused("A103", f"{where}: {target} argument {excerpt(name)} is {shown}")
        if reason := argument_refusal(target, named, values):
            raise Refused("A102", f"{where}: {target} {reason}")


def _walk(node: Any, where: str, path: tuple[str, ...], depth: int = 0) -> Any:
    """Check one JSON value by the key it sits under; return it with dropped fields removed."""
    if depth > 200:
        raise DataError(f"{where}: nested too deeply")
    key = path[-1] if path else ""
    if isinstance(node, dict):
        if key == "nodes":
            _check_node(node, where)
        out: dict[str, Any] = {}
        for k, v in node.items():
            if not isinstance(k, str) or not _SAFE.match(k) or len(k) > MAX_STRING:
                raise DataError(f"{where}: key {excerpt(k)} is not allowed")
            if k in _REFUSED_KEYS:
                raise DataError(f"{where}: {k} (custom objects, subgraphs) is not allowed")
            if k in _DROPPED_KEYS:
                out[k] = {} if k == "metadata" else []
                continue
            if key == "tensor_values":
                _identifier(k, f"{where}: tensor name")
            out[k] = _walk(v, where, (*path, k), depth + 1)
        return out
    if isinstance(node, list):
        return [_walk(v, where, path, depth + 1) for v in node]
    if isinstance(node, str):
        if key == "target":
            _check_operator(node, where)
        elif key in _NAME_KEYS:
            _identifier(node, f"{where}: name")
        elif key == "expr_str":
            check_expression(node, where)
        elif key in _SPEC_KEYS:
            _check_spec(node, where)
        elif key == "as_string":
            if path[-len(_NODE_STRING) :] != _NODE_STRING:
                raise Refused("A102", f"{where}: string {excerpt(node)} outside an operator's arguments")
            if len(node) > MAX_STRING or not _PRINTABLE.match(node):
                raise DataError(f"{where}: string argument {excerpt(node)} is not allowed")
        elif len(node) > MAX_STRING or not _SAFE.match(node):
            raise DataError(f"{where}: value {excerpt(node)} under {key!r} is not allowed")
        return node
    if node is None or isinstance(node, bool | int | float):
        return node
    raise DataError(f"{where}: unexpected JSON value")


def clean_model_json(data: bytes, where: str) -> bytes:
    """The model JSON checked against the allow-lists, with free-text fields emptied. The copy names torch's
    strict ATEN verifier (the exports say TRAINING, which lets operators write to their inputs), so torch
    itself refuses any non-functional operator when it loads the graph: a second check behind the list."""
    doc = _walk(_json(data, where), where, ())
    dialect = doc.get("verifiers") if isinstance(doc, dict) else None
    if dialect != allowed()["verifiers"]:
        shown = json.dumps(dialect)[:100]
        raise Refused("A104", f"{where}: verifiers {shown}; committed exports use {json.dumps(allowed()['verifiers'])}")
    doc["verifiers"] = ["ATEN"]
    return json.dumps(doc, sort_keys=True).encode()


def _checked_json(zin: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> bytes:
    """A JSON member as torch may read it: the model JSON cleaned, a payload config checked."""
    data = _read(zin, info, MAX_JSON)
    if "/models/" in info.filename:
        return clean_model_json(data, where)
    check_payload_config(_json(data, where), where)
    return data


def check_without_torch(path: Path) -> None:
    """Every check of `sanitized_copy` that needs no torch (the zip, every JSON member); what it leaves,
    the example inputs' re-serialization, is done by `sanitized_copy` itself. Lets a hostile archive be
    refused before the sandbox imports torch."""
    infos = check_archive(path)
    with zipfile.ZipFile(path) as zin:
        for info in infos:
            if info.filename.endswith(".json"):
                _checked_json(zin, info, f"{path.name}: {info.filename}")
            else:
                _copy(zin, info, None)  # read through: a damaged member fails its CRC here


def sanitized_copy(path: Path, dest: Path) -> Path:
    """Check a .pt2 archive and write the copy torch may load: checked JSON, payloads as they are."""
    import torch

    infos = check_archive(path)
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as zout:
        for info in infos:
            name = info.filename
            where = f"{path.name}: {name}"
            if name.endswith(".json"):
                data = _checked_json(zin, info, where)
            elif name.endswith(".pt"):
                data = _read(zin, info, MAX_JSON)
                try:
                    inputs = torch.load(io.BytesIO(data), weights_only=True)
                except Exception as exc:  # the restricted unpickler and a damaged zip raise many types
                    raise DataError(f"{where}: holds more than tensors: refused") from exc
                buf = io.BytesIO()  # what torch reads is our own serialization of plain tensors
                torch.save(inputs, buf)
                data = buf.getvalue()
            else:
                _copy(zin, info, zout)
                continue
            zout.writestr(name, data)
    return dest


def save_graph_only(model: Any, inputs: tuple[Any, ...], path: Path) -> Path:
    """torch.export a model built on the meta device and save it without stack traces: they hold source
    paths and line numbers, so the bytes would depend on where the repository is checked out."""
    import torch

    program = torch.export.export(model, inputs)
    for node in program.graph.nodes:
        node.meta.pop("stack_trace", None)
    torch.export.save(program, path)
    return path


def export_script(names: Iterable[str], export: Callable[[str, Path], Path], here: Path, argv: list[str]) -> None:
    """The command line of a level's make_exports.py: `[--out DIR] [NAME.pt2 ...]` writes the named exports
    (all by default) into DIR (default: beside the script; the tests write elsewhere)."""
    out = here
    if argv[:1] == ["--out"]:
        out, argv = Path(argv[1]), argv[2:]
    for name in argv or names:
        print(export(name, out))
