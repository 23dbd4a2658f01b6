"""A saved view as a short URL query string, and back: the same schema as ``state.json``.

:func:`to_query` writes a :class:`~scvi_viz.io.view_state.ViewState` as flat query parameters;
:func:`from_query` turns parameters into the ``state.json`` object that
:meth:`ViewState.from_dict` validates, so a link and a saved file are checked alike. Numbers are
written so that they read back exactly: latent coordinates (float32) with 9 significant digits,
the library size and continuous covariates (float64) with 17; the model's SHA-256 and the data
key are shortened to :data:`HASH_CHARS` characters.

Parameters: ``v`` (version), ``m`` (model hash), ``d`` (data key), ``src`` with ``sm``/``sd``
(demo, or model and data paths under the data root), ``page``, ``z``, ``n`` (library size),
``b`` (batch), ``l`` (label), ``c.<name>`` / ``k.<name>`` (categorical / continuous covariates),
``g`` (genes), ``cell`` (how the point was set), ``x.<key>`` (a text choice) and ``xj.<key>``
(a choice as JSON: numbers, booleans, lists).

A link may also name only files, ``?src=server&sm=MODEL&sd=DATA`` (:func:`files_query`, as
``scvi_viz.view()`` writes it): the app opens them at their first cell.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from scvi_viz.io.view_state import STATE_FORMAT, StateFileError, ViewState

HASH_CHARS = 16
VERSION = "2"
MAX_QUERY_CHARS = 4000
"""Longer query strings are refused (a link is for a view, not for a dataset)."""
_Z_DIGITS = 9
"""Significant digits that carry a float32 exactly through text."""


def _number(value: float, digits: int = 17) -> str:
    """``value`` as text that reads back as the same float64 (17 digits; fewer when they suffice)."""
    return repr(float(value)) if digits == 17 else f"{value:.{digits}g}"


def query_length(params: Mapping[str, str]) -> int:
    """Characters of the query string ``params`` make (before URL escaping)."""
    return sum(len(str(k)) + len(str(v)) + 2 for k, v in params.items())


def to_query(state: ViewState) -> dict[str, str]:
    """The view as query parameters (see the module docstring); values are plain strings."""
    p = state.point
    query = {"v": VERSION, "m": state.model_sha256[:HASH_CHARS], "page": state.page,
             "z": ",".join(_number(v, _Z_DIGITS) for v in p.z), "n": _number(p.library_size)}
    if state.data_key:
        query["d"] = state.data_key[:HASH_CHARS]
    kind = state.source.get("kind")
    if kind:
        query["src"] = kind
    if kind == "server":
        query["sm"], query["sd"] = state.source.get("model", ""), state.source.get("data", "")
    if p.batch is not None:
        query["b"] = p.batch
    if p.label is not None:
        query["l"] = p.label
    query |= {f"c.{k}": v for k, v in p.categorical.items()}
    query |= {f"k.{k}": _number(v) for k, v in p.continuous.items()}
    if state.genes:
        query["g"] = ",".join(state.genes)
    if state.cell_id:
        query["cell"] = state.cell_id
    for key, value in state.extras.items():
        if value is None:
            continue
        if isinstance(value, str):
            query[f"x.{key}"] = value
        else:
            query[f"xj.{key}"] = json.dumps(value, separators=(",", ":"))
    return query


def from_query(params: Mapping[str, str]) -> dict[str, Any]:
    """The ``state.json`` object of a link's query parameters, for :meth:`ViewState.from_dict`.

    Raises
    ------
    StateFileError
        If the parameters are not a scvi-viz link (no version, no point) or too long.
    """
    params = {str(k): str(v) for k, v in params.items()}
    if query_length(params) > MAX_QUERY_CHARS:
        raise StateFileError(f"This link is longer than {MAX_QUERY_CHARS:,} characters; it is not a scvi-viz view.")
    if params.get("v") != VERSION or "z" not in params or "n" not in params:
        raise StateFileError("This address holds no scvi-viz view (it needs v=2, z= and n=).")
    try:
        z = [float(v) for v in params["z"].split(",")]
        library = float(params["n"])
        continuous = {k[2:]: float(v) for k, v in params.items() if k.startswith("k.")}
        extras: dict[str, Any] = {k[2:]: v for k, v in params.items() if k.startswith("x.")}
        extras |= {k[3:]: json.loads(v) for k, v in params.items() if k.startswith("xj.")}
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise StateFileError(f"This link's numbers cannot be read ({exc}).") from exc
    except RecursionError as exc:  # a value of thousands of nested brackets
        raise StateFileError("This link holds a value nested too deeply to be a scvi-viz view.") from exc
    source = {"kind": params["src"]} if "src" in params else {}
    if source.get("kind") == "server":
        source |= {"model": params.get("sm", ""), "data": params.get("sd", "")}
    return {
        "format": STATE_FORMAT,
        "model_sha256": params.get("m", ""),
        "data_key": params.get("d", ""),
        "page": params.get("page", "explore"),
        "source": source,
        "point": {"z": z, "library_size": library, "batch": params.get("b"), "label": params.get("l"),
                  "categorical": {k[2:]: v for k, v in params.items() if k.startswith("c.")},
                  "continuous": continuous},
        "genes": [g for g in params.get("g", "").split(",") if g],
        "cell_id": params.get("cell"),
        "extras": extras,
    }


def files_query(model: str, data: str) -> dict[str, str]:
    """A link that opens ``model`` and ``data`` (paths under the data root) with no view of its own."""
    return {"src": "server", "sm": model, "sd": data}


def files_from_query(params: Mapping[str, str]) -> dict[str, str] | None:
    """The files a link names when it holds no view (see :func:`files_query`), else ``None``."""
    params = {str(k): str(v) for k, v in params.items()}
    if "z" in params or params.get("src") != "server" or not params.get("sm"):
        return None
    return {"kind": "server", "model": params["sm"], "data": params.get("sd", "")}
