"""The Explore map's colouring, in a fragment of its own.

A new colouring reruns this fragment only: the colour controls, the map's colouring message,
and what depends on the colouring (the page's downloads and its address), not the point's
decode, the walk and the charts around it. The point's x on the map and the choice of map
(embedding) stay with the page's per-move fragment, since both move the point.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from scvi_viz.analysis.workspace import Workspace
from scvi_viz.plots.cell_map import MAX_COLOUR_CATEGORIES
from scvi_viz.plots.export import Chart
from scvi_viz.ui import cache, keys
from scvi_viz.ui.cell_map import map_chart
from scvi_viz.ui.components.live_map import live_map
from scvi_viz.ui.downloads import export_picker, report_button
from scvi_viz.ui.gene_sets import gene_sets
from scvi_viz.ui.views import write_link

MAP_HEIGHT = 400
MAP_WIDTH = 400  # the map's column at 1,100 px (3/5 of the page beside the latent walk): titles wrap to it
MAP_KEY = "umap"


def embedding_choice(ws: Workspace, column: DeltaGenerator) -> str:
    """The map's embedding (a UMAP of the latent points, or one of the file's), chosen in ``column``."""
    name = column.selectbox("Map", ws.embedding_names(), key=keys.EMBEDDING, persist_state="session",
                            format_func=lambda n: n.split(" of the ")[0],  # "UMAP": the full name heads the map
                            help="The 2-D map of the cells: a UMAP of their latent points, or an embedding of the file.")
    cache.embedding(ws, name)  # computed (or read) here, so that a note about its disk cache shows once
    return name


def colour_choices(ws: Workspace, by: DeltaGenerator, which: DeltaGenerator) -> tuple[str, str | None, tuple[str, ...]]:
    """What colours the cells, chosen in ``by`` (and the gene or set in ``which``); returns (colour
    by, gene or gene set name, the set's genes)."""
    which = which.empty()  # written on every run, so that the fragment keeps its place there
    columns = ws.color_columns()
    first = ws.default_color_column(MAX_COLOUR_CATEGORIES)
    sets = gene_sets()
    colourings = [cache.GENE_COLOUR, *([cache.SET_COLOUR] if sets else []), *columns]
    default = colourings.index(first) if first else 0
    if st.session_state.get(keys.COLOR_BY) == cache.SET_COLOUR and not sets:
        del st.session_state[keys.COLOR_BY]  # its sets were removed
    color_by = by.selectbox("Colour cells by", colourings, index=default, key=keys.COLOR_BY, persist_state="session",
                            help=f"An obs column (at most {MAX_COLOUR_CATEGORIES} categories), a gene's decoded "
                                 "expression, or a gene set's mean decoded expression (sets: 'Gene sets' above).")
    gene, members = None, ()
    if color_by == cache.GENE_COLOUR:
        gene = which.selectbox("Gene", ws.model.genes, key=keys.OVERLAY_GENE, persist_state="session",
                               filter_mode="contains")
    elif color_by == cache.SET_COLOUR:
        gene = which.selectbox("Gene set", list(sets), key=keys.OVERLAY_SET, persist_state="session")
        members = tuple(sets[gene])
    elif (n := ws.category_count(color_by)) > MAX_COLOUR_CATEGORIES:
        fallback = next((c for c in columns if ws.category_count(c) <= MAX_COLOUR_CATEGORIES), None)
        st.warning(f"obs column {color_by!r} has {n:,} categories; the map colours by columns of at most "
                   f"{MAX_COLOUR_CATEGORIES}. " + (f"Cells are coloured by {fallback!r} instead: " if fallback else "")
                   + "choose another column, or a gene.")
        color_by, gene = (fallback, None) if fallback else (cache.GENE_COLOUR, ws.model.genes[0])
    return color_by, gene, members


@st.fragment
def coloured_map(ws: Workspace, *, embedding_name: str, marker: tuple[float, float], point: str,
                 colour_by: DeltaGenerator, colour_which: DeltaGenerator, downloads: DeltaGenerator,
                 charts: dict[str, Chart], all_genes_csv: Callable[[], str], tables: dict[str, pd.DataFrame]) -> None:
    """The map coloured as chosen (controls in ``colour_by`` / ``colour_which``), and what names
    the colouring: the page's downloads (in ``downloads``: the map, described by ``point``, then
    ``charts``; every gene's CSV; the bundle with ``tables``) and its address."""
    color_by, gene, members = colour_choices(ws, colour_by, colour_which)
    cells_key, cells, colour = cache.map_messages(ws, embedding_name, color_by, gene, gene_set=members,
                                                  height=MAP_HEIGHT, width=MAP_WIDTH)
    live_map(key=MAP_KEY, cells_key=cells_key, cells=cells, colour=colour)
    st.caption("Click a cell, or empty space between cells, to decode there (the black × marks the current "
               "point); with *preview on hover*, the point under the mouse is decoded in your browser. "
               "Drag to pan, scroll to zoom, double-click to reset the zoom.")
    exported_map = map_chart(ws, embedding_name, color_by, gene, gene_set=members, marker=marker, point=point)
    with downloads:
        st.subheader("Download")
        export_picker({"Map, with the current point": exported_map, **charts}, key="explore_export")
        all_genes, report = st.columns(2)
        with all_genes:
            st.download_button("All genes at this point (CSV)", data=all_genes_csv, file_name="all_genes.csv",
                               mime="text/csv", key="all_genes_csv", on_click="ignore")
        with report:
            report_button(ws, [exported_map, *charts.values()], page="explore", tables=tables)
    write_link(ws, page="explore")
