"""The ops overview's capacity chart: Placement's allocatable capacity per region against the
quotas handed out and the usage, one panel per resource class, drawn by matplotlib as SVG.

The page puts a table of the same figures beside the chart; charts are cached by their figures
and labels. Fonts, text as text and the SVG export are `govcloud.charts`'.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final

from govcloud.charts import AMBER, BLUE, EDGE, GRID, PALE, new_figure, to_svg
from govcloud.conventions import MIB_PER_GB, RC_MEMORY_MB

# Allocatable capacity, quota handed out, used.
COLOURS: Final = (PALE, AMBER, BLUE)
PANEL_WIDTH_IN: Final = 3.4
PANEL_HEIGHT_IN: Final = 0.75  # per region
MIN_HEIGHT_IN: Final = 2.2
CACHED_CHARTS: Final = 16


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


@functools.lru_cache(maxsize=CACHED_CHARTS)
def capacity_svg(panels: tuple[Panel, ...], labels: Labels) -> str:
    """The chart as an `<svg>` element to put in a page (no XML prologue)."""
    regions = max((len(p.bars) for p in panels), default=1)
    height = max(MIN_HEIGHT_IN, 1.2 + PANEL_HEIGHT_IN * regions)
    figure = new_figure(PANEL_WIDTH_IN * max(len(panels), 1), height)
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
        ax.grid(axis="x", color=GRID, linewidth=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    handles, names = axes[0].get_legend_handles_labels()
    figure.legend(handles, names, loc="outside lower center", ncols=3, frameon=False)
    return to_svg(figure, labels.description)
