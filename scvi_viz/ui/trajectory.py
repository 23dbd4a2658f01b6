"""The Trajectory page's state and controls: endpoints, path kind, steps, and the cached kNN graph.

The page's state lives in ``st.session_state`` under :data:`scvi_viz.ui.keys.TRAJECTORY_VIEW`,
as plain JSON-able values (endpoints are dicts, see
:func:`scvi_viz.analysis.trajectory.endpoint_cells`), so that a saved view or a link can set it.
Widgets show that state and write it back from their callbacks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import streamlit as st

from scvi_viz.analysis import trajectory as tr
from scvi_viz.analysis.embedding import content_key
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.plots.cell_map import MAX_COLOUR_CATEGORIES
from scvi_viz.plots.trajectory import path_map_figure
from scvi_viz.ui import cache, keys
from scvi_viz.ui.cell_map import clicked, selected_cells
from scvi_viz.ui.components.map_point import map_point
from scvi_viz.ui.point import current_point, set_point

MAP_KEY = "traj_map"
SELECT_MAP_KEY = "traj_select_map"
STEP_CHOICES = (10, 200)
"""Fewest and most steps a path can be resampled to."""
GENE_MODES = {"changing": "genes that change most along the path", "chosen": "the chosen genes (Explore page's picker)"}
_ENDPOINTS = {keys.TRAJECTORY_START: "start A", keys.TRAJECTORY_END: "end B"}
_ENDPOINT_KINDS = {"group": "the centroid of a group", "cell": "one cell", "cells": "selected cells"}
_CLICK_SETS = "traj_click_sets"
_RERUN_PAGE = "_traj_rerun_page"
_PATH = "_traj_path"




@st.cache_resource(show_spinner="Building the nearest-neighbour graph of the cells (once per model and data)…", max_entries=4)
def _latent_graph(ws_id: str, _ws: Workspace) -> tr.LatentGraph:
    return tr.LatentGraph.build(_ws.latent)


def latent_graph(ws: Workspace) -> tr.LatentGraph:
    """The kNN graph of the workspace's latent means: built once per model and data, shared, only queried."""
    return _latent_graph(cache.workspace_id(), ws)


# ----------------------------------------------------------------------------------- state
def _defaults(ws: Workspace) -> dict[str, Any]:
    start, end = tr.default_endpoints(ws.obs, labels_key=ws.model.labels_key)
    return {keys.TRAJECTORY_START: start, keys.TRAJECTORY_END: end, keys.TRAJECTORY_KIND: "graph",
            keys.TRAJECTORY_STEPS: 50, keys.TRAJECTORY_STEP: 0, keys.TRAJECTORY_GENES: "changing"}


def init_state(ws: Workspace) -> list[str]:
    """Fill in the page's state where it is missing or cannot be used; returns what was wrong, in words.

    An endpoint that names no cell or group of these data (say, from a view saved with other
    data) falls back to its default, and the message says so.
    """
    ss = st.session_state
    problems = []
    for key, value in _defaults(ws).items():
        if key not in ss or ss[key] is None:
            ss[key] = value
    for key, what in _ENDPOINTS.items():
        try:
            tr.endpoint_cells(ws.obs, ss[key])
        except (tr.TrajectoryError, AttributeError, TypeError) as exc:
            problems.append(f"The {what} could not be used ({exc}); it is back at its default.")
            ss[key] = _defaults(ws)[key]
    if ss[keys.TRAJECTORY_KIND] not in tr.PATH_KINDS:
        ss[keys.TRAJECTORY_KIND] = "graph"
    if ss[keys.TRAJECTORY_GENES] not in GENE_MODES:
        ss[keys.TRAJECTORY_GENES] = "changing"
    try:
        ss[keys.TRAJECTORY_STEPS] = int(np.clip(int(ss[keys.TRAJECTORY_STEPS]), *STEP_CHOICES))
        ss[keys.TRAJECTORY_STEP] = int(np.clip(int(ss[keys.TRAJECTORY_STEP]), 0, ss[keys.TRAJECTORY_STEPS] - 1))
    except (TypeError, ValueError):
        ss[keys.TRAJECTORY_STEPS], ss[keys.TRAJECTORY_STEP] = 50, 0
    return problems


def _widget(key: str, part: str) -> str:
    return f"{key}_w_{part}"


def _endpoint_from_widgets(ws: Workspace, key: str) -> None:
    ss = st.session_state
    before, kind = ss[key], ss[_widget(key, "kind")]
    if kind == "cells":
        return  # selected cells are set by the map ('Use the selected cells'), not by this radio
    if kind != before["kind"]:
        # A switch keeps the place: a group's first cell, or the group a cell belongs to.
        first = int(tr.endpoint_cells(ws.obs, before)[0])
        if kind == "cell":
            ss[key] = {"kind": "cell", "cell": str(ws.obs.index[first])}
        else:
            columns = tr.group_columns(ws.obs)
            column = ws.model.labels_key if ws.model.labels_key in columns else columns[0]
            ss[key] = {"kind": "group", "column": column, "category": str(ws.obs[column].iloc[first])}
    elif kind == "cell":
        ss[key] = {"kind": "cell", "cell": str(ss.get(_widget(key, "cell"), "")).strip()}
    else:
        column = ss[_widget(key, "column")]
        category = ss.get(_widget(key, "category"))
        categories = _categories(ws, column)
        ss[key] = {"kind": "group", "column": column, "category": category if category in categories else categories[0]}
    ss[keys.TRAJECTORY_STEP] = 0


def _categories(ws: Workspace, column: str) -> list[str]:
    counts = ws.obs[column].astype(str).value_counts()
    return list(counts.index)


def endpoint_picker(ws: Workspace, key: str) -> None:
    """A cell (typed cell id) or a group (obs column and category) for endpoint ``key``."""
    ss = st.session_state
    endpoint, what = ss[key], _ENDPOINTS[key]
    columns = tr.group_columns(ws.obs)
    # The widgets show the state, whatever set it (callbacks, a saved view, a link).
    ss[_widget(key, "kind")] = endpoint["kind"]
    if endpoint["kind"] == "cell":
        ss[_widget(key, "cell")] = endpoint["cell"]
    elif endpoint["kind"] == "group":
        ss[_widget(key, "column")] = endpoint["column"]
        ss[_widget(key, "category")] = endpoint["category"]
    update = {"on_change": _endpoint_from_widgets, "args": (ws, key)}
    # Selected cells are one of the choices only once a selection on the map has set them.
    kinds = ["group", "cell"] + (["cells"] if endpoint["kind"] == "cells" else [])
    st.radio(f"The {what} is", kinds, key=_widget(key, "kind"), horizontal=True, **update,
             format_func=_ENDPOINT_KINDS.get, disabled=not columns and endpoint["kind"] == "cell",
             help="Or draw a box or lasso around cells on the map: their centroid can become this endpoint.")
    if endpoint["kind"] == "cells":
        st.caption(f"{len(endpoint['cells']):,} cells selected on the map; draw another box or lasso to change them.")
        return
    if endpoint["kind"] == "cell":
        st.text_input(f"Cell id ({what})", key=_widget(key, "cell"), **update,
                      help="A cell id of the data (the map shows them on hover), or click a cell on the map.")
        return
    if _widget(key, "column") in ss and ss[_widget(key, "column")] not in columns:
        ss[_widget(key, "column")] = columns[0]
    st.selectbox(f"obs column ({what})", columns, key=_widget(key, "column"), **update)
    st.selectbox(f"Group ({what})", _categories(ws, endpoint["column"]), key=_widget(key, "category"), **update,
                 help="Groups are listed largest first; the endpoint is the mean latent point of the group's cells.")


def _kind_changed() -> None:
    st.session_state[keys.TRAJECTORY_STEP] = 0


def path_controls(ws: Workspace) -> None:
    """Both endpoints, the path kind, the number of steps and which genes to chart."""
    a, b, c = st.columns([2, 2, 3])
    with a:
        endpoint_picker(ws, keys.TRAJECTORY_START)
    with b:
        endpoint_picker(ws, keys.TRAJECTORY_END)
    with c:
        st.radio("Path", list(tr.PATH_KINDS), key=keys.TRAJECTORY_KIND, format_func=tr.PATH_KINDS.get,
                 on_change=_kind_changed, persist_state="session",
                 help="Through the cells: the shortest path in the graph of each cell's 15 nearest neighbours in "
                      "latent space, so it stays among the data. Straight: the line between the endpoints in z."
                      + (f" With more than {tr.GRAPH_MAX_CELLS:,} cells the graph is built on a uniform random "
                         f"{tr.GRAPH_MAX_CELLS:,} of the {ws.n_cells:,}." if ws.n_cells > tr.GRAPH_MAX_CELLS else ""))
        st.slider("Number of steps", *STEP_CHOICES, key=keys.TRAJECTORY_STEPS, on_change=_kind_changed,
                  persist_state="session")
        st.radio("Genes to chart", list(GENE_MODES), key=keys.TRAJECTORY_GENES, format_func=GENE_MODES.get,
                 horizontal=True, persist_state="session")
        st.radio("A click on the map sets", list(_ENDPOINTS.values()), key=_CLICK_SETS, horizontal=True,
                 persist_state="session",
                 help="Click a cell on the map to make it the start A or the end B of the path; cells drawn around "
                      "with the map's box or lasso can become it too.")


# ------------------------------------------------------------------------------------ paths
@dataclass(frozen=True)
class PathView:
    """The paths of the page: both kinds in latent space and on the map, and each step's distance to the data."""

    start: dict
    end: dict
    kind: tr.PathKind
    z: dict[str, np.ndarray]
    xy: dict[str, np.ndarray]
    distance: np.ndarray
    off: np.ndarray
    embedding: str

    @property
    def n_steps(self) -> int:
        return len(self.distance)

    def describe(self) -> str:
        """``A: … → B: …``."""
        return f"A: {tr.describe_endpoint(self.start)} → B: {tr.describe_endpoint(self.end)}"


@st.cache_data(max_entries=32, show_spinner=False)
def _paths(ws_id: str, endpoints: str, n_steps: int, embedding: str, _ws: Workspace) -> tuple[dict, dict, dict]:
    start, end = json.loads(endpoints)
    graph = latent_graph(_ws)
    za, zb = (tr.endpoint_latent(_ws.latent, _ws.obs, e) for e in (start, end))
    z, xy, dist = {}, {}, {}
    inverse = cache.inverse_map(_ws, embedding)
    for kind in tr.PATH_KINDS:
        z[kind] = tr.latent_path(za, zb, kind=kind, n_steps=n_steps, graph=graph)
        xy[kind] = np.array([inverse.position_of(p) for p in z[kind]])
        dist[kind] = graph.distance_to_data(z[kind])
    return z, xy, dist


def path_view(ws: Workspace) -> PathView:
    """Both paths between the page's endpoints (cached per endpoints, steps and map).

    Raises
    ------
    TrajectoryError
        When the kNN graph joins no path between the endpoints.
    """
    ss = st.session_state
    embedding = ss.get(keys.EMBEDDING)
    embedding = embedding if embedding in ws.embedding_names() else ws.embedding_names()[0]
    start, end, kind = ss[keys.TRAJECTORY_START], ss[keys.TRAJECTORY_END], ss[keys.TRAJECTORY_KIND]
    z, xy, dist = _paths(cache.workspace_id(), json.dumps([start, end], sort_keys=True), ss[keys.TRAJECTORY_STEPS], embedding, ws)
    view = PathView(start, end, kind, z, xy, dist[kind], tr.off_data(dist[kind]), embedding)
    ss[_PATH] = (view.z[kind], view.xy[kind], view.describe())
    return view


def map_colour(ws: Workspace, view: PathView) -> str:
    """What the path's map is coloured by: the endpoints' group column, the model's labels, or the first group column."""
    columns = tr.group_columns(ws.obs, max_categories=MAX_COLOUR_CATEGORIES)
    wanted = [e["column"] for e in (view.start, view.end) if e["kind"] == "group"] + [ws.model.labels_key]
    return next((c for c in wanted if c in columns), columns[0] if columns else cache.GENE_COLOUR)


def map_inputs(ws: Workspace, view: PathView) -> dict[str, Any]:
    """:func:`~scvi_viz.plots.trajectory.path_map_figure`'s map, path and title arguments."""
    colour = map_colour(ws, view)
    inputs = cache.map_inputs(ws, view.embedding, colour, ws.model.genes[0] if colour == cache.GENE_COLOUR else None)
    name = inputs["embedding_name"]
    subtitle = (f"{view.describe()} · solid: {tr.PATH_KINDS['graph']}; dashed: {tr.PATH_KINDS['straight']} · "
                f"decoded: {tr.PATH_KINDS[view.kind]}")
    return {"map_inputs": inputs, "paths": view.xy, "kind": view.kind, "off": view.off,
            "names": {"graph": "through the cells", "straight": "straight line in z"},
            "title": "Path from A to B on the map of cells", "subtitle": f"{subtitle} · {name}, cells coloured by "
            f"{inputs['color_name']}"}


@st.cache_resource(max_entries=8, show_spinner=False)
def _map_figure(ws_id: str, key: str, _inputs: dict):
    return path_map_figure(**_inputs)


def path_map(ws: Workspace, view: PathView) -> dict[str, Any]:
    """Draw the map with both paths (its figure cached: the same object while only the step moves)."""
    inputs = map_inputs(ws, view)
    key = content_key(*view.xy.values(), view.off, extra=f"{view.kind}|{view.embedding}|{inputs['title']}|{inputs['subtitle']}")
    st.plotly_chart(_map_figure(cache.workspace_id(), key, inputs), key=MAP_KEY, config={"displaylogo": False})
    return inputs


def selection_picker(ws: Workspace) -> None:
    """A map of its own for drawing a box or lasso around cells whose centroid becomes an endpoint.

    Apart from the path's map, whose clicks set cell endpoints (a selectable chart would take
    those clicks).
    """
    with st.expander("An endpoint from cells drawn around on a map (box or lasso)"):
        st.caption("Draw a box or lasso around cells (the map's toolbar has both tools); 'A click on the map sets' "
                   "chooses whether their centroid becomes the start A or the end B.")
        cells = selected_cells(ws, key=SELECT_MAP_KEY, subtitle=f"{ws.n_cells:,} cells")
        _selection_button(ws, cells)


def _selection_button(ws: Workspace, cells: list[int]) -> None:
    """For cells drawn around with a box or lasso: make their centroid an endpoint."""
    if not cells:
        return
    which = next(k for k, v in _ENDPOINTS.items() if v == st.session_state.get(_CLICK_SETS, "start A"))

    def use() -> None:
        st.session_state[which] = {"kind": "cells", "cells": [str(c) for c in ws.obs.index[cells]]}
        st.session_state[keys.TRAJECTORY_STEP] = 0

    st.button(f"Use the {len(cells):,} selected cells as {_ENDPOINTS[which]}", on_click=use, key="traj_use_selection",
              help="Their centroid (mean latent point) becomes the endpoint; 'A click on the map sets' chooses which.")


# ------------------------------------------------------------------------------- step, clicks
def _step_point() -> None:
    """Make the current step the Explore page's current point (z only: library and covariates stay)."""
    ss = st.session_state
    z, xy, where = ss[_PATH]
    step = int(ss[keys.TRAJECTORY_STEP])
    ws = ss[keys.WORKSPACE]
    set_point(ws, replace(current_point(), z=tuple(float(v) for v in z[step])),
              origin=f"step {step} of {len(z) - 1} on the path {where}", xy=(float(xy[step, 0]), float(xy[step, 1])))


def step_slider(view: PathView) -> int:
    """The step slider (it also sets the Explore page's current point); returns the step."""
    st.slider("Step along the path (moves the × on the map and sets the Explore page's current point)",
              0, view.n_steps - 1, key=keys.TRAJECTORY_STEP, on_change=_step_point, persist_state="session")
    return int(st.session_state[keys.TRAJECTORY_STEP])


def _on_click(ws: Workspace, embedding: str, key: str) -> None:
    resolved = clicked(ws, embedding, key)
    if resolved is None:
        return
    cell, _, xy = resolved
    if cell is None:  # an endpoint is a cell: the nearest one to the click
        cell, _ = cache.inverse_map(ws, embedding).nearest_cell(*xy)
    which = next(k for k, v in _ENDPOINTS.items() if v == st.session_state.get(_CLICK_SETS, "start A"))
    st.session_state[which] = {"kind": "cell", "cell": str(ws.obs.index[cell])}
    st.session_state[keys.TRAJECTORY_STEP] = 0
    st.session_state[_RERUN_PAGE] = True


def step_marker(ws: Workspace, view: PathView, step: int) -> tuple[float, float]:
    """The × of the current step over the map; clicks on the map set an endpoint. Returns where it is."""
    if st.session_state.pop(_RERUN_PAGE, False):
        st.rerun(scope="app")  # a new endpoint: the map's paths change too
    key = f"{MAP_KEY}_point"
    xy = (float(view.xy[view.kind][step, 0]), float(view.xy[view.kind][step, 1]))
    map_point(key=key, map_key=MAP_KEY, xy=xy, on_click=lambda: _on_click(ws, view.embedding, key))
    return xy
