"""The smallest Streamlit app like the Explore page's interaction: one slider, one 10-bar plotly chart.

benchmarks/interaction.py runs it from a copy in a temporary folder, so the project's
.streamlit/config.toml does not apply: it measures Streamlit with its default settings.
"""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

value = st.slider("value", 0.0, 10.0, 5.0, step=0.05, key="value")
x = np.arange(10)
heights = 1.0 + np.abs(np.sin(x * 0.7 + value)) * (1.0 + value)
fig = go.Figure(go.Bar(x=[f"bar {i}" for i in x], y=heights))
fig.update_layout(title={"text": f"10 bars at value {value:.2f}"}, height=300, margin={"l": 10, "r": 10, "t": 40, "b": 10})
st.plotly_chart(fig, key="bars")
