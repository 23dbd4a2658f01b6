"""The Explore page's map: its boxes (embedding, colour by, gene or gene set), the map, and the
fragments a choice reruns.

Explore is a fragment (``EXPLORE_FRAGMENT``) that a move reruns; inside it the map's boxes, the
map and the downloads are fragments of their own, so that a new colouring reruns the map and the
downloads alone (``st.rerun`` with their keys, from the boxes' callbacks): the point is not
decoded again and its charts are not sent again.
"""

from __future__ import annotations

from typing import NamedTuple

import streamlit as st

from scvi_viz.analysis.workspace import Workspace
from scvi_viz.plots.cell_map import MAX_COLOUR_CATEGORIES
from scvi_viz.ui import cache, keys
from scvi_viz.ui.components.live_map import live_map
from scvi_viz.ui.gene_sets import gene_sets

MAP_HEIGHT = 400
MAP_WIDTH = 400  # the map's column at 1,100 px (3/5 of the page beside the latent walk): titles wrap to it
MAP_KEY = "umap"  # the live map's element, which the x and the walk's hover preview find by it


EXPLORE_FRAGMENT = "explore"
CONTROLS_FRAGMENT = "explore_map_controls"
MAP_FRAGMENT = "explore_map"
DOWNLOADS_FRAGMENT = "explore_downloads"


def _new_embedding() -> None:
    st.rerun(EXPLORE_FRAGMENT)  # the x, the hover preview and the walk follow the map's positions


def _new_colouring() -> None:
    # The point is where it was: the map and what is downloaded with it change, nothing else.
    st.rerun([MAP_FRAGMENT, DOWNLOADS_FRAGMENT])


def _new_colouring_kind() -> None:
    # And the gene or gene-set box beside it, after the map, which need not wait for it
    # (map_colouring reads the box's value as the box will show it).
    st.rerun([MAP_FRAGMENT, CONTROLS_FRAGMENT, DOWNLOADS_FRAGMENT])


def _colourings(ws: Workspace) -> list[str]:
    return [cache.GENE_COLOUR, *([cache.SET_COLOUR] if gene_sets() else []), *ws.color_columns()]


@st.fragment(key=CONTROLS_FRAGMENT)
def map_controls(ws: Workspace) -> None:
    """The map's boxes: embedding, colour by, and the gene or gene set. Their own fragment: another
    gene reruns the map, not these boxes."""
    c1, c2, c3 = st.columns(3)
    c1.selectbox("Map", ws.embedding_names(), key=keys.EMBEDDING, persist_state="session", on_change=_new_embedding,
                 format_func=lambda name: name.split(" of the ")[0],  # "UMAP": the full name heads the map
                 help="The 2-D map of the cells: a UMAP of their latent points, or an embedding of the file.")
    colourings = _colourings(ws)
    first = ws.default_color_column(MAX_COLOUR_CATEGORIES)
    if st.session_state.get(keys.COLOR_BY) not in (None, *colourings):
        del st.session_state[keys.COLOR_BY]  # a gene set's colouring whose sets were removed
    color_by = c2.selectbox("Colour cells by", colourings, index=colourings.index(first) if first else 0,
                            key=keys.COLOR_BY, persist_state="session", on_change=_new_colouring_kind,
                            help=f"An obs column (at most {MAX_COLOUR_CATEGORIES} categories), a gene's decoded "
                                 "expression, or a gene set's mean decoded expression (sets: 'Gene sets' above).")
    if color_by == cache.GENE_COLOUR:
        c3.selectbox("Gene", ws.model.genes, key=keys.OVERLAY_GENE, persist_state="session", filter_mode="contains",
                     on_change=_new_colouring)
    elif color_by == cache.SET_COLOUR:
        c3.selectbox("Gene set", list(gene_sets()), key=keys.OVERLAY_SET, persist_state="session",
                     on_change=_new_colouring)


class MapColouring(NamedTuple):
    """What the map shows, as the boxes of :func:`map_controls` chose it."""

    embedding: str
    color_by: str
    gene: str | None
    """The gene, or the gene set's name."""
    members: tuple[str, ...]
    """The gene set's genes."""
    refusal: str | None
    """Why the chosen ``obs`` column was not used (too many categories), for the page to say."""


def map_colouring(ws: Workspace) -> MapColouring:
    """What the boxes of :func:`map_controls` chose, read from their values (the map's and the
    downloads' fragments rerun without the boxes). An ``obs`` column with too many categories is
    replaced by another, and ``refusal`` says so."""
    ss = st.session_state
    emb_name = ss.get(keys.EMBEDDING)
    if emb_name not in ws.embedding_names():
        emb_name = ws.embedding_names()[0]
    columns, sets = ws.color_columns(), gene_sets()
    color_by = ss.get(keys.COLOR_BY)
    if color_by not in _colourings(ws):
        color_by = ws.default_color_column(MAX_COLOUR_CATEGORIES) or cache.GENE_COLOUR
    gene, members, refusal = None, (), None
    if color_by == cache.GENE_COLOUR:
        gene = ss.get(keys.OVERLAY_GENE)
        gene = gene if gene in ws.model.genes else ws.model.genes[0]
    elif color_by == cache.SET_COLOUR:
        gene = ss.get(keys.OVERLAY_SET)
        gene = gene if gene in sets else next(iter(sets))
        members = tuple(sets[gene])
    elif (n := ws.category_count(color_by)) > MAX_COLOUR_CATEGORIES:
        fallback = next((c for c in columns if ws.category_count(c) <= MAX_COLOUR_CATEGORIES), None)
        refusal = (f"obs column {color_by!r} has {n:,} categories; the map colours by columns of at most "
                   f"{MAX_COLOUR_CATEGORIES}. " + (f"Cells are coloured by {fallback!r} instead: " if fallback else "")
                   + "choose another column, or a gene.")
        color_by, gene = (fallback, None) if fallback else (cache.GENE_COLOUR, ws.model.genes[0])
    return MapColouring(emb_name, color_by, gene, members, refusal)


@st.fragment(key=MAP_FRAGMENT)
def map_view(ws: Workspace) -> str:
    """The map as :func:`map_colouring` says; returns its embedding's name. A new colouring reruns
    this fragment and the downloads only: the browser redraws the map and nothing else."""
    chosen = map_colouring(ws)
    if chosen.refusal:
        st.warning(chosen.refusal)
    cache.embedding(ws, chosen.embedding)  # computed (or read) here, so that a note about its disk cache shows once
    cells_key, cells, colour = cache.map_messages(ws, chosen.embedding, chosen.color_by, chosen.gene,
                                                  gene_set=chosen.members, height=MAP_HEIGHT, width=MAP_WIDTH)
    live_map(key=MAP_KEY, cells_key=cells_key, cells=cells, colour=colour)
    return chosen.embedding
