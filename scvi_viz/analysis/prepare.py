"""What a dataset needs before it can be explored, computed once and kept on disk.

Four steps, each kept in scvi-viz's cache folder (never in the user's files), atomically, under
the SHA-256 of the model file and of the data (see :mod:`scvi_viz.io.fingerprint`):

1. **latent**: each cell's latent point and library size, and its posterior q(z|x) where
   known. Minified data (``model.minify_adata()``) give their stored posterior and library
   sizes; otherwise an ``obsm`` latent the user names is taken as given; otherwise the counts
   are encoded, a block of cells at a time, never read whole.
2. **umap**: a UMAP of the latent points, fit on a stated sample of cells and ``transform``-ed
   for the rest (:func:`~scvi_viz.analysis.embedding.cached_umap`), unless an ``obsm``
   embedding is named.
3. **normaliser**: per cell, the softmax log-normaliser of its own latent point and covariates
   (softmax models), so one gene's decoded expression for every cell costs one dot product each.

Per-cell steps run in blocks of :data:`BLOCK_CELLS` cells; finished blocks are kept, so a
stopped run resumes where it was. Blocks run in this process or on Dask (a
``distributed.Client``): the block functions are the same, so are the results.
``python -m scvi_viz prepare`` runs this from the command line; the app runs it on open.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from scvi_viz.analysis.embedding import UMAP_FIT_CELLS, cached_umap, stored_umap_fit, transform_block
from scvi_viz.covariates import Covariates
from scvi_viz.errors import DataError
from scvi_viz.io.adata import DataLayout, StoredPosterior, check_data, size_factors, stored_posterior
from scvi_viz.io.array_cache import default_cache_dir, read_arrays, usable_cache_dir, write_arrays
from scvi_viz.io.fingerprint import content_sha256
from scvi_viz.io.store import DataStore, open_data
from scvi_viz.model import ScviModel, load_model

BLOCK_CELLS = 10_000
"""Cells per block of the per-cell steps."""

Progress = Callable[[str, int, int], None]
"""Called as ``progress(step, done, total)``; ``step`` says in words what is being done."""

STEP_TEXT = {
    "latent": "Encoding every cell's counts (in blocks; the counts stay on disk)",
    "stored": "Reading the stored posterior of the minified data",
    "obsm": "Reading the named latent and summing each cell's counts",
    "umap": "Computing a UMAP of the latent space",
    "normaliser": "Computing each cell's softmax normaliser (for one-gene colouring of all cells)",
}


@dataclass(frozen=True)
class LatentSource:
    """Where the cells' latent points come from.

    Attributes
    ----------
    kind
        ``"stored"`` (minified data's posterior), ``"obsm"`` (an ``obsm`` entry the user named)
        or ``"encoded"`` (the model's encoder, from the counts).
    detail
        Where exactly, for a person: ``obsm['scvi_latent_qzm']``, ``obsm['X_scVI']``, the layer.
    obsm_key
        The ``obsm`` entry of an ``"obsm"`` source.
    """

    kind: str
    detail: str
    obsm_key: str | None = None

    @property
    def slug(self) -> str:
        """A file-name-safe name of the source."""
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{self.kind}-{self.detail}")[:80]

    def describe(self) -> str:
        """One phrase for the model card."""
        return {"stored": "the posterior stored in the minified data",
                "obsm": "an obsm latent named by the user (taken as given)",
                "encoded": "the model's encoder, from the counts"}[self.kind] + f" ({self.detail})"


@dataclass(frozen=True)
class Prepared:
    """The results of the steps for one model and one dataset (read-only arrays).

    Attributes
    ----------
    latent
        Each cell's latent point as the decoder takes it, float32 ``(n_cells, n_latent)``.
    library
        Each cell's library size (or size factor), float64.
    qz_mean, qz_var
        Each cell's posterior q(z|x), or ``None`` when the latent came from ``obsm``.
    umap
        A UMAP of the latent points, or ``None`` when an ``obsm`` embedding was named instead.
    log_normaliser
        Softmax log-normaliser per cell at its own covariates, or ``None`` (size-factor models).
    source
        Where the latent points came from.
    layout
        How the data line up with the model (genes, each cell's covariates).
    umap_fit_cells
        Cells the UMAP was fit on (the rest were placed by ``transform``); 0 without a UMAP.
    folder
        The cache folder of these results, or ``None`` when it could not be written.
    seconds
        Time each step took in this run (0 for steps read back from the cache).
    """

    latent: np.ndarray
    library: np.ndarray
    qz_mean: np.ndarray | None
    qz_var: np.ndarray | None
    umap: np.ndarray | None
    log_normaliser: np.ndarray | None
    source: LatentSource
    layout: DataLayout
    umap_fit_cells: int
    folder: Path | None
    seconds: dict[str, float] = field(default_factory=dict)


def latent_source(model: ScviModel, store: DataStore, latent_key: str | None = None) -> tuple[LatentSource, StoredPosterior | None]:
    """Which latent points a dataset gives: its stored posterior, a named ``obsm`` latent, or its counts.

    Raises
    ------
    DataError
        If a named latent is missing or has the wrong width, or minified data lack what the
        model's registry says they hold.
    """
    posterior = stored_posterior(model.spec, store)
    if posterior is not None:
        return LatentSource("stored", posterior.keys[0]), posterior
    if latent_key:
        shape = store.obsm_shapes().get(latent_key)
        if shape != (store.n_obs, model.n_latent):
            found = f"has shape {shape}" if shape else "is not there"
            raise DataError(f"obsm[{latent_key!r}] {found}; a latent of this model needs {store.n_obs:,} x {model.n_latent} "
                            "values (one row per cell, one column per latent dimension).")
        return LatentSource("obsm", f"obsm[{latent_key!r}]", latent_key), None
    return LatentSource("encoded", f"layer {model.spec.layer!r}" if model.spec.layer else "X"), None


# ------------------------------------------------------------------------ blocks
def latent_block(model: ScviModel, store: DataStore, layout: DataLayout, covariates: Covariates,
                 start: int, stop: int, encode: bool) -> np.ndarray:
    """Cells ``start:stop`` as float64 columns ``[latent | qz_mean | qz_var | library]`` (encode) or ``[library]``.

    ``covariates`` are those of these cells only.
    """
    counts = layout.model_counts(store.count_rows(model.spec.layer, slice(start, stop)), model.n_genes)
    library = np.asarray(counts.sum(axis=1), dtype=np.float64).ravel()
    if not encode:
        return library[:, None]
    mean, var = model.latent_posterior_counts(counts, covariates)
    latent = model.latent_point(mean)
    return np.hstack([latent, mean, var, library[:, None]]).astype(np.float64)


def normaliser_block(model: ScviModel, latent: np.ndarray, covariates: Covariates) -> np.ndarray:
    """Softmax log-normalisers of some cells at their own latent points and covariates."""
    return model.softmax_log_normaliser(latent, **covariates.decode_kwargs())


@functools.lru_cache(maxsize=2)
def _worker_model(path: str, sha256: str) -> ScviModel:
    # One load per worker process and model; the hash makes a changed file load again.
    return load_model(path, device="cpu")


def _latent_task(model_path: str, sha256: str, data_path: str, layout: DataLayout, covariates: Covariates,
                 start: int, stop: int, encode: bool) -> np.ndarray:
    model = _worker_model(model_path, sha256)
    with open_data(data_path) as store:
        return latent_block(model, store, layout, covariates, start, stop, encode)


def _normaliser_task(model_path: str, sha256: str, latent: np.ndarray, covariates: Covariates) -> np.ndarray:
    return normaliser_block(_worker_model(model_path, sha256), latent, covariates)


def _blocks(n: int) -> list[tuple[int, int]]:
    return [(start, min(start + BLOCK_CELLS, n)) for start in range(0, n, BLOCK_CELLS)]


def _run_blocks(folder: Path | None, name: str, blocks: list[tuple[int, int]], width: int, dtype: str,
                local: Callable[[int, int], np.ndarray], remote: Callable[[int, int], Any] | None,
                client: Any, step: str, progress: Progress | None) -> np.ndarray:
    """Results of every block, ``(n, width)``: each read back if a stopped run left it, else computed and kept.

    ``remote(start, stop)`` returns a ``dask.delayed`` of the same block; with a client the
    missing blocks are gathered as a ``dask.array`` over the blocks and computed on the cluster.
    """
    n = blocks[-1][1] if blocks else 0
    out = np.empty((n, width), dtype=dtype)
    parts = {b: (folder / f"{name}.part-{b[0]:012d}.npz") if folder else None for b in blocks}
    missing = []
    done = 0
    for b in blocks:
        stored = read_arrays(parts[b], {"block": ((b[1] - b[0], width), dtype)}) if parts[b] else None
        if stored is None:
            missing.append(b)
        else:
            out[b[0]:b[1]] = stored["block"]
            done += b[1] - b[0]
    if progress:
        progress(step, done, n)

    def keep(b: tuple[int, int], values: np.ndarray) -> None:
        nonlocal done
        out[b[0]:b[1]] = values
        if parts[b]:
            write_arrays(parts[b], {"block": np.asarray(values, dtype=dtype)})
        done += b[1] - b[0]
        if progress:
            progress(step, done, n)

    if client is None or remote is None:
        for b in missing:
            keep(b, local(*b))
    elif missing:
        import dask.array as da
        from distributed import as_completed

        array = da.concatenate([da.from_delayed(remote(*b), shape=(b[1] - b[0], width), dtype=dtype) for b in missing])
        futures = client.compute(list(array.to_delayed().ravel()))
        where = {f.key: b for f, b in zip(futures, missing)}
        for future in as_completed(futures):
            keep(where[future.key], future.result())
    return out


def _clear_parts(folder: Path | None, name: str) -> None:
    if folder is not None:
        for part in folder.glob(f"{name}.part-*.npz"):
            part.unlink(missing_ok=True)


# ------------------------------------------------------------------------ the steps
def cache_folder(model: ScviModel, data_path: Path, source: LatentSource, cache_dir: Path) -> Path:
    """The folder of one model's, one dataset's and one latent source's results."""
    data_sha = content_sha256(data_path, memo_dir=cache_dir)
    return cache_dir / "prepared" / f"{model.file_sha256[:16]}-{data_sha[:16]}-{source.slug}"


def prepare(model: ScviModel, data_path: str | Path, *, store: DataStore | None = None,
            cache_dir: str | Path | None = None, latent_key: str | None = None, embedding_key: str | None = None,
            umap_fit: int | None = None, client: Any = None, progress: Progress | None = None) -> Prepared:
    """Run every step that the cache does not hold yet, and return all results.

    Parameters
    ----------
    model
        The loaded model.
    data_path
        The ``.h5ad`` file or ``.zarr`` store (only read).
    store
        The data, already open (else it is opened here).
    cache_dir
        Where results are kept (default :func:`~scvi_viz.io.array_cache.default_cache_dir`).
    latent_key
        An ``obsm`` entry to take as the latent points instead of encoding the counts
        (ignored for minified data, whose stored posterior is used).
    embedding_key
        An ``obsm`` embedding to map the cells on instead of computing a UMAP (``umap`` is then
        ``None``).
    umap_fit
        Cells the UMAP is fit on; the rest are placed by ``transform``. ``None`` takes the
        UMAP already kept, whatever its fit (:data:`~scvi_viz.analysis.embedding.UMAP_FIT_CELLS`
        when there is none).
    client
        A ``distributed.Client`` to run the per-cell steps on; ``None`` runs them here.
    progress
        Told how far each step is.

    Raises
    ------
    DataError
        If the data do not fit the model (see :func:`scvi_viz.io.adata.check_data`).
    """
    data_path = Path(data_path)
    cache_dir = usable_cache_dir(Path(cache_dir or default_cache_dir()))
    if umap_fit is not None and int(umap_fit) < 10:
        raise DataError(f"umap_fit must be at least 10 cells, not {umap_fit}.")
    if store is None:
        with open_data(data_path) as opened:
            return prepare(model, data_path, store=opened, cache_dir=cache_dir, latent_key=latent_key,
                           embedding_key=embedding_key, umap_fit=umap_fit, client=client, progress=progress)
    seconds: dict[str, float] = {}
    source, posterior = latent_source(model, store, latent_key)
    layout = check_data(model.spec, store, allow_missing_genes=True)
    folder = cache_folder(model, data_path, source, cache_dir)
    n = store.n_obs
    if embedding_key is not None and store.obsm_shapes().get(embedding_key, (0, 0))[:1] != (n,):
        raise DataError(f"obsm[{embedding_key!r}] is not an embedding of these {n:,} cells.")
    latent_arrays = _latent_step(model, store, data_path, layout, source, posterior, folder, client, progress, seconds)
    latent = latent_arrays["latent"]
    started = time.perf_counter()
    umap = None
    kept = _mtime(folder / "umap.npz")
    if embedding_key is None:
        report = (lambda done, total: progress("umap", done, total)) if progress else None
        umap = cached_umap(latent, folder / "umap.npz", fit_cells=umap_fit, progress=report,
                           transform_blocks=_dask_transform(client) if client is not None else None)
    seconds["umap"] = time.perf_counter() - started if umap is not None and _mtime(folder / "umap.npz") != kept else 0.0
    fit = 0 if umap is None else (stored_umap_fit(folder / "umap.npz") or min(umap_fit or UMAP_FIT_CELLS, n))
    log_norm = None
    if not model.uses_size_factor:
        log_norm = _normaliser_step(model, latent, layout.covariates, folder, client, progress, seconds)
    written = folder.is_dir() and (folder / "latent.npz").is_file()
    if written and any(seconds.values()):  # a run that only read results back leaves the record as it was
        _write_manifest(folder, model, data_path, source, n, fit, embedding_key, seconds)
    return Prepared(latent, latent_arrays["library"], latent_arrays.get("qz_mean"), latent_arrays.get("qz_var"),
                    umap, log_norm, source, layout, fit, folder if written else None, seconds)


def _latent_step(model: ScviModel, store: DataStore, data_path: Path, layout: DataLayout, source: LatentSource,
                 posterior: StoredPosterior | None, folder: Path, client: Any, progress: Progress | None,
                 seconds: dict[str, float]) -> dict[str, np.ndarray]:
    n, k = store.n_obs, model.n_latent
    with_posterior = source.kind != "obsm"
    expected = {"latent": ((n, k), "float32"), "library": ((n,), "float64")}
    if with_posterior:
        expected |= {"qz_mean": ((n, k), "float32"), "qz_var": ((n, k), "float32")}
    stored = read_arrays(folder / "latent.npz", expected)
    if stored is not None:
        seconds["latent"] = 0.0
        if progress:
            progress(source.kind if source.kind != "encoded" else "latent", n, n)
        return stored
    started = time.perf_counter()
    if posterior is not None:
        if progress:
            progress("stored", 0, n)
        arrays = {"latent": model.latent_point(posterior.qz_mean), "library": posterior.library,
                  "qz_mean": posterior.qz_mean, "qz_var": posterior.qz_var}
        if progress:
            progress("stored", n, n)
    else:
        encode = source.kind == "encoded"
        blocks = _blocks(n)
        step = "latent" if encode else "obsm"
        model_path = str(model.path)
        remote = None
        if client is not None:
            from dask import delayed

            # Each task gets its own cells' covariates, and a layout without everyone's.
            genes_only = replace(layout, covariates=Covariates())

            def remote(start: int, stop: int) -> Any:
                return delayed(_latent_task, pure=True)(model_path, model.file_sha256, str(data_path), genes_only,
                                                        layout.covariates.rows(slice(start, stop)), start, stop, encode)

        width = 3 * k + 1 if encode else 1
        values = _run_blocks(folder, "latent", blocks, width, "float64",
                             lambda a, b: latent_block(model, store, layout, layout.covariates.rows(slice(a, b)), a, b, encode),
                             remote, client, step, progress)
        if encode:
            arrays = {"latent": values[:, :k].astype(np.float32), "qz_mean": values[:, k:2 * k].astype(np.float32),
                      "qz_var": values[:, 2 * k:3 * k].astype(np.float32), "library": values[:, -1]}
        else:
            arrays = {"latent": store.obsm(source.obsm_key), "library": values[:, 0]}
    if model.uses_size_factor:
        arrays["library"] = size_factors(model.spec, store)
    arrays["library"] = np.where(arrays["library"] > 0, arrays["library"], 1.0).astype(np.float64)
    arrays = {name: np.ascontiguousarray(a, dtype=expected[name][1]) for name, a in arrays.items()}
    if write_arrays(folder / "latent.npz", arrays):
        _clear_parts(folder, "latent")
    seconds["latent"] = time.perf_counter() - started
    return arrays


def _normaliser_step(model: ScviModel, latent: np.ndarray, covariates: Covariates, folder: Path, client: Any,
                     progress: Progress | None, seconds: dict[str, float]) -> np.ndarray:
    n = latent.shape[0]
    stored = read_arrays(folder / "normaliser.npz", {"log_normaliser": ((n,), "float32")})
    if stored is not None:
        seconds["normaliser"] = 0.0
        if progress:
            progress("normaliser", n, n)
        return stored["log_normaliser"]
    started = time.perf_counter()
    remote = None
    if client is not None:
        from dask import delayed

        model_path, sha = str(model.path), model.file_sha256
        shared = client.scatter(latent, broadcast=True)

        def remote(start: int, stop: int) -> Any:
            rows = delayed(_rows, pure=True)(shared, start, stop)
            return delayed(_normaliser_task, pure=True)(model_path, sha, rows, covariates.rows(slice(start, stop)))[:, None]

    values = _run_blocks(folder, "normaliser", _blocks(n), 1, "float32",
                         lambda a, b: normaliser_block(model, latent[a:b], covariates.rows(slice(a, b)))[:, None],
                         remote, client, "normaliser", progress)
    log_norm = np.ascontiguousarray(values[:, 0])
    if write_arrays(folder / "normaliser.npz", {"log_normaliser": log_norm}):
        _clear_parts(folder, "normaliser")
    seconds["normaliser"] = time.perf_counter() - started
    return log_norm


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _rows(array: np.ndarray, start: int, stop: int) -> np.ndarray:
    return array[start:stop]


def _dask_transform(client: Any) -> Callable[[Any, np.ndarray, list[tuple[int, int]]], list[np.ndarray]]:
    """UMAP ``transform`` of each block on the cluster (the fitted reducer is sent to every worker once)."""
    def run(reducer: Any, points: np.ndarray, blocks: list[tuple[int, int]]) -> list[np.ndarray]:
        shared_reducer, shared_points = client.scatter(reducer, broadcast=True), client.scatter(points, broadcast=True)
        futures = [client.submit(transform_block, shared_reducer, shared_points, a, b, pure=True) for a, b in blocks]
        return client.gather(futures)
    return run


def _write_manifest(folder: Path, model: ScviModel, data_path: Path, source: LatentSource, n: int, umap_fit: int,
                    embedding_key: str | None, seconds: dict[str, float]) -> None:
    """A note for people looking into the cache folder: what these results are of."""
    manifest = {"model": str(model.path), "model_sha256": model.file_sha256, "data": str(data_path), "cells": n,
                "latent_source": source.describe(), "umap_fit_cells": umap_fit, "map": embedding_key or "UMAP",
                "seconds": {k: round(v, 3) for k, v in seconds.items()}}
    try:
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    except OSError:
        pass
