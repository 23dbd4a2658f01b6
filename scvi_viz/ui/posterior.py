"""The clicked cell's posterior uncertainty, behind a toggle on the Explore page."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from scvi_viz.analysis import fit
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.plots import export
from scvi_viz.plots import fit as fit_plots
from scvi_viz.ui import cache, keys
from scvi_viz.ui.downloads import export_picker
from scvi_viz.ui.genes import chosen_genes

SHOW = "cell_posterior_show"




def clicked_cell(ws: Workspace) -> int | None:
    """Row of the last clicked cell (the cell *Reset to clicked cell* goes back to), or ``None``."""
    clicked = st.session_state.get(keys.CLICKED)
    if not clicked:
        return None
    point = clicked[0]
    hits = np.flatnonzero((ws.latent == np.asarray(point.z, dtype=np.float32)).all(1) & (ws.library == point.library_size))
    return int(hits[0]) if hits.size else None


@st.cache_data(max_entries=32, show_spinner=False)
def _uncertainty(ws_id: str, cell: int, genes: tuple[str, ...], _ws: Workspace) -> pd.DataFrame:
    one = fit.read_cells(_ws, np.array([cell]))
    return fit.cell_uncertainty(_ws.model, one, list(genes), point_z=_ws.latent[cell], seed=cell)


def cell_uncertainty_section(ws: Workspace) -> None:
    """Behind a toggle: the clicked cell's posterior spread and predictive counts for the chosen genes."""
    if not st.toggle("Show the posterior uncertainty of the clicked cell", key=SHOW,
                     help="Samples z from the cell's posterior q(z|x): how certain the decoded numbers are, "
                          "and where its observed counts fall in the predictive distribution."):
        return
    cell, genes = clicked_cell(ws), chosen_genes()
    if cell is None or not genes:
        st.info("Click a cell on the map and pick genes above it to see the cell's posterior uncertainty.")
        return
    table = _uncertainty(cache.workspace_id(), cell, tuple(genes), ws)
    library = float(ws.library[cell])
    name = f"cell {ws.obs.index[cell]}"
    charts = fit_plots.uncertainty_charts(table, cell=name, library_size=library)
    st.markdown(f"**Posterior uncertainty of {name}**, the last clicked cell (the sliders do not move it): "
                "boxes span 5-95% with quartiles and median.")
    for column, chart in zip(st.columns(2), charts.values()):
        column.plotly_chart(chart.figure, key=f"{chart.name}_chart", config=export.toolbar_config(chart.name))
    outside = table.index[~table["inside_90"].to_numpy(dtype=bool)]
    st.caption(f"{len(table) - len(outside)} of {len(table)} observed counts lie inside their 90% predictive interval"
               + (f"; outside: {', '.join(outside[:10])}." if len(outside) else "."))
    export_picker(charts, key="cell_posterior_export")
