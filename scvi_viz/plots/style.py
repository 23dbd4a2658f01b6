"""The look shared by every figure: template, palette, margins, and small builders."""

from __future__ import annotations

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
GENE_MARGIN = {**MARGIN, "l": 110}
"""Room for gene names left of horizontal bars (fixed: plotly's automargin re-lays out every redraw)."""


def build_figure(traces: list[dict], layout: dict) -> go.Figure:
    """A figure from plain trace and layout dicts, in :data:`TEMPLATE` (no per-trace validation cost)."""
    return go.Figure({"data": traces, "layout": {"template": TEMPLATE, **layout}})


def titled(text: str, subtitle: str = "") -> dict:
    """A layout ``title`` with an optional subtitle."""
    return {"text": text, "subtitle": {"text": subtitle}} if subtitle else {"text": text}


def format_library_size(library_size: float) -> str:
    """``12,345`` for counts, three significant digits for small values such as size factors."""
    return f"{library_size:,.0f}" if library_size >= 10 else f"{library_size:.3g}"


def bars_h(profile: pd.DataFrame, x: np.ndarray, **trace) -> dict:
    """A horizontal bar trace with one bar per row of ``profile`` (gene names on the y axis)."""
    return {"type": "bar", "orientation": "h", "x": x, "y": list(profile.index), **trace}
