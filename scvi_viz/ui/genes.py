"""Choosing the genes the per-gene panels chart."""

from __future__ import annotations

import streamlit as st

from scvi_viz.analysis.workspace import Workspace
from scvi_viz.ui import cache, keys

_PASTED = "pasted_genes"
_PASTED_MISSING = "pasted_missing"


def chosen_genes() -> list[str]:
    """The genes chosen for the per-gene panels."""
    return list(st.session_state.get(keys.GENES, []))


def gene_picker(ws: Workspace) -> list[str]:
    """Searchable multiselect over all genes plus a box for pasted lists; returns the chosen genes.

    The search matches genes that contain what is typed (no fuzzy matches: "CD3" offers CD3D
    and CD3E, not CD53); genes are listed alphabetically. The choice is kept across pages.
    """
    def add_pasted() -> None:
        text = st.session_state.get(_PASTED, "")
        names = [g for g in text.replace(",", " ").replace(";", " ").split() if g]
        known = {g.upper(): g for g in ws.model.spec.genes}  # "cd3e" is CD3E, as the search box finds it
        genes = list(dict.fromkeys([*chosen_genes(), *(known[g.upper()] for g in names if g.upper() in known)]))
        st.session_state[keys.GENES] = genes
        # Shown until the genes change again.
        st.session_state[_PASTED_MISSING] = (tuple(genes), [g for g in names if g.upper() not in known])

    pick, paste = st.columns([4, 1], vertical_alignment="bottom")
    n = ws.model.n_genes
    pick.multiselect("Genes to chart", cache.sorted_genes(ws), key=keys.GENES,
                     placeholder=f"type to search the model's {n:,} genes",
                     help=f"Type part of a gene name to search the {n:,} genes the model was trained on (usually a "
                          "selection of highly variable genes): a gene outside them, however well known, shows "
                          "\"No results\" and cannot be charted.", filter_mode="contains", persist_state="session")
    pasted_into, missing = st.session_state.get(_PASTED_MISSING) or ((), [])
    warning = None
    if missing and pasted_into == tuple(chosen_genes()):
        warning = (f"Not among the model's {ws.model.n_genes:,} genes: {', '.join(missing[:10])}"
                   f"{' …' if len(missing) > 10 else ''} (models are usually trained on a selection of highly "
                   "variable genes).")
    with paste.popover("Paste", help="Paste a list of gene names (any case), separated by spaces, commas or new lines."):
        st.text_area("Genes, separated by spaces, commas or new lines", key=_PASTED)
        st.button("Add these genes", on_click=add_pasted)
        if warning:  # here too: the open popover covers part of the page's own warning at 1,100 px
            st.warning(warning)
    if warning:
        st.warning(warning)
    return chosen_genes()
