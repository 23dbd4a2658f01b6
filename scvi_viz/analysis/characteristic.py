"""What is characteristic of a point, what each latent dimension means, and how many cells support a comparison.

- :func:`characteristic_genes`: the genes most above (and below) their mean over the data at a
  point, against :func:`mean_decoded_scale`, rather than the top genes by counts;
- :func:`dimension_table`: per latent dimension, the genes it moves most over a stated sample of
  cells and its correlation with each ``obs`` column (:func:`obs_correlations`), as tables a
  biologist can annotate;
- :func:`covariate_support` and :func:`point_support`: the share of a point's nearest cells (or a
  group's cells) with each compared covariate value, so that a comparison under a value few
  such cells had is visible.

No Streamlit. Expression is in :func:`scvi_viz.analysis.directions.expression_unit`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scvi_viz.analysis.directions import expression_unit
from scvi_viz.analysis.walk import DataDistance
from scvi_viz.arrays import read_only
from scvi_viz.errors import DecodeInputError
from scvi_viz.model.decoding import DEFAULT_CHUNK
from scvi_viz.model.inputs import cell_points, check_count, check_real, numbers, one_point, row_indices

if TYPE_CHECKING:
    from scvi_viz.covariates import Covariates
    from scvi_viz.model import ScviModel

DEFAULT_MIN_EXPRESSION = 1.0
"""Least expression a characteristic gene has, here or on average over the cells: 1 expected count
per 10,000 counts of a cell (see :func:`expression_unit`)."""

MAX_CATEGORIES = 60
"""``obs`` columns with more categories than this are left out of :func:`dimension_table`'s correlations."""

SUPPORT_NEIGHBOURS = 30
"""Nearest cells :func:`point_support` counts."""


# ------------------------------------------------------------- what is characteristic here
def mean_decoded_scale(model: ScviModel, latent: Any, covariates: Covariates | None = None, *,
                       chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """The mean decoded ``px_scale`` over all cells, each decoded at its own latent point and covariates.

    Float64, one value per gene of the model (:meth:`ScviModel.decode_mean`); the reference of
    :func:`characteristic_genes`.
    """
    cells = cell_points(latent, model.n_latent)
    if covariates is not None and not hasattr(covariates, "decode_kwargs"):
        raise DecodeInputError(f"covariates must be the cells' Covariates (or None); got {type(covariates).__name__}.")
    kwargs = {} if covariates is None else covariates.decode_kwargs()
    return model.decode_mean(cells, chunk_size=chunk, **kwargs)["scale"]


def characteristic_genes(model: ScviModel, z: Any, mean_scale: Any, *, n: int = 10,
                         min_expression: float = DEFAULT_MIN_EXPRESSION, scale_here: Any = None,
                         **covariates: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The genes most above and most below their mean over the data at the point ``z``.

    Each gene's ``log2(px_scale at z / mean_scale)``, among the genes expressed at least
    ``min_expression`` here or on average (so that a gene going from 0.001 to 0.01 counts does
    not lead the list). Unlike the top genes by expected counts (FTL, CD74 in most blood cells),
    these say which state the point is in.

    Parameters
    ----------
    model
        The loaded model.
    z
        The point.
    mean_scale
        :func:`mean_decoded_scale` of the data.
    n
        Genes per table.
    min_expression
        In :func:`expression_unit`: default 1 expected count per 10,000 counts of a cell.
    scale_here
        ``px_scale`` of every gene at the point, when the caller has decoded it already (the
        Explore page's profile); otherwise the point is decoded here.
    covariates
        The point's ``batch``, ``label``, ``categorical``, ``continuous`` (:meth:`ScviModel.decode`).

    Returns
    -------
    tuple
        ``(above, below)``: DataFrames indexed by gene, at most ``n`` rows each, strongest first,
        with columns ``log2_vs_mean``, ``expression_here`` and ``expression_mean`` (in
        :func:`expression_unit`).
    """
    point = one_point(z, model.n_latent)
    mean = numbers(mean_scale, "mean_scale")
    if mean.shape != (model.n_genes,) or np.any(mean < 0):
        raise DecodeInputError(f"mean_scale must be the mean px_scale of every gene ({model.n_genes} non-negative "
                               f"numbers, see mean_decoded_scale); got shape {mean.shape}.")
    n = check_count(n, "n (genes per table)", high=100_000)
    min_expression = check_real(min_expression, "min_expression", low=0)
    factor, _ = expression_unit(model)
    if scale_here is None:
        here = model.decode(point, **covariates).scale.cpu().numpy()[0].astype(np.float64)
    else:
        here = numbers(scale_here, "scale_here")
        if here.shape != (model.n_genes,):
            raise DecodeInputError(f"scale_here must hold px_scale of every gene ({model.n_genes}); got shape {here.shape}.")
    tiny = np.finfo(np.float64).tiny
    table = pd.DataFrame({"log2_vs_mean": np.log2(np.maximum(here, tiny) / np.maximum(mean, tiny)),
                          "expression_here": here * factor, "expression_mean": mean * factor},
                         index=pd.Index(model.genes, name="gene"))
    table = table[np.maximum(table["expression_here"], table["expression_mean"]) >= min_expression]
    above = table[table["log2_vs_mean"] > 0].sort_values("log2_vs_mean", ascending=False, kind="stable").head(n)
    below = table[table["log2_vs_mean"] < 0].sort_values("log2_vs_mean", kind="stable").head(n)
    return above, below


# --------------------------------------------------------------------- a table per model
@dataclass(frozen=True)
class DimensionTable:
    """What each latent dimension means: its genes and its correlation with the ``obs`` columns.

    Attributes
    ----------
    genes
        Long table, one row per dimension and rank: ``dimension`` (1-based), ``rank``, ``gene``,
        ``mean_abs_change`` (mean over the sampled cells of ``|d log expression / d z|``, per
        unit of the dimension) and ``mean_change`` (its signed mean: > 0, the gene rises as the
        dimension goes up).
    correlations
        Pearson correlation over all cells of each dimension (rows, 1-based) with each ``obs``
        column (numeric columns as they are; a categorical column as one 0/1 column per category,
        named ``column = category``).
    cells
        The sampled cells' row numbers.
    seed
        The sample's random seed.
    """

    genes: pd.DataFrame
    correlations: pd.DataFrame
    cells: np.ndarray
    seed: int

    @property
    def sample_text(self) -> str:
        """How the genes were ranked, in words."""
        return (f"mean |change of log expression per unit| over {len(self.cells):,} randomly chosen cells "
                f"(seed {self.seed})")


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    keep = np.isfinite(y)
    x, y = x[keep] - x[keep].mean(), y[keep] - y[keep].mean()
    denominator = float(np.sqrt((x @ x) * (y @ y)))
    return float(x @ y) / denominator if denominator > 0 else float("nan")


def obs_correlations(latent: Any, obs: pd.DataFrame, *, max_categories: int = MAX_CATEGORIES) -> pd.DataFrame:
    """Each latent dimension's Pearson correlation with each ``obs`` column (see :class:`DimensionTable`).

    Columns with more than ``max_categories`` categories (cell ids, say) and scvi-tools' own
    ``_scvi_*`` columns are left out; a correlation is NaN where a column does not vary.
    """
    cells = cell_points(latent).astype(np.float64)
    if not isinstance(obs, pd.DataFrame) or len(obs) != cells.shape[0]:
        raise DecodeInputError(f"obs must be the cells' obs table with one row per cell ({cells.shape[0]}).")
    features: dict[str, np.ndarray] = {}
    for column in obs.columns:
        values = obs[column]
        if str(column).startswith("_scvi"):
            continue
        if pd.api.types.is_numeric_dtype(values) and not isinstance(values.dtype, pd.CategoricalDtype):
            features[str(column)] = values.to_numpy(dtype=np.float64, na_value=np.nan)
            continue
        categories = values.dropna().unique()
        if len(categories) > max_categories:
            continue
        text = values.astype(str).to_numpy()
        for category in sorted(map(str, categories)):
            indicator = (text == category).astype(np.float64)
            indicator[values.isna().to_numpy()] = np.nan
            features[f"{column} = {category}"] = indicator
    table = pd.DataFrame({name: [_pearson(cells[:, d], y) for d in range(cells.shape[1])] for name, y in features.items()},
                         index=pd.RangeIndex(1, cells.shape[1] + 1, name="dimension"))
    return table


def dimension_table(model: ScviModel, latent: Any, obs: pd.DataFrame, *, n_cells: int = 500, seed: int = 0,
                    n_genes: int = 20, covariates: Covariates | None = None) -> DimensionTable:
    """Per latent dimension: the genes it moves most, and its correlation with each ``obs`` column.

    The genes are ranked by the mean ``|Jacobian|`` over a random sample of ``n_cells`` cells
    (all cells when there are fewer), each taken at its own latent point and covariates.

    Parameters
    ----------
    model
        The loaded model.
    latent
        The cells' latent points.
    obs
        The cells' ``obs`` table.
    n_cells
        Cells sampled for the genes.
    seed
        The sample's seed.
    n_genes
        Genes per dimension.
    covariates
        The cells' covariates (default: the model's first categories).
    """
    cells = cell_points(latent, model.n_latent)
    n_cells = check_count(n_cells, "n_cells", high=1_000_000)
    n_genes = min(check_count(n_genes, "n_genes", high=100_000), model.n_genes)
    seed = check_count(seed, "seed", low=0, high=2**63 - 1)
    correlations = obs_correlations(cells, obs)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(cells.shape[0], size=min(n_cells, cells.shape[0]), replace=False))
    total_abs = np.zeros((model.n_genes, model.n_latent))
    total = np.zeros_like(total_abs)
    for row in rows:
        kwargs = {} if covariates is None else covariates.rows(np.array([row])).decode_kwargs()
        jacobian = model.log_scale_jacobian(cells[row], **kwargs)
        total_abs += np.abs(jacobian)
        total += jacobian
    mean_abs, mean = total_abs / len(rows), total / len(rows)
    genes, records = model.genes, []
    for d in range(model.n_latent):
        for rank, g in enumerate(np.argsort(-mean_abs[:, d], kind="stable")[:n_genes], start=1):
            records.append((d + 1, rank, genes[g], mean_abs[g, d], mean[g, d]))
    table = pd.DataFrame(records, columns=["dimension", "rank", "gene", "mean_abs_change", "mean_change"])
    return DimensionTable(table, correlations, read_only(rows), seed)


# -------------------------------------------------------------------------------- support
def covariate_support(obs_values: Any, neighbour_rows: Any, compared_values: Sequence[Hashable]) -> dict[str, float]:
    """The share of the given cells (a point's nearest cells, or a group's cells) having each compared value.

    Parameters
    ----------
    obs_values
        Every cell's value of the covariate (its ``obs`` column), compared as text.
    neighbour_rows
        Row numbers (or a boolean mask) of the cells to count.
    compared_values
        The values being compared (e.g. two batches).

    Returns
    -------
    dict
        Value (as text) -> share of the cells having it, from 0 to 1; the shares sum to 1 when
        ``compared_values`` holds every value these cells have.
    """
    values = np.asarray(obs_values).astype(str).ravel()
    if np.asarray(neighbour_rows).size == 0:
        raise DecodeInputError("neighbour_rows is empty: give the row numbers of at least one cell.")
    rows = row_indices(neighbour_rows, len(values), "neighbour_rows")
    if isinstance(compared_values, (str, bytes)) or not isinstance(compared_values, (Sequence, np.ndarray, pd.Index)) \
            or len(compared_values) == 0:
        raise DecodeInputError("compared_values must be a list of the covariate values being compared (e.g. ['G1', 'G2M']).")
    near = values[rows]
    return {str(v): float(np.mean(near == str(v))) for v in compared_values}


def point_support(distance: DataDistance, z: Any, obs_values: Any, compared_values: Sequence[Hashable], *,
                  k: int = SUPPORT_NEIGHBOURS) -> dict[str, float]:
    """:func:`covariate_support` among the ``k`` cells nearest to ``z``."""
    k = check_count(k, "k (nearest cells)", high=100_000)
    point = one_point(z, distance.latent.shape[1])
    return covariate_support(obs_values, distance.nearest(point, k), compared_values)
