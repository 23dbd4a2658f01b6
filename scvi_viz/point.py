"""``Point``: where the decoder is evaluated (a latent point, a library size, covariates)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from scvi_viz.covariates import CovariateKind, Covariates
from scvi_viz.errors import DecodeInputError
from scvi_viz.spec import ModelSpec


@dataclass(frozen=True)
class Point:
    """Where the decoder is evaluated: a latent point plus library size and covariates.

    Attributes
    ----------
    z
        Latent coordinates.
    library_size
        Total counts the expected expression is scaled to (the size factor for
        size-factor models).
    batch, label
        Category names (``None`` where the model has a single category).
    categorical
        Extra categorical covariate name -> category.
    continuous
        Extra continuous covariate name -> value.
    """

    z: tuple[float, ...]
    library_size: float
    batch: str | None = None
    label: str | None = None
    categorical: dict[str, str] = field(default_factory=dict)
    continuous: dict[str, float] = field(default_factory=dict)

    @property
    def covariates(self) -> Covariates:
        """The point's covariates (one value each)."""
        return Covariates(self.batch, self.label, self.categorical, self.continuous)

    def decode_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`ScviModel.decode` (``z`` as a float32 array)."""
        return {
            "z": np.asarray(self.z, dtype=np.float32),
            "library_size": self.library_size,
            **self.covariates.decode_kwargs(),
        }

    def with_covariate(self, kind: CovariateKind, name: str | None, value: Any) -> Point:
        """A copy with one covariate changed: ``kind`` is batch, label, categorical or continuous."""
        if kind == "batch":
            return replace(self, batch=str(value))
        if kind == "label":
            return replace(self, label=str(value))
        if kind == "categorical":
            return replace(self, categorical={**self.categorical, name: str(value)})
        if kind == "continuous":
            return replace(self, continuous={**self.continuous, name: float(value)})
        raise DecodeInputError(f"unknown covariate kind {kind!r}; use 'batch', 'label', 'categorical' or 'continuous'.")

    def describe(self, model: ModelSpec) -> str:
        """Covariates in words, for chart titles."""
        parts = []
        if self.batch is not None and len(model.batches) > 1:
            parts.append(f"{model.batch_key}={self.batch}")
        parts += [f"{k}={v}" for k, v in self.categorical.items()]
        parts += [f"{k}={v:.3g}" for k, v in self.continuous.items()]
        if self.label is not None and model.dispersion == "gene-label":
            parts.append(f"{model.labels_key}={self.label}")
        return ", ".join(parts)


def default_point(model: ModelSpec, z: np.ndarray | None = None, library_size: float = 1e4) -> Point:
    """The origin of latent space (or ``z``) with each covariate's first category."""
    return Point(
        z=tuple(float(v) for v in (np.zeros(model.n_latent) if z is None else z)),
        library_size=float(library_size),
        batch=model.batches[0] if model.batch_key is not None else None,
        label=model.labels[0] if model.labels_key is not None else None,
        categorical={k: v[0] for k, v in model.categorical_covariates.items()},
        continuous={k: 0.0 for k in model.continuous_covariates},
    )
