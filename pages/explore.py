"""Explore: move through latent space and watch what the decoder predicts for each gene."""

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


def point_view(ws: Workspace) -> tuple[list[Chart], object]:
    """Sliders and covariates, and everything the decoder says at that point."""
    model = ws.model
    st.markdown(f"**Current point:** {ui.point_origin()}",
                help="How the point was set: a clicked cell, a click on empty space, sliders or a restored view.")
    control_col, chart_col = st.columns([1, 3])
    with control_col, st.container(height=700, border=False):
        ui.reset_button(ws)
        ui.point_controls(ws)
    point = ui.current_point()
    profile = ui.timed_decode(lambda: profiles.gene_profile(model, point))
    where = point.describe(model)
    subtitle = ui.point_origin() + (f" · {where}" if where else "")
    caption = {"point": ui.point_origin(), "library size": f"{point.library_size:.6g}", "covariates": where or "none",
               "columns": "; ".join(f"{k} = {v}" for k, v in profiles.COLUMNS.items())}
    with chart_col:
        genes = st.session_state.get("genes") or []
        top = profiles.top_genes(profile, st.session_state.get("n_top", 20))
        chosen = profile.loc[genes] if genes else None
        lib = point.library_size
        st.plotly_chart(figures.point_figure(top, chosen, library_size=lib, subtitle=subtitle), key="point_chart",
                        config=toolbar_config("decoded_at_point"))
        st.caption(f"Decoded {len(profile):,} genes in {st.session_state['last_decode_ms']:.1f} ms on "
                   f"{model.device.type.upper()}. Pick genes above the map for the panels on the right.")
    # Built only when a download asks for them: the point's figure above shows the same panels.
    charts = [Chart("top_genes", lambda: figures.top_genes_figure(top, library_size=lib, subtitle=subtitle), top, caption)]
    labels = [f"Top {len(top)} genes, expected counts"]
    if chosen is not None:
        charts += [
            Chart("expected_counts", lambda: figures.expected_counts_figure(chosen, library_size=lib, subtitle=subtitle),
                  chosen, caption),
            Chart("zero_probability", lambda: figures.zero_probability_figure(chosen, subtitle=subtitle), chosen, caption),
            Chart("decoder_parameters", lambda: figures.parameters_figure(chosen, subtitle=subtitle), chosen, caption),
        ]
        labels += ["Expected counts, with 90% predictive interval", "P(count = 0), dropout and count parts",
                   "Decoder parameters: scale, theta, dropout"]
    with st.expander("Download these charts one by one (PNG, SVG, PDF, HTML, CSV)"):
        for chart, label in zip(charts, labels):
            ui.download_row(chart, key=f"{chart.name}_chart", label=label)
        st.download_button("All genes at this point (CSV)", data=lambda: table_csv(profile, caption=caption),
                           file_name="all_genes.csv", mime="text/csv", key="all_genes_csv", on_click="ignore")

    st.subheader("All genes at this point")
    if st.toggle("Show a table of every gene (sortable, searchable)", key="show_table",
                 help="Off by default: for models with many genes the table is the largest thing a slider move sends."):
        st.caption(
            f"Expected counts at library size {lib:,.0f}; normalised expression is a fraction of the library; "
            "the 90% interval is of the count distribution (ZINB/NB/Poisson)."
        )
        query = st.text_input("Search genes", key="table_search", placeholder="part of a gene name")
        shown = profile[profile.index.str.contains(query, case=False, regex=False)] if query else profile
        st.dataframe(
            shown.sort_values("rate", ascending=False),
            column_config={k: st.column_config.NumberColumn(v, format="%.4g") for k, v in profiles.COLUMNS.items()},
            height=360,
        )
    return charts, profile


@st.fragment
def explore(ws: Workspace, emb_name: str, color_by: str, gene: str | None) -> None:
    """Slider moves and map clicks rerun this fragment only: the current point, its cross on
    the map and everything decoded there. The map itself (outside) is neither re-sent nor redrawn."""
    ui.map_point(ws, emb_name, map_key="umap")
    map_chart = ui.map_chart(ws, emb_name, color_by, gene)
    ui.download_row(map_chart, key="umap", label="This map, with the current point")
    charts, profile = point_view(ws)
    ui.report_button(ws, [map_chart, *charts], page="explore", tables={"all_genes": profile},
                     extras={"embedding": emb_name, "color_by": color_by})


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
