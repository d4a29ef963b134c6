"""The ops overview's capacity chart: Placement's allocatable capacity per region against the
quotas handed out and the usage, one panel per resource class, drawn by matplotlib as SVG.

Text stays text in the SVG (`svg.fonttype = "none"`), so the browser draws the Chinese labels
with the page's fonts and a screen reader or a search finds them; the page puts a table of the
same figures beside the chart. matplotlib is used through its object API only (a `Figure` per
chart, no pyplot state), so threads of one process can draw at once; charts are cached by their
figures and labels, and matplotlib is imported on the first chart, not by every worker.
"""

from __future__ import annotations

import functools
import io
import re
import threading
from dataclasses import dataclass
from typing import Final

from govcloud.conventions import MIB_PER_GB, RC_MEMORY_MB

# Colours of the page (portal.css): allocatable capacity, quota handed out, used.
COLOURS: Final = ("#e6ebf0", "#e3a008", "#0b5cad")
EDGE: Final = "#57606a"
# DejaVu Sans (matplotlib's own) measures the Latin text, an installed Chinese font the rest
# (the tests install WenQuanYi Micro Hei); the browser draws the text with what it has.
LATIN_FONT: Final = "DejaVu Sans"
CHINESE_FONTS: Final = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC")
PANEL_WIDTH_IN: Final = 3.4
PANEL_HEIGHT_IN: Final = 0.75  # per region
MIN_HEIGHT_IN: Final = 2.2
CACHED_CHARTS: Final = 16
_XML_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.DOTALL)
_setup = threading.Lock()
_ready = False


@dataclass(frozen=True)
class Bar:
    """One region's figures for one resource class, in the class's display unit."""

    region: str
    allocatable: float
    quota: float | None
    used: float


@dataclass(frozen=True)
class Panel:
    """One resource class: its title (with the unit) and a bar group per region."""

    title: str
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class Labels:
    """The chart's words in the page's language."""

    allocatable: str
    quota: str
    used: str
    description: str


def display_value(resource_class: str, value: float) -> float:
    """Placement's figure in the unit the chart shows: memory in GB, the rest as it is."""
    return value / MIB_PER_GB if resource_class == RC_MEMORY_MB else value


def _configure() -> None:
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


@functools.lru_cache(maxsize=CACHED_CHARTS)
def capacity_svg(panels: tuple[Panel, ...], labels: Labels) -> str:
    """The chart as an `<svg>` element to put in a page (no XML prologue)."""
    _configure()
    from matplotlib.figure import Figure  # noqa: PLC0415

    regions = max((len(p.bars) for p in panels), default=1)
    height = max(MIN_HEIGHT_IN, 1.2 + PANEL_HEIGHT_IN * regions)
    figure = Figure(figsize=(PANEL_WIDTH_IN * max(len(panels), 1), height), layout="constrained")
    axes = figure.subplots(1, max(len(panels), 1), squeeze=False)[0]
    step = 0.26
    for ax, panel in zip(axes, panels, strict=False):
        names = [bar.region for bar in panel.bars]
        rows = range(len(names))
        series = (
            (labels.allocatable, [b.allocatable for b in panel.bars]),
            (labels.quota, [b.quota or 0 for b in panel.bars]),
            (labels.used, [b.used for b in panel.bars]),
        )
        for offset, ((label, values), colour) in enumerate(zip(series, COLOURS, strict=True)):
            ax.barh(
                [r + (offset - 1) * step for r in rows],
                values,
                height=step,
                color=colour,
                edgecolor=EDGE,
                linewidth=0.6,
                label=label,
            )
        ax.set_yticks(list(rows), names)
        ax.invert_yaxis()
        ax.set_title(panel.title)
        ax.grid(axis="x", color="#d0d7de", linewidth=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    handles, names = axes[0].get_legend_handles_labels()
    figure.legend(handles, names, loc="outside lower center", ncols=3, frameon=False)
    out = io.StringIO()
    figure.savefig(out, format="svg", metadata={"Date": None, "Title": labels.description})
    return _XML_PROLOGUE.sub("", out.getvalue(), count=1)
