"""The look shared by every figure: template, palette, margins, and small builders."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#e7ba52", "#843c39", "#5254a3", "#6b6ecf", "#8ca252",
)
AXIS = {"gridcolor": "#e6e9ef", "linecolor": "#c8ccd4", "zerolinecolor": "#c8ccd4"}
TEMPLATE = {"layout": {
    "font": {"family": '"Source Sans Pro", "Source Sans 3", "Helvetica Neue", Arial, sans-serif', "color": "#31333f"},
    "colorway": list(PALETTE), "paper_bgcolor": "white", "plot_bgcolor": "white",
    "title": {"x": 0.01, "xref": "container", "xanchor": "left", "font": {"size": 17}},
    "xaxis": AXIS, "yaxis": AXIS,
}}
"""The look of every figure: small and explicit, so that a figure looks the same on screen and in
exports whatever plotly's default template is (importing Streamlit makes that its own, whose
colours are placeholders only Streamlit's frontend fills in)."""
MARGIN = {"l": 10, "r": 10, "t": 60, "b": 10}
TITLE_SIZE = 17
SUBTITLE_SIZE = 12
TICK_SIZE = 12
PANEL_TITLE_SIZE = 12
LINE_PX = 1.3
"""Line height as a multiple of the font size, for the vertical room a text takes."""


def figure_spec(traces: list[dict], layout: dict) -> dict:
    """A figure as the plain dict plotly.js draws (``{"data": ..., "layout": ...}``), in :data:`TEMPLATE`.

    Charts redrawn on every move are sent to the browser as this dict
    (:func:`scvi_viz.ui.components.live_chart.live_chart`): making a ``go.Figure`` of it copies
    every property, 5 ms of each move for the decoded figure.
    """
    return {"data": traces, "layout": {"template": TEMPLATE, **layout}}


def as_figure(spec: dict) -> go.Figure:
    """A :func:`figure_spec` dict as a ``go.Figure`` (for exports and tests).

    Not validated property by property (plotly's ``_validate=False``): validation took half the
    time of building the decoded charts, which are rebuilt on every move. ``tests/test_figures.py``
    validates every kind of figure built here instead.
    """
    return go.Figure(spec, _validate=False)


def build_figure(traces: list[dict], layout: dict) -> go.Figure:
    """:func:`figure_spec` as a ``go.Figure``."""
    return as_figure(figure_spec(traces, layout))


def titled(text: str, subtitle: str = "") -> dict:
    """A layout ``title`` with an optional subtitle."""
    return {"text": text, "subtitle": {"text": subtitle}} if subtitle else {"text": text}


def format_library_size(library_size: float) -> str:
    """``12,345`` for counts, three significant digits for small values such as size factors."""
    return f"{library_size:,.0f}" if library_size >= 10 else f"{library_size:.3g}"


def library_label(library_size: float, *, size_factor: bool) -> str:
    """``library size N = 628``, or ``size factor = 4.93`` for size-factor models."""
    value = format_library_size(library_size)
    return f"size factor = {value}" if size_factor else f"library size N = {value}"


def bars_h(profile: pd.DataFrame, x: np.ndarray, **trace) -> dict:
    """A horizontal bar trace with one bar per row of ``profile`` (gene names on the y axis)."""
    return {"type": "bar", "orientation": "h", "x": x, "y": list(profile.index), **trace}


# Margins are computed from the labels rather than left to plotly's ``automargin``, which
# measures and re-lays out the figure on every redraw (the live charts redraw on every slider
# move). The widths are estimates for a sans-serif font, on the wide side, so that a label
# always fits: per character, in ems.
_NARROW = set("iljtfrI.,:;'|!()[] ")
_WIDE = set("MWmw@%#&")


def visible(text: str) -> str:
    """``text`` without its markup (``<b>``, ``<span ...>``): what is drawn."""
    return re.sub(r"<[^>]*>", "", text)


def text_width(text: str, size: float) -> float:
    """Estimated width in pixels of ``text`` (one line; markup is not counted) at font size ``size``."""
    em = 0.0
    for ch in visible(text):
        if ch in _NARROW:
            em += 0.32
        elif ch in _WIDE:
            em += 0.9
        elif ch.isupper() or ch.isdigit():
            em += 0.64
        else:
            em += 0.54
    return em * size * 1.05


def wrap(text: str, max_px: float, size: float) -> list[str]:
    """``text`` broken at spaces into lines of at most ``max_px`` (a longer word stays whole).

    Spaces inside markup (``<span style='...'>``) are not break points.
    """
    lines: list[str] = []
    for word in re.findall(r"(?:<[^>]*>|[^ <])+", text):
        if lines and text_width(f"{lines[-1]} {word}", size) <= max_px:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


def text_height(lines: int, size: float) -> float:
    """Vertical room in pixels for ``lines`` lines at font size ``size``."""
    return lines * size * LINE_PX


def label_margin(labels: Sequence[str], *, size: float = TICK_SIZE, pad: float = 10) -> int:
    """Pixels needed beside an axis for its tick ``labels`` (gene names, say)."""
    return int(max((text_width(str(t), size) for t in labels), default=0) + pad)


def title_block(text: str, subtitle: str, *, width: float) -> tuple[dict, int]:
    """A layout ``title`` whose title and subtitle are wrapped to fit ``width`` pixels, and the
    top margin in pixels they need."""
    usable = width - 24
    lines = wrap(text, usable, TITLE_SIZE)
    sub = wrap(subtitle, usable, SUBTITLE_SIZE) if subtitle else []
    # plotly lifts a title of several lines by about half a line per extra line: pad it down as much.
    lift = round(0.5 * TITLE_SIZE * (len(lines) - 1))
    title = {"text": "<br>".join(lines), "font": {"size": TITLE_SIZE}, "y": 1, "yref": "container",
             "yanchor": "top", "pad": {"t": 10 + lift}}
    if sub:
        title["subtitle"] = {"text": "<br>".join(sub), "font": {"size": SUBTITLE_SIZE}}
    top = 10 + lift + text_height(len(lines), TITLE_SIZE) + text_height(len(sub), SUBTITLE_SIZE) + (6 if sub else 0) + 14
    return title, int(top)
