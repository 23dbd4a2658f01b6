"""The differential-expression page's controls and views: two groups, the table and the volcano plot."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from scvi_viz.analysis import fit
from scvi_viz.analysis.embedding import content_key
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.plots import de as de_plots
from scvi_viz.plots import export
from scvi_viz.ui import cache, keys, table_words
from scvi_viz.ui.compare import group_picker
from scvi_viz.ui.downloads import export_picker, report_button

VOLCANO_KEY = "de_volcano"
_LAST_CLICK = "de_last_click"
EXPLORE_PAGE = "pages/explore.py"


def pick_groups(ws: Workspace) -> tuple[np.ndarray, str, np.ndarray, str] | None:
    """Group 1 and group 2 (another group, or the rest of the cells); ``None`` until both have cells."""
    left, right = st.columns(2)
    with left:
        st.markdown("**Group 1**")
        cells1, name1, _ = group_picker(ws, key="de_group1", by_size=True)  # the largest group
    with right:
        st.markdown("**Group 2**")
        rest = st.toggle("All other cells", value=False, key="de_group2_rest")
        if rest:
            cells2, name2 = (None, "rest") if cells1 is None else (np.setdiff1d(np.arange(ws.n_cells), cells1), "Rest")
        else:
            cells2, name2, _ = group_picker(ws, key="de_group2", default_rank=1, by_size=True)  # the second largest
    if cells1 is None or cells2 is None or len(cells1) == 0 or len(cells2) == 0:
        st.info("Choose two groups of cells: a category of an obs column, or a box or lasso on the map.")
        return None
    if np.array_equal(np.sort(cells1), np.sort(cells2)):
        st.warning("The two groups are the same cells: choose different groups.")
        return None
    return cells1, name1, cells2, name2


def pick_options(ws: Workspace) -> dict[str, Any]:
    """Batch handling, delta, FDR target, samples and seed, as keyword arguments of the DE."""
    model = ws.model
    a, b, c, d = st.columns(4)
    modes = keys.DE_BATCH_MODES
    if model.batch_key is None or len(model.batches) < 2:
        modes = modes[:1]
    mode = a.selectbox(f"Decode in batch ({model.batch_key or 'none'})", modes, key="de_batch_mode",
                       help="scvi-tools' batch_correction: decode every cell under each batch and pair samples within a batch; "
                            "or decode both groups in one batch.")
    batch = a.selectbox("Batch", model.batches, key="de_batch") if mode == keys.DE_BATCH_MODES[2] else None
    delta = b.number_input("delta: |LFC| threshold (log2)", min_value=0.0, max_value=10.0, value=0.25, step=0.05,
                           key="de_delta", help="A gene is DE when its log2 fold change lies outside [-delta, delta].")
    fdr = c.number_input("FDR target", min_value=0.001, max_value=0.5, value=0.05, step=0.01, key="de_fdr", format="%.3f")
    samples = d.number_input("Posterior samples per group", min_value=100, max_value=50_000, value=5000, step=500,
                             key="de_samples", help="scvi-tools' default is 5000.")
    return {"batch_correction": mode == keys.DE_BATCH_MODES[1], "batch": batch, "delta": float(delta),
            "fdr_target": float(fdr),
            "n_samples": int(samples), "seed": 0}


@st.cache_data(max_entries=16, show_spinner="Sampling the posterior of both groups…")
def _de_table(ws_id: str, key1: str, key2: str, options: tuple, _ws: Workspace, _cells1: np.ndarray,
              _cells2: np.ndarray) -> pd.DataFrame:
    # Only the two groups' counts are read; the groups become positions in their union.
    both = np.union1d(_cells1, _cells2)
    data = fit.read_cells(_ws, both, need_counts=False)
    where = np.searchsorted(both, _cells1), np.searchsorted(both, _cells2)
    return _ws.model.differential_expression_counts(data.counts, data.covariates, *where,
                                                    qz=(data.qz_mean, data.qz_var), **dict(options))


def de_table(ws: Workspace, cells1: np.ndarray, cells2: np.ndarray, options: dict[str, Any]) -> pd.DataFrame:
    """:meth:`~scvi_viz.ScviModel.differential_expression_counts` of the two groups, per session."""
    return _de_table(cache.workspace_id(), content_key(cells1), content_key(cells2),
                     tuple(sorted(options.items())), ws, cells1, cells2)


def chart_gene_on_explore(gene: str) -> None:
    """Add ``gene`` to the charted genes and go to the Explore page."""
    st.session_state[keys.GENES] = list(dict.fromkeys([*st.session_state.get(keys.GENES, []), gene]))
    st.switch_page(EXPLORE_PAGE)


def _clicked_gene(event: Any) -> str | None:
    points = ((event or {}).get("selection") or {}).get("points") or []
    for p in points:
        gene = p.get("customdata")
        gene = gene[0] if isinstance(gene, list) else gene
        if gene is not None:
            return str(gene)
    return None


def results_view(ws: Workspace, table: pd.DataFrame, *, name1: str, name2: str, options: dict[str, Any]) -> None:
    """The volcano plot (click a gene to chart it on Explore), the ranked table and the downloads."""
    chart = de_plots.volcano_chart(table, group1=name1, group2=name2, options=options)
    event = st.plotly_chart(chart.figure, key=VOLCANO_KEY, on_select="rerun", selection_mode="points",
                            config=export.toolbar_config("de_volcano"))
    gene = _clicked_gene(event)
    if gene is not None and st.session_state.get(_LAST_CLICK) != gene:
        st.session_state[_LAST_CLICK] = gene
        chart_gene_on_explore(gene)
    st.caption("Click a gene to chart it on the Explore page. The grey band is |LFC| < delta; proba_de is "
               "max(P(LFC ≥ delta), P(LFC < −delta)) over posterior samples.")
    if ws.minified:
        st.caption("These data are minified: the posterior comes from the file, and with no counts the raw_* and "
                   "non_zeros_* columns are 0, as scvi-tools computes them on minified data.")
    query = st.text_input("Search genes", key="de_search", placeholder="part of a gene name")
    shown = table[table.index.str.contains(query, case=False, regex=False)] if query else table
    st.dataframe(shown, height=360, column_config=table_words.column_config(shown, table_words.de_header))
    st.caption("Headers in words; each one's help, and the CSV downloads, give scvi-tools' column names.")
    pick, go = st.columns([3, 1], vertical_alignment="bottom")
    # Keyed by the table's top gene: a new comparison offers its own top gene first.
    target = pick.selectbox("Chart a gene on the Explore page", list(table.index), key=f"de_chart_gene_{table.index[0]}")
    if go.button("Chart it", key="de_chart_go", icon=":material/explore:"):
        chart_gene_on_explore(target)
    export_picker({"Volcano plot (CSV: the whole DE table)": chart}, key="de_export")
    report_button(ws, [chart], page="differential_expression", tables={"de_table": table},
                  extras={"group1": name1, "group2": name2, **options})
