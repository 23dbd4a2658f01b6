"""What a walk through latent space needs besides the decoder: where a point lies among the
cells (its distance to the data), and the cells as the browser uses them to follow the hand.

The browser decodes a moving point itself (``ScviModel.browser_weights``); to place it on the
map, measure its distance to the data and preview the cell under the mouse it also needs the
drawn cells' latent points, map positions, library sizes and covariates: :func:`browser_cells`
gathers those as plain arrays, and :func:`point_covariates` turns a point's covariates into
the category numbers the browser decoder takes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.spatial import cKDTree

from scvi_viz.arrays import read_only
from scvi_viz.point import Point
from scvi_viz.spec import ModelSpec

if TYPE_CHECKING:
    from scvi_viz.analysis.workspace import Workspace

TYPICAL_SAMPLE = 30_000
"""Cells whose nearest-neighbour distance sets the typical distance (a uniform sample, seed 0,
above this many cells: the median barely moves, and a million queries would take seconds)."""


@dataclass(frozen=True)
class DataDistance:
    """How far a latent point is from the cells, in units of the typical nearest-neighbour distance.

    Attributes
    ----------
    latent
        The cells' latent points (read-only float32).
    typical
        Median over cells of the distance to the nearest other cell.
    """

    latent: np.ndarray
    typical: float
    _tree: cKDTree

    @classmethod
    def build(cls, latent: np.ndarray) -> DataDistance:
        """The distance measure over ``latent`` (``(n_cells, n_latent)``)."""
        latent = read_only(np.asarray(latent, dtype=np.float32))
        tree = cKDTree(latent.astype(np.float64))
        n = latent.shape[0]
        if n < 2:
            return cls(latent, 1.0, tree)
        rows = np.arange(n) if n <= TYPICAL_SAMPLE else np.random.default_rng(0).choice(n, TYPICAL_SAMPLE, replace=False)
        dist, _ = tree.query(latent[rows].astype(np.float64), k=2)
        typical = float(np.median(dist[:, 1]))
        return cls(latent, typical if typical > 0 else 1.0, tree)

    def ratio(self, z: Sequence[float]) -> float:
        """Distance from ``z`` to the nearest cell over :attr:`typical` (above the Trajectory page's
        ``OFF_DATA_RATIO`` the point is off the data)."""
        dist, _ = self._tree.query(np.asarray(z, dtype=np.float64), k=1)
        return float(dist) / self.typical

    def ratios(self, points: np.ndarray) -> np.ndarray:
        """:meth:`ratio` of each row of ``points`` (``(n_points, n_latent)``), in one query."""
        dist, _ = self._tree.query(np.asarray(points, dtype=np.float64), k=1)
        return np.asarray(dist, dtype=np.float64) / self.typical

    def nearest(self, z: Sequence[float], k: int) -> np.ndarray:
        """Row numbers of the ``k`` cells nearest to ``z`` (all cells when there are fewer), nearest first."""
        k = min(int(k), self.latent.shape[0])
        _, rows = self._tree.query(np.asarray(z, dtype=np.float64), k=k)
        return np.atleast_1d(np.asarray(rows, dtype=np.int64))


def point_covariates(spec: ModelSpec, point: Point) -> dict[str, Any]:
    """``point``'s covariates as the browser decoder takes them: category numbers in the model's
    order (``batch``, ``label``, ``categorical``) and ``continuous`` values."""
    def index(categories: Sequence[str], value: str | None) -> int:
        return categories.index(value) if value in categories else 0

    return {
        "batch": index(spec.batches, point.batch),
        "label": index(spec.labels, point.label),
        "categorical": [index(cats, point.categorical.get(name)) for name, cats in spec.categorical_covariates.items()],
        "continuous": [float(point.continuous.get(name, 0.0)) for name in spec.continuous_covariates],
    }


def _codes(values: Any, categories: Sequence[str], n: int) -> np.ndarray:
    if values is None:
        return np.zeros(n, dtype=np.int32)
    lookup = {c: i for i, c in enumerate(categories)}
    values = np.asarray(values)
    if values.ndim == 0:
        return np.full(n, lookup.get(str(values), 0), dtype=np.int32)
    return np.array([lookup.get(str(v), 0) for v in values], dtype=np.int32)


def browser_cells(ws: Workspace, *, rows: np.ndarray | None, embeddings: Mapping[str, np.ndarray],
                  grid_steps: Mapping[str, tuple[float, float]], typical: float,
                  k: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The cells the browser places points among: a header and named arrays.

    Parameters
    ----------
    ws
        The workspace.
    rows
        Which cells (the ones the map draws), or ``None`` for all.
    embeddings
        Map name -> ``(n_cells, 2)`` coordinates of every cell.
    grid_steps
        Map name -> the spacing of the map's click grid (a hover near a cell is that cell).
    typical
        :attr:`DataDistance.typical`.
    k
        Neighbours the inverse map averages (``InverseMap.k``).

    Returns
    -------
    tuple
        ``(header, arrays)``: the header names the arrays' meaning; arrays are float32 (latent
        points, library sizes, continuous covariates), float64 (map positions) and int32
        (category numbers).
    """
    spec = ws.model.spec
    picked = np.arange(ws.n_cells) if rows is None else np.asarray(rows, dtype=np.int64)
    n = len(picked)
    cov = ws.covariates.rows(picked)
    arrays: dict[str, np.ndarray] = {
        "latent": np.ascontiguousarray(ws.latent[picked], dtype=np.float32),
        "library": np.asarray(ws.library[picked], dtype=np.float64),
        "batch": _codes(cov.batch, spec.batches, n),
        "label": _codes(cov.label, spec.labels, n),
    }
    for j, (name, cats) in enumerate(spec.categorical_covariates.items()):
        arrays[f"categorical{j}"] = _codes(cov.categorical.get(name), cats, n)
    for j, name in enumerate(spec.continuous_covariates):
        values = cov.continuous.get(name)
        arrays[f"continuous{j}"] = np.broadcast_to(np.asarray(0.0 if values is None else values, dtype=np.float64), (n,)).copy()
    for name, coords in embeddings.items():
        arrays[f"coords:{name}"] = np.ascontiguousarray(np.asarray(coords, dtype=np.float64)[picked])
    header = {"n": n, "n_latent": int(ws.latent.shape[1]), "typical": float(typical), "k": int(k),
              "n_total": int(ws.n_cells), "embeddings": list(embeddings),
              "grid_steps": {name: [float(s) for s in step] for name, step in grid_steps.items()},
              "n_categorical": len(spec.categorical_covariates), "n_continuous": len(spec.continuous_covariates)}
    return header, arrays
