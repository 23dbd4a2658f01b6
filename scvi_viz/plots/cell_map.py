"""The map of cells: a 2-D embedding coloured by a column, with a click grid and the current point."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from scvi_viz.plots.export import Chart
from scvi_viz.plots.style import PALETTE, TICK_SIZE, build_figure, title_block, wrap

CELLS_TRACE = "cells"
GRID_TRACE = "empty space"
GRID_TRACE_INDEX = 0
"""The invisible click grid is always the map's first trace."""
POINT_NAME = "current point"
"""Legend name of the map's current-point × (drawn in exported maps; on screen a component draws it)."""
MIN_WIDTH = 600
"""Narrowest width a map is laid out for by default (exports, the selection maps); the Explore page's
map, beside the latent walk, is laid out for its own narrower column."""
COLORBAR_TITLE_PX = 110
MAX_COLOUR_CATEGORIES = 60
"""A categorical colour with more categories than this is refused (its legend would be unreadable)."""
MAP_HOVER_MAX_CELLS = 20_000
"""Above this many cells a map is drawn without per-cell hover texts, which keeps its figure small."""
MAP_MAX_POINTS = 100_000
"""Most cells a map draws; larger datasets draw a uniform random sample of this many (density is kept),
and say so. Clicks, box and lasso selections and the CSV export still use every cell."""


def map_sample(n_cells: int, max_points: int = MAP_MAX_POINTS) -> np.ndarray | None:
    """Rows a map of ``n_cells`` draws: ``None`` for all, else a uniform random sample (seed 0), sorted.

    Every cell is as likely to be drawn as any other, so the drawn density follows the data's.
    """
    if n_cells <= max_points:
        return None
    return np.sort(np.random.default_rng(0).choice(n_cells, max_points, replace=False)).astype(np.int32)


def sample_note(n_cells: int, max_points: int = MAP_MAX_POINTS) -> str:
    """What a map of ``n_cells`` draws, in words ("" when it draws every cell)."""
    if n_cells <= max_points:
        return ""
    return (f"{max_points:,} of {n_cells:,} cells drawn (a uniform random sample, so density is kept); "
            "clicks, selections and the CSV use all cells")


def umap_figure(
    coords: np.ndarray,
    color: Sequence | np.ndarray,
    *,
    color_name: str,
    hover: Sequence[str] | None = None,
    point_xy: tuple[float, float] | None = None,
    embedding_name: str = "UMAP",
    title: str | None = None,
    subtitle: str = "",
    grid_size: int = 60,
    height: int = 520,
    width: int = MIN_WIDTH,
    max_points: int = MAP_MAX_POINTS,
) -> go.Figure:
    """Cells in a 2-D embedding, coloured by a column, with the current point and a click grid.

    Of more than ``max_points`` cells a uniform random sample is drawn (:func:`map_sample`) and
    the subtitle says so; each drawn marker's ``customdata`` is its row among all cells.

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
    title, subtitle
        What the map shows; default title "Cells in <embedding>, coloured by <colour>". Both are
        wrapped to fit ``width``.
    grid_size
        Points per side of the invisible grid that makes clicks on empty space register.
    height
        Figure height in pixels.
    width
        The narrowest width the figure is drawn at (its titles wrap to it).
    max_points
        Most cells drawn.

    Returns
    -------
    plotly.graph_objects.Figure
        Traces: the invisible grid first (so cells draw above it), then the cells, then (if
        ``point_xy`` is given) the current point, a black × with a legend entry.
    """
    coords = np.asarray(coords, dtype=np.float32)
    gx, gy = np.meshgrid(*_grid_axes(coords, grid_size))  # over all cells, as grid_step computes it
    values = np.asarray(color)
    texts = None if hover is None else np.asarray(hover, dtype=object)
    index = np.arange(len(coords), dtype=np.int32)
    drawn = map_sample(len(coords), max_points)
    if drawn is not None:
        subtitle = " · ".join(t for t in (subtitle, sample_note(len(coords), max_points)) if t)
        coords, values, index = coords[drawn], values[drawn], drawn
        texts = None if texts is None else texts[drawn]
    x, y = coords[:, 0], coords[:, 1]
    cell_size = 5 if len(x) < 20_000 else 3
    # The grid's markers are no larger than the cells': plotly gives a click to the nearest
    # marker edge, so a larger grid marker would take clicks aimed right at a cell.
    traces = [{"type": "scattergl", "x": gx.ravel(), "y": gy.ravel(), "mode": "markers", "name": GRID_TRACE,
               "showlegend": False, "marker": {"size": cell_size, "opacity": 0}, "hoverinfo": "none"}]
    template = "%{text}<extra></extra>" if texts is not None else "%{fullData.name}, cell #%{customdata}<extra></extra>"
    cell_trace = {"type": "scattergl", "mode": "markers", "hovertemplate": template}
    if values.dtype.kind in "fiub":
        bar_title = "<br>".join(wrap(color_name, COLORBAR_TITLE_PX, TICK_SIZE))
        traces.append({**cell_trace, "x": x, "y": y, "name": color_name, "customdata": index, "showlegend": False,
                       **({"text": texts} if texts is not None else {}),
                       "marker": {"size": cell_size, "color": values.astype(np.float32),
                                  "colorscale": "Viridis", "showscale": True,
                                  "colorbar": {"title": {"text": bar_title, "font": {"size": TICK_SIZE}}, "len": 0.8}}})
        legend_title = ""
    else:
        labels = values.astype(str)
        for i, cat in enumerate(pd.unique(labels)):
            sel = np.flatnonzero(labels == cat).astype(np.int32)
            traces.append({**cell_trace, "x": x[sel], "y": y[sel], "name": str(cat), "legendgroup": CELLS_TRACE,
                           "customdata": index[sel], **({"text": texts[sel]} if texts is not None else {}),
                           "marker": {"size": cell_size, "color": PALETTE[i % len(PALETTE)]}})
        legend_title = color_name
    if point_xy is not None:
        # scattergl, so that it is drawn over the cells (plotly puts WebGL traces above SVG ones).
        traces.append({"type": "scattergl", "x": [float(point_xy[0])], "y": [float(point_xy[1])], "mode": "markers",
                       "name": POINT_NAME, "hoverinfo": "skip",
                       "marker": {"symbol": "x-thin", "size": 16, "color": "black", "line": {"width": 3, "color": "black"}}})
    title_dict, top = title_block(title or f"Cells in {embedding_name}, coloured by {color_name}", subtitle,
                                  width=width)
    axis_name = embedding_name.split(" of ")[0]  # "UMAP of the scVI latent space" -> UMAP 1, UMAP 2
    layout = {
        "title": title_dict, "height": height + top, "margin": {"l": 36, "r": 10, "t": top, "b": 36},
        "legend": {"itemsizing": "constant", "title": {"text": legend_title}, "font": {"size": TICK_SIZE}},
        "xaxis": {"title": {"text": f"{axis_name} 1", "standoff": 8}, "showticklabels": False, "zeroline": False},
        "yaxis": {"title": {"text": f"{axis_name} 2", "standoff": 8}, "showticklabels": False, "zeroline": False},
        "dragmode": "pan", "clickmode": "event", "uirevision": "umap",
    }
    return build_figure(traces, layout)


def _grid_axes(coords: np.ndarray, grid_size: int) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = coords.min(0), coords.max(0)
    pad = 0.05 * np.where(hi > lo, hi - lo, 1.0)
    return tuple(np.linspace(lo[i] - pad[i], hi[i] + pad[i], grid_size, dtype=np.float32) for i in (0, 1))


def grid_step(coords: np.ndarray, grid_size: int = 60) -> tuple[float, float]:
    """Spacing in x and y of the invisible click grid that :func:`umap_figure` lays over ``coords``."""
    gx, gy = _grid_axes(np.asarray(coords, dtype=np.float32), grid_size)
    return float(gx[1] - gx[0]), float(gy[1] - gy[0])


def map_chart(*, coords: np.ndarray, color: np.ndarray, color_name: str, hover: Sequence[str] | None,
              embedding_name: str, subtitle: str, marker: tuple[float, float], point: str,
              cells: pd.Index) -> Chart:
    """The map as a chart to download: the cells, the current point (described by ``point``) as
    an × at ``marker``, and a CSV of every cell's coordinates and colour value.

    Takes :func:`umap_figure`'s arguments; the figure is built on first use.
    """
    subtitle = f"× current point: {point} · {subtitle}"
    table = pd.DataFrame({"x": coords[:, 0], "y": coords[:, 1], color_name: color}, index=cells.rename("cell"))
    return Chart(f"map_{embedding_name}_{color_name}",
                 lambda: umap_figure(coords, color, color_name=color_name, hover=hover, point_xy=marker,
                                     embedding_name=embedding_name, subtitle=subtitle),
                 table, {"map": embedding_name, "colour": color_name, "current point": point,
                         "current point (x, y)": f"{marker[0]:.4g}, {marker[1]:.4g}"})
