"""Plotly figure builders. Each takes plain arrays/DataFrames and returns a ``go.Figure``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import plotly.graph_objects as go

CELLS_TRACE = "cells"
GRID_TRACE = "empty space"
GRID_TRACE_INDEX = 0
"""The invisible click grid is always the map's first trace."""
POINT_NAME = "current point"
"""Legend name of the map's current-point cross (a layout shape)."""
_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#e7ba52", "#843c39", "#5254a3", "#6b6ecf", "#8ca252",
)
_AXIS = {"gridcolor": "#e6e9ef", "linecolor": "#c8ccd4", "zerolinecolor": "#c8ccd4"}
TEMPLATE = {"layout": {
    "font": {"family": '"Source Sans Pro", "Source Sans 3", "Helvetica Neue", Arial, sans-serif', "color": "#31333f"},
    "colorway": list(_PALETTE), "paper_bgcolor": "white", "plot_bgcolor": "white",
    "title": {"x": 0.01, "xref": "container", "xanchor": "left", "font": {"size": 17}},
    "xaxis": _AXIS, "yaxis": _AXIS,
}}
"""The look of every figure: small and explicit, so that a figure looks the same on screen and in
exports whatever plotly's default template is (importing Streamlit makes that its own, whose
colours are placeholders only Streamlit's frontend fills in)."""
_MARGIN = {"l": 10, "r": 10, "t": 60, "b": 10}
_GENE_MARGIN = {**_MARGIN, "l": 110}
"""Room for gene names left of horizontal bars (fixed: plotly's automargin re-lays out every redraw)."""


def _figure(traces: list[dict], layout: dict) -> go.Figure:
    return go.Figure({"data": traces, "layout": {"template": TEMPLATE, **layout}})


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
        Traces: the invisible grid first (so cells draw above it), then the cells. The current
        point is a layout shape: a cross of fixed pixel size, with a legend entry.
    """
    coords = np.asarray(coords, dtype=np.float32)
    x, y = coords[:, 0], coords[:, 1]
    gx, gy = np.meshgrid(*_grid_axes(coords, grid_size))
    cell_size = 5 if len(x) < 20_000 else 3
    # The grid's markers are no larger than the cells': plotly gives a click to the nearest
    # marker edge, so a larger grid marker would take clicks aimed right at a cell.
    traces = [{"type": "scattergl", "x": gx.ravel(), "y": gy.ravel(), "mode": "markers", "name": GRID_TRACE,
               "showlegend": False, "marker": {"size": cell_size, "opacity": 0}, "hoverinfo": "none"}]
    values = np.asarray(color)
    index = np.arange(len(x), dtype=np.int32)
    texts = None if hover is None else np.asarray(hover, dtype=object)
    template = "%{text}<extra></extra>" if texts is not None else "%{fullData.name}, cell #%{customdata}<extra></extra>"
    cell_trace = {"type": "scattergl", "mode": "markers", "hovertemplate": template}
    if values.dtype.kind in "fiub":
        traces.append({**cell_trace, "x": x, "y": y, "name": color_name, "customdata": index,
                       **({"text": texts} if texts is not None else {}),
                       "marker": {"size": cell_size, "color": values.astype(np.float32),
                                  "colorscale": "Viridis", "showscale": True,
                                  "colorbar": {"title": {"text": color_name}, "len": 0.8}}})
    else:
        labels = values.astype(str)
        for i, cat in enumerate(pd.unique(labels)):
            sel = np.flatnonzero(labels == cat).astype(np.int32)
            traces.append({**cell_trace, "x": x[sel], "y": y[sel], "name": str(cat), "legendgroup": CELLS_TRACE,
                           "customdata": sel, **({"text": texts[sel]} if texts is not None else {}),
                           "marker": {"size": cell_size, "color": _PALETTE[i % len(_PALETTE)]}})
    layout = {
        "title": _title(f"Cells in {embedding_name}, coloured by {color_name}",
                        "Click a cell, or empty space, to decode there; × marks the current point"),
        "height": height, "margin": _MARGIN, "legend": {"itemsizing": "constant", "title": {"text": color_name}},
        "xaxis": {"title": {"text": f"{embedding_name} 1"}, "showticklabels": False, "zeroline": False},
        "yaxis": {"title": {"text": f"{embedding_name} 2"}, "showticklabels": False, "zeroline": False},
        "dragmode": "pan", "clickmode": "event", "uirevision": "umap",
        "shapes": [] if point_xy is None else [_point_shape(point_xy)],
    }
    return _figure(traces, layout)


def _point_shape(point_xy: tuple[float, float]) -> dict:
    """The current point on a map: a black cross of fixed pixel size centred on ``point_xy``."""
    return {"type": "path", "name": POINT_NAME, "showlegend": True, "layer": "above",
            "xref": "x", "yref": "y", "xsizemode": "pixel", "ysizemode": "pixel",
            "xanchor": float(point_xy[0]), "yanchor": float(point_xy[1]),
            "path": "M-8,-8L8,8M-8,8L8,-8", "line": {"color": "black", "width": 3}}


def _grid_axes(coords: np.ndarray, grid_size: int) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = coords.min(0), coords.max(0)
    pad = 0.05 * np.where(hi > lo, hi - lo, 1.0)
    return tuple(np.linspace(lo[i] - pad[i], hi[i] + pad[i], grid_size, dtype=np.float32) for i in (0, 1))


def grid_step(coords: np.ndarray, grid_size: int = 60) -> tuple[float, float]:
    """Spacing in x and y of the invisible click grid that :func:`umap_figure` lays over ``coords``."""
    gx, gy = _grid_axes(np.asarray(coords, dtype=np.float32), grid_size)
    return float(gx[1] - gx[0]), float(gy[1] - gy[0])


def _bars_h(profile: pd.DataFrame, x: np.ndarray, **trace) -> dict:
    return {"type": "bar", "orientation": "h", "x": x, "y": list(profile.index), **trace}


@dataclass(frozen=True)
class Panel:
    """One chart's traces and axes, to be drawn alone or as a panel of a larger figure."""

    title: str
    traces: list[dict]
    xaxis: dict = field(default_factory=dict)
    yaxis: dict = field(default_factory=dict)


def _compose(placed: list[tuple[Panel, tuple[float, float], tuple[float, float]]], **layout) -> go.Figure:
    """Put panels on their own axes at the given (x, y) paper domains; titles above each panel."""
    traces: list[dict] = []
    layout = {"margin": _MARGIN, "annotations": [], **layout}
    for i, (panel, (x0, x1), (y0, y1)) in enumerate(placed):
        suffix = "" if i == 0 else str(i + 1)
        traces += [{**t, "xaxis": f"x{suffix}", "yaxis": f"y{suffix}"} for t in panel.traces]
        layout[f"xaxis{suffix}"] = {**panel.xaxis, "domain": [x0, x1], "anchor": f"y{suffix}"}
        layout[f"yaxis{suffix}"] = {**panel.yaxis, "domain": [y0, y1], "anchor": f"x{suffix}"}
        if len(placed) > 1:
            layout["annotations"].append({"text": f"<b>{panel.title}</b>", "x": (x0 + x1) / 2, "y": y1, "xref": "paper",
                                          "yref": "paper", "yshift": 6, "showarrow": False, "xanchor": "center",
                                          "yanchor": "bottom", "font": {"size": 12}})
    return _figure(traces, layout)


def _single(panel: Panel, *, subtitle: str, height: int, **layout) -> go.Figure:
    return _compose([(panel, (0.0, 1.0), (0.0, 1.0))], title=_title(panel.title, subtitle), height=height, **layout)


def top_genes_panel(profile: pd.DataFrame, *, library_size: float) -> Panel:
    """Horizontal bars of expected counts for the rows of ``profile`` (largest on top)."""
    data = profile.iloc[::-1]
    trace = _bars_h(data, data["rate"].to_numpy(), name="expected counts", customdata=data["scale"].to_numpy(),
                    marker={"color": "#1f77b4"}, showlegend=False,
                    hovertemplate="%{y}: %{x:.3g} counts (fraction %{customdata:.3g})<extra></extra>")
    return Panel(f"Top {len(profile)} genes: expected counts at library size {_fmt_lib(library_size)}", [trace],
                 xaxis={"title": {"text": "expected counts"}})


def expected_counts_panel(profile: pd.DataFrame, *, library_size: float) -> Panel:
    """Expected counts per gene with the 90% predictive interval of the count distribution."""
    rate = profile["rate"].to_numpy()
    low, high = profile["interval_low"].to_numpy(), profile["interval_high"].to_numpy()
    trace = {
        "type": "scatter", "x": list(profile.index), "y": rate, "mode": "markers", "name": "expected counts",
        "marker": {"size": 10, "color": "#1f77b4"}, "showlegend": False,
        "error_y": {"type": "data", "symmetric": False, "array": np.maximum(high - rate, 0), "arrayminus": np.maximum(rate - low, 0)},
        "customdata": np.stack([low, high], axis=1),
        "hovertemplate": "%{x}: %{y:.3g} counts, 90% interval %{customdata[0]:.0f}-%{customdata[1]:.0f}<extra></extra>",
    }
    return Panel(f"Expected counts at library size {_fmt_lib(library_size)}, with 90% predictive interval", [trace],
                 yaxis={"title": {"text": "counts"}, "rangemode": "tozero"})


def zero_probability_panel(profile: pd.DataFrame) -> Panel:
    """Stacked bars of P(count = 0): the dropout part and the NB (or Poisson) part."""
    genes = list(profile.index)
    traces = [
        {"type": "bar", "x": genes, "y": profile["p_zero_dropout"].to_numpy(), "name": "P(0) from dropout (zero inflation)",
         "marker": {"color": "#d62728"}, "hovertemplate": "%{x}: %{y:.3f}<extra>dropout</extra>"},
        {"type": "bar", "x": genes, "y": profile["p_zero_counts"].to_numpy(), "name": "P(0) from the count distribution",
         "marker": {"color": "#7f7f7f"}, "hovertemplate": "%{x}: %{y:.3f}<extra>counts</extra>"},
    ]
    return Panel("Probability of observing zero counts", traces,
                 yaxis={"title": {"text": "P(count = 0)"}, "range": [0, 1]})


def parameter_panels(profile: pd.DataFrame) -> list[Panel]:
    """One bar panel each for normalised expression, NB theta and dropout probability."""
    genes = list(profile.index)
    return [
        Panel(label, [{"type": "bar", "x": genes, "y": profile[column].to_numpy(), "name": column, "showlegend": False,
                       "marker": {"color": color}, "hovertemplate": "%{x}: %{y:.4g}<extra>" + column + "</extra>"}],
              yaxis={"rangemode": "tozero", **({"range": [0, 1]} if column == "dropout" else {})})
        for column, label, color in (
            ("scale", "normalised expression (fraction of library)", "#2ca02c"),
            ("theta", "NB inverse dispersion theta", "#9467bd"),
            ("dropout", "dropout probability", "#d62728"),
        )
    ]


def _row(panels: list[Panel], x0: float, x1: float, y: tuple[float, float], gap: float = 0.06):
    width = (x1 - x0 - gap * (len(panels) - 1)) / len(panels)
    return [(p, (x0 + i * (width + gap), x0 + i * (width + gap) + width), y) for i, p in enumerate(panels)]


def top_genes_figure(profile: pd.DataFrame, *, library_size: float, subtitle: str = "") -> go.Figure:
    """Horizontal bars of expected counts for the rows of ``profile`` (largest on top)."""
    return _single(top_genes_panel(profile, library_size=library_size), subtitle=subtitle,
                   height=max(260, 22 * len(profile) + 90), margin=_GENE_MARGIN)


def expected_counts_figure(profile: pd.DataFrame, *, library_size: float, subtitle: str = "") -> go.Figure:
    """Expected counts per gene with the 90% predictive interval of the count distribution."""
    return _single(expected_counts_panel(profile, library_size=library_size), subtitle=subtitle, height=360)


def parameters_figure(profile: pd.DataFrame, *, subtitle: str = "") -> go.Figure:
    """Three panels per gene: normalised expression, NB theta and dropout probability."""
    return _compose(_row(parameter_panels(profile), 0.0, 1.0, (0.0, 1.0)), title=_title("Decoder parameters per gene", subtitle),
                    height=370, margin={**_MARGIN, "t": 110}, showlegend=False)


def zero_probability_figure(profile: pd.DataFrame, *, subtitle: str = "") -> go.Figure:
    """Stacked bars of P(count = 0): the dropout part and the NB (or Poisson) part."""
    return _single(zero_probability_panel(profile), subtitle=subtitle, height=340, barmode="stack",
                   legend={"orientation": "h", "y": -0.2})


def point_figure(top: pd.DataFrame, chosen: pd.DataFrame | None, *, library_size: float, subtitle: str = "") -> go.Figure:
    """Everything decoded at the current point, in one figure (one redraw per slider move).

    Left: the top genes by expected counts. Right, for the ``chosen`` genes: expected counts
    with the 90% predictive interval, P(count = 0) split into its two parts, and normalised
    expression, theta and dropout probability. The same panels are available one by one
    (``top_genes_figure``, ``expected_counts_figure``, ...) for export.
    """
    lib = _fmt_lib(library_size)
    top_panel = replace(top_genes_panel(top, library_size=library_size), title=f"Top {len(top)} genes, expected counts at N={lib}")
    title = _title(f"Decoded at the current point (library size N = {lib})", subtitle)
    height = max(760, 22 * len(top) + 200)
    if chosen is None or chosen.empty:
        return _compose([(top_panel, (0.0, 1.0), (0.0, 0.93))], title=title, height=height, margin=_GENE_MARGIN)
    counts = replace(expected_counts_panel(chosen, library_size=library_size), title="Expected counts, with 90% predictive interval")
    zeros = replace(zero_probability_panel(chosen), title="P(count = 0): dropout + count distribution")
    short = ("scale (fraction of library)", "NB theta", "dropout probability")
    params = [replace(p, title=t) for p, t in zip(parameter_panels(chosen), short)]
    placed = [(top_panel, (0.0, 0.38), (0.0, 0.93)),
              (counts, (0.5, 1.0), (0.72, 0.93)),
              (zeros, (0.5, 1.0), (0.40, 0.60))]
    placed += _row(params, 0.5, 1.0, (0.0, 0.22), gap=0.05)
    return _compose(placed, title=title, height=height, barmode="stack", margin=_GENE_MARGIN,
                    legend={"orientation": "h", "x": 0.5, "y": 0.355, "yanchor": "top", "font": {"size": 11}})


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
    return _figure(traces, layout)


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
    return _figure([trace], layout)
