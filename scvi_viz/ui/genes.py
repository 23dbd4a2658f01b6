"""Choosing the genes the per-gene panels chart."""

from __future__ import annotations

import streamlit as st

from scvi_viz.analysis.workspace import Workspace
from scvi_viz.ui import keys

_PASTED = "pasted_genes"
_PASTED_MISSING = "pasted_missing"


def chosen_genes() -> list[str]:
    """The genes chosen for the per-gene panels."""
    return list(st.session_state.get(keys.GENES, []))


def gene_picker(ws: Workspace) -> list[str]:
    """Searchable multiselect over all genes plus a box for pasted lists; returns the chosen genes."""
    def add_pasted() -> None:
        text = st.session_state.get(_PASTED, "")
        names = [g for g in text.replace(",", " ").replace(";", " ").split() if g]
        known = set(ws.model.genes)
        found = [g for g in names if g in known]
        st.session_state[_PASTED_MISSING] = [g for g in names if g not in known]
        st.session_state[keys.GENES] = list(dict.fromkeys([*chosen_genes(), *found]))

    st.multiselect("Genes to chart", ws.model.genes, key=keys.GENES, placeholder="type to search all genes",
                   help="Type part of a gene name to search.")
    with st.popover("Paste a gene list"):
        st.text_area("Genes, separated by spaces, commas or new lines", key=_PASTED)
        st.button("Add these genes", on_click=add_pasted)
    missing = st.session_state.get(_PASTED_MISSING)
    if missing:
        st.warning(f"Not in the model: {', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}")
    return chosen_genes()
