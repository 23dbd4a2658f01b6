"""The Compare page's controls and views: which covariate and values, which cells, the results.

Widget keys are stable, so that a saved view can set them before the page runs. Per section
(``cmp_point``, ``cmp_group``): ``{section}_covariate`` (the covariate's name, a key of
:func:`scvi_viz.analysis.compare.covariate_options`), ``{section}_values::{name}`` (a categorical
covariate's values, the reference first), ``{section}_a::{name}`` and ``{section}_b::{name}``
(a continuous one's two values), ``{section}_unit``, ``{section}_min_on`` and
``{section}_min_counts`` (the ranking's minimum expression); for the group also
``cmp_group_how``, ``cmp_group_column``, ``cmp_group_category`` and ``cmp_group_map``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from scvi_viz.analysis.compare import (
    LFC_PSEUDO_FRACTION,
    MIN_EXPECTED_COUNTS,
    CovariateChoice,
    expression_unit,
    rank_genes,
)
from scvi_viz.analysis.characteristic import SUPPORT_NEIGHBOURS, covariate_support, point_support
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.plots import comparison, export
from scvi_viz.ui import cache, keys, table_words
from scvi_viz.ui.cell_map import selected_cells
from scvi_viz.ui.downloads import export_picker, report_button
from scvi_viz.ui.point import current_point

N_TOP = 20
"""Genes in the fold-change chart."""

DEFAULT_VALUES = 3
"""How many of a categorical covariate's values are compared at first (the point's own first)."""


def model_text(ws: Workspace) -> str:
    """Which model, for figure subtitles: ``SCVI model in my_model/``."""
    m = ws.model
    return f"{m.model_name} model" + (f" in {m.path.parent.name}/" if m.path is not None else "")


def covariate_picker(ws: Workspace, options: dict[str, CovariateChoice], *,
                     key: str) -> tuple[str, CovariateChoice, list] | None:
    """Choose a covariate and two or more of its values; returns (its name, the choice, the values)."""
    name = st.selectbox("Covariate", list(options), format_func=lambda n: options[n].label, key=f"{key}_covariate")
    choice = options[name]
    if choice.categories is None:
        # Three significant digits: the values decoded are the ones the titles show.
        lo, hi = (float(f"{v:.3g}") for v in np.percentile(ws.covariates.continuous[choice.name], [10, 90]))
        a, b = st.columns(2)
        va = a.number_input(f"{name}: value A (reference)", value=lo, key=f"{key}_a::{name}", format="%.4g")
        vb = b.number_input(f"{name}: value B", value=hi, key=f"{key}_b::{name}", format="%.4g")
        if va == vb:
            st.warning("Choose two different values.")
            return None
        return name, choice, [va, vb]
    cats = choice.categories
    current = _current_value(choice)
    default = ([current, *[c for c in cats if c != current]] if current in cats else cats)[:DEFAULT_VALUES]
    chosen = st.multiselect(f"Values of {name} (the first is the reference A; every other one is compared with it)",
                            cats, default=default, key=f"{key}_values::{name}",
                            help="The reference A starts as the current point's own value.")
    if len(chosen) < 2:
        st.warning("Choose at least two values to compare.")
        return None
    return name, choice, chosen


def _current_value(choice: CovariateChoice) -> Any:
    point = current_point()
    if choice.kind in ("batch", "label"):
        return point.batch if choice.kind == "batch" else point.label
    return point.categorical.get(choice.name)


def comparison_view(ws: Workspace, table: pd.DataFrame, *, key: str, where: str, library_size: float | None,
                    covariate: str, values: list, group: dict[str, Any] | None = None) -> None:
    """Scatter of the reference against the other values, top |log2FC| bars and the table, with downloads.

    Parameters
    ----------
    ws
        The workspace.
    table
        A :func:`scvi_viz.analysis.compare.comparison_table`; it is re-ranked with the minimum
        expression chosen here.
    key
        The section (``cmp_point`` or ``cmp_group``): prefix of the widget keys.
    where
        The point or group, in words (figure subtitles, CSV captions).
    library_size
        The point's library size, ``None`` for a group.
    covariate, values
        What was compared (written into the report bundle's ``state.json``).
    group
        The group's entries for ``state.json`` (see :func:`group_picker`).
    """
    unit = st.radio("Axis", ["normalised expression (fraction of library)", "expected counts"], horizontal=True,
                    key=f"{key}_unit", disabled=library_size is None,
                    help="Expected counts are at the current library size; for groups each cell keeps its own library.")
    unit_key = "scale" if unit.startswith("normalised") or library_size is None else "rate"
    on_col, min_col = st.columns(2, vertical_alignment="bottom")
    filtered = on_col.toggle("Rank only genes expressed enough", value=True, key=f"{key}_min_on",
                             help="Genes expected at very few counts under every value have large but meaningless "
                                  "fold changes. They stay in the table, after the ranked ones.")
    min_counts = min_col.number_input("Minimum expected counts", min_value=0.0, value=MIN_EXPECTED_COUNTS, step=0.05,
                                      format="%.3g", key=f"{key}_min_counts", disabled=not filtered,
                                      help=f"Under at least one of the values, in {expression_unit(library_size)}.")
    table = rank_genes(table, min_counts=min_counts if filtered else None)
    if not table["ranked"].any():
        st.warning(f"No gene is expected at {min_counts:g} counts or more under any of the values: "
                   "lower the minimum, or turn it off, to rank genes.")
        return
    subtitle = f"{where}<br>{model_text(ws)}"
    formula = f"log2((scale_B + {LFC_PSEUDO_FRACTION:g}) / (scale_A + {LFC_PSEUDO_FRACTION:g}))"
    caption = {"comparison": where, "values": f"{', '.join(table.attrs['others'])} vs {table.attrs['reference']}",
               "model": model_text(ws), "ranking": table.attrs["ranking"], "log2FC": formula}
    charts = comparison.comparison_charts(table, name=key, unit=unit_key, n_top=N_TOP, subtitle=subtitle, caption=caption)
    # One under the other: side by side, each chart would be ~320 px wide at a 1100 px window,
    # too narrow for gene names, grouped bars and eight decades of a log axis.
    for chart in charts.values():
        st.plotly_chart(chart.figure, key=f"{chart.name}_chart", config=export.toolbar_config(chart.name))
    st.caption(f"{len(table):,} genes, {table.attrs['ranking']}. log2FC = {formula}.")
    st.dataframe(table, height=320, column_config=table_words.column_config(table, table_words.compare_header))
    export_picker(charts, key=f"{key}_export")
    extras = {"compare_covariate": covariate, "compare_values": list(values),
              "compare_min_expression": min_counts if filtered else None, **(group or {})}
    st.session_state[keys.compare_view(key)] = extras  # for the page's address (scvi_viz.ui.views)
    report_button(ws, list(charts.values()), page="compare", name=key, tables={f"{key}_table": table}, extras=extras)


def group_picker(ws: Workspace, *, key: str, default_rank: int = 0,
                 by_size: bool = False) -> tuple[np.ndarray | None, str, dict[str, Any]]:
    """Pick cells by an obs category or by a box/lasso on the map.

    The category first offered is the ``default_rank``-th in the list (alphabetical), or with
    ``by_size`` the ``default_rank``-th largest (the DE page opens on the two largest groups).

    Returns
    -------
    tuple
        The cells' indices (``None`` when none are chosen), the group in words, and what
        ``state.json`` records of it: ``compare_group_column`` and ``compare_group_category``,
        or ``compare_group_cells`` (the selected cells' ids).
    """
    how = st.radio("Group", ["cells of an obs category", "cells selected on the map"], horizontal=True, key=f"{key}_how")
    if how == "cells of an obs category":
        columns = [c for c in ws.color_columns() if ws.obs[c].nunique() <= 200]
        if not columns:
            return None, "", {}
        default = columns.index(ws.model.labels_key) if ws.model.labels_key in columns else 0
        column = st.selectbox("obs column", columns, index=default, key=f"{key}_column")
        values = ws.obs[column].astype(str)
        categories = sorted(values.unique())
        if by_size:
            sizes = values.value_counts()
            ranked = sorted(categories, key=lambda c: (-sizes[c], c))
            first = categories.index(ranked[min(default_rank, len(ranked) - 1)])
        else:
            first = min(default_rank, len(categories) - 1)
        category = st.selectbox("Category", categories, index=first, key=f"{key}_category")
        return (np.flatnonzero(values.to_numpy() == category), f"{column} = {category}",
                {"compare_group_column": column, "compare_group_category": category})
    st.caption("Draw a box or lasso around the cells to compare (the map's toolbar has both tools).")
    cells = selected_cells(ws, key=f"{key}_map", subtitle=f"{ws.n_cells:,} cells · {model_text(ws)}")
    described = f"{len(cells)} selected cells"
    if cells:
        st.session_state.pop(keys.restored_cells(key), None)  # a new selection replaces a restored one
    elif saved := st.session_state.get(keys.restored_cells(key)):
        cells = sorted(int(i) for i in np.flatnonzero(ws.obs.index.isin(saved)))
        described = f"{len(cells)} cells of a saved selection"
        st.caption(f"{described} (draw a new box or lasso to replace it).")
    ids = [str(i) for i in ws.obs.index[cells]]
    return (np.asarray(cells, dtype=int) if cells else None), described, {"compare_group_cells": ids}


LOW_SUPPORT = 0.1
"""A compared value fewer than this share of the nearby (or the group's) cells have is flagged."""


def support_note(ws: Workspace, covariate: str, choice: CovariateChoice, values: list, *,
                 z: Any = None, cells: np.ndarray | None = None) -> None:
    """Say how many nearby (or the group's) cells had each compared value: the model decodes a
    state under a value it saw little of there by extrapolating, which the page makes visible."""
    if choice.categories is None or covariate not in ws.obs:
        return
    if cells is None:
        shares = point_support(cache.data_distance(ws), z, ws.obs[covariate], values, k=SUPPORT_NEIGHBOURS)
        among = f"the {SUPPORT_NEIGHBOURS} cells nearest this point"
    else:
        shares = covariate_support(ws.obs[covariate], cells, values)
        among = f"the group's {len(cells):,} cells"
    text = ", ".join(f"{100 * share:.0f}% {covariate} {value}" for value, share in shares.items())
    rare = [v for v, share in shares.items() if share < LOW_SUPPORT]
    help_text = ("Share of the cells having each compared value, in the data the model was given. Decoding a cell "
                 "state under a value few such cells had asks the model about something it rarely saw: its "
                 "differences there can reflect which cell types had that value, not the value's own effect.")
    if rare:
        st.warning(f"**Little support for {', '.join(map(str, rare))}:** of {among}, {text}. Differences under "
                   f"{'these values' if len(rare) > 1 else 'this value'} are the model extrapolating from other cell "
                   "states; read them with care.", icon=":material/warning:")
        st.caption("Why this matters", help=help_text)
    else:
        st.caption(f"Support in the data: of {among}, {text}.", help=help_text)
