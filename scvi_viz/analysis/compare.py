"""Comparisons between covariate values: the same point, or the same cells, decoded under each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scvi_viz.analysis.profiles import first_row
from scvi_viz.covariates import CovariateKind, Covariates

if TYPE_CHECKING:
    from scvi_viz.model import ScviModel
    from scvi_viz.point import Point

LFC_PSEUDO_FRACTION = 1e-6
"""Pseudo-count added to ``scale`` (fraction of the library) before log2 fold changes."""


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


def compare_point(model: ScviModel, point: Point, kind: CovariateKind, name: str | None, values: Sequence[Any]) -> pd.DataFrame:
    """Decode ``point`` once per covariate value and tabulate (see :func:`comparison_table`).

    ``kind`` is ``"batch"``, ``"label"``, ``"categorical"`` (``name`` = covariate) or
    ``"continuous"``.
    """
    decoded = {}
    for value in values:
        out = model.decode(**point.with_covariate(kind, name, value).decode_kwargs())
        decoded[str(value)] = {"scale": first_row(out.scale), "rate": first_row(out.rate)}
    return comparison_table(model.genes, decoded, point.library_size)


def compare_cells(
    model: ScviModel,
    latent: np.ndarray,
    library_size: np.ndarray,
    covariates: Covariates,
    kind: CovariateKind,
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
        Their covariates (``Workspace.covariates.rows(cells)``).
    kind, name, values
        As in :func:`compare_point`.
    """
    decoded = {}
    for value in values:
        kwargs = covariates.with_value(kind, name, value).decode_kwargs()
        decoded[str(value)] = model.decode_mean(latent, library_size=library_size, **kwargs)
    return comparison_table(model.genes, decoded, None)


def covariate_options(model: ScviModel) -> dict[str, tuple[CovariateKind, str | None, list[str] | None]]:
    """Covariates that can be compared: label for a person -> (kind, name, categories or ``None``).

    Categories are ``None`` for a continuous covariate. Covariates with a single category are
    left out, and so is the label unless the model's dispersion is per label (only then does
    the decoder use it).
    """
    options: dict[str, tuple[CovariateKind, str | None, list[str] | None]] = {}
    if model.batch_key is not None and len(model.batches) > 1:
        options[f"{model.batch_key} (batch covariate)"] = ("batch", None, list(model.batches))
    for name, cats in model.categorical_covariates.items():
        if len(cats) > 1:
            options[f"{name} (categorical covariate)"] = ("categorical", name, list(cats))
    if model.labels_key is not None and model.dispersion == "gene-label" and len(model.labels) > 1:
        options[f"{model.labels_key} (label: per-label dispersion only)"] = ("label", None, list(model.labels))
    for name in model.continuous_covariates:
        options[f"{name} (continuous covariate)"] = ("continuous", name, None)
    return options
