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
    table = compare.compare_point(model, point, "batch", None, ["G1", "S"])
    for col in ("scale [G1]", "rate [G1]", "scale [S]", "rate [S]", "log2FC", "abs_log2FC"):
        assert col in table.columns
    assert table.attrs["reference"] == "G1" and table.attrs["other"] == "S"
    assert table.attrs["library_size"] == point.library_size
    assert sorted(table.index) == sorted(model.genes)
    assert table["abs_log2FC"].is_monotonic_decreasing

    kw = point.decode_kwargs()
    s_a = np64(model.decode(**{**kw, "batch": "G1"}).scale)[0]
    s_b = np64(model.decode(**{**kw, "batch": "S"}).scale)[0]
    r_b = np64(model.decode(**{**kw, "batch": "S"}).rate)[0]
    t = table.loc[model.genes]
    np.testing.assert_allclose(t["scale [G1]"], s_a, rtol=1e-6)
    np.testing.assert_allclose(t["scale [S]"], s_b, rtol=1e-6)
    np.testing.assert_allclose(t["rate [S]"], r_b, rtol=1e-6)
    np.testing.assert_allclose(t["log2FC"], np.log2((s_b + 1e-6) / (s_a + 1e-6)), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(t["abs_log2FC"], np.abs(t["log2FC"]))


def test_compare_point_continuous(ws, point):
    table = compare.compare_point(ws.model, point, "continuous", "percent_mito", [0.0, 0.2])
    assert {"scale [0.0]", "scale [0.2]"} <= set(table.columns)
    kw = point.decode_kwargs()
    s_hi = np64(ws.model.decode(**{**kw, "continuous": {"percent_mito": 0.2}}).scale)[0]
    np.testing.assert_allclose(table.loc[ws.model.genes, "scale [0.2]"], s_hi, rtol=1e-6)


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
        np.testing.assert_allclose(t[f"scale [{value}]"], np.mean(scales, axis=0), rtol=1e-5, atol=1e-12)
        np.testing.assert_allclose(t[f"rate [{value}]"], np.mean(rates, axis=0), rtol=1e-5, atol=1e-9)
    # Same with one batched decode using per-row library and covariates.
    out = model.decode(latent, library_size=library, batch="S", label=cov.label, continuous=cov.continuous)
    np.testing.assert_allclose(t["rate [S]"], np64(out.rate).mean(0), rtol=1e-5, atol=1e-9)
    # The cells' own batches are not what was compared: the result differs from decoding with them.
    own = model.decode(latent, library_size=library, batch=cov.batch, label=cov.label, continuous=cov.continuous)
    assert set(cov.batch) != {"S"}
    assert not np.allclose(t["rate [S]"], np64(own.rate).mean(0), rtol=1e-3)


def test_compare_cells_continuous_overrides_every_cell(ws):
    model = ws.model
    cells = np.arange(10)
    cov = ws.covariates.rows(cells)
    table = compare.compare_cells(model, ws.latent[cells], ws.library[cells], cov, "continuous", "percent_mito", [0.0, 0.1])
    out = model.decode(ws.latent[cells], library_size=ws.library[cells], batch=cov.batch, label=cov.label,
                       continuous={"percent_mito": 0.1})
    np.testing.assert_allclose(table.loc[model.genes, "scale [0.1]"], np64(out.scale).mean(0), rtol=1e-5, atol=1e-12)
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
