"""Model fit: posterior predictive checks of how well the model reproduces the observed counts."""

import streamlit as st

from scvi_viz.errors import ScviVizError
from scvi_viz.ui import fit, sidebar
from scvi_viz.ui.views import write_link

ws = sidebar.workspace(__file__)
if ws is not None:
    st.title("How well does the model fit?")
    st.caption(
        "Posterior predictive checks (after scvi-tools' scvi.criticism): counts drawn from the model for the same cells, "
        "compared with the observed counts gene by gene. Genes far from the identity line are ones whose decoded "
        "numbers on the other pages deserve less trust."
    )
    cells, name = fit.pick_cells(ws)
    if cells is None or len(cells) == 0:
        st.info("Choose a group: a category of an obs column, or draw a box or lasso on the map.")
    else:
        try:
            check = fit.fit_check(ws, cells)
        except ScviVizError as exc:
            st.error(str(exc))
        else:
            fit.fit_view(ws, check, name=name)
    write_link(ws, page="model_fit")
