"""Figures of differential expression: the volcano plot of a DE table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from scvi_viz.plots.export import Chart
from scvi_viz.plots.fit import shorten
from scvi_viz.plots.style import MARGIN, build_figure, titled

UP, DOWN, NOT_CALLED = "#d62728", "#1f77b4", "#b0b4bc"
NAMED_GENES = 5
"""Genes named on the volcano on each side: the DE genes with the largest |log2 fold change|."""


def fdr_column(table: pd.DataFrame) -> str:
    """The ``is_de_fdr_<target>`` column of a DE table."""
    return next(c for c in table.columns if str(c).startswith("is_de_fdr_"))


def _category(name: str) -> str:
    """``"CD14+ Monocyte"`` of a group described as ``"bulk_labels = CD14+ Monocyte"``."""
    return str(name).split(" = ", 1)[-1]


def volcano_figure(table: pd.DataFrame, *, group1: str, group2: str, subtitle: str = "") -> go.Figure:
    """LFC against ``proba_de`` per gene, coloured by the FDR call, with the ``[-delta, delta]`` band.

    ``table`` is a :meth:`scvi_viz.ScviModel.differential_expression` result. Each gene's name
    is its point's ``customdata`` (a click on the page charts it).
    """
    fdr = fdr_column(table)
    group1, group2 = _category(group1), _category(group2)
    called = table[fdr].to_numpy(dtype=bool)
    lfc = table["lfc_mean"].to_numpy()
    delta = float(table["delta"].iloc[0])
    groups = [
        (called & (lfc > 0), f"DE, higher in {shorten(group1, 30)}", UP),
        (called & (lfc <= 0), f"DE, higher in {shorten(group2, 30)}", DOWN),
        (~called, "not called DE", NOT_CALLED),
    ]
    traces = []
    for mask, name, color in groups:
        part = table[mask]
        traces.append({
            "type": "scattergl" if len(table) > 5000 else "scatter", "mode": "markers", "name": f"{name} ({int(mask.sum())})",
            "x": part["lfc_mean"].to_numpy(), "y": part["proba_de"].to_numpy(), "customdata": list(part.index),
            "text": [f"scale {a:.3g} vs {b:.3g}" for a, b in zip(part["scale1"], part["scale2"])],
            "marker": {"size": 7, "color": color, "opacity": 0.8},
            "hovertemplate": "<b>%{customdata}</b><br>LFC %{x:.2f}, P(DE) %{y:.3f}<br>%{text}<extra></extra>",
        })
    span = float(np.nanmax(np.abs(lfc))) if len(lfc) else 1.0
    span = max(span * 1.05, delta * 1.5)
    layout = {
        "title": titled(f"Volcano: {shorten(group1)} vs {shorten(group2)}", subtitle),
        "xaxis": {"title": {"text": f"log2 fold change, {shorten(group1, 25)} over {shorten(group2, 25)} (lfc_mean, log2)"},
                  "range": [-span, span], "zeroline": True},
        "yaxis": {"title": {"text": "P(DE): proba_de (probability)"}, "range": [-0.03, 1.05]},
        "shapes": [{"type": "rect", "xref": "x", "yref": "paper", "x0": -delta, "x1": delta, "y0": 0, "y1": 1,
                    "fillcolor": "rgba(128,128,128,0.15)", "line": {"width": 0}, "layer": "below"}],
        "annotations": [{"text": f"|LFC| < delta = {delta:.2f}", "xref": "x", "yref": "paper", "x": 0, "y": 1,
                         "yanchor": "bottom", "showarrow": False, "font": {"size": 11, "color": "#555"}},
                        *_gene_names(table, called, span)],
        "legend": {"orientation": "h", "x": 0, "y": -0.16, "yanchor": "top"},
        "height": 520, "margin": {**MARGIN, "l": 70, "b": 110, "t": 90}, "clickmode": "event+select",
    }
    return build_figure(traces, layout)


def _gene_names(table: pd.DataFrame, called: np.ndarray, span: float, n: int = NAMED_GENES) -> list[dict]:
    """Labels for the ``n`` DE genes with the largest |LFC| on each side: a column of names near that
    side's edge, one below the other (so that they never meet), each with a line to its point."""
    out = []
    for side, color in ((1, UP), (-1, DOWN)):
        part = table[called & (np.sign(table["lfc_mean"].to_numpy()) == side)]
        top = part.reindex(part["lfc_mean"].abs().sort_values(ascending=False, kind="stable").index).head(n)
        for rank, (gene, row) in enumerate(top.iterrows()):
            out.append({"text": str(gene), "x": float(row["lfc_mean"]), "y": float(row["proba_de"]), "xref": "x",
                        "yref": "y", "axref": "x", "ayref": "y", "ax": side * 0.86 * span, "ay": 0.84 - 0.085 * rank,
                        "showarrow": True, "arrowhead": 0,
                        "arrowwidth": 1, "arrowcolor": color, "font": {"size": 11, "color": color},
                        "bgcolor": "rgba(255,255,255,0.85)"})
    return out


def volcano_chart(table: pd.DataFrame, *, group1: str, group2: str, options: Mapping[str, Any]) -> Chart:
    """The volcano of a DE table as a chart to download (its CSV: the whole table).

    ``options`` are the DE's keyword arguments (batch handling, delta, FDR target, samples, seed),
    recorded with the numbers.
    """
    fdr = fdr_column(table)
    n1, n2 = table.attrs["n_cells1"], table.attrs["n_cells2"]
    subtitle = (f"{n1:,} vs {n2:,} cells · {table.attrs['n_samples']:,} posterior samples per group · "
                f"{int(table[fdr].sum())} genes DE at {fdr[10:]} FDR")
    caption = {"group 1": f"{group1} ({n1} cells)", "group 2": f"{group2} ({n2} cells)",
               "method": "scvi-tools differential_expression(mode='change'), re-implemented by scvi-viz",
               **{k: str(v) for k, v in options.items()},
               "lfc": "log2(scale1 + pseudocount) - log2(scale2 + pseudocount), scale = fraction of the library"}
    return Chart("de_volcano", lambda: volcano_figure(table, group1=group1, group2=group2, subtitle=subtitle),
                 table, caption)
