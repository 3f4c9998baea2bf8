"""A step-log pattern compiled by RE2 within fixed bounds, for aieff validate (E013) and the log reader (A403) alike.

Patterns come from pull requests: RE2 matches in linear time, but its cost grows with the compiled
program, so a pattern whose program is over MAX_PROGRAM is refused before any search.
"""

from __future__ import annotations

from typing import Any

from aieff.refusals import Refused

MAX_PROGRAM = 500  # RE2 instructions; the patterns in use compile to under 100
MAX_MEM = 8 << 20  # RE2's memory budget for the compiled program and its DFA cache


def compile_pattern(pattern: str) -> Any:
    """The entry's pattern compiled by RE2 within MAX_MEM, refused (A403) when its program is over MAX_PROGRAM."""
    import re2

    options = re2.Options()
    options.max_mem = MAX_MEM
    options.log_errors = False
    try:
        compiled = re2.compile(pattern, options)
    except re2.error as exc:
        why = exc.args[0] if exc.args else ""
        why = why.decode(errors="replace") if isinstance(why, bytes) else str(why)
        raise Refused("A403", f"step-log pattern: RE2 refuses it: {why[:80]}") from exc
    size = max(compiled.programsize, compiled.reverseprogramsize)
    if size > MAX_PROGRAM:
        raise Refused("A403", f"step-log pattern compiles to {size} RE2 instructions (bound {MAX_PROGRAM})")
    return compiled
