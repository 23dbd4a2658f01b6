"""A plotly chart updated in place on every rerun (``live_chart.js``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go
from plotly.io.json import to_json_plotly
import streamlit as st

from scvi_viz.ui.components import asset

# Not isolated in a shadow root: plotly.js styles its charts (toolbar, hover labels) through
# global CSS rules.
_COMPONENT = st.components.v2.component("scvi_viz_live_chart", js=asset("live_chart.js"), isolate_styles=False)


def live_chart(fig: go.Figure | Mapping[str, Any], *, key: str, config: dict[str, Any]) -> None:
    """Draw a plotly figure (or its plain dict, :func:`scvi_viz.plots.style.figure_spec`) that
    changes on every rerun, updating the drawn chart in place.

    ``st.plotly_chart`` rebuilds a changed chart from nothing and draws it twice; this draws it
    once per change (see ``live_chart.js``). For charts that change with the sliders.
    """
    figure = fig.to_json() if isinstance(fig, go.Figure) else to_json_plotly(fig)
    _COMPONENT(key=key, data={"figure": figure, "config": {**config, "responsive": True}})
