"""Atlas scale: data read from disk in blocks (.h5ad and .zarr), minified data, the prepare cache and its steps."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import anndata
import numpy as np
import pytest
import scipy.sparse as sp

from scvi_viz.analysis import embedding, prepare
from scvi_viz.analysis.embedding import cells_in_shapes
from scvi_viz.analysis.genes import gene_overlay
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.errors import DataError
from scvi_viz.io.adata import stored_posterior
from scvi_viz.io.fingerprint import content_sha256
from scvi_viz.io.store import open_data
from scvi_viz.model import load_model
from scvi_viz.plots.cell_map import map_sample, umap_figure

FIXTURES = Path(__file__).parent / "fixtures"
ADATA = FIXTURES / "adata.h5ad"
MODEL = FIXTURES / "models" / "scvi_covariates"
MINIFIED = FIXTURES / "minified"


def fake_umap(latent: np.ndarray) -> np.ndarray:
    return np.asarray(latent[:, :2], dtype=np.float32) * 3


@pytest.fixture(autouse=True)
def no_real_umap(monkeypatch):
    monkeypatch.setattr(embedding, "compute_umap", fake_umap)


@pytest.fixture(scope="module")
def adata() -> anndata.AnnData:
    return anndata.read_h5ad(ADATA)


@pytest.fixture(scope="module")
def model():
    return load_model(MODEL, device="cpu")


def snapshot(path: Path) -> dict[str, bytes]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(f): f.read_bytes() for f in files}


# ---------------------------------------------------------------- reading from disk
@pytest.mark.parametrize("kind", ["h5ad", "zarr", "dense-h5ad"])
def test_store_reads_blocks_as_the_file_holds_them(tmp_path, adata, kind):
    data = adata.copy()
    if kind == "dense-h5ad":
        data.X = data.X.toarray()
    path = tmp_path / ("a.zarr" if kind == "zarr" else "a.h5ad")
    data.write_zarr(path) if kind == "zarr" else data.write_h5ad(path)
    before = snapshot(path)
    with open_data(path) as store:
        assert store.n_obs == adata.n_obs and list(store.var_names) == list(adata.var_names)
        rows = np.array([3, 17, 18, 90])
        block = store.count_rows(None, rows)
        np.testing.assert_array_equal(sp.csr_matrix(block).toarray(), adata.X[rows].toarray())
        np.testing.assert_array_equal(sp.csr_matrix(store.count_rows(None, slice(5, 9))).toarray(), adata.X[5:9].toarray())
        assert list(store.obs.index) == list(adata.obs_names)
    assert snapshot(path) == before


def test_store_refuses_column_compressed_counts_with_what_to_do(tmp_path, adata):
    data = adata.copy()
    data.X = sp.csc_matrix(data.X)
    data.write_h5ad(tmp_path / "csc.h5ad")
    with open_data(tmp_path / "csc.h5ad") as store, pytest.raises(DataError, match="tocsr"):
        store.count_rows(None, slice(0, 10))


def test_open_data_refuses_a_folder_that_is_not_zarr(tmp_path):
    with pytest.raises(DataError, match="not a .zarr store"):
        with open_data(tmp_path):
            pass


@pytest.mark.parametrize("kind", ["h5ad", "zarr"])
def test_workspace_from_disk_equals_encoding_in_memory(tmp_path, adata, model, kind):
    path = tmp_path / ("a.zarr" if kind == "zarr" else "a.h5ad")
    adata.write_zarr(path) if kind == "zarr" else adata.write_h5ad(path)
    before = snapshot(path)
    prepare.BLOCK_CELLS, saved = 32, prepare.BLOCK_CELLS  # several blocks, the last one short
    try:
        ws = Workspace.open(MODEL, path, device="cpu", cache_dir=tmp_path / "cache")
    finally:
        prepare.BLOCK_CELLS = saved
    np.testing.assert_allclose(ws.latent, model.encode(adata), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ws.library, np.asarray(adata.X.sum(1)).ravel())
    assert ws.prepared.source.kind == "encoded" and not ws.minified
    assert snapshot(path) == before  # only read
    assert not list(tmp_path.glob("*.part-*"))


# ---------------------------------------------------------------- minified data
@pytest.mark.parametrize("name", sorted(p.name for p in MINIFIED.iterdir()))
def test_minified_data_use_the_stored_posterior(tmp_path, name):
    folder = MINIFIED / name
    ref = np.load(folder / "reference.npz")
    ws = Workspace.open(folder, folder / "adata.h5ad", device="cpu", cache_dir=tmp_path)
    assert ws.minified and ws.prepared.source.kind == "stored"
    assert "scvi_latent_qzm" in ws.prepared.source.detail  # where the registry says, not a guess
    np.testing.assert_array_equal(ws.prepared.qz_mean, ref["qzm"])
    np.testing.assert_array_equal(ws.prepared.qz_var, ref["qzv"])
    np.testing.assert_array_equal(ws.library, ref["library"])
    if ws.model.latent_distribution == "normal":
        np.testing.assert_array_equal(ws.latent, ref["latent"])  # scvi-tools' latent of the minified data
        np.testing.assert_allclose(ws.latent, ref["full_latent"], rtol=1e-5, atol=1e-6)
    else:  # scvi-tools averages softmax samples; scvi-viz takes softmax of the mean (see ScviModel.encode)
        np.testing.assert_allclose(ws.latent.sum(1), 1, rtol=1e-5)
        np.testing.assert_allclose(ws.latent, ref["latent"], atol=0.1)
    # Not one point for every cell, as an encoding of the all-zero X would give.
    assert len(np.unique(ws.latent.round(4), axis=0)) == ws.n_cells


def test_minified_data_with_a_model_saved_before_minifying_say_what_to_do(tmp_path):
    # The scvi_default fixture was saved before minify_adata(): its registry has no posterior fields.
    with pytest.raises(DataError, match="saved before minify_adata"):
        Workspace.open(FIXTURES / "models" / "scvi_default", MINIFIED / "scvi_1.4" / "adata.h5ad", device="cpu",
                       cache_dir=tmp_path)


def test_minified_posterior_with_the_wrong_shape_is_refused(tmp_path):
    data = anndata.read_h5ad(MINIFIED / "scvi_1.4" / "adata.h5ad")
    data.obsm["scvi_latent_qzm"] = data.obsm["scvi_latent_qzm"][:, :2]
    data.write_h5ad(tmp_path / "bad.h5ad")
    spec = load_model(MINIFIED / "scvi_1.4", device="cpu").spec
    with open_data(tmp_path / "bad.h5ad") as store, pytest.raises(DataError, match="scvi_latent_qzm"):
        stored_posterior(spec, store)


def test_named_obsm_latent_is_taken_as_given(tmp_path, adata, model):
    data = adata.copy()
    data.obsm["X_scVI"] = np.random.default_rng(0).normal(size=(data.n_obs, model.n_latent)).astype(np.float32)
    data.write_h5ad(tmp_path / "a.h5ad")
    ws = Workspace.open(MODEL, tmp_path / "a.h5ad", device="cpu", cache_dir=tmp_path / "cache", latent_key="X_scVI")
    np.testing.assert_array_equal(ws.latent, data.obsm["X_scVI"])
    np.testing.assert_allclose(ws.library, np.asarray(adata.X.sum(1)).ravel())
    assert ws.prepared.source.kind == "obsm" and ws.prepared.qz_mean is None
    with pytest.raises(DataError, match="X_pca"):
        Workspace.open(MODEL, tmp_path / "a.h5ad", device="cpu", cache_dir=tmp_path / "cache", latent_key="X_pca")


# ---------------------------------------------------------------- the prepare cache
def test_prepare_keeps_results_keyed_by_content_and_reads_them_back(tmp_path, adata, model, monkeypatch):
    path = tmp_path / "a.h5ad"
    adata.write_h5ad(path)
    steps = []
    first = prepare.prepare(model, path, cache_dir=tmp_path / "cache", progress=lambda *a: steps.append(a))
    assert {s[0] for s in steps} == {"latent", "umap", "normaliser"} and steps[-1][1] == steps[-1][2]
    assert first.folder is not None and first.folder.parent.name == "prepared"
    assert first.folder.name.startswith(f"{model.file_sha256[:16]}-{content_sha256(path)[:16]}-")
    manifest = json.loads((first.folder / "manifest.json").read_text())
    assert manifest["cells"] == adata.n_obs
    # The second run computes nothing.
    monkeypatch.setattr(prepare, "latent_block", lambda *a, **k: pytest.fail("latent recomputed"))
    monkeypatch.setattr(prepare, "normaliser_block", lambda *a, **k: pytest.fail("normaliser recomputed"))
    monkeypatch.setattr(embedding, "subsampled_umap", lambda *a, **k: pytest.fail("UMAP recomputed"))
    again = prepare.prepare(model, path, cache_dir=tmp_path / "cache")
    for name in ("latent", "library", "qz_mean", "qz_var", "umap", "log_normaliser"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name))
    assert set(again.seconds.values()) <= {0.0} | {again.seconds["umap"]}


def test_prepare_resumes_from_the_blocks_a_stopped_run_left(tmp_path, adata, model, monkeypatch):
    path = tmp_path / "a.h5ad"
    adata.write_h5ad(path)
    monkeypatch.setattr(prepare, "BLOCK_CELLS", 50)  # 120 cells: blocks of 50, 50 and 20
    real = prepare.latent_block
    calls = []

    def stop_at_third(model, store, layout, covariates, start, stop, encode):
        calls.append(start)
        if start == 100:
            raise KeyboardInterrupt
        return real(model, store, layout, covariates, start, stop, encode)

    monkeypatch.setattr(prepare, "latent_block", stop_at_third)
    with pytest.raises(KeyboardInterrupt):
        prepare.prepare(model, path, cache_dir=tmp_path / "cache")
    assert calls == [0, 50, 100]
    monkeypatch.setattr(prepare, "latent_block", lambda *a: (calls.append(a[4]), real(*a))[1])
    done = prepare.prepare(model, path, cache_dir=tmp_path / "cache")
    assert calls[3:] == [100]  # only the block that had not finished
    np.testing.assert_allclose(done.latent, model.encode(adata), rtol=1e-5, atol=1e-6)
    assert not list(done.folder.glob("*.part-*"))


def test_prepared_cache_changes_with_the_data(tmp_path, adata, model):
    path = tmp_path / "a.h5ad"
    adata.write_h5ad(path)
    first = prepare.prepare(model, path, cache_dir=tmp_path / "cache")
    other = adata.copy()
    other.X = other.X * 2
    other.write_h5ad(path)
    second = prepare.prepare(model, path, cache_dir=tmp_path / "cache")
    assert second.folder != first.folder
    np.testing.assert_allclose(second.library, 2 * first.library)


def test_normalisers_give_the_same_overlay_as_a_full_decode(tmp_path, adata):
    path = tmp_path / "a.h5ad"
    adata.write_h5ad(path)
    ws = Workspace.open(MODEL, path, device="cpu", cache_dir=tmp_path / "cache")
    model = ws.model
    gene = model.genes[7]
    full = model.decode(ws.latent, library_size=ws.library, **ws.covariates.decode_kwargs()).scale[:, 7].numpy()
    np.testing.assert_allclose(gene_overlay(ws, gene), full * 1e4, rtol=1e-5)
    log_norm = model.softmax_log_normaliser(ws.latent, **ws.covariates.decode_kwargs())
    np.testing.assert_allclose(ws.prepared.log_normaliser, log_norm, rtol=1e-6)


@pytest.mark.parametrize("prepared", [True, False], ids=["normalisers prepared", "normalisers computed"])
def test_a_colour_computed_for_the_drawn_cells_alone_colours_the_map_as_all_cells_do(tmp_path, adata, prepared):
    from scvi_viz.analysis.genes import overlay_basis
    from scvi_viz.plots.cell_map import map_colouring

    path = tmp_path / "a.h5ad"
    adata.write_h5ad(path)
    ws = Workspace.open(MODEL, path, device="cpu", cache_dir=tmp_path / "cache")
    assert ws.prepared.log_normaliser is not None
    if not prepared:  # normalisers computed for the drawn cells alone
        ws = dataclasses.replace(ws, prepared=dataclasses.replace(ws.prepared, log_normaliser=None))
    gene, max_points = ws.model.genes[7], 50  # 120 cells, 50 drawn
    drawn = map_sample(ws.n_cells, max_points)
    every = gene_overlay(ws, gene)
    alone = gene_overlay(ws, gene, overlay_basis(ws, drawn))
    np.testing.assert_allclose(alone, every[drawn], rtol=1e-6)
    by_all = map_colouring(every, color_name=gene, max_points=max_points)
    by_drawn = map_colouring(alone, color_name=gene, max_points=max_points, n_cells=ws.n_cells)
    np.testing.assert_allclose(by_drawn.values, by_all.values, rtol=1e-6)
    assert (by_drawn.low, by_drawn.high) == pytest.approx((by_all.low, by_all.high), rel=1e-6)
    assert by_drawn.layout == by_all.layout  # the same title, and the same note of the sample
    with pytest.raises(ValueError, match="one per drawn cell"):
        map_colouring(alone[:-1], color_name=gene, max_points=max_points, n_cells=ws.n_cells)


def test_cli_prepare_without_dask(tmp_path, adata, capsys):
    from scvi_viz.cli import main

    path = tmp_path / "a.h5ad"
    adata.write_h5ad(path)
    before = snapshot(path)
    assert main(["prepare", str(MODEL), str(path), "--cache", str(tmp_path / "cache"), "--scheduler", "none",
                 "--umap-fit", "60"]) == 0
    out = capsys.readouterr()
    assert "Prepared 120 cells" in out.out and "UMAP fit on 60 cells" in out.out
    assert "Encoding every cell" in out.err  # the progress bars
    assert snapshot(path) == before
    assert main(["prepare", str(MODEL), str(tmp_path / "missing.h5ad"), "--cache", str(tmp_path / "c"),
                 "--scheduler", "none"]) == 2
    assert "No .h5ad file" in capsys.readouterr().err


def test_umap_fit_on_a_sample_is_what_the_app_then_uses(tmp_path, adata):
    from scvi_viz.cli import main

    path = tmp_path / "a.h5ad"
    adata.write_h5ad(path)
    assert main(["prepare", str(MODEL), str(path), "--cache", str(tmp_path / "cache"), "--scheduler", "none",
                 "--umap-fit", "60"]) == 0
    ws = Workspace.open(MODEL, path, device="cpu", cache_dir=tmp_path / "cache")
    assert ws.prepared.umap_fit_cells == 60


# ---------------------------------------------------------------- the map at scale
def test_map_draws_a_stated_sample_with_rows_of_all_cells():
    rng = np.random.default_rng(1)
    coords = rng.normal(size=(5000, 2)).astype(np.float32)
    labels = rng.choice(["a", "b"], 5000)
    fig = umap_figure(coords, labels, color_name="type", max_points=1000)
    cells = [t for t in fig.data if t.name in ("a", "b")]
    drawn = np.concatenate([np.asarray(t.customdata) for t in cells])
    assert len(drawn) == 1000 and len(set(drawn)) == 1000
    np.testing.assert_array_equal(np.sort(drawn), map_sample(5000, 1000))
    for t in cells:  # each marker sits at its own cell's position and colour
        np.testing.assert_array_equal(np.asarray(t.x), coords[np.asarray(t.customdata), 0])
        assert set(labels[np.asarray(t.customdata)]) == {t.name}
    assert "1,000 of 5,000 cells drawn" in fig.layout.title.subtitle.text.replace("<br>", " ")
    assert map_sample(1000, 1000) is None


def test_box_and_lasso_select_every_cell_inside():
    coords = np.array([[0, 0], [1, 1], [2, 2], [0.5, 1.5], [3, 0]], dtype=np.float32)
    assert list(cells_in_shapes(coords, [{"x": [1.1, -1], "y": [-1, 1.1]}], [])) == [0, 1]
    triangle = {"x": [-0.5, 2.5, -0.5], "y": [-0.5, 2.5, 2.5]}  # above the line y = x, and on it
    assert list(cells_in_shapes(coords, [], [triangle])) == [3]
    assert list(cells_in_shapes(coords, [{"x": [2.9, 3.1], "y": [-0.1, 0.1]}], [triangle])) == [3, 4]


# ---------------------------------------------------------------- Dask
def test_dask_local_cluster_gives_the_single_process_results(tmp_path, adata, model, monkeypatch):
    distributed = pytest.importorskip("distributed")
    path = tmp_path / "a.zarr"
    adata.write_zarr(path)
    monkeypatch.setattr(prepare, "BLOCK_CELLS", 25)  # 120 cells: five blocks over two workers
    alone = prepare.prepare(model, path, cache_dir=tmp_path / "alone")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        # The workers must really run blocks: BLOCK_CELLS reaches them as the blocks' bounds.
        spread = prepare.prepare(model, path, cache_dir=tmp_path / "spread", client=client)
        ran_on = client.run(lambda: sorted(prepare._worker_model.cache_info()._asdict().items()))
    assert len(ran_on) == 2 and any(dict(info)["currsize"] for info in ran_on.values())
    for name in ("latent", "qz_mean", "qz_var", "log_normaliser"):
        np.testing.assert_allclose(getattr(spread, name), getattr(alone, name), rtol=1e-6, atol=1e-7, err_msg=name)
    np.testing.assert_array_equal(spread.library, alone.library)
    np.testing.assert_array_equal(spread.umap, alone.umap)


def test_content_hash_is_remembered_until_the_file_changes(tmp_path, monkeypatch):
    from scvi_viz.io import fingerprint

    data = tmp_path / "a.h5ad"
    data.write_bytes(b"cells" * 1000)
    first = content_sha256(data, memo_dir=tmp_path / "cache")
    monkeypatch.setattr(fingerprint, "_file_sha256", lambda path: pytest.fail("hashed again"))
    assert content_sha256(data, memo_dir=tmp_path / "cache") == first
    monkeypatch.undo()
    data.write_bytes(b"other" * 1000)
    assert content_sha256(data, memo_dir=tmp_path / "cache") != first
    store = tmp_path / "s.zarr"
    (store / "X").mkdir(parents=True)
    (store / "X" / "0").write_bytes(b"abc")
    one = content_sha256(store)
    (store / "X" / "0").write_bytes(b"abd")
    assert content_sha256(store) != one


def test_the_current_point_is_drawn_over_the_cells():
    # plotly draws WebGL traces above SVG ones: an SVG x would hide under a dense cluster of WebGL cells.
    coords = np.random.default_rng(2).normal(size=(300, 2))
    fig = umap_figure(coords, np.zeros(300), color_name="value", point_xy=(0.0, 0.0))
    assert fig.data[-1].name == "current point" and fig.data[-1].type == "scattergl"
    assert all(t.type == "scattergl" for t in fig.data)


def test_a_model_without_labels_first_colours_by_an_obs_column_of_few_categories(tmp_path):
    ws = Workspace.open(MODEL, ADATA, device="cpu", cache_dir=tmp_path)
    assert ws.model.labels_key is None
    first = ws.default_color_column(60)
    assert first == next(c for c in ws.obs.columns if 1 < ws.obs[c].nunique() <= 60)
    assert ws.category_count(first) > 1
    assert ws.default_color_column(1) is None  # no column fits: a gene's decoded expression


def test_a_named_obsm_map_replaces_the_umap(tmp_path, adata, monkeypatch, capsys):
    from scvi_viz.cli import main

    data = adata.copy()
    data.obsm["X_umap"] = np.random.default_rng(0).normal(size=(data.n_obs, 2)).astype(np.float32)
    data.write_h5ad(tmp_path / "a.h5ad")
    monkeypatch.setattr(embedding, "subsampled_umap", lambda *a, **k: pytest.fail("a UMAP was computed"))
    assert main(["prepare", str(MODEL), str(tmp_path / "a.h5ad"), "--cache", str(tmp_path / "cache"),
                 "--scheduler", "none", "--embedding", "X_umap"]) == 0
    assert "no UMAP: an obsm map" in capsys.readouterr().out
    ws = Workspace.open(MODEL, tmp_path / "a.h5ad", device="cpu", cache_dir=tmp_path / "cache", embedding_key="X_umap")
    assert ws.embedding_names() == ["X_umap"] and not ws.has_latent_umap()
    np.testing.assert_array_equal(ws.embedding("X_umap"), data.obsm["X_umap"])
    with pytest.raises(DataError, match="X_tsne"):
        Workspace.open(MODEL, tmp_path / "a.h5ad", device="cpu", cache_dir=tmp_path / "cache", embedding_key="X_tsne")
