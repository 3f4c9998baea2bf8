"""JSON values inside log lines, read the same way wherever the parser runs.

Python's decoder recurses once per level of nesting and counts it against the interpreter's recursion
limit, so whether a deeply nested value decodes depends on how deep the caller already is: the same
line could read in one code path and be refused in another (an audit found one). `loads` refuses any
value nested deeper than MAX_DEPTH before decoding, so the answer depends on the text alone. Real log
payloads nest two or three levels.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64


def loads(text: str) -> Any:
    """json.loads, refusing (ValueError) a value nested deeper than MAX_DEPTH."""
    if text.count("[") + text.count("{") > MAX_DEPTH and depth(text) > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    return json.loads(text)


def depth(text: str) -> int:
    """The deepest nesting of brackets and braces outside strings."""
    deepest = level = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            level += 1
            deepest = max(deepest, level)
        elif ch in "]}":
            level -= 1
    return deepest
