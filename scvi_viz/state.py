"""The current point in latent space and the saved view (``state.json``) that restores it."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from scvi_viz.errors import ScviVizError

if TYPE_CHECKING:
    from scvi_viz.model import ScviModel

STATE_FORMAT = "scvi-viz-state/1"


class StateFileError(ScviVizError):
    """A ``state.json`` that cannot be read or does not fit the loaded model."""


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

    def decode_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`ScviModel.decode` (``z`` as a float32 array)."""
        return {
            "z": np.asarray(self.z, dtype=np.float32),
            "library_size": self.library_size,
            "batch": self.batch,
            "label": self.label,
            "categorical": dict(self.categorical),
            "continuous": dict(self.continuous),
        }

    def with_covariate(self, kind: str, name: str | None, value: Any) -> Point:
        """A copy with one covariate changed: ``kind`` is batch, label, categorical or continuous."""
        if kind == "batch":
            return replace(self, batch=str(value))
        if kind == "label":
            return replace(self, label=str(value))
        if kind == "categorical":
            return replace(self, categorical={**self.categorical, name: str(value)})
        if kind == "continuous":
            return replace(self, continuous={**self.continuous, name: float(value)})
        raise ValueError(f"unknown covariate kind {kind!r}")

    def describe(self, model: ScviModel) -> str:
        """Covariates in words, for chart titles."""
        parts = []
        if self.batch is not None and len(model.batches) > 1:
            parts.append(f"{model.batch_key}={self.batch}")
        parts += [f"{k}={v}" for k, v in self.categorical.items()]
        parts += [f"{k}={v:.3g}" for k, v in self.continuous.items()]
        if self.label is not None and model.dispersion == "gene-label":
            parts.append(f"{model.labels_key}={self.label}")
        return ", ".join(parts)


def default_point(model: ScviModel, z: np.ndarray | None = None, library_size: float = 1e4) -> Point:
    """The origin of latent space (or ``z``) with each covariate's first category."""
    return Point(
        z=tuple(float(v) for v in (np.zeros(model.n_latent) if z is None else z)),
        library_size=float(library_size),
        batch=model.batches[0] if model.batch_key is not None else None,
        label=model.labels[0] if model.labels_key is not None else None,
        categorical={k: v[0] for k, v in model.categorical_covariates.items()},
        continuous={k: 0.0 for k in model.continuous_covariates},
    )


@dataclass(frozen=True)
class ViewState:
    """Everything needed to restore a view: model identity, point, genes, page extras."""

    model_sha256: str
    point: Point
    genes: tuple[str, ...] = ()
    device: str = "cpu"
    app_version: str = ""
    cell_id: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """Serialise as ``state.json`` text."""
        data = {"format": STATE_FORMAT, **asdict(self)}
        data["point"]["z"] = list(self.point.z)
        data["genes"] = list(self.genes)
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes, model: ScviModel) -> tuple[ViewState, list[str]]:
        """Parse and check ``state.json`` against ``model``.

        Returns
        -------
        tuple
            The state, and warnings for a person (another model file, genes the model lacks).

        Raises
        ------
        StateFileError
            If the text is not a scvi-viz state or its values do not fit the model.
        """
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StateFileError(f"This is not a scvi-viz state.json (not JSON: {exc}).") from exc
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise StateFileError("This JSON file is not a scvi-viz state.json (no 'format': 'scvi-viz-state/1').")
        try:
            p = data["point"]
            point = Point(
                z=tuple(float(v) for v in p["z"]),
                library_size=float(p["library_size"]),
                batch=p.get("batch"),
                label=p.get("label"),
                categorical={str(k): str(v) for k, v in (p.get("categorical") or {}).items()},
                continuous={str(k): float(v) for k, v in (p.get("continuous") or {}).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StateFileError(f"state.json has no valid 'point' ({exc}).") from exc
        if len(point.z) != model.n_latent or not all(math.isfinite(v) for v in point.z):
            raise StateFileError(f"state.json has a {len(point.z)}-dimensional z; this model has {model.n_latent} latent dimensions.")
        if not (math.isfinite(point.library_size) and point.library_size > 0):
            raise StateFileError("state.json has a library size that is not a positive number.")
        checks = [
            (point.batch, model.batches if model.batch_key else [None], "batch"),
            (point.label, model.labels if model.labels_key else [None], "label"),
        ] + [(point.categorical.get(k), v, k) for k, v in model.categorical_covariates.items()]
        for value, allowed, what in checks:
            if value not in allowed:
                raise StateFileError(f"state.json sets {what} to {value!r}, which this model does not have.")
        if set(point.categorical) != set(model.categorical_covariates):
            raise StateFileError("state.json's categorical covariates differ from this model's.")
        if set(point.continuous) != set(model.continuous_covariates):
            raise StateFileError("state.json's continuous covariates differ from this model's.")
        if not all(math.isfinite(v) for v in point.continuous.values()):
            raise StateFileError("state.json has a continuous covariate that is not a finite number.")
        warnings = []
        if data.get("model_sha256") != model.file_sha256:
            warnings.append("This view was saved with a different model file; the point is applied to the current model.")
        known = set(model.genes)
        genes = tuple(str(g) for g in data.get("genes", []))
        missing = [g for g in genes if g not in known]
        if missing:
            warnings.append(f"{len(missing)} saved gene(s) are not in this model and were dropped: {', '.join(missing[:5])}.")
        state = cls(
            model_sha256=str(data.get("model_sha256", "")),
            point=point,
            genes=tuple(g for g in genes if g in known),
            device=str(data.get("device", "")),
            app_version=str(data.get("app_version", "")),
            cell_id=data.get("cell_id"),
            extras=dict(data.get("extras") or {}),
        )
        return state, warnings
