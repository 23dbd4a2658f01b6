"""Plotly figure builders. Each takes plain arrays/DataFrames and returns a ``go.Figure``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

CELLS_TRACE = "cells"
GRID_TRACE = "empty space"
GRID_TRACE_INDEX = 0
"""The invisible click grid is always the map's first trace."""
POINT_TRACE = "current point"
_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#e7ba52", "#843c39", "#5254a3", "#6b6ecf", "#8ca252",
)
_MARGIN = {"l": 10, "r": 10, "t": 60, "b": 10}


def _title(text: str, subtitle: str = "") -> dict:
    return {"text": text, "subtitle": {"text": subtitle}} if subtitle else {"text": text}


def _fmt_lib(library_size: float) -> str:
    return f"{library_size:,.0f}" if library_size >= 10 else f"{library_size:.3g}"


def umap_figure(
    coords: np.ndarray,
    color: Sequence | np.ndarray,
    *,
    color_name: str,
    hover: Sequence[str],
    point_xy: tuple[float, float] | None = None,
    embedding_name: str = "UMAP",
    grid_size: int = 60,
    height: int = 520,
) -> go.Figure:
    """Cells in a 2-D embedding, coloured by a column, with the current point and a click grid.

    Parameters
    ----------
    coords
        ``(n_cells, 2)`` coordinates.
    color
        One value per cell: strings/categories draw one trace per category, numbers a colour
        scale.
    color_name
        What ``color`` is (legend/colour-bar title).
    hover
        One hover text per cell.
    point_xy
        Where to draw the current point, if any.
    embedding_name
        Axis label prefix.
    grid_size
        Points per side of the invisible grid that makes clicks on empty space register.
    height
        Figure height in pixels.

    Returns
    -------
    plotly.graph_objects.Figure
        Traces: the invisible grid first (so cells draw above it), then cells, then the point.
    """
    coords = np.asarray(coords, dtype=np.float32)
    x, y = coords[:, 0], coords[:, 1]
    fig = go.Figure()
    pad_x, pad_y = 0.05 * float(np.ptp(x) or 1.0), 0.05 * float(np.ptp(y) or 1.0)
    gx, gy = np.meshgrid(
        np.linspace(x.min() - pad_x, x.max() + pad_x, grid_size, dtype=np.float32),
        np.linspace(y.min() - pad_y, y.max() + pad_y, grid_size, dtype=np.float32),
    )
    fig.add_trace(
        go.Scattergl(
            x=gx.ravel(), y=gy.ravel(), mode="markers", name=GRID_TRACE, showlegend=False,
            marker={"size": 12, "opacity": 0}, hoverinfo="none",
        )
    )
    values = np.asarray(color)
    hover = np.asarray(hover, dtype=object)
    if values.dtype.kind in "fiu":
        finite = values.astype(np.float64)
        fig.add_trace(
            go.Scattergl(
                x=x, y=y, mode="markers", name=CELLS_TRACE, customdata=np.arange(len(x)),
                text=hover, hovertemplate="%{text}<extra></extra>",
                marker={"size": 5, "color": finite, "colorscale": "Viridis", "showscale": True,
                        "colorbar": {"title": {"text": color_name}, "len": 0.8}},
            )
        )
    else:
        labels = values.astype(str)
        for i, cat in enumerate(pd.unique(labels)):
            sel = np.flatnonzero(labels == cat)
            fig.add_trace(
                go.Scattergl(
                    x=x[sel], y=y[sel], mode="markers", name=str(cat), legendgroup=CELLS_TRACE,
                    customdata=sel, text=hover[sel], hovertemplate="%{text}<extra></extra>",
                    marker={"size": 5, "color": _PALETTE[i % len(_PALETTE)]},
                )
            )
    if point_xy is not None:
        fig.add_trace(
            go.Scatter(
                x=[point_xy[0]], y=[point_xy[1]], mode="markers", name=POINT_TRACE,
                marker={"size": 18, "symbol": "x-thin-open", "line": {"width": 3, "color": "black"}, "color": "black"},
                hovertemplate="current point<extra></extra>",
            )
        )
    fig.update_layout(
        title=_title(f"Cells in {embedding_name}, coloured by {color_name}", "Click a cell, or empty space, to decode there"),
        height=height, margin=_MARGIN, legend={"itemsizing": "constant", "title": {"text": color_name}},
        xaxis={"title": {"text": f"{embedding_name} 1"}, "showticklabels": False, "zeroline": False},
        yaxis={"title": {"text": f"{embedding_name} 2"}, "showticklabels": False, "zeroline": False},
        dragmode="pan", clickmode="event+select", uirevision="umap",
    )
    return fig


def top_genes_figure(profile: pd.DataFrame, *, library_size: float, subtitle: str = "") -> go.Figure:
    """Horizontal bars of expected counts for the rows of ``profile`` (largest on top)."""
    data = profile.iloc[::-1]
    fig = go.Figure(
        go.Bar(
            x=data["rate"], y=data.index, orientation="h", name="expected counts",
            customdata=data["scale"], marker={"color": "#1f77b4"},
            hovertemplate="%{y}: %{x:.3g} counts (fraction %{customdata:.3g})<extra></extra>",
        )
    )
    fig.update_layout(
        title=_title(f"Top {len(profile)} genes: expected counts at library size {_fmt_lib(library_size)}", subtitle),
        xaxis={"title": {"text": "expected counts"}}, height=max(260, 22 * len(profile) + 90), margin=_MARGIN,
    )
    return fig


def expected_counts_figure(profile: pd.DataFrame, *, library_size: float, subtitle: str = "") -> go.Figure:
    """Expected counts per gene with the 90% predictive interval of the count distribution."""
    fig = go.Figure(
        go.Scatter(
            x=profile.index, y=profile["rate"], mode="markers", name="expected counts",
            marker={"size": 10, "color": "#1f77b4"},
            error_y={
                "type": "data", "symmetric": False,
                "array": np.maximum(profile["interval_high"] - profile["rate"], 0),
                "arrayminus": np.maximum(profile["rate"] - profile["interval_low"], 0),
            },
            customdata=np.stack([profile["interval_low"], profile["interval_high"]], axis=1),
            hovertemplate="%{x}: %{y:.3g} counts, 90% interval %{customdata[0]:.0f}-%{customdata[1]:.0f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=_title(f"Expected counts at library size {_fmt_lib(library_size)}, with 90% predictive interval", subtitle),
        yaxis={"title": {"text": "counts"}, "rangemode": "tozero"}, height=360, margin=_MARGIN,
    )
    return fig


def parameters_figure(profile: pd.DataFrame, *, subtitle: str = "") -> go.Figure:
    """Three panels per gene: normalised expression, NB theta and dropout probability."""
    fig = make_subplots(
        rows=1, cols=3, horizontal_spacing=0.08,
        subplot_titles=("normalised expression (fraction of library)", "NB inverse dispersion theta", "dropout probability"),
    )
    genes = profile.index
    for col, (column, color) in enumerate((("scale", "#2ca02c"), ("theta", "#9467bd"), ("dropout", "#d62728")), start=1):
        fig.add_trace(
            go.Bar(x=genes, y=profile[column], name=column, marker={"color": color}, showlegend=False,
                   hovertemplate="%{x}: %{y:.4g}<extra></extra>"),
            row=1, col=col,
        )
    fig.update_yaxes(range=[0, 1], row=1, col=3)
    fig.update_layout(title=_title("Decoder parameters per gene", subtitle), height=370, margin={**_MARGIN, "t": 110})
    return fig


def zero_probability_figure(profile: pd.DataFrame, *, subtitle: str = "") -> go.Figure:
    """Stacked bars of P(count = 0): the dropout part and the NB (or Poisson) part."""
    fig = go.Figure(
        [
            go.Bar(x=profile.index, y=profile["p_zero_dropout"], name="from dropout (zero inflation)",
                   marker={"color": "#d62728"}, hovertemplate="%{x}: %{y:.3f}<extra>dropout</extra>"),
            go.Bar(x=profile.index, y=profile["p_zero_counts"], name="from the count distribution",
                   marker={"color": "#7f7f7f"}, hovertemplate="%{x}: %{y:.3f}<extra>counts</extra>"),
        ]
    )
    fig.update_layout(
        barmode="stack", title=_title("Probability of observing zero counts", subtitle),
        yaxis={"title": {"text": "P(count = 0)"}, "range": [0, 1]}, height=340, margin=_MARGIN,
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def compare_scatter(table: pd.DataFrame, *, unit: str, subtitle: str = "") -> go.Figure:
    """Log-log scatter of each other value against the reference, with the identity line.

    ``table`` is a :func:`scvi_viz.profiles.comparison_table`; ``unit`` is ``"scale"`` or ``"rate"``.
    """
    ref = table.attrs["reference"]
    names = [c[len(unit) + 2 : -1] for c in table.columns if c.startswith(f"{unit} [")]
    x = table[f"{unit} [{ref}]"].to_numpy()
    fig = go.Figure()
    lo = float(np.min(table[[f"{unit} [{n}]" for n in names]].to_numpy()))
    hi = float(np.max(table[[f"{unit} [{n}]" for n in names]].to_numpy()))
    lo = max(lo, hi * 1e-9, 1e-12)
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="identity (no change)",
                             line={"color": "grey", "dash": "dash"}, hoverinfo="skip"))
    for i, name in enumerate(n for n in names if n != ref):
        fig.add_trace(
            go.Scattergl(
                x=x, y=table[f"{unit} [{name}]"], mode="markers", name=f"{name} vs {ref}", text=table.index,
                marker={"size": 6, "color": _PALETTE[(i + 1) % len(_PALETTE)], "opacity": 0.7},
                hovertemplate="%{text}: %{x:.3g} → %{y:.3g}<extra>" + name + "</extra>",
            )
        )
    what = "normalised expression (fraction of library)" if unit == "scale" else "expected counts"
    fig.update_layout(
        title=_title(f"{what}: {', '.join(n for n in names if n != ref)} vs {ref}", subtitle),
        xaxis={"type": "log", "title": {"text": f"{ref}"}}, yaxis={"type": "log", "title": {"text": "other"}},
        height=480, margin=_MARGIN,
    )
    return fig


def lfc_figure(table: pd.DataFrame, *, n: int = 20, subtitle: str = "") -> go.Figure:
    """Bars of the ``n`` genes with the largest |log2 fold change| (second value vs first)."""
    top = table.nlargest(n, "abs_log2FC").iloc[::-1]
    colors = np.where(top["log2FC"] > 0, "#d62728", "#1f77b4")
    fig = go.Figure(go.Bar(x=top["log2FC"], y=top.index, orientation="h", marker={"color": colors},
                           hovertemplate="%{y}: log2FC %{x:.2f}<extra></extra>", name="log2FC"))
    fig.update_layout(
        title=_title(f"Top {len(top)} genes by |log2 fold change|, {table.attrs['other']} vs {table.attrs['reference']}", subtitle),
        xaxis={"title": {"text": "log2 fold change of expected expression"}},
        height=max(260, 22 * len(top) + 90), margin=_MARGIN,
    )
    return fig
