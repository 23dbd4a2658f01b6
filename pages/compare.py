"""Compare: the same cell state decoded under different batches or covariate values."""

import streamlit as st

from scvi_viz.analysis.compare import CovariateChoice, compare_point, covariate_options
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.plots.style import library_label
from scvi_viz.ui import cache, point, sidebar
from scvi_viz.ui.compare import comparison_view, covariate_picker, group_picker, support_note
from scvi_viz.ui.views import write_link


@st.fragment
def at_current_point(ws: Workspace, options: dict[str, CovariateChoice]) -> None:
    point_section(ws, options)
    write_link(ws, page="compare")  # a change here reruns only this fragment


@st.fragment
def for_a_group(ws: Workspace, options: dict[str, CovariateChoice]) -> None:
    group_section(ws, options)
    write_link(ws, page="compare")


def point_section(ws: Workspace, options: dict[str, CovariateChoice]) -> None:
    st.subheader("At the current point")
    here = point.current_point()
    origin = point.point_origin()
    st.markdown(f"**Current point:** {origin} (change it on the Explore page)")
    picked = covariate_picker(ws, options, key="cmp_point")
    if picked is None:
        return
    covariate, choice, values = picked
    table = compare_point(ws.model, here, choice.kind, choice.name, values)
    support_note(ws, covariate, choice, values, z=here.z)
    others = ", ".join(p.replace("=", " = ") for p in here.describe(ws.model.spec).split(", ")
                       if p and not p.startswith(f"{covariate}="))
    where = f"{origin} · {library_label(here.library_size, size_factor=ws.model.uses_size_factor)}" + \
        (f" · {others}" if others else "")
    comparison_view(ws, table, key="cmp_point", where=where, library_size=here.library_size,
                    covariate=covariate, values=values)


def group_section(ws: Workspace, options: dict[str, CovariateChoice]) -> None:
    st.subheader("For a group of cells")
    st.caption("Every cell of the group keeps its own latent point and library size; only the chosen covariate changes "
               "(scvi-tools' transform_batch). Means over the group's cells are compared.")
    cells, group_name, group = group_picker(ws, key="cmp_group")
    if cells is None or len(cells) == 0:
        st.info("Choose a group: a category of an obs column, or draw a box or lasso on the map.")
        return
    picked = covariate_picker(ws, options, key="cmp_group")
    if picked is None:
        return
    covariate, choice, values = picked
    table = cache.group_comparison(ws, cells, choice.kind, choice.name, tuple(values))
    support_note(ws, covariate, choice, values, cells=cells)
    comparison_view(ws, table, key="cmp_group", library_size=None, covariate=covariate, values=values, group=group,
                    where=f"{group_name}: {len(cells):,} cells, each at its own latent point and library size")


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
