"""Differential expression, posterior sampling and posterior predictive checks of the library.

The parity test against scvi-tools' own ``differential_expression(mode="change")`` needs
scvi-tools (``pytest.importorskip``); the rest runs on the committed demo and fixtures.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from scipy import stats

import scvi_viz
from scvi_viz import posterior
from scvi_viz.analysis import fit
from scvi_viz.errors import DataError, DecodeInputError
from scvi_viz.io.adata import model_inputs_from_adata
from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL

FIXTURES = Path(__file__).parent / "fixtures"
MODELS = FIXTURES / "models"
GROUPS = ("CD14+ Monocyte", "CD4+/CD45RA+/CD25- Naive T")


@pytest.fixture(scope="module")
def demo():
    return scvi_viz.load_model(DEMO_MODEL, device="cpu"), ad.read_h5ad(DEMO_DATA)


@pytest.fixture(scope="module")
def demo_cells(demo) -> fit.CellSet:
    """Every demo cell with its counts, library size and posterior."""
    model, adata = demo
    inputs = model_inputs_from_adata(model.spec, adata)
    mean, var = model.latent_posterior(adata)
    return fit.CellSet(inputs.counts, inputs.covariates, np.asarray(inputs.counts.sum(1)).ravel().astype(float), mean, var)


@pytest.fixture(scope="module")
def demo_de(demo):
    model, adata = demo
    return model.differential_expression(adata, groupby="bulk_labels", group1=GROUPS[0], group2=GROUPS[1])


# ------------------------------------------------------------------ the statistics
def test_fdr_calls_take_the_largest_top_set_under_the_target():
    proba = np.array([0.5, 0.99, 0.9, 0.97, 0.2])
    # sorted: 0.99, 0.97, 0.9, 0.5 -> expected FDR 0.01, 0.02, 0.0467, 0.16
    assert posterior.fdr_de_calls(proba, fdr=0.05).tolist() == [False, True, True, True, False]
    assert posterior.fdr_de_calls(proba, fdr=0.015).tolist() == [False, True, False, False, False]


def test_change_statistics_of_a_known_shift():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.01, 0.02, size=(4000, 3))
    shifted = base * np.array([4.0, 1.0, 0.5])  # log2 fold changes 2, 0, -1 (group 1 over 2)
    out = posterior.change_statistics(shifted, base, delta=0.25, pseudocounts=1e-9)
    assert out["lfc_mean"] == pytest.approx([2.0, 0.0, -1.0], abs=1e-3)
    assert out["proba_de"].tolist() == pytest.approx([1.0, 0.0, 1.0])
    assert out["bayes_factor"][0] > 10 and out["bayes_factor"][1] < -10
    assert out["delta"] == 0.25


def test_delta_none_is_estimated_from_the_genes():
    rng = np.random.default_rng(1)
    a = rng.uniform(0.01, 0.02, size=(500, 60))
    b = a * np.repeat([8.0, 1.0, 0.125], 20)
    out = posterior.change_statistics(a, b, delta=None, pseudocounts=1e-9)
    assert 0.1 <= out["delta"] <= 0.6 * 3.0 + 1e-6
    assert out["delta"] == posterior.change_statistics(a, b, delta=None, pseudocounts=1e-9)["delta"]


def test_pseudocounts_come_from_genes_a_group_does_not_express():
    scales = np.full((10, 4), 1e-3)
    scales[:, 0] = 0.5
    assert posterior.estimate_pseudocounts(scales, scales, np.array([False, True, True, True]),
                                           np.zeros(4, bool)) == pytest.approx(1e-3 / 4)
    assert posterior.estimate_pseudocounts(scales, scales, np.zeros(4, bool), np.zeros(4, bool)) == 1e-10


@pytest.mark.parametrize("likelihood", ["poisson", "nb", "zinb"])
def test_count_draws_have_the_likelihood_moments(likelihood):
    rng = np.random.default_rng(0)
    rate = np.full(200_000, 5.0)
    theta = None if likelihood == "poisson" else np.full_like(rate, 2.0)
    dropout = np.full_like(rate, 0.3) if likelihood == "zinb" else None
    x = posterior.sample_counts(rate, theta, dropout, rng)
    keep = 0.7 if dropout is not None else 1.0
    assert x.mean() == pytest.approx(5.0 * keep, rel=0.02)
    nb_var = 5.0 + (25.0 / 2.0 if theta is not None else 0.0)
    expected_var = keep * nb_var + keep * (1 - keep) * 25.0
    assert x.var() == pytest.approx(expected_var, rel=0.03)
    assert np.all(x == np.round(x)) and x.min() >= 0


# --------------------------------------------------------------- the model's methods
def test_de_table_has_scvi_tools_columns_and_order(demo_de):
    expected = ["proba_de", "proba_not_de", "bayes_factor", "scale1", "scale2", "pseudocounts", "delta", "lfc_mean",
                "lfc_median", "lfc_std", "lfc_min", "lfc_max", "raw_mean1", "raw_mean2", "non_zeros_proportion1",
                "non_zeros_proportion2", "raw_normalized_mean1", "raw_normalized_mean2", "is_de_fdr_0.05",
                "comparison", "group1", "group2"]
    assert list(demo_de.columns) == expected
    assert (np.diff(demo_de["proba_de"].to_numpy()) <= 0).all()
    assert demo_de["proba_not_de"].to_numpy() == pytest.approx(1 - demo_de["proba_de"].to_numpy())
    assert demo_de["comparison"].iloc[0] == f"{GROUPS[0]} vs {GROUPS[1]}"
    # Monocyte markers up in group 1, T-cell markers down.
    assert demo_de.loc["LYZ", "lfc_mean"] > 2 and demo_de.loc["LYZ", "is_de_fdr_0.05"]
    assert demo_de.loc["CD3D", "lfc_mean"] < -1


def test_de_is_deterministic_per_seed_and_groups_by_mask_or_name(demo, demo_de):
    model, adata = demo
    labels = adata.obs["bulk_labels"].astype(str).to_numpy()
    by_mask = model.differential_expression(adata, idx1=labels == GROUPS[0], idx2=np.flatnonzero(labels == GROUPS[1]))
    assert by_mask.drop(columns=[]).equals(demo_de.drop(columns=["comparison", "group1", "group2"]))
    other = model.differential_expression(adata, groupby="bulk_labels", group1=GROUPS[0], group2=GROUPS[1], seed=1)
    assert not other["lfc_mean"].equals(demo_de["lfc_mean"])
    assert stats.spearmanr(other["lfc_mean"], demo_de.loc[other.index, "lfc_mean"]).statistic > 0.99


def test_de_against_the_rest_and_batch_options(demo):
    model, adata = demo
    rest = model.differential_expression(adata, groupby="bulk_labels", group1=GROUPS[0], n_samples=1000)
    assert rest["group2"].iloc[0] == "Rest" and rest.attrs["n_cells2"] == adata.n_obs - rest.attrs["n_cells1"]
    corrected = model.differential_expression(adata, groupby="bulk_labels", group1=GROUPS[0], group2=GROUPS[1],
                                              batch_correction=True, n_samples=1500)
    assert corrected.attrs["batches"] == model.batches and corrected.attrs["n_samples"] == 1500
    fixed = model.differential_expression(adata, groupby="bulk_labels", group1=GROUPS[0], group2=GROUPS[1],
                                          batch=model.batches[1], n_samples=1000)
    assert fixed.attrs["batches"] == [model.batches[1]]


@pytest.mark.parametrize("kwargs, message", [
    ({"groupby": "bulk_labels", "group1": "no such cells"}, "No cell has"),
    ({"groupby": "nope", "group1": "x"}, "no column"),
    ({}, "Give groupby"),
    ({"idx1": np.zeros(700, bool)}, "selects no cells"),
    ({"groupby": "bulk_labels", "group1": GROUPS[0], "batch": "G1", "batch_correction": True}, "not both"),
    ({"groupby": "bulk_labels", "group1": GROUPS[0], "batch": "nope"}, "not one of the model's categories"),
])
def test_de_refuses_bad_groups_with_a_message(demo, kwargs, message):
    model, adata = demo
    with pytest.raises(DecodeInputError, match=message):
        model.differential_expression(adata, n_samples=100, **kwargs)


def test_latent_posterior_mean_is_encode(demo):
    model, adata = demo
    mean, var = model.latent_posterior(adata)
    assert mean == pytest.approx(model.encode(adata), abs=1e-6)
    assert var.shape == mean.shape and (var > 0).all()
    draws = model.sample_latent(mean[:3], var[:3], n_samples=4000, seed=0)
    assert draws.shape == (4000, 3, model.n_latent)
    assert draws.mean(0) == pytest.approx(mean[:3], abs=float(0.05 + 4 * np.sqrt(var[:3].max() / 4000)))


def test_ln_models_sample_on_the_simplex():
    model = scvi_viz.load_model(MODELS / "scvi_ln", device="cpu")
    adata = ad.read_h5ad(FIXTURES / "adata.h5ad")
    mean, var = model.latent_posterior(adata)
    assert mean == pytest.approx(np.load(MODELS / "scvi_ln" / "reference.npz")["latent_qz_mean"], abs=1e-5)
    z = model.sample_latent(mean, var, n_samples=2, seed=0)
    assert z.sum(-1) == pytest.approx(np.ones((2, adata.n_obs)), abs=1e-5) and (z > 0).all()


def test_minified_data_give_their_stored_posterior(demo):
    folder = Path(__file__).parent / "fixtures" / "minified" / "scvi_1.4"  # minified and saved by scvi-tools
    model, mini = scvi_viz.load_model(folder, device="cpu"), ad.read_h5ad(folder / "adata.h5ad")
    reference = np.load(folder / "reference.npz")
    mean, var = model.latent_posterior(mini)
    np.testing.assert_array_equal(mean, reference["qzm"])
    np.testing.assert_array_equal(var, reference["qzv"])
    with pytest.raises(DataError, match="minified"):
        model.differential_expression(mini, groupby="batch", group1="b0")
    # The demo model was saved before minifying: its registry does not say where a posterior would be.
    demo_model, adata = demo
    fake = adata.copy()
    fake.obsm["scvi_latent_qzm"] = np.ones((fake.n_obs, demo_model.n_latent))
    fake.uns["_scvi_adata_minify_type"] = "latent_posterior_parameters"
    with pytest.raises(DataError, match="saved before minify_adata"):
        demo_model.latent_posterior(fake)


def test_posterior_predictive_sample_shape_seed_and_mean(demo):
    model, adata = demo
    a = model.posterior_predictive_sample(adata, indices=[0, 5, 9], n_samples=3, seed=0)
    assert a.shape == (3, model.n_genes, 3) and a.dtype == np.float32
    assert np.array_equal(a, model.posterior_predictive_sample(adata, indices=[0, 5, 9], n_samples=3, seed=0))
    assert not np.array_equal(a, model.posterior_predictive_sample(adata, indices=[0, 5, 9], n_samples=3, seed=1))
    many = model.posterior_predictive_sample(adata, indices=[7], n_samples=400, seed=0)[0]
    observed = model_inputs_from_adata(model.spec, adata).counts[7]
    total = np.asarray(observed.sum())
    assert many.sum(0).mean() == pytest.approx(float(total), rel=0.15)  # drawn at the cell's own library size


def test_predictive_check_of_the_demo_fits_and_is_calibrated(demo, demo_cells):
    check = fit.posterior_predictive_check(demo[0], demo_cells, n_draws=10, max_cells=300)
    assert check.n_cells == 300 and check.summary.loc["mean", "spearman"] > 0.95
    assert np.abs(check.calibration["observed"] - check.calibration.index).max() < 0.1
    assert {"inside_50", "inside_90"} <= set(check.genes.columns)


def test_coverage_is_uniform_for_draws_from_the_same_distribution():
    rng = np.random.default_rng(0)
    observed = rng.poisson(0.3, size=(2000, 5)).astype(float)  # mostly zeros: ties everywhere
    draws = rng.poisson(0.3, size=(2000, 5, 19)).astype(float)
    inside = fit.central_interval_coverage(observed, draws, (0.5, 0.9), rng)
    assert inside.mean((1, 2)) == pytest.approx([0.5, 0.9], abs=0.02)


# -------------------------------------------------------------- parity with scvi-tools
def _scvi_de(scvi, cls, adata, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scvi.settings.seed = 0
        return cls.differential_expression(mode="change", silent=True, **kwargs)


def test_lfc_ranks_agree_with_scvi_tools_on_the_demo(demo, demo_de):
    scvi = pytest.importorskip("scvi")
    model, adata = demo
    reference = scvi.model.SCVI.load(str(DEMO_MODEL), adata=adata.copy(), accelerator="cpu")
    theirs = _scvi_de(scvi, reference, adata, groupby="bulk_labels", group1=GROUPS[0], group2=GROUPS[1])
    assert stats.spearmanr(demo_de["lfc_mean"], theirs.loc[demo_de.index, "lfc_mean"]).statistic >= 0.9
    assert stats.spearmanr(demo_de["proba_de"], theirs.loc[demo_de.index, "proba_de"]).statistic >= 0.9
    assert set(theirs.columns) == set(demo_de.columns)


@pytest.mark.parametrize("name", ["scvi_default", "scvi_covariates", "scvi_gene_batch_nb", "scvi_ln", "scvi_poisson",
                                  "scvi_size_factor", "scanvi"])
def test_lfc_ranks_agree_with_scvi_tools_on_fixture_models(name):
    scvi = pytest.importorskip("scvi")
    config = json.loads((MODELS / name / "config.json").read_text())
    adata = ad.read_h5ad(FIXTURES / "adata.h5ad")
    cls = getattr(scvi.model, config["model_class"])
    theirs_adata = adata.copy()
    cls.setup_anndata(theirs_adata, **config["setup_anndata"])
    reference = cls.load(str(MODELS / name), adata=theirs_adata, accelerator="cpu")
    # These models trained for two epochs: their fold changes are small, so both sides use
    # more samples than the default to rank them above Monte Carlo noise.
    theirs = _scvi_de(scvi, reference, theirs_adata, groupby="label", group1="A", group2="B", n_samples_overall=20000)
    ours = scvi_viz.load_model(MODELS / name, device="cpu").differential_expression(
        adata, groupby="label", group1="A", group2="B", n_samples=20000)
    assert stats.spearmanr(ours["lfc_mean"], theirs.loc[ours.index, "lfc_mean"]).statistic >= 0.9


def test_gene_moments_added_in_chunks_equal_numpy():
    counts = np.random.default_rng(0).poisson(1.0, size=(3, 50, 7)).astype(float)
    moments = fit.GeneMoments()
    moments.add(counts[:, :20])
    moments.add(counts[:, 20:])
    got = moments.statistics()
    assert got["mean"] == pytest.approx(counts.mean(1))
    assert got["cv"] == pytest.approx(counts.std(1) / counts.mean(1))
    assert got["zero_fraction"] == pytest.approx((counts == 0).mean(1))


def test_predictive_check_in_small_chunks(demo, demo_cells, monkeypatch):
    monkeypatch.setattr(fit, "CHUNK_VALUES", demo[0].n_genes * 5 * 7)  # 7 cells per chunk
    check = fit.posterior_predictive_check(demo[0], demo_cells, n_draws=5, max_cells=100)
    assert check.n_cells == 100 and check.summary.loc["mean", "spearman"] > 0.9
    assert check.genes["observed_mean"].to_numpy() == pytest.approx(
        np.asarray(demo_cells.counts[np.sort(np.random.default_rng(0).choice(700, 100, replace=False))].mean(0)).ravel())
