"""Compare: the same cell state decoded under different batches or covariate values."""

import streamlit as st

from scvi_viz import profiles, ui
from scvi_viz.workspace import Workspace


@st.fragment
def at_current_point(ws: Workspace, options: dict) -> None:
    model = ws.model
    st.subheader("At the current point")
    point = ui.current_point()
    st.markdown(f"**Current point:** {ui.point_origin()} (change it on the Explore page)")
    option = ui.covariate_picker(ws, options, key="cmp_point")
    if option is None:
        return
    kind, name, values = option
    table = profiles.compare_point(model, point, kind, name, values)
    ui.comparison_view(ws, table, key="cmp_point", subtitle=f"{ui.point_origin()} · library size {point.library_size:,.0f}",
                       library_size=point.library_size)


@st.fragment
def for_a_group(ws: Workspace, options: dict) -> None:
    st.subheader("For a group of cells")
    st.caption("Every cell of the group keeps its own latent point and library size; only the chosen covariate changes "
               "(scvi-tools' transform_batch). Means over the group's cells are compared.")
    cells, group_name = ui.group_picker(ws, key="cmp_group")
    if cells is None or len(cells) == 0:
        st.info("Choose a group: a category of an obs column, or draw a box or lasso on the map.")
        return
    option = ui.covariate_picker(ws, options, key="cmp_group_cov")
    if option is None:
        return
    kind, name, values = option
    table = ui.group_comparison(ws, cells, kind, name, tuple(values))
    ui.comparison_view(ws, table, key="cmp_group_view",
                       subtitle=f"{group_name}: {len(cells):,} cells, each at its own library size", library_size=None)


ws = ui.workspace(__file__)
if ws is not None:
    st.title("Compare batches and covariates")
    st.caption(
        "Decode the same latent point, or the same group of cells, under two or more values of one covariate. "
        "Differences are what the model attributes to that covariate alone."
    )
    options = ui.covariate_options(ws)
    if not options:
        st.info("This model has no batch key or other covariates with more than one value: there is nothing to compare.")
    else:
        at_current_point(ws, options)
        st.divider()
        for_a_group(ws, options)
