"""Explore: move through latent space and watch what the decoder predicts for each gene."""

import streamlit as st

from scvi_viz import figures, profiles, ui
from scvi_viz.export import Chart
from scvi_viz.workspace import Workspace

@st.fragment
def explore(ws: Workspace) -> None:
    model = ws.model
    c1, c2, c3 = st.columns(3)
    emb_name = c1.selectbox("Map", ws.embedding_names(), key="embedding")
    columns = ws.color_columns()
    default = columns.index(model.labels_key) + 1 if model.labels_key in columns else 0
    color_by = c2.selectbox("Colour cells by", [ui.GENE_COLOUR, *columns], index=default, key="color_by")
    gene = c3.selectbox("Gene", model.genes, key="overlay_gene") if color_by == ui.GENE_COLOUR else None

    map_col, control_col = st.columns([3, 2])
    with control_col, st.container(height=560, border=False):
        ui.reset_button(ws)
        ui.point_controls(ws)
    point = ui.current_point()
    with map_col:
        map_chart = ui.map_chart(ws, emb_name, color_by, gene)
        ui.chart_with_downloads(map_chart, key="umap", on_select=ui.handle_map_click(ws, emb_name, "umap"),
                                selection_mode="points")
        st.markdown(f"**Current point:** {ui.point_origin()}", help="How the point was set: a clicked cell, a click on empty space, sliders or a restored view.")

    profile = ui.timed_decode(lambda: profiles.gene_profile(model, point))
    n = len(profile)
    where = point.describe(model)
    subtitle = f"{ui.point_origin()}" + (f" · {where}" if where else "")
    caption = {"point": ui.point_origin(), "library size": f"{point.library_size:.6g}", "covariates": where or "none",
               "columns": "; ".join(f"{k} = {v}" for k, v in profiles.COLUMNS.items())}
    st.caption(f"Decoded {n:,} genes in {st.session_state['last_decode_ms']:.1f} ms on {model.device.type.upper()}.")

    n_top = st.slider("Number of top genes", 5, 50, 20, key="n_top")
    top = profiles.top_genes(profile, n_top)
    charts = [
        map_chart,
        Chart("top_genes", figures.top_genes_figure(top, library_size=point.library_size, subtitle=subtitle), top, caption),
    ]
    ui.chart_with_downloads(charts[-1], key="top_chart")

    genes = ui.gene_picker(ws)
    if genes:
        chosen = profile.loc[genes]
        for name, build in (
            ("expected_counts", lambda: figures.expected_counts_figure(chosen, library_size=point.library_size, subtitle=subtitle)),
            ("decoder_parameters", lambda: figures.parameters_figure(chosen, subtitle=subtitle)),
            ("zero_probability", lambda: figures.zero_probability_figure(chosen, subtitle=subtitle)),
        ):
            charts.append(Chart(name, build(), chosen, caption))
            ui.chart_with_downloads(charts[-1], key=f"{name}_chart")
    else:
        st.info("Pick genes above to chart their expected counts, dispersion and dropout.")

    st.subheader("All genes at this point")
    st.caption(
        f"Expected counts at library size {point.library_size:,.0f}; normalised expression is a fraction of the library; "
        "the 90% interval is of the count distribution (ZINB/NB/Poisson)."
    )
    query = st.text_input("Search genes", key="table_search", placeholder="part of a gene name")
    shown = profile[profile.index.str.contains(query, case=False, regex=False)] if query else profile
    st.dataframe(
        shown.sort_values("rate", ascending=False),
        column_config={k: st.column_config.NumberColumn(v, format="%.4g") for k, v in profiles.COLUMNS.items()},
        height=360,
    )
    ui.report_button(ws, charts, page="explore", tables={"all_genes": profile},
                     extras={"embedding": emb_name, "color_by": color_by})


ws = ui.workspace()
if ws is not None:
    st.title("Explore the latent space")
    st.caption(
        "Each point in the model's latent space is a cell state. Click a cell (or empty space) on the map, "
        "or move the sliders, and the decoder's predictions for every gene update below."
    )
    explore(ws)
