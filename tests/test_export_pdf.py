"""Exported PDFs: every letter of every chart lies on its page (issue 21: a PDF cut the bottom of
the trajectory heatmap's axis title while its PNG and SVG were whole)."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from scvi_viz.analysis import trajectory as tr
from scvi_viz.analysis.profiles import gene_profile
from scvi_viz.analysis.sliders import dimension_rows, traverse
from scvi_viz.analysis.walk import DataDistance
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL
from scvi_viz.plots import export
from scvi_viz.plots import trajectory as path_figs
from scvi_viz.plots.decoded import decoded_charts
from scvi_viz.plots.traversal import traversal_chart

pdfplumber = pytest.importorskip("pdfplumber")
pytestmark = pytest.mark.skipif(not export.static_export_available(), reason="static export needs Chrome/Chromium")


@pytest.fixture(scope="module")
def ws() -> Workspace:
    return Workspace.open(str(DEMO_MODEL), str(DEMO_DATA))


def charts(ws) -> dict[str, export.Chart]:
    point = ws.cell_point(0)
    profile = gene_profile(ws.model, point)
    out = {"decoded": decoded_charts(profile, genes=["CD74", "LYZ", "GNLY"], n_top=20, library_size=point.library_size,
                                     likelihood=ws.model.gene_likelihood, size_factor=False, subtitle="cell 0",
                                     caption={}).whole}
    path = tr.latent_path(ws.latent[0], ws.latent[500], n_steps=30)
    decoded = tr.decode_path(ws.model, path, point=point)
    paths = path_figs.path_charts(decoded, decoded.changing_genes(12), relative_distance=np.linspace(0.5, 3, 30),
                                  off=np.linspace(0.5, 3, 30) > 2, step=4, ratio=2.0, size_factor=False,
                                  gene_note="the 12 genes that change most", subtitle="A → B", caption={})
    out |= {"trajectory heatmap": paths.heatmap, "trajectory counts": paths.counts, "distance": paths.distance}
    row = dimension_rows(ws.latent_ranges())[0]
    moved = traverse(ws.model, row, ws.latent[0], distance=DataDistance.build(ws.latent),
                     **ws.covariates.rows(np.array([0])).decode_kwargs())
    out["traversal"] = traversal_chart(moved, slider=row.label, unit="expected counts per 10,000 counts of a cell",
                                       off_ratio=2.0, subtitle="phase=G1")
    return out


def layout_words(fig) -> set[str]:
    """The words of a figure's title, subtitle, x-axis titles, annotations and legend (y-axis titles
    are turned on their side, which the PDF's text extraction does not read as words)."""
    layout = fig.to_plotly_json()["layout"]
    texts = [(layout.get("title") or {}).get("text", ""), ((layout.get("title") or {}).get("subtitle") or {}).get("text", "")]
    texts += [(v.get("title") or {}).get("text", "") for k, v in layout.items() if k.startswith("xaxis")]
    texts += [a.get("text", "") for a in layout.get("annotations", [])]
    if layout.get("showlegend"):  # legend entries: a gene name cut at the page's edge is a wrong label
        texts += [t.name for t in fig.data if t.name and t.showlegend is not False]
    words = re.sub(r"<[^>]+>", " ", " ".join(t for t in texts if t)).split()
    return {w.strip(".,:;()'·") for w in words if len(w.strip(".,:;()'·")) >= 3}


def pdf_problems(name: str, chart: export.Chart) -> list[str]:
    """Letters past the page's edges, and words of the figure's titles missing from the PDF (cut off whole)."""
    found = []
    with pdfplumber.open(io.BytesIO(export.chart_file(chart, "pdf"))) as pdf:
        page = pdf.pages[0]
        out = [c["text"] for c in page.chars if c["x0"] < -0.5 or c["x1"] > page.width + 0.5
               or c["top"] < -0.5 or c["bottom"] > page.height + 0.5]
        if out:
            found.append(f"{name}: {''.join(out)[:60]!r} runs off the page")
        text = page.extract_text().replace("\n", " ")
        missing = sorted(w for w in layout_words(chart.figure) if w not in text)
        if missing:
            found.append(f"{name}: {missing[:8]} not in the PDF")
    return found


def test_every_title_of_an_exported_pdf_is_on_its_page_whole(ws):
    found = [p for name, chart in charts(ws).items() for p in pdf_problems(name, chart)]
    assert not found, "\n".join(found)


def test_a_title_pushed_off_the_page_is_found():
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1]), layout={
        "annotations": [{"text": "pushed below", "xref": "paper", "yref": "paper", "x": 0.5, "y": -0.3, "showarrow": False}],
        "margin": {"b": 10, "t": 10, "autoexpand": False}, "height": 300, "width": 400})
    assert pdf_problems("test", export.Chart("test", lambda: fig, pd.DataFrame()))
