"""Decoding and encoding match scvi-tools on real saved models (fixtures, no scvi-tools needed).

The fixtures are built by ``scripts/build_fixtures.py``: each model directory holds the
model, ``config.json`` (how it was set up) and ``reference.npz`` (random decoder inputs and
the outputs of scvi-tools' ``module.generative`` for them, plus the latent representation of
``tests/fixtures/adata.h5ad``). ``scripts/build_release_fixtures.py`` writes the same files
under ``tests/fixtures/releases/<major.minor>/`` for models saved by each release line, whose
tests have ids such as ``1.2/scvi_default``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import anndata
import numpy as np
import pytest
import torch

import scvi_viz


FIXTURES = Path(__file__).parent / "fixtures"
MODEL_DIRS = sorted(p for p in (FIXTURES / "models").iterdir() if (p / "model.pt").is_file())
NAMES = [p.name for p in MODEL_DIRS]
RELEASE_DIRS = sorted(p for p in (FIXTURES / "releases").glob("*/*") if (p / "model.pt").is_file())
RELEASE_NAMES = [f"{p.parent.name}/{p.name}" for p in RELEASE_DIRS]
RELEASE_LINES = ("1.2", "1.3", "1.4", "1.5")
RELEASE_MODELS = {"scvi_default", "scvi_covariates_gene_batch_ln", "scanvi"}
ALL_NAMES = NAMES + RELEASE_NAMES

OUTPUTS = {"scale": "px_scale", "rate": "px_mu", "theta": "px_theta", "dropout_logits": "px_zi_logits"}


def assert_close(actual, expected, rtol=1e-5):
    actual = torch.as_tensor(np.asarray(actual) if not isinstance(actual, torch.Tensor) else actual).cpu()
    expected = torch.as_tensor(np.asarray(expected))
    assert actual.shape == expected.shape
    atol = 1e-7 * max(float(expected.abs().max()), 1e-12)
    torch.testing.assert_close(actual.to(torch.float64), expected.to(torch.float64), rtol=rtol, atol=atol)


@cache
def fixture(name: str):
    """A model of ``models/`` by its name, or of ``releases/`` as ``<major.minor>/<name>``."""
    path = FIXTURES / ("releases" if "/" in name else "models") / name
    config = json.loads((path / "config.json").read_text())
    with np.load(path / "reference.npz") as ref:
        reference = {k: ref[k] for k in ref.files}
    return scvi_viz.load_model(path, device="cpu"), config, reference


@cache
def adata() -> anndata.AnnData:
    return anndata.read_h5ad(FIXTURES / "adata.h5ad")


def decode_args(config: dict, ref: dict) -> dict:
    """``decode`` keyword arguments equal to the reference's ``generative`` inputs."""
    setup = config["setup_anndata"]
    if "size_factor" in ref:
        library = ref["size_factor"][:, 0]
    else:
        library = np.exp(ref["library"][:, 0].astype(np.float64))
    cat_keys = setup.get("categorical_covariate_keys") or []
    cont_keys = setup.get("continuous_covariate_keys") or []
    return {
        "library_size": library,
        "batch": ref["batch_index"][:, 0],
        "label": ref["y"][:, 0],
        "categorical": {k: ref["cat_covs"][:, i] for i, k in enumerate(cat_keys)},
        "continuous": {k: ref["cont_covs"][:, i] for i, k in enumerate(cont_keys)},
    }


def test_fixtures_cover_every_decoding_option():
    configs = [fixture(n)[1] for n in NAMES]
    kwargs = [c["model_kwargs"] for c in configs]
    setups = [c["setup_anndata"] for c in configs]
    assert {k.get("dispersion", "gene") for k in kwargs} >= {"gene", "gene-batch", "gene-label", "gene-cell"}
    assert {k.get("gene_likelihood", "zinb") for k in kwargs} >= {"zinb", "nb", "poisson"}
    assert {(k.get("n_layers", 1), k.get("deeply_inject_covariates", True)) for k in kwargs} >= {(2, True), (2, False)}
    norms = {(k.get("use_batch_norm", "both"), k.get("use_layer_norm", "none")) for k in kwargs}
    assert {bn for bn, _ in norms} >= {"none", "encoder", "decoder", "both"}
    assert {ln for _, ln in norms} >= {"none", "encoder", "decoder", "both"}
    assert any(k.get("batch_representation") == "embedding" for k in kwargs)
    assert any(k.get("latent_distribution") == "ln" for k in kwargs)
    assert any(k.get("encode_covariates") for k in kwargs)
    assert any(k.get("use_observed_lib_size") is False for k in kwargs)
    assert any(s.get("size_factor_key") for s in setups)
    assert any("batch_key" not in s for s in setups)
    assert {c["model_class"] for c in configs} == {"SCVI", "SCANVI"}


def test_release_fixtures_cover_each_release_line():
    """Models saved by every supported scvi-tools release line are checked, not only one."""
    lines = {name.split("/")[0] for name in RELEASE_NAMES}
    assert lines >= set(RELEASE_LINES)
    for line in RELEASE_LINES:
        assert {n.split("/")[1] for n in RELEASE_NAMES if n.startswith(f"{line}/")} >= RELEASE_MODELS
    for name in RELEASE_NAMES:
        line = name.split("/")[0]
        assert fixture(name)[1]["scvi_version"].startswith(f"{line}."), name
    kwargs = {n: fixture(n)[1]["model_kwargs"] for n in RELEASE_NAMES}
    assert any(k.get("use_layer_norm") == "both" and k.get("dispersion") == "gene-batch" for k in kwargs.values())
    assert {fixture(n)[1]["model_class"] for n in RELEASE_NAMES} == {"SCVI", "SCANVI"}


@pytest.mark.parametrize("name", ALL_NAMES)
def test_attributes_match_setup(name):
    model, config, _ = fixture(name)
    setup, kwargs = config["setup_anndata"], config["model_kwargs"]
    obs = adata().obs
    assert model.model_name == config["model_class"]
    assert model.scvi_version == config["scvi_version"]
    assert model.genes == list(adata().var_names)
    assert model.n_latent == kwargs["n_latent"]
    assert model.spec.n_hidden == kwargs["n_hidden"]
    assert model.spec.n_layers == kwargs.get("n_layers", 1)
    assert model.dispersion == kwargs.get("dispersion", "gene")
    assert model.gene_likelihood == kwargs.get("gene_likelihood", "zinb")
    assert model.latent_distribution == kwargs.get("latent_distribution", "normal")
    assert model.spec.batch_representation == kwargs.get("batch_representation", "one-hot")
    assert model.spec.encode_covariates == kwargs.get("encode_covariates", False)
    assert model.spec.use_observed_lib_size == kwargs.get("use_observed_lib_size", True)
    assert model.spec.size_factor_key == setup.get("size_factor_key")
    bn = kwargs.get("use_batch_norm", "both")
    ln = kwargs.get("use_layer_norm", "none")
    assert model.spec.use_batch_norm_decoder == (bn in ("decoder", "both"))
    assert model.spec.use_batch_norm_encoder == (bn in ("encoder", "both"))
    assert model.spec.use_layer_norm_decoder == (ln in ("decoder", "both"))
    assert model.spec.use_layer_norm_encoder == (ln in ("encoder", "both"))
    if kwargs.get("n_layers", 1) > 1:
        assert model.spec.deeply_inject_covariates == kwargs.get("deeply_inject_covariates", True)

    assert model.batch_key == setup.get("batch_key")
    if setup.get("batch_key"):
        assert model.batches == list(obs[setup["batch_key"]].cat.categories)
    else:
        assert len(model.batches) == 1
    assert model.labels_key == setup.get("labels_key")
    if setup.get("labels_key"):
        assert model.labels == list(obs[setup["labels_key"]].cat.categories)
        assert setup.get("unlabeled_category", "Unknown") not in model.labels
    else:
        assert len(model.labels) == 1
    cat_keys = setup.get("categorical_covariate_keys") or []
    assert model.categorical_covariates == {k: list(obs[k].cat.categories) for k in cat_keys}
    assert list(model.categorical_covariates) == cat_keys  # setup order
    assert model.continuous_covariates == (setup.get("continuous_covariate_keys") or [])
    assert len(model.file_sha256) == 64


@pytest.mark.parametrize("name", ALL_NAMES)
def test_decode_matches_scvi_tools(name):
    model, config, ref = fixture(name)
    out = model.decode(ref["z"], **decode_args(config, ref))
    for attr, key in OUTPUTS.items():
        value = getattr(out, attr)
        if key in ref:
            assert value is not None, attr
            assert_close(value, ref[key])
        else:
            assert value is None, attr
    if out.dropout_logits is not None:
        assert_close(out.dropout, torch.sigmoid(torch.as_tensor(ref["px_zi_logits"])))
    if not model.spec.uses_size_factor:
        assert_close(out.scale.sum(1), np.ones(ref["z"].shape[0]))


@pytest.mark.parametrize("name", ALL_NAMES)
def test_decode_with_category_names(name):
    """Names and indices of batches, labels and categories decode identically."""
    model, config, ref = fixture(name)
    args = decode_args(config, ref)
    named = dict(args)
    named["batch"] = [model.batches[i] for i in args["batch"]]
    named["label"] = [model.labels[i] for i in args["label"]]
    named["categorical"] = {
        k: [model.categorical_covariates[k][i] for i in v] for k, v in args["categorical"].items()
    }
    out = model.decode(ref["z"], **named)
    assert_close(out.scale, ref["px_scale"])
    assert_close(out.rate, ref["px_mu"])
    if "px_theta" in ref:
        assert_close(out.theta, ref["px_theta"])


@pytest.mark.parametrize("name", NAMES)
def test_decode_in_chunks_equals_one_pass(name):
    model, config, ref = fixture(name)
    args = decode_args(config, ref)
    whole = model.decode(ref["z"], **args)
    chunked = model.decode(ref["z"], **args, chunk_size=3)
    for attr in OUTPUTS:
        if getattr(whole, attr) is not None:
            assert_close(getattr(chunked, attr), getattr(whole, attr))
    mean = model.decode_mean(ref["z"], **args, chunk_size=3)
    assert_close(mean["scale"], whole.scale.double().mean(0))
    assert_close(mean["rate"], whole.rate.double().mean(0))


@pytest.mark.parametrize("name", NAMES)
def test_decode_genes_equals_decode_columns(name):
    model, config, ref = fixture(name)
    args = decode_args(config, ref)
    full = model.decode(ref["z"], **args)
    genes = [model.genes[i] for i in (7, 0, 39, 7, 12)]  # any order, repeats allowed
    idx = [7, 0, 39, 7, 12]
    for factor in (1.0, 3.0):
        # The second pass hits the hidden-layer cache with a different library size.
        part = model.decode_genes(ref["z"], genes, **{**args, "library_size": args["library_size"] * factor})
        assert_close(part.scale, full.scale[:, idx])
        assert_close(part.rate, full.rate[:, idx] * factor)
        for attr in ("theta", "dropout_logits"):
            expected = getattr(full, attr)
            if expected is None:
                assert getattr(part, attr) is None
            else:
                assert_close(getattr(part, attr), expected[:, idx])


def test_decode_genes_cache_tracks_covariates():
    """A cached hidden layer for one batch is not reused for another."""
    model, config, ref = fixture("scvi_covariates")
    z = ref["z"]
    genes = model.genes[:3]
    for batch in ("b0", "b2", "b0"):
        for cat1 in ("x", "z"):
            part = model.decode_genes(z, genes, batch=batch, categorical={"cat1": cat1}, continuous={"cont1": 0.5})
            full = model.decode(z, batch=batch, categorical={"cat1": cat1}, continuous={"cont1": 0.5})
            assert_close(part.scale, full.scale[:, :3])
    b0 = model.decode(z, batch="b0").scale
    b2 = model.decode(z, batch="b2").scale
    assert not torch.allclose(b0, b2)


def test_gene_names_select_columns():
    model, _, ref = fixture("scvi_default")
    assert model.gene_indices(["gene_05", "gene_01"]) == [5, 1]
    out = model.decode_genes(ref["z"], ["gene_05"])
    full = model.decode(ref["z"])
    assert out.scale.shape == (ref["z"].shape[0], 1)
    assert_close(out.scale[:, 0], full.scale[:, 5])


@pytest.mark.parametrize("name", ALL_NAMES)
def test_encode_matches_scvi_tools(name):
    model, _, ref = fixture(name)
    latent = model.encode(adata())
    assert latent.dtype == np.float32
    assert latent.shape == (adata().n_obs, model.n_latent)
    if model.latent_distribution == "ln":
        expected = torch.softmax(torch.as_tensor(ref["latent_qz_mean"]), dim=-1)
        assert_close(latent, expected)
        np.testing.assert_allclose(latent.sum(1), 1.0, rtol=1e-5)
        # scvi-tools' default is a Monte Carlo mean of softmax(samples): close, not equal.
        np.testing.assert_allclose(latent, ref["latent"], atol=0.25)
    else:
        assert_close(latent, ref["latent"])


@pytest.mark.parametrize("name", ["scvi_default", "scvi_encode_covariates", "scvi_embedding_encode_covariates", "scanvi"])
def test_encode_in_blocks_equals_one_pass(name):
    model, _, _ = fixture(name)
    assert_close(model.encode(adata(), batch_size=7), model.encode(adata()))


def test_encode_dense_counts_equals_sparse():
    model, _, ref = fixture("scvi_covariates")
    dense = adata().copy()
    dense.X = dense.X.toarray()
    assert_close(model.encode(dense), ref["latent"])


def test_decode_of_encoded_cells_depends_on_batch():
    """Round trip: encoded cells decode to positive rates summing to the library size."""
    model, _, _ = fixture("scvi_default")
    z = model.encode(adata()[:10])
    out = model.decode(z, library_size=1000.0, batch=adata().obs["batch"].to_numpy()[:10])
    assert torch.all(out.rate > 0)
    assert_close(out.rate.sum(1), np.full(10, 1000.0))
