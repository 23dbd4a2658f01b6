"""Every analysis entry point checks its arguments (``scvi_viz.model.inputs``) before it computes.

Each bad value is refused with a ``DecodeInputError`` (a ``ScviVizError``, which the app shows
as a message) naming the argument, never a NaN result, a raw error or a huge allocation.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

import scvi_viz
from scvi_viz.analysis import trajectory
from scvi_viz.errors import DecodeInputError, ScviVizError
from scvi_viz.io.adata import model_inputs_from_adata
from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL


@pytest.fixture(scope="module")
def demo():
    model = scvi_viz.load_model(DEMO_MODEL, device="cpu")
    adata = ad.read_h5ad(DEMO_DATA)[:60].copy()
    return model, adata


@pytest.fixture(scope="module")
def demo_cells(demo):
    model, adata = demo
    return model_inputs_from_adata(model.spec, adata)


def de(model, cells, **kwargs):
    return model.differential_expression_counts(cells.counts, cells.covariates, np.arange(30), np.arange(30, 60),
                                                n_samples=kwargs.pop("n_samples", 50), **kwargs)


@pytest.mark.parametrize(("kwargs", "names"), [
    ({"delta": float("nan")}, "delta"),
    ({"delta": float("inf")}, "delta"),
    ({"delta": -1.0}, "delta"),
    ({"delta": "0.25"}, "delta"),
    ({"fdr_target": 2.0}, "fdr_target"),
    ({"fdr_target": -0.1}, "fdr_target"),
    ({"fdr_target": float("nan")}, "fdr_target"),
    ({"fdr_target": 0.0}, "fdr_target"),
    ({"n_samples": 10**9}, "n_samples"),
    ({"n_samples": 0}, "n_samples"),
    ({"n_samples": 2.5}, "n_samples"),
    ({"seed": -1}, "seed"),
    ({"seed": "1"}, "seed"),
])
def test_differential_expression_refuses_bad_arguments(demo, demo_cells, kwargs, names):
    model, _ = demo
    with pytest.raises(DecodeInputError, match=names):
        de(model, demo_cells, **kwargs)


def test_differential_expression_accepts_the_documented_ranges(demo, demo_cells):
    model, _ = demo
    table = de(model, demo_cells, delta=0.0, fdr_target=0.5, seed=np.int64(3))
    assert table["proba_de"].notna().all() and "is_de_fdr_0.5" in table


def test_sizes_are_capped_before_anything_is_drawn(demo, demo_cells):
    model, _ = demo
    qz = np.zeros((5, model.n_latent)), np.ones((5, model.n_latent))
    with pytest.raises(DecodeInputError, match="draw fewer"):
        model.sample_latent(*qz, n_samples=10**8)
    with pytest.raises(DecodeInputError, match="GB"):
        model.posterior_predictive_counts(demo_cells.counts[:5], demo_cells.covariates.rows(slice(0, 5)), 1e4,
                                          n_samples=10**6)


def test_encode_refuses_what_is_not_an_anndata(demo):
    model, _ = demo
    for bad in ("a string", 3, None, np.zeros((3, model.n_genes))):
        with pytest.raises(DecodeInputError, match="must be an AnnData"):
            model.encode(bad)
        with pytest.raises(DecodeInputError, match="must be an AnnData"):
            model.latent_posterior(bad)


def test_nan_counts_are_refused_by_the_encoder(demo, demo_cells):
    model, _ = demo
    counts = np.asarray(demo_cells.counts[:4].toarray() if hasattr(demo_cells.counts, "toarray") else demo_cells.counts[:4],
                        dtype=np.float32)
    counts[1, 3] = np.nan
    with pytest.raises(DecodeInputError, match="counts must be finite"):
        model.encode_counts(counts, demo_cells.covariates.rows(slice(0, 4)))


def test_sample_latent_checks_shapes_and_variances(demo):
    model, _ = demo
    mean = np.zeros((3, model.n_latent))
    with pytest.raises(DecodeInputError, match="shape"):
        model.sample_latent(mean, np.ones((3, model.n_latent + 1)))
    with pytest.raises(DecodeInputError, match="negative"):
        model.sample_latent(mean, -np.ones_like(mean))
    with pytest.raises(DecodeInputError, match="finite"):
        model.sample_latent(mean + np.nan, np.ones_like(mean))
    draws = model.sample_latent(mean, np.ones_like(mean), n_samples=2, seed=np.random.default_rng(1))
    assert draws.shape == (2, 3, model.n_latent) and np.isfinite(draws).all()


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_paths_refuse_non_finite_endpoints(bad):
    start, end = np.zeros(4), np.ones(4)
    end[2] = bad
    with pytest.raises(ScviVizError, match="end"):
        trajectory.latent_path(start, end)


@pytest.mark.parametrize("steps", [10**7, 1, 2.0, "50"])
def test_paths_refuse_bad_step_counts(steps):
    with pytest.raises(DecodeInputError, match="n_steps"):
        trajectory.latent_path(np.zeros(4), np.ones(4), n_steps=steps)


def test_paths_refuse_endpoints_of_different_lengths():
    with pytest.raises(DecodeInputError, match="same length"):
        trajectory.latent_path(np.zeros(4), np.ones(5))


def test_the_knn_graph_refuses_bad_neighbours_and_nan_points():
    latent = np.random.default_rng(0).normal(size=(20, 3))
    for k in (0, -3, 1.5):
        with pytest.raises(DecodeInputError, match="n_neighbors"):
            trajectory.LatentGraph.build(latent, n_neighbors=k)
    latent[4, 1] = np.nan
    with pytest.raises(DecodeInputError, match="finite"):
        trajectory.LatentGraph.build(latent)
