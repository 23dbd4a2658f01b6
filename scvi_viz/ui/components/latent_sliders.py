"""One slider per latent dimension, drawn as a single element (``latent_sliders.js``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import streamlit as st

from scvi_viz.ui.components import asset

_COMPONENT = st.components.v2.component(
    "scvi_viz_latent_sliders", js=asset("latent_sliders.js"), css=asset("latent_sliders.css")
)


def latent_sliders(
    *,
    key: str,
    z: Sequence[float],
    ranges: np.ndarray,
    move: int,
    on_moved: Callable[[], None],
    steps: int = 200,
) -> None:
    """Range inputs for ``z`` over ``ranges`` (``(n_latent, 2)``), in ``steps`` steps each.

    A finished move calls ``on_moved`` with ``st.session_state[key]["moved"]`` set to
    ``{"z": [...], "move": n}``; ``move`` is the number of the last move Python applied, so
    that the browser ignores reruns for older moves.
    """
    _COMPONENT(key=key, on_moved_change=on_moved, data={
        "z": [float(v) for v in z],
        "ranges": np.asarray(ranges, dtype=np.float64).tolist(),
        "labels": [f"latent dimension {i + 1}" for i in range(len(ranges))],
        "steps": steps,
        "move": move,
    })
