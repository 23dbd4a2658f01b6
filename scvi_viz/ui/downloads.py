"""Download controls: one chart in a chosen format, and the page's report bundle."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

import scvi_viz
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.io.view_state import ViewState
from scvi_viz.plots import export
from scvi_viz.ui.genes import chosen_genes
from scvi_viz.ui.point import current_point, point_origin


def export_picker(charts: dict[str, export.Chart], *, key: str) -> None:
    """Download one of the page's charts: which chart, which format, one button.

    ``charts`` maps what the user reads ("Top 20 genes, expected counts") to the chart. Files
    are drawn only when the button is clicked.
    """
    static = export.static_export_available()
    formats = [f for f in export.FORMATS if static or f not in export.STATIC_FORMATS]
    which, fmt_col, button = st.columns([4, 1, 1], vertical_alignment="bottom")
    label = which.selectbox("Download a chart", list(charts), key=f"{key}_chart")
    fmt = fmt_col.selectbox("Format", formats, format_func=str.upper, key=f"{key}_format",
                            help="PNG, SVG and PDF as in a report; HTML is the interactive chart; CSV holds its numbers.")
    chart = charts[label]
    button.download_button("Download", data=lambda: export.chart_file(chart, fmt), icon=":material/download:",
                           file_name=f"{export.safe_filename(chart.name)}.{fmt}", mime=export.MIME[fmt],
                           key=f"{key}_download", on_click="ignore")
    if not static:
        st.caption(export.CHROME_HINT)


def view_state(ws: Workspace, extras: dict[str, Any] | None = None) -> ViewState:
    """The current view as a :class:`ViewState`."""
    return ViewState(
        model_sha256=ws.model.file_sha256,
        point=current_point(),
        genes=tuple(chosen_genes()),
        device=str(ws.model.device),
        app_version=scvi_viz.__version__,
        cell_id=point_origin(),
        extras=extras or {},
    )


def report_button(
    ws: Workspace,
    charts: list[export.Chart],
    *,
    page: str,
    tables: dict[str, pd.DataFrame] | None = None,
    extras: dict[str, Any] | None = None,
) -> None:
    """Download one ZIP with the page's figures (SVG + PNG), CSVs and ``state.json``."""
    state_json = view_state(ws, extras).to_json()
    st.download_button(
        "Download report bundle (ZIP: figures, CSVs, state.json)",
        data=lambda: export.report_bundle(charts, state_json, tables),
        file_name=f"scvi-viz-{page}-report.zip", mime=export.MIME["zip"], key=f"report_{page}",
        on_click="ignore", icon=":material/folder_zip:",
    )
