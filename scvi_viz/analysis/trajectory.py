"""Paths through latent space between two cell states, and what the decoder says along them.

A path runs between two endpoints (a cell's latent mean, or the centroid of an ``obs`` group)
either as a straight line in z or as the shortest path through the k-nearest-neighbour graph of
the cells' latent means, which stays among the cells (on the data's manifold). Each step of a
path is measured against the data: its distance to the nearest cell, relative to the typical
distance between a cell and its nearest neighbour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy.sparse import csgraph, csr_matrix
from sklearn.neighbors import NearestNeighbors

from scvi_viz.arrays import read_only
from scvi_viz.analysis.distributions import predictive_interval
from scvi_viz.errors import DecodeInputError
from scvi_viz.model.inputs import check_count, numbers

if TYPE_CHECKING:
    from scvi_viz.model import ScviModel
    from scvi_viz.point import Point

PathKind = Literal["straight", "graph"]
PATH_KINDS: dict[PathKind, str] = {
    "graph": "through the cells (shortest path in the kNN graph)",
    "straight": "straight line in latent space",
}
"""Path kind -> what it is, in words."""
N_NEIGHBOURS = 15
"""Neighbours per cell in the kNN graph (as umap-learn's default)."""
OFF_DATA_RATIO = 2.0
"""A step whose nearest cell is farther than this many typical nearest-neighbour distances is off the
data. On the demo no cell is farther than 2.0 from its own nearest neighbour (99% within 1.65)."""
OFF_DATA_TEXT = "off the data: the decoder is extrapolating here"


MAX_PATH_STEPS = 10_000
"""Most points one path may have (each is decoded for every gene)."""
GRAPH_MAX_CELLS = 30_000
"""Most cells the kNN graph is built on (building it for a million cells would take many minutes here)."""


class TrajectoryError(DecodeInputError):
    """An endpoint or path that cannot be built (unknown cell or group, disconnected graph)."""


@dataclass(frozen=True)
class LatentGraph:
    """The cells' latent means, their kNN graph and a nearest-neighbour index; read-only.

    Attributes
    ----------
    latent
        ``(n_cells, n_latent)`` latent means.
    graph
        Symmetric sparse ``(n_cells, n_cells)`` matrix of Euclidean distances between neighbours.
    index
        A fitted :class:`sklearn.neighbors.NearestNeighbors` over ``latent`` (only queried).
    typical_distance
        Median over cells of the distance to the nearest other cell.
    cells
        Which of all cells the graph holds (row numbers), or ``None`` for every cell: datasets
        of more than :data:`GRAPH_MAX_CELLS` cells are represented by a uniform random sample.
    """

    latent: np.ndarray
    graph: csr_matrix
    index: NearestNeighbors
    typical_distance: float
    cells: np.ndarray | None = None

    @classmethod
    def build(cls, latent: np.ndarray, *, n_neighbors: int = N_NEIGHBOURS, max_cells: int | None = None) -> LatentGraph:
        """The kNN graph of ``latent`` (scikit-learn), symmetrised so that a path can go either way.

        ``max_cells`` (default :data:`GRAPH_MAX_CELLS`) bounds the cells it is built on: of more,
        a uniform random sample (seed 0) stands for them all.
        """
        latent = numbers(latent, "the cells' latent points")
        n_neighbors = check_count(n_neighbors, "n_neighbors", high=1000)
        if latent.ndim != 2 or latent.shape[0] < 2:
            raise TrajectoryError("A path through the cells needs at least two cells.")
        max_cells = max_cells or GRAPH_MAX_CELLS
        cells = None
        if latent.shape[0] > max_cells:
            cells = np.sort(np.random.default_rng(0).choice(latent.shape[0], max_cells, replace=False))
            latent = latent[cells]
        k = min(n_neighbors, latent.shape[0] - 1)
        index = NearestNeighbors(n_neighbors=k).fit(latent)
        graph = index.kneighbors_graph(mode="distance")
        graph = graph.maximum(graph.T).tocsr()
        nearest, _ = index.kneighbors(n_neighbors=1)
        typical = float(np.median(nearest[:, 0]))
        return cls(read_only(latent), graph, index, typical if typical > 0 else 1.0,
                   None if cells is None else read_only(cells))

    def distance_to_data(self, points: np.ndarray) -> np.ndarray:
        """Per row of ``points``: distance to the nearest cell divided by :attr:`typical_distance`."""
        dist, _ = self.index.kneighbors(np.asarray(points, dtype=np.float64), n_neighbors=1)
        return dist[:, 0] / self.typical_distance

    def nearest_cell(self, z: np.ndarray) -> int:
        """Index of the cell whose latent mean is nearest to ``z``."""
        _, idx = self.index.kneighbors(np.asarray(z, dtype=np.float64).reshape(1, -1), n_neighbors=1)
        return int(idx[0, 0])

    def cell_path(self, start: int, end: int) -> list[int]:
        """Cells on the shortest path from cell ``start`` to cell ``end`` through the graph.

        Raises
        ------
        TrajectoryError
            If the two cells are in parts of the graph that no path joins.
        """
        dist, pred = csgraph.dijkstra(self.graph, directed=False, indices=start, return_predecessors=True)
        if not np.isfinite(dist[end]):
            raise TrajectoryError(
                "No path through the cells joins these endpoints: they lie in parts of the data that the "
                f"{N_NEIGHBOURS}-nearest-neighbour graph does not connect. Choose the straight line, or other endpoints.")
        cells = [end]
        while cells[-1] != start:
            cells.append(int(pred[cells[-1]]))
        return cells[::-1]


# ------------------------------------------------------------------------------------ endpoints
def describe_endpoint(endpoint: Mapping[str, Any]) -> str:
    """``cell AAAC…`` or ``louvain = B cells (centroid)``."""
    if endpoint.get("kind") == "cell":
        return f"cell {endpoint.get('cell')}"
    if endpoint.get("kind") == "cells":
        return f"{len(endpoint.get('cells') or [])} cells selected on the map (centroid)"
    return f"{endpoint.get('column')} = {endpoint.get('category')} (centroid)"


def endpoint_cells(obs: pd.DataFrame, endpoint: Mapping[str, Any]) -> np.ndarray:
    """Row numbers of the cells an endpoint stands for: one cell, every cell of a group, or a selection.

    Parameters
    ----------
    obs
        The cells' ``obs`` table (index = cell ids as strings).
    endpoint
        ``{"kind": "cell", "cell": "<cell id>"}``,
        ``{"kind": "group", "column": "<obs column>", "category": "<category>"}`` or
        ``{"kind": "cells", "cells": ["<cell id>", ...]}`` (cells selected on the map).

    Raises
    ------
    TrajectoryError
        For an unknown kind, cell, column or category (the message says which).
    """
    kind = endpoint.get("kind")
    if kind == "cell":
        cell = str(endpoint.get("cell"))
        where = np.flatnonzero(obs.index == cell)
        if len(where) == 0:
            raise TrajectoryError(f"No cell {cell!r} in the data: type a cell id of the data, or click a cell on the map.")
        return where[:1]
    if kind == "group":
        column, category = endpoint.get("column"), str(endpoint.get("category"))
        if column not in obs.columns:
            raise TrajectoryError(f"No obs column {column!r} in the data: choose one of {', '.join(map(str, obs.columns[:10]))}.")
        where = np.flatnonzero(obs[column].astype(str).to_numpy() == category)
        if len(where) == 0:
            raise TrajectoryError(f"No cell has {column} = {category!r}: choose a category that the data has.")
        return where
    if kind == "cells":
        cells = endpoint.get("cells")
        where = np.flatnonzero(obs.index.isin([str(c) for c in cells])) if isinstance(cells, list) else np.array([], int)
        if len(where) == 0:
            raise TrajectoryError("No cells are selected for this endpoint: draw a box or lasso around cells on the map "
                                  "(its toolbar has both tools), then press 'Use the selected cells'.")
        return where
    raise TrajectoryError(f"An endpoint is a cell, a group or selected cells, not {kind!r}.")


def endpoint_latent(latent: np.ndarray, obs: pd.DataFrame, endpoint: Mapping[str, Any]) -> np.ndarray:
    """The latent point of an endpoint: the cell's latent mean, or the mean over the group's cells."""
    return np.asarray(latent, dtype=np.float64)[endpoint_cells(obs, endpoint)].mean(axis=0)


def group_columns(obs: pd.DataFrame, *, max_categories: int = 60) -> list[str]:
    """``obs`` columns whose values name groups: non-numeric, 2 to ``max_categories`` categories."""
    out = []
    for column in obs.columns:
        values = obs[column]
        if str(column).startswith("_scvi"):
            continue
        if pd.api.types.is_numeric_dtype(values) and not isinstance(values.dtype, pd.CategoricalDtype):
            continue
        if 2 <= values.nunique() <= max_categories:
            out.append(str(column))
    return out


def default_endpoints(obs: pd.DataFrame, *, labels_key: str | None = None) -> tuple[dict, dict]:
    """The centroids of the two largest groups of ``labels_key`` (or of the first group column).

    With no such column, the first and the last cell.
    """
    columns = group_columns(obs)
    column = labels_key if labels_key in columns else (columns[0] if columns else None)
    if column is None:
        return {"kind": "cell", "cell": str(obs.index[0])}, {"kind": "cell", "cell": str(obs.index[-1])}
    largest = obs[column].astype(str).value_counts().index[:2]
    return tuple({"kind": "group", "column": column, "category": str(c)} for c in largest)


# ----------------------------------------------------------------------------------------- paths
def resample(polyline: np.ndarray, n_steps: int) -> np.ndarray:
    """``n_steps`` points evenly spaced by arc length along ``polyline`` (its ends included)."""
    polyline = np.asarray(polyline, dtype=np.float64)
    seg = np.linalg.norm(np.diff(polyline, axis=0), axis=1)
    along = np.concatenate([[0.0], np.cumsum(seg)])
    if along[-1] == 0:
        return np.repeat(polyline[:1], n_steps, axis=0)
    at = np.linspace(0.0, along[-1], n_steps)
    return np.stack([np.interp(at, along, polyline[:, d]) for d in range(polyline.shape[1])], axis=1)


def latent_path(start: np.ndarray, end: np.ndarray, *, kind: PathKind = "straight", n_steps: int = 50,
                graph: LatentGraph | None = None) -> np.ndarray:
    """Points from ``start`` to ``end`` in latent space, ``n_steps`` of them evenly spaced.

    Parameters
    ----------
    start, end
        Latent points ``(n_latent,)``.
    kind
        ``"straight"``: the line between them. ``"graph"``: from ``start`` to its nearest cell,
        along the shortest path through ``graph`` to the cell nearest ``end``, then to ``end``.
    n_steps
        Number of points (at least 2), evenly spaced by length along the path.
    graph
        The cells' :class:`LatentGraph` (needed for ``kind="graph"``).

    Returns
    -------
    numpy.ndarray
        ``(n_steps, n_latent)``; the first row is ``start`` and the last ``end``.
    """
    n_steps = check_count(n_steps, "n_steps (points along the path)", low=2, high=MAX_PATH_STEPS)
    start, end = numbers(start, "the path's start"), numbers(end, "the path's end")
    if start.ndim != 1 or start.shape != end.shape:
        raise DecodeInputError(f"start and end must be two latent points of the same length; got shapes {start.shape} and {end.shape}.")
    if kind == "straight":
        return start + np.linspace(0.0, 1.0, n_steps)[:, None] * (end - start)
    if kind != "graph":
        raise TrajectoryError(f"A path is {' or '.join(map(repr, PATH_KINDS))}, not {kind!r}.")
    if graph is None:
        raise TrajectoryError("A path through the cells needs their kNN graph.")
    cells = graph.cell_path(graph.nearest_cell(start), graph.nearest_cell(end))
    return resample(np.vstack([start, graph.latent[cells], end]), n_steps)


@dataclass(frozen=True)
class PathDecoded:
    """What the decoder says at each step of a path, for every gene.

    Attributes
    ----------
    z
        ``(n_steps, n_latent)`` latent points.
    genes
        Gene names (columns of the arrays).
    rate
        Expected counts at the library size decoded at, ``(n_steps, n_genes)``.
    theta, dropout
        NB inverse dispersion and zero-inflation probability (``None`` where the likelihood has none).
    library_size
        The library size (or size factor) every step was decoded at.
    """

    z: np.ndarray
    genes: list[str]
    rate: np.ndarray
    theta: np.ndarray | None
    dropout: np.ndarray | None
    library_size: float

    def changing_genes(self, n: int) -> list[str]:
        """The ``n`` genes whose log expected expression spans the widest range along the path."""
        log_rate = np.log(self.rate + 1e-8)
        spread = log_rate.max(axis=0) - log_rate.min(axis=0)
        return [self.genes[i] for i in np.argsort(-spread, kind="stable")[:n]]

    def columns(self, genes: Sequence[str]) -> np.ndarray:
        """Column numbers of ``genes``."""
        where = {g: i for i, g in enumerate(self.genes)}
        return np.array([where[g] for g in genes], dtype=np.int64)

    def interval(self, genes: Sequence[str], *, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """The central ``level`` predictive interval of the counts of ``genes`` at each step,
        ``(n_steps, len(genes))`` each (see :func:`~scvi_viz.analysis.distributions.predictive_interval`)."""
        cols = self.columns(genes)
        pick = (lambda a: None if a is None else a[:, cols])
        return predictive_interval(self.rate[:, cols], pick(self.theta), pick(self.dropout), level=level)


def decode_path(model: ScviModel, path: np.ndarray, *, point: Point) -> PathDecoded:
    """Decode every step of ``path`` at ``point``'s library size and covariates.

    Parameters
    ----------
    model
        The loaded model.
    path
        ``(n_steps, n_latent)`` latent points, e.g. from :func:`latent_path`.
    point
        Supplies the library size and covariates (its ``z`` is not used).
    """
    out = model.decode(np.asarray(path, dtype=np.float32), library_size=point.library_size,
                       **point.covariates.decode_kwargs())

    def numpy(t: Any) -> np.ndarray | None:
        return None if t is None else t.detach().cpu().numpy().astype(np.float64)

    theta = numpy(out.theta)
    if theta is not None and theta.ndim == 1:
        theta = np.broadcast_to(theta, (len(path), theta.shape[0]))
    return PathDecoded(np.asarray(path, dtype=np.float64), list(model.genes), numpy(out.rate), theta,
                       numpy(out.dropout) if model.gene_likelihood == "zinb" else None, float(point.library_size))


def off_data(relative_distance: np.ndarray, *, ratio: float | None = None) -> np.ndarray:
    """Which steps are off the data: farther from every cell than ``ratio`` (default
    :data:`OFF_DATA_RATIO`) typical neighbour distances."""
    return np.asarray(relative_distance) > (OFF_DATA_RATIO if ratio is None else ratio)
