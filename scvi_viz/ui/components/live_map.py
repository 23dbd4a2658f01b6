"""The Explore map kept in the browser (``live_map.js``): cells sent once, colourings as codes or values."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from scvi_viz.arrays import pack_arrays
from scvi_viz.plots.cell_map import STEP_COLOURS, MapBase, MapColour
from scvi_viz.plots.style import PALETTE, TICK_SIZE
from scvi_viz.ui.components import script

# Not isolated in a shadow root: plotly.js styles its charts (toolbar, hover labels) through global CSS.
_COMPONENT = st.components.v2.component("scvi_viz_live_map", js=script("messages.js", "live_map.js"),
                                        isolate_styles=False)
CELLS_FORMAT = "scvi-viz-map-cells/1"
COLOUR_FORMAT = "scvi-viz-map-colour/1"


def pack_cells(key: str, base: MapBase) -> bytes:
    """The cells' message: click grid, positions, rows and hover texts, under ``key``."""
    return pack_arrays({"format": CELLS_FORMAT, "key": key, "cell_size": base.cell_size, "hover": base.hover},
                       {"grid_x": base.grid_x, "grid_y": base.grid_y, "x": base.x, "y": base.y, "index": base.index})


def pack_colour(cells_key: str, colour: MapColour, *, config: dict[str, Any]) -> bytes:
    """A colouring's message for the cells under ``cells_key``: codes or values, categories, layout."""
    header = {"format": COLOUR_FORMAT, "cells": cells_key, "kind": colour.kind, "name": colour.name,
              "categories": colour.categories, "palette": list(PALETTE), "colorbar_title": colour.colorbar_title,
              "tick_size": TICK_SIZE, "layout": colour.layout, "steps": list(STEP_COLOURS), "low": colour.low,
              "high": colour.high,
              "config": config}
    arrays = {"codes": colour.codes} if colour.kind == "category" else {"values": colour.values}
    digest = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
    for array in arrays.values():
        digest.update(array.tobytes())
    header["id"] = digest.hexdigest()[:16]  # the browser draws each colouring once
    return pack_arrays(header, arrays)


def live_map(*, key: str, cells_key: str, cells: bytes, colour: bytes) -> None:
    """Draw the map whose cells are the message ``cells`` (:func:`pack_cells`) coloured by ``colour``
    (:func:`pack_colour`), with Streamlit key ``key`` (``map_point`` finds it by it)."""
    _COMPONENT(key=f"{key}_cells_{cells_key}", data=cells, height=1)
    _COMPONENT(key=key, data=colour)


def load_plotly() -> None:
    """Make sure plotly.js is on the page: Streamlit loads it with the first ``st.plotly_chart``
    (and sets ``window.Plotly``), which the live map and ``live_chart`` draw with."""
    with st.container(key="plotly_loader", height=1, border=False):
        st.html("<style>.st-key-plotly_loader { display: none; }</style>")
        # One point: pages wait for every chart to have drawn data.
        st.plotly_chart(go.Figure({"data": [{"type": "scatter", "x": [0], "y": [0], "hoverinfo": "skip"}],
                                   "layout": {"height": 10, "width": 10}}), key="plotly_loader_chart",
                        config={"staticPlot": True})
