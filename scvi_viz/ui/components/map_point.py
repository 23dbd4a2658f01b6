"""The current point drawn over a map, and clicks on that map (``map_point.js``)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from scvi_viz.ui.components import asset

_COMPONENT = st.components.v2.component("scvi_viz_map_point", js=asset("map_point.js"))


def map_point(*, key: str, map_key: str, xy: tuple[float, float], on_click: Callable[[], None]) -> None:
    """Draw a cross at data position ``xy`` over the ``st.plotly_chart`` with key ``map_key``.

    Every click on that map calls ``on_click``, with ``st.session_state[key]["click"]`` set to
    the plotly point clicked (``curve_number``, ``x``, ``y``, ``customdata``). The map's figure
    itself is never touched, so Streamlit neither re-sends nor redraws it.
    """
    _COMPONENT(key=key, data={"map_key": map_key, "point": [float(xy[0]), float(xy[1])]},
               on_click_change=on_click, height=1)
