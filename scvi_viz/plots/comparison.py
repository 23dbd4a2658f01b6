"""Figures of a covariate comparison: expression under each value against the reference, and fold changes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from scvi_viz.plots.style import MARGIN, PALETTE, bars_h, build_figure, titled


def compare_scatter(table: pd.DataFrame, *, unit: str, subtitle: str = "") -> go.Figure:
    """Log-log scatter of each other value against the reference, with the identity line.

    ``table`` is a :func:`scvi_viz.analysis.compare.comparison_table`; ``unit`` is ``"scale"`` or ``"rate"``.
    """
    ref = table.attrs["reference"]
    names = [c[len(unit) + 2 : -1] for c in table.columns if c.startswith(f"{unit} [")]
    others = [n for n in names if n != ref]
    values = table[[f"{unit} [{n}]" for n in names]].to_numpy()
    hi = float(values.max())
    lo = max(float(values[values > 0].min()) if (values > 0).any() else hi * 1e-9, hi * 1e-9, 1e-12)
    traces = [{"type": "scatter", "x": [lo, hi], "y": [lo, hi], "mode": "lines", "name": "identity (no change)",
               "line": {"color": "grey", "dash": "dash"}, "hoverinfo": "skip"}]
    genes = list(table.index)
    for i, name in enumerate(others):
        traces.append({
            "type": "scattergl", "x": table[f"{unit} [{ref}]"].to_numpy(), "y": table[f"{unit} [{name}]"].to_numpy(),
            "mode": "markers", "name": f"{name} vs {ref}", "text": genes,
            "marker": {"size": 6, "color": PALETTE[(i + 1) % len(PALETTE)], "opacity": 0.7},
            "hovertemplate": "%{text}: %{x:.3g} → %{y:.3g}<extra>" + name + "</extra>",
        })
    what = "normalised expression (fraction of library)" if unit == "scale" else "expected counts"
    layout = {
        "title": titled(f"{what}: {', '.join(others)} vs {ref}", subtitle),
        "xaxis": {"type": "log", "title": {"text": f"{ref}"}}, "yaxis": {"type": "log", "title": {"text": ", ".join(others)}},
        "height": 480, "margin": MARGIN,
    }
    return build_figure(traces, layout)


def lfc_figure(table: pd.DataFrame, *, n: int = 20, subtitle: str = "") -> go.Figure:
    """Bars of the ``n`` genes with the largest |log2 fold change| (second value vs first)."""
    top = table.nlargest(n, "abs_log2FC").iloc[::-1]
    lfc = top["log2FC"].to_numpy()
    trace = bars_h(top, lfc, name="log2FC", marker={"color": np.where(lfc > 0, "#d62728", "#1f77b4")},
                    hovertemplate="%{y}: log2FC %{x:.2f}<extra></extra>")
    layout = {
        "title": titled(f"Top {len(top)} genes by |log2 fold change|, {table.attrs['other']} vs {table.attrs['reference']}", subtitle),
        "xaxis": {"title": {"text": "log2 fold change of expected expression"}},
        "height": max(260, 22 * len(top) + 90), "margin": MARGIN,
    }
    return build_figure([trace], layout)
