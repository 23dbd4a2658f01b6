"""2-D embeddings of the latent space: a cached UMAP, and mapping a 2-D point back to z."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

UMAP_OBSM_KEY = "X_scvi_umap"
"""obsm key where a precomputed UMAP of the model's latent means may be stored."""

UMAP_PARAMS = {"n_neighbors": 15, "min_dist": 0.3, "random_state": 0, "n_jobs": 1}


def default_cache_dir() -> Path:
    """Folder for computed embeddings: ``$SCVI_VIZ_CACHE_DIR`` or ``~/.cache/scvi-viz``."""
    return Path(os.environ.get("SCVI_VIZ_CACHE_DIR") or Path.home() / ".cache" / "scvi-viz")


def content_key(*arrays: np.ndarray, extra: str = "") -> str:
    """Hex digest of arrays' bytes, shapes and dtypes (and ``extra``)."""
    digest = hashlib.blake2b(digest_size=20)
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.shape}{a.dtype}".encode())
        digest.update(a.tobytes())
    digest.update(extra.encode())
    return digest.hexdigest()


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
    import umap

    n = latent.shape[0]
    reducer = umap.UMAP(n_components=2, **{**UMAP_PARAMS, "n_neighbors": min(UMAP_PARAMS["n_neighbors"], max(n - 1, 2))})
    return reducer.fit_transform(np.asarray(latent, dtype=np.float32)).astype(np.float32)


def cached_umap(latent: np.ndarray, cache_dir: Path | None = None) -> np.ndarray:
    """:func:`compute_umap`, stored in ``cache_dir`` under the latent's content hash.

    Only ``.npz`` files of coordinates (with a digest of them) are written, in a folder of
    scvi-viz's own, each through a temporary file in that folder that is renamed into place
    (another session never sees half a file). A cache file is used only if it holds the right
    shape of finite float32 coordinates whose digest matches; otherwise it is recomputed and
    replaced. If the folder cannot be written, the embedding is computed without the disk
    cache and a :class:`CacheDirWarning` says so, once per folder.
    """
    cache_dir = Path(cache_dir or default_cache_dir())
    path = cache_dir / f"umap-{content_key(latent, extra=repr(sorted(UMAP_PARAMS.items())))}.npz"
    coords = _read_cached(path, latent.shape[0])
    if coords is not None:
        return coords
    coords = compute_umap(latent)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache_dir, prefix=".umap-", suffix=".tmp", delete=False) as handle:
            tmp = Path(handle.name)
            try:
                np.savez(handle, coords=coords, digest=np.frombuffer(_digest(coords), np.uint8))
                handle.flush()
                os.fsync(handle.fileno())
            except BaseException:
                handle.close()
                tmp.unlink(missing_ok=True)
                raise
        os.replace(tmp, path)
    except OSError as exc:
        _warn_once(cache_dir, exc)
    return coords


class CacheDirWarning(UserWarning):
    """The embedding cache folder cannot be written; embeddings are recomputed each time the app starts."""


_WARNED: set[str] = set()
_WARNED_LOCK = threading.Lock()


def _warn_once(cache_dir: Path, exc: OSError) -> None:
    with _WARNED_LOCK:
        if str(cache_dir) in _WARNED:
            return
        _WARNED.add(str(cache_dir))
    warnings.warn(
        f"The embedding cache folder {cache_dir} cannot be written ({exc.strerror or exc}); UMAPs are computed "
        "without the disk cache. Set SCVI_VIZ_CACHE_DIR to a writable folder to keep them.",
        CacheDirWarning, stacklevel=3,
    )


def _digest(coords: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(coords).tobytes(), digest_size=16).digest()


def _read_cached(path: Path, n_cells: int) -> np.ndarray | None:
    """The coordinates in a cache file, or ``None`` if it is missing, damaged or not what was written."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            coords, digest = stored["coords"], stored["digest"]
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error):
        return None
    if coords.shape != (n_cells, 2) or coords.dtype != np.float32 or not np.isfinite(coords).all():
        return None
    return coords if digest.tobytes() == _digest(coords) else None


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

    def __init__(self, coords: np.ndarray, latent: np.ndarray, k: int = 10):
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
