"""The current point drawn over a map, and clicks on that map (``map_point.js``)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from scvi_viz.ui.components import asset

_COMPONENT = st.components.v2.component("scvi_viz_map_point", js=asset("map_point.js"))


def map_point(*, key: str, map_key: str, xy: tuple[float, float], on_click: Callable[[], None],
              hover: bool = False, cells: str | None = None, embedding: str = "", grid_trace: int = 0) -> None:
    """Draw a cross at data position ``xy`` over the ``st.plotly_chart`` with key ``map_key``.

    Every click on that map calls ``on_click``, with ``st.session_state[key]["click"]`` set to
    the plotly point clicked (``curve_number``, ``x``, ``y``, ``customdata``). The map's figure
    itself is never touched, so Streamlit neither re-sends nor redraws it. With ``hover`` on,
    the point under the mouse is previewed by the latent walk, in the browser, from the cells
    ``live_decoder`` loaded under the key ``cells`` (``embedding``: which of their maps this is;
    ``grid_trace``: the map's trace of empty space).
    """
    _COMPONENT(key=key, data={"map_key": map_key, "point": [float(xy[0]), float(xy[1])], "hover": bool(hover),
                              "cells": cells, "embedding": embedding, "grid_trace": int(grid_trace)},
               on_click_change=on_click, height=1)
