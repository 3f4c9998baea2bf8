"""Charts: log compute against date per level, and all levels normalised to their baseline.

Drawing is most of a build, so each chart's bytes are kept in a render cache (`renders/` in the
artifact cache) under a key that covers everything the bytes depend on: the chart's data (every field
of the level, or of all levels for the overview), the source of the code that draws it, and the
matplotlib, numpy and Pillow versions. A changed point, label, style or library is a new key and is
drawn again; a cached file is used only if its recorded sha256s match. `aieff build --fresh` draws
every chart and refreshes the cache.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import math
import os
import textwrap
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from aieff.analysis.analyze import Level, Result, _months
from aieff.escape import chart_text

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.legend import Legend
    from matplotlib.text import Text

SVG_META = {"Date": None, "Creator": None}
PNG_META = {"Software": None}


def _mpl() -> ModuleType:  # matplotlib is imported only when charts are drawn
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcdefaults()  # matplotlib's own defaults, never a matplotlibrc: the render key covers all else
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


def _save(fig: Figure, plt: ModuleType) -> dict[str, bytes]:
    out = {}
    for fmt, meta in (("svg", SVG_META), ("png", PNG_META)):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, metadata=meta, bbox_inches="tight")
        out[fmt] = buf.getvalue()
    plt.close(fig)
    return out


def _separate(fig: Figure, labels: list[Text]) -> None:
    """Move frontier labels up, in order, until no two overlap (deterministic, a few passes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    assert isinstance(fig.canvas, FigureCanvasAgg)  # _mpl() chose Agg
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


def _log_axis(ax: Axes) -> None:
    """Log y axis labelled at 1, 2 and 5 of every decade in plain numbers (0.005, 20, 2,000), so even a
    narrow range carries several labelled ticks."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _pos: f"{y:,.0f}" if y >= 1 else f"{y:.3g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _title(ax: Axes, text: str) -> None:
    """The whole title, wrapped onto as many lines as it needs (never cut off)."""
    ax.set_title(textwrap.fill(chart_text(text, 400), 95), fontsize=10, parse_math=False)


def _literal(legend: Legend) -> None:
    """Legend labels carry level titles: shown as written, never parsed as mathtext."""
    for text in legend.get_texts():
        text.set_parse_math(False)


DRAWING_CODE = (
    "publish/charts.py",
    "publish/timetables.py",
    "escape.py",
    "analysis/analyze.py",
    "analysis/timing.py",
)  # sources in every key (package paths)
MAX_CACHED = 32 << 20
KEEP_RENDERS = 500  # the render cache keeps this many charts, least recently used dropped first


def render_key(kind: str, data: object) -> str:
    """sha256 of what a chart's bytes depend on: its kind and data, the drawing code, the libraries."""
    from importlib.metadata import version

    digest = hashlib.sha256(b"aieff-chart-1\0" + kind.encode() + b"\0")
    here = Path(__file__).parents[1]  # the aieff package
    for name in DRAWING_CODE:
        digest.update(name.encode() + b"\0" + (here / name).read_bytes() + b"\0")
    for dist in ("matplotlib", "numpy", "pillow"):
        digest.update(f"{dist}=={version(dist)}\0".encode())
    digest.update(json.dumps(data, sort_keys=True, allow_nan=True, default=str).encode())
    return digest.hexdigest()


def render_cache() -> Path:
    """Where drawn charts are kept by key: renders/ in the artifact cache (AIEFF_CACHE)."""
    from aieff.verify.fetch import cache_dir

    return cache_dir() / "renders"


def _cached(kind: str, data: object, draw: Callable[[], dict[str, bytes]], fresh: bool) -> dict[str, bytes]:
    """A chart's bytes from the render cache when its key and sha256s match, else drawn and stored."""
    key = render_key(kind, data)
    path = render_cache() / f"{key}.json"
    if not fresh and (found := _read_cached(path, key)) is not None:
        return found
    out = draw()
    record = {
        "key": key,
        "bytes": {fmt: base64.b64encode(b).decode("ascii") for fmt, b in out.items()},
        "sha256": {fmt: hashlib.sha256(b).hexdigest() for fmt, b in out.items()},
    }
    try:
        from aieff.repo import write_atomic

        write_atomic(path, json.dumps(record, sort_keys=True))
        _prune(path.parent)
    except OSError:
        pass  # a read-only or full cache only costs the next build a redraw
    return out


def _prune(folder: Path) -> None:
    """Drop the least recently used charts beyond KEEP_RENDERS (a hit refreshes a chart's time)."""
    files = sorted(folder.glob("*.json"), key=lambda f: (f.stat().st_mtime, f.name))
    for old in files[: max(0, len(files) - KEEP_RENDERS)]:
        old.unlink(missing_ok=True)


def _read_cached(path: Path, key: str) -> dict[str, bytes] | None:
    try:
        if os.stat(path).st_size > MAX_CACHED:
            return None
        record = json.loads(path.read_bytes())
        if record["key"] != key:
            return None
        out = {fmt: base64.b64decode(text, validate=True) for fmt, text in record["bytes"].items()}
        if set(out) != {"svg", "png"}:
            return None
        if any(hashlib.sha256(b).hexdigest() != record["sha256"][fmt] for fmt, b in out.items()):
            return None
        os.utime(path)  # recently used: kept by _prune
        return out
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def level_chart(level: Level, *, fresh: bool = False) -> dict[str, bytes]:
    """One level's chart as {'svg': bytes, 'png': bytes}; fresh draws it even when cached."""
    return _cached("level", asdict(level), lambda: _save(level_figure(level), _mpl()), fresh)


def level_figure(level: Level) -> Figure:
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
            label=f"fit: compute halves every {fit.doubling_months:.1f} months",
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


def overview_chart(result: Result, *, fresh: bool = False) -> dict[str, bytes]:
    """All levels' frontiers, compute normalised to each level's baseline; fresh draws it even when cached."""
    return _cached("overview", asdict(result), lambda: _overview(result), fresh)


def _overview(result: Result) -> dict[str, bytes]:
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
