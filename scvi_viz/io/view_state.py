"""The saved view (``state.json``, also inside report ZIPs) that restores what a page showed."""

from __future__ import annotations

import io
import json
import math
import zipfile
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any

from scvi_viz.errors import ScviVizError
from scvi_viz.point import Point
from scvi_viz.spec import ModelSpec

STATE_FORMAT = "scvi-viz-state/2"
"""The schema of a saved view, written by ``state.json`` files and shared with links."""
READABLE_FORMATS = ("scvi-viz-state/1", STATE_FORMAT)
"""Versions that can be read: /2 added ``page``, ``data_key`` and ``source``."""
MAX_STATE_BYTES = 1_000_000
"""Largest ``state.json`` read (a saved view is a few kB)."""


class StateFileError(ScviVizError):
    """A ``state.json`` that cannot be read or does not fit the loaded model."""


@dataclass(frozen=True)
class ViewState:
    """Everything needed to restore a view: model and data identity, point, genes, page choices.

    Attributes
    ----------
    model_sha256
        SHA-256 of the model file (a link may carry only a prefix of it).
    point
        The current point.
    genes
        The chosen genes.
    device, app_version
        Where and with which scvi-viz the view was made (information only).
    cell_id
        How the point was set ("cell AAAC… (CD14+ Monocyte)").
    extras
        The page's choices: widget key -> JSON value (colour-by, top-N, compare values, ...).
    page
        The page: ``"explore"``, ``"compare"``, ...
    data_key
        :attr:`scvi_viz.analysis.workspace.Workspace.data_key` of the data (a prefix in links).
    source
        Where model and data came from: ``{"kind": "demo"}``, ``{"kind": "server", "model": ...,
        "data": ...}`` (paths relative to the data root) or ``{"kind": "upload"}``.
    """

    model_sha256: str
    point: Point
    genes: tuple[str, ...] = ()
    device: str = "cpu"
    app_version: str = ""
    cell_id: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    page: str = "explore"
    data_key: str = ""
    source: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        """Serialise as ``state.json`` text."""
        data = {"format": STATE_FORMAT, **asdict(self)}
        data["point"]["z"] = list(self.point.z)
        data["genes"] = list(self.genes)
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes, model: ModelSpec) -> tuple[ViewState, list[str]]:
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
        if len(text) > MAX_STATE_BYTES:
            raise StateFileError(
                f"This state.json has {len(text):,} characters; a saved view has a few thousand "
                f"(at most {MAX_STATE_BYTES:,} are read). Upload the state.json or report ZIP that scvi-viz saved."
            )
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise StateFileError(f"This is not a scvi-viz state.json (not JSON: {str(exc)[:120]}).") from exc
        return cls.from_dict(data, model)

    @classmethod
    def from_dict(cls, data: Any, model: ModelSpec) -> tuple[ViewState, list[str]]:
        """:meth:`from_json` for the parsed JSON object (links decode into the same form).

        Raises
        ------
        StateFileError
            If ``data`` is not a scvi-viz view of a readable version or does not fit the model.
        """
        if not isinstance(data, dict) or data.get("format") not in READABLE_FORMATS:
            raise StateFileError(f"This is not a scvi-viz view (no 'format': '{STATE_FORMAT}').")
        try:
            return cls._checked(data, model)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            if isinstance(exc, StateFileError):
                raise
            raise StateFileError(
                f"state.json has a field of the wrong type ({type(exc).__name__}: {str(exc)[:120]}); "
                "upload a state.json saved by scvi-viz."
            ) from exc

    @classmethod
    def _checked(cls, data: dict, model: ModelSpec) -> tuple[ViewState, list[str]]:
        try:
            p = data["point"]
            if not isinstance(p["z"], list):  # a string "0123" would read as four digits
                raise TypeError(f"z is a {type(p['z']).__name__}, not a list of numbers")
            point = Point(
                z=tuple(float(v) for v in p["z"]),
                library_size=float(p["library_size"]),
                batch=p.get("batch"),
                label=p.get("label"),
                categorical={str(k): str(v) for k, v in (p.get("categorical") or {}).items()},
                continuous={str(k): float(v) for k, v in (p.get("continuous") or {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise StateFileError(f"state.json has no valid 'point' ({type(exc).__name__}: {str(exc)[:120]}).") from exc
        if len(point.z) != model.n_latent:
            raise StateFileError(f"state.json has a {len(point.z)}-dimensional z; this model has {model.n_latent} latent dimensions.")
        if not all(math.isfinite(v) for v in point.z):
            raise StateFileError("state.json's latent point z has NaN or infinite values; save the view again.")
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
        saved_sha = str(data.get("model_sha256", ""))
        if not (saved_sha and model.file_sha256.startswith(saved_sha)):
            warnings.append("This view was saved with a different model file; the point is applied to the current model.")
        known = set(model.genes)
        if not isinstance(data.get("genes", []), list) or not isinstance(data.get("extras") or {}, dict):
            raise StateFileError("state.json's 'genes' must be a list and its 'extras' an object; upload a state.json saved by scvi-viz.")
        if data.get("cell_id") is not None and not isinstance(data.get("cell_id"), str):
            raise StateFileError("state.json's 'cell_id' must be text; upload a state.json saved by scvi-viz.")
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
            page=str(data.get("page") or "explore"),
            data_key=str(data.get("data_key") or ""),
            source={str(k): str(v) for k, v in (data.get("source") or {}).items()},
        )
        return state, warnings

    def same_model(self, model: ModelSpec) -> bool:
        """Whether the view was made with this very model file."""
        return bool(self.model_sha256) and model.file_sha256.startswith(self.model_sha256)


def read_state_upload(data: bytes) -> str:
    """The ``state.json`` text from an uploaded ``state.json`` or report ZIP.

    Raises
    ------
    StateFileError
        If the ZIP has no ``state.json`` or the bytes are neither JSON nor ZIP.
    """
    if data[:2] == b"PK":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                if "state.json" not in archive.namelist():
                    raise StateFileError("This ZIP has no state.json; upload a report bundle saved by scvi-viz.")
                info = archive.getinfo("state.json")
                if info.file_size > MAX_STATE_BYTES:
                    raise StateFileError("state.json in this ZIP is too large to be a scvi-viz state.")
                with archive.open(info) as handle:
                    return handle.read(MAX_STATE_BYTES + 1).decode("utf-8")
        except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, OSError, EOFError, UnicodeDecodeError) as exc:
            raise StateFileError(
                f"This ZIP could not be read ({type(exc).__name__}); upload a report bundle saved by scvi-viz, or its state.json."
            ) from exc
    if len(data) > MAX_STATE_BYTES:
        raise StateFileError(
            f"This file has {len(data):,} bytes; a saved view has a few thousand (at most {MAX_STATE_BYTES:,} are read)."
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StateFileError("This file is neither a state.json nor a report ZIP.") from exc
