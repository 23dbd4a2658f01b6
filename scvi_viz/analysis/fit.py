"""How well the model fits its cells: posterior predictive checks, after ``scvi.criticism``.

Counts are drawn from the posterior predictive distribution of each chosen cell (latent
draws from q(z|x), decoded at the cell's own library size and covariates, one count per
gene from the model's likelihood). Per gene, the observed mean, coefficient of variation and
fraction of zeros over the cells are compared with the same statistics of the drawn counts
(computed per draw, then averaged over draws, as ``scvi.criticism`` does). Calibration asks
how often an observed count falls inside the central 50% or 90% predictive interval.

For one cell, :func:`cell_uncertainty` shows how uncertain its decoded expression is (the
spread over latent draws) and where its observed counts fall in its predictive distribution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from scvi_viz.arrays import read_only
from scvi_viz.covariates import Covariates
from scvi_viz.errors import DataError
from scvi_viz.io.store import open_data
from scvi_viz.posterior import sample_counts

if TYPE_CHECKING:
    from scvi_viz.analysis.workspace import Workspace
    from scvi_viz.model import ScviModel

PPC_DRAWS = 20
"""Posterior predictive draws per cell for the model-fit checks."""
MAX_FIT_CELLS = 2000
"""At most this many cells (a seeded random subset of larger sets) go into one check."""
CALIBRATION_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
REPORTED_LEVELS = (0.5, 0.9)
CHUNK_VALUES = 20_000_000
"""Drawn counts held at once while checking (cells per chunk = this / (genes x draws))."""
CELL_DRAWS = 200
"""Latent draws for one cell's uncertainty."""
STATISTICS = {
    "mean": "mean count per cell",
    "cv": "coefficient of variation (std / mean)",
    "zero_fraction": "fraction of cells with 0 counts",
}
"""The per-gene statistics compared, with what they are (axis titles say it with units)."""


@dataclass(frozen=True)
class CellSet:
    """Cells with what their posterior predictive needs.

    Attributes
    ----------
    counts
        Observed counts, ``(n_cells, n_genes)`` in the model's gene order (dense or sparse).
    covariates
        Their covariates.
    library
        Their library sizes (total counts, or size factors).
    qz_mean, qz_var
        Their posterior q(z|x) means and variances.
    """

    counts: Any
    covariates: Covariates
    library: np.ndarray
    qz_mean: np.ndarray
    qz_var: np.ndarray

    def rows(self, idx: np.ndarray) -> CellSet:
        """The cells ``idx``."""
        return CellSet(self.counts[idx], self.covariates.rows(idx), self.library[idx], self.qz_mean[idx], self.qz_var[idx])


@dataclass(frozen=True)
class FitCheck:
    """Result of :func:`posterior_predictive_check`.

    Attributes
    ----------
    genes
        Per gene: ``observed_<stat>``, ``predicted_<stat>`` for each of :data:`STATISTICS`, and
        ``inside_50`` / ``inside_90`` (fraction of the gene's observed counts inside the
        central 50% / 90% predictive interval).
    summary
        Per statistic: ``spearman`` (rank correlation over genes of observed and predicted)
        and ``mean_abs_log2_ratio`` (mean over genes with both values above 0 of
        ``|log2(predicted / observed)|``).
    calibration
        Per nominal level of :data:`CALIBRATION_LEVELS`: the fraction of all observed
        counts inside the central predictive interval of that level.
    n_cells
        Cells checked.
    n_draws
        Predictive draws per cell.
    """

    genes: pd.DataFrame
    summary: pd.DataFrame
    calibration: pd.DataFrame
    n_cells: int
    n_draws: int


class GeneMoments:
    """Per-gene sums over cells, added chunk by chunk: mean, coefficient of variation, fraction of zeros.

    Leading axes (e.g. draws) are kept: ``add`` takes counts of shape ``(..., n_cells, n_genes)``.
    """

    def __init__(self) -> None:
        self.n = 0
        self.total = self.squares = self.zeros = 0.0

    def add(self, counts: np.ndarray) -> None:
        """Add the cells (axis ``-2``) of ``counts``."""
        counts = np.asarray(counts, dtype=np.float64)
        self.n += counts.shape[-2]
        self.total = self.total + counts.sum(-2)
        self.squares = self.squares + np.square(counts).sum(-2)
        self.zeros = self.zeros + (counts == 0).sum(-2)

    def statistics(self) -> dict[str, np.ndarray]:
        """``mean``, ``cv`` (population std / mean; 0 where the mean is 0) and ``zero_fraction``."""
        mean = self.total / self.n
        std = np.sqrt(np.maximum(self.squares / self.n - mean**2, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            cv = np.where(mean > 0, std / mean, 0.0)
        return {"mean": mean, "cv": cv, "zero_fraction": self.zeros / self.n}


def central_interval_coverage(observed: np.ndarray, draws: np.ndarray, levels: tuple[float, ...],
                              rng: np.random.Generator) -> np.ndarray:
    """Whether each observed count lies inside each central predictive interval.

    Uses the randomised rank of the observation among its predictive draws (ties broken
    uniformly at random): for a calibrated model it is uniform, also for discrete counts, so a
    level-``l`` interval holds a fraction ``l`` of the observations in expectation.

    Parameters
    ----------
    observed
        ``(n_cells, n_genes)``.
    draws
        ``(n_cells, n_genes, n_draws)`` predictive draws.
    levels
        Nominal levels in (0, 1).

    Returns
    -------
    numpy.ndarray
        Boolean ``(len(levels), n_cells, n_genes)``.
    """
    below = (draws < observed[..., None]).sum(-1)
    ties = (draws == observed[..., None]).sum(-1)
    rank = below + rng.integers(0, ties + 1)
    u = (rank + rng.random(rank.shape)) / (draws.shape[-1] + 1)
    return np.stack([(u >= (1 - level) / 2) & (u <= (1 + level) / 2) for level in levels])


def posterior_predictive_check(model: ScviModel, cells: CellSet, *, n_draws: int = PPC_DRAWS,
                               max_cells: int = MAX_FIT_CELLS, seed: int = 0) -> FitCheck:
    """Compare observed per-gene statistics and calibration with the posterior predictive.

    Parameters
    ----------
    model
        The model.
    cells
        The cells to check (a seeded random subset of ``max_cells`` when there are more).
    n_draws
        Predictive draws per cell.
    max_cells
        Largest number of cells checked at once.
    seed
        Same seed, same result.

    Raises
    ------
    DataError
        If there are no cells.
    """
    n = cells.qz_mean.shape[0]
    if n == 0:
        raise DataError("No cells to check: choose a group with at least one cell.")
    rng = np.random.default_rng(seed)
    if n > max_cells:
        cells = cells.rows(np.sort(rng.choice(n, size=max_cells, replace=False)))
    n = cells.qz_mean.shape[0]
    observed_moments, predicted_moments = GeneMoments(), GeneMoments()
    inside = np.zeros((len(CALIBRATION_LEVELS), model.n_genes))
    # Cells in chunks of at most CHUNK_VALUES drawn counts, so that large models stay small in memory.
    step = max(1, CHUNK_VALUES // (model.n_genes * n_draws))
    for start in range(0, n, step):
        part = cells.rows(np.arange(start, min(start + step, n)))
        observed = np.asarray(part.counts.toarray() if hasattr(part.counts, "toarray") else part.counts, dtype=np.float32)
        draws = model.posterior_predictive_counts(part.counts, part.covariates, part.library, n_samples=n_draws,
                                                  seed=int(rng.integers(2**31)), qz=(part.qz_mean, part.qz_var))
        observed_moments.add(observed)
        predicted_moments.add(np.moveaxis(draws, -1, 0))
        inside += central_interval_coverage(observed, draws, CALIBRATION_LEVELS, rng).sum(1)
    inside /= n
    obs_stats = observed_moments.statistics()
    pred_stats = {k: v.mean(0) for k, v in predicted_moments.statistics().items()}
    table = pd.DataFrame(index=pd.Index(model.genes, name="gene"))
    summary = {}
    for name in STATISTICS:
        o, p = obs_stats[name], pred_stats[name]
        table[f"observed_{name}"], table[f"predicted_{name}"] = o, p
        both = (o > 0) & (p > 0)
        summary[name] = {
            "spearman": float(stats.spearmanr(o, p).statistic) if np.ptp(o) > 0 and np.ptp(p) > 0 else float("nan"),
            "mean_abs_log2_ratio": float(np.abs(np.log2(p[both] / o[both])).mean()) if both.any() else float("nan"),
            "genes": int(both.sum()),
        }
    for level in REPORTED_LEVELS:
        table[f"inside_{round(level * 100)}"] = inside[CALIBRATION_LEVELS.index(level)]
    calibration = pd.DataFrame({"nominal": CALIBRATION_LEVELS, "observed": inside.mean(1)}).set_index("nominal")
    summary_table = pd.DataFrame(summary).T.rename_axis("statistic").astype({"genes": int})  # .T made the counts floats
    return FitCheck(table, summary_table, calibration, n, n_draws)


def cell_uncertainty(model: ScviModel, cell: CellSet, genes: list[str], *, point_z: np.ndarray,
                     n_draws: int = CELL_DRAWS, seed: int = 0) -> pd.DataFrame:
    """One cell's posterior uncertainty for ``genes``, at its own library size and covariates.

    Parameters
    ----------
    model
        The model.
    cell
        One cell (``CellSet`` of one row).
    genes
        Genes to report.
    point_z
        The cell's point estimate (its latent mean, as the map and the Explore page use it).
    n_draws
        Latent draws ``z ~ q(z|x)``.
    seed
        Same seed, same result.

    Returns
    -------
    pandas.DataFrame
        Per gene: ``point`` (expected counts decoded at ``point_z``), ``expected_q05``,
        ``expected_q25``, ``expected_q50``, ``expected_q75``, ``expected_q95`` (quantiles of
        the expected counts decoded from the latent draws), ``predictive_q05`` ...
        ``predictive_q95`` (quantiles of posterior predictive counts, one per draw),
        ``observed`` (the cell's count) and ``inside_90`` (whether the observed count is inside
        the central 90% predictive interval, by the randomised rank of
        :func:`central_interval_coverage`).
    """
    idx = model.gene_indices(genes)
    rng = np.random.default_rng(seed)
    kwargs = cell.covariates.decode_kwargs()
    z = model.sample_latent(cell.qz_mean, cell.qz_var, n_samples=n_draws, seed=rng)[:, 0]
    decoded = model.decode(z, library_size=cell.library[0], **_repeat(kwargs, n_draws))
    rate = decoded.rate.cpu().numpy()[:, idx]
    theta = None if decoded.theta is None else decoded.theta.cpu().numpy()[:, idx]
    dropout = None if decoded.dropout is None else decoded.dropout.cpu().numpy()[:, idx]
    predictive = sample_counts(rate, theta, dropout, rng)
    point = model.decode(np.asarray(point_z, dtype=np.float32), library_size=cell.library[0], **kwargs).rate.cpu().numpy()[0, idx]
    row = cell.counts[0]
    observed = np.asarray(row.toarray() if hasattr(row, "toarray") else row, dtype=np.float32).ravel()[idx]
    table = pd.DataFrame({"point": point}, index=pd.Index(list(genes), name="gene"))
    for q in (5, 25, 50, 75, 95):
        table[f"expected_q{q:02d}"] = np.percentile(rate, q, axis=0)
    for q in (5, 25, 50, 75, 95):
        table[f"predictive_q{q:02d}"] = np.percentile(predictive, q, axis=0, method="inverted_cdf")
    table["observed"] = observed
    table["inside_90"] = central_interval_coverage(observed[None], predictive.T[None], (0.9,), rng)[0, 0]
    return table


def _repeat(kwargs: dict[str, Any], n: int) -> dict[str, Any]:
    """Per-row covariate values of one cell, repeated for ``n`` rows."""
    def rep(value: Any) -> Any:
        return np.repeat(np.asarray(value).ravel()[:1], n) if isinstance(value, np.ndarray) else value

    return {k: ({name: rep(v) for name, v in value.items()} if isinstance(value, dict) else rep(value))
            for k, value in kwargs.items()}


def read_cells(ws: Workspace, rows: np.ndarray, *, need_counts: bool = True) -> CellSet:
    """The counts (read from disk, only these rows), covariates, library sizes and posteriors of cells ``rows``.

    Minified data hold no counts: with ``need_counts=False`` their counts are zeros, as
    scvi-tools' own minified ``X`` (its differential expression reads them so too).

    Raises
    ------
    DataError
        For minified data when ``need_counts``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if ws.minified:
        if need_counts:
            raise DataError("These data are minified: scvi-tools kept each cell's latent posterior and dropped the counts, "
                            "so observed counts cannot be compared with the model here. Open the full data with counts.")
        return CellSet(read_only(sp.csr_matrix((len(rows), ws.model.n_genes), dtype=np.float32)),
                           ws.covariates.rows(rows), ws.library[rows], ws.prepared.qz_mean[rows], ws.prepared.qz_var[rows])
    order = np.argsort(rows, kind="stable")
    with open_data(ws.data_path) as store:
        sorted_rows = rows[order]
        block = store.count_rows(ws.model.spec.layer, sorted_rows)
        counts = ws.prepared.layout.model_counts(block, ws.model.n_genes)
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    counts = counts[back]
    covariates = ws.covariates.rows(rows)
    if ws.prepared.qz_mean is not None:
        mean, var = ws.prepared.qz_mean[rows], ws.prepared.qz_var[rows]
    else:
        mean, var = ws.model.latent_posterior_counts(counts, covariates)
    return CellSet(read_only(counts), covariates, ws.library[rows], read_only(mean), read_only(var))
