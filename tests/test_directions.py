"""Sliders that mean something: the decoder's Jacobian (scvi_viz.model.jacobian), directions with names
(scvi_viz.analysis.directions) and what is characteristic of a point (scvi_viz.analysis.characteristic)."""

from __future__ import annotations

import copy
from pathlib import Path

import anndata
import numpy as np
import pandas as pd
import pytest
import torch

from scvi_viz import load_model
from scvi_viz.analysis import characteristic as ch
from scvi_viz.analysis import directions as dr
from scvi_viz.analysis.trajectory import OFF_DATA_RATIO
from scvi_viz.analysis.walk import DataDistance
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.errors import DecodeInputError
from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MODELS = sorted(p for p in (FIXTURES / "models").iterdir() if (p / "model.pt").is_file()) + \
    sorted(p for p in (FIXTURES / "releases").glob("*/*") if (p / "model.pt").is_file())
MONOCYTE, CD4 = "CD14+ Monocyte", "CD4+/CD45RA+/CD25- Naive T"


def covariates_of(model) -> dict:
    """Not the defaults: the last batch, label and category, and a continuous value of 0.7."""
    out: dict = {}
    if len(model.batches) > 1:
        out["batch"] = model.batches[-1]
    if len(model.labels) > 1:
        out["label"] = model.labels[-1]
    if model.categorical_covariates:
        out["categorical"] = {name: cats[-1] for name, cats in model.categorical_covariates.items()}
    if model.continuous_covariates:
        out["continuous"] = {name: 0.7 for name in model.continuous_covariates}
    return out


def log_scale_float64(model, decoder64, z: np.ndarray, covariates: dict) -> np.ndarray:
    """log px_scale of the rows of ``z`` through the model's own DecoderSCVI.forward, in float64."""
    inputs = model._inputs(z, **covariates)
    x = inputs.x.double()
    x[:, : model.n_latent] = torch.as_tensor(z, dtype=torch.float64)  # z itself, not its float32 rounding
    with torch.no_grad():
        scale = decoder64(model.dispersion, x, inputs.log_library.double(), *inputs.cats)[0]
    return torch.log(scale).numpy()


# ------------------------------------------------------------------------------- the Jacobian
@pytest.mark.parametrize("path", MODELS, ids=lambda p: "/".join(p.parts[-2:]))
def test_jacobian_equals_central_differences(path):
    model = load_model(path, device="cpu")
    decoder64 = copy.deepcopy(model.decoder).double()
    covariates = covariates_of(model)
    rng = np.random.default_rng(0)
    step = 1e-3
    for _ in range(2):
        # A point float32 holds exactly, so that the Jacobian (float32 inputs) and the differences share it.
        z = rng.normal(size=model.n_latent).astype(np.float32).astype(np.float64)
        # The float64 forward is the function decode computes (in float32).
        np.testing.assert_allclose(np.exp(log_scale_float64(model, decoder64, z[None], covariates))[0],
                                   model.decode(z, **covariates).scale.numpy()[0], rtol=2e-5, atol=1e-9)
        jacobian = model.log_scale_jacobian(z, **covariates)
        assert jacobian.shape == (model.n_genes, model.n_latent) and jacobian.dtype == np.float64
        eye = step * np.eye(model.n_latent)
        differences = (log_scale_float64(model, decoder64, z + eye, covariates)
                       - log_scale_float64(model, decoder64, z - eye, covariates)).T / (2 * step)
        np.testing.assert_allclose(jacobian, differences, rtol=1e-3, atol=1e-3 * np.abs(differences).max())
        genes = [model.genes[-1], model.genes[0]]
        np.testing.assert_allclose(model.log_scale_jacobian(z, genes=genes, **covariates), jacobian[[-1, 0]], rtol=1e-5,
                                   atol=1e-6 * np.abs(jacobian).max())  # float32 sums in another order


@pytest.fixture(scope="module")
def demo_model():
    return load_model(DEMO_MODEL, device="cpu")


@pytest.mark.parametrize("call, message", [
    (lambda m: m.log_scale_jacobian(np.full(m.n_latent, np.nan)), "NaN"),
    (lambda m: m.log_scale_jacobian(np.zeros(m.n_latent + 1)), "shape"),
    (lambda m: m.log_scale_jacobian(np.zeros((2, m.n_latent))), "one latent point"),
    (lambda m: m.log_scale_jacobian(np.zeros(m.n_latent), genes=["NOT_A_GENE"]), "not in the model"),
    (lambda m: m.log_scale_jacobian(np.zeros(m.n_latent), genes=[]), "empty"),
    (lambda m: m.log_scale_jacobian(np.zeros(m.n_latent), genes=3), "gene name"),
    (lambda m: m.log_scale_jacobian(np.zeros(m.n_latent), batch="M"), "categories"),
])
def test_jacobian_arguments_are_checked(demo_model, call, message):
    with pytest.raises(DecodeInputError, match=message):
        call(demo_model)


# ------------------------------------------------------------------------------- the demo
@pytest.fixture(scope="module")
def ws() -> Workspace:
    return Workspace.open(DEMO_MODEL, DEMO_DATA, device="cpu")


@pytest.fixture(scope="module")
def de_monocytes_vs_cd4(ws) -> pd.DataFrame:
    """The DE table of CD14+ monocytes against naive CD4 T cells (positive lfc: up in monocytes)."""
    adata = anndata.read_h5ad(DEMO_DATA)
    table = ws.model.differential_expression(adata, groupby="bulk_labels", group1=MONOCYTE, group2=CD4, seed=0)
    return table.sort_values("lfc_mean", ascending=False, kind="stable")


@pytest.fixture(scope="module")
def centroids(ws) -> dict[str, np.ndarray]:
    return dr.group_centroids(ws.latent, ws.obs["bulk_labels"])


def typical_cell(ws, centroids, group: str) -> int:
    """The cell of ``group`` nearest the group's centroid."""
    rows = np.flatnonzero(ws.obs["bulk_labels"].astype(str).to_numpy() == group)
    return int(rows[np.argmin(np.linalg.norm(ws.latent[rows] - centroids[group], axis=1))])


def own_covariates(ws, row: int) -> dict:
    return ws.covariates.rows(np.array([row])).decode_kwargs()


def test_toward_monocytes_raises_the_genes_de_finds(ws, centroids, de_monocytes_vs_cd4):
    """From a naive CD4 T cell toward the monocytes' centroid, the genes that rise most are the DE genes.

    Ranked by the directional derivative ``J @ unit direction`` at the CD4 cell (the cell of the
    group nearest its centroid, with its own cell-cycle phase), and, as a second reading, averaged
    over 5 points of the straight line to the centroid (where the decoder's slope changes on the way).
    """
    de_top = set(de_monocytes_vs_cd4.index[:20])
    row = typical_cell(ws, centroids, CD4)
    covariates = own_covariates(ws, row)
    line = dr.toward(ws.latent[row], centroids[MONOCYTE])
    jacobian = ws.model.log_scale_jacobian(ws.latent[row], **covariates)
    rising, falling = dr.direction_effects(jacobian, line.direction, ws.model.genes, n=20)
    assert len(rising) == 20 and not set(rising) & set(falling)
    here = len(set(rising) & de_top)
    along = np.mean([dr.directional_derivative(ws.model.log_scale_jacobian(line.at(t), **covariates), line.direction)
                     for t in np.linspace(0.0, 1.0, 5)], axis=0)
    on_the_way = len({ws.model.genes[i] for i in np.argsort(-along, kind="stable")[:20]} & de_top)
    print(f"of DE's top 20: {here} at the CD4 cell, {on_the_way} averaged along the line")
    assert here >= 10
    assert on_the_way >= 10


def test_toward_is_exact_at_both_ends(ws, centroids):
    start = ws.latent[0].astype(np.float64)
    for name, centroid in centroids.items():
        line = dr.toward(start, centroid)
        assert np.array_equal(line.at(1.0), centroid), name
        assert np.array_equal(line.at(0.0), start), name
        np.testing.assert_allclose(np.linalg.norm(line.direction), 1.0)
        np.testing.assert_allclose(line.at(0.5), (start + centroid) / 2)
        assert line.position(line.at(0.3)) == pytest.approx(0.3)
    steps = dr.toward(centroids[CD4], centroids[MONOCYTE]).at([0.0, 0.5, 1.0])  # from group A toward group B
    assert steps.shape == (3, ws.model.n_latent) and np.array_equal(steps[-1], centroids[MONOCYTE])
    still = dr.toward(start, start)
    assert still.length == 0 and not still.direction.any() and np.array_equal(still.at(0.7), start)


def test_group_centroids_are_float64_means(ws, centroids):
    labels = ws.obs["bulk_labels"]
    assert list(centroids) == [str(c) for c in labels.cat.categories if (labels == c).any()]
    rows = np.flatnonzero(labels.astype(str).to_numpy() == MONOCYTE)
    assert centroids[MONOCYTE].dtype == np.float64
    np.testing.assert_allclose(centroids[MONOCYTE], ws.latent[rows].astype(np.float64).mean(axis=0), rtol=1e-12)
    plain = dr.group_centroids(ws.latent, labels.astype(str).to_numpy())  # not categorical: sorted
    assert list(plain) == sorted(plain) and set(plain) == set(centroids)
    with pytest.raises(DecodeInputError, match="700 cells"):
        dr.group_centroids(ws.latent, labels.to_numpy()[:5])


def test_more_of_a_gene_raises_it(ws, centroids):
    model = ws.model
    row = typical_cell(ws, centroids, MONOCYTE)
    z, covariates = ws.latent[row].astype(np.float64), own_covariates(ws, row)
    for genes in (["CD3E"], ["GNLY", "NKG7", "GZMB"]):
        direction = dr.gene_set_direction(model, z, genes, **covariates)
        assert np.linalg.norm(direction) == pytest.approx(1.0)
        before, after, back = dr.gene_set_score(model, np.stack([z, z + 0.1 * direction, z - 0.1 * direction]),
                                                genes, **covariates)
        assert after > before > back, genes
        idx = model.gene_indices(genes)
        scale = model.decode(np.stack([z, z + 0.1 * direction]), **covariates).scale.numpy()[:, idx]
        assert scale[1].mean() > scale[0].mean()
    distance = DataDistance.build(ws.latent)
    path = dr.follow_gene_set(model, z, ["GNLY", "NKG7", "GZMB"], latent=distance, steps=15, **covariates)
    assert np.array_equal(path.z[0], z) and len(path.z) == len(path.ratio) == len(path.score) >= 2
    assert np.all(np.diff(path.score) > 0)
    assert np.all(path.ratio[1:] <= np.maximum(OFF_DATA_RATIO, path.ratio[:-1]) + 1e-12)
    assert path.stopped in dr.STOP_REASONS and path.reason
    # It ends among cells that express these genes: nearer the NK cells than where it started.
    nk = centroids["CD56+ NK"]
    assert np.linalg.norm(path.z[-1] - nk) < np.linalg.norm(path.z[0] - nk)
    with pytest.raises(DecodeInputError, match="not in the model"):
        dr.gene_set_direction(model, z, ["NOT_A_GENE"])
    with pytest.raises(DecodeInputError, match="latent dimensions"):
        dr.follow_gene_set(model, z, "CD3E", latent=np.zeros((5, 3)))


def test_characteristic_genes_are_the_de_genes_not_the_most_expressed(ws, centroids, de_monocytes_vs_cd4):
    model = ws.model
    mean = ch.mean_decoded_scale(model, ws.latent, ws.covariates)
    decoded = model.decode(ws.latent, **ws.covariates.decode_kwargs()).scale.numpy().astype(np.float64)
    np.testing.assert_allclose(mean, decoded.mean(axis=0), rtol=1e-5)
    row = typical_cell(ws, centroids, MONOCYTE)
    covariates = own_covariates(ws, row)
    above, below = ch.characteristic_genes(model, ws.latent[row], mean, n=10, **covariates)
    de_top = set(de_monocytes_vs_cd4.index[:30])
    overlap = len(set(above.index) & de_top)
    scale = model.decode(ws.latent[row], **covariates).scale.numpy()[0]
    by_counts = [model.genes[i] for i in np.argsort(-scale, kind="stable")[:10]]
    print(f"characteristic top 10 {list(above.index)}: {overlap} in DE's top 30; top by counts {by_counts}")
    assert overlap >= 5
    assert by_counts[0] not in above.index and len(set(by_counts) & set(above.index)) <= 3
    assert len(above) == len(below) == 10
    assert (above["log2_vs_mean"] > 0).all() and above["log2_vs_mean"].is_monotonic_decreasing
    assert (below["log2_vs_mean"] < 0).all() and below["log2_vs_mean"].is_monotonic_increasing
    for table in (above, below):
        assert (np.maximum(table["expression_here"], table["expression_mean"]) >= ch.DEFAULT_MIN_EXPRESSION).all()
        np.testing.assert_allclose(table["expression_here"], 1e4 * scale[model.gene_indices(list(table.index))], rtol=1e-6)
    strict, _ = ch.characteristic_genes(model, ws.latent[row], mean, n=50, min_expression=50.0, **covariates)
    assert (np.maximum(strict["expression_here"], strict["expression_mean"]) >= 50).all()
    with pytest.raises(DecodeInputError, match="mean_scale"):
        ch.characteristic_genes(model, ws.latent[row], mean[:10])


def test_slider_effects_rank_each_column():
    jacobian = np.array([[1.0, -0.5], [3.0, 0.0], [-2.0, 0.2], [0.5, -4.0]])
    genes = ["A", "B", "C", "D"]
    assert dr.slider_effects(jacobian, genes, n=2) == [(["B", "A"], ["C"]), (["C"], ["D", "A"])]
    assert dr.direction_effects(jacobian, [0.0, -2.0], genes, n=1) == (["D"], ["C"])
    with pytest.raises(DecodeInputError, match="one row per gene"):
        dr.slider_effects(jacobian, genes[:3])
    with pytest.raises(DecodeInputError, match="finite"):
        dr.slider_effects(np.full((4, 2), np.nan), genes)
    with pytest.raises(DecodeInputError, match="zero"):
        dr.directional_derivative(jacobian, [0.0, 0.0])


def test_slider_effects_on_the_demo(ws):
    jacobian = ws.model.log_scale_jacobian(ws.latent[0], **own_covariates(ws, 0))
    effects = dr.slider_effects(jacobian, ws.model.genes)
    assert len(effects) == ws.model.n_latent
    column = {g: i for i, g in enumerate(ws.model.genes)}
    for d, (rising, falling) in enumerate(effects):
        assert len(rising) == len(falling) == 3
        assert jacobian[column[rising[0]], d] == jacobian[:, d].max() > 0
        assert jacobian[column[falling[0]], d] == jacobian[:, d].min() < 0


def test_principal_axes_follow_the_variance():
    rng = np.random.default_rng(0)
    rotation, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    cells = (rng.normal(size=(5000, 4)) * [5.0, 3.0, 1.0, 0.2]) @ rotation.T + 7.0
    axes, variances = dr.principal_axes(cells.astype(np.float32))
    np.testing.assert_allclose(axes @ axes.T, np.eye(4), atol=1e-9)
    assert np.all(np.diff(variances) <= 0)
    np.testing.assert_allclose(variances, np.var(cells @ axes.T, axis=0, ddof=1), rtol=1e-4)
    np.testing.assert_allclose(np.abs(axes @ rotation), np.eye(4), atol=0.03)
    assert np.all(axes[np.arange(4), np.abs(axes).argmax(axis=1)] > 0)
    with pytest.raises(DecodeInputError, match="two cells"):
        dr.principal_axes(cells[:1])


def test_dimension_table(ws):
    obs = ws.obs.copy()
    obs["dimension 3 itself"] = ws.latent[:, 2]
    table = ch.dimension_table(ws.model, ws.latent, obs, n_cells=40, seed=1, n_genes=5, covariates=ws.covariates)
    k = ws.model.n_latent
    assert table.genes.shape == (5 * k, 5) and list(table.genes["dimension"].unique()) == list(range(1, k + 1))
    assert table.genes.groupby("dimension")["mean_abs_change"].is_monotonic_decreasing.all()
    assert len(table.cells) == 40 and "40 randomly chosen cells (seed 1)" in table.sample_text
    # The first gene of dimension 1 is the largest mean |Jacobian| over the sampled cells.
    jacobians = np.stack([ws.model.log_scale_jacobian(ws.latent[r], **own_covariates(ws, r)) for r in table.cells])
    first = table.genes.iloc[0]
    assert first["gene"] == ws.model.genes[int(np.abs(jacobians[:, :, 0]).mean(axis=0).argmax())]
    np.testing.assert_allclose(first["mean_abs_change"], np.abs(jacobians[:, :, 0]).mean(axis=0).max())
    corr = table.correlations
    assert corr.shape[0] == k and list(corr.index) == list(range(1, k + 1))
    assert corr.loc[3, "dimension 3 itself"] == pytest.approx(1.0)
    assert {f"bulk_labels = {c}" for c in obs["bulk_labels"].cat.categories} <= set(corr.columns)
    assert "n_counts" in corr.columns and not any(c.startswith("cell_id") for c in corr.columns)  # 700 ids: left out
    assert np.nanmax(np.abs(corr.to_numpy())) <= 1 + 1e-12
    with pytest.raises(DecodeInputError, match="obs"):
        ch.dimension_table(ws.model, ws.latent, obs.iloc[:10])


def test_covariate_support():
    phase = np.array(["G1"] * 6 + ["G2M"] * 3 + ["S"])
    shares = ch.covariate_support(phase, np.arange(10), ["G1", "G2M", "S"])
    assert shares == {"G1": 0.6, "G2M": 0.3, "S": 0.1} and sum(shares.values()) == pytest.approx(1.0)
    assert ch.covariate_support(phase, [0, 1, 8, 9], ["G1", "G2M"]) == {"G1": 0.5, "G2M": 0.25}
    mask = np.zeros(10, dtype=bool)
    mask[6:9] = True
    assert ch.covariate_support(phase, mask, ["G2M", "G1"]) == {"G2M": 1.0, "G1": 0.0}
    with pytest.raises(DecodeInputError, match="empty"):
        ch.covariate_support(phase, [], ["G1"])
    with pytest.raises(DecodeInputError, match="outside"):
        ch.covariate_support(phase, [10], ["G1"])
    with pytest.raises(DecodeInputError, match="compared_values"):
        ch.covariate_support(phase, [0], "G1")


def test_point_support_at_a_monocyte(ws, centroids):
    """On the demo the batch is the cell-cycle phase: few cells near a monocyte are in G2M."""
    distance = DataDistance.build(ws.latent)
    phases = list(ws.model.batches)
    phase = ws.obs[ws.model.batch_key].astype(str).to_numpy()
    shares = ch.point_support(distance, centroids[MONOCYTE], phase, phases, k=30)
    assert set(shares) == set(phases) and sum(shares.values()) == pytest.approx(1.0)
    nearest = distance.nearest(centroids[MONOCYTE], 30)
    assert shares["G2M"] == pytest.approx(np.mean(phase[nearest] == "G2M"))
    assert shares["G2M"] < shares["G1"]


@pytest.mark.parametrize("call, message", [
    (lambda m: dr.gene_set_direction(m, np.full(m.n_latent, np.nan), ["CD3E"]), "finite"),
    (lambda m: dr.gene_set_direction(m, np.zeros(3), ["CD3E"]), "one latent point"),
    (lambda m: dr.gene_set_direction(m, np.zeros(m.n_latent), []), "empty"),
    (lambda m: dr.toward(np.zeros(m.n_latent), np.zeros(m.n_latent + 1)), "one latent point"),
    (lambda m: dr.toward(np.zeros(m.n_latent), np.ones(m.n_latent)).at(np.nan), "finite"),
    (lambda m: dr.follow_gene_set(m, np.zeros(m.n_latent), "CD3E", latent=np.zeros((5, m.n_latent)), steps=-1), "steps"),
    (lambda m: dr.follow_gene_set(m, np.zeros(m.n_latent), "CD3E", latent=np.zeros((5, m.n_latent)), max_ratio=0), "max_ratio"),
    (lambda m: ch.characteristic_genes(m, np.zeros(m.n_latent), np.ones(m.n_genes), n=0), "n "),
    (lambda m: ch.mean_decoded_scale(m, np.zeros((4, m.n_latent + 2))), "columns"),
    (lambda m: ch.dimension_table(m, np.zeros((4, m.n_latent)), pd.DataFrame(index=range(4)), n_cells=0), "n_cells"),
])
def test_direction_arguments_are_checked(demo_model, call, message):
    with pytest.raises(DecodeInputError, match=message):
        call(demo_model)


def test_group_centroids_of_plain_columns():
    latent = np.arange(12, dtype=np.float32).reshape(6, 2)
    mixed = dr.group_centroids(latent, pd.Series(["b", 1, "b", None, 1, "a"], dtype=object))
    assert list(mixed) == ["1", "a", "b"]  # as text, missing values left out
    np.testing.assert_array_equal(mixed["b"], [2.0, 3.0])
    numeric = dr.group_centroids(latent, np.array([10, 2, 2, 10, 2, 10]))
    assert list(numeric) == ["2", "10"]
    np.testing.assert_allclose(numeric["10"], [16 / 3, 19 / 3], rtol=1e-15)
    with pytest.raises(DecodeInputError, match="one latent point"):
        dr.toward(np.zeros((2, 3)), np.zeros(3))
