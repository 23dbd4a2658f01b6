"""The view's gene sets: a small editable list (one set per line), kept in the view's state."""

from __future__ import annotations

import streamlit as st

from scvi_viz.analysis.gene_sets import MAX_SET_GENES, MAX_SETS, format_gene_sets, parse_gene_sets
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.ui import keys

_TEXT = "gene_sets_text"
_NOTES = "gene_sets_notes"
EXAMPLE = "monocyte: LYZ S100A8 S100A9 FCN1\nT cell: CD3D CD3E IL7R"


def gene_sets() -> dict[str, list[str]]:
    """The view's gene sets, name -> genes."""
    return dict(st.session_state.get(keys.GENE_SETS) or {})


def gene_set_editor(ws: Workspace) -> None:
    """A popover with the sets as text; *Keep these sets* checks them against the model's genes."""
    sets = gene_sets()
    if st.session_state.get(_TEXT) is None or st.session_state.get("_gene_sets_shown") != sets:
        st.session_state[_TEXT] = format_gene_sets(sets)  # e.g. restored from a link
        st.session_state["_gene_sets_shown"] = sets

    def keep() -> None:
        parsed, notes = parse_gene_sets(st.session_state.get(_TEXT, ""), ws.model.spec.genes)
        st.session_state[keys.GENE_SETS] = parsed
        st.session_state["_gene_sets_shown"] = parsed
        st.session_state[_TEXT] = format_gene_sets(parsed)
        st.session_state[_NOTES] = notes

    with st.popover("Gene sets", help="Sets of genes to colour the map by and to chart on Explore (their mean expression), "
                                "and to follow ('more of a gene set' under Directions). Kept in the page's link."):
        st.text_area(f"One set per line, as  name: GENE GENE …  (at most {MAX_SETS} sets of {MAX_SET_GENES} genes)",
                     key=_TEXT, placeholder=EXAMPLE, height=140)
        st.button("Keep these sets", on_click=keep, key="gene_sets_keep")
        for note in st.session_state.get(_NOTES) or []:
            st.caption(note)
