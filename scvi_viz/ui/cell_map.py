"""The map of cells and the current point: clicks that set the point, the cross that shows it,
and the map as a chart to download."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import streamlit as st

from scvi_viz.analysis.embedding import cells_in_shapes, resolve_click
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.plots.cell_map import GRID_TRACE_INDEX, grid_step, umap_figure
from scvi_viz.plots.cell_map import map_chart as plots_map_chart
from scvi_viz.plots.export import Chart
from scvi_viz.ui import cache, keys
from scvi_viz.ui.components.map_point import map_point as draw_map_point
from scvi_viz.ui.point import current_point, remember_clicked, set_point


def map_point(ws: Workspace, embedding_name: str, *, map_key: str, hover: bool = False,
              cells: str | None = None) -> tuple[float, float]:
    """Draw the current point over the map with key ``map_key``, and make clicks on it set the point.

    A cell click makes that cell the point (its z, library and covariates); a click on empty
    space maps the position back into latent space. The map's figure itself does not change.
    Returns where the point is drawn (see :func:`marker_position`). ``hover`` and ``cells``: the
    browser's preview of the point under the mouse (see ``components/map_point.py``).
    """
    key = f"{map_key}_point"
    xy = marker_position(ws, embedding_name)
    draw_map_point(key=key, map_key=map_key, xy=xy, on_click=lambda: _on_map_click(ws, embedding_name, key),
                   hover=hover, cells=cells, embedding=embedding_name, grid_trace=GRID_TRACE_INDEX)
    return xy


def clicked(ws: Workspace, embedding_name: str, key: str) -> tuple[int | None, np.ndarray, tuple[float, float]] | None:
    """The last click the map-point component ``key`` reported, resolved on embedding ``embedding_name``.

    Returns ``(cell, z, (x, y))`` as :func:`scvi_viz.analysis.embedding.resolve_click` does (``cell``
    is ``None`` for empty space), or ``None`` when there was no click.
    """
    hit = (st.session_state.get(key) or {}).get("click")
    if not hit:
        return None
    inv = cache.inverse_map(ws, embedding_name)
    return resolve_click(hit, inv, GRID_TRACE_INDEX, grid_step(inv.coords))


def _on_map_click(ws: Workspace, embedding_name: str, key: str) -> None:
    resolved = clicked(ws, embedding_name, key)
    if resolved is None:
        return
    cell, z, xy = resolved
    inv = cache.inverse_map(ws, embedding_name)
    if cell is None:
        point = replace(current_point(), z=tuple(float(v) for v in z))
        near = [str(ws.obs.index[i]) for i in inv.nearest_cells(*xy)]
        before = st.session_state.get(keys.POINT_ORIGIN) or "the previous point"
        origin = (f"empty space at ({xy[0]:.2f}, {xy[1]:.2f}): the {inv.method} ({', '.join(near[:3])}"
                  f"{f' and {len(near) - 3} more' if len(near) > 3 else ''}); library size and covariates kept from "
                  f"{before.split(': the ')[0]}, since empty space has none of its own")
    else:
        point, origin = remember_clicked(ws, cell)
    set_point(ws, point, origin=origin, xy=xy)


def marker_position(ws: Workspace, embedding_name: str) -> tuple[float, float]:
    """Where to draw the current point on the map.

    Clicks put it where the user clicked; otherwise (sliders, a restored view) it goes to the
    distance-weighted position of the point's nearest cells in latent space.
    """
    xy = st.session_state.get(keys.POINT_XY)
    if xy is None:
        xy = cache.inverse_map(ws, embedding_name).position_of(np.asarray(current_point().z))
    return xy


def map_chart(ws: Workspace, embedding_name: str, color_by: str, gene: str | None, *,
              gene_set: tuple[str, ...] = ()) -> Callable[[tuple[float, float], str], Chart]:
    """The page's map for exports: its inputs read now (in the script's run), and a function that
    makes the chart with the current point (described by ``point``) at ``marker``, also later, on
    a download's own thread."""
    inputs = cache.map_inputs(ws, embedding_name, color_by, gene, gene_set, lazy=True)
    return lambda marker, point: plots_map_chart(**inputs, marker=marker, point=point, cells=ws.obs.index)


def selected_cells(ws: Workspace, *, key: str, subtitle: str, height: int = 420) -> list[int]:
    """A map of the cells to draw a box or lasso on; returns the selected cells' row numbers.

    Coloured by the model's labels column (or the first ``obs`` column); ``subtitle`` says what
    the selection is for. The drawn shapes select every cell inside them, also those a large
    map does not draw; without shapes (a restored selection) the selected points count.
    """
    name = ws.embedding_names()[0]
    column = ws.model.labels_key if ws.model.labels_key in ws.obs else ws.color_columns()[0]
    coords = cache.embedding(ws, name)
    fig = umap_figure(coords, ws.obs[column].to_numpy(), color_name=column, hover=cache.map_hover(ws),
                      embedding_name=name.removeprefix("X_"), height=height, subtitle=subtitle)
    fig.update_layout(dragmode="lasso")
    event = st.plotly_chart(fig, key=key, on_select="rerun", selection_mode=("box", "lasso"))
    selection = (event or {}).get("selection") or {}
    boxes, lassos = list(selection.get("box") or []), list(selection.get("lasso") or [])
    if boxes or lassos:
        return [int(i) for i in cells_in_shapes(coords, boxes, lassos)]
    points = selection.get("points") or []
    return sorted({int(p["customdata"][0] if isinstance(p["customdata"], list) else p["customdata"])
                   for p in points if p.get("curve_number") != GRID_TRACE_INDEX
                   and isinstance(p.get("customdata"), (int, float, list)) and p.get("customdata") != []})
