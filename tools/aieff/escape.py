"""Make untrusted text inert in each place it is written: markdown, link targets, charts, CSV cells.

Entry text comes from pull requests. Whatever it holds, it must not end a table cell, open a link,
an image, an HTML tag or comment (so generated-region markers cannot be forged), start GitHub math,
run matplotlib's mathtext, or become a spreadsheet formula in a citer's copy of the CSV.
"""

from __future__ import annotations

import re
import urllib.parse

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_MD_PUNCT = re.compile(r"([\\`*_\[\]|!~$#])")
_URL_SAFE = ":/?#@!$&*+,;=%-._~"


def one_line(text: object, limit: int = 300) -> str:
    """Control characters and line breaks folded to one space, then cut at limit characters."""
    flat = _CONTROL.sub(" ", str(text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def markdown(text: object, limit: int = 300) -> str:
    """Text that renders literally in a markdown table cell or link label (GFM)."""
    flat = one_line(text, limit).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_PUNCT.sub(r"\\\1", flat)


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


def csv_cell(value: object) -> object:
    """A text cell that a spreadsheet will not read as a formula (OWASP's CSV-injection rule)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
