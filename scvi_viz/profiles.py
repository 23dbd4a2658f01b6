"""Per-gene tables of what the decoder says at a point, and comparisons between covariates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scvi_viz.distributions import predictive_interval, zero_probability_parts

if TYPE_CHECKING:
    from scvi_viz.model import ScviModel
    from scvi_viz.state import Point

LFC_PSEUDO_FRACTION = 1e-6
"""Pseudo-count added to ``scale`` (fraction of the library) before log2 fold changes."""

COLUMNS = {
    "rate": "expected counts at library size N",
    "interval_low": "90% predictive interval, lower (counts)",
    "interval_high": "90% predictive interval, upper (counts)",
    "scale": "normalised expression (fraction of library)",
    "theta": "NB inverse dispersion theta",
    "dropout": "zero-inflation (dropout) probability",
    "p_zero": "P(count = 0)",
    "p_zero_dropout": "P(count = 0) from dropout",
    "p_zero_counts": "P(count = 0) from the NB/Poisson part",
}
"""Column name -> what it holds, for captions and exported CSV headers."""


def _numpy(t: Any) -> np.ndarray | None:
    return None if t is None else t.detach().cpu().numpy()[0].astype(np.float64)


def gene_profile(model: ScviModel, point: Point, genes: Sequence[str] | None = None) -> pd.DataFrame:
    """Every decoded quantity per gene at ``point`` (one row per gene, index = gene name).

    Parameters
    ----------
    model
        The loaded model.
    point
        Latent point, library size and covariates.
    genes
        Restrict to these genes (in this order); default all genes.

    Returns
    -------
    pandas.DataFrame
        Columns as in :data:`COLUMNS`; ``theta`` is NaN for Poisson models, ``dropout`` 0
        without zero inflation.
    """
    kwargs = point.decode_kwargs()
    if genes is None:
        out, names = model.decode(**kwargs), list(model.genes)
    else:
        names = list(genes)
        out = model.decode_genes(kwargs.pop("z"), names, **kwargs)
    mu, scale = _numpy(out.rate), _numpy(out.scale)
    theta, dropout = _numpy(out.theta), _numpy(out.dropout)
    low, high = predictive_interval(mu, theta, dropout)
    from_dropout, from_counts = zero_probability_parts(mu, theta, dropout)
    return pd.DataFrame(
        {
            "rate": mu,
            "interval_low": low,
            "interval_high": high,
            "scale": scale,
            "theta": np.full_like(mu, np.nan) if theta is None else theta,
            "dropout": np.zeros_like(mu) if dropout is None else dropout,
            "p_zero": from_dropout + from_counts,
            "p_zero_dropout": from_dropout,
            "p_zero_counts": from_counts,
        },
        index=pd.Index(names, name="gene"),
    )


def top_genes(profile: pd.DataFrame, n: int = 20, by: str = "rate") -> pd.DataFrame:
    """The ``n`` rows of ``profile`` with the largest ``by``, largest first."""
    return profile.nlargest(n, by)


def log2_fold_change(scale_a: np.ndarray, scale_b: np.ndarray) -> np.ndarray:
    """log2 of B over A expected expression, with :data:`LFC_PSEUDO_FRACTION` added to both."""
    return np.log2(np.asarray(scale_b) + LFC_PSEUDO_FRACTION) - np.log2(np.asarray(scale_a) + LFC_PSEUDO_FRACTION)


def comparison_table(genes: Sequence[str], values: dict[str, dict[str, np.ndarray]], library_size: float | None) -> pd.DataFrame:
    """Side-by-side expected expression under several covariate values.

    Parameters
    ----------
    genes
        Gene names (row order).
    values
        Covariate value -> ``{"scale": array, "rate": array}``; the first entry is the
        reference A, the second B.
    library_size
        Library size the rates refer to (for the caption); ``None`` for per-cell libraries.

    Returns
    -------
    pandas.DataFrame
        Per value ``scale [value]`` and ``rate [value]`` columns, and ``log2FC`` (second vs
        first) and ``abs_log2FC``, sorted by ``abs_log2FC`` descending.
    """
    names = list(values)
    table = pd.DataFrame(index=pd.Index(list(genes), name="gene"))
    for name in names:
        table[f"scale [{name}]"] = values[name]["scale"]
        table[f"rate [{name}]"] = values[name]["rate"]
    lfc = log2_fold_change(values[names[0]]["scale"], values[names[1]]["scale"])
    table["log2FC"] = lfc
    table["abs_log2FC"] = np.abs(lfc)
    table.attrs["library_size"] = library_size
    table.attrs["reference"] = names[0]
    table.attrs["other"] = names[1]
    return table.sort_values("abs_log2FC", ascending=False)


def compare_point(model: ScviModel, point: Point, kind: str, name: str | None, values: Sequence[Any]) -> pd.DataFrame:
    """Decode ``point`` once per covariate value and tabulate (see :func:`comparison_table`).

    ``kind`` is ``"batch"``, ``"label"``, ``"categorical"`` (``name`` = covariate) or
    ``"continuous"``.
    """
    decoded = {}
    for value in values:
        out = model.decode(**point.with_covariate(kind, name, value).decode_kwargs())
        decoded[str(value)] = {"scale": _numpy(out.scale), "rate": _numpy(out.rate)}
    return comparison_table(model.genes, decoded, point.library_size)


def compare_cells(
    model: ScviModel,
    latent: np.ndarray,
    library_size: np.ndarray,
    covariates: dict[str, Any],
    kind: str,
    name: str | None,
    values: Sequence[Any],
) -> pd.DataFrame:
    """Decode a group of cells under each covariate value with their own z and library.

    This is scvi-tools' ``transform_batch`` idea: every cell keeps its latent point, library
    size and other covariates; only the chosen covariate is set to each value in turn, and
    expected expression is averaged over the cells.

    Parameters
    ----------
    model
        The model.
    latent
        Latent means of the group's cells, ``(n, n_latent)``.
    library_size
        Their library sizes, ``(n,)``.
    covariates
        Their covariates as from :func:`scvi_viz.data.covariates_from_obs` (rows of the group).
    kind, name, values
        As in :func:`compare_point`.
    """
    decoded = {}
    for value in values:
        kw = {
            "batch": covariates.get("batch"),
            "label": covariates.get("label"),
            "categorical": dict(covariates.get("categorical") or {}),
            "continuous": dict(covariates.get("continuous") or {}),
        }
        if kind in ("batch", "label"):
            kw[kind] = value
        else:
            kw[kind][name] = value
        decoded[str(value)] = model.decode_mean(latent, library_size, **kw)
    return comparison_table(model.genes, decoded, None)
