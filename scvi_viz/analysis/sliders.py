"""The Explore page's sliders as directions in latent space.

Every slider moves the point along one vector ``w`` from an anchor ``a``: its value at ``z`` is
``(z - a) . w / |w|^2`` and moving it by ``d`` moves the point by ``d * w``. One slider per latent
dimension is ``w = e_i, a = 0`` (the value is ``z_i``); a principal axis of the cells is a unit
``w`` from their mean; "toward a group" runs from the point where it was chosen (0) to the
group's centroid (1), so that at 1 the point is the centroid exactly. :func:`traverse` decodes a
slider's whole range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scvi_viz.analysis.directions import expression_unit, principal_axes
from scvi_viz.analysis.walk import DataDistance
from scvi_viz.arrays import read_only
from scvi_viz.errors import DecodeInputError
from scvi_viz.model.inputs import check_count, one_point

if TYPE_CHECKING:
    from scvi_viz.model import ScviModel

LINE_RANGE = (-0.5, 1.5)
"""Range of a slider from a start (0) to a target (1): a little before and past both."""
LINE_ROUNDING = 8 * np.finfo(np.float64).eps
"""Relative size of the rounding in a point on a slider's line (a few float64 operations): offsets
from the line below it are noise, not a step off the line."""
AXIS_PAD = 0.1
"""Principal-axis sliders span the cells' coordinates on the axis, padded by this share of the span."""


@dataclass(frozen=True)
class SliderRow:
    """One slider: a direction ``vector`` from an ``anchor``, over ``low`` to ``high``.

    Attributes
    ----------
    label
        What the slider moves, in words (``"latent dimension 3"``, ``"toward CD14+ Monocyte"``).
    vector, anchor
        Float64 latent vectors (read-only): the value at ``z`` is ``(z - anchor) . vector / |vector|^2``.
    low, high
        The slider's range of values.
    axis
        The latent dimension for one-dimension sliders (their value is ``z[axis]`` exactly), else ``None``.
    end
        For a slider from a start (the anchor, 0) to a target (1): the target, reached exactly at 1
        (the point moves along ``(1 - t) * anchor + t * end``, keeping its offset from that line).
    help
        What 0 and 1 (or the values) mean, for the slider's tooltip.
    """

    label: str
    vector: np.ndarray
    anchor: np.ndarray
    low: float
    high: float
    axis: int | None = None
    end: np.ndarray | None = None
    help: str = ""

    def value(self, z: Any) -> float:
        """The slider's value at ``z``."""
        point = one_point(z, self.vector.shape[0])
        if self.axis is not None:
            return float(point[self.axis])
        squared = float(self.vector @ self.vector)
        return float((point - self.anchor) @ self.vector / squared) if squared > 0 else 0.0

    def moved(self, z: Any, value: float) -> np.ndarray:
        """``z`` moved along the slider so that its value is ``value``."""
        return self.moved_to(z, [value])[0]

    def moved_to(self, z: Any, values: Any) -> np.ndarray:
        """``z`` moved along the slider to each of ``values``: ``(len(values), n_latent)``, row
        ``i`` equal to ``moved(z, values[i])`` to the last bit."""
        point = one_point(z, self.vector.shape[0])
        t = np.asarray(values, dtype=np.float64).reshape(-1, 1)
        if self.axis is not None:
            points = np.repeat(point[None, :], t.shape[0], axis=0)
            points[:, self.axis] = t[:, 0]
            return points
        if self.end is not None:
            offset = line_offset(self.anchor, self.end, point, self.value(point))
            return ((1.0 - t) * self.anchor + t * self.end) + offset
        return point + (t - self.value(point)) * self.vector

    def to_browser(self) -> dict[str, Any]:
        """The row as ``latent_walk.js`` takes it."""
        return {"label": self.label, "vector": self.vector.tolist(), "anchor": self.anchor.tolist(),
                "range": [float(self.low), float(self.high)], "axis": self.axis,
                "end": None if self.end is None else self.end.tolist(), "help": self.help}


def line_offset(start: np.ndarray, end: np.ndarray, point: np.ndarray, t: float) -> np.ndarray:
    """``point``'s offset from the line ``(1 - t) * start + t * end`` at its value ``t``, with each
    coordinate within the rounding of that sum taken as 0: a point moved along the line stays on it
    (so that at 1 it is ``end`` to the last bit), whatever ``t`` it was moved from.
    ``latent_walk.js`` computes the same.
    """
    offset = point - ((1.0 - t) * start + t * end)
    rounding = LINE_ROUNDING * ((1.0 + abs(t)) * (np.abs(start) + np.abs(end)) + np.abs(point))
    offset[np.abs(offset) <= rounding] = 0.0
    return offset


def dimension_rows(ranges: Any) -> list[SliderRow]:
    """One slider per latent dimension over ``ranges`` (``(n_latent, 2)``, :meth:`Workspace.latent_ranges`)."""
    spans = np.asarray(ranges, dtype=np.float64)
    n = spans.shape[0]
    zero = read_only(np.zeros(n))
    return [SliderRow(f"latent dimension {i + 1}", read_only(np.eye(n)[i]), zero, float(lo), float(hi), axis=i,
                      help="One of the model's latent dimensions (scvi-tools' z).")
            for i, (lo, hi) in enumerate(spans)]


def axis_rows(latent: Any) -> list[SliderRow]:
    """One slider per principal axis of the cells' latent points, largest variance first.

    Values are coordinates along the axis from the cells' mean (0 = the mean cell's position on
    that axis), over the cells' range on the axis padded by :data:`AXIS_PAD`.
    """
    cells = np.asarray(latent)
    axes, variances = principal_axes(cells)
    mean = read_only(cells.mean(axis=0, dtype=np.float64))
    total = float(variances.sum()) or 1.0
    rows = []
    for i, (axis, variance) in enumerate(zip(axes, variances)):
        coords = np.empty(cells.shape[0])
        for start in range(0, cells.shape[0], 65_536):
            coords[start:start + 65_536] = (cells[start:start + 65_536].astype(np.float64) - mean) @ axis
        lo, hi = float(coords.min()), float(coords.max())
        pad = AXIS_PAD * max(hi - lo, 1e-3)
        rows.append(SliderRow(f"principal axis {i + 1} ({100 * variance / total:.0f}% of variance)",
                              read_only(axis.copy()), mean, lo - pad, hi + pad,
                              help="A principal axis of the cells' latent points (0 = the cells' mean), "
                                   "ordered by the share of their variance along it."))
    return rows


def line_row(label: str, start: Any, end: Any, *, help: str) -> SliderRow:
    """A slider from ``start`` (0) to ``end`` (1), over :data:`LINE_RANGE`.

    Raises
    ------
    DecodeInputError
        If the two points coincide (there is no direction between them).
    """
    a = one_point(start, np.shape(start)[-1], "start")
    b = one_point(end, a.shape[0], "end")
    if not np.any(a != b):
        raise DecodeInputError(f"The point is already at the target of '{label}': there is no direction to move in.")
    return SliderRow(label, read_only(b - a), read_only(a), *LINE_RANGE, end=read_only(b), help=help)


def slider_vectors(rows: Sequence[SliderRow]) -> np.ndarray:
    """The rows' direction vectors, ``(n_rows, n_latent)``: the Jacobian times each is what the row does to genes."""
    return np.stack([r.vector for r in rows])


@dataclass(frozen=True)
class Traversal:
    """A slider's whole range decoded from the current point.

    Attributes
    ----------
    values
        The slider's value at each step, ``(n_steps,)``.
    expression
        Expected expression (:func:`~scvi_viz.analysis.directions.expression_unit`) of the genes
        that change most along the range, ``(n_steps, n_genes)``, in a DataFrame with the genes as columns.
    ratio
        Each step's distance to the nearest cell over the typical neighbour distance.
    current
        The slider's value at the current point.
    """

    values: np.ndarray
    expression: pd.DataFrame
    ratio: np.ndarray
    current: float


def traverse(model: ScviModel, row: SliderRow, z: Any, *, distance: DataDistance, n_genes: int = 8,
             steps: int = 41, min_expression: float = 1.0, **covariates: Any) -> Traversal:
    """Decode ``steps`` points along ``row`` over its whole range, keeping ``z``'s offset from it.

    The genes charted are the ``n_genes`` whose log expression changes most along the range,
    among those expected at ``min_expression`` or more somewhere on it (in
    :func:`~scvi_viz.analysis.directions.expression_unit`).
    """
    n_genes = check_count(n_genes, "n_genes", high=100)
    steps = check_count(steps, "steps", low=2, high=1000)
    point = one_point(z, model.n_latent)
    values = np.linspace(row.low, row.high, steps)
    points = row.moved_to(point, values)
    factor, _ = expression_unit(model)
    expression = model.decode(points, **covariates).scale.cpu().numpy().astype(np.float64) * factor
    seen = expression.max(axis=0) >= min_expression
    log = np.log2(np.maximum(expression, np.finfo(np.float64).tiny))
    change = np.where(seen, log.max(axis=0) - log.min(axis=0), -np.inf)
    order = np.argsort(-change, kind="stable")[:min(n_genes, int(seen.sum()))]
    names = [model.genes[i] for i in order]
    table = pd.DataFrame(expression[:, order], columns=pd.Index(names, name="gene"),
                         index=pd.Index(values, name="slider value"))
    ratio = distance.ratios(points)
    return Traversal(read_only(values), table, read_only(ratio), row.value(point))
