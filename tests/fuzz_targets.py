"""What the isolated fuzz tests run in their child process (``tests/isolated.py``), one function
per surface, each called with one JSON case. A function returns on success and raises otherwise."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

import scvi_viz

FIXTURES = Path(__file__).parent / "fixtures"


@functools.cache
def _fixture_model() -> Any:
    return scvi_viz.load_model(FIXTURES / "models" / "scvi_covariates", device="cpu")


@functools.cache
def _fixture_cells() -> Any:
    import anndata as ad

    return ad.read_h5ad(FIXTURES / "adata.h5ad")


def load(case: list[str]) -> None:
    """``[kind, path]``: ``"model"`` (``load_model`` and one decode), ``"pickle"`` (``safe_torch_load``),
    ``"h5ad"`` (``read_h5ad``, then ``encode`` with the fixture model ``scvi_covariates``), or
    ``"unpickle"`` (``torch.load(weights_only=False)``, for controls only)."""
    import torch

    from scvi_viz.io.adata import read_h5ad
    from scvi_viz.io.safe_pickle import safe_torch_load

    kind, path = case
    if kind == "model":
        model = scvi_viz.load_model(path, device="cpu")
        model.decode([0.0] * model.n_latent)
    elif kind == "pickle":
        safe_torch_load(path)
    elif kind == "unpickle":
        repr(torch.load(path, weights_only=False))
    else:
        _fixture_model().encode(read_h5ad(path), allow_missing_genes=True)


def zarr_store(path: str) -> None:
    """Everything the app reads from a ``.zarr`` store: obs, genes, every cell's counts, the embeddings."""
    from scvi_viz.io.store import open_data

    with open_data(path) as store:
        store.obs, store.var_names
        cells, _ = store.counts_shape(None)
        for start in range(0, cells, 64):
            store.count_rows(None, slice(start, min(start + 64, cells)))
        for key in store.obsm_shapes():
            store.obsm(key)


def link(params: dict[str, str]) -> None:
    """A link's query parameters, as the app reads them: the view, checked against the fixture
    model, and the files it names, resolved under a data root holding ``models/m/model.pt`` and
    ``d.h5ad``."""
    import tempfile

    from scvi_viz.io import view_link
    from scvi_viz.io.sources import resolve_in_root
    from scvi_viz.io.view_state import ViewState

    files = view_link.files_from_query(params)
    if files is None:
        data = view_link.from_query(params)
        ViewState.from_dict(data, _fixture_model().spec)
        files = data["source"]
    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "models" / "m").mkdir(parents=True)
        (Path(root) / "models" / "m" / "model.pt").write_bytes(b"")
        (Path(root) / "d.h5ad").write_bytes(b"")
        for key in ("model", "data"):
            if files.get(key):
                resolve_in_root(files[key], Path(root))


CACHE_ARRAYS = {"latent": ((120, 10), "float32"), "umap": ((120, 2), "float32"), "library": ((120,), "float64")}
"""What each fuzzed cache file holds before its mutation (:func:`cache_arrays`)."""


def cache_arrays() -> dict[str, np.ndarray]:
    """The arrays a fuzzed cache file was written with (the same in the test and in the child)."""
    rng = np.random.default_rng(0)
    return {name: rng.normal(size=shape).astype(dtype) for name, (shape, dtype) in CACHE_ARRAYS.items()}


def cache_file(path: str) -> None:
    """Read a (mutated) cache file: it must give back exactly the arrays written, or ``None``
    (recompute); never other numbers, never an exception."""
    from scvi_viz.io.array_cache import read_arrays

    arrays = read_arrays(Path(path), CACHE_ARRAYS)
    if arrays is not None:
        written = cache_arrays()
        assert set(arrays) == set(written) and all(np.array_equal(arrays[k], written[k]) for k in written)


def de(kwargs: dict[str, Any]) -> None:
    """``differential_expression`` of the fixture model on its cells, with these arguments."""
    table = _fixture_model().differential_expression(_fixture_cells(), **kwargs)
    assert np.isfinite(table["lfc_mean"].to_numpy()).all()


def path(case: dict[str, Any]) -> None:
    """``latent_path`` (and, for a graph path, the fixture cells' kNN graph) with these arguments."""
    from scvi_viz.analysis.trajectory import LatentGraph, latent_path

    graph = None
    if case.get("graph"):
        latent = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32)
        graph = LatentGraph.build(latent, n_neighbors=case.get("n_neighbors", 10))
    steps = latent_path(case["start"], case["end"], kind=case.get("kind", "straight"), n_steps=case.get("n_steps", 50),
                        graph=graph)
    assert np.isfinite(steps).all()
