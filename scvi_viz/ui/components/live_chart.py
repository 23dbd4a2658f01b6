"""A plotly chart updated in place on every rerun (``live_chart.js``)."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import streamlit as st

from scvi_viz.ui.components import asset

# Not isolated in a shadow root: plotly.js styles its charts (toolbar, hover labels) through
# global CSS rules.
_COMPONENT = st.components.v2.component("scvi_viz_live_chart", js=asset("live_chart.js"), isolate_styles=False)


def live_chart(fig: go.Figure, *, key: str, config: dict[str, Any]) -> None:
    """Draw a plotly figure that changes on every rerun, updating the drawn chart in place.

    ``st.plotly_chart`` rebuilds a changed chart from nothing and draws it twice; this draws it
    once per change (see ``live_chart.js``). For charts that change with the sliders.
    """
    _COMPONENT(key=key, data={"figure": fig.to_json(), "config": {**config, "responsive": True}})
