"""The cells' counts and posteriors for the pages that need them, and the clicked cell's uncertainty."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
import streamlit as st

from scvi_viz.analysis import fit
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.errors import DataError
from scvi_viz.io.store import open_data
from scvi_viz.plots import export
from scvi_viz.plots import fit as fit_plots
from scvi_viz.arrays import read_only
from scvi_viz.ui import cache, keys
from scvi_viz.ui.downloads import export_picker
from scvi_viz.ui.genes import chosen_genes

SHOW = "cell_posterior_show"




def cells(ws: Workspace, rows: np.ndarray, *, need_counts: bool = True) -> fit.CellSet:
    """The counts (read from disk, only these rows), covariates, library sizes and posteriors of cells ``rows``.

    Minified data hold no counts: with ``need_counts=False`` their counts are zeros, as
    scvi-tools' own minified ``X`` (its differential expression reads them so too).

    Raises
    ------
    DataError
        For minified data when ``need_counts``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if ws.minified:
        if need_counts:
            raise DataError("These data are minified: scvi-tools kept each cell's latent posterior and dropped the counts, "
                            "so observed counts cannot be compared with the model here. Open the full data with counts.")
        return fit.CellSet(read_only(sp.csr_matrix((len(rows), ws.model.n_genes), dtype=np.float32)),
                           ws.covariates.rows(rows), ws.library[rows], ws.prepared.qz_mean[rows], ws.prepared.qz_var[rows])
    order = np.argsort(rows, kind="stable")
    with open_data(ws.data_path) as store:
        sorted_rows = rows[order]
        block = store.count_rows(ws.model.spec.layer, sorted_rows)
        counts = ws.prepared.layout.model_counts(block, ws.model.n_genes)
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    counts = counts[back]
    covariates = ws.covariates.rows(rows)
    if ws.prepared.qz_mean is not None:
        mean, var = ws.prepared.qz_mean[rows], ws.prepared.qz_var[rows]
    else:
        mean, var = ws.model.latent_posterior_counts(counts, covariates)
    return fit.CellSet(read_only(counts), covariates, ws.library[rows], read_only(mean), read_only(var))


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
    one = cells(_ws, np.array([cell]))
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
