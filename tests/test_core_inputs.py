"""Arguments of ``decode``/``decode_genes``/``encode``: clear errors, broadcasting, gene order."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import anndata
import numpy as np
import pytest
import torch

from scvi_viz import DataError, DecodeInputError, ScviVizError, load_model


FIXTURES = Path(__file__).parent / "fixtures"


@cache
def model(name: str = "scvi_covariates"):
    """SCVI with batch, categorical (cat1, cat2) and continuous (cont1, cont2) covariates."""
    return load_model(FIXTURES / "models" / name, device="cpu")


@cache
def _adata() -> anndata.AnnData:
    return anndata.read_h5ad(FIXTURES / "adata.h5ad")


@pytest.fixture
def adata() -> anndata.AnnData:
    return _adata().copy()


def z(n: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, model().n_latent)).astype(np.float32)


def same(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, rtol=1e-6, atol=0)


def test_errors_are_value_errors():
    assert issubclass(DecodeInputError, ScviVizError) and issubclass(DecodeInputError, ValueError)
    assert issubclass(DataError, ScviVizError)


# ------------------------------------------------------------------ decode errors
@pytest.mark.parametrize(
    "bad_z",
    [np.zeros((5, 3)), np.zeros((5, 5)), np.zeros((2, 5, 4)), np.zeros(3), np.zeros((0, 4, 1))],
    ids=["too_few_dims", "too_many_dims", "3d", "1d_wrong_length", "empty_3d"],
)
def test_wrong_z_shape(bad_z):
    with pytest.raises(DecodeInputError, match=r"z must have shape \(n, 4\)"):
        model().decode(bad_z)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_z(bad):
    values = z()
    values[2, 1] = bad
    with pytest.raises(DecodeInputError, match="NaN or infinite"):
        model().decode(values)
    with pytest.raises(DecodeInputError, match="NaN or infinite"):
        model().decode_genes(values, ["gene_00"])


def test_unknown_batch_name_lists_categories():
    with pytest.raises(DecodeInputError, match=r"batch 'b9'.*'b0', 'b1', 'b2'"):
        model().decode(z(), batch="b9")
    with pytest.raises(DecodeInputError, match="'b9'"):
        model().decode(z(), batch=["b0", "b1", "b9", "b0", "b0"])


@pytest.mark.parametrize("index", [3, -1, 100])
def test_out_of_range_batch_index(index):
    with pytest.raises(DecodeInputError, match="out of range"):
        model().decode(z(), batch=index)


def test_out_of_range_category_and_label():
    with pytest.raises(DecodeInputError, match="cat2"):
        model().decode(z(), categorical={"cat2": 2})
    with pytest.raises(DecodeInputError, match="label"):
        model().decode(z(), label=1)  # the model has a single (dummy) label
    with pytest.raises(DecodeInputError, match="'w'"):
        model().decode(z(), categorical={"cat1": "w"})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch": ["b0", "b1"]},
        {"label": [0, 0, 0]},
        {"library_size": [1e3, 2e3]},
        {"categorical": {"cat1": ["x"] * 4}},
        {"continuous": {"cont1": np.zeros(6)}},
    ],
    ids=["batch", "label", "library_size", "categorical", "continuous"],
)
def test_wrong_per_row_length(kwargs):
    with pytest.raises(DecodeInputError, match="z has 5 rows"):
        model().decode(z(5), **kwargs)


def test_unknown_covariate_names():
    with pytest.raises(DecodeInputError, match=r"Unknown categorical covariate\(s\) \['cat3'\].*'cat1', 'cat2'"):
        model().decode(z(), categorical={"cat3": "x"})
    with pytest.raises(DecodeInputError, match=r"Unknown continuous covariate\(s\) \['cont9'\]"):
        model().decode(z(), continuous={"cont1": 1.0, "cont9": 1.0})
    with pytest.raises(DecodeInputError, match="continuous"):
        model().decode(z(), continuous={"cat1": 1.0})  # a categorical name given as continuous
    with pytest.raises(DecodeInputError, match="none"):
        model("scvi_default").decode(z(), categorical={"cat1": "x"})


def test_non_finite_continuous_covariate():
    with pytest.raises(DecodeInputError, match="finite"):
        model().decode(z(), continuous={"cont2": [0, 1, np.nan, 2, 3]})


@pytest.mark.parametrize("library", [0, -5.0, np.nan, np.inf, [1e3, 1e3, 0, 1e3, 1e3]])
def test_non_positive_library(library):
    with pytest.raises(DecodeInputError, match="library_size must be positive"):
        model().decode(z(), library_size=library)
    with pytest.raises(DecodeInputError, match="library_size must be positive"):
        model().decode_genes(z(), ["gene_01"], library_size=library)


def test_unknown_gene_names():
    with pytest.raises(DecodeInputError, match="not_a_gene"):
        model().decode_genes(z(), ["gene_00", "not_a_gene"])
    with pytest.raises(DecodeInputError, match="2 gene"):
        model().gene_indices(["nope1", "gene_03", "nope2"])


def test_bad_input_leaves_model_usable():
    before = model().decode(z()).scale.clone()
    with pytest.raises(DecodeInputError):
        model().decode(z(), batch="b9")
    same(model().decode(z()).scale, before)


# ------------------------------------------------------------------ decode shapes and broadcasting
def test_one_dimensional_z_is_one_row():
    points = z(3)
    one = model().decode(points[1], batch="b1", library_size=500.0)
    rows = model().decode(points, batch="b1", library_size=500.0)
    assert one.scale.shape == (1, len(model().genes))
    same(one.scale[0], rows.scale[1])
    same(one.rate[0], rows.rate[1])
    same(one.dropout_logits[0], rows.dropout_logits[1])


def test_z_as_list_tensor_and_float64():
    points = z(3)
    ref = model().decode(points).scale
    same(model().decode(points.tolist()).scale, ref)
    same(model().decode(torch.as_tensor(points)).scale, ref)
    same(model().decode(points.astype(np.float64)).scale, ref)


def test_scalar_covariates_broadcast_like_per_row():
    points = z(5)
    scalar = model().decode(
        points, library_size=2e3, batch="b2", categorical={"cat1": "y", "cat2": "q"}, continuous={"cont1": 0.7}
    )
    per_row = model().decode(
        points,
        library_size=np.full(5, 2e3),
        batch=["b2"] * 5,
        categorical={"cat1": np.array(["y"] * 5), "cat2": [1] * 5},
        continuous={"cont1": [0.7] * 5, "cont2": np.zeros(5)},
    )
    by_index = model().decode(points, library_size=[2e3], batch=2, categorical={"cat1": 1, "cat2": "q"}, continuous={"cont1": 0.7})
    for out in (per_row, by_index):
        same(out.scale, scalar.scale)
        same(out.rate, scalar.rate)
        same(out.dropout_logits, scalar.dropout_logits)


def test_per_row_covariates_apply_to_their_row():
    points = z(4)
    batches = ["b0", "b1", "b2", "b1"]
    cat1 = ["z", "x", "y", "y"]
    cont2 = [0.0, 1.5, -2.0, 3.0]
    libs = [100.0, 200.0, 300.0, 400.0]
    mixed = model().decode(points, library_size=libs, batch=batches, categorical={"cat1": cat1}, continuous={"cont2": cont2})
    for i in range(4):
        single = model().decode(
            points[i], library_size=libs[i], batch=batches[i], categorical={"cat1": cat1[i]}, continuous={"cont2": cont2[i]}
        )
        same(mixed.scale[i], single.scale[0])
        same(mixed.rate[i], single.rate[0])
    torch.testing.assert_close(mixed.rate.sum(1), torch.tensor(libs), rtol=1e-5, atol=0)


def test_defaults_are_first_category_and_zero():
    points = z(3)
    default = model().decode(points)
    explicit = model().decode(points, library_size=1e4, batch="b0", categorical={"cat1": "x", "cat2": "p"}, continuous={"cont1": 0, "cont2": 0})
    same(default.scale, explicit.scale)
    same(default.rate, explicit.rate)


def test_covariates_change_the_output():
    points = z(3)
    base = model().decode(points).scale
    for kwargs in ({"batch": "b1"}, {"categorical": {"cat2": "q"}}, {"continuous": {"cont1": 2.0}}):
        assert not torch.allclose(model().decode(points, **kwargs).scale, base), kwargs


def test_gene_batch_theta_follows_batch():
    m = model("scvi_gene_batch_nb")
    out = m.decode(z(3), batch=["b0", "b2", "b0"])
    log_theta = m.spec.state_dict["px_r"]  # (genes, batches)
    same(out.theta[0], torch.exp(log_theta[:, 0]))
    same(out.theta[1], torch.exp(log_theta[:, 2]))
    assert out.dropout_logits is None


def test_gene_label_theta_follows_label():
    m = model("scvi_gene_label_zinb")
    assert m.labels == ["A", "B", "C"]
    out = m.decode(z(3), label=["C", "A", "B"])
    log_theta = m.spec.state_dict["px_r"]
    for row, col in enumerate([2, 0, 1]):
        same(out.theta[row], torch.exp(log_theta[:, col]))
    same(m.decode(z(3), label=[2, 0, 1]).theta, out.theta)


def test_size_factor_model_rate_is_size_factor_times_scale():
    m = model("scvi_size_factor")
    out = m.decode(z(2), library_size=[0.5, 2.0])
    same(out.rate, out.scale * torch.tensor([[0.5], [2.0]]))
    assert not torch.allclose(out.scale.sum(1), torch.ones(2))  # softplus, not softmax


def test_scanvi_labels_exclude_unlabeled():
    m = model("scanvi")
    assert "Unknown" not in m.labels
    with pytest.raises(DecodeInputError, match="Unknown"):
        m.decode(z(2), label="Unknown")


# ------------------------------------------------------------------ encode
def test_encode_missing_genes_lists_them(adata):
    keep = [g for g in adata.var_names if g not in ("gene_03", "gene_17")]
    with pytest.raises(DataError, match=r"2 of the model's 40 genes.*gene_03, gene_17"):
        model().encode(adata[:, keep])


@pytest.mark.parametrize("column", ["batch", "cat1", "cont2"])
def test_encode_missing_covariate_column(adata, column):
    del adata.obs[column]
    with pytest.raises(DataError, match=f"no obs column '{column}'"):
        model().encode(adata)


def test_encode_unknown_category_lists_it(adata):
    values = adata.obs["batch"].astype(str).to_numpy()
    values[[3, 7]] = "b_new"
    adata.obs["batch"] = values
    with pytest.raises(DataError, match=r"'batch' has categories the model never saw: b_new.*b0, b1, b2"):
        model().encode(adata)


def test_encode_nan_continuous_covariate(adata):
    adata.obs.loc[adata.obs_names[5], "cont1"] = np.nan
    with pytest.raises(DataError, match="cont1"):
        model().encode(adata)


def test_encode_shuffled_genes_equals_original(adata):
    reference = model("scvi_encode_covariates").encode(adata)
    order = np.random.default_rng(1).permutation(adata.n_vars)
    shuffled = adata[:, order].copy()
    assert list(shuffled.var_names) != list(adata.var_names)
    np.testing.assert_array_equal(model("scvi_encode_covariates").encode(shuffled), reference)
    dense = shuffled.copy()
    dense.X = dense.X.toarray()
    np.testing.assert_array_equal(model("scvi_encode_covariates").encode(dense), reference)


def test_encode_ignores_extra_genes_and_obs_order(adata):
    reference = model().encode(adata)
    extra = anndata.AnnData(
        X=np.hstack([adata.X.toarray(), np.ones((adata.n_obs, 2), np.float32)]),
        obs=adata.obs,
    )
    extra.var_names = [*adata.var_names, "extra_1", "extra_2"]
    np.testing.assert_array_equal(model().encode(extra), reference)
    rows = np.random.default_rng(2).permutation(adata.n_obs)
    np.testing.assert_array_equal(model().encode(adata[rows]), reference[rows])


def test_encode_string_covariates_equal_categorical(adata):
    reference = model().encode(adata)
    for column in ("batch", "cat1", "cat2"):
        adata.obs[column] = adata.obs[column].astype(str)
    np.testing.assert_array_equal(model().encode(adata), reference)


def test_encode_does_not_modify_adata(adata):
    before_x = adata.X.copy()
    before_obs = adata.obs.copy()
    model().encode(adata)
    assert (adata.X != before_x).nnz == 0
    assert adata.obs.equals(before_obs)


@pytest.mark.parametrize("call", [
    lambda m, z: m.decode(z, 1e4),
    lambda m, z: m.decode_mean(z, 1e4),
    lambda m, z: m.decode_genes(z, m.genes[:2], 1e4),
])
def test_everything_after_z_and_genes_is_keyword_only(call):
    m = model()
    with pytest.raises(TypeError, match="positional"):
        call(m, z(2))
