"""What each latent dimension means, for the whole model: the genes it moves and its correlation
with the ``obs`` columns (:func:`scvi_viz.analysis.characteristic.dimension_table`), a table a
biologist can download and annotate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from scvi_viz.analysis.characteristic import DimensionTable, dimension_table
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.plots.export import table_csv
from scvi_viz.ui import cache

SAMPLE_CELLS = 500
"""Cells (a random sample, seed 0) over which each dimension's genes are ranked."""
SHOWN_GENES = 6
_ASKED = "_dimension_table_asked"


@st.cache_resource(max_entries=4, show_spinner=False)
def _table(ws_id: str, _ws: Workspace) -> DimensionTable:
    return dimension_table(_ws.model, _ws.latent, _ws.obs, n_cells=SAMPLE_CELLS, seed=0, covariates=_ws.covariates)


def computed_tables(ws: Workspace) -> dict[str, pd.DataFrame]:
    """The table's CSVs for a report bundle, once this session has computed it (else none)."""
    if not st.session_state.get(_ASKED):
        return {}
    table = _table(cache.workspace_id(), ws)
    return {"latent_dimension_genes": table.genes, "latent_dimension_obs_correlations": table.correlations}


def summary(table: DimensionTable, *, n_genes: int = SHOWN_GENES, n_columns: int = 3) -> pd.DataFrame:
    """One row per dimension: the genes that rise and fall with it, and the ``obs`` columns it follows most."""
    rows = []
    for d, genes in table.genes.groupby("dimension", sort=True):
        top = genes.nsmallest(n_genes * 3, "rank")
        up = top[top["mean_change"] > 0].head(n_genes)["gene"]
        down = top[top["mean_change"] < 0].head(n_genes)["gene"]
        corr = table.correlations.loc[d].dropna() if d in table.correlations.index else pd.Series(dtype=float)
        strongest = corr.iloc[np.argsort(-np.abs(corr.to_numpy()), kind="stable")[:n_columns]]
        rows.append({"dimension": d, "genes that rise": " ".join(up), "genes that fall": " ".join(down),
                     "follows (Pearson r)": " · ".join(f"{k} {v:+.2f}" for k, v in strongest.items())})
    return pd.DataFrame(rows).set_index("dimension")


def dimension_section(ws: Workspace) -> None:
    """An expander with the table, computed when asked (a few seconds per model)."""
    with st.expander("What each latent dimension means, for the whole model"):
        st.caption(
            f"Per latent dimension, the genes whose expected expression changes most as it goes up (the mean over "
            f"{SAMPLE_CELLS:,} random cells of the decoder's |d log px_scale / dz|, each cell at its own point), and its "
            "correlation with each obs column (categories one against the rest). The scVI latent space is not made "
            "to be read dimension by dimension: take these as hints, and the sliders' effects at a point as the truth.")
        if not st.session_state.get(_ASKED):
            st.button("Compute the table", key="dimension_table_go",
                      on_click=lambda: st.session_state.__setitem__(_ASKED, True))
            return
        with st.spinner(f"Differentiating the decoder at {SAMPLE_CELLS:,} cells…"):
            table = _table(cache.workspace_id(), ws)
        st.dataframe(summary(table), column_config={"follows (Pearson r)": st.column_config.TextColumn(width="large")})
        caption = {"ranking": table.sample_text}
        genes, corr = st.columns(2)
        genes.download_button("Genes per dimension (CSV)", data=table_csv(table.genes.set_index(["dimension", "rank"]),
                                                                          caption=caption),
                              file_name="latent_dimension_genes.csv", mime="text/csv", key="dimension_genes_csv",
                              on_click="ignore")
        corr.download_button("Correlations with obs columns (CSV)", data=table_csv(table.correlations, caption=caption),
                             file_name="latent_dimension_obs_correlations.csv", mime="text/csv",
                             key="dimension_corr_csv", on_click="ignore")
