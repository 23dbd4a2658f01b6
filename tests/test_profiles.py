"""Per-gene profiles and covariate comparisons agree with ``ScviModel.decode``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scvi_viz
from scvi_viz.analysis import compare, profiles
from scvi_viz.analysis.distributions import predictive_interval, zero_probability_parts
from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL
from scvi_viz.point import default_point
from scvi_viz.analysis.workspace import Workspace


FIXTURES = Path(__file__).parent / "fixtures" / "models"
EXPECTED_COLUMNS = list(profiles.COLUMNS)


@pytest.fixture(scope="module")
def ws() -> Workspace:
    return Workspace.open(DEMO_MODEL, DEMO_DATA, device="cpu")


@pytest.fixture(scope="module")
def point(ws):
    return ws.cell_point(3)


@pytest.fixture(scope="module")
def profile(ws, point):
    return profiles.gene_profile(ws.model, point)


def np64(t):
    return t.detach().cpu().numpy().astype(np.float64)


def test_demo_batch_key_is_phase(ws):
    assert ws.model.batch_key == "phase"
    assert {"G1", "S"} <= set(ws.model.batches)


def test_gene_profile_equals_decode(ws, point, profile):
    model = ws.model
    out = model.decode(**point.decode_kwargs())
    assert list(profile.columns) == EXPECTED_COLUMNS
    assert list(profile.index) == list(model.genes)
    assert profile.index.name == "gene"
    rate, scale = np64(out.rate)[0], np64(out.scale)[0]
    theta, dropout = np64(out.theta)[0], np64(out.dropout)[0]
    np.testing.assert_allclose(profile["rate"], rate, rtol=1e-6)
    np.testing.assert_allclose(profile["scale"], scale, rtol=1e-6)
    np.testing.assert_allclose(profile["theta"], theta, rtol=1e-6)
    np.testing.assert_allclose(profile["dropout"], dropout, rtol=1e-6)
    np.testing.assert_allclose(profile["rate"], point.library_size * profile["scale"], rtol=1e-5)
    low, high = predictive_interval(rate, theta, dropout)
    np.testing.assert_array_equal(profile["interval_low"], low)
    np.testing.assert_array_equal(profile["interval_high"], high)
    d, c = zero_probability_parts(rate, theta, dropout)
    np.testing.assert_allclose(profile["p_zero_dropout"], d, rtol=1e-12)
    np.testing.assert_allclose(profile["p_zero_counts"], c, rtol=1e-12)


def test_gene_profile_p_zero_is_sum_of_parts(profile):
    np.testing.assert_allclose(profile["p_zero"], profile["p_zero_dropout"] + profile["p_zero_counts"], rtol=1e-12)
    assert profile["p_zero"].between(0, 1).all()
    # ZINB: the dropout part is the dropout probability.
    np.testing.assert_allclose(profile["p_zero_dropout"], profile["dropout"], rtol=1e-12)


def test_gene_profile_intervals_are_ordered_integers(profile):
    low, high = profile["interval_low"].to_numpy(), profile["interval_high"].to_numpy()
    assert np.all(low <= high)
    assert np.all(low >= 0)
    np.testing.assert_array_equal(low, np.round(low))
    np.testing.assert_array_equal(high, np.round(high))
    assert (high > 0).any()


def test_gene_profile_subset_equals_full_rows(ws, point, profile):
    genes = [ws.model.genes[i] for i in (500, 3, 0, 764, 42)]
    sub = profiles.gene_profile(ws.model, point, genes)
    assert list(sub.index) == genes
    assert list(sub.columns) == EXPECTED_COLUMNS
    pd.testing.assert_frame_equal(sub, profile.loc[genes], rtol=1e-5, atol=1e-9, check_exact=False)


def test_gene_profile_unknown_gene_raises(ws, point):
    with pytest.raises(scvi_viz.DecodeInputError, match="NOT_A_GENE"):
        profiles.gene_profile(ws.model, point, ["NOT_A_GENE"])


def test_top_genes_returns_largest_rates_in_order(profile):
    top = profiles.top_genes(profile, n=15)
    assert len(top) == 15
    assert top["rate"].is_monotonic_decreasing
    expected = np.sort(profile["rate"].to_numpy())[::-1][:15]
    np.testing.assert_array_equal(top["rate"].to_numpy(), expected)
    assert top.index[0] == profile["rate"].idxmax()
    by_dropout = profiles.top_genes(profile, n=5, by="dropout")
    np.testing.assert_array_equal(by_dropout["dropout"].to_numpy(), np.sort(profile["dropout"].to_numpy())[::-1][:5])


def test_changing_batch_changes_decode(ws, point):
    a = profiles.gene_profile(ws.model, point.with_covariate("batch", None, "G1"))
    b = profiles.gene_profile(ws.model, point.with_covariate("batch", None, "S"))
    assert not np.allclose(a["scale"], b["scale"])
    assert np.abs(np.log2(a["scale"] / b["scale"])).max() > 0.1


def test_compare_point_batch(ws, point):
    model = ws.model
    table = compare.compare_point(model, point, "batch", None, ["G1", "S"], min_counts=None)
    lfc = "log2FC [phase = S vs phase = G1]"
    for col in ("scale [phase = G1]", "rate [phase = G1]", "scale [phase = S]", "rate [phase = S]", lfc, "max_abs_log2FC"):
        assert col in table.columns
    assert table.attrs["reference"] == "phase = G1" and table.attrs["others"] == ["phase = S"]
    assert table.attrs["library_size"] == point.library_size
    assert sorted(table.index) == sorted(model.genes)
    assert table["ranked"].all() and table["max_abs_log2FC"].is_monotonic_decreasing

    kw = point.decode_kwargs()
    s_a = np64(model.decode(**{**kw, "batch": "G1"}).scale)[0]
    s_b = np64(model.decode(**{**kw, "batch": "S"}).scale)[0]
    r_b = np64(model.decode(**{**kw, "batch": "S"}).rate)[0]
    t = table.loc[model.genes]
    np.testing.assert_allclose(t["scale [phase = G1]"], s_a, rtol=1e-6)
    np.testing.assert_allclose(t["scale [phase = S]"], s_b, rtol=1e-6)
    np.testing.assert_allclose(t["rate [phase = S]"], r_b, rtol=1e-6)
    np.testing.assert_allclose(t[lfc], np.log2((s_b + 1e-6) / (s_a + 1e-6)), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(t["max_abs_log2FC"], np.abs(t[lfc]))


def test_compare_point_three_values_one_column_per_other_value(ws, point):
    table = compare.compare_point(ws.model, point, "batch", None, ["G2M", "G1", "S"], min_counts=None)
    assert table.attrs["reference"] == "phase = G2M" and table.attrs["others"] == ["phase = G1", "phase = S"]
    columns = ["log2FC [phase = G1 vs phase = G2M]", "log2FC [phase = S vs phase = G2M]"]
    assert [c for c in table.columns if c.startswith("log2FC")] == columns
    for column, value in zip(columns, ("G1", "S")):
        expected = compare.log2_fold_change(table["scale [phase = G2M]"], table[f"scale [phase = {value}]"])
        np.testing.assert_allclose(table[column], expected)
    # Sorted by the largest |log2FC| over the two other values, and the page says so.
    np.testing.assert_allclose(table["max_abs_log2FC"], table[columns].abs().max(axis=1))
    assert table["max_abs_log2FC"].is_monotonic_decreasing
    assert table.attrs["ranking"].startswith("sorted by largest |log2FC| over the values")
    # Either value can give a gene its rank.
    top = table.head(40)
    assert (top[columns[0]].abs() > top[columns[1]].abs()).any() and (top[columns[1]].abs() > top[columns[0]].abs()).any()


def test_min_expression_filter_ranks_only_expressed_genes(ws, point):
    every = compare.compare_point(ws.model, point, "batch", None, ["G1", "S", "G2M"], min_counts=None)
    table = compare.compare_point(ws.model, point, "batch", None, ["G1", "S", "G2M"])  # the default minimum
    assert table.attrs["min_counts"] == compare.MIN_EXPECTED_COUNTS == 0.1
    rates = table[["rate [phase = G1]", "rate [phase = S]", "rate [phase = G2M]"]].max(axis=1)
    np.testing.assert_array_equal(table["ranked"], rates >= 0.1)
    assert 0 < (~table["ranked"]).sum() < len(table)
    # Every gene is kept: ranked ones first by |log2FC|, then the others in the same order.
    assert sorted(table.index) == sorted(every.index)
    n = int(table["ranked"].sum())
    assert table["ranked"].iloc[:n].all() and not table["ranked"].iloc[n:].any()
    assert table["max_abs_log2FC"].iloc[:n].is_monotonic_decreasing
    assert table["max_abs_log2FC"].iloc[n:].is_monotonic_decreasing
    # Without the minimum, lowly expressed genes lead the ranking (the demo's point at 628 counts).
    assert (rates.loc[every.index[:20]] < 0.1).sum() >= 3
    assert (rates.loc[compare.top_ranked(table, 20).index] >= 0.1).all()
    assert f"{n} of 765 genes" in table.attrs["ranked_genes"]
    assert "≥ 0.1 expected counts at library size" in table.attrs["ranked_genes"]
    # Re-ranking with another minimum gives the table that minimum would have given.
    pd.testing.assert_frame_equal(compare.rank_genes(every, min_counts=0.5),
                                  compare.compare_point(ws.model, point, "batch", None, ["G1", "S", "G2M"], min_counts=0.5))


def test_value_labels_name_the_covariate_with_three_significant_digits():
    assert compare.value_labels("phase", ["G1", "S"], continuous=False) == ["phase = G1", "phase = S"]
    labels = compare.value_labels("percent_mito", [0.023972257412970068, 0.011790941189974547], continuous=True)
    assert labels == ["percent_mito = 0.024", "percent_mito = 0.0118"]
    # More digits only where three would make two values read the same.
    assert compare.value_labels("x", [0.10001, 0.10002], continuous=True) == ["x = 0.10001", "x = 0.10002"]
    assert compare.value_labels("x", [1234567.0, 2.0], continuous=True) == ["x = 1.23e+06", "x = 2"]


def test_compare_point_continuous(ws, point):
    table = compare.compare_point(ws.model, point, "continuous", "percent_mito", [0.0, 0.2])
    assert {"scale [percent_mito = 0]", "scale [percent_mito = 0.2]",
            "log2FC [percent_mito = 0.2 vs percent_mito = 0]"} <= set(table.columns)
    kw = point.decode_kwargs()
    s_hi = np64(ws.model.decode(**{**kw, "continuous": {"percent_mito": 0.2}}).scale)[0]
    np.testing.assert_allclose(table.loc[ws.model.genes, "scale [percent_mito = 0.2]"], s_hi, rtol=1e-6)


def test_compare_cells_equals_mean_of_per_cell_decodes(ws):
    model = ws.model
    cells = np.array([0, 5, 17, 40, 41, 99, 250, 699])
    latent, library = ws.latent[cells], ws.library[cells]
    cov = ws.covariates.rows(cells)
    table = compare.compare_cells(model, latent, library, cov, "batch", None, ["G1", "S"])
    assert table.attrs["library_size"] is None
    t = table.loc[model.genes]
    for value in ("G1", "S"):
        scales, rates = [], []
        for j, c in enumerate(cells):
            out = model.decode(
                latent[j],
                library_size=float(library[j]),
                batch=value,
                label=str(cov.label[j]),
                continuous={"percent_mito": float(cov.continuous["percent_mito"][j])},
            )
            scales.append(np64(out.scale)[0])
            rates.append(np64(out.rate)[0])
        np.testing.assert_allclose(t[f"scale [phase = {value}]"], np.mean(scales, axis=0), rtol=1e-5, atol=1e-12)
        np.testing.assert_allclose(t[f"rate [phase = {value}]"], np.mean(rates, axis=0), rtol=1e-5, atol=1e-9)
    # Same with one batched decode using per-row library and covariates.
    out = model.decode(latent, library_size=library, batch="S", label=cov.label, continuous=cov.continuous)
    np.testing.assert_allclose(t["rate [phase = S]"], np64(out.rate).mean(0), rtol=1e-5, atol=1e-9)
    # The cells' own batches are not what was compared: the result differs from decoding with them.
    own = model.decode(latent, library_size=library, batch=cov.batch, label=cov.label, continuous=cov.continuous)
    assert set(cov.batch) != {"S"}
    assert not np.allclose(t["rate [phase = S]"], np64(own.rate).mean(0), rtol=1e-3)
    assert "mean expected counts per cell" in table.attrs["ranked_genes"]


def test_compare_cells_continuous_overrides_every_cell(ws):
    model = ws.model
    cells = np.arange(10)
    cov = ws.covariates.rows(cells)
    table = compare.compare_cells(model, ws.latent[cells], ws.library[cells], cov, "continuous", "percent_mito", [0.0, 0.1])
    out = model.decode(ws.latent[cells], library_size=ws.library[cells], batch=cov.batch, label=cov.label,
                       continuous={"percent_mito": 0.1})
    np.testing.assert_allclose(table.loc[model.genes, "scale [percent_mito = 0.1]"], np64(out.scale).mean(0),
                               rtol=1e-5, atol=1e-12)
    # The caller's covariates are not modified.
    np.testing.assert_array_equal(cov.continuous["percent_mito"], ws.covariates.continuous["percent_mito"][cells])


def test_log2_fold_change():
    a, b = np.array([0.0, 1e-3, 0.5]), np.array([0.0, 4e-3, 0.25])
    np.testing.assert_allclose(compare.log2_fold_change(a, b), np.log2((b + 1e-6) / (a + 1e-6)))
    assert compare.log2_fold_change(a, b)[0] == 0.0


def test_gene_profile_poisson_model():
    model = scvi_viz.load_model(FIXTURES / "scvi_poisson", device="cpu")
    point = default_point(model, library_size=500.0)
    prof = profiles.gene_profile(model, point)
    assert prof["theta"].isna().all()
    assert (prof["dropout"] == 0).all()
    assert (prof["p_zero_dropout"] == 0).all()
    np.testing.assert_allclose(prof["p_zero"], np.exp(-prof["rate"]), rtol=1e-10)
    sub = profiles.gene_profile(model, point, list(model.genes[:3]))
    pd.testing.assert_frame_equal(sub, prof.iloc[:3], rtol=1e-5, check_exact=False)


def test_covariate_options_by_name(ws):
    options = compare.covariate_options(ws.model)
    assert list(options) == ["phase", "percent_mito"]
    assert options["phase"] == compare.CovariateChoice("batch", None, ["G1", "G2M", "S"], "phase (batch covariate)")
    assert options["percent_mito"] == compare.CovariateChoice("continuous", "percent_mito", None,
                                                              "percent_mito (continuous covariate)")
