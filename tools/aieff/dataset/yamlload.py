"""Load one YAML file defensively into plain data plus the position of every node.

The node tree comes from ruamel.yaml's composer (libyaml's C parser where ruamel.yaml.clib is
installed); scalars are built by ruamel's YAML 1.2 safe constructors. Mappings and sequences are
built here, so duplicate keys, aliases and foreign tags are reported with exact positions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import ScalarNode

from aieff.dataset.diagnostics import Diagnostic
from aieff.dataset.diagnostics import excerpt as _excerpt
from aieff.escape import describe, format_chars

MAX_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_REPORTED = 20  # invisible characters reported one by one per file; the rest are counted
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

    warning = error  # the code (W...) makes it a warning


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


_yaml = YAML(typ="safe", pure=False)
_constructor: SafeConstructor = _yaml.constructor
_resolve = _yaml.resolver.resolve
_RESOLVABLE_FIRST = frozenset(k for k in _yaml.resolver.versioned_resolver if k)  # first characters of non-strings
# Characters YAML 1.2 does not allow in a stream (C0 controls but tab, LF, CR; DEL; C1 but NEL; surrogates).
_FORBIDDEN = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _pos(mark: Any) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def _scalar(ev: Any) -> Any:
    tag = ev.tag
    if tag is None or tag == "!":
        plain = ev.implicit[0]
        if not plain or ev.value[:1] not in _RESOLVABLE_FIRST:
            return ev.value  # quoted, or no implicit type starts with this character: a string
        tag = _resolve(ScalarNode, ev.value, ev.implicit).value
    if tag not in _SCALAR_TAGS:
        raise _Fail("E009", ev.start_mark, f"unsupported YAML tag {tag!r}")
    if tag == _CORE + "str":
        return ev.value
    node = ScalarNode(tag, ev.value, ev.start_mark, ev.end_mark, ev.style)
    try:
        return _constructor.yaml_constructors[tag](_constructor, node)
    except (ValueError, OverflowError) as exc:
        code = "E014" if tag == _CORE + "timestamp" else "E013"
        raise _Fail(code, ev.start_mark, f"{_excerpt(ev.value)} is not a valid value: {exc}") from exc


class _Open:
    """A mapping or sequence being filled from the event stream."""

    __slots__ = ("value", "loc", "key")

    def __init__(self, value: Any, loc: Loc) -> None:
        self.value, self.loc, self.key = value, loc, _NO_KEY  # key: the mapping key awaiting its value


_NO_KEY = object()


def _build_events(doc: Loaded, events: Any) -> Any:
    """Build plain data from parser events with an explicit stack: no recursion, so no depth crash.

    Depth, aliases, tags and duplicate keys are refused at the event that brings them, before any
    deeper event is read.
    """
    stack: list[_Open] = []
    root: Any = None
    documents = 0
    for ev in events:
        kind = type(ev).__name__
        if kind in ("StreamStartEvent", "StreamEndEvent", "DocumentEndEvent"):
            continue
        if kind == "DocumentStartEvent":
            documents += 1
            if documents > 1:
                raise _Fail("E001", ev.start_mark, "more than one YAML document in the file")
            continue
        if kind == "AliasEvent":
            raise _Fail("E007", ev.start_mark, "YAML alias: anchors and aliases are not allowed")
        if kind in ("MappingEndEvent", "SequenceEndEvent"):
            stack.pop()
            continue
        parent = stack[-1] if stack else None
        # Where does this node go: a key slot, a value slot or a sequence item?
        if parent is not None and isinstance(parent.value, dict) and parent.key is _NO_KEY:
            if kind != "ScalarEvent":
                raise _Fail("E012", ev.start_mark, "mapping keys must be plain strings")
            key = _scalar(ev)
            if not isinstance(key, str):
                key = ev.value  # `1: x` or `true: x`: keep the text, the schema rejects it
            kloc = parent.loc + (key,)
            if key in parent.value:
                first = doc.keys[kloc]
                raise _Fail(
                    "E006", ev.start_mark, f"duplicate key {key!r} (first at line {first[0]}, column {first[1]})"
                )
            doc.keys[kloc] = _pos(ev.start_mark)
            parent.key = key
            continue
        if parent is None:
            loc: Loc = ()
        elif isinstance(parent.value, dict):
            assert isinstance(parent.key, str | int)  # a key's value comes after its key
            loc = parent.loc + (parent.key,)
        else:
            loc = parent.loc + (len(parent.value),)
        doc.values[loc] = _pos(ev.start_mark)
        if kind == "ScalarEvent":
            value = _scalar(ev)
        elif kind in ("MappingStartEvent", "SequenceStartEvent"):
            if len(stack) >= MAX_DEPTH:
                raise _Fail("E013", ev.start_mark, f"nesting deeper than {MAX_DEPTH} levels")
            mapping = kind == "MappingStartEvent"
            expected = _CORE + ("map" if mapping else "seq")
            if ev.tag is not None and ev.tag not in (expected, "!"):
                raise _Fail("E009", ev.start_mark, f"unsupported YAML tag {ev.tag!r}")
            value = {} if mapping else []
        else:
            raise _Fail("E001", ev.start_mark, "unrecognised YAML event")
        if parent is None:
            root = value
        elif isinstance(parent.value, dict):
            parent.value[parent.key] = value
            parent.key = _NO_KEY
        else:
            parent.value.append(value)
        if kind != "ScalarEvent":
            stack.append(_Open(value, loc))
    if documents == 0:
        return _EMPTY
    return root


_EMPTY = object()


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
    if bad := _FORBIDDEN.search(text):
        line, col = _line_col(text, bad.start())
        doc.errors.append(Diagnostic(path, line, col, "E003", "-", f"control character U+{ord(bad.group()):04X}"))
        return doc
    if hidden := format_chars(text):
        for n, i in enumerate(hidden[:MAX_REPORTED], 1):
            line, col = _line_col(text, i)
            why = f"{describe(text[i])} is an invisible formatting character (it can reorder or hide text); delete it"
            if n == MAX_REPORTED < len(hidden):
                why += f" ({len(hidden) - n} more after this one)"
            doc.errors.append(Diagnostic(path, line, col, "E034", "-", why))
        return doc
    tab = text.find("\t")
    if tab >= 0:
        line, col = _line_col(text, tab)
        doc.errors.append(Diagnostic(path, line, col, "E005", "-", "tab character; use spaces"))
        return doc
    if require_schema_line and text.strip() and not text.startswith(SCHEMA_LINE_PREFIX):
        doc.errors.append(Diagnostic(path, 1, 1, "E015", "-", f"first line must be '{SCHEMA_LINE_PREFIX}...'"))
    try:
        data = _build_events(doc, _yaml.parse(text))
        if data is _EMPTY:
            doc.errors.append(Diagnostic(path, 1, 1, "E004", "-", "no YAML document"))
            return doc
    except _Fail as exc:
        line, col = _pos(exc.mark)
        doc.errors.append(Diagnostic(path, line, col, exc.code, "-", exc.message))
        return doc
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = _pos(mark)
        problem = exc.problem or exc.context or "invalid YAML"
        code = "E003" if "special characters" in problem or "unacceptable" in problem else "E001"
        doc.errors.append(Diagnostic(path, line, col, code, "-", problem.strip()))
        return doc
    except (YAMLError, ValueError) as exc:
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
    if "\\" in text and (escaped := _escaped_characters(doc, data)):
        doc.errors.extend(escaped)
        return doc
    doc.data = data
    return doc


# Control characters a double-quoted YAML escape can still write (tab, line feed and carriage return are text).
_ESCAPED_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f]")


def _hidden(text: str) -> tuple[str, str] | None:
    """(code, why) when text holds a character no file may hold, else None."""
    if hidden := format_chars(text):
        return "E034", f"{describe(text[hidden[0]])} is an invisible formatting character (it can reorder or hide text)"
    if m := _ESCAPED_CONTROL.search(text):
        return "E003", f"control character U+{ord(m.group()):04X}"
    return None


def _escaped_characters(doc: Loaded, data: dict[str, Any]) -> list[Diagnostic]:
    """E034 or E003 for keys and strings that a double-quoted escape (\\u202e, \\x1b) gave a character the
    file itself may not hold."""
    out: list[Diagnostic] = []
    stack: list[tuple[Loc, Any]] = [((), data)]
    while stack and len(out) < MAX_REPORTED:
        loc, node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(k, str) and (bad := _hidden(k)):
                    out.append(doc.error(bad[0], loc + (k,), f"{bad[1]}, written as an escape", key=True))
                stack.append((loc + (k,), v))
        elif isinstance(node, list):
            stack.extend((loc + (i,), v) for i, v in enumerate(node))
        elif isinstance(node, str) and (bad := _hidden(node)):
            out.append(doc.error(bad[0], loc, f"{bad[1]}, written as an escape"))
    return sorted(out)


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
