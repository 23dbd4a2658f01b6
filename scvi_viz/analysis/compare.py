"""Comparisons between covariate values: the same point, or the same cells, decoded under each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

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


MIN_EXPECTED_COUNTS = 0.1
"""Default minimum expression for the fold-change ranking, in expected counts per cell: at the
point's library size for a point, the mean over a group's cells at their own library sizes."""


def value_labels(name: str, values: Sequence[Any], *, continuous: bool) -> list[str]:
    """How each compared value is written: ``phase = G1``, ``percent_mito = 0.024``.

    Continuous values get three significant digits, more only where two values would
    otherwise read the same.
    """
    if not continuous:
        return [f"{name} = {v}" for v in values]
    for digits in range(3, 18):
        labels = [f"{name} = {float(v):.{digits}g}" for v in values]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{name} = {float(v)!r}" for v in values]


def lfc_column(other: str, reference: str) -> str:
    """The table column of the log2 fold change of ``other`` against ``reference``."""
    return f"log2FC [{other} vs {reference}]"


def comparison_table(
    genes: Sequence[str],
    values: dict[str, dict[str, np.ndarray]],
    library_size: float | None,
    *,
    min_counts: float | None = MIN_EXPECTED_COUNTS,
) -> pd.DataFrame:
    """Side-by-side expected expression under several covariate values, ranked by fold change.

    Parameters
    ----------
    genes
        Gene names (row order).
    values
        Value label (:func:`value_labels`) -> ``{"scale": array, "rate": array}``; the first
        entry is the reference A, every other one is compared against it.
    library_size
        Library size the rates refer to; ``None`` for a group, whose rates are means over its
        cells, each at its own library size.
    min_counts
        Minimum expression for the ranking (see :func:`rank_genes`); ``None`` ranks every gene.

    Returns
    -------
    pandas.DataFrame
        Per value ``scale [value]`` and ``rate [value]`` columns; per other value B a
        ``log2FC [B vs A]`` column; ``max_abs_log2FC``, the largest |log2FC| over the other
        values; and ``ranked``. Ordered as :func:`rank_genes` says. ``attrs`` hold
        ``reference``, ``others`` (value labels), ``library_size``, ``min_counts`` and
        ``ranking`` (the order in words).
    """
    names = list(values)
    if len(names) < 2:
        raise ValueError(f"a comparison needs at least two values, got {names}")
    reference, others = names[0], names[1:]
    table = pd.DataFrame(index=pd.Index(list(genes), name="gene"))
    for name in names:
        table[f"scale [{name}]"] = values[name]["scale"]
        table[f"rate [{name}]"] = values[name]["rate"]
    for other in others:
        table[lfc_column(other, reference)] = log2_fold_change(values[reference]["scale"], values[other]["scale"])
    table["max_abs_log2FC"] = table[[lfc_column(o, reference) for o in others]].abs().max(axis=1)
    table.attrs.update(library_size=library_size, reference=reference, others=others)
    return rank_genes(table, min_counts=min_counts)


def expression_unit(library_size: float | None) -> str:
    """What the minimum expression of a ranking is measured in, in words."""
    if library_size is None:
        return "mean expected counts per cell, at each cell's library size"
    return f"expected counts at library size {library_size:,.0f}" if library_size >= 10 else \
        f"expected counts at size factor {library_size:.3g}"


def rank_genes(table: pd.DataFrame, *, min_counts: float | None) -> pd.DataFrame:
    """Order a :func:`comparison_table` by fold change, ranking only genes expressed enough.

    A gene is ranked when its expected counts (the ``rate`` columns: at the point's library
    size, or the group's mean) reach ``min_counts`` under at least one compared value; very
    lowly expressed genes otherwise dominate fold changes. Ranked genes come first, by
    ``max_abs_log2FC`` descending, then the others in the same order: the table keeps every gene.

    Returns
    -------
    pandas.DataFrame
        A reordered copy with the ``ranked`` column, and ``attrs["min_counts"]``,
        ``attrs["ranking"]`` (the order in words) and ``attrs["ranked_genes"]`` (which genes
        were ranked, shorter) set.
    """
    names = [table.attrs["reference"], *table.attrs["others"]]
    counts = table[[f"rate [{n}]" for n in names]].max(axis=1)
    ranked = np.ones(len(table), dtype=bool) if min_counts is None else (counts >= min_counts).to_numpy()
    out = table.assign(ranked=ranked)
    out = out.iloc[np.lexsort((-out["max_abs_log2FC"].to_numpy(), ~ranked))]
    out.attrs = {**table.attrs, "min_counts": min_counts}
    order = "largest |log2FC| over the values" if len(names) > 2 else "|log2FC|"
    n_ranked = int(ranked.sum())
    if min_counts is None:
        out.attrs["ranked_genes"] = f"all {len(out):,} genes"
        out.attrs["ranking"] = f"sorted by {order}; every gene ranked"
    else:
        unit = expression_unit(table.attrs["library_size"])
        out.attrs["ranked_genes"] = f"{n_ranked:,} of {len(out):,} genes, at ≥ {min_counts:g} {unit} under at least one value"
        out.attrs["ranking"] = (f"sorted by {order} among the {n_ranked:,} of {len(out):,} genes at ≥ {min_counts:g} "
                                f"{unit} under at least one value; the other {len(out) - n_ranked:,} follow (ranked = False)")
    return out


def top_ranked(table: pd.DataFrame, n: int) -> pd.DataFrame:
    """The ``n`` ranked genes of a :func:`comparison_table` with the largest |log2FC|."""
    return table[table["ranked"]].head(n)


def compare_point(
    model: ScviModel,
    point: Point,
    kind: CovariateKind,
    name: str | None,
    values: Sequence[Any],
    *,
    min_counts: float | None = MIN_EXPECTED_COUNTS,
) -> pd.DataFrame:
    """Decode ``point`` once per covariate value and tabulate (see :func:`comparison_table`).

    ``kind`` is ``"batch"``, ``"label"``, ``"categorical"`` (``name`` = covariate) or
    ``"continuous"``.
    """
    labels = value_labels(covariate_name(model, kind, name), values, continuous=kind == "continuous")
    decoded = {}
    for label, value in zip(labels, values):
        out = model.decode(**point.with_covariate(kind, name, value).decode_kwargs())
        decoded[label] = {"scale": first_row(out.scale), "rate": first_row(out.rate)}
    return comparison_table(model.genes, decoded, point.library_size, min_counts=min_counts)


def compare_cells(
    model: ScviModel,
    latent: np.ndarray,
    library_size: np.ndarray,
    covariates: Covariates,
    kind: CovariateKind,
    name: str | None,
    values: Sequence[Any],
    *,
    min_counts: float | None = MIN_EXPECTED_COUNTS,
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
    kind, name, values, min_counts
        As in :func:`compare_point`.
    """
    labels = value_labels(covariate_name(model, kind, name), values, continuous=kind == "continuous")
    decoded = {}
    for label, value in zip(labels, values):
        kwargs = covariates.with_value(kind, name, value).decode_kwargs()
        decoded[label] = model.decode_mean(latent, library_size=library_size, **kwargs)
    return comparison_table(model.genes, decoded, None, min_counts=min_counts)


def covariate_name(model: ScviModel, kind: CovariateKind, name: str | None) -> str:
    """The name a person knows a covariate by: the batch key, the labels key, or its own name."""
    if kind == "batch":
        return str(model.batch_key)
    if kind == "label":
        return str(model.labels_key)
    return str(name)


class CovariateChoice(NamedTuple):
    """A covariate that can be compared (see :func:`covariate_options`)."""

    kind: CovariateKind
    name: str | None
    """Its name in ``decode`` calls (``None`` for the batch and the label)."""
    categories: list[str] | None
    """Its values, ``None`` for a continuous covariate."""
    label: str
    """What it is, for a person: ``phase (batch covariate)``."""


def covariate_options(model: ScviModel) -> dict[str, CovariateChoice]:
    """Covariates that can be compared, by the name a person knows them by (:func:`covariate_name`).

    Categories are ``None`` for a continuous covariate. Covariates with a single category are
    left out, and so is the label unless the model's dispersion is per label (only then does
    the decoder use it).
    """
    options: dict[str, CovariateChoice] = {}
    if model.batch_key is not None and len(model.batches) > 1:
        options[model.batch_key] = CovariateChoice("batch", None, list(model.batches), f"{model.batch_key} (batch covariate)")
    for name, cats in model.categorical_covariates.items():
        if len(cats) > 1:
            options[name] = CovariateChoice("categorical", name, list(cats), f"{name} (categorical covariate)")
    if model.labels_key is not None and model.dispersion == "gene-label" and len(model.labels) > 1:
        options[model.labels_key] = CovariateChoice("label", None, list(model.labels),
                                                    f"{model.labels_key} (label: per-label dispersion only)")
    for name in model.continuous_covariates:
        options[name] = CovariateChoice("continuous", name, None, f"{name} (continuous covariate)")
    return options
