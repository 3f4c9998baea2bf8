"""Charts: log compute against date per level, and all levels normalised to their baseline."""

from __future__ import annotations

import datetime as dt
import io
import math
import textwrap

from aieff.analysis import Level, Result, _months
from aieff.escape import chart_text

SVG_META = {"Date": None, "Creator": None}
PNG_META = {"Software": None}


def _mpl():  # noqa: ANN202 - matplotlib is imported only when charts are drawn
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update(
        {
            "svg.hashsalt": "aieff",
            "svg.fonttype": "path",
            "font.size": 9,
            "figure.dpi": 100,
            "path.simplify": False,
            "text.usetex": False,
        }
    )
    return plt


def _dates(rows: list) -> list[dt.date]:
    return [dt.date.fromisoformat(r.date) for r in rows]


def _save(fig, plt) -> dict[str, bytes]:  # noqa: ANN001
    out = {}
    for fmt, meta in (("svg", SVG_META), ("png", PNG_META)):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, metadata=meta, bbox_inches="tight")
        out[fmt] = buf.getvalue()
    plt.close(fig)
    return out


def _separate(fig, labels: list) -> None:  # noqa: ANN001
    """Move frontier labels up, in order, until no two overlap (deterministic, a few passes)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for _ in range(20):
        moved = False
        boxes = [lab.get_window_extent(renderer) for lab in labels]
        for i in range(1, len(labels)):
            for j in range(i):
                if boxes[i].overlaps(boxes[j]):
                    x, y = labels[i].get_position()
                    labels[i].set_position((x, y + boxes[i].height * 0.8 + 2))
                    boxes[i] = labels[i].get_window_extent(renderer)
                    moved = True
        if not moved:
            return


def _log_axis(ax) -> None:  # noqa: ANN001
    """Log y axis labelled at 1, 2 and 5 of every decade in plain numbers (0.005, 20, 2,000), so even a
    narrow range carries several labelled ticks."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _pos: f"{y:,.0f}" if y >= 1 else f"{y:.3g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _title(ax, text: str) -> None:  # noqa: ANN001
    """The whole title, wrapped onto as many lines as it needs (never cut off)."""
    ax.set_title(textwrap.fill(chart_text(text, 400), 95), fontsize=10, parse_math=False)


def _literal(legend) -> None:  # noqa: ANN001
    """Legend labels carry level titles: shown as written, never parsed as mathtext."""
    for text in legend.get_texts():
        text.set_parse_math(False)


def level_chart(level: Level) -> dict[str, bytes]:
    """One level's chart as {'svg': bytes, 'png': bytes}."""
    return _save(level_figure(level), _mpl())


def level_figure(level: Level):  # noqa: ANN201 - a matplotlib Figure
    """One level's figure: grey entries (gid 'entries'), the frontier ('frontier') and the fit ('fit')."""
    plt = _mpl()
    fig, ax = plt.subplots(figsize=(8, 4.8))
    others = [r for r in level.rows if not r.frontier]
    front = sorted((r for r in level.rows if r.frontier), key=lambda r: r.date)
    ax.scatter(
        _dates(others), [r.pfs_days for r in others], color="#b0b0b0", s=18, label="entry", zorder=2, gid="entries"
    )
    ax.plot(
        _dates(front),
        [r.pfs_days for r in front],
        "o-",
        color="#1f5fa8",
        ms=6,
        lw=1,
        label="frontier",
        zorder=3,
        gid="frontier",
    )
    # Every point carries its leaderboard rank ("=N" for a same-recipe run), and its model name too
    # where the level is small enough for names to fit: the table under the chart names the rest.
    named = len(level.rows) <= 8
    labels = [
        ax.annotate(
            chart_text(f"{'=' if r.same_recipe_as else ''}{r.rank}" + (f" {r.model}" if named else "")),
            (dt.date.fromisoformat(r.date), r.pfs_days),
            textcoords="offset points",
            xytext=(5, 3),
            fontsize=7 if not named else 8,
            color="#1f5fa8" if r.frontier else "#707070",
            parse_math=False,  # entry text is never mathtext
        )
        for r in sorted(level.rows, key=lambda r: (r.date, r.rank, r.id))
    ]
    fit = level.fit
    if fit.doubling_months is not None and fit.points >= 3:
        x0, x1 = _dates(front)[0], _dates(front)[-1]
        mx = sum(_months(d) for d in _dates(front)) / len(front)
        my = sum(math.log2(r.pfs_days) for r in front) / len(front)
        slope = -1 / fit.doubling_months
        ys = [2 ** (my + slope * (_months(d) - mx)) for d in (x0, x1)]
        ax.plot(
            [x0, x1],
            ys,
            "--",
            color="#d0641e",
            lw=1.2,
            gid="fit",
            label=f"fit: doubling every {fit.doubling_months:.1f} months",
        )
    _log_axis(ax)
    _separate(fig, labels)
    ax.set_ylabel("training compute to reach the level (petaflop/s-days)")
    _title(ax, f"{level.title}: {level.threshold}")
    if not named:
        ax.text(
            0.0,
            -0.12,
            "numbers: rank in the level's leaderboard (=N: same recipe as rank N)",
            transform=ax.transAxes,
            fontsize=7,
            color="#707070",
        )
    ax.grid(True, which="major", alpha=0.3)
    _literal(ax.legend(loc="upper right", fontsize=8, frameon=False))
    return fig


def overview_chart(result: Result) -> dict[str, bytes]:
    """All levels' frontiers, compute normalised to each level's baseline."""
    plt = _mpl()
    fig, ax = plt.subplots(figsize=(8, 4.8))
    colors = plt.get_cmap("tab20").colors  # 20 distinct colours; a marker per level as well
    markers = "osD^v<>pPhX*"
    for i, lv in enumerate(result.levels):
        front = sorted((r for r in lv.rows if r.frontier), key=lambda r: r.date)
        base = lv.baseline_row()
        if not base or not front:
            continue
        ax.plot(
            _dates(front),
            [r.flop / base.flop for r in front],
            f"{markers[i % len(markers)]}-",
            color=colors[(2 * i) % 20 if i < 10 else (2 * i + 1) % 20],
            ms=4,
            lw=1,
            label=chart_text(lv.title),
            gid=lv.id,
        )
    _log_axis(ax)
    ax.set_ylabel("compute relative to the level's baseline")
    ax.set_title("Training compute to reach fixed levels, all levels", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    _literal(ax.legend(loc="lower left", fontsize=7, frameon=False))
    return _save(fig, plt)
