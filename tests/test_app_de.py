"""The differential-expression and model-fit pages, and the clicked cell's uncertainty, under ``streamlit.testing``."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from test_app import APP, _values, chart, component_event, run


@pytest.fixture
def app() -> AppTest:
    return run(AppTest.from_file(APP, default_timeout=120))


def _opened(at: AppTest) -> AppTest:
    """The DE page as it opens: on the labels' two largest groups."""
    at = run(at.switch_page("pages/differential_expression.py"))
    assert not at.warning
    return at


def _two_groups(at: AppTest) -> AppTest:
    """Dendritic (the largest group) against naive CD4 T cells: many genes differ."""
    at = _opened(at)
    return run(at.selectbox(key="de_group2_category").set_value("CD4+/CD45RA+/CD25- Naive T"))


def test_de_opens_on_the_two_largest_groups(app):
    from scvi_viz.analysis.workspace import Workspace
    from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL

    at = _opened(app)
    labels = Workspace.open(DEMO_MODEL, DEMO_DATA, device="cpu").obs["bulk_labels"].astype(str).value_counts()
    assert at.selectbox(key="de_group1_column").value == "bulk_labels"
    assert [at.selectbox(key=f"de_group{i}_category").value for i in (1, 2)] == list(labels.index[:2])
    assert f"{labels.index[0]} vs {labels.index[1]}" in chart(at, "Volcano:")["layout"]["title"]["text"]


def test_de_page_ranks_genes_and_draws_the_volcano(app):
    at = _two_groups(app)
    table = at.dataframe[0].value
    assert {"proba_de", "proba_not_de", "bayes_factor", "lfc_mean", "lfc_median", "lfc_std", "scale1", "scale2",
            "is_de_fdr_0.05"} <= set(table.columns)
    assert (np.diff(table["proba_de"].to_numpy()) <= 0).all()
    volcano = chart(at, "Volcano:")
    assert volcano["layout"]["shapes"][0]["x0"] == pytest.approx(-0.25)
    assert volcano["layout"]["xaxis"]["title"]["text"].endswith("(lfc_mean, log2)")
    genes = [g for t in volcano["data"] for g in t["customdata"]]
    assert sorted(genes) == sorted(table.index)
    called = sum(len(t["customdata"]) for t in volcano["data"] if t["name"].startswith("DE,"))
    assert called == int(table["is_de_fdr_0.05"].sum()) > 0


def test_de_against_all_other_cells(app):
    at = run(app.switch_page("pages/differential_expression.py"))
    at = run(at.toggle(key="de_group2_rest").set_value(True))
    table = at.dataframe[0].value
    group1 = (at.selectbox(key="de_group1_column").value, at.selectbox(key="de_group1_category").value)
    assert f"{group1[1]} vs Rest" in chart(at, "Volcano:")["layout"]["title"]["text"]
    assert len(table) == 765 and not at.warning


def test_de_delta_changes_the_calls(app):
    at = _two_groups(app)
    before = int(at.dataframe[0].value["is_de_fdr_0.05"].sum())
    at = run(at.number_input(key="de_delta").set_value(2.0))
    after = at.dataframe[0].value
    assert after["delta"].iloc[0] == 2.0 and int(after["is_de_fdr_0.05"].sum()) < before


def test_de_fixed_batch_and_batch_correction_run(app):
    at = _two_groups(app)
    base = at.dataframe[0].value["lfc_mean"]
    at = run(at.selectbox(key="de_batch_mode").set_value("one fixed batch"))
    fixed = at.dataframe[0].value["lfc_mean"]
    assert not fixed.equals(base)
    at = run(at.selectbox(key="de_batch_mode").set_value("every batch (corrected)"))
    assert not at.exception and len(at.dataframe[0].value) == len(base)


def test_clicking_a_gene_in_the_volcano_charts_it_on_explore(app):
    at = _two_groups(app)
    gene = at.dataframe[0].value.index[0]
    at.session_state["de_volcano"] = {"selection": {"points": [{"customdata": gene, "curve_number": 0, "point_index": 0}]}}
    at = run(at)
    assert gene in at.session_state["genes"]
    assert gene in at.multiselect(key="genes").value  # on the Explore page now
    assert any("Current point:**" in m.value for m in at.markdown)


def test_model_fit_page_compares_observed_and_predicted(app):
    at = run(app.switch_page("pages/model_fit.py"))
    for part in ("Mean count per cell", "Coefficient of variation", "Fraction of zeros", "Calibration"):
        spec = chart(at, part)
        assert "(" in spec["layout"]["xaxis"]["title"]["text"] and "(" in spec["layout"]["yaxis"]["title"]["text"]
    summary = at.dataframe[0].value
    assert summary.loc["mean", "spearman"] > 0.9
    calibration = chart(at, "Calibration")
    observed = _values(calibration["data"][1]["y"])
    assert np.all(np.abs(observed - _values(calibration["data"][1]["x"])) < 0.15)
    assert summary["genes"].dtype.kind == "i"  # counts of genes, not "765.000"
    genes = at.dataframe[1].value
    assert {"observed_mean", "predicted_mean", "inside_50", "inside_90"} <= set(genes.columns)
    misfit = np.abs(np.log2((genes["predicted_mean"] + 1e-3) / (genes["observed_mean"] + 1e-3))).to_numpy()
    assert (np.diff(misfit) <= 0).all()  # the worst-fitting genes first


def test_model_fit_for_an_obs_group(app):
    at = run(app.switch_page("pages/model_fit.py"))
    at = run(at.radio(key="fit_which").set_value("a group of cells"))
    from scvi_viz.io.sources import DEMO_DATA
    import anndata as ad

    category = at.selectbox(key="fit_group_category")
    at = run(category.set_value(category.options[1]))
    column = at.selectbox(key="fit_group_column").value
    n = int((ad.read_h5ad(DEMO_DATA).obs[column].astype(str) == category.options[1]).sum())
    assert f" · {n:,} cells · " in chart(at, "Calibration")["layout"]["title"]["subtitle"]["text"]
    assert n < 700


def test_clicked_cell_uncertainty_on_explore(app):
    from scvi_viz.analysis.workspace import Workspace
    from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL

    ws = Workspace.open(DEMO_MODEL, DEMO_DATA, device="cpu")
    cell = 42
    x, y = (float(v) for v in ws.embedding(ws.embedding_names()[0])[cell])
    component_event(app, "scvi_viz_map_point", "click", {"curve_number": 1, "point_index": 0, "x": x, "y": y, "customdata": cell})
    at = run(app.toggle(key="cell_posterior_show").set_value(True))
    spread = chart(at, "Expected counts over the cell's posterior")
    genes = at.session_state["genes"]
    assert list(spread["data"][0]["x"]) == genes
    assert f"cell {ws.obs.index[cell]}" in spread["layout"]["title"]["subtitle"]["text"]
    low, high = _values(spread["data"][0]["lowerfence"]), _values(spread["data"][0]["upperfence"])
    point = _values(spread["data"][1]["y"])
    assert np.all(low < high) and np.all((point > low * 0.5) & (point < high * 2))
    predictive = chart(at, "Observed vs predictive counts")
    observed = _values(predictive["data"][1]["y"])
    counts = np.asarray(ws_counts(ws, cell, genes))
    assert np.array_equal(observed, counts)


def ws_counts(ws, cell: int, genes: list[str]) -> np.ndarray:
    import anndata as ad

    from scvi_viz.io.adata import model_inputs_from_adata

    inputs = model_inputs_from_adata(ws.model.spec, ad.read_h5ad(ws.data_path), allow_missing_genes=True)
    row = inputs.counts[cell]
    row = np.asarray(row.toarray() if hasattr(row, "toarray") else row).ravel()
    return row[ws.model.gene_indices(genes)]
