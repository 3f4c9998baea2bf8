"""The one markdown escaper: untrusted text renders literally, links nothing and forges no marker."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aieff.escape import code_line, format_chars, markdown, one_line, visible

gfm = pytest.importorskip("marko.ext.gfm").gfm  # a GFM renderer with the autolink extension (frictionless's)


def cell_html(text: str) -> str:
    """The HTML of one escaped table cell, as a GFM renderer with autolinks gives it."""
    out = gfm.convert(f"| h |\n|---|\n| {markdown(text, 10_000)} |\n")
    return out.split("<tbody>", 1)[1]


@pytest.mark.parametrize(
    "text",
    [
        "see https://e.vil/x now",
        "http://e.vil",
        "HTTPS://E.VIL/X",
        "ftp://e.vil/f",
        "www.e.vil/path",
        "WWW.e.vil",
        "mail a@e.vil",
        "mailto:a@e.vil",
        "xmpp:a@e.vil/r",
        "(https://e.vil)",
        "*https://e.vil*",
        "_www.e.vil_",
        "x|https://e.vil|y",
        "a\\https://e.vil",
        "x`https://e.vil`y",
    ],
)
def test_bare_urls_and_addresses_are_code_not_links(text: str) -> None:
    out = markdown(text)
    assert "<a " not in cell_html(text)
    for m in re.finditer(r"(?i)://|www\.|@e\.vil", out):  # each sits inside a code span
        assert out[: m.start()].count("`") % 2 == 1, out


def test_images_links_and_html_are_text() -> None:
    for text in ["![x](https://e.vil/p.png)", "[click](https://e.vil)", "<img src=x onerror=alert(1)>", "<a href=x>"]:
        out = cell_html(text)
        assert "<img" not in out and "<a " not in out, out
    assert markdown("![x](https://e.vil/p.png)") == "\\!\\[x\\](`https://e.vil/p.png`)"
    assert markdown("<b>") == "&lt;b&gt;"


def test_pipes_fences_and_markers_stay_inside_their_cell() -> None:
    assert markdown("a | b") == "a \\| b"
    assert "```" not in markdown("```bibtex\n@misc{x}\n```")
    assert "\n" not in markdown("a\nb\r\nc\u2028d")
    for marker in ["<!-- leaderboards end -->", "<!-- citation end -->", "-->", "<!--"]:
        assert "<!--" not in markdown(marker) and "-->" not in markdown(marker)


def test_plain_text_is_left_alone() -> None:
    assert markdown("ResNet-50 (v1.5), Acc@1 76.1") == "ResNet-50 (v1.5), Acc@1 76.1"


def test_invisible_characters_are_shown_not_kept() -> None:
    text = "Better \u202egpj.exe\u200b net\u2066"
    assert format_chars(text) == [7, 15, 20]
    assert visible(text) == "Better \\u202egpj.exe\\u200b net\\u2066"
    assert format_chars(markdown(text)) == [] and format_chars(one_line(text)) == []
    assert visible("bad\udcffname") == "bad\\xffname"  # os.fsdecode's mark for the byte 0xff


def test_every_bidi_control_and_zero_width_character_is_caught() -> None:
    bidi = [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]
    hidden = [0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0xE0041, 0x00AD]  # zero-width, a tag, soft hyphen
    text = "".join(f"a{chr(c)}" for c in bidi + hidden)
    assert format_chars(text) == list(range(1, len(text), 2))
    assert format_chars("plain ASCII, Ünïcödé, 中文, ﷺ") == []


def test_code_line_cannot_close_the_fence_or_the_bibtex_field() -> None:
    out = code_line("2026.11.22}\n```\n<!-- citation end -->")
    assert "\n" not in out and "`" not in out and "}" not in out and "<" not in out


PIECES = ["https://", "http://", "www.", "@", "e.vil", ".", "`", "\\", "|", "<", ">", "!", "[", "]", "(", ")", "$"]
PIECES += ["*", "_", "~", "#", "&", " ", "\n", "a", "\u202e", "<!--", "-->", "&amp;", "```", "mailto:"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=12).map("".join))
def test_any_text_renders_literally_in_one_cell(text: str) -> None:
    out = cell_html(text)
    assert out.count("<td>") == 1 and "<a " not in out and "<img" not in out, out
    shown = html.unescape(re.sub(r"</?code>", "", out.split("<td>")[1].split("</td>")[0]))
    assert shown == one_line(text, 10_000), (markdown(text), out)


HOSTILE = "![x](https://e.vil/p.png) <img src=x> [y](https://e.vil) www.e.vil a@e.vil | \u202e\udcff"


def _inert_summary(text: str) -> None:
    html_out = gfm.convert(text)
    assert "<img" not in html_out and "<a " not in html_out, html_out
    assert "\u202e" not in text and "\udcff" not in text
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert len({len(re.findall(r"(?<!\\)\|", line)) for line in rows}) == 1, rows  # no row gained a cell


def test_validate_job_summary_quotes_inertly(tmp_path, monkeypatch) -> None:
    from aieff.dataset.diagnostics import Diagnostic, github_report

    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    github_report([Diagnostic(f"entries/{HOSTILE}.yaml", 1, 1, "E010", HOSTILE, HOSTILE)], 1)
    _inert_summary(summary.read_text(encoding="utf-8"))


def test_estimate_job_summary_quotes_inertly(tmp_path, monkeypatch) -> None:
    from aieff.verdict import Row, Status
    from aieff.verify.estimate import Estimate, _summary

    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    row = Row(HOSTILE, None, None, HOSTILE, "", HOSTILE, HOSTILE)
    _summary([Estimate("x", "lvl", HOSTILE, Status.FAILED, rows=[row], messages=[HOSTILE])])
    _inert_summary(summary.read_text(encoding="utf-8"))
