"""Figures of a covariate comparison: expression under each value against the reference, and fold changes.

Each figure's title says in one short line what it shows; its subtitle, wrapped to fit a chart
about 600 px wide, which values, where (point or group, model) and which genes were ranked.
Margins are computed from the texts they hold, so that nothing is cut on screen or in exports.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from scvi_viz.analysis.compare import lfc_column, top_ranked
from scvi_viz.plots.export import Chart
from scvi_viz.plots.style import (
    PALETTE,
    SUBTITLE_SIZE,
    TICK_SIZE,
    TITLE_SIZE,
    bars_h,
    build_figure,
    label_margin,
    text_height,
    text_width,
    wrap,
)

SUBTITLE_PX = 560
"""Width subtitles are wrapped to: they fit a chart about 600 px wide (a 1100 px window's is 640)."""


def _keep(text: str) -> str:
    """``text`` with no line break inside ``name = value``."""
    return text.replace(" = ", "\u00a0=\u00a0")


def _title(title: str, subtitle_lines: list[str], *, legend_rows: int = 0) -> tuple[dict, int]:
    """A one-line layout title with the details in a wrapped subtitle, and the top margin they
    (and a legend of ``legend_rows`` above the plot) need.

    Plotly places a multi-line *title* partly outside the figure, a multi-line subtitle
    correctly: so the title is kept to one short line. Each of ``subtitle_lines`` (which may
    hold ``<br>``) starts a new line.
    """
    sub = [line for text in subtitle_lines if text for part in _keep(text).split("<br>")
           for line in wrap(part, SUBTITLE_PX, SUBTITLE_SIZE)]
    layout = {"text": title, "yref": "container", "y": 1, "yanchor": "top", "pad": {"t": 10}, "font": {"size": TITLE_SIZE}}
    if sub:
        layout["subtitle"] = {"text": "<br>".join(sub), "font": {"size": SUBTITLE_SIZE}}
    top = 10 + text_height(1, TITLE_SIZE) + text_height(len(sub), SUBTITLE_SIZE) + 14 + 26 * legend_rows + 8
    return layout, int(top)


def _legend(names: list[str]) -> tuple[dict, int]:
    """A horizontal legend just above the plot, and how many rows it takes in a 600 px chart."""
    rows, used = 1, 0.0
    for name in names:
        item = text_width(name, TICK_SIZE) + 50
        if used and used + item > 560:
            rows, used = rows + 1, 0.0
        used += item
    return {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.0, "yanchor": "bottom", "yref": "paper"}, rows


def log_axis(title: str, lo: float, hi: float) -> dict:
    """A log axis labelled with powers of ten, one per decade (every second one past eight
    decades), with unlabelled minor ticks in between."""
    decades = math.log10(hi) - math.log10(lo)
    return {"type": "log", "title": {"text": title}, "exponentformat": "power", "dtick": 1 if decades <= 8 else 2,
            "ticks": "outside", "ticklen": 6, "minor": {"ticks": "outside", "ticklen": 3, "dtick": "D1", "showgrid": False}}


def _vs(table: pd.DataFrame) -> str:
    return f"{', '.join(table.attrs['others'])} vs {table.attrs['reference']}"


def compare_scatter(table: pd.DataFrame, *, unit: str, subtitle: str = "") -> go.Figure:
    """Log-log scatter of each other value against the reference, with the identity line.

    ``table`` is a :func:`scvi_viz.analysis.compare.comparison_table`; ``unit`` is ``"scale"``
    or ``"rate"``. One trace per other value, named by it; the axes name the values.
    """
    ref, others = table.attrs["reference"], table.attrs["others"]
    values = table[[f"{unit} [{n}]" for n in (ref, *others)]].to_numpy()
    hi = float(values.max())
    lo = max(float(values[values > 0].min()) if (values > 0).any() else hi * 1e-9, hi * 1e-9, 1e-12)
    traces = [{"type": "scatter", "x": [lo, hi], "y": [lo, hi], "mode": "lines", "name": "identity (no change)",
               "line": {"color": "grey", "dash": "dash"}, "hoverinfo": "skip"}]
    genes = list(table.index)
    for i, name in enumerate(others):
        traces.append({
            "type": "scattergl", "x": table[f"{unit} [{ref}]"].to_numpy(), "y": table[f"{unit} [{name}]"].to_numpy(),
            "mode": "markers", "name": name, "text": genes,
            "marker": {"size": 6, "color": PALETTE[(i + 1) % len(PALETTE)], "opacity": 0.7},
            "hovertemplate": "%{text}: %{x:.3g} → %{y:.3g}<extra>" + f"{name} vs {ref}" + "</extra>",
        })
    what = "normalised expression" if unit == "scale" else "expected counts"
    legend, rows = _legend([t["name"] for t in traces])
    title, top = _title(f"{what.capitalize()} under each value", [_vs(table), subtitle], legend_rows=rows)
    y_what = f"{what} at {others[0]}" if len(others) == 1 else f"{what} at each other value"
    layout = {
        "title": title, "legend": legend,
        "xaxis": log_axis(f"{what} at {ref} (reference)", lo, hi), "yaxis": log_axis(y_what, lo, hi),
        "height": top + 420, "margin": {"l": 70, "r": 20, "t": top, "b": 60},
    }
    return build_figure(traces, layout)


def lfc_figure(table: pd.DataFrame, *, n: int = 20, subtitle: str = "") -> go.Figure:
    """Grouped bars of the ``n`` ranked genes with the largest |log2 fold change|, one bar per other value.

    The left margin holds the longest gene name; the title names every value, the subtitle
    which genes were ranked (``attrs["ranked_genes"]``).
    """
    ref, others = table.attrs["reference"], table.attrs["others"]
    top = top_ranked(table, n).iloc[::-1]  # largest last: plotly draws the first row at the bottom
    # Plotly stacks a group's bars from the last trace down: add them in reverse, so that each
    # gene's bars read top-down in the legend's order.
    traces = [bars_h(top, top[lfc_column(o, ref)].to_numpy(), name=o, marker={"color": PALETTE[(i + 1) % len(PALETTE)]},
                     hovertemplate="%{y}: log2FC %{x:.2f}<extra>" + f"{o} vs {ref}" + "</extra>")
              for i, o in reversed(list(enumerate(others)))]
    legend, rows = _legend(list(others)) if len(others) > 1 else ({}, 0)
    title, top_margin = _title(f"Top {len(top)} genes by |log2 fold change|",
                               [_vs(table), subtitle, f"Ranked: {table.attrs['ranked_genes']}"], legend_rows=rows)
    row_px = 8 + 14 * len(others)
    layout = {
        "title": title, "legend": {**legend, "traceorder": "reversed"}, "showlegend": len(others) > 1,
        "barmode": "group", "bargap": 0.25,
        "xaxis": {"title": {"text": f"log2 fold change vs {ref}"}, "zeroline": True},
        "yaxis": {"tickfont": {"size": TICK_SIZE}, "dtick": 1},
        "height": top_margin + 60 + max(3, len(top)) * row_px,
        "margin": {"l": label_margin(list(top.index)), "r": 20, "t": top_margin, "b": 60},
    }
    return build_figure(traces, layout)


def comparison_charts(table: pd.DataFrame, *, name: str, unit: str, n_top: int, subtitle: str,
                      caption: Mapping[str, str]) -> dict[str, Chart]:
    """The Compare page's charts of one comparison, as the download picker lists them.

    ``table`` is ranked (:func:`scvi_viz.analysis.compare.rank_genes`); ``unit`` is ``"scale"``
    or ``"rate"``; ``name`` prefixes the file names.
    """
    return {
        "Scatter of the values against the reference (CSV: every gene)": Chart(
            f"{name}_scatter", lambda: compare_scatter(table, unit=unit, subtitle=subtitle), table, caption),
        f"Top {n_top} genes by |log2 fold change|": Chart(
            f"{name}_log2fc", lambda: lfc_figure(table, n=n_top, subtitle=subtitle), top_ranked(table, n_top), caption),
    }
