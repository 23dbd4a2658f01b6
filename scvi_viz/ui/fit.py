"""The model-fit page's controls and views: which cells, the predictive checks, calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from scvi_viz.analysis import fit
from scvi_viz.analysis.embedding import content_key
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.plots import export
from scvi_viz.plots import fit as fit_plots
from scvi_viz.ui import cache
from scvi_viz.ui.compare import group_picker
from scvi_viz.ui.downloads import export_picker, report_button


def pick_cells(ws: Workspace) -> tuple[np.ndarray | None, str]:
    """All cells, or a group (an obs category or a map selection); returns (indices, description).

    Choices of more than :data:`scvi_viz.analysis.fit.MAX_FIT_CELLS` cells are checked on a
    uniform random sample of that many (seed 0), whose counts alone are read; the description
    says so.
    """
    if st.radio("Cells to check", ["all cells", "a group of cells"], horizontal=True, key="fit_which") == "all cells":
        cells, name = np.arange(ws.n_cells), "all cells"
    else:
        cells, name, _ = group_picker(ws, key="fit_group")
    if cells is not None and len(cells) > fit.MAX_FIT_CELLS:
        name = f"a random {fit.MAX_FIT_CELLS:,} of {name} ({len(cells):,} cells)"
        cells = np.sort(np.random.default_rng(0).choice(cells, fit.MAX_FIT_CELLS, replace=False))
    return cells, name


@st.cache_data(max_entries=8, show_spinner="Drawing posterior predictive counts…")
def _check(ws_id: str, key: str, _ws: Workspace, _cells: np.ndarray) -> fit.FitCheck:
    return fit.posterior_predictive_check(_ws.model, fit.read_cells(_ws, _cells), seed=0)


def fit_check(ws: Workspace, cells: np.ndarray) -> fit.FitCheck:
    """:func:`scvi_viz.analysis.fit.posterior_predictive_check` of ``cells``, per session."""
    return _check(cache.workspace_id(), content_key(cells), ws, cells)


def fit_view(ws: Workspace, check: fit.FitCheck, *, name: str) -> None:
    """Observed-vs-predicted scatters, calibration, the per-gene table and downloads."""
    charts = fit_plots.fit_charts(check, name=name)
    items = list(charts.values())
    for row in (items[:2], items[2:]):
        for column, chart in zip(st.columns(2), row):
            column.plotly_chart(chart.figure, key=f"{chart.name}_chart", config=export.toolbar_config(chart.name))
    st.caption(
        "Each dot is a gene. Predicted statistics are computed on counts drawn from the posterior predictive (z ~ q(z|x), "
        "each cell's own library size, the model's likelihood). Calibration uses each observed count's randomised rank "
        "among its draws, so discrete counts are handled: a calibrated model lies on the identity line.")
    st.markdown("**Summary**")
    st.dataframe(check.summary, column_config={c: st.column_config.NumberColumn(format="%.3f") for c in check.summary.columns
                                               if pd.api.types.is_float_dtype(check.summary[c])})
    st.markdown("**Per gene**, the worst-fitting first (by how far the predicted mean count is from the observed one, "
                "in log2); inside_50 / inside_90: fraction of the gene's observed counts inside its 50% / 90% interval")
    misfit = np.abs(np.log2((check.genes["predicted_mean"] + 1e-3) / (check.genes["observed_mean"] + 1e-3)))
    st.dataframe(check.genes.iloc[np.argsort(-misfit.to_numpy(), kind="stable")], height=320,
                 column_config={c: st.column_config.NumberColumn(format="%.4g") for c in check.genes.columns})
    export_picker(charts, key="fit_export")
    report_button(ws, items, page="model_fit", tables={"fit_per_gene": check.genes, "fit_summary": check.summary},
                  extras={"cells": name})
