"""scvi-viz: walk through the latent space of a trained scVI model.

Run: ``streamlit run app.py`` in a clone, or ``scvi-viz launch`` where scvi-viz is installed (the
wheel carries this file and ``pages/`` as ``scvi_viz/_app/``).
"""

import sys
from importlib.util import find_spec
from pathlib import Path

import streamlit as st

# A shipped icon: a Material icon as page icon makes the browser fetch a font from the internet.
# Found without importing scvi_viz (which imports PyTorch), so the page can say what it waits for.
ICON = Path(find_spec("scvi_viz").submodule_search_locations[0]) / "ui" / "assets" / "icon.png"
st.set_page_config(page_title="scvi-viz", page_icon=str(ICON), layout="wide")
starting = None
if "scvi_viz.ui.sidebar" not in sys.modules:  # the server's first visitor: seconds of imports
    starting = st.empty()
    starting.info("Starting scvi-viz: loading PyTorch and the app (about 10 seconds, once per server)…",
                  icon=":material/hourglass_top:")

from scvi_viz.ui import sidebar, views  # noqa: E402 (after the message above)

if starting is not None:
    starting.empty()
page = st.navigation(
    [
        st.Page("pages/explore.py", title="Explore", icon=":material/explore:", default=True),
        st.Page("pages/compare.py", title="Compare covariates", icon=":material/compare_arrows:"),
        st.Page("pages/differential_expression.py", title="Differential expression", icon=":material/difference:"),
        st.Page("pages/model_fit.py", title="Model fit", icon=":material/fact_check:"),
        st.Page("pages/trajectory.py", title="Trajectory", icon=":material/timeline:"),
    ]
)
views.read_link()  # a view shared by its address
sidebar.sidebar()
if (start := sidebar.start_page()) is not None:
    st.switch_page(start)
page.run()
