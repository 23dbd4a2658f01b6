"""Compare: the same cell state decoded under different batches or covariate values."""

import streamlit as st

from scvi_viz.analysis.compare import compare_point, covariate_options
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.ui import cache, point, sidebar
from scvi_viz.ui.views import write_link
from scvi_viz.ui.compare import CovariateOption, comparison_view, covariate_picker, group_picker


@st.fragment
def at_current_point(ws: Workspace, options: dict[str, CovariateOption]) -> None:
    st.subheader("At the current point")
    here = point.current_point()
    st.markdown(f"**Current point:** {point.point_origin()} (change it on the Explore page)")
    option = covariate_picker(ws, options, key="cmp_point")
    if option is None:
        return
    kind, name, values = option
    table = compare_point(ws.model, here, kind, name, values)
    comparison_view(ws, table, key="cmp_point", subtitle=f"{point.point_origin()} · library size {here.library_size:,.0f}",
                    library_size=here.library_size)


@st.fragment
def for_a_group(ws: Workspace, options: dict[str, CovariateOption]) -> None:
    st.subheader("For a group of cells")
    st.caption("Every cell of the group keeps its own latent point and library size; only the chosen covariate changes "
               "(scvi-tools' transform_batch). Means over the group's cells are compared.")
    cells, group_name = group_picker(ws, key="cmp_group")
    if cells is None or len(cells) == 0:
        st.info("Choose a group: a category of an obs column, or draw a box or lasso on the map.")
        return
    option = covariate_picker(ws, options, key="cmp_group_cov")
    if option is None:
        return
    kind, name, values = option
    table = cache.group_comparison(ws, cells, kind, name, tuple(values))
    comparison_view(ws, table, key="cmp_group_view",
                    subtitle=f"{group_name}: {len(cells):,} cells, each at its own library size", library_size=None)


ws = sidebar.workspace(__file__)
if ws is not None:
    st.title("Compare batches and covariates")
    st.caption(
        "Decode the same latent point, or the same group of cells, under two or more values of one covariate. "
        "Differences are what the model attributes to that covariate alone."
    )
    options = covariate_options(ws.model)
    if not options:
        st.info("This model has no batch key or other covariates with more than one value: there is nothing to compare.")
    else:
        at_current_point(ws, options)
        st.divider()
        for_a_group(ws, options)
    write_link(ws, page="compare")
