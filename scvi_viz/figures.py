"""Plotly figure builders. Each takes plain arrays/DataFrames and returns a ``go.Figure``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

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
    hover: Sequence[str] | None = None,
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
        One hover text per cell (cell id, say); ``None`` shows the category and the cell's
        row number instead, which keeps the figure small for 100,000+ cells.
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
    pad_x, pad_y = 0.05 * float(np.ptp(x) or 1.0), 0.05 * float(np.ptp(y) or 1.0)
    gx, gy = np.meshgrid(
        np.linspace(x.min() - pad_x, x.max() + pad_x, grid_size, dtype=np.float32),
        np.linspace(y.min() - pad_y, y.max() + pad_y, grid_size, dtype=np.float32),
    )
    traces = [{"type": "scattergl", "x": gx.ravel(), "y": gy.ravel(), "mode": "markers", "name": GRID_TRACE,
               "showlegend": False, "marker": {"size": 12, "opacity": 0}, "hoverinfo": "none"}]
    values = np.asarray(color)
    index = np.arange(len(x), dtype=np.int32)
    texts = None if hover is None else np.asarray(hover, dtype=object)
    template = "%{text}<extra></extra>" if texts is not None else "%{fullData.name}, cell #%{customdata}<extra></extra>"
    cell_trace = {"type": "scattergl", "mode": "markers", "hovertemplate": template}
    if values.dtype.kind in "fiub":
        traces.append({**cell_trace, "x": x, "y": y, "name": color_name, "customdata": index,
                       **({"text": texts} if texts is not None else {}),
                       "marker": {"size": 5 if len(x) < 20_000 else 3, "color": values.astype(np.float32),
                                  "colorscale": "Viridis", "showscale": True,
                                  "colorbar": {"title": {"text": color_name}, "len": 0.8}}})
    else:
        labels = values.astype(str)
        for i, cat in enumerate(pd.unique(labels)):
            sel = np.flatnonzero(labels == cat).astype(np.int32)
            traces.append({**cell_trace, "x": x[sel], "y": y[sel], "name": str(cat), "legendgroup": CELLS_TRACE,
                           "customdata": sel, **({"text": texts[sel]} if texts is not None else {}),
                           "marker": {"size": 5 if len(x) < 20_000 else 3, "color": _PALETTE[i % len(_PALETTE)]}})
    if point_xy is not None:
        traces.append({"type": "scatter", "x": [point_xy[0]], "y": [point_xy[1]], "mode": "markers", "name": POINT_TRACE,
                       "marker": {"size": 18, "symbol": "x-thin-open", "line": {"width": 3, "color": "black"}, "color": "black"},
                       "hovertemplate": "current point<extra></extra>"})
    layout = {
        "title": _title(f"Cells in {embedding_name}, coloured by {color_name}", "Click a cell, or empty space, to decode there"),
        "height": height, "margin": _MARGIN, "legend": {"itemsizing": "constant", "title": {"text": color_name}},
        "xaxis": {"title": {"text": f"{embedding_name} 1"}, "showticklabels": False, "zeroline": False},
        "yaxis": {"title": {"text": f"{embedding_name} 2"}, "showticklabels": False, "zeroline": False},
        "dragmode": "pan", "clickmode": "event+select", "uirevision": "umap",
    }
    return go.Figure({"data": traces, "layout": layout})


def _bars_h(profile: pd.DataFrame, x: np.ndarray, **trace) -> dict:
    return {"type": "bar", "orientation": "h", "x": x, "y": list(profile.index), **trace}


def top_genes_figure(profile: pd.DataFrame, *, library_size: float, subtitle: str = "") -> go.Figure:
    """Horizontal bars of expected counts for the rows of ``profile`` (largest on top)."""
    data = profile.iloc[::-1]
    trace = _bars_h(data, data["rate"].to_numpy(), name="expected counts", customdata=data["scale"].to_numpy(),
                    marker={"color": "#1f77b4"},
                    hovertemplate="%{y}: %{x:.3g} counts (fraction %{customdata:.3g})<extra></extra>")
    layout = {
        "title": _title(f"Top {len(profile)} genes: expected counts at library size {_fmt_lib(library_size)}", subtitle),
        "xaxis": {"title": {"text": "expected counts"}}, "height": max(260, 22 * len(profile) + 90), "margin": _MARGIN,
    }
    return go.Figure({"data": [trace], "layout": layout})


def expected_counts_figure(profile: pd.DataFrame, *, library_size: float, subtitle: str = "") -> go.Figure:
    """Expected counts per gene with the 90% predictive interval of the count distribution."""
    rate = profile["rate"].to_numpy()
    low, high = profile["interval_low"].to_numpy(), profile["interval_high"].to_numpy()
    trace = {
        "type": "scatter", "x": list(profile.index), "y": rate, "mode": "markers", "name": "expected counts",
        "marker": {"size": 10, "color": "#1f77b4"},
        "error_y": {"type": "data", "symmetric": False, "array": np.maximum(high - rate, 0), "arrayminus": np.maximum(rate - low, 0)},
        "customdata": np.stack([low, high], axis=1),
        "hovertemplate": "%{x}: %{y:.3g} counts, 90% interval %{customdata[0]:.0f}-%{customdata[1]:.0f}<extra></extra>",
    }
    layout = {
        "title": _title(f"Expected counts at library size {_fmt_lib(library_size)}, with 90% predictive interval", subtitle),
        "yaxis": {"title": {"text": "counts"}, "rangemode": "tozero"}, "height": 360, "margin": _MARGIN,
    }
    return go.Figure({"data": [trace], "layout": layout})


def parameters_figure(profile: pd.DataFrame, *, subtitle: str = "") -> go.Figure:
    """Three panels per gene: normalised expression, NB theta and dropout probability."""
    genes = list(profile.index)
    panels = (
        ("scale", "normalised expression (fraction of library)", "#2ca02c"),
        ("theta", "NB inverse dispersion theta", "#9467bd"),
        ("dropout", "dropout probability", "#d62728"),
    )
    width, gap = 0.28, 0.08
    layout: dict = {
        "title": _title("Decoder parameters per gene", subtitle), "height": 370,
        "margin": {**_MARGIN, "t": 110}, "showlegend": False, "annotations": [],
    }
    traces = []
    for i, (column, label, color) in enumerate(panels):
        suffix = "" if i == 0 else str(i + 1)
        left = i * (width + gap)
        traces.append({"type": "bar", "x": genes, "y": profile[column].to_numpy(), "name": column,
                       "marker": {"color": color}, "xaxis": f"x{suffix}", "yaxis": f"y{suffix}",
                       "hovertemplate": "%{x}: %{y:.4g}<extra>" + column + "</extra>"})
        layout[f"xaxis{suffix}"] = {"domain": [left, left + width], "anchor": f"y{suffix}"}
        layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "rangemode": "tozero", **({"range": [0, 1]} if column == "dropout" else {})}
        layout["annotations"].append({"text": label, "x": left + width / 2, "y": 1.02, "xref": "paper", "yref": "paper",
                                      "showarrow": False, "xanchor": "center", "yanchor": "bottom"})
    return go.Figure({"data": traces, "layout": layout})


def zero_probability_figure(profile: pd.DataFrame, *, subtitle: str = "") -> go.Figure:
    """Stacked bars of P(count = 0): the dropout part and the NB (or Poisson) part."""
    genes = list(profile.index)
    traces = [
        {"type": "bar", "x": genes, "y": profile["p_zero_dropout"].to_numpy(), "name": "from dropout (zero inflation)",
         "marker": {"color": "#d62728"}, "hovertemplate": "%{x}: %{y:.3f}<extra>dropout</extra>"},
        {"type": "bar", "x": genes, "y": profile["p_zero_counts"].to_numpy(), "name": "from the count distribution",
         "marker": {"color": "#7f7f7f"}, "hovertemplate": "%{x}: %{y:.3f}<extra>counts</extra>"},
    ]
    layout = {
        "barmode": "stack", "title": _title("Probability of observing zero counts", subtitle),
        "yaxis": {"title": {"text": "P(count = 0)"}, "range": [0, 1]}, "height": 340, "margin": _MARGIN,
        "legend": {"orientation": "h", "y": -0.2},
    }
    return go.Figure({"data": traces, "layout": layout})


def compare_scatter(table: pd.DataFrame, *, unit: str, subtitle: str = "") -> go.Figure:
    """Log-log scatter of each other value against the reference, with the identity line.

    ``table`` is a :func:`scvi_viz.profiles.comparison_table`; ``unit`` is ``"scale"`` or ``"rate"``.
    """
    ref = table.attrs["reference"]
    names = [c[len(unit) + 2 : -1] for c in table.columns if c.startswith(f"{unit} [")]
    others = [n for n in names if n != ref]
    values = table[[f"{unit} [{n}]" for n in names]].to_numpy()
    hi = float(values.max())
    lo = max(float(values[values > 0].min()) if (values > 0).any() else hi * 1e-9, hi * 1e-9, 1e-12)
    traces = [{"type": "scatter", "x": [lo, hi], "y": [lo, hi], "mode": "lines", "name": "identity (no change)",
               "line": {"color": "grey", "dash": "dash"}, "hoverinfo": "skip"}]
    genes = list(table.index)
    for i, name in enumerate(others):
        traces.append({
            "type": "scattergl", "x": table[f"{unit} [{ref}]"].to_numpy(), "y": table[f"{unit} [{name}]"].to_numpy(),
            "mode": "markers", "name": f"{name} vs {ref}", "text": genes,
            "marker": {"size": 6, "color": _PALETTE[(i + 1) % len(_PALETTE)], "opacity": 0.7},
            "hovertemplate": "%{text}: %{x:.3g} → %{y:.3g}<extra>" + name + "</extra>",
        })
    what = "normalised expression (fraction of library)" if unit == "scale" else "expected counts"
    layout = {
        "title": _title(f"{what}: {', '.join(others)} vs {ref}", subtitle),
        "xaxis": {"type": "log", "title": {"text": f"{ref}"}}, "yaxis": {"type": "log", "title": {"text": ", ".join(others)}},
        "height": 480, "margin": _MARGIN,
    }
    return go.Figure({"data": traces, "layout": layout})


def lfc_figure(table: pd.DataFrame, *, n: int = 20, subtitle: str = "") -> go.Figure:
    """Bars of the ``n`` genes with the largest |log2 fold change| (second value vs first)."""
    top = table.nlargest(n, "abs_log2FC").iloc[::-1]
    lfc = top["log2FC"].to_numpy()
    trace = _bars_h(top, lfc, name="log2FC", marker={"color": np.where(lfc > 0, "#d62728", "#1f77b4")},
                    hovertemplate="%{y}: log2FC %{x:.2f}<extra></extra>")
    layout = {
        "title": _title(f"Top {len(top)} genes by |log2 fold change|, {table.attrs['other']} vs {table.attrs['reference']}", subtitle),
        "xaxis": {"title": {"text": "log2 fold change of expected expression"}},
        "height": max(260, 22 * len(top) + 90), "margin": _MARGIN,
    }
    return go.Figure({"data": [trace], "layout": layout})
