"""Charts as SVG, drawn by matplotlib, for every layer that shows one (the portal, the CLI's
exports, reports): one font and colour setup, and the migration's two pictures, the on-cloud
rate (上云率) over time against the yearly targets and the waves as a Gantt chart.

Text stays text in the SVG (`svg.fonttype = "none"`), so a browser draws the Chinese labels
with the page's fonts and a screen reader or a search finds them. matplotlib is used through
its object API only (a `Figure` per chart, no pyplot state), so threads of one process can draw
at once, and it is imported on the first chart, not by every process that imports this module.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Colours of the portal's pages (portal.css).
BLUE: Final = "#0b5cad"
AMBER: Final = "#e3a008"
PALE: Final = "#e6ebf0"
GREEN: Final = "#1a7f37"
EDGE: Final = "#57606a"
GRID: Final = "#d0d7de"
# DejaVu Sans (matplotlib's own) measures the Latin text, an installed Chinese font the rest
# (the tests install WenQuanYi Micro Hei); the browser draws the text with what it has.
LATIN_FONT: Final = "DejaVu Sans"
CHINESE_FONTS: Final = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC")
_XML_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.DOTALL)
_setup = threading.Lock()
_ready = False


def configure() -> None:
    """Set matplotlib's process-wide options once: fonts, text as text, stable ids."""
    global _ready  # noqa: PLW0603  (matplotlib's rcParams are process-wide: set them once)
    with _setup:
        if _ready:
            return
        import matplotlib as mpl  # noqa: PLC0415  (half a second: only when a chart is drawn)
        from matplotlib import font_manager  # noqa: PLC0415

        installed = {font.name for font in font_manager.fontManager.ttflist}
        mpl.rcParams["svg.fonttype"] = "none"
        mpl.rcParams["svg.hashsalt"] = "govcloud"  # the same figures give the same SVG
        mpl.rcParams["font.family"] = [
            LATIN_FONT,
            *(name for name in CHINESE_FONTS if name in installed),
            "sans-serif",
        ]
        mpl.rcParams["font.size"] = 9
        _ready = True


def new_figure(width_in: float, height_in: float) -> Figure:
    """A figure of this size, laid out by matplotlib's constrained layout."""
    configure()
    from matplotlib.figure import Figure  # noqa: PLC0415

    return Figure(figsize=(width_in, height_in), layout="constrained")


def to_svg(figure: Figure, title: str) -> str:
    """The figure as an `<svg>` element to put in a page or a file (no XML prologue)."""
    out = io.StringIO()
    figure.savefig(out, format="svg", metadata={"Date": None, "Title": title})
    return _XML_PROLOGUE.sub("", out.getvalue(), count=1)


def svg_document(element: str) -> str:
    """An `<svg>` element as a file of its own."""
    return '<?xml version="1.0" encoding="utf-8" standalone="no"?>\n' + element


def _tidy(ax: object) -> None:
    ax.grid(color=GRID, linewidth=0.6)  # type: ignore[attr-defined]
    ax.set_axisbelow(True)  # type: ignore[attr-defined]
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)  # type: ignore[attr-defined]


# -- the on-cloud rate over time ---------------------------------------------------------------
@dataclass(frozen=True)
class RateSeries:
    """One line: a name and its (moment, rate as a fraction) points, oldest first."""

    name: str
    points: tuple[tuple[dt.datetime, float], ...]


CLOUD_RATE_TITLE: Final = "上云率 on-cloud rate"


def cloud_rate_svg(
    series: Sequence[RateSeries], targets: Mapping[int, int], now: dt.datetime
) -> str:
    """The rate of each series as a step line up to `now`, and each year's target (percent)
    as a dashed step from the first of January of its year."""
    figure = new_figure(6.4, 3.0)
    ax = figure.subplots()
    starts = [points[0][0] for s in series if (points := s.points)]
    first = min(starts, default=now)
    for number, line in enumerate(series):
        if not line.points:
            continue
        times = [at for at, _ in line.points] + [now]
        values = [rate * 100 for _, rate in line.points]
        values.append(values[-1])
        ax.step(
            [_days(at) for at in times],
            values,
            where="post",
            color=BLUE if number == 0 else None,
            linewidth=2 if number == 0 else 1,
            label=line.name,
        )
    # The picture spans the history (a month at least) and the next target's year; earlier
    # targets only set the level in force when the history begins.
    years = sorted(targets)
    later = [y for y in years if dt.datetime(y, 1, 1, tzinfo=now.tzinfo) > now]
    end = dt.datetime(later[0], 1, 1, tzinfo=now.tzinfo) if later else now
    start = min(first, end - dt.timedelta(days=30))
    end += (end - start) * 0.05
    # (from, year, percent): the target in force at the start, then each one set later.
    held = [y for y in years if dt.datetime(y, 1, 1, tzinfo=now.tzinfo) <= start] or years[:1]
    steps = [(start, held[-1], targets[held[-1]])] + [
        (at, y, targets[y])
        for y in years
        if start < (at := dt.datetime(y, 1, 1, tzinfo=now.tzinfo)) < end
    ]
    ax.step(
        [_days(at) for at, _, _ in steps] + [_days(end)],
        [value for _, _, value in steps] + [steps[-1][2]],
        where="post",
        color=AMBER,
        linestyle="--",
        linewidth=1.2,
        label="目标 target",
    )
    for at, year, value in steps:
        ax.annotate(
            f"{year}: {value}%",
            (_days(at), value),
            textcoords="offset points",
            xytext=(2, 3),
            fontsize=7,
            color=EDGE,
        )
    ax.set_xlim(_days(start), _days(end))
    ax.xaxis_date()
    ax.set_ylim(0, 105)
    ax.set_ylabel("%")
    ax.set_title(CLOUD_RATE_TITLE)
    _tidy(ax)
    figure.autofmt_xdate()
    figure.legend(loc="outside lower center", ncols=min(4, len(series) + 1), frameon=False)
    return to_svg(figure, CLOUD_RATE_TITLE)


# -- the waves as a Gantt chart ---------------------------------------------------------------
@dataclass(frozen=True)
class WaveBar:
    """One wave: its planned transfer window (None when undated), when its systems' runs
    actually began and last ended (None before any ran), and how many are on the cloud."""

    wave: int
    planned: tuple[dt.date, dt.date] | None
    actual: tuple[dt.datetime, dt.datetime] | None
    systems: int
    on_cloud: int


WAVES_TITLE: Final = "迁移波次 migration waves"
MIN_BAR: Final = dt.timedelta(minutes=30)  # a run of minutes still shows on a scale of months


def _days(at: dt.datetime) -> float:
    """matplotlib's date number (days since its epoch) of a moment."""
    from matplotlib.dates import date2num  # noqa: PLC0415

    return float(date2num(at))  # type: ignore[no-untyped-call]  # matplotlib's are untyped


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def waves_svg(bars: Sequence[WaveBar]) -> str:
    """A row per wave: the planned window pale, the actual runs blue (green once every system
    of the wave is on the cloud), labelled with on-cloud / systems."""
    figure = new_figure(6.4, max(1.8, 0.9 + 0.32 * len(bars)))
    ax = figure.subplots()
    if not bars:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "尚无波次 no waves planned", ha="center", va="center")
        return to_svg(figure, WAVES_TITLE)
    rows = range(len(bars))
    labelled: set[str] = set()

    def label(text: str) -> str | None:
        first_time = text not in labelled
        labelled.add(text)
        return text if first_time else None

    for row, bar in zip(rows, bars, strict=True):
        if bar.planned is not None:
            first, last = (_day_start(day) for day in bar.planned)
            last += dt.timedelta(days=1)
            ax.barh(
                row,
                _days(last) - _days(first),
                left=_days(first),
                height=0.6,
                color=PALE,
                edgecolor=EDGE,
                linewidth=0.6,
                label=label("计划 planned"),
            )
        if bar.actual is not None:
            began, ended = bar.actual
            done = bar.systems and bar.on_cloud == bar.systems
            ax.barh(
                row,
                _days(began + max(ended - began, MIN_BAR)) - _days(began),
                left=_days(began),
                height=0.34,
                color=GREEN if done else BLUE,
                label=label("已迁 done" if done else "进行 under way"),
            )
        anchor = (
            bar.actual[1] if bar.actual else (_day_start(bar.planned[1]) if bar.planned else None)
        )
        if anchor is not None:
            ax.annotate(
                f"{bar.on_cloud}/{bar.systems}",
                (_days(anchor), row),
                textcoords="offset points",
                xytext=(4, -3),
                fontsize=7,
            )
    ax.set_yticks(list(rows), [f"第{b.wave}波 wave {b.wave}" for b in bars])
    ax.set_ylim(len(bars) - 0.5, -0.5)
    ax.xaxis_date()
    ax.set_title(WAVES_TITLE)
    _tidy(ax)
    figure.autofmt_xdate()
    if labelled:
        figure.legend(loc="outside lower center", ncols=len(labelled), frameon=False)
    return to_svg(figure, WAVES_TITLE)


# -- a share over successive runs ----------------------------------------------------------------
def runs_svg(labels: Sequence[str], shares: Sequence[float], title: str) -> str:
    """A share (0 to 1) run by run as a line in percent, each run labelled (e.g. its date)."""
    figure = new_figure(6.4, 2.4)
    ax = figure.subplots()
    positions = list(range(len(shares)))
    ax.plot(positions, [share * 100 for share in shares], color=GREEN, marker="o", linewidth=2)
    ax.set_xticks(positions, list(labels), rotation=30, ha="right", fontsize=7)
    ax.set_ylim(0, 105)
    ax.set_ylabel("%")
    ax.set_title(title)
    _tidy(ax)
    return to_svg(figure, title)


# -- a drill's probe data --------------------------------------------------------------------
@dataclass(frozen=True)
class ProbeRow:
    """One system's probe in a drill: when its client wrote (seconds from the drill's start)
    and each outage it saw (start, seconds)."""

    label: str
    writing: tuple[float, float]
    outages: tuple[tuple[float, float], ...]


DRILL_TITLE: Final = "演练探测 the drill's probe: writes acknowledged, outages"
RED: Final = "#b42318"


def drill_svg(rows: Sequence[ProbeRow], events: Sequence[tuple[float, str]]) -> str:
    """A row per system: the time its client wrote (pale) and the outages it saw (red), with
    the drill's events as labelled vertical lines; seconds from the drill's start."""
    figure = new_figure(6.4, max(1.8, 1.2 + 0.4 * len(rows)))
    ax = figure.subplots()
    if not rows:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "无探测数据 no probe data", ha="center", va="center")
        return to_svg(figure, DRILL_TITLE)
    for row, probe in enumerate(rows):
        began, ended = probe.writing
        ax.barh(row, ended - began, left=began, height=0.6, color=PALE, edgecolor=EDGE,
                linewidth=0.6, label="写入 writing" if row == 0 else None)  # fmt: skip
        for number, (start, seconds) in enumerate(probe.outages):
            ax.barh(row, max(seconds, 0.05), left=start, height=0.6, color=RED,
                    label="中断 outage" if row == 0 and number == 0 else None)  # fmt: skip
            ax.annotate(f"{seconds:.1f} s", (start + seconds, row), textcoords="offset points",
                        xytext=(3, -3), fontsize=7, color=RED)  # fmt: skip
    for at, name in events:
        ax.axvline(at, color=EDGE, linestyle=":", linewidth=0.8)
        ax.annotate(name, (at, len(rows) - 0.45), textcoords="offset points", xytext=(2, 0),
                    fontsize=6, rotation=90, va="bottom", color=EDGE)  # fmt: skip
    ax.set_yticks(list(range(len(rows))), [probe.label for probe in rows])
    ax.set_ylim(-0.6, len(rows) + 0.9)  # room above the rows for the events' names
    ax.set_xlabel("秒 seconds")
    ax.set_title(DRILL_TITLE)
    _tidy(ax)
    figure.legend(loc="outside lower center", ncols=2, frameon=False)
    return to_svg(figure, DRILL_TITLE)
