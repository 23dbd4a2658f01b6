"""Explore: move through latent space and watch what the decoder predicts for each gene."""

import pandas as pd
import streamlit as st

from scvi_viz.analysis import profiles
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.plots.decoded import DecodedCharts, decoded_charts
from scvi_viz.plots.export import table_csv, toolbar_config
from scvi_viz.ui import cache, keys, point, sidebar
from scvi_viz.ui.cell_map import map_chart, map_point
from scvi_viz.ui.components.live_chart import live_chart
from scvi_viz.ui.downloads import export_picker, report_button
from scvi_viz.ui.genes import chosen_genes, gene_picker
from scvi_viz.ui.posterior import cell_uncertainty_section


def map_view(ws: Workspace) -> tuple[str, str, str | None]:
    """The map and its choices of embedding and colours; returns (embedding, colour by, gene)."""
    c1, c2, c3 = st.columns(3)
    emb_name = c1.selectbox("Map", ws.embedding_names(), key="embedding")
    columns = ws.color_columns()
    default = columns.index(ws.model.labels_key) + 1 if ws.model.labels_key in columns else 0
    color_by = c2.selectbox("Colour cells by", [cache.GENE_COLOUR, *columns], index=default, key="color_by")
    gene = c3.selectbox("Gene", ws.model.genes, key="overlay_gene") if color_by == cache.GENE_COLOUR else None
    st.plotly_chart(cache.map_figure(ws, emb_name, color_by, gene), key="umap", config=toolbar_config(f"map_{emb_name}"))
    return emb_name, color_by, gene


def point_view(ws: Workspace) -> tuple[DecodedCharts, pd.DataFrame, dict[str, str]]:
    """Sliders and covariates, and everything the decoder says at that point.

    Returns the point's charts, the profile of every gene and the provenance of exported numbers.
    """
    origin = point.point_origin()
    st.markdown(f"**Current point:** {origin}",
                help="How the point was set: a clicked cell, a click on empty space, sliders or a restored view.")
    control_col, chart_col = st.columns([1, 3])
    here = point.current_point()
    profile = point.timed_decode(lambda: profiles.gene_profile(ws.model, here))
    where = here.describe(ws.model.spec)
    caption = profiles.provenance(here, origin=origin, model=ws.model)
    charts = decoded_charts(profile, genes=chosen_genes(), n_top=st.session_state.get(keys.N_TOP, 20),
                            library_size=here.library_size, subtitle=origin + (f" · {where}" if where else ""),
                            caption=caption)
    with chart_col:
        live_chart(charts.whole.figure, key="point_chart", config=toolbar_config("decoded_at_point"))
        st.caption(f"Decoded {len(profile):,} genes in {st.session_state[keys.LAST_DECODE_MS]:.1f} ms on "
                   f"{ws.model.device.type.upper()}. Pick genes above the map for the panels on the right.")
    # After the chart, though drawn left of it: the browser starts drawing the chart while
    # the controls are still being sent. (Their callbacks have already set the point.)
    with control_col, st.container(height=700, border=False):
        point.reset_button(ws)
        point.point_controls(ws)
    return charts, profile, caption


def gene_table(profile: pd.DataFrame, library_size: float) -> None:
    """Every gene at the point, behind a toggle (for large models the biggest thing a rerun sends)."""
    st.subheader("All genes at this point")
    if st.toggle("Show a table of every gene (sortable, searchable)", key="show_table",
                 help="Off by default: for models with many genes the table is the largest thing a slider move sends."):
        st.caption(
            f"Expected counts at library size {library_size:,.0f}; normalised expression is a fraction of the library; "
            "the 90% interval is of the count distribution (ZINB/NB/Poisson)."
        )
        query = st.text_input("Search genes", key="table_search", placeholder="part of a gene name")
        shown = profile[profile.index.str.contains(query, case=False, regex=False)] if query else profile
        st.dataframe(
            shown.sort_values("rate", ascending=False),
            column_config={k: st.column_config.NumberColumn(v, format="%.4g") for k, v in profiles.COLUMNS.items()},
            height=360,
        )


@st.fragment
def explore(ws: Workspace, emb_name: str, color_by: str, gene: str | None) -> None:
    """Slider moves and map clicks rerun this fragment only: the current point, its cross on
    the map and everything decoded there. The map itself (outside) is neither re-sent nor redrawn."""
    marker = map_point(ws, emb_name, map_key="umap")
    charts, profile, caption = point_view(ws)
    the_map = map_chart(ws, emb_name, color_by, gene, marker=marker)
    st.subheader("Download")
    export_picker({"Map, with the current point": the_map,
                   "Decoded at the current point (all panels, as shown)": charts.whole, **charts.panels},
                  key="explore_export")
    all_genes, report = st.columns(2)
    all_genes.download_button("All genes at this point (CSV)", data=lambda: table_csv(profile, caption=caption),
                              file_name="all_genes.csv", mime="text/csv", key="all_genes_csv", on_click="ignore")
    with report:
        report_button(ws, [the_map, *charts.panels.values()], page="explore", tables={"all_genes": profile},
                      extras={"embedding": emb_name, "color_by": color_by})
    gene_table(profile, point.current_point().library_size)
    cell_uncertainty_section(ws)


ws = sidebar.workspace(__file__)
if ws is not None:
    st.title("Explore the latent space")
    st.caption(
        "Each point in the model's latent space is a cell state. Click a cell (or empty space) on the map, "
        "or move the sliders, and the decoder's predictions for every gene update below."
    )
    # Outside the fragment: the gene list (every gene of the model as options) is not re-sent
    # on each slider move; changing it reruns the page.
    picker, n_top = st.columns([4, 1], vertical_alignment="bottom")
    with picker:
        gene_picker(ws)
    n_top.slider("Number of top genes", 5, 50, 20, key=keys.N_TOP)
    explore(ws, *map_view(ws))
