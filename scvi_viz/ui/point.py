"""The current point: where it is kept, and the controls that move it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import streamlit as st

from scvi_viz.analysis.workspace import Workspace
from scvi_viz.plots.style import library_label
from scvi_viz.point import Point
from scvi_viz.ui import keys
from scvi_viz.ui.components.latent_sliders import latent_sliders


def current_point() -> Point:
    """The current point."""
    return st.session_state[keys.POINT]


def point_origin() -> str:
    """How the current point was set, in words."""
    return st.session_state.get(keys.POINT_ORIGIN, "")


def _widget_values(ws: Workspace) -> dict[str, Any]:
    """The value each point widget (other than the latent sliders) shows for the current point."""
    p = current_point()
    values = {keys.LIBRARY_WIDGET: float(np.log10(p.library_size))}
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
    for key, value in _widget_values(ws).items():
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


def _moved_by_controls(point: Point) -> None:
    st.session_state[keys.POINT] = point
    moved_from = st.session_state.get(keys.POINT_ORIGIN, "").removeprefix("sliders (moved from ").removesuffix(")")
    st.session_state[keys.POINT_ORIGIN] = f"sliders (moved from {moved_from})"
    st.session_state[keys.POINT_XY] = None


def _point_from_widgets() -> None:
    p = current_point()
    ss = st.session_state
    _moved_by_controls(replace(
        p,
        library_size=float(10 ** ss[keys.LIBRARY_WIDGET]),
        batch=ss.get(keys.BATCH_WIDGET, p.batch),
        label=ss.get(keys.LABEL_WIDGET, p.label),
        categorical={k: ss[f"{keys.CATEGORICAL_WIDGET}{k}"] for k in p.categorical},
        continuous={k: float(ss[f"{keys.CONTINUOUS_WIDGET}{k}"]) for k in p.continuous},
    ))


def _on_latent_moved() -> None:
    moved = (st.session_state.get(keys.LATENT_WIDGET) or {}).get("moved")
    p = current_point()
    try:
        z, move = np.asarray(moved["z"], dtype=np.float64), int(moved["move"])
    except (TypeError, KeyError, ValueError):
        return  # not what latent_sliders.js sends
    if z.shape == (len(p.z),) and np.isfinite(z).all():
        st.session_state[keys.LATENT_MOVE] = move
        _moved_by_controls(replace(p, z=tuple(z.tolist())))


def point_controls(ws: Workspace) -> None:
    """Sliders for each latent dimension and the library size, one control per covariate."""
    for key, value in _widget_values(ws).items():
        st.session_state.setdefault(key, value)  # restore after a page switch dropped widget state
    m = ws.model
    lo, hi = np.log10(np.percentile(ws.library, [0, 100]))
    if m.uses_size_factor:
        label, lo, hi = "Size factor, log10", lo - 0.5, hi + 0.5
        help_text = "Expected counts are the softplus scale x this size factor."
    else:
        label, lo, hi = "Library size, log10 of total counts", min(lo - 1.0, 2.0), max(hi + 1.0, 5.0)
        help_text = "Expected counts are scale (a fraction of the library) x this library size."
    st.slider(label, float(lo), float(hi), step=0.01, key=keys.LIBRARY_WIDGET, on_change=_point_from_widgets, help=help_text)
    st.caption(library_label(current_point().library_size, size_factor=m.uses_size_factor))
    if m.batch_key is not None:
        st.selectbox(f"{m.batch_key} (batch covariate)", m.batches, key=keys.BATCH_WIDGET, on_change=_point_from_widgets)
    if m.labels_key is not None and m.dispersion == "gene-label":
        st.selectbox(f"{m.labels_key} (label: sets the per-label dispersion)", m.labels, key=keys.LABEL_WIDGET,
                     on_change=_point_from_widgets)
    for name, cats in m.categorical_covariates.items():
        st.selectbox(name, cats, key=f"{keys.CATEGORICAL_WIDGET}{name}", on_change=_point_from_widgets)
    for name in m.continuous_covariates:
        values = ws.covariates.continuous[name]
        lo_c, hi_c = float(values.min()), float(values.max())
        pad = 0.1 * max(hi_c - lo_c, 1e-6)
        st.slider(name, lo_c - pad, hi_c + pad, step=(hi_c - lo_c + 2 * pad) / 200, key=f"{keys.CONTINUOUS_WIDGET}{name}",
                  on_change=_point_from_widgets, format="%.3g")
    # One element for all latent dimensions: a map click moves every dimension at once, and
    # Streamlit's sliders would each lay the page out again. Library and covariates stay.
    latent_sliders(key=keys.LATENT_WIDGET, z=current_point().z, ranges=ws.latent_ranges(),
                   move=st.session_state.get(keys.LATENT_MOVE, 0), on_moved=_on_latent_moved)


def reset_button(ws: Workspace) -> None:
    """A button that returns the point to the last clicked cell."""
    def reset() -> None:
        point, origin = st.session_state.get(keys.CLICKED) or remember_clicked(ws, 0)
        set_point(ws, point, origin=origin, xy=None)

    st.button("Reset to clicked cell", on_click=reset,
              help="Back to the latent point, library and covariates of the last cell you clicked.")


def timed_decode(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` and remember its duration as the last decode time (shown in the model card)."""
    start = time.perf_counter()
    out = fn()
    st.session_state[keys.LAST_DECODE_MS] = 1e3 * (time.perf_counter() - start)
    return out
