"""2-D embeddings of the latent space: a cached UMAP, and mapping a 2-D point back to z."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from scvi_viz.io.array_cache import CacheDirWarning, read_arrays, write_arrays

__all__ = ["CacheDirWarning", "InverseMap", "cached_umap", "compute_umap", "content_key", "resolve_click",
           "stored_umap_fit", "subsampled_umap"]

UMAP_OBSM_KEY = "X_scvi_umap"
"""obsm key where a precomputed UMAP of the model's latent means may be stored."""

UMAP_PARAMS = {"n_neighbors": 15, "min_dist": 0.3, "random_state": 0, "n_jobs": 1}


def content_key(*arrays: np.ndarray, extra: str = "") -> str:
    """Hex digest of arrays' bytes, shapes and dtypes (and ``extra``)."""
    digest = hashlib.blake2b(digest_size=20)
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.shape}{a.dtype}".encode())
        digest.update(a.tobytes())
    digest.update(extra.encode())
    return digest.hexdigest()


Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while cells are processed."""

UMAP_FIT_CELLS = 50_000
"""Cells the latent UMAP is fit on by default; the others are placed with ``transform``."""
TRANSFORM_BLOCK = 20_000
"""Cells placed by one ``transform`` call (each block with the same seed, so results do not depend on workers)."""


def _reducer(n: int) -> Any:
    import umap

    return umap.UMAP(n_components=2, **{**UMAP_PARAMS, "n_neighbors": min(UMAP_PARAMS["n_neighbors"], max(n - 1, 2))})


def compute_umap(latent: np.ndarray) -> np.ndarray:
    """UMAP (umap-learn) of latent points, deterministic for a given input.

    Parameters
    ----------
    latent
        Array of shape ``(n_cells, n_latent)``.

    Returns
    -------
    numpy.ndarray
        Float32 coordinates of shape ``(n_cells, 2)``.
    """
    return _reducer(latent.shape[0]).fit_transform(np.asarray(latent, dtype=np.float32)).astype(np.float32)


def umap_fit_cells(n_cells: int, fit_cells: int) -> np.ndarray:
    """The cells a UMAP of ``n_cells`` is fit on: all, or a uniform random sample (seed 0) of ``fit_cells``, sorted."""
    if n_cells <= fit_cells:
        return np.arange(n_cells)
    return np.sort(np.random.default_rng(0).choice(n_cells, fit_cells, replace=False))


def subsampled_umap(latent: np.ndarray, fit_cells: int = UMAP_FIT_CELLS, *, progress: Progress | None = None,
                    transform_blocks: Callable[[Any, np.ndarray, list[tuple[int, int]]], list[np.ndarray]] | None = None,
                    ) -> np.ndarray:
    """UMAP of all cells: fit on :func:`umap_fit_cells`, the rest placed by ``transform`` in blocks.

    With ``n_cells <= fit_cells`` this is :func:`compute_umap`. ``transform_blocks(reducer,
    points, blocks)`` may run the transforms elsewhere (on Dask workers); each block is
    transformed on its own either way, so the result is the same.
    """
    n = latent.shape[0]
    fit = umap_fit_cells(n, fit_cells)
    if len(fit) == n:
        coords = compute_umap(latent)
        if progress:
            progress(n, n)
        return coords
    latent = np.asarray(latent, dtype=np.float32)
    coords = np.empty((n, 2), dtype=np.float32)
    reducer = _reducer(len(fit)).fit(latent[fit])
    coords[fit] = reducer.embedding_.astype(np.float32)
    if progress:
        progress(len(fit), n)
    rest = np.setdiff1d(np.arange(n), fit)
    points = latent[rest]
    blocks = [(start, min(start + TRANSFORM_BLOCK, len(rest))) for start in range(0, len(rest), TRANSFORM_BLOCK)]
    if transform_blocks is None:
        done = len(fit)
        for start, stop in blocks:
            coords[rest[start:stop]] = transform_block(reducer, points, start, stop)
            done += stop - start
            if progress:
                progress(done, n)
    else:
        for (start, stop), part in zip(blocks, transform_blocks(reducer, points, blocks)):
            coords[rest[start:stop]] = part
        if progress:
            progress(n, n)
    return coords


def transform_block(reducer: Any, points: np.ndarray, start: int, stop: int) -> np.ndarray:
    """UMAP positions of ``points[start:stop]`` (a fixed transform seed: the same block gives the same result)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(reducer.transform(points[start:stop]), dtype=np.float32)


def cached_umap(latent: np.ndarray, path: Path, *, fit_cells: int | None = None, progress: Progress | None = None,
                transform_blocks: Any = None) -> np.ndarray:
    """:func:`subsampled_umap` of ``latent``, kept at ``path`` with the number of cells it was fit on.

    A stored UMAP is used when it was made from this very ``latent`` (its content hash is kept
    with it) and, if ``fit_cells`` is given, fit on that many cells; ``fit_cells=None`` takes
    whatever fit is stored, and fits on :data:`UMAP_FIT_CELLS` when computing. Files are written
    by :func:`scvi_viz.io.array_cache.write_arrays` (atomic, with a digest); a damaged or
    foreign file is recomputed and replaced. If the folder cannot be written, the embedding is
    computed without the disk cache and a :class:`CacheDirWarning` says so, once per folder.
    """
    n = latent.shape[0]
    key = np.frombuffer(bytes.fromhex(content_key(latent, extra=repr(sorted(UMAP_PARAMS.items())))), np.uint8)
    stored = read_arrays(path, {"coords": ((n, 2), "float32"), "fit_cells": ((), "int64"), "latent_key": (key.shape, "uint8")})
    fit = min(int(UMAP_FIT_CELLS if fit_cells is None else fit_cells), n)
    if stored is not None and np.array_equal(stored["latent_key"], key) and (fit_cells is None or int(stored["fit_cells"]) == fit):
        if progress:
            progress(n, n)
        return stored["coords"]
    coords = subsampled_umap(latent, fit, progress=progress, transform_blocks=transform_blocks)
    write_arrays(path, {"coords": coords, "fit_cells": np.int64(fit), "latent_key": key})
    return coords


def stored_umap_fit(path: Path) -> int | None:
    """Cells the UMAP kept at ``path`` was fit on, or ``None`` when there is none."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            return int(stored["fit_cells"])
    except (OSError, ValueError, KeyError, EOFError):
        return None


INVERSE_MAP_K = 10
"""Cells whose latent points an empty-space click averages."""


class InverseMap:
    """Map 2-D embedding positions back to latent space, and latent points onto the plot.

    A clicked position is mapped to the inverse-distance-weighted mean of the latent means of
    its ``k`` nearest cells in the embedding, so it always lies among latent points the model
    has seen.

    Parameters
    ----------
    coords
        Embedding coordinates, shape ``(n_cells, 2)``.
    latent
        Latent means, shape ``(n_cells, n_latent)``.
    k
        Number of neighbours averaged.
    """

    def __init__(self, coords: np.ndarray, latent: np.ndarray, k: int = INVERSE_MAP_K):
        self.coords = np.asarray(coords, dtype=np.float64)
        self.latent = np.asarray(latent, dtype=np.float32)
        self.k = min(k, self.coords.shape[0])
        self._tree = cKDTree(self.coords)
        self._latent_tree = cKDTree(self.latent.astype(np.float64))

    @property
    def method(self) -> str:
        """How positions are mapped, in words for the page."""
        return f"distance-weighted mean of the latent points of the {self.k} nearest cells in the plot"

    def nearest_cell(self, x: float, y: float) -> tuple[int, float]:
        """Index of the cell nearest to ``(x, y)`` and its distance."""
        dist, idx = self._tree.query([x, y], k=1)
        return int(idx), float(dist)

    @staticmethod
    def _weighted(dist: np.ndarray, idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        dist, idx = np.atleast_1d(dist), np.atleast_1d(idx)
        if dist[0] < 1e-9:
            return values[idx[0]].astype(np.float64)
        w = 1.0 / dist
        return (w[:, None] * values[idx]).sum(0) / w.sum()

    def nearest_cells(self, x: float, y: float) -> list[int]:
        """The ``k`` cells nearest to ``(x, y)`` on the plot, nearest first: those :meth:`latent_at` averages."""
        _, idx = self._tree.query([x, y], k=self.k)
        return [int(i) for i in np.atleast_1d(idx)]

    def latent_at(self, x: float, y: float) -> np.ndarray:
        """Latent point (float32) for the embedding position ``(x, y)``."""
        dist, idx = self._tree.query([x, y], k=self.k)
        return self._weighted(dist, idx, self.latent).astype(np.float32)

    def position_of(self, z: np.ndarray) -> tuple[float, float]:
        """Where to draw latent point ``z``: the weighted position of its nearest cells in latent space."""
        dist, idx = self._latent_tree.query(np.asarray(z, dtype=np.float64), k=self.k)
        xy = self._weighted(dist, idx, self.coords)
        return float(xy[0]), float(xy[1])


def resolve_click(
    hit: dict, inverse: InverseMap, grid_trace: int = 0, grid_step: tuple[float, float] | None = None
) -> tuple[int | None, np.ndarray, tuple[float, float]]:
    """Turn a plotly click (one selection point) into a cell or a latent position.

    Parameters
    ----------
    hit
        A point of a plotly selection event: ``curve_number``, ``x``, ``y`` and, for cells,
        ``customdata`` holding the cell index.
    inverse
        The map between the plot and latent space.
    grid_trace
        Index of the invisible trace that catches clicks on empty space.
    grid_step
        Spacing of that grid in x and y. plotly hands a click to the nearest marker, which
        near a cell can be a grid point: a grid hit with a cell within half a step on both
        axes is taken as a click on that cell.

    Returns
    -------
    tuple
        ``(cell, z, (x, y))``: the clicked cell's index (``None`` for empty space), the latent
        point, and where to draw it.
    """
    x, y = float(hit["x"]), float(hit["y"])
    if hit.get("curve_number") == grid_trace:
        cell, _ = inverse.nearest_cell(x, y)
        cx, cy = inverse.coords[cell]
        if grid_step is None or abs(cx - x) > grid_step[0] / 2 or abs(cy - y) > grid_step[1] / 2:
            return None, inverse.latent_at(x, y), (x, y)
        return cell, inverse.latent[cell], (float(cx), float(cy))
    custom = hit.get("customdata")
    if isinstance(custom, (list, tuple)):
        custom = custom[0] if custom else None
    cell = int(custom) if custom is not None else inverse.nearest_cell(x, y)[0]
    return cell, inverse.latent[cell], (float(inverse.coords[cell, 0]), float(inverse.coords[cell, 1]))


def cells_in_shapes(coords: np.ndarray, boxes: list[dict], lassos: list[dict]) -> np.ndarray:
    """Rows of every cell inside any of the drawn boxes or lasso polygons (sorted).

    Parameters
    ----------
    coords
        ``(n_cells, 2)`` map coordinates of all cells (drawn or not).
    boxes, lassos
        Plotly selection shapes as Streamlit reports them: dicts with ``"x"`` and ``"y"`` lists
        (a box's two corners; a lasso's vertices).
    """
    coords = np.asarray(coords, dtype=np.float64)
    inside = np.zeros(len(coords), dtype=bool)
    for box in boxes:
        (x0, x1), (y0, y1) = sorted(map(float, box["x"][:2])), sorted(map(float, box["y"][:2]))
        inside |= (coords[:, 0] >= x0) & (coords[:, 0] <= x1) & (coords[:, 1] >= y0) & (coords[:, 1] <= y1)
    for lasso in lassos:
        xs, ys = np.asarray(lasso["x"], dtype=np.float64), np.asarray(lasso["y"], dtype=np.float64)
        if len(xs) >= 3:
            inside |= _in_polygon(coords, xs, ys)
    return np.flatnonzero(inside)


def _in_polygon(points: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Even-odd rule: a point is inside when a ray to its right crosses the polygon's edges an odd number of times."""
    px, py = points[:, 0], points[:, 1]
    inside = np.zeros(len(points), dtype=bool)
    candidates = np.flatnonzero((px >= xs.min()) & (px <= xs.max()) & (py >= ys.min()) & (py <= ys.max()))
    qx, qy = px[candidates], py[candidates]
    hit = np.zeros(len(candidates), dtype=bool)
    for x1, y1, x2, y2 in zip(xs, ys, np.roll(xs, -1), np.roll(ys, -1)):
        if y1 == y2:
            continue
        crosses = (y1 > qy) != (y2 > qy)
        hit ^= crosses & (qx < (x2 - x1) * (qy - y1) / (y2 - y1) + x1)
    inside[candidates] = hit
    return inside
