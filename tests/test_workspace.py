"""``Workspace.open`` on the demo model and data, and on data that only partly fits."""

from __future__ import annotations

import anndata
import numpy as np
import pytest
import scipy.sparse as sp

from scvi_viz.analysis import embedding, prepare
from scvi_viz.analysis.embedding import UMAP_OBSM_KEY
from scvi_viz.errors import DataError
from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL
from scvi_viz.point import Point
from scvi_viz.analysis.workspace import LATENT_UMAP, Workspace



@pytest.fixture(scope="module")
def adata() -> anndata.AnnData:
    return anndata.read_h5ad(DEMO_DATA)


@pytest.fixture(scope="module")
def ws() -> Workspace:
    return Workspace.open(DEMO_MODEL, DEMO_DATA, device="cpu")


def test_sizes(ws):
    assert ws.n_cells == 700
    assert ws.latent.shape == (700, ws.model.n_latent)
    assert ws.latent.dtype == np.float32
    assert np.isfinite(ws.latent).all()
    assert ws.library.shape == (700,)
    assert list(ws.obs.index) == [str(i) for i in ws.obs.index]
    assert ws.gene_match.model_only == [] and ws.gene_match.n_shared == len(ws.model.genes)


def test_latent_equals_model_encode(ws, adata):
    np.testing.assert_allclose(ws.latent, ws.model.encode(adata), rtol=1e-5, atol=1e-6)


def test_library_is_total_counts_over_model_genes(ws, adata):
    X = adata[:, ws.model.genes].X
    totals = np.asarray(X.sum(axis=1)).ravel().astype(np.float64)
    np.testing.assert_allclose(ws.library, np.where(totals > 0, totals, 1.0))
    assert (ws.library > 0).all()


def test_cell_point(ws, adata):
    for i in (0, 1, 350, 699):
        p = ws.cell_point(i)
        assert isinstance(p, Point)
        assert p.batch == str(adata.obs["phase"].iloc[i])
        assert p.continuous == {"percent_mito": pytest.approx(float(adata.obs["percent_mito"].iloc[i]))}
        assert p.label == str(adata.obs["bulk_labels"].iloc[i])
        assert p.z == tuple(float(v) for v in ws.latent[i])
        assert p.library_size == ws.library[i]
        assert p.categorical == {}


def test_cell_point_decodes_like_its_cell(ws):
    i = 11
    p = ws.cell_point(i)
    a = ws.model.decode(**p.decode_kwargs()).rate.numpy()
    b = ws.model.decode(ws.latent[i], library_size=ws.library[i], batch=ws.covariates.batch[i],
                        label=ws.covariates.label[i],
                        continuous={"percent_mito": ws.covariates.continuous["percent_mito"][i]}).rate.numpy()
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_latent_ranges_contain_every_cell(ws):
    ranges = ws.latent_ranges()
    assert ranges.shape == (ws.model.n_latent, 2)
    assert np.all(ranges[:, 0] < ws.latent.min(0))
    assert np.all(ranges[:, 1] > ws.latent.max(0))
    span = ws.latent.max(0) - ws.latent.min(0)
    np.testing.assert_allclose(ranges[:, 1] - ranges[:, 0], 1.2 * span, rtol=1e-5)


def test_embeddings_use_precomputed_umap(adata, monkeypatch, tmp_path):
    def forbidden(*args, **kwargs):
        raise AssertionError("UMAP must not be computed when the file has one for this model")

    monkeypatch.setattr(embedding, "compute_umap", forbidden)
    monkeypatch.setattr(prepare, "cached_umap", forbidden)
    ws = Workspace.open(DEMO_MODEL, DEMO_DATA, device="cpu", cache_dir=tmp_path)
    names = ws.embedding_names()
    assert names[0] == LATENT_UMAP
    assert "X_umap" in names
    assert UMAP_OBSM_KEY not in names and "X_scvi" not in names  # stored UMAP is not listed twice; 10-D is not 2-D
    assert ws.precomputed_umap is not None
    coords = ws.embedding(LATENT_UMAP)
    np.testing.assert_allclose(coords, np.asarray(adata.obsm[UMAP_OBSM_KEY], dtype=np.float32))
    assert coords.shape == (700, 2)
    np.testing.assert_allclose(ws.embedding("X_umap"), np.asarray(adata.obsm["X_umap"])[:, :2], rtol=1e-6)


def test_inverse_map_on_precomputed_umap(ws):
    coords = ws.embedding(LATENT_UMAP)
    inv = ws.inverse_map(coords)
    np.testing.assert_array_equal(inv.latent_at(*coords[5]), ws.latent[5])


def test_hover_and_colours(ws):
    hover = ws.cell_hover()
    assert len(hover) == 700
    assert hover[0] == f"{ws.obs.index[0]} · {ws.obs['bulk_labels'].iloc[0]}"
    assert {"phase", "percent_mito", "bulk_labels"} <= set(ws.color_columns())


def test_group_covariates(ws):
    cells = np.array([3, 1, 4])
    cov = ws.covariates.rows(cells)
    assert list(cov.batch) == [ws.covariates.batch[i] for i in cells]
    np.testing.assert_array_equal(cov.continuous["percent_mito"], ws.covariates.continuous["percent_mito"][cells])


def test_open_with_subset_of_genes(tmp_path, adata, monkeypatch):
    monkeypatch.setattr(embedding, "compute_umap", lambda latent: np.zeros((latent.shape[0], 2), np.float32))
    monkeypatch.setenv("SCVI_VIZ_CACHE_DIR", str(tmp_path / "cache"))
    keep = adata.var_names[::2]
    sub = adata[:, keep].copy()
    path = tmp_path / "half.h5ad"
    sub.write_h5ad(path)
    before = path.read_bytes()
    ws = Workspace.open(DEMO_MODEL, path, device="cpu")
    dropped = [g for g in ws.model.genes if g not in set(keep)]
    assert ws.gene_match.model_only == dropped
    assert ws.gene_match.n_shared == len(keep)
    assert ws.n_cells == 700 and np.isfinite(ws.latent).all()
    totals = np.asarray(sp.csr_matrix(sub.X).sum(axis=1)).ravel()
    np.testing.assert_allclose(ws.library, np.where(totals > 0, totals, 1.0))
    assert "missing from the data" in ws.gene_match.summary()
    assert path.read_bytes() == before  # the data file is only read


def test_open_with_no_shared_genes(tmp_path, adata):
    other = adata[:50].copy()
    other.var_names = [f"NOT_A_GENE_{i}" for i in range(other.n_vars)]
    path = tmp_path / "none.h5ad"
    other.write_h5ad(path)
    with pytest.raises(DataError, match="None of the model"):
        Workspace.open(DEMO_MODEL, path, device="cpu")


def test_open_missing_batch_column(tmp_path, adata):
    other = adata[:20].copy()
    del other.obs["phase"]
    path = tmp_path / "nophase.h5ad"
    other.write_h5ad(path)
    with pytest.raises(DataError, match="phase"):
        Workspace.open(DEMO_MODEL, path, device="cpu")


def test_open_not_hdf5(tmp_path):
    path = tmp_path / "fake.h5ad"
    path.write_text("not hdf5")
    with pytest.raises(DataError, match="not HDF5"):
        Workspace.open(DEMO_MODEL, path, device="cpu")
