"""README leaderboard tables between markers, computed from the analysis."""

from __future__ import annotations

import re

from aieff.analysis.analyze import Level, Result, Row
from aieff.escape import link, markdown, one_line, repo_link
from aieff.publish.figures import robust, trend, verified_only
from aieff.publish.narrative import render

START, END = "<!-- leaderboards start -->", "<!-- leaderboards end -->"
SUMMARY_START, SUMMARY_END = "<!-- summary start -->", "<!-- summary end -->"
NARRATIVE_START, NARRATIVE_END = "<!-- narrative start -->", "<!-- narrative end -->"
STATUS_LEGEND = (
    "Status: **verified** = CI re-estimated the compute from the referenced architecture, checkpoint and log "
    "within the level's tolerance of every figure the entry states, and the compute shown is that re-estimate "
    "(with the date of the verdict); **claimed** = taken from the cited sources, not re-estimated, with why in "
    "brackets (no training log, no artifact, or the forward cost aieff counts differs from the entry's); "
    "**failed** = the re-estimate disagrees or an artifact was refused (see the nightly job summary); "
    "**unreachable** = an artifact could not be fetched when the entry was last judged; **pending** = not yet "
    "judged in its current form (a new entry, or the entry, its level or aieff's counting code changed since "
    "its verdict)."
)


class ReadmeError(ValueError):
    """README.md has no or broken leaderboard markers."""


def _baseline(level: Level) -> str:
    """The baseline by its model name and year, with its entry id (a slug: safe as is)."""
    base = level.baseline_row()
    return f"{markdown(base.model)} ({base.date[:4]}, `{level.baseline}`)" if base else f"`{level.baseline}`"


def level_table(level: Level, status: dict[str, str]) -> str:
    """One level's markdown table, wrapped in its own markers."""
    lines = [
        f"<!-- leaderboard:{level.id} start -->",
        f"### {markdown(level.title)}",
        "",
        f"Level: {markdown(level.threshold, 1000).rstrip('.')}. Baseline: {_baseline(level)}. "
        f"**{markdown(level.headline, 1000)}.**",
        "",
        *_choices(level),
        f"![{markdown(level.title)}: compute against date](charts/{level.id}.svg)",
        "",
        "| rank | model | first public | compute (petaflop/s-days) | compute (FLOP) | reduction | frontier | status "
        "| entry and evidence |",
        "|---:|---|---|---:|---:|---:|:---:|---|---|",
    ]
    for r in level.rows:
        rank = f"={r.rank}" if r.same_recipe_as else str(r.rank)
        model = link(r.model, r.url) + (f" (same recipe as `{r.same_recipe_as}`)" if r.same_recipe_as else "")
        model += f" (from the run of `{r.derived_from}`)" if r.derived_from else ""
        evidence = " ".join(
            [repo_link("yaml", r.path)]
            + [link(lab, t) if t.startswith("https://") else repo_link(lab, t) for lab, t in r.evidence]
        )
        lines.append(
            f"| {rank} | {model} | {r.date} | {r.pfs_days:.2e} | {_flop_cell(r)} | "
            f"{r.reduction_factor:.1f}x | {'★' if r.frontier else ''} | {markdown(status.get(r.id, 'pending'))} "
            f"| {evidence} |"
        )
    lines += ["", f"<!-- leaderboard:{level.id} end -->"]
    return "\n".join(lines)


def _choices(level: Level) -> list[str]:
    """What the headline rests on, computed: where the reduction came from, the robust trend and the trend
    on verified entries only. Nothing when the level has a single result."""
    rules = []
    if level.policy:
        rules.append(f"Rules, checked by `aieff validate`: {markdown(level.policy, 5000)}")
        if level.not_entered:
            skipped = "; ".join(f"{markdown(c)}: {markdown(r, 1000)}" for c, r in level.not_entered)
            rules.append(f"Not entered: {skipped}.")
    derived = sum(r.derived_from is not None for r in level.rows)
    if derived:
        rules.append(
            f"{derived} of the {len(level.rows)} entries are read from the logs of runs trained for a harder level "
            '(marked "from the run of" the entry that run has there): each is an upper bound on what a run tuned '
            "for this level would need, not a result aimed at it."
        )
    rules = [" ".join(rules), ""] if rules else []
    best, base = level.best_row(), level.baseline_row()
    if best is None or base is None or best is base:
        return rules
    parts = []
    if (sp := level.split) is not None:
        parts.append(
            f"Where the {best.reduction_factor:.1f}x came from: forward cost per {sp.unit} {sp.forward_factor:.2f}x "
            f"({'architecture' if sp.unit == 'token' else 'architecture and resolution'}) x {sp.unit}s seen to "
            f"the level {sp.seen_factor:.2f}x ({sp.baseline_seen:.3g} to {sp.best_seen:.3g})."
        )
    if (robust_text := robust(level.fit)) != "-":
        parts.append(f"Robust trend (Theil-Sen, same frontier): halves every {robust_text}.")
    parts.append(f"On verified entries only: {verified_only(level)}.")
    return [*rules, " ".join(parts), ""]


def _flop_cell(r: Row) -> str:
    """Compute in FLOP; for a verified entry whose log evaluates at intervals, the bracket it is known to."""
    if r.flop_low is not None and r.flop_low < r.flop * 0.995:
        return f"{r.flop:.2e} (from {r.flop_low:.2e})"
    return f"{r.flop:.2e}"


def leaderboards(result: Result, status: dict[str, str]) -> str:
    """Every level's table plus the legend: the content between the outer markers."""
    parts = [
        START,
        "<!-- Generated by `aieff build` from entries/; do not edit by hand. -->",
        "",
        "\n\n".join(level_table(lv, status) for lv in result.levels),
        "",
        "Compute: training compute to first reach the level; FLOP counts a multiply-add as 2 FLOP; "
        "1 petaflop/s-day = 8.64e19 FLOP; (from X): a verified log evaluates at intervals, so the compute is "
        "known only to lie between X, at the evaluation before the first at the level, and the figure shown. "
        "Reduction: baseline compute / entry compute. "
        "★: lowest compute of any entry published by that date. =N: the same recipe as a ranked entry, run on "
        "other hardware (not ranked, never ★). Entry and evidence: the entry's YAML and the artifacts CI "
        "re-estimates from (logs pinned to a commit, checkpoint, graph-only export). " + STATUS_LEGEND,
        END,
    ]
    return "\n".join(parts)


def anchor(title: str) -> str:
    """The fragment GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def summary(result: Result, status: dict[str, str]) -> str:
    """One row per level, before the leaderboards: the content between the summary markers."""
    lines = [
        SUMMARY_START,
        "<!-- Generated by `aieff build` from entries/; do not edit by hand. -->",
        "",
        "Reduction: the baseline's training compute to reach the level / the least any entry needed. Compute "
        "trend: a least-squares fit of log2(compute) against date over the frontier (entries that needed less "
        "compute than every earlier one), with its 95% confidence interval; with two frontier points only "
        "the factor and the months between them. Robust: Theil-Sen's median pairwise slope over the same "
        "frontier points, with its distribution-free 95% interval (a record sequence is not independent "
        "noise, so the least-squares interval is too narrow). Verified only: the reduction and trend when "
        "only entries whose compute CI re-estimated from their own artifacts count. Verified: CI "
        "re-estimated the compute from the entry's own artifacts; claimed: it rests on the cited sources.",
        "",
        "| level | baseline → least compute | reduction | compute trend | robust trend (Theil-Sen) "
        "| verified only | frontier points | entries (verified / claimed) | latest result |",
        "|---|---|---:|---|---|---|---:|---|---|",
    ]
    for lv in result.levels:
        best = lv.best_row()
        if best is None:
            continue
        base = lv.baseline_row() or best
        states = [status.get(r.id, "pending") for r in lv.rows]
        verified = sum(s.startswith("verified") for s in states)
        claimed = sum(s.startswith("claimed") for s in states)
        title, target = markdown(lv.title), anchor(one_line(lv.title))  # the anchor of the heading as shown
        lines.append(
            f"| [{title}](#{target}) | {markdown(base.model)} ({base.date[:4]}) → {markdown(best.model)} "
            f"({best.date[:4]}) | {best.reduction_factor:.1f}x | {trend(lv)} | {robust(lv.fit)} | "
            f"{verified_only(lv)} | {lv.fit.points} | "
            f"{len(lv.rows)} ({verified} / {claimed}) | {max(r.date for r in lv.rows)} |"
        )
    lines += ["", SUMMARY_END]
    return "\n".join(lines)


def narratives(result: Result, texts: dict[str, str]) -> str:
    """Each level's narrative (benchmark.yaml `narrative`, every figure filled from the analysis), one
    bullet per level in level order: the content between the narrative markers."""
    lines = [
        NARRATIVE_START,
        "<!-- Generated by `aieff build` from each level's narrative; do not edit by hand. -->",
        "",
    ]
    for lv in result.levels:
        if lv.id in texts:
            body = markdown(" ".join(render(texts[lv.id], lv, result).split()), 20_000)
            lines.append(f"- **[{markdown(lv.title)}](#{anchor(one_line(lv.title))}):** {body}")
    lines += ["", NARRATIVE_END]
    return "\n".join(lines)


def _region(readme: str, start: str, end: str, content: str, before: str | None = None) -> str:
    """Replace the text between one pair of optional markers (both or neither; start before end)."""
    if start not in readme and end not in readme:
        return readme
    if readme.count(start) != 1 or readme.count(end) != 1 or readme.index(start) > readme.index(end):
        raise ReadmeError(f"README.md needs at most one {start} before one {end}")
    if before is not None and readme.index(start) > readme.index(before):
        raise ReadmeError(f"README.md: {start} must come before the leaderboards")
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    return pattern.sub(lambda _: content, readme)


def render_readme(
    readme: str, result: Result, status: dict[str, str], narrative_texts: dict[str, str] | None = None
) -> str:
    """README text with the summary and narrative (where the README has their markers) and leaderboard
    regions replaced."""
    if readme.count(START) != 1 or readme.count(END) != 1 or readme.index(START) > readme.index(END):
        raise ReadmeError(f"README.md needs exactly one {START} before one {END}")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    readme = pattern.sub(lambda _: leaderboards(result, status), readme)
    readme = _region(readme, SUMMARY_START, SUMMARY_END, summary(result, status), before=START)
    return _region(readme, NARRATIVE_START, NARRATIVE_END, narratives(result, narrative_texts or {}), before=START)


def parse_tables(readme: str) -> dict[str, list[dict[str, str]]]:
    """Read the generated tables back: level id -> rows as dicts of column -> cell text."""
    out: dict[str, list[dict[str, str]]] = {}
    for m in re.finditer(r"<!-- leaderboard:(\S+) start -->(.*?)<!-- leaderboard:\1 end -->", readme, re.S):
        rows = [line for line in m.group(2).splitlines() if line.startswith("|")]
        head = [c.strip() for c in rows[0].strip("|").split("|")]
        out[m.group(1)] = [dict(zip(head, (c.strip() for c in r.strip("|").split("|")), strict=True)) for r in rows[2:]]
    return out
