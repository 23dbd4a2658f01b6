"""``Covariates``: what the decoder is told about cells besides their latent point."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from scvi_viz.arrays import read_only

from scvi_viz.errors import DecodeInputError

CovariateKind = Literal["batch", "label", "categorical", "continuous"]
"""Which covariate: the batch, the label, an extra categorical or an extra continuous one."""


def _read_only(values: Any) -> Any:
    # A read-only view: the caller's own array stays writable.
    return read_only(values.view()) if isinstance(values, np.ndarray) else values


@dataclass(frozen=True)
class Covariates:
    """Per-cell batch, label and extra covariates, in the form :meth:`ScviModel.decode` takes.

    Each value is one value for every row, or an array with one value per row; arrays are
    made read-only, so a value can be shared between sessions.

    Attributes
    ----------
    batch
        Batch category names, or ``None`` when the model has no batch key.
    label
        Label names, or ``None`` when the model has no labels key.
    categorical
        Extra categorical covariate name -> category names.
    continuous
        Extra continuous covariate name -> float values.
    """

    batch: Any = None
    label: Any = None
    categorical: Mapping[str, Any] = field(default_factory=dict)
    continuous: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "batch", _read_only(self.batch))
        object.__setattr__(self, "label", _read_only(self.label))
        object.__setattr__(self, "categorical", {k: _read_only(v) for k, v in self.categorical.items()})
        object.__setattr__(self, "continuous", {k: _read_only(v) for k, v in self.continuous.items()})

    def rows(self, idx: Any) -> Covariates:
        """The covariates of rows ``idx`` (a slice, indices or a boolean mask); scalars stay."""
        def pick(values: Any) -> Any:
            return values[idx] if isinstance(values, np.ndarray) else values

        return Covariates(
            batch=pick(self.batch),
            label=pick(self.label),
            categorical={k: pick(v) for k, v in self.categorical.items()},
            continuous={k: pick(v) for k, v in self.continuous.items()},
        )

    def with_value(self, kind: CovariateKind, name: str | None, value: Any) -> Covariates:
        """A copy with one covariate set to ``value`` for every row (``name`` for extra covariates)."""
        if kind in ("batch", "label"):
            return replace(self, **{kind: value})
        if kind in ("categorical", "continuous"):
            return replace(self, **{kind: {**getattr(self, kind), name: value}})
        raise DecodeInputError(f"kind must be 'batch', 'label', 'categorical' or 'continuous', not {kind!r}.")

    def decode_kwargs(self) -> dict[str, Any]:
        """``batch``, ``label``, ``categorical`` and ``continuous`` keyword arguments for decoding."""
        return {
            "batch": self.batch,
            "label": self.label,
            "categorical": dict(self.categorical),
            "continuous": dict(self.continuous),
        }
