"""The current point: where it is kept, and the controls that move it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import streamlit as st

from scvi_viz.analysis.workspace import Workspace
from scvi_viz.point import Point
from scvi_viz.ui import keys


def current_point() -> Point:
    """The current point."""
    return st.session_state[keys.POINT]


def point_origin() -> str:
    """How the current point was set, in words."""
    return st.session_state.get(keys.POINT_ORIGIN, "")


def widget_values(ws: Workspace) -> dict[str, Any]:
    """The value each point widget (other than the latent sliders) shows for the current point."""
    p = current_point()
    values = {keys.LIBRARY_WIDGET: float(p.library_size)}
    if ws.model.batch_key is not None:
        values[keys.BATCH_WIDGET] = p.batch
    if ws.model.labels_key is not None and ws.model.dispersion == "gene-label":
        values[keys.LABEL_WIDGET] = p.label
    values.update({f"{keys.CATEGORICAL_WIDGET}{k}": v for k, v in p.categorical.items()})
    values.update({f"{keys.CONTINUOUS_WIDGET}{k}": float(v) for k, v in p.continuous.items()})
    return values


def set_point(ws: Workspace, point: Point, *, origin: str, xy: tuple[float, float] | None) -> None:
    """Make ``point`` current and move every control to it (call before widgets, or in callbacks)."""
    st.session_state[keys.POINT] = point
    st.session_state[keys.POINT_ORIGIN] = origin
    st.session_state[keys.POINT_XY] = xy
    for key, value in widget_values(ws).items():
        st.session_state[key] = value


def cell_origin(ws: Workspace, i: int) -> str:
    """``cell <id> (<label>)``: how a point set from cell ``i`` is described."""
    key = ws.model.labels_key
    kind = f" ({ws.obs[key].iloc[i]})" if key is not None and key in ws.obs else ""
    return f"cell {ws.obs.index[i]}{kind}"


def remember_clicked(ws: Workspace, cell: int) -> tuple[Point, str]:
    """The point of cell ``cell`` and its description, kept for *Reset to clicked cell*."""
    point, origin = ws.cell_point(cell), cell_origin(ws, cell)
    st.session_state[keys.CLICKED] = (point, origin)
    return point, origin


_MOVED = "sliders (moved from {})"


def moved_by_controls(point: Point, *, keep_xy: bool = False) -> None:
    """Make ``point`` current as moved by the controls; ``keep_xy`` when its latent point is unchanged
    (library size, covariates), so that the x stays where it is on the map."""
    st.session_state[keys.POINT] = point
    origin = st.session_state.get(keys.POINT_ORIGIN, "")
    head, tail = _MOVED.split("{}")
    if origin.startswith(head) and origin.endswith(tail):
        origin = origin[len(head): len(origin) - len(tail)]
    st.session_state[keys.POINT_ORIGIN] = _MOVED.format(origin)
    if not keep_xy:
        st.session_state[keys.POINT_XY] = None


def point_from_widgets() -> None:
    """Callback of the library and covariate widgets: the point with their values."""
    p = current_point()
    ss = st.session_state
    moved_by_controls(replace(
        p,
        library_size=float(ss[keys.LIBRARY_WIDGET]),
        batch=ss.get(keys.BATCH_WIDGET, p.batch),
        label=ss.get(keys.LABEL_WIDGET, p.label),
        categorical={k: ss[f"{keys.CATEGORICAL_WIDGET}{k}"] for k in p.categorical},
        continuous={k: float(ss[f"{keys.CONTINUOUS_WIDGET}{k}"]) for k in p.continuous},
    ), keep_xy=True)


def timed_decode(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` and remember its duration as the last decode time (shown in the model card)."""
    start = time.perf_counter()
    out = fn()
    st.session_state[keys.LAST_DECODE_MS] = 1e3 * (time.perf_counter() - start)
    return out
