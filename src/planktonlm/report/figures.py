"""Figures: the report's matplotlib style, a matplotlib Figure -> an embedded PNG, shared drawing helpers.

Figures are drawn with matplotlib's object API (no pyplot, no global backend switch) under
``STYLE`` (see :func:`style`) and saved without a software/date stamp, so the same inputs give
the same bytes.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
import pandas as pd
from markupsafe import Markup
from matplotlib import dates as mdates
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

if TYPE_CHECKING:  # annotations only
    from planktonlm.report.context import Context

STYLE = {
    "font.family": "DejaVu Sans", "font.size": 10, "axes.titlesize": 10.5, "axes.labelsize": 10,
    "xtick.labelsize": 8.5, "ytick.labelsize": 8.5, "legend.fontsize": 8.5, "legend.title_fontsize": 9,
    "figure.titlesize": 11, "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
    "grid.alpha": 0.3, "grid.linewidth": 0.6, "lines.linewidth": 1.3, "lines.markersize": 4,
    "image.cmap": "viridis", "savefig.facecolor": "white", "figure.facecolor": "white",
    "path.simplify": True, "axes.unicode_minus": True,
}


@contextmanager
def style() -> Iterator[None]:
    """The report's rcParams, for drawing and saving every figure."""
    with matplotlib.rc_context(STYLE):
        yield


def new_figure(dpi: int, width: float, height: float, nrows: int = 1, ncols: int = 1,
               **kwargs: Any) -> tuple[Figure, np.ndarray]:
    """A constrained-layout Figure and its axes as a flat array."""
    fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False, **kwargs)).ravel()
    return fig, axes


def png(fig: Figure) -> bytes:
    """The figure as PNG at its own dpi, without a Software/date stamp (same figure, same bytes)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi, metadata={"Software": None})
    return buffer.getvalue()


def embed(fig: Figure, alt: str, caption: str) -> dict:
    """A figure block: the PNG as a data URI, its alt text and its caption (HTML, values escaped)."""
    data = base64.b64encode(png(fig)).decode("ascii")
    return {"kind": "figure", "src": f"data:image/png;base64,{data}", "alt": alt, "caption": Markup(caption)}


# ----------------------------------------------------------------------------------------------
# colours, axes and legends shared by the figures


def date_axis(ax) -> None:
    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def grid(n: int, ncols: int) -> tuple[int, int]:
    ncols = max(1, min(ncols, n))
    return math.ceil(n / ncols), ncols


def hide_unused(axes: np.ndarray, used: int, ncols: int | None = None) -> None:
    for ax in axes[used:]:
        ax.set_visible(False)
    if ncols:
        # With a shared x axis only the bottom row has tick labels: give them back to the
        # panels that stand above an empty slot.
        for ax in axes[max(0, used - ncols):used]:
            ax.xaxis.set_tick_params(labelbottom=True)


def series_legend(fig: Figure, ctx: Context, keys: Iterable[tuple]) -> None:
    keys = [k for k in ctx.series if k in set(keys)]
    if not keys or len(keys) > 24:
        return
    handles = [Line2D([], [], color=ctx.colour[k], marker="o", label=ctx.label[k]) for k in keys]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(keys), 6),
               title="station · depth", frameon=False)


def series_lines(ax, ctx: Context, samples: Sequence[str], values: pd.Series, markersize: float = 3.5) -> set:
    """One line per station x depth through ``values`` (indexed by sample), in time order."""
    drawn = set()
    meta = ctx.samples.loc[list(samples)]
    # Many series: thinner, lighter lines without markers, or the panel turns into a tangle.
    crowded = len(ctx.series) > 12
    line = dict(linewidth=0.8, alpha=0.75, marker="") if crowded else dict(marker="o", markersize=markersize)
    for key in ctx.series:
        # Only dated samples have a place on a time axis; callers say how many were left out.
        members = [s for s in ctx.dated if s in meta.index and meta.at[s, "series"] == key]
        y = values.reindex(members)
        keep = y.notna().to_numpy()
        if not keep.any():
            continue
        times = ctx.samples.loc[members, "time"].to_numpy()[keep]
        ax.plot(times, y.to_numpy(dtype=float)[keep], color=ctx.colour[key], label=ctx.label[key], **line)
        drawn.add(key)
    date_axis(ax)
    return drawn
