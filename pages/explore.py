"""Explore: move through latent space and watch what the decoder predicts for each gene.

The map, the latent sliders and the chosen genes' chart share one screen; the full charts of
the point, the downloads and the table of every gene follow below.
"""

import pandas as pd
import streamlit as st

from scvi_viz.analysis import profiles
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.plots.decoded import DecodedCharts, decoded_charts
from scvi_viz.plots.export import Chart, table_csv, toolbar_config
from scvi_viz.ui import cache, dimensions, directions, keys, point, sidebar, walk
from scvi_viz.ui.cell_map import map_chart, map_point
from scvi_viz.ui.components.live_chart import live_chart
from scvi_viz.ui.components.live_map import load_plotly
from scvi_viz.ui.downloads import export_picker, report_button
from scvi_viz.ui.explore_map import DOWNLOADS_FRAGMENT, EXPLORE_FRAGMENT, MAP_KEY, map_colouring, map_controls, map_view
from scvi_viz.ui.gene_sets import gene_set_editor, gene_sets
from scvi_viz.ui.genes import chosen_genes, gene_picker
from scvi_viz.ui.posterior import cell_uncertainty_section
from scvi_viz.ui.views import current_view, write_link


def full_charts(ws: Workspace, profile: pd.DataFrame, origin: str, caption: dict[str, str]) -> DecodedCharts:
    """Every panel decoded at the point (top genes, chosen genes' counts, zeros, parameters)."""
    here = point.current_point()
    where = here.describe(ws.model.spec)
    genes = chosen_genes()
    charts = decoded_charts(profile, genes=genes, n_top=st.session_state.get(keys.N_TOP, 20),
                            library_size=here.library_size, likelihood=ws.model.gene_likelihood,
                            size_factor=ws.model.uses_size_factor, subtitle=origin + (f" · {where}" if where else ""),
                            caption=caption)
    live_chart(charts.shown, key="point_chart", config=toolbar_config("decoded_at_point"))
    drawn = len(charts.drawn_genes)
    more = f" The panels draw the first {drawn} of the {len(genes)} chosen genes; the table has all." if drawn < len(genes) else ""
    hint = "" if genes else " Pick genes at the top of the page for the per-gene panels."
    st.caption(f"Decoded {len(profile):,} genes in {st.session_state[keys.LAST_DECODE_MS]:.1f} ms on "
               f"{ws.model.device.type.upper()}.{hint}{more}")
    return charts


def gene_table(profile: pd.DataFrame, library_size: float) -> None:
    """Every gene at the point, behind a toggle (for large models the biggest thing a rerun sends)."""
    st.subheader("All genes at this point")
    if st.toggle("Show a table of every gene (sortable, searchable)", key=keys.SHOW_TABLE, persist_state="session",
                 help="Off by default: for models with many genes the table is the largest thing a move sends."):
        st.caption(
            f"Expected counts at library size {library_size:,.0f}; normalised expression is a fraction of the library; "
            "the 90% interval is of the count distribution (ZINB/NB/Poisson)."
        )
        query = st.text_input("Search genes", key="table_search", placeholder="part of a gene name", persist_state="session")
        shown = profile[profile.index.str.contains(query, case=False, regex=False)] if query else profile
        st.dataframe(
            shown.sort_values("rate", ascending=False),
            column_config={k: st.column_config.NumberColumn(v, format="%.4g") for k, v in profiles.COLUMNS.items()},
            height=360,
        )


EXPORTS = "_explore_exports"  # session key of what the downloads export: the newest move's charts, numbers, view


def keep_exports(ws: Workspace, profile: pd.DataFrame, charts: DecodedCharts, traversal: Chart | None, *,
                 marker: tuple[float, float], point: str, caption: dict[str, str]) -> None:
    """Record what the point's downloads export (the download buttons read it when clicked) and
    keep the address up to date."""
    exports = st.session_state.setdefault(EXPORTS, {})
    exports.update(profile=profile, charts=charts, traversal=traversal, marker=marker, point=point, caption=caption)
    record_view(ws, exports)


def record_view(ws: Workspace, exports: dict) -> None:
    """The view as the report bundle's ``state.json`` records it, and in the address."""
    exports["view"] = current_view(ws, page="explore").to_json()
    write_link(ws, page="explore")


@st.fragment(key=DOWNLOADS_FRAGMENT)
def downloads(ws: Workspace) -> None:
    """The point's charts and tables to download, the report bundle and the view's link.

    Outside the fragment that moves rerun: a move does not redraw these boxes and buttons (about
    10 ms of each click), it only records what they export (:func:`keep_exports`), and a download
    takes the newest. Its own fragment: a new colouring of the map reruns it (the exported map
    and the link change) with the point's charts as they are.
    """
    exports = st.session_state.get(EXPORTS)
    if not exports:
        return  # the point could not be decoded: the page says why above
    shown = map_colouring(ws)
    exported_map = map_chart(ws, shown.embedding, shown.color_by, shown.gene, gene_set=shown.members)
    tables = dimensions.computed_tables(ws)

    def charts() -> dict[str, Chart]:  # the newest move's: also called on a download's own thread
        decoded, traversal = exports["charts"], exports["traversal"]
        return {"Map, with the current point": exported_map(exports["marker"], exports["point"]),
                "Decoded at the current point (all panels, as shown)": decoded.whole, **decoded.panels,
                **({"What moving one slider does": traversal} if traversal else {})}

    st.subheader("Download")
    export_picker(charts, key="explore_export")
    all_genes, report = st.columns(2)
    all_genes.download_button("All genes at this point (CSV)",
                              data=lambda: table_csv(exports["profile"], caption=exports["caption"]),
                              file_name="all_genes.csv", mime="text/csv", key="all_genes_csv", on_click="ignore")
    with report:
        report_button(ws, lambda: list(charts().values()), page="explore",
                      tables=lambda: {"all_genes": exports["profile"], **tables}, view=lambda: exports["view"])
    record_view(ws, exports)  # the colouring may be new


@st.fragment(key=EXPLORE_FRAGMENT)
def explore(ws: Workspace, decoder: str | None, refusal: str | None) -> None:
    """A move (slider, map click, covariate) reruns this fragment only: the map (unchanged, so not
    re-sent), the current point, its x and everything decoded there."""
    the_map, instrument = st.columns([3, 2], gap="medium")
    with the_map:  # first, so that a new map reaches the browser before the point is decoded again
        map_controls(ws)
        emb_name = map_view(ws)
        marker = map_point(ws, emb_name, map_key=MAP_KEY, hover=decoder is not None, cells=decoder)
        st.caption("Click a cell, or empty space between cells, to decode there (the black × marks the current "
                   "point); with *preview on hover*, the point under the mouse is decoded in your browser. "
                   "Drag to pan, scroll to zoom, double-click to reset the zoom.")
    here = point.current_point()
    profile = point.timed_decode(lambda: profiles.gene_profile(ws.model, here))
    origin = point.point_origin()
    caption = profiles.provenance(here, origin=origin, model=ws.model)
    genes = chosen_genes()
    rows = directions.slider_rows(ws)
    with instrument:
        st.markdown(f"**Current point:** {origin}",
                    help="How the point was set: a clicked cell, a click on empty space, the sliders, a group's "
                         "centre or a view restored from a link or a report bundle.")
        summary, change = st.columns([5, 2], vertical_alignment="center")
        summary.caption(walk.covariate_summary(ws))
        with change.popover("Edit", help="The point's library size and covariates."):
            walk.covariate_controls(ws)
        walk.walk(ws, profile, rows=rows, genes=genes[:40], sets=gene_sets(), n_top=st.session_state.get(keys.N_TOP, 20),
                  embedding_name=emb_name, map_key=MAP_KEY, marker=marker, decoder=decoder,
                  characteristic=directions.characteristic_line(ws, profile))
        if refusal:
            st.caption(f"Live preview off: {refusal} The charts follow each finished move from the server.")
    where = here.describe(ws.model.spec)
    traversal = directions.traversal_section(ws, rows)
    charts = full_charts(ws, profile, origin, caption)
    keep_exports(ws, profile, charts, traversal, marker=marker, point=origin + (f" · {where}" if where else ""),
                 caption=caption)
    gene_table(profile, here.library_size)
    cache.warm_gene_colouring(ws)
    cell_uncertainty_section(ws)


ws = sidebar.workspace(__file__)
if ws is not None:
    # The instrument (map, sliders, chosen genes) fits one screen down to 1100 x 800: less padding and
    # smaller gaps than Streamlit's defaults, on this page only.
    st.html("<style>.stMainBlockContainer { padding: 1.2rem 2rem 6rem; } "
            ".stMainBlockContainer [data-testid='stVerticalBlock'] { gap: 0.55rem; } "
            "h1 { padding: 0 0 0.35rem !important; font-size: 1.75rem !important; }</style>")
    st.title("Explore the latent space", help=(
        "Each point in the model's latent space is a cell state. Click a cell (or empty space) on the map, or move "
        "the sliders, and the decoder's predictions for every gene follow."))
    # Outside the fragment: the gene list (every gene of the model as options) is not re-sent
    # on each move; changing it reruns the page.
    # Outside the fragment too: the directions' controls are not re-sent on each move.
    picker, sets, steer, n_top = st.columns([6.2, 1.7, 1.7, 1.2], vertical_alignment="bottom")
    with picker:
        gene_picker(ws)
    with sets:
        gene_set_editor(ws)
    with steer.popover("Directions", help="Sliders along the cells' principal axes, a slider toward a group or more "
                                          "of a gene set, and Go to a group's centre."):
        directions.direction_controls(ws)
    n_top.number_input("Top genes", 5, 50, 20, key=keys.N_TOP, persist_state="session",
                       help="How many genes the read-out and the charts list by expected counts.")
    decoder, refusal = walk.load_in_browser(ws)
    load_plotly()
    explore(ws, decoder, refusal)
    downloads(ws)
    dimensions.dimension_section(ws)
