"""scvi-viz: walk through the latent space of a trained scVI model.

Run: ``streamlit run app.py`` in a clone, or ``scvi-viz launch`` where scvi-viz is installed (the
wheel carries this file and ``pages/`` as ``scvi_viz/_app/``).
"""

import streamlit as st

from scvi_viz.ui import ICON, sidebar, views

# A shipped icon: a Material icon as page icon makes the browser fetch a font from the internet.
st.set_page_config(page_title="scvi-viz", page_icon=str(ICON), layout="wide")
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
