"""Differential expression: what the model says differs between two groups of cells."""

import streamlit as st

from scvi_viz.errors import ScviVizError
from scvi_viz.ui import de, sidebar
from scvi_viz.ui.views import write_link

ws = sidebar.workspace(__file__)
if ws is not None:
    st.title("Differential expression")
    st.caption(
        "The model's posterior for the cells of two groups, sampled and decoded into normalised expression, gives each "
        "gene a distribution of log2 fold changes, the probability that it exceeds delta, and an FDR-controlled call "
        "(scvi-tools' differential_expression, mode='change')."
    )
    groups = de.pick_groups(ws)
    options = de.pick_options(ws)
    if groups is not None:
        cells1, name1, cells2, name2 = groups
        try:
            table = de.de_table(ws, cells1, cells2, options)
        except ScviVizError as exc:
            st.error(str(exc))
        else:
            de.results_view(ws, table, name1=name1, name2=name2, options=options)
    write_link(ws, page="differential_expression")
