"""The Compare page's controls and views: which covariate and values, which cells, the results."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from scvi_viz.analysis.compare import LFC_PSEUDO_FRACTION
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.covariates import CovariateKind
from scvi_viz.plots import comparison, export
from scvi_viz.plots.cell_map import GRID_TRACE_INDEX, umap_figure
from scvi_viz.ui import cache
from scvi_viz.ui.downloads import export_picker, report_button
from scvi_viz.ui.point import current_point

CovariateOption = tuple[CovariateKind, str | None, list[str] | None]


def covariate_picker(ws: Workspace, options: dict[str, CovariateOption], *,
                     key: str) -> tuple[CovariateKind, str | None, list] | None:
    """Choose a covariate and two or more of its values; returns (kind, name, values)."""
    label = st.selectbox("Covariate", list(options), key=f"{key}_cov")
    kind, name, cats = options[label]
    if cats is None:
        values = ws.covariates.continuous[name]
        lo, hi = np.percentile(values, [10, 90])
        a, b = st.columns(2)
        va = a.number_input(f"{name}: value A (reference)", value=float(lo), key=f"{key}_{name}_a", format="%.4g")
        vb = b.number_input(f"{name}: value B", value=float(hi), key=f"{key}_{name}_b", format="%.4g")
        if va == vb:
            st.warning("Choose two different values.")
            return None
        return kind, name, [va, vb]
    current = _current_value(kind, name)
    default = [current, *[c for c in cats if c != current]][:2] if current in cats else cats[:2]
    chosen = st.multiselect(f"Values of {label.split(' (')[0]} (the first is the reference A)", cats,
                            default=default, key=f"{key}_{label}_values",
                            help="The reference A starts as the current point's own value.")
    if len(chosen) < 2:
        st.warning("Choose at least two values to compare.")
        return None
    return kind, name, chosen


def _current_value(kind: CovariateKind, name: str | None) -> Any:
    point = current_point()
    if kind in ("batch", "label"):
        return point.batch if kind == "batch" else point.label
    return point.categorical.get(name)


def comparison_view(ws: Workspace, table: pd.DataFrame, *, key: str, subtitle: str, library_size: float | None) -> None:
    """Scatter of A vs the other values, top |log2FC| bars and the table, each with downloads."""
    unit = st.radio("Axis", ["normalised expression (fraction of library)", "expected counts"], horizontal=True,
                    key=f"{key}_unit", disabled=library_size is None,
                    help="Expected counts are at the current library size; for groups each cell keeps its own library.")
    unit_key = "scale" if unit.startswith("normalised") or library_size is None else "rate"
    caption = {"comparison": subtitle,
               "log2FC": f"log2((scale_B + {LFC_PSEUDO_FRACTION:g}) / (scale_A + {LFC_PSEUDO_FRACTION:g}))"}
    charts = {
        "Scatter of the values against the reference (CSV: every gene)": export.Chart(
            f"{key}_scatter", lambda: comparison.compare_scatter(table, unit=unit_key, subtitle=subtitle), table, caption),
        "Top genes by |log2 fold change|": export.Chart(
            f"{key}_log2fc", lambda: comparison.lfc_figure(table, subtitle=subtitle), table.head(20), caption),
    }
    for column, chart in zip(st.columns(2), charts.values()):
        column.plotly_chart(chart.figure, key=f"{chart.name}_chart", config=export.toolbar_config(chart.name))
    st.caption(f"{len(table):,} genes, sorted by |log2 fold change| of {table.attrs['other']} vs "
               f"{table.attrs['reference']}. {caption['log2FC']}.")
    st.dataframe(table, height=320, column_config={c: st.column_config.NumberColumn(format="%.4g") for c in table.columns})
    export_picker(charts, key=f"{key}_export")
    report_button(ws, list(charts.values()), page=key, tables={f"{key}_table": table})


def group_picker(ws: Workspace, *, key: str) -> tuple[np.ndarray | None, str]:
    """Pick cells by an obs category or by a box/lasso on the map; returns (indices, description)."""
    how = st.radio("Group", ["cells of an obs category", "cells selected on the map"], horizontal=True, key=f"{key}_how")
    if how == "cells of an obs category":
        columns = [c for c in ws.color_columns() if ws.obs[c].nunique() <= 200]
        if not columns:
            return None, ""
        default = columns.index(ws.model.labels_key) if ws.model.labels_key in columns else 0
        column = st.selectbox("obs column", columns, index=default, key=f"{key}_column")
        values = ws.obs[column].astype(str)
        category = st.selectbox("Category", sorted(values.unique()), key=f"{key}_category")
        return np.flatnonzero(values.to_numpy() == category), f"{column} = {category}"
    name = ws.embedding_names()[0]
    coords = cache.embedding(ws, name)
    color_col = ws.model.labels_key if ws.model.labels_key in ws.obs else ws.color_columns()[0]
    fig = umap_figure(coords, ws.obs[color_col].to_numpy(), color_name=color_col, hover=ws.cell_hover(),
                      embedding_name=name.removeprefix("X_"), height=420)
    fig.update_layout(dragmode="lasso", title={"text": "Draw a box or lasso around the cells to compare"})
    event = st.plotly_chart(fig, key=f"{key}_map", on_select="rerun", selection_mode=("box", "lasso"))
    points = (event.get("selection") or {}).get("points") or [] if event else []
    cells = sorted({int(p["customdata"] if not isinstance(p["customdata"], list) else p["customdata"][0])
                    for p in points if p.get("curve_number") != GRID_TRACE_INDEX and p.get("customdata") is not None})
    return (np.asarray(cells, dtype=int) if cells else None), f"{len(cells)} selected cells"
