"""Explore: move through latent space and watch what the decoder predicts for each gene."""

import pandas as pd
import streamlit as st

from scvi_viz import figures, profiles, ui
from scvi_viz.export import Chart, table_csv, toolbar_config
from scvi_viz.workspace import Workspace


def map_view(ws: Workspace) -> tuple[str, str, str | None]:
    """The map and its choices of embedding and colours; returns (embedding, colour by, gene)."""
    model = ws.model
    c1, c2, c3 = st.columns(3)
    emb_name = c1.selectbox("Map", ws.embedding_names(), key="embedding")
    columns = ws.color_columns()
    default = columns.index(model.labels_key) + 1 if model.labels_key in columns else 0
    color_by = c2.selectbox("Colour cells by", [ui.GENE_COLOUR, *columns], index=default, key="color_by")
    gene = c3.selectbox("Gene", model.genes, key="overlay_gene") if color_by == ui.GENE_COLOUR else None
    st.plotly_chart(ui.map_figure(ws, emb_name, color_by, gene), key="umap", config=toolbar_config(f"map_{emb_name}"))
    return emb_name, color_by, gene


def point_view(ws: Workspace) -> tuple[Chart, dict[str, Chart], pd.DataFrame, dict[str, str]]:
    """Sliders and covariates, and everything the decoder says at that point.

    Returns, for downloads, the point's whole figure and its panels one by one (built only when
    a download asks for them), the profile of every gene and the caption of exported numbers.
    """
    model = ws.model
    st.markdown(f"**Current point:** {ui.point_origin()}",
                help="How the point was set: a clicked cell, a click on empty space, sliders or a restored view.")
    control_col, chart_col = st.columns([1, 3])
    point = ui.current_point()
    profile = ui.timed_decode(lambda: profiles.gene_profile(model, point))
    where = point.describe(model)
    subtitle = ui.point_origin() + (f" · {where}" if where else "")
    caption = {"point": ui.point_origin(), "library size": f"{point.library_size:.6g}", "covariates": where or "none",
               "columns": "; ".join(f"{k} = {v}" for k, v in profiles.COLUMNS.items())}
    genes = st.session_state.get("genes") or []
    top = profiles.top_genes(profile, st.session_state.get("n_top", 20))
    chosen = profile.loc[genes] if genes else None
    lib = point.library_size
    figure = figures.point_figure(top, chosen, library_size=lib, subtitle=subtitle)
    with chart_col:
        ui.live_chart(figure, key="point_chart", config=toolbar_config("decoded_at_point"))
        st.caption(f"Decoded {len(profile):,} genes in {st.session_state['last_decode_ms']:.1f} ms on "
                   f"{model.device.type.upper()}. Pick genes above the map for the panels on the right.")
    # After the chart, though drawn left of it: the browser starts drawing the chart while
    # the controls are still being sent. (Their callbacks have already set the point.)
    with control_col, st.container(height=700, border=False):
        ui.reset_button(ws)
        ui.point_controls(ws)
    shown = profile.loc[list(dict.fromkeys([*top.index, *genes]))]
    whole = Chart("decoded_at_point", lambda: figure, shown, caption)
    panels = {
        f"Top {len(top)} genes, expected counts": Chart(
            "top_genes", lambda: figures.top_genes_figure(top, library_size=lib, subtitle=subtitle), top, caption),
    }
    if chosen is not None:
        panels |= {
            "Expected counts, with 90% predictive interval": Chart(
                "expected_counts", lambda: figures.expected_counts_figure(chosen, library_size=lib, subtitle=subtitle),
                chosen, caption),
            "P(count = 0), dropout and count parts": Chart(
                "zero_probability", lambda: figures.zero_probability_figure(chosen, subtitle=subtitle), chosen, caption),
            "Decoder parameters: scale, theta, dropout": Chart(
                "decoder_parameters", lambda: figures.parameters_figure(chosen, subtitle=subtitle), chosen, caption),
        }
    return whole, panels, profile, caption


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
    marker = ui.map_point(ws, emb_name, map_key="umap")
    whole, panels, profile, caption = point_view(ws)
    map_chart = ui.map_chart(ws, emb_name, color_by, gene, marker=marker)
    st.subheader("Download")
    ui.export_picker({"Map, with the current point": map_chart,
                      "Decoded at the current point (all panels, as shown)": whole, **panels}, key="explore_export")
    all_genes, report = st.columns(2)
    all_genes.download_button("All genes at this point (CSV)", data=lambda: table_csv(profile, caption=caption),
                              file_name="all_genes.csv", mime="text/csv", key="all_genes_csv", on_click="ignore")
    with report:
        ui.report_button(ws, [map_chart, *panels.values()], page="explore", tables={"all_genes": profile},
                         extras={"embedding": emb_name, "color_by": color_by})
    gene_table(profile, ui.current_point().library_size)


ws = ui.workspace(__file__)
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
        ui.gene_picker(ws)
    n_top.slider("Number of top genes", 5, 50, 20, key="n_top")
    explore(ws, *map_view(ws))
