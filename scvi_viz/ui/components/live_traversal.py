"""What moving one slider does, drawn in the browser (``live_traversal.js``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import streamlit as st

from scvi_viz.ui.components import asset

# Not in a shadow root: the tests and benchmarks/interaction.py find the chart in the page's DOM.
_COMPONENT = st.components.v2.component("scvi_viz_live_traversal", js=asset("live_traversal.js"),
                                        css=asset("live_traversal.css"), isolate_styles=False)


def live_traversal(spec: Mapping[str, Any], *, key: str, note: str = "") -> None:
    """Draw a traversal chart from its spec (:func:`scvi_viz.plots.traversal.traversal_spec`),
    with ``note`` (plain text, ``*...*`` in italics) under it.

    It changes on every move; drawn as plain SVG it takes the browser a tenth of what a plotly
    chart's redraw takes (see ``live_traversal.js``).
    """
    # One JSON string: Streamlit would otherwise walk every number of the spec looking for DataFrames.
    _COMPONENT(key=key, data={"spec": json.dumps(spec), "note": note})
