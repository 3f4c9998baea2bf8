"""Make untrusted text inert in each place it is written: markdown, link targets, charts, CSV cells.

Entry text comes from pull requests, log text from anyone's server. Whatever it holds, it must not
end a table cell, open a link or an image (written, or one GitHub makes by itself from a bare URL or
e-mail address), an HTML tag or comment (so generated-region markers cannot be forged), start GitHub
math, run matplotlib's mathtext, reorder or hide text with invisible formatting characters, or become
a spreadsheet formula in a citer's copy of the CSV. Every markdown file and job summary aieff writes
takes its untrusted text through `markdown` here, and nowhere else.
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse
from typing import TypeVar

_T = TypeVar("_T")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
# Each character that means something to markdown or HTML, and what stands for it. A backtick is an
# entity, not \`: an escaped backtick beside a code span is read differently by different parsers.
_MD_SPECIAL = {c: "\\" + c for c in "\\*_[]|!~$#"} | {"&": "&amp;", "<": "&lt;", ">": "&gt;", "`": "&#96;"}
_MD_CHARS = re.compile("[" + re.escape("".join(_MD_SPECIAL)) + "]")
_URL_SAFE = ":/?#@!$&*+,;=%-._~"
# A run of characters that reads the same inside a code span as outside, and cannot end a table
# cell, open a tag, comment, link or image, or start math. A link GitHub would make by itself starts in
# one run (a scheme's "://", "www." or an address's "@x." hold none of the excluded characters).
_RUN = re.compile(r"[^\s<>|`\\$\[\]()!]+")
# What GitHub's autolink extension (and its second pass over rendered text) makes a link of: a
# scheme's "://", "www." and an e-mail address (mailto: and xmpp: need one too). A superset, on purpose.
_AUTOLINK = re.compile(r"://|(?i:www)\.|@.*\.")


def format_chars(text: str) -> list[int]:
    """Indexes of Unicode format characters (category Cf): bidi controls, zero-width characters, tags.

    They are invisible, and can reorder or hide what a reader sees (Trojan Source, CVE-2021-42574).
    """
    if text.isascii():
        return []
    return [m.start() for m in _NON_ASCII.finditer(text) if unicodedata.category(m.group()) == "Cf"]


def describe(char: str) -> str:
    """'U+202E RIGHT-TO-LEFT OVERRIDE': a character by code point and name."""
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" {name}" if name else "")


def visible(text: str) -> str:
    """Text with format characters written as \\u escapes and undecodable bytes (surrogate escapes, as
    os.fsdecode gives for a file name that is not UTF-8) as \\x escapes, so it shows what it holds."""
    return text if text.isascii() else _NON_ASCII.sub(_shown, text)


def _shown(m: re.Match[str]) -> str:
    char, code = m.group(), ord(m.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    if 0xD800 <= code <= 0xDFFF or unicodedata.category(char) == "Cf":
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
    return char


def one_line(text: object, limit: int = 300) -> str:
    """Control characters and line breaks folded to one space, format characters made visible, then cut
    at limit characters."""
    raw = str(text).lstrip()[: 10 * limit + 1000]  # what can reach the cut, whatever the text's length
    flat = visible(_CONTROL.sub(" ", raw)).strip()
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _literal(text: str) -> str:
    return _MD_CHARS.sub(lambda m: _MD_SPECIAL[m.group()], text)


def markdown(text: object, limit: int = 300) -> str:
    """Text that renders literally, on one line, in a markdown table cell, heading, link label or prose (GFM).

    Anything GitHub would link by itself (a bare URL, www., an e-mail address) is shown as code, which
    GitHub never links; every other character that means something to markdown or HTML is escaped.
    """
    flat = one_line(text, limit)
    out, pos = [], 0
    for m in _RUN.finditer(flat):
        if _AUTOLINK.search(m.group()):
            out += [_literal(flat[pos : m.start()]), f"`{m.group()}`"]
            pos = m.end()
    out.append(_literal(flat[pos:]))
    return "".join(out)


def code_line(text: object, limit: int = 300) -> str:
    """Text for a line inside a fenced code block (the README's BibTeX): one line, and none of the
    characters that could close the fence, open a comment or a marker, or end a BibTeX field."""
    return re.sub(r"[`<>{}\\]", "?", one_line(text, limit))


def link_target(url: str) -> str | None:
    """An https URL percent-encoded so it cannot close the link or add a title; None if not https."""
    if not isinstance(url, str) or not url.startswith("https://") or len(url) > 2000:
        return None
    return urllib.parse.quote(_CONTROL.sub("", url), safe=_URL_SAFE)


def link(label: object, url: str) -> str:
    """A markdown link, or the bare escaped label when the URL is not https."""
    target = link_target(url)
    return f"[{markdown(label)}]({target})" if target else markdown(label)


_REPO_PATH = re.compile(r"entries/[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*")


def repo_link(label: object, path: str) -> str:
    """A markdown link to a file under entries/ (relative, so it works on GitHub and in a clone), or the
    bare escaped label for anything else."""
    ok = isinstance(path, str) and _REPO_PATH.fullmatch(path) and ".." not in path.split("/")
    return f"[{markdown(label)}]({path})" if ok else markdown(label)


def chart_text(text: object, limit: int = 60) -> str:
    """Text for a matplotlib label (mathtext is also switched off where charts are drawn)."""
    return one_line(text, limit)


def csv_cell(value: _T) -> _T | str:
    """A text cell that a spreadsheet will not read as a formula (OWASP's CSV-injection rule)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
