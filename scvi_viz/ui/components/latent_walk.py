"""The latent walk: one slider per latent dimension and the point's live read-out (``latent_walk.js``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import streamlit as st

from scvi_viz.ui.components import asset

_COMPONENT = st.components.v2.component(
    "scvi_viz_latent_walk", js=asset("latent_walk.js"), css=asset("latent_walk.css")
)


def latent_walk(
    *,
    key: str,
    z: Sequence[float],
    rows: Sequence[Mapping[str, Any]],
    move: int,
    on_moved: Callable[[], None],
    on_reset: Callable[[], None],
    server: Mapping[str, Any],
    chosen: Sequence[tuple[int, str]],
    n_top: int,
    library: float,
    library_text: str,
    covariates: Mapping[str, Any],
    decoder: str | None,
    cells: str | None,
    embedding: str,
    map_key: str,
    device: str,
    off_ratio: float,
    off_text: str,
    hints: Sequence[str] | None = None,
    sets: Sequence[tuple[str, Sequence[int]]] = (),
    steps: int = 200,
) -> None:
    """One range input per slider row, in ``steps`` steps each, and the chosen genes' (and gene
    sets') expected counts, the top genes and the distance to the data at the point.

    A finished move calls ``on_moved`` with ``st.session_state[key]["moved"]`` set to
    ``{"z": [...], "move": n}``; ``move`` is the number of the last move Python applied, so that
    the browser ignores reruns for older moves. *Reset to clicked cell* calls ``on_reset``.

    Parameters
    ----------
    rows
        :meth:`scvi_viz.analysis.sliders.SliderRow.to_browser` of each slider: the browser
        shows each one's value at the point and moves the point along it.
    server
        What the server decoded at the point: ``chosen`` (expected counts of ``chosen``),
        ``top`` (``[name, counts]`` pairs, largest first) and ``off`` (distance to the nearest
        cell over the typical one).
    chosen
        ``(gene index, name)`` of the genes charted.
    sets
        ``(name, gene indices)`` of the gene sets charted (their genes' mean expected counts).
    library, covariates
        The point's library size and its covariates as the browser decoder takes them
        (category indices, continuous values).
    decoder, cells
        Keys of the decoder and the cells ``live_decoder`` loaded in the browser; ``None``
        turns the live read-out off (the server's numbers are shown after each move).
    embedding, map_key
        The map's embedding (for the x's position) and the Streamlit key of its chart.
    """
    _COMPONENT(key=key, on_moved_change=on_moved, on_reset_change=on_reset, data={
        "z": [float(v) for v in z],
        "rows": [dict(r) for r in rows],
        "hints": list(hints) if hints is not None else None,
        "steps": steps,
        "move": move,
        "server": dict(server),
        "chosen": [[int(i), str(g)] for i, g in chosen],
        "sets": [[str(name), [int(i) for i in idx]] for name, idx in sets],
        "n_top": int(n_top),
        "library": float(library),
        "library_text": library_text,
        "covariates": dict(covariates),
        "decoder": decoder,
        "cells": cells,
        "embedding": embedding,
        "map": map_key,
        "device": device,
        "off_ratio": float(off_ratio),
        "off_text": off_text,
    })
