"""Download controls: one chart in a chosen format, and the page's report bundle."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import streamlit as st

from scvi_viz.analysis.workspace import Workspace
from scvi_viz.plots import export
from scvi_viz.ui.views import current_view


Charts = Mapping[str, export.Chart]


def export_picker(charts: Charts | Callable[[], Charts], *, key: str) -> None:
    """Download one of the page's charts: which chart, which format, one button.

    ``charts`` maps what the user reads ("Top 20 genes, expected counts") to the chart. Files
    are drawn only when the button is clicked. ``charts`` may be a function returning them: the
    button then downloads what it returns when clicked (the newest point's charts, for buttons
    drawn outside the fragment that moves rerun; Streamlit runs a download on a thread of its own,
    so the function must not use ``st``).
    """
    latest = charts if callable(charts) else lambda: charts
    shown = latest()
    static = export.static_export_available()
    formats = [f for f in export.FORMATS if static or f not in export.STATIC_FORMATS]
    # The chart's name on a row of its own: names such as "Scatter of the values against the
    # reference (CSV: every gene)" are cut in a narrower box at 1,100 px.
    label = st.selectbox("Download a chart", list(shown), key=f"{key}_chart")
    fmt_col, button, _ = st.columns([1.1, 1.5, 3], vertical_alignment="bottom")
    fmt = fmt_col.selectbox("Format", formats, format_func=str.upper, key=f"{key}_format",
                            help="PNG, SVG and PDF as in a report; HTML is the interactive chart; CSV holds its numbers.")
    chart = shown[label]
    button.download_button("Download", data=lambda: export.chart_file(latest().get(label, chart), fmt),
                           icon=":material/download:", file_name=f"{export.safe_filename(chart.name)}.{fmt}",
                           mime=export.MIME[fmt], key=f"{key}_download", on_click="ignore")
    if not static:
        st.caption(export.CHROME_HINT)


def report_button(
    ws: Workspace,
    charts: list[export.Chart] | Callable[[], list[export.Chart]],
    *,
    page: str,
    name: str | None = None,
    tables: dict[str, pd.DataFrame] | Callable[[], dict[str, pd.DataFrame]] | None = None,
    extras: dict[str, Any] | None = None,
    view: Callable[[], str] | None = None,
) -> None:
    """Download one ZIP with the charts (SVG, PNG, PDF), CSVs and ``state.json`` of the view of ``page``.

    ``name`` (default ``page``) names the file and the button; ``extras`` are recorded in the
    view besides the page's own choices. ``charts`` and ``tables`` may be functions returning
    them, and ``view`` a function returning the view's ``state.json``: all are then called when
    the button is clicked (see :func:`export_picker`).
    """
    state_json = None if view else current_view(ws, page=page, extras=extras).to_json()

    def bundle() -> bytes:
        return export.report_bundle(charts() if callable(charts) else charts, view() if view else state_json,
                                    tables() if callable(tables) else tables)

    name = name or page
    st.download_button(
        "Download report bundle (ZIP)",
        data=bundle,
        file_name=f"scvi-viz-{name}-report.zip", mime=export.MIME["zip"], key=f"report_{name}",
        on_click="ignore", icon=":material/folder_zip:",
        help="The page's figures as SVG, PNG and PDF, their numbers as CSV, and state.json: restore it under "
             "*Restore a saved view* to see this view again.",
    )
