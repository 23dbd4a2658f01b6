"""Figures of differential expression, model fit and a cell's uncertainty: units, bands, margins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scvi_viz.plots import de as de_plots
from scvi_viz.plots import fit as fit_plots
from scvi_viz.plots import style


def _de_table() -> pd.DataFrame:
    genes = [f"G{i}" for i in range(6)]
    return pd.DataFrame({"proba_de": [0.99, 0.98, 0.9, 0.5, 0.3, 0.1], "lfc_mean": [3.0, -2.0, 1.0, 0.2, -0.1, 0.0],
                         "scale1": 0.1, "scale2": 0.05, "delta": 0.5,
                         "is_de_fdr_0.05": [True, True, False, False, False, False]}, index=genes)


def test_volcano_draws_the_delta_band_and_groups_genes_by_the_call():
    fig = de_plots.volcano_figure(_de_table(), group1="bulk_labels = B", group2="T", subtitle="s")
    band = fig.layout.shapes[0]
    assert (band.x0, band.x1) == (-0.5, 0.5)
    up, down, rest = fig.data
    assert list(up.customdata) == ["G0"] and list(down.customdata) == ["G1"] and len(rest.customdata) == 4
    assert up.name.startswith("DE, higher in B ") and "bulk_labels" not in fig.layout.title.text
    assert "log2" in fig.layout.xaxis.title.text and "probability" in fig.layout.yaxis.title.text
    assert fig.layout.xaxis.range[1] >= 3.0


def test_volcano_names_the_strongest_de_genes_on_each_side():
    rng = np.random.default_rng(0)
    lfc = rng.normal(0, 2, 200)
    table = pd.DataFrame({"proba_de": 0.99, "lfc_mean": lfc, "scale1": 0.1, "scale2": 0.05, "delta": 0.5,
                          "is_de_fdr_0.05": np.abs(lfc) > 1}, index=[f"G{i}" for i in range(200)])
    named = [a.text for a in de_plots.volcano_figure(table, group1="A", group2="B").layout.annotations][1:]
    up = table[table["lfc_mean"] > 1]["lfc_mean"].nlargest(de_plots.NAMED_GENES).index
    down = table[table["lfc_mean"] < -1]["lfc_mean"].nsmallest(de_plots.NAMED_GENES).index
    assert named == [*up, *down]
    assert not [a for a in de_plots.volcano_figure(_de_table().assign(**{"is_de_fdr_0.05": False}), group1="A",
                                                   group2="B").layout.annotations][1:], "no DE genes, no names"


def test_fdr_column_is_found_whatever_the_target():
    assert de_plots.fdr_column(_de_table().rename(columns={"is_de_fdr_0.05": "is_de_fdr_0.1"})) == "is_de_fdr_0.1"


def test_fit_scatter_has_units_identity_and_summary():
    genes = pd.DataFrame({"observed_mean": [0.0, 1.0, 10.0], "predicted_mean": [0.1, 1.2, 9.0]}, index=["a", "b", "c"])
    summary = pd.Series({"spearman": 1.0, "mean_abs_log2_ratio": 0.2})
    fig = fit_plots.stat_scatter(genes, "mean", summary)
    assert fig.layout.xaxis.type == "log" and "(counts per cell)" in fig.layout.xaxis.title.text
    assert list(fig.data[1].text) == ["b", "c"]  # a gene at 0 is left off the log axes, and said so
    assert "Spearman 1.000" in fig.layout.annotations[0].text
    # The genes not drawn are said under the title, not in a box that would cover genes.
    assert "1 genes at 0 not drawn" in fig.layout.title.subtitle.text and "genes at 0" not in fig.layout.annotations[0].text
    assert fig.data[0].name.startswith("identity")


def test_calibration_marks_the_50_and_90_percent_intervals():
    cal = pd.DataFrame({"observed": [0.52, 0.91]}, index=pd.Index([0.5, 0.9], name="nominal"))
    fig = fit_plots.calibration_figure(cal)
    assert "50% interval holds 52.0%" in fig.layout.annotations[0].text
    assert "(fraction)" in fig.layout.xaxis.title.text and "(fraction)" in fig.layout.yaxis.title.text


@pytest.mark.parametrize("genes, upright", [(["CD3D", "LYZ"], False), ([f"HLA-DQA{i}" for i in range(8)], True)])
def test_gene_labels_turn_upright_and_get_room_when_long(genes, upright):
    table = pd.DataFrame({c: np.ones(len(genes)) for c in
                          ["point", "observed", *(f"{p}_q{q:02d}" for p in ("expected", "predictive") for q in (5, 25, 50, 75, 95))]},
                         index=genes)
    table["inside_90"] = True
    fig = fit_plots.predictive_figure(table, library_size=1000.0)
    assert (fig.layout.xaxis.tickangle == -90) == upright
    assert fig.layout.margin.b >= (style.label_margin(genes, pad=50) if upright else 60)
    assert "counts" in fig.layout.yaxis.title.text and fig.layout.title.y == 1.0
    assert fit_plots.expected_spread_figure(table, library_size=1000.0).layout.yaxis.type == "log"


def test_shorten_keeps_short_text_and_cuts_long_text():
    assert fit_plots.shorten("abc") == "abc"
    assert fit_plots.shorten("x" * 50, 10) == "x" * 9 + "…"
