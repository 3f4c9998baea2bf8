"""Hostile text: what an entry, a level or CITATION.cff says must reach the README, the exports and the job
summaries as inert text, or be refused with a coded error at its line and column."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from hostile_corpus import LEVEL, README, Case, Result, coded, edit, entry_file, readme_is_inert

CITATION_FENCE = (
    'cff-version: 1.2.0\ntitle: "toy"\n'
    'version: "2026.11.22}\\n```\\n[click](https://e.vil/x)\\n<!-- citation end -->\\n```"\n'
    "date-released: 2026-11-22\n"
)
# Everything GitHub's autolink extension would turn into a link: a scheme, www. and an e-mail address.
LIVE = re.compile(r"https?://e\.vil|www\.e\.vil|a@e\.vil", re.I)


def _live_links(markdown: str) -> list[str]:
    """Autolink candidates outside code spans (a code span shows its text and links nothing)."""
    out = []
    for line in markdown.splitlines():
        out += LIVE.findall(re.sub(r"`[^`]*`", "", line))
    return out


def _citation_fence(repo: Path) -> list[str]:
    (repo / "CITATION.cff").write_text(CITATION_FENCE)
    return ["build"]


def _citation_fence_expect(r: Result) -> str | None:
    if r.code != 1 or not re.search(r"CITATION\.cff:3:10: E013 version: ", r.out):
        return f"exit {r.code}, no E013 at CITATION.cff:3:10"
    return None if (r.repo / "README.md").read_text() == README else "README.md was written"


def _bare_urls(repo: Path) -> list[str]:
    edit(repo, 'model: "Better net"', 'model: "Better https://e.vil/x www.e.vil a@e.vil (http://e.vil)"')
    bench = repo / LEVEL / "benchmark.yaml"
    bench.write_text(bench.read_text().replace('title: "Toy level"', 'title: "Toy www.e.vil level"'))
    return ["build"]


def _bare_urls_expect(r: Result) -> str | None:
    text = (r.repo / "README.md").read_text()
    if live := _live_links(text):
        return f"README has live links {live}"
    if "https://e.vil/x" not in text:
        return "the model name lost its text"
    return readme_is_inert()(r)


def _bidi_model(repo: Path) -> list[str]:
    edit(repo, 'model: "Better net"', 'model: "Better \u202egpj.exe net"')
    return ["validate"]


def _bidi_benchmark(repo: Path) -> list[str]:
    bench = repo / LEVEL / "benchmark.yaml"
    bench.write_text(bench.read_text().replace('title: "Toy level"', 'title: "Toy\u2067 level"'))
    return ["validate"]


def _zero_width_citation(repo: Path) -> list[str]:
    cff = repo / "CITATION.cff"
    cff.write_text(cff.read_text().replace('title: "toy"', 'title: "to\u200by"'))
    return ["validate"]


def _bad_name(repo: Path) -> list[str]:
    os.close(os.open(os.fsencode(repo / LEVEL) + b"/bad\xffname.yaml", os.O_WRONLY | os.O_CREAT, 0o644))
    return ["validate"]


def _bad_name_expect(r: Result) -> str | None:
    problem = coded("E035", f"{LEVEL}/bad\\xffname.yaml:1:1")(r)
    if problem:
        return problem
    summary = (r.repo / "summary.md").read_text()
    return None if "bad\\\\xffname.yaml" in summary else f"summary lacks the escaped name: {summary[:300]}"


def _bad_name_json(repo: Path) -> list[str]:
    _bad_name(repo)
    return ["validate", "--format", "json"]


def _bad_name_json_expect(r: Result) -> str | None:
    doc = json.loads(r.out[: r.out.rindex("}") + 1])
    paths = [e["path"] for e in doc["errors"] if e["code"] == "E035"]
    return None if paths == [f"{LEVEL}/bad\\xffname.yaml"] else f"E035 paths {paths}"


def _bad_folder(repo: Path) -> list[str]:
    folder = os.fsencode(repo / "entries") + b"/lvl\xfe"
    os.mkdir(folder)
    with open(folder + b"/x.yaml", "w") as fh:
        fh.write("id: x\n")
    return ["validate"]


def _bad_folder_expect(r: Result) -> str | None:
    if "::error file=entries/lvl\\xfe,line=1,col=1,title=E035 bad-file-name::" not in r.out:
        return "no escaped annotation"
    return coded("E035", "entries/lvl\\xfe:1:1")(r)


def _bidi_name(repo: Path) -> list[str]:
    (repo / LEVEL / "evil\u202egpj.yaml").write_text("id: x\n")
    return ["validate"]


def _escaped_bidi(repo: Path) -> list[str]:
    edit(repo, 'model: "Better net"', 'model: "Better \\u202egpj.exe net"')
    return ["validate"]


def _summary_image(repo: Path) -> list[str]:
    f = entry_file(repo)
    f.write_text(f.read_text() + '"![x](https://e.vil/p.png) <img src=x> www.e.vil": 1\n')
    return ["validate"]


def _summary_image_expect(r: Result) -> str | None:
    summary = (r.repo / "summary.md").read_text()
    if "![x]" in summary or "<img" in summary or _live_links(summary):
        return f"the job summary renders an image, tag or link: {summary[-300:]}"
    return coded("E010")(r)


def cases() -> list[Case]:
    summary = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": "summary.md"}
    return [
        Case("citation-version-closes-fence", _citation_fence, _citation_fence_expect),
        Case(
            "citation-version-validate",
            lambda r: (_citation_fence(r), ["validate"])[1],
            coded("E013", "CITATION.cff:3:10"),
        ),
        Case("readme-bare-urls-and-email", _bare_urls, _bare_urls_expect),
        Case("bidi-override-in-model-name", _bidi_model, coded("E034", f"{LEVEL}/better.yaml:4:16")),
        Case("bidi-isolate-in-level-title", _bidi_benchmark, coded("E034", f"{LEVEL}/benchmark.yaml:3:12")),
        Case("zero-width-in-citation", _zero_width_citation, coded("E034", "CITATION.cff:2:11")),
        Case("non-utf8-file-name-summary", _bad_name, _bad_name_expect, env=summary),
        Case("non-utf8-file-name-json", _bad_name_json, _bad_name_json_expect, env=summary),
        Case("summary-image-and-link", _summary_image, _summary_image_expect, env=summary),
        Case("non-utf8-folder-name-annotations", _bad_folder, _bad_folder_expect, env={"GITHUB_ACTIONS": "true"}),
        Case("bidi-override-in-file-name", _bidi_name, coded("E035", f"{LEVEL}/evil\\u202egpj.yaml:1:1")),
        Case("bidi-override-as-yaml-escape", _escaped_bidi, coded("E034", f"{LEVEL}/better.yaml:4:8")),
    ]
