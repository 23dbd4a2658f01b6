"""Everything the pages cache, in one place.

``st.cache_resource`` values (and the workspaces of :func:`open_workspace`) are shared by every
browser session and never changed after they are built: the
:class:`~scvi_viz.analysis.workspace.Workspace` (frozen, read-only arrays; its model guards its
own cache with a lock), read-only embedding arrays, the
:class:`~scvi_viz.analysis.embedding.InverseMap` (only queried) and the map figure (only
drawn). Arrays computed per gene or group go through ``st.cache_data``, which hands each
session its own copy. Functions take the workspace as ``_ws`` (not hashed) and key on the
session's workspace id instead.
"""

from __future__ import annotations

import functools
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from scvi_viz.analysis import compare, genes
from scvi_viz.analysis.characteristic import mean_decoded_scale
from scvi_viz.analysis.directions import group_centroids
from scvi_viz.analysis.embedding import INVERSE_MAP_K, CacheDirWarning, InverseMap, content_key
from scvi_viz.analysis.prepare import STEP_TEXT
from scvi_viz.analysis.sliders import SliderRow, axis_rows, dimension_rows
from scvi_viz.analysis.walk import DataDistance, browser_cells
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.arrays import read_only
from scvi_viz.covariates import CovariateKind
from scvi_viz.io import sources
from scvi_viz.plots.cell_map import MAP_HOVER_MAX_CELLS, MIN_WIDTH, grid_step, map_base, map_colouring, map_sample
from scvi_viz.plots.export import toolbar_config
from scvi_viz.ui import keys
from scvi_viz.ui.components.live_decoder import pack_payload
from scvi_viz.ui.components.live_map import pack_cells, pack_colour

GENE_COLOUR = "a gene (decoded)"
"""The colour-by choice that colours cells by one gene's decoded expression."""
SET_COLOUR = "a gene set (decoded)"
"""The colour-by choice that colours cells by a gene set's mean decoded expression."""
_SHOWN_NOTES = "_shown_notes"


def workspace_id() -> str:
    """The open workspace's identity in this session: what per-session caches are keyed by."""
    return st.session_state[keys.WORKSPACE_ID]


_WORKSPACES: OrderedDict[tuple, tuple[Workspace, tuple[str, ...]]] = OrderedDict()
_WORKSPACES_LOCK = threading.Lock()
_OPENING: dict[tuple, threading.Lock] = {}
MAX_WORKSPACES = 4
"""Workspaces kept open on the server (the least recently used is dropped first)."""


def open_workspace(model_path: str, data_path: str, *, latent_key: str | None = None,
                   embedding_key: str | None = None) -> Workspace:
    """The workspace of these files, opened once per server and reopened when a file changes.

    Opening runs the steps of :func:`scvi_viz.analysis.prepare.prepare` that the cache folder
    does not hold yet, with a progress bar on the page that says what is being done. This is a
    cache of its own (guarded by locks) rather than ``st.cache_resource``, which cannot show
    progress from inside: sessions that ask for the same files while they open wait for the
    first one and share its workspace.
    """
    key = (model_path, data_path, sources.file_stamp(model_path, data_path), latent_key, embedding_key)
    with _WORKSPACES_LOCK:
        if key in _WORKSPACES:
            _WORKSPACES.move_to_end(key)
            return _WORKSPACES[key][0]
        opening = _OPENING.setdefault(key, threading.Lock())
    with opening:
        with _WORKSPACES_LOCK:
            if key in _WORKSPACES:
                return _WORKSPACES[key][0]
        bar = st.empty()
        # The library warns once per process when the cache folder cannot be written; the
        # warning is kept with the workspace so that each session is told (see cache_notes).
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CacheDirWarning)
            try:
                ws = Workspace.open(model_path, data_path, latent_key=latent_key, embedding_key=embedding_key,
                                    progress=_progress_bar(bar))
            finally:
                bar.empty()
        notes = tuple(str(w.message) for w in caught if issubclass(w.category, CacheDirWarning))
        with _WORKSPACES_LOCK:
            _WORKSPACES[key] = (ws, notes)
            _OPENING.pop(key, None)
            while len(_WORKSPACES) > MAX_WORKSPACES:
                _WORKSPACES.popitem(last=False)
    return ws


def cache_notes(ws: Workspace) -> None:
    """Say (once per session) when what opening ``ws`` computed could not be kept on disk."""
    with _WORKSPACES_LOCK:
        notes = next((n for w, n in _WORKSPACES.values() if w is ws), ())
    for note in notes:
        shown = st.session_state.get(_SHOWN_NOTES, frozenset())
        if note not in shown:
            st.session_state[_SHOWN_NOTES] = shown | {note}
            st.warning(note)


def _progress_bar(slot: Any) -> Callable[[str, int, int], None]:
    """Progress of the opening steps in ``slot``, redrawn at most every 1% of cells (and always at a step's end)."""
    shown: dict[str, int] = {}

    def show(step: str, done: int, total: int) -> None:
        if done < total and done - shown.get(step, -total) < max(total // 100, 1):
            return
        shown[step] = done
        slot.progress(done / max(total, 1), text=f"{STEP_TEXT.get(step, step)}: {done:,} of {total:,} cells")
    return show


def embedding(ws: Workspace, name: str) -> np.ndarray:
    """Coordinates of embedding ``name`` (read-only; computed when the workspace was opened)."""
    return ws.embedding(name)


@st.cache_resource(max_entries=8)
def _inverse_map(ws_id: str, name: str, _ws: Workspace, _coords: np.ndarray) -> InverseMap:
    return _ws.inverse_map(_coords)


def inverse_map(ws: Workspace, name: str) -> InverseMap:
    """The map between embedding ``name`` and latent space."""
    return _inverse_map(workspace_id(), name, ws, embedding(ws, name))


@st.cache_resource(max_entries=4, show_spinner=False)
def _data_distance(ws_id: str, _ws: Workspace) -> DataDistance:
    return DataDistance.build(_ws.latent)


def data_distance(ws: Workspace) -> DataDistance:
    """How far a latent point is from the cells (only queried)."""
    return _data_distance(workspace_id(), ws)


@st.cache_resource(max_entries=4, show_spinner="Sending the decoder to your browser (once per model)…")
def _browser_payload(ws_id: str, _ws: Workspace) -> bytes:
    maps = {name: embedding(_ws, name) for name in _ws.embedding_names()}
    header, arrays = browser_cells(_ws, rows=map_sample(_ws.n_cells), embeddings=maps,
                                   grid_steps={name: grid_step(coords) for name, coords in maps.items()},
                                   typical=data_distance(_ws).typical, k=INVERSE_MAP_K)
    return pack_payload(key=browser_key(_ws), weights=_ws.model.browser_weights(), genes=_ws.model.genes,
                        cells=header, arrays=arrays)


def browser_key(ws: Workspace) -> str:
    """The key under which the browser keeps this workspace's decoder and cells."""
    return f"{ws.model.file_sha256[:16]}-{workspace_id()[:16]}"


def browser_payload(ws: Workspace) -> bytes:
    """The decoder's weights, the gene names and the drawn cells on every map, as one message for
    ``components/live_decoder.js`` (built once per workspace; never changed)."""
    return _browser_payload(workspace_id(), ws)


@st.cache_resource(max_entries=2, show_spinner="Computing every cell's hidden layer (once per dataset)…")
def _overlay_basis(ws_id: str, _ws: Workspace) -> genes.OverlayBasis:
    return genes.overlay_basis(_ws)


@st.cache_resource(max_entries=2, show_spinner=False)  # under 0.1 s for the 100,000 cells a map draws at most
def _drawn_basis(ws_id: str, _ws: Workspace) -> genes.OverlayBasis:
    drawn = map_sample(_ws.n_cells)
    return _overlay_basis(ws_id, _ws) if drawn is None else genes.overlay_basis(_ws, drawn)


def _basis(ws_id: str, ws: Workspace, drawn: bool) -> genes.OverlayBasis:
    return _drawn_basis(ws_id, ws) if drawn else _overlay_basis(ws_id, ws)


def warm_gene_colouring(ws: Workspace) -> None:
    """Build what colouring the map by a gene starts from (the drawn cells' hidden layer and
    normalisers: 30-60 ms and 51 MB for 100,000 drawn cells), once per dataset, after a page has
    been sent: the first gene a user picks is then as quick as the next."""
    _drawn_basis(workspace_id(), ws)


@st.cache_data(max_entries=32, show_spinner=False)
def _gene_overlay(ws_id: str, gene: str, drawn: bool, _ws: Workspace) -> np.ndarray:
    return genes.gene_overlay(_ws, gene, _basis(ws_id, _ws, drawn))


@st.cache_data(max_entries=16, show_spinner="Decoding the gene set in every cell…")
def _set_overlay(ws_id: str, gene_set: tuple[str, ...], drawn: bool, _ws: Workspace) -> np.ndarray:
    return genes.gene_set_overlay(_ws, list(gene_set), _basis(ws_id, _ws, drawn))


@st.cache_data(max_entries=8, show_spinner=False)
def _variable_genes(ws_id: str, _ws: Workspace) -> list[str]:
    return genes.variable_genes(_ws)


def variable_genes(ws: Workspace) -> list[str]:
    """:func:`scvi_viz.analysis.genes.variable_genes`: the genes charted before any are picked."""
    return _variable_genes(workspace_id(), ws)


@st.cache_data(max_entries=8, show_spinner=False)
def _sorted_genes(ws_id: str, _ws: Workspace) -> list[str]:
    return sorted(_ws.model.spec.genes, key=str.upper)


def sorted_genes(ws: Workspace) -> list[str]:
    """The model's genes in alphabetical order, for pickers."""
    return _sorted_genes(workspace_id(), ws)


def map_colour(ws: Workspace, color_by: str, gene: str | None, gene_set: tuple[str, ...] = (), *,
               drawn: bool = False, lazy: bool = False) -> tuple[np.ndarray | Callable[[], np.ndarray], str]:
    """Per-cell colour values and what they are: an ``obs`` column, a gene's decoded expression
    (:func:`scvi_viz.analysis.genes.gene_overlay`), or the mean decoded expression of ``gene_set``
    (named ``gene``).

    With ``drawn``, a gene's or a set's values are of the map's drawn cells alone
    (:func:`~scvi_viz.plots.cell_map.map_sample`); with ``lazy`` they come as a function that
    decodes them when first called (an export of an atlas's map costs nothing until downloaded;
    the function needs no session).
    """
    ws_id = workspace_id()
    if color_by == GENE_COLOUR:
        values, name = functools.partial(_gene_overlay, ws_id, gene, drawn, ws), f"{gene} ({genes.overlay_unit(ws)})"
    elif color_by == SET_COLOUR:
        values = functools.partial(_set_overlay, ws_id, tuple(gene_set), drawn, ws)
        name = f"{gene}: mean of {len(gene_set)} genes ({genes.overlay_unit(ws)})"
    else:
        return ws.obs[color_by].to_numpy(), color_by
    return (functools.cache(values) if lazy else values()), name


def map_hover(ws: Workspace) -> list[str] | None:
    """Per-cell hover texts, or ``None`` for large datasets (the figure stays small)."""
    return ws.cell_hover() if ws.n_cells <= MAP_HOVER_MAX_CELLS else None


def map_inputs(ws: Workspace, embedding_name: str, color_by: str, gene: str | None,
               gene_set: tuple[str, ...] = (), *, lazy: bool = False) -> dict[str, Any]:
    """Keyword arguments of :func:`~scvi_viz.plots.cell_map.umap_figure` for this map: plain values
    (with ``lazy``, a gene's values may be a function: :func:`map_colour`), so a download can
    draw the figure after the script run, without session state."""
    color, color_name = map_colour(ws, color_by, gene, gene_set, lazy=lazy)
    return {"coords": ws.embedding(embedding_name), "color": color, "color_name": color_name,
            "hover": map_hover(ws), "embedding_name": embedding_name.removeprefix("X_"), "subtitle": map_subtitle(ws)}


def map_subtitle(ws: Workspace) -> str:
    """The map's subtitle: how many cells, which model."""
    return f"{ws.n_cells:,} cells · {ws.model.model_name} model (scvi-tools {ws.model.scvi_version})"


@st.cache_resource(max_entries=4, show_spinner=False)
def _map_cells(ws_id: str, embedding_name: str, _ws: Workspace) -> tuple[str, bytes]:
    key = f"{ws_id[:16]}-{content_key(np.frombuffer(embedding_name.encode(), dtype=np.uint8))[:12]}"
    return key, pack_cells(key, map_base(embedding(_ws, embedding_name), hover=map_hover(_ws)))


MAP_TOOLBAR = [["toImage"], ["zoom2d", "pan2d", "resetScale2d"]]
"""The Explore map's toolbar (no selection there; scroll and double-click zoom): download, zoom, pan and
reset (plotly's full set covered the map's title at 1,100 px). ``live_map.js`` gives "toImage" a camera
that draws the cells, which it paints on a canvas of its own."""


@st.cache_resource(max_entries=16, show_spinner=False)
def _map_colour(ws_id: str, embedding_name: str, color_by: str, gene: str | None, gene_set: tuple[str, ...],
                height: int, width: int, _ws: Workspace) -> bytes:
    # The drawn cells' values alone: at a million cells a gene is decoded for the 100,000 on the map.
    color, color_name = map_colour(_ws, color_by, gene, gene_set, drawn=True)
    colour = map_colouring(color, color_name=color_name, embedding_name=embedding_name.removeprefix("X_"),
                           subtitle=map_subtitle(_ws), height=height, width=width, n_cells=_ws.n_cells)
    cells_key, _ = _map_cells(ws_id, embedding_name, _ws)
    return pack_colour(cells_key, colour, config={**toolbar_config(f"map_{embedding_name}"),
                                                  "modeBarButtons": MAP_TOOLBAR})


def map_messages(ws: Workspace, embedding_name: str, color_by: str, gene: str | None, *, gene_set: tuple[str, ...] = (),
                 height: int = 520, width: int = MIN_WIDTH) -> tuple[str, bytes, bytes]:
    """The map as ``live_map`` draws it: ``(cells key, cells message, colouring message)``.

    Both messages are built once and never changed: the cells per embedding, the colouring per
    choice of colour; a rerun re-sends neither (Streamlit refers to a large message it sent).
    """
    cells_key, cells = _map_cells(workspace_id(), embedding_name, ws)
    colour = _map_colour(workspace_id(), embedding_name, color_by, gene, tuple(gene_set), height, width, ws)
    return cells_key, cells, colour


@st.cache_data(max_entries=16, show_spinner="Decoding the group under each value…")
def _group_comparison(ws_id: str, cells_key: str, kind: CovariateKind, name: str | None, values: tuple,
                      _ws: Workspace, _cells: np.ndarray) -> pd.DataFrame:
    return compare.compare_cells(_ws.model, _ws.latent[_cells], _ws.library[_cells], _ws.covariates.rows(_cells),
                                 kind, name, values)


def group_comparison(ws: Workspace, cells: np.ndarray, kind: CovariateKind, name: str | None, values: tuple) -> pd.DataFrame:
    """:func:`scvi_viz.analysis.compare.compare_cells` for a group of cells, per session."""
    return _group_comparison(workspace_id(), content_key(cells), kind, name, values, ws, cells)


@st.cache_resource(max_entries=4, show_spinner=False)
def _library_log_range(ws_id: str, _ws: Workspace) -> tuple[float, float]:
    return float(np.log10(_ws.library.min())), float(np.log10(_ws.library.max()))


def library_log_range(ws: Workspace) -> tuple[float, float]:
    """log10 of the smallest and largest library size of the cells (a pass over every cell: once,
    not on each move that draws the library slider)."""
    return _library_log_range(workspace_id(), ws)


@st.cache_resource(max_entries=4, show_spinner=False)
def _dimension_rows(ws_id: str, _ws: Workspace) -> tuple[SliderRow, ...]:
    return tuple(dimension_rows(_ws.latent_ranges()))


def dimension_rows_of(ws: Workspace) -> tuple[SliderRow, ...]:
    """One slider per latent dimension over the cells' range (frozen rows, shared; the range is
    a pass over every cell, not work for each move)."""
    return _dimension_rows(workspace_id(), ws)


@st.cache_resource(max_entries=4, show_spinner=False)
def _axis_rows(ws_id: str, _ws: Workspace) -> tuple[SliderRow, ...]:
    return tuple(axis_rows(_ws.latent))


def axis_rows_of(ws: Workspace) -> tuple[SliderRow, ...]:
    """The principal-axis sliders of the workspace's cells (frozen rows, shared)."""
    return _axis_rows(workspace_id(), ws)


@st.cache_resource(max_entries=16, show_spinner=False)
def _centroids(ws_id: str, column: str, _ws: Workspace) -> dict[str, np.ndarray]:
    return group_centroids(_ws.latent, _ws.obs[column])


def centroids(ws: Workspace, column: str) -> dict[str, np.ndarray]:
    """The mean latent point of each group of ``obs`` column ``column`` (read-only arrays, shared)."""
    return _centroids(workspace_id(), column, ws)


@st.cache_resource(max_entries=4, show_spinner="Decoding every cell once, for the average of each gene…")
def _mean_scale(ws_id: str, _ws: Workspace) -> np.ndarray:
    return read_only(mean_decoded_scale(_ws.model, _ws.latent, _ws.covariates))


def mean_scale(ws: Workspace) -> np.ndarray:
    """:func:`~scvi_viz.analysis.characteristic.mean_decoded_scale` of the workspace's cells (read-only, shared)."""
    return _mean_scale(workspace_id(), ws)
