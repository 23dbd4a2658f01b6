"""The map of cells: a 2-D embedding coloured by a column, with a click grid and the current point."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from scvi_viz.plots.export import Chart
from scvi_viz.plots.style import PALETTE, TEMPLATE, TICK_SIZE, build_figure, title_block, wrap

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
STEP_COLOURS = tuple(sample_colorscale("Viridis", [(k + 0.5) / 24 for k in range(24)]))
"""A gene's (or any number's) colour scale on the map: 24 steps of Viridis."""
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
    base, colour = map_parts(coords, color, color_name=color_name, hover=hover, embedding_name=embedding_name,
                             title=title, subtitle=subtitle, grid_size=grid_size, height=height, width=width,
                             max_points=max_points)
    traces, layout = assemble_map(base, colour)
    if point_xy is not None:
        # scattergl, so that it is drawn over the cells (plotly puts WebGL traces above SVG ones).
        traces.append({"type": "scattergl", "x": [float(point_xy[0])], "y": [float(point_xy[1])], "mode": "markers",
                       "name": POINT_NAME, "hoverinfo": "skip",
                       "marker": {"symbol": "x-thin", "size": 16, "color": "black", "line": {"width": 3, "color": "black"}}})
    return build_figure(traces, {k: v for k, v in layout.items() if k != "template"})


@dataclass(frozen=True)
class MapBase:
    """What a map draws whatever it is coloured by: sent to the browser once per map (``live_map.js``).

    Attributes
    ----------
    grid_x, grid_y
        The invisible click grid's points (float32).
    x, y
        The drawn cells' coordinates (float32).
    index
        Each drawn cell's row among all cells (int32): its ``customdata``.
    hover
        Each drawn cell's hover text, or ``None``.
    cell_size
        Marker size in pixels.
    """

    grid_x: np.ndarray
    grid_y: np.ndarray
    x: np.ndarray
    y: np.ndarray
    index: np.ndarray
    hover: list[str] | None
    cell_size: int


@dataclass(frozen=True)
class MapColour:
    """What one colouring of a map adds: per drawn cell a category code or a value, and the layout.

    Attributes
    ----------
    kind
        ``"category"`` (``codes`` index ``categories``, in order of first appearance) or
        ``"scale"`` (``values`` on the Viridis scale).
    name
        What the colour is.
    codes, categories, values
        The drawn cells' colours: uint8 codes and their categories, or float32 values.
    layout
        The figure's layout (titles, axes, legend, margins), with the template.
    colorbar_title
        The colour bar's title (wrapped), for ``"scale"``.
    low, high
        The scale's ends (the values' finite minimum and maximum), for ``"scale"``.
    """

    kind: str
    name: str
    codes: np.ndarray | None
    categories: list[str] | None
    values: np.ndarray | None
    layout: dict
    colorbar_title: str = ""
    low: float = 0.0
    high: float = 1.0


def map_parts(coords: np.ndarray, color: Sequence | np.ndarray, *, color_name: str, hover: Sequence[str] | None = None,
              embedding_name: str = "UMAP", title: str | None = None, subtitle: str = "", grid_size: int = 60,
              height: int = 520, width: int = MIN_WIDTH, max_points: int = MAP_MAX_POINTS) -> tuple[MapBase, MapColour]:
    """:func:`umap_figure`'s map as its two parts: the cells and grid (:func:`map_base`), and the
    colouring with the layout (:func:`map_colouring`). A new colouring changes only the second."""
    return (map_base(coords, hover=hover, grid_size=grid_size, max_points=max_points),
            map_colouring(color, color_name=color_name, embedding_name=embedding_name, title=title, subtitle=subtitle,
                          height=height, width=width, max_points=max_points))


def map_base(coords: np.ndarray, *, hover: Sequence[str] | None = None, grid_size: int = 60,
             max_points: int = MAP_MAX_POINTS) -> MapBase:
    """The drawn cells (a sample above ``max_points``, :func:`map_sample`) and the click grid."""
    coords = np.asarray(coords, dtype=np.float32)
    gx, gy = np.meshgrid(*_grid_axes(coords, grid_size))  # over all cells, as grid_step computes it
    texts = None if hover is None else np.asarray(hover, dtype=object)
    index = np.arange(len(coords), dtype=np.int32)
    drawn = map_sample(len(coords), max_points)
    if drawn is not None:
        coords, index = coords[drawn], drawn
        texts = None if texts is None else texts[drawn]
    return MapBase(gx.ravel().astype(np.float32), gy.ravel().astype(np.float32), np.ascontiguousarray(coords[:, 0]),
                   np.ascontiguousarray(coords[:, 1]), index.astype(np.int32),
                   None if texts is None else [str(t) for t in texts], 5 if len(coords) < 20_000 else 3)


def map_colouring(color: Sequence | np.ndarray, *, color_name: str, embedding_name: str = "UMAP",
                  title: str | None = None, subtitle: str = "", height: int = 520, width: int = MIN_WIDTH,
                  max_points: int = MAP_MAX_POINTS, n_cells: int | None = None) -> MapColour:
    """The drawn cells' colours and the map's layout.

    ``color`` holds one value per cell of the data, or, given ``n_cells`` (the data's cells), one per
    drawn cell (:func:`map_sample` of ``n_cells``) alone: an atlas's colour is computed for those.
    """
    values = np.asarray(color)
    n_cells = len(values) if n_cells is None else n_cells
    drawn = map_sample(n_cells, max_points)
    if drawn is not None:
        subtitle = " · ".join(t for t in (subtitle, sample_note(n_cells, max_points)) if t)
        if len(values) == n_cells:
            values = values[drawn]
    if len(values) != (n_cells if drawn is None else len(drawn)):
        raise ValueError(f"{len(values):,} colour values for a map of {n_cells:,} cells: give one per cell, "
                         "or one per drawn cell (map_sample)")
    title_dict, top = title_block(title or f"Cells in {embedding_name}, coloured by {color_name}", subtitle, width=width)
    axis_name = embedding_name.split(" of ")[0]  # "UMAP of the scVI latent space" -> UMAP 1, UMAP 2
    numeric = values.dtype.kind in "fiub"
    layout = {
        "template": TEMPLATE,
        "title": title_dict, "height": height + top, "margin": {"l": 36, "r": 10, "t": top, "b": 36},
        "legend": {"itemsizing": "constant", "title": {"text": "" if numeric else color_name}, "font": {"size": TICK_SIZE}},
        "xaxis": {"title": {"text": f"{axis_name} 1", "standoff": 8}, "showticklabels": False, "zeroline": False},
        "yaxis": {"title": {"text": f"{axis_name} 2", "standoff": 8}, "showticklabels": False, "zeroline": False},
        "dragmode": "pan", "clickmode": "event", "uirevision": "umap",
    }
    if numeric:
        values = values.astype(np.float32)
        finite = values[np.isfinite(values)]
        low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
        return MapColour("scale", color_name, None, None, values, layout,
                         "<br>".join(wrap(color_name, COLORBAR_TITLE_PX, TICK_SIZE)), low, high)
    codes, categories = pd.factorize(values.astype(str), sort=False)  # in order of first appearance
    dtype = np.uint8 if len(categories) <= 256 else np.int32
    return MapColour("category", color_name, codes.astype(dtype), [str(c) for c in categories], None, layout)


def scale_steps(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Each value's colour step, 0 to ``len(STEP_COLOURS) - 1`` (-1 for NaN), as ``live_map.js`` computes it."""
    n = len(STEP_COLOURS)
    span = high - low
    v = np.asarray(values, dtype=np.float64)
    steps = np.zeros(len(v)) if span <= 0 else np.floor((v - low) * (n / span))
    steps = np.clip(np.nan_to_num(steps, nan=-1.0), -1, n - 1).astype(np.int64)
    steps[~np.isfinite(v)] = -1
    return steps


def assemble_map(base: MapBase, colour: MapColour) -> tuple[list[dict], dict]:
    """The traces and layout of the map (``live_map.js`` builds the same in the browser): the
    invisible grid first (so cells draw above it), then one trace per category in order, or one
    trace on a colour scale."""
    traces = [{"type": "scattergl", "x": base.grid_x, "y": base.grid_y, "mode": "markers", "name": GRID_TRACE,
               "showlegend": False, "marker": {"size": base.cell_size, "opacity": 0}, "hoverinfo": "none"}]
    texts = None if base.hover is None else np.asarray(base.hover, dtype=object)
    if colour.kind == "scale":
        # One trace per colour step (the highest drawn last, on top): plotly recolours a few
        # single-colour traces in a tenth of the time it maps 100,000 values through a scale.
        bins = scale_steps(colour.values, colour.low, colour.high)
        value = f"{colour.name}: %{{customdata[1]:.3g}}<extra></extra>"
        template = f"%{{text}}<br>{value}" if texts is not None else f"cell #%{{customdata[0]}}<br>{value}"
        for k, rgb in enumerate(STEP_COLOURS):
            sel = np.flatnonzero(bins == k).astype(np.int32)
            traces.append({"type": "scattergl", "mode": "markers", "hovertemplate": template, "x": base.x[sel],
                           "y": base.y[sel], "name": colour.name, "showlegend": False,
                           "customdata": np.stack([base.index[sel].astype(np.float64),
                                                   colour.values[sel].astype(np.float64)], axis=1),
                           **({"text": texts[sel]} if texts is not None else {}),
                           "marker": {"size": base.cell_size, "color": rgb}})
        traces.append({"type": "scattergl", "x": [None], "y": [None], "mode": "markers", "name": colour.name,
                       "showlegend": False, "hoverinfo": "skip",
                       "marker": {"color": [colour.low, colour.high], "colorscale": "Viridis", "showscale": True,
                                  "cmin": colour.low, "cmax": colour.high,
                                  "colorbar": {"title": {"text": colour.colorbar_title, "font": {"size": TICK_SIZE}},
                                               "len": 0.8}}})
    else:
        template = "%{text}<extra></extra>" if texts is not None else "%{fullData.name}, cell #%{customdata}<extra></extra>"
        for i, cat in enumerate(colour.categories):
            sel = np.flatnonzero(colour.codes == i).astype(np.int32)
            traces.append({"type": "scattergl", "mode": "markers", "hovertemplate": template, "x": base.x[sel],
                           "y": base.y[sel], "name": cat, "legendgroup": CELLS_TRACE, "customdata": base.index[sel],
                           **({"text": texts[sel]} if texts is not None else {}),
                           "marker": {"size": base.cell_size, "color": PALETTE[i % len(PALETTE)]}})
    return traces, dict(colour.layout)


def _grid_axes(coords: np.ndarray, grid_size: int) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = coords.min(0), coords.max(0)
    pad = 0.05 * np.where(hi > lo, hi - lo, 1.0)
    return tuple(np.linspace(lo[i] - pad[i], hi[i] + pad[i], grid_size, dtype=np.float32) for i in (0, 1))


def grid_step(coords: np.ndarray, grid_size: int = 60) -> tuple[float, float]:
    """Spacing in x and y of the invisible click grid that :func:`umap_figure` lays over ``coords``."""
    gx, gy = _grid_axes(np.asarray(coords, dtype=np.float32), grid_size)
    return float(gx[1] - gx[0]), float(gy[1] - gy[0])


def map_chart(*, coords: np.ndarray, color: np.ndarray | Callable[[], np.ndarray], color_name: str,
              hover: Sequence[str] | None, embedding_name: str, subtitle: str, marker: tuple[float, float], point: str,
              cells: pd.Index) -> Chart:
    """The map as a chart to download: the cells, the current point (described by ``point``) as
    an × at ``marker``, and a CSV of every cell's coordinates and colour value.

    Takes :func:`umap_figure`'s arguments, ``color`` also as a function that computes the values
    (a gene decoded in every cell of an atlas); the figure and the table (a row per cell) are
    built on first use.
    """
    subtitle = f"× current point: {point} · {subtitle}"
    values = color if callable(color) else lambda: color
    return Chart(f"map_{embedding_name}_{color_name}",
                 lambda: umap_figure(coords, values(), color_name=color_name, hover=hover, point_xy=marker,
                                     embedding_name=embedding_name, subtitle=subtitle),
                 lambda: pd.DataFrame({"x": coords[:, 0], "y": coords[:, 1], color_name: values()},
                                      index=cells.rename("cell")),
                 {"map": embedding_name, "colour": color_name, "current point": point,
                         "current point (x, y)": f"{marker[0]:.4g}, {marker[1]:.4g}"})
