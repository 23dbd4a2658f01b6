"""Per-gene tables of what the decoder says at a point."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scvi_viz.analysis.distributions import predictive_interval, zero_probability_parts

if TYPE_CHECKING:
    from scvi_viz.model import ScviModel
    from scvi_viz.point import Point

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


def first_row(t: Any) -> np.ndarray | None:
    """Row 0 of a decoded tensor as float64 numpy (``None`` stays ``None``)."""
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
    mu, scale = first_row(out.rate), first_row(out.scale)
    theta, dropout = first_row(out.theta), first_row(out.dropout)
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


def provenance(point: Point, *, origin: str, model: ScviModel) -> dict[str, str]:
    """What numbers decoded at ``point`` are, as ``# key: value`` lines for exported CSVs.

    Parameters
    ----------
    point
        The point decoded.
    origin
        How it was set ("cell AAAC… (CD4 T)", "sliders (moved from …)").
    model
        The model (names its covariates).
    """
    return {
        "point": origin,
        "library size": f"{point.library_size:.6g}",
        "covariates": point.describe(model.spec) or "none",
        "columns": "; ".join(f"{k} = {v}" for k, v in COLUMNS.items()),
    }
