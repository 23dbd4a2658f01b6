"""Write every chart of every page, in every export format, into a folder for a person to look at.

Run from the repository root (needs Chromium for PNG, SVG and PDF, as the app's downloads do)::

    python scripts/export_gallery.py OUT_DIR            # every chart as PNG, SVG, PDF, HTML and CSV
    python scripts/export_gallery.py docs/gallery --png  # the committed gallery: PNGs only

The charts are those the app offers for download, built by the same functions, on the built-in
demo: the Explore page at one cell with the default genes (and that cell's posterior
uncertainty), the Compare page at that cell and for one cell type, differential expression
between two cell types, and the model-fit check of all cells.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from scvi_viz.analysis import compare, fit, genes, profiles  # noqa: E402
from scvi_viz.analysis.workspace import Workspace  # noqa: E402
from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL  # noqa: E402
from scvi_viz.plots import cell_map, comparison, decoded, export  # noqa: E402
from scvi_viz.plots import de as de_plots  # noqa: E402
from scvi_viz.plots import fit as fit_plots  # noqa: E402
from scvi_viz.plots.style import library_label  # noqa: E402

CELL = 0
"""The demo cell the point pages are drawn at."""
GROUP = ("bulk_labels", "CD14+ Monocyte")
"""The demo cell type the group comparison is drawn for."""
DE_GROUPS = ("bulk_labels", "CD14+ Monocyte", "Dendritic")
"""The demo cell types compared by differential expression."""


def explore_charts(ws: Workspace) -> Iterator[export.Chart]:
    """The Explore page's downloads: the map (coloured by cell type and by a gene), the point's figure, its panels."""
    model = ws.model
    here = ws.cell_point(CELL)
    origin = f"cell {ws.obs.index[CELL]} ({ws.obs[model.labels_key].iloc[CELL]})"
    where = here.describe(model.spec)
    point_text = origin + (f" · {where}" if where else "")
    subtitle = f"{ws.n_cells:,} cells · {model.model_name} model (scvi-tools {model.scvi_version})"
    coords = ws.embedding(ws.embedding_names()[0])
    marker = ws.inverse_map(coords).position_of(ws.latent[CELL])
    chosen = genes.variable_genes(ws)
    colourings = [(ws.obs[model.labels_key].to_numpy(), model.labels_key),
                  (genes.gene_overlay(ws, chosen[0]), f"{chosen[0]} ({genes.overlay_unit(ws)})")]
    for color, color_name in colourings:
        yield cell_map.map_chart(coords=coords, color=color, color_name=color_name, hover=ws.cell_hover(),
                                 embedding_name="UMAP", subtitle=subtitle, marker=marker, point=point_text,
                                 cells=ws.obs.index)
    profile = profiles.gene_profile(model, here)
    charts = decoded.decoded_charts(profile, genes=chosen, n_top=20, library_size=here.library_size,
                                    likelihood=model.gene_likelihood, size_factor=model.uses_size_factor,
                                    subtitle=point_text, caption=profiles.provenance(here, origin=origin, model=model))
    yield charts.whole
    yield from charts.panels.values()
    table = fit.cell_uncertainty(model, fit.read_cells(ws, np.array([CELL])), chosen, point_z=ws.latent[CELL], seed=CELL)
    yield from fit_plots.uncertainty_charts(table, cell=f"cell {ws.obs.index[CELL]}",
                                            library_size=float(ws.library[CELL])).values()


def compare_charts(ws: Workspace) -> Iterator[export.Chart]:
    """The Compare page's downloads: the batch comparison at the point, and for one cell type."""
    model = ws.model
    here = ws.cell_point(CELL)
    values = list(model.batches)
    point_table = compare.compare_point(model, here, "batch", None, values)
    subtitle = f"cell {ws.obs.index[CELL]} · {library_label(here.library_size, size_factor=model.uses_size_factor)}"
    cells = (ws.obs[GROUP[0]].astype(str) == GROUP[1]).to_numpy().nonzero()[0]
    group_table = compare.compare_cells(model, ws.latent[cells], ws.library[cells], ws.covariates.rows(cells),
                                        "batch", None, values)
    group_subtitle = f"{GROUP[0]} = {GROUP[1]}: {len(cells):,} cells, each at its own library size"
    model_text = f"{model.model_name} model (scvi-tools {model.scvi_version})"
    for name, table, where in (("cmp_point", point_table, subtitle), ("cmp_group", group_table, group_subtitle)):
        ranked = compare.rank_genes(table, min_counts=compare.MIN_EXPECTED_COUNTS)
        caption = {"comparison": where, "model": model_text, "ranking": ranked.attrs["ranking"]}
        yield from comparison.comparison_charts(ranked, name=name, unit="scale", n_top=20,
                                                subtitle=f"{where}<br>{model_text}", caption=caption).values()


def de_charts(ws: Workspace) -> Iterator[export.Chart]:
    """The differential-expression page's download: the volcano of two cell types."""
    column, group1, group2 = DE_GROUPS
    labels = ws.obs[column].astype(str).to_numpy()
    cells = fit.read_cells(ws, np.arange(ws.n_cells))
    options = {"delta": 0.25, "fdr_target": 0.05, "seed": 0}
    table = ws.model.differential_expression_counts(cells.counts, cells.covariates, np.flatnonzero(labels == group1),
                                                    np.flatnonzero(labels == group2), qz=(cells.qz_mean, cells.qz_var),
                                                    **options)
    yield de_plots.volcano_chart(table, group1=f"{column} = {group1}", group2=f"{column} = {group2}", options=options)


def fit_charts(ws: Workspace) -> Iterator[export.Chart]:
    """The model-fit page's downloads for all cells."""
    check = fit.posterior_predictive_check(ws.model, fit.read_cells(ws, np.arange(ws.n_cells)), seed=0)
    yield from fit_plots.fit_charts(check, name="all cells").values()


PAGES = {"explore": explore_charts, "compare": compare_charts, "differential_expression": de_charts,
         "model_fit": fit_charts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write into (one subfolder per page)")
    parser.add_argument("--png", action="store_true", help="PNGs only, at screen resolution (for docs/gallery)")
    args = parser.parse_args()
    if not export.static_export_available():
        sys.exit(export.CHROME_HINT)
    ws = Workspace.open(DEMO_MODEL, DEMO_DATA, device="cpu")
    for page, charts in PAGES.items():
        folder = args.out / page
        folder.mkdir(parents=True, exist_ok=True)
        for chart in charts(ws):
            stem = export.safe_filename(chart.name)
            if args.png:
                (folder / f"{stem}.png").write_bytes(export.figure_image(chart.figure, "png", scale=1))
                continue
            for fmt in export.FORMATS:
                (folder / f"{stem}.{fmt}").write_bytes(export.chart_file(chart, fmt))
        print(f"{page}: {len(list(folder.iterdir()))} files in {folder}")


if __name__ == "__main__":
    main()
