"""The Explore page's instrument: the latent walk (sliders with a live read-out), the point's
library size and covariates, and the browser's copy of the decoder and the cells.

The browser decodes the point while the hand moves (``components/live_decoder.js``); the
server decodes it again when the move ends, and its numbers replace the browser's.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import streamlit as st

from scvi_viz.analysis.characteristic import DEFAULT_MIN_EXPRESSION as MIN_EXPRESSION
from scvi_viz.analysis.directions import direction_effects, expression_unit
from scvi_viz.analysis.sliders import SliderRow
from scvi_viz.analysis.trajectory import OFF_DATA_RATIO, OFF_DATA_TEXT
from scvi_viz.analysis.walk import point_covariates
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.plots.style import format_library_size, library_label
from scvi_viz.ui import cache, keys
from scvi_viz.ui.components.latent_walk import latent_walk
from scvi_viz.ui.components.live_decoder import live_decoder
from scvi_viz.ui.point import (current_point, moved_by_controls, point_from_widgets, remember_clicked, set_point,
                               widget_values)


def load_in_browser(ws: Workspace) -> tuple[str | None, str | None]:
    """Send the decoder and the drawn cells to the browser (once per workspace; it keeps them).

    Returns ``(decoder key, None)``, or ``(None, why not)`` for a model the browser cannot decode.
    """
    refusal = ws.model.browser_decoder_refusal()
    if refusal is not None:
        return None, refusal
    key = cache.browser_key(ws)
    live_decoder(key=key, payload=cache.browser_payload(ws))
    return key, None


def _on_reset(ws: Workspace) -> None:
    point, origin = st.session_state.get(keys.CLICKED) or remember_clicked(ws, 0)
    set_point(ws, point, origin=origin, xy=None)


def _on_latent_moved() -> None:
    moved = (st.session_state.get(keys.LATENT_WIDGET) or {}).get("moved")
    p = current_point()
    try:
        z, move = np.asarray(moved["z"], dtype=np.float64), int(moved["move"])
    except (TypeError, KeyError, ValueError):
        return  # not what latent_walk.js sends
    if z.shape == (len(p.z),) and np.isfinite(z).all():
        st.session_state[keys.LATENT_MOVE] = move
        moved_by_controls(replace(p, z=tuple(z.tolist())))


def covariate_summary(ws: Workspace) -> str:
    """The point's library size and covariates in one line (the popover's label)."""
    p = current_point()
    parts = [library_label(p.library_size, size_factor=ws.model.uses_size_factor)]
    if ws.model.batch_key is not None:
        parts.append(f"{ws.model.batch_key} {p.batch}")
    parts += [f"{k} {v}" for k, v in p.categorical.items()]
    parts += [f"{k} {v:.3g}" for k, v in p.continuous.items()]
    return " · ".join(parts)


LIBRARY_STEPS = 241
"""Steps of the library-size slider, even on a log scale."""


def library_steps(log_low: float, log_high: float, current: float) -> list[float]:
    """The library-size slider's values: :data:`LIBRARY_STEPS` from ``10**log_low`` to
    ``10**log_high``, even on a log scale and rounded to 3 significant digits, and the point's own."""
    steps = {float(f"{v:.3g}") for v in np.logspace(log_low, log_high, LIBRARY_STEPS)}
    return sorted(steps | {float(current)})


def covariate_controls(ws: Workspace) -> None:
    """The library size slider and one control per covariate."""
    for key, value in widget_values(ws).items():
        st.session_state.setdefault(key, value)  # restore after a page switch dropped widget state
    m = ws.model
    lo, hi = cache.library_log_range(ws)
    if m.uses_size_factor:
        label, lo, hi = "Size factor", lo - 0.5, hi + 0.5
        help_text = "Expected counts are the softplus scale x this size factor (scvi-tools' `library`)."
    else:
        label, lo, hi = "Library size: total counts of the cell", min(lo - 1.0, 2.0), max(hi + 1.0, 5.0)
        help_text = ("Expected counts are the fraction of the library (`px_scale`) x this library size "
                     "(scvi-tools' `library`, as log). The steps are even on a log scale.")
    st.select_slider(label, library_steps(lo, hi, current_point().library_size), key=keys.LIBRARY_WIDGET,
                     format_func=format_library_size, on_change=point_from_widgets, help=help_text)
    if m.batch_key is not None:
        st.selectbox(f"{m.batch_key} (batch covariate)", m.batches, key=keys.BATCH_WIDGET, on_change=point_from_widgets)
    if m.labels_key is not None and m.dispersion == "gene-label":
        st.selectbox(f"{m.labels_key} (label: sets the per-label dispersion)", m.labels, key=keys.LABEL_WIDGET,
                     on_change=point_from_widgets)
    for name, cats in m.categorical_covariates.items():
        st.selectbox(name, cats, key=f"{keys.CATEGORICAL_WIDGET}{name}", on_change=point_from_widgets)
    for name in m.continuous_covariates:
        values = ws.covariates.continuous[name]
        lo_c, hi_c = float(values.min()), float(values.max())
        pad = 0.1 * max(hi_c - lo_c, 1e-6)
        st.slider(name, lo_c - pad, hi_c + pad, step=(hi_c - lo_c + 2 * pad) / 200, key=f"{keys.CONTINUOUS_WIDGET}{name}",
                  on_change=point_from_widgets, format="%.3g")




def expressed_genes(ws: Workspace, profile: pd.DataFrame) -> list[str]:
    """Genes expected at :data:`MIN_EXPRESSION` or more at the point: those hints and traversals name."""
    factor, _ = expression_unit(ws.model)
    return [str(g) for g in profile.index[profile["scale"].to_numpy() * factor >= MIN_EXPRESSION]]


def slider_hints(ws: Workspace, profile: pd.DataFrame, rows: list[SliderRow]) -> list[str]:
    """Per slider, the genes that rise and fall most (in log expected expression) when it moves up
    from the current point: ``"up: LYZ S100A9 FCN1 · down: IL7R CD3E LTB"``."""
    p = current_point()
    expressed = expressed_genes(ws, profile)
    if not expressed:
        return [""] * len(rows)
    jacobian = ws.model.log_scale_jacobian(p.z, genes=expressed, **p.covariates.decode_kwargs())
    effects = [direction_effects(jacobian, row.vector, expressed, n=3) for row in rows]
    return [f"up: {' '.join(up)} · down: {' '.join(down)}" for up, down in effects]


def walk(ws: Workspace, profile: pd.DataFrame, *, rows: list[SliderRow], genes: list[str], sets: dict[str, list[str]],
         n_top: int, embedding_name: str, map_key: str, marker: tuple[float, float], decoder: str | None,
         characteristic: str = "") -> float:
    """The latent sliders with the point's live read-out; returns the point's distance to the data
    (over the typical distance between neighbouring cells)."""
    p = current_point()
    m = ws.model
    top = profile.nlargest(n_top, "rate")["rate"]
    off = cache.data_distance(ws).ratio(p.z)
    chosen = [(i, g) for i, g in zip(m.gene_indices(genes), genes)]
    set_rates = [float(profile.loc[members, "rate"].mean()) for members in sets.values()]
    latent_walk(
        key=keys.LATENT_WIDGET, z=p.z, rows=[r.to_browser() for r in rows], hints=slider_hints(ws, profile, rows),
        sets=[(name, m.gene_indices(members)) for name, members in sets.items()],
        move=st.session_state.get(keys.LATENT_MOVE, 0), on_moved=_on_latent_moved, on_reset=lambda: _on_reset(ws),
        server={"chosen": (profile.loc[genes, "rate"].tolist() if genes else []) + set_rates,
                "top": [[g, float(v)] for g, v in top.items()], "off": off,
                "xy": [float(marker[0]), float(marker[1])], "characteristic": characteristic},
        chosen=chosen, n_top=n_top, library=p.library_size,
        library_text=library_label(p.library_size, size_factor=m.uses_size_factor),
        covariates=point_covariates(m.spec, p), decoder=decoder, cells=decoder, embedding=embedding_name,
        map_key=map_key, device=m.device.type.upper(), off_ratio=OFF_DATA_RATIO, off_text=OFF_DATA_TEXT,
    )
    return off

