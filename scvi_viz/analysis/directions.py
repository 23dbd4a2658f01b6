"""Latent directions that mean something: what each one does to genes, and directions with names.

Computed from the decoder (:meth:`ScviModel.log_scale_jacobian`, :meth:`ScviModel.decode`) and
the cells' latent points, without Streamlit:

- what a direction does at a point: :func:`slider_effects` (each latent dimension) and
  :func:`direction_effects` (any direction), from the Jacobian of log expected expression;
- directions with biological names: :func:`toward` a group's centroid (:func:`group_centroids`),
  "more of" a gene set (:func:`gene_set_direction`, followed along the data by
  :func:`follow_gene_set`) and the cells' :func:`principal_axes`.

What is characteristic of a point, the table per model and covariate support are in
:mod:`scvi_viz.analysis.characteristic`. Expression is stated in :func:`expression_unit`:
expected counts per 10,000 counts of a cell (``px_scale`` x 10,000) for ordinary models,
expected counts at size factor 1 for size-factor models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scvi_viz.analysis.trajectory import OFF_DATA_RATIO
from scvi_viz.analysis.walk import DataDistance
from scvi_viz.arrays import read_only
from scvi_viz.errors import DecodeInputError
from scvi_viz.model.inputs import cell_points, check_count, check_real, gene_list, numbers, one_point

if TYPE_CHECKING:
    from scvi_viz.model import ScviModel

MAX_HALVINGS = 4
"""Times :func:`follow_gene_set` halves a step that leaves the data or lowers the expression, before it stops."""
STOP_REASONS = {
    "steps": "took every step asked for",
    "off_data": "a further step would leave the data",
    "peak": "the expression stops rising here (a local maximum along the data)",
    "flat": "the decoder's expression of these genes does not change here",
}
"""Why :func:`follow_gene_set` stopped, in words."""


# ------------------------------------------------------------------------------------ helpers
def expression_unit(model: ScviModel) -> tuple[float, str]:
    """What ``px_scale`` is multiplied by to read as counts, and the unit in words.

    Ordinary (softmax) models: ``px_scale`` is a fraction of the cell's counts, so x 10,000 gives
    expected counts per 10,000 counts. Size-factor (softplus) models: ``px_scale`` is already the
    expected count at size factor 1.
    """
    if model.uses_size_factor:
        return 1.0, "expected counts at size factor 1"
    return 1e4, "expected counts per 10,000 counts"


def _jacobian(jacobian: Any, genes: Sequence[str]) -> np.ndarray:
    arr = numbers(jacobian, "jacobian")
    if arr.ndim != 2 or arr.shape[0] != len(genes):
        raise DecodeInputError(f"jacobian must be (genes, latent dimensions) with one row per gene ({len(genes)}); "
                               f"got shape {arr.shape}.")
    return arr


def _ranked(change: np.ndarray, genes: Sequence[str], n: int) -> tuple[list[str], list[str]]:
    """The ``n`` genes of largest positive and of most negative ``change`` (those that change at all)."""
    up = [str(genes[i]) for i in np.argsort(-change, kind="stable")[:n] if change[i] > 0]
    down = [str(genes[i]) for i in np.argsort(change, kind="stable")[:n] if change[i] < 0]
    return up, down


# ------------------------------------------------------------------- what a direction does
def slider_effects(jacobian: Any, genes: Sequence[str], *, n: int = 3) -> list[tuple[list[str], list[str]]]:
    """Per latent dimension, the genes that rise most and fall most when it moves up.

    Parameters
    ----------
    jacobian
        :meth:`ScviModel.log_scale_jacobian` at the point, ``(n_genes, n_latent)``.
    genes
        The names of its rows.
    n
        Genes per list.

    Returns
    -------
    list
        One ``(rising, falling)`` pair per latent dimension, each a list of at most ``n`` gene
        names, the strongest first (ranked by the change of log expected expression per unit).
    """
    arr = _jacobian(jacobian, genes)
    n = check_count(n, "n (genes per list)", high=100_000)
    return [_ranked(arr[:, d], genes, n) for d in range(arr.shape[1])]


def directional_derivative(jacobian: Any, direction: Any) -> np.ndarray:
    """Each gene's change of log expected expression per unit step along ``direction`` (made unit length)."""
    arr = numbers(jacobian, "jacobian")
    if arr.ndim != 2:
        raise DecodeInputError(f"jacobian must be (genes, latent dimensions); got shape {arr.shape}.")
    unit = one_point(direction, arr.shape[1], "direction")
    norm = float(np.linalg.norm(unit))
    if not norm > 0:
        raise DecodeInputError("direction is zero: it points nowhere. Choose two different points or a gene that changes.")
    return arr @ (unit / norm)


def direction_effects(jacobian: Any, direction: Any, genes: Sequence[str], *, n: int = 20) -> tuple[list[str], list[str]]:
    """The ``n`` genes that rise most and fall most along ``direction`` at the Jacobian's point."""
    _jacobian(jacobian, genes)
    n = check_count(n, "n (genes per list)", high=100_000)
    return _ranked(directional_derivative(jacobian, direction), genes, n)


# ---------------------------------------------------------------------- toward a cell state
@dataclass(frozen=True)
class Toward:
    """The straight line from a point to a target, parametrised so that ``t = 0`` is the point and
    ``t = 1`` is exactly the target (``(1 - t) * start + t * end``).

    Attributes
    ----------
    start, end
        Float64 latent points (read-only).
    """

    start: np.ndarray
    end: np.ndarray

    @property
    def length(self) -> float:
        """Distance from start to end in latent space."""
        return float(np.linalg.norm(self.end - self.start))

    @property
    def direction(self) -> np.ndarray:
        """Unit vector from start to end (zeros when they coincide)."""
        length = self.length
        return (self.end - self.start) / length if length > 0 else np.zeros_like(self.start)

    def at(self, t: Any) -> np.ndarray:
        """The point(s) at ``t``: ``(n_latent,)`` for one number, ``(len(t), n_latent)`` for several."""
        ts = numbers(t, "t")
        if ts.ndim > 1:
            raise DecodeInputError(f"t must be a number or a list of numbers; got shape {ts.shape}.")
        # (1 - t) * start + t * end, not start + t * (end - start): at t = 1 it is end to the last bit.
        return (1.0 - ts[..., None]) * self.start + ts[..., None] * self.end

    def position(self, z: Any) -> float:
        """The ``t`` of ``z``'s projection on the line (0 when start and end coincide)."""
        point = one_point(z, self.start.shape[0])
        span = self.end - self.start
        squared = float(span @ span)
        return float((point - self.start) @ span / squared) if squared > 0 else 0.0


def toward(z_from: Any, z_to: Any) -> Toward:
    """The direction from ``z_from`` (here, ``t = 0``) to ``z_to`` (``t = 1``, e.g. a group's centroid)."""
    given = np.shape(z_from)
    n_latent = given[-1] if len(given) in (1, 2) and given[-1] > 0 else 0
    if n_latent == 0:
        raise DecodeInputError(f"z_from must be one latent point (a list of numbers); got shape {given}.")
    start = one_point(z_from, n_latent, "z_from")
    end = one_point(z_to, n_latent, "z_to")
    return Toward(read_only(start), read_only(end))


def group_centroids(latent: Any, obs_column: Any) -> dict[str, np.ndarray]:
    """The mean latent point of each category of ``obs_column`` (float64), keyed by the category as text.

    Categories are in the column's category order (categorical columns) or sorted; categories
    without cells and missing values are left out.
    """
    cells = cell_points(latent)
    values = pd.Series(obs_column) if not isinstance(obs_column, pd.Series) else obs_column
    if len(values) != cells.shape[0]:
        raise DecodeInputError(f"obs_column has {len(values)} values but latent has {cells.shape[0]} cells.")
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories, codes = values.cat.categories, values.cat.codes.to_numpy()
    elif pd.api.types.is_numeric_dtype(values):
        codes, categories = pd.factorize(values.to_numpy(), sort=True)
    else:  # names compared as text (mixed types sort), missing values left out
        codes, categories = pd.factorize(values.astype(str).where(values.notna()).to_numpy(), sort=True)
    out = {}
    for j, category in enumerate(categories):
        rows = np.flatnonzero(codes == j)
        if len(rows):
            out[str(category)] = read_only(cells[rows].astype(np.float64).mean(axis=0))
    return out


def principal_axes(latent: Any) -> tuple[np.ndarray, np.ndarray]:
    """The principal axes of the cells' latent points, largest variance first.

    Returns
    -------
    tuple
        ``(axes, variances)``: ``axes`` is ``(n_latent, n_latent)``, one unit vector per row, each
        signed so that its largest component is positive; ``variances`` is the cells' variance
        along each axis (``ddof=1``), in float64.
    """
    cells = cell_points(latent)
    if cells.shape[0] < 2:
        raise DecodeInputError("Principal axes need at least two cells.")
    mean = cells.mean(axis=0, dtype=np.float64)
    scatter = np.zeros((cells.shape[1], cells.shape[1]))
    for start in range(0, cells.shape[0], 65_536):  # float64 a block at a time: a million cells stay in float32
        block = cells[start:start + 65_536].astype(np.float64) - mean
        scatter += block.T @ block
    variances, vectors = np.linalg.eigh(scatter / (cells.shape[0] - 1))
    order = np.argsort(-variances, kind="stable")
    axes = vectors[:, order].T
    axes *= np.where(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)] < 0, -1.0, 1.0)[:, None]
    return axes, np.clip(variances[order], 0.0, None)


# ------------------------------------------------------------------------- more of a gene set
def gene_set_score(model: ScviModel, z: Any, genes: str | Sequence[str], **covariates: Any) -> np.ndarray:
    """Per row of ``z``: the mean over ``genes`` of log2 expression (:func:`expression_unit`)."""
    idx = model.gene_indices(gene_list(genes))
    factor, _ = expression_unit(model)
    scale = model.decode(z, **covariates).scale.cpu().numpy().astype(np.float64)[:, idx]
    return np.log2(np.maximum(scale * factor, np.finfo(np.float64).tiny)).mean(axis=1)


def gene_set_direction(model: ScviModel, z: Any, genes: str | Sequence[str], **covariates: Any) -> np.ndarray:
    """The unit direction in which the mean log expression of ``genes`` rises fastest at ``z``.

    The gradient (the mean of the genes' rows of :meth:`ScviModel.log_scale_jacobian`), divided
    by its length. ``covariates`` are :meth:`ScviModel.decode`'s ``batch``, ``label``,
    ``categorical`` and ``continuous``.

    Raises
    ------
    DecodeInputError
        For unknown genes, a bad point, or genes whose expression does not change at ``z``.
    """
    point = one_point(z, model.n_latent)
    gradient = model.log_scale_jacobian(point, genes=gene_list(genes), **covariates).mean(axis=0)
    norm = float(np.linalg.norm(gradient))
    if not norm > 0:
        raise DecodeInputError("The decoder's expression of these genes does not change at this point, so there is "
                               "no direction of 'more'. Choose other genes or another point.")
    return gradient / norm


@dataclass(frozen=True)
class GeneSetPath:
    """The steps :func:`follow_gene_set` took.

    Attributes
    ----------
    z
        ``(n_points, n_latent)`` latent points, the start first.
    ratio
        Each point's distance to the nearest cell over the typical nearest-neighbour distance.
    score
        Each point's mean log2 expression of the genes (:func:`gene_set_score`).
    stopped
        Why it stopped: a key of :data:`STOP_REASONS`.
    """

    z: np.ndarray
    ratio: np.ndarray
    score: np.ndarray
    stopped: str

    @property
    def reason(self) -> str:
        """Why it stopped, in words."""
        return STOP_REASONS[self.stopped]


def follow_gene_set(model: ScviModel, z0: Any, genes: str | Sequence[str], *, latent: Any, steps: int = 20,
                    step_size: float | None = None, max_ratio: float = OFF_DATA_RATIO,
                    **covariates: Any) -> GeneSetPath:
    """Follow the gradient of a gene set's mean log expression step by step, staying near the data.

    Each step goes ``step_size`` along :func:`gene_set_direction` at the current point. A step
    is taken only if the gene set's expression rises and the new point is near the data (its
    distance to the nearest cell is at most ``max_ratio`` typical nearest-neighbour distances,
    or no farther than the current point's); otherwise the step is halved, up to
    :data:`MAX_HALVINGS` times, and then the walk stops.

    Parameters
    ----------
    model
        The loaded model.
    z0
        The start.
    genes
        A gene name or a gene set.
    latent
        The cells' latent points, or their :class:`~scvi_viz.analysis.walk.DataDistance`.
    steps
        Most steps taken.
    step_size
        Length of a step in latent space; default one typical nearest-neighbour distance.
    max_ratio
        How far from the data a point may be (default the Trajectory page's off-data threshold).
    covariates
        ``batch``, ``label``, ``categorical``, ``continuous`` as in :meth:`ScviModel.decode`.
    """
    names = gene_list(genes)
    model.gene_indices(names)
    steps = check_count(steps, "steps", low=0, high=10_000)
    max_ratio = check_real(max_ratio, "max_ratio", low=0, open_low=True)
    distance = latent if isinstance(latent, DataDistance) else DataDistance.build(cell_points(latent, model.n_latent))
    if distance.latent.shape[1] != model.n_latent:
        raise DecodeInputError(f"latent has {distance.latent.shape[1]} columns but the model has {model.n_latent} latent dimensions.")
    size0 = distance.typical if step_size is None else check_real(step_size, "step_size", low=0, open_low=True)
    z = one_point(z0, model.n_latent, "z0")
    points, ratios = [z], [distance.ratio(z)]
    scores = [float(gene_set_score(model, z, names, **covariates)[0])]
    stopped = "steps"
    for _ in range(steps):
        try:
            direction = gene_set_direction(model, z, names, **covariates)
        except DecodeInputError:
            stopped = "flat"
            break
        size, taken = size0, False
        for _ in range(MAX_HALVINGS + 1):
            candidate = z + size * direction
            ratio = distance.ratio(candidate)
            if ratio > max(max_ratio, ratios[-1]):
                stopped = "off_data"
            else:
                score = float(gene_set_score(model, candidate, names, **covariates)[0])
                if score > scores[-1]:
                    taken = True
                    break
                stopped = "peak"
            size /= 2
        if not taken:
            break
        z = candidate
        points.append(z)
        ratios.append(ratio)
        scores.append(score)
        stopped = "steps"
    return GeneSetPath(read_only(np.array(points)), read_only(np.array(ratios)), read_only(np.array(scores)), stopped)
