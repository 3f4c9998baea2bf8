"""Load one YAML file defensively into plain data plus the position of every node.

The node tree comes from ruamel.yaml's composer (libyaml's C parser where ruamel.yaml.clib is
installed); scalars are built by ruamel's YAML 1.2 safe constructors. Mappings and sequences are
built here, so duplicate keys, aliases and foreign tags are reported with exact positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from aieff.diagnostics import Diagnostic

MAX_BYTES = 1 << 20
MAX_DEPTH = 64
SCHEMA_LINE_PREFIX = "# yaml-language-server: $schema="

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null", "timestamp")}

Loc = tuple[str | int, ...]


@dataclass
class Loaded:
    """A loaded document: data, 1-based positions of values and keys, and load errors."""

    path: str
    data: Any = None
    text: str = ""
    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    errors: list[Diagnostic] = field(default_factory=list)

    def position(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        """Best position for a field path: the key or value itself, else its nearest parent."""
        loc = tuple(loc)
        while loc:
            if key and loc in self.keys:
                return self.keys[loc]
            if loc in self.values:
                return self.values[loc]
            loc = loc[:-1]
            key = False
        return self.values.get((), (1, 1))

    def error(self, code: str, loc: Loc, message: str, *, key: bool = False) -> Diagnostic:
        line, col = self.position(loc, key=key)
        return Diagnostic(self.path, line, col, code, dotted(loc), message)


def dotted(loc: Loc) -> str:
    """Render a field path the way a contributor reads it: `claims[0].value`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "-"


class _Fail(Exception):
    def __init__(self, code: str, mark: Any, message: str) -> None:
        super().__init__(message)
        self.code, self.mark, self.message = code, mark, message


@dataclass
class _Mark:
    line: int
    column: int


_yaml = YAML(typ="safe", pure=False)
_constructor: SafeConstructor = _yaml.constructor


def _pos(mark: Any) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def _scalar(node: ScalarNode) -> Any:
    if node.tag not in _SCALAR_TAGS:
        raise _Fail("E009", node.start_mark, f"unsupported YAML tag {node.tag!r}")
    if node.tag == _CORE + "str":
        return node.value
    try:
        return _constructor.yaml_constructors[node.tag](_constructor, node)
    except (ValueError, OverflowError) as exc:
        code = "E014" if node.tag == _CORE + "timestamp" else "E013"
        raise _Fail(code, node.start_mark, f"{node.value!r} is not a valid value: {exc}") from exc


def _build(doc: Loaded, node: Any, loc: Loc, seen: set[int], depth: int) -> Any:
    if id(node) in seen:
        line, col = doc.keys.get(loc) or doc.values.get(loc[:-1], (1, 1))
        raise _Fail("E007", _Mark(line - 1, col - 1), "YAML alias: anchors and aliases are not allowed")
    seen.add(id(node))
    if depth > MAX_DEPTH:
        raise _Fail("E013", node.start_mark, f"nesting deeper than {MAX_DEPTH} levels")
    doc.values[loc] = _pos(node.start_mark)
    if isinstance(node, ScalarNode):
        return _scalar(node)
    if isinstance(node, SequenceNode):
        if node.tag != _CORE + "seq":
            raise _Fail("E009", node.start_mark, f"unsupported YAML tag {node.tag!r}")
        return [_build(doc, item, loc + (i,), seen, depth + 1) for i, item in enumerate(node.value)]
    if isinstance(node, MappingNode):
        if node.tag != _CORE + "map":
            raise _Fail("E009", node.start_mark, f"unsupported YAML tag {node.tag!r}")
        out: dict[Any, Any] = {}
        for knode, vnode in node.value:
            if id(knode) in seen:
                raise _Fail("E007", knode.start_mark, "YAML alias used as a key")
            if not isinstance(knode, ScalarNode):
                raise _Fail("E012", knode.start_mark, "mapping keys must be plain strings")
            key = _scalar(knode)
            if not isinstance(key, str):
                key = knode.value  # `1: x` or `true: x`: keep the text, the schema rejects it
            if key in out:
                first = doc.keys[loc + (key,)]
                raise _Fail(
                    "E006",
                    knode.start_mark,
                    f"duplicate key {key!r} (first at line {first[0]}, column {first[1]})",
                )
            doc.keys[loc + (key,)] = _pos(knode.start_mark)
            out[key] = _build(doc, vnode, loc + (key,), seen, depth + 1)
        return out
    raise _Fail("E001", getattr(node, "start_mark", None), "unrecognised YAML node")


def _first_alias(text: str) -> Any:
    """The mark of the first alias (`*name`): the composer has already replaced it by its target."""
    from ruamel.yaml.events import AliasEvent

    return next((ev.start_mark for ev in _yaml.parse(text) if isinstance(ev, AliasEvent)), None)


def _line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def load_text(raw: bytes, path: str, *, require_schema_line: bool = True) -> Loaded:
    """Parse bytes of one YAML file; never raises on bad input, records coded errors instead."""
    doc = Loaded(path)
    if len(raw) > MAX_BYTES:
        doc.errors.append(Diagnostic(path, 1, 1, "E002", "-", f"{len(raw)} bytes > {MAX_BYTES}"))
        return doc
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        head = raw[: exc.start].decode("utf-8", "replace")
        line, col = _line_col(head, len(head))
        doc.errors.append(Diagnostic(path, line, col, "E003", "-", f"byte 0x{raw[exc.start]:02x} is not UTF-8"))
        return doc
    doc.text = text
    tab = text.find("\t")
    if tab >= 0:
        line, col = _line_col(text, tab)
        doc.errors.append(Diagnostic(path, line, col, "E005", "-", "tab character; use spaces"))
        return doc
    if require_schema_line and text.strip() and not text.startswith(SCHEMA_LINE_PREFIX):
        doc.errors.append(Diagnostic(path, 1, 1, "E015", "-", f"first line must be '{SCHEMA_LINE_PREFIX}...'"))
    try:
        nodes = _yaml.compose_all(text)
        root = next(nodes, None)
        if root is not None and next(nodes, None) is not None:
            raise _Fail("E001", None, "more than one YAML document in the file")
        if root is None:
            doc.errors.append(Diagnostic(path, 1, 1, "E004", "-", "no YAML document"))
            return doc
        data = _build(doc, root, (), set(), 0)
    except _Fail as exc:
        line, col = _pos(_first_alias(text) if exc.code == "E007" else exc.mark)
        doc.errors.append(Diagnostic(path, line, col, exc.code, "-", exc.message))
        return doc
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = _pos(mark)
        problem = exc.problem or exc.context or "invalid YAML"
        code = "E003" if "special characters" in problem or "unacceptable" in problem else "E001"
        doc.errors.append(Diagnostic(path, line, col, code, "-", problem.strip()))
        return doc
    except (YAMLError, RecursionError, ValueError) as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, col = _pos(mark)
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        code = "E003" if "unacceptable" in msg or "special characters" in msg else "E001"
        doc.errors.append(Diagnostic(path, line, col, code, "-", msg))
        return doc
    if data is None:
        doc.errors.append(Diagnostic(path, 1, 1, "E004", "-", "the document is empty"))
        return doc
    if not isinstance(data, dict):
        doc.errors.append(Diagnostic(path, *doc.values[()], "E008", "-", "expected a mapping"))
        return doc
    doc.data = data
    return doc


def load_file(file: Path, rel: str, **kw: Any) -> Loaded:
    """Read and parse a file, refusing anything over MAX_BYTES before reading it whole."""
    try:
        size = file.stat().st_size
        if size > MAX_BYTES:
            return Loaded(rel, errors=[Diagnostic(rel, 1, 1, "E002", "-", f"{size} bytes > {MAX_BYTES}")])
        raw = file.read_bytes()
    except OSError as exc:
        return Loaded(rel, errors=[Diagnostic(rel, 1, 1, "E029", "-", f"cannot read: {exc.strerror}")])
    return load_text(raw, rel, **kw)
