"""Figures of model fit: posterior predictive checks per gene, calibration, and one cell's uncertainty."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from scvi_viz.analysis.fit import CELL_DRAWS, STATISTICS, FitCheck
from scvi_viz.plots.export import Chart
from scvi_viz.plots.style import MARGIN, PALETTE, TICK_SIZE, build_figure, label_margin, text_width, titled

"""Width of one character of tick or legend text at the figures' 12 px font, a little generous."""
STAT_AXES = {
    "mean": ("Mean count per cell", "counts per cell", "log"),
    "cv": ("Coefficient of variation", "std / mean, no unit", "log"),
    "zero_fraction": ("Fraction of zeros", "fraction of cells", "linear"),
}
"""Per statistic of :data:`scvi_viz.analysis.fit.STATISTICS`: name, unit, axis type."""


def shorten(text: str, limit: int = 40) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis, for titles and legends."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _top_title(text: str, subtitle: str) -> dict:
    """A title pinned to the top of the figure, so that a legend above the plot fits under its subtitle."""
    return {**titled(text, subtitle), "yref": "container", "y": 1.0, "yanchor": "top", "pad": {"t": 12}}


def _summary_text(summary: pd.Series, note: str) -> str:
    lines = [f"Spearman {summary['spearman']:.3f}", f"mean |log2 ratio| {summary['mean_abs_log2_ratio']:.3f}", note]
    return "<br>".join(line for line in lines if line)


def _decades(axis_type: str) -> dict:
    """Log axes ticked at powers of ten only (plotly's default also labels 2 and 5 of each decade)."""
    return {"dtick": 1} if axis_type == "log" else {}


def stat_scatter(genes: pd.DataFrame, stat: str, summary: pd.Series, *, subtitle: str = "") -> go.Figure:
    """Observed against posterior-predictive ``stat`` per gene, with the identity line.

    ``genes`` and ``summary`` are a :class:`scvi_viz.analysis.fit.FitCheck`'s ``genes`` and
    one row of its ``summary``. Log axes drop genes whose value is 0 (the subtitle says how many).
    """
    name, unit, axis_type = STAT_AXES[stat]
    observed, predicted = genes[f"observed_{stat}"].to_numpy(), genes[f"predicted_{stat}"].to_numpy()
    shown = (observed > 0) & (predicted > 0) if axis_type == "log" else np.ones(len(genes), dtype=bool)
    both = np.concatenate([observed[shown], predicted[shown]])
    lo, hi = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
    if axis_type == "linear":
        lo, hi = 0.0, max(hi, 1e-9)
    traces = [
        {"type": "scatter", "x": [lo, hi], "y": [lo, hi], "mode": "lines", "name": "identity (perfect fit)",
         "line": {"color": "grey", "dash": "dash"}, "hoverinfo": "skip"},
        {"type": "scattergl", "x": observed[shown], "y": predicted[shown], "mode": "markers", "name": "genes",
         "text": list(genes.index[shown]), "marker": {"size": 6, "color": PALETTE[0], "opacity": 0.6},
         "hovertemplate": "%{text}: observed %{x:.3g}, predicted %{y:.3g}<extra></extra>"},
    ]
    dropped = int((~shown).sum())
    note = f"{dropped} genes at 0 not drawn (log axes)" if dropped else ""
    # The note goes under the title: inside the plot it would cover genes.
    subtitle = " · ".join(t for t in (subtitle or "observed vs posterior predictive, per gene", note) if t)
    layout = {
        "title": titled(name, subtitle),
        "xaxis": {"type": axis_type, "title": {"text": f"observed ({unit})"}, **_decades(axis_type)},
        "yaxis": {"type": axis_type, "title": {"text": f"predicted ({unit})"}, **_decades(axis_type)},
        "annotations": [{"text": _summary_text(summary, ""), "xref": "paper", "yref": "paper", "x": 0.02, "y": 0.98,
                         "xanchor": "left", "yanchor": "top", "showarrow": False, "bgcolor": "rgba(255,255,255,0.8)"}],
        "showlegend": False, "height": 420, "margin": {**MARGIN, "l": 70, "b": 60, "t": 80},
    }
    return build_figure(traces, layout)


def calibration_figure(calibration: pd.DataFrame, *, subtitle: str = "") -> go.Figure:
    """Fraction of observed counts inside each central predictive interval, against its level."""
    nominal = calibration.index.to_numpy(dtype=float)
    observed = calibration["observed"].to_numpy()
    traces = [
        {"type": "scatter", "x": [0, 1], "y": [0, 1], "mode": "lines", "name": "identity (calibrated)",
         "line": {"color": "grey", "dash": "dash"}, "hoverinfo": "skip"},
        {"type": "scatter", "x": nominal, "y": observed, "mode": "lines+markers", "name": "observed counts",
         "marker": {"size": 8, "color": PALETTE[3]},
         "hovertemplate": "%{x:.0%} interval holds %{y:.1%} of observed counts<extra></extra>"},
    ]
    marks = [f"{round(n * 100)}% interval holds {o:.1%}" for n, o in zip(nominal, observed) if round(n * 100) in (50, 90)]
    layout = {
        "title": titled("Calibration", subtitle or "observed counts inside central predictive intervals"),
        "xaxis": {"title": {"text": "nominal level (fraction)"}, "range": [0, 1]},
        "yaxis": {"title": {"text": "observed inside (fraction)"}, "range": [0, 1]},
        "annotations": [{"text": "<br>".join(marks), "xref": "paper", "yref": "paper",
                         "x": 0.02, "y": 0.98, "xanchor": "left", "yanchor": "top", "showarrow": False,
                         "bgcolor": "rgba(255,255,255,0.8)"}],
        "showlegend": False, "height": 420, "margin": {**MARGIN, "l": 70, "b": 60, "t": 80},
    }
    return build_figure(traces, layout)


def _gene_axis(genes: Sequence[str]) -> tuple[dict, int]:
    """The gene axis and the bottom margin its labels need: slanted when side by side they could
    be wider than a half-width chart at a 1100 px window (about 250 px of plot): then upright,
    so that neighbouring labels never overlap."""
    flat_px = sum(text_width(str(g), TICK_SIZE) + 12 for g in genes)
    angle = -90 if flat_px > 240 else 0
    bottom = label_margin(genes, pad=50) if angle else 70  # upright labels: their width is the height they need
    # automargin: the axis title goes below the labels whatever their length (static charts, one layout pass).
    return {"title": {"text": "gene", "standoff": 8}, "tickangle": angle, "type": "category", "automargin": True}, bottom


def _boxes(table: pd.DataFrame, prefix: str, name: str, color: str) -> dict:
    return {"type": "box", "x": list(table.index), "name": name, "lowerfence": table[f"{prefix}_q05"].to_numpy(),
            "q1": table[f"{prefix}_q25"].to_numpy(), "median": table[f"{prefix}_q50"].to_numpy(),
            "q3": table[f"{prefix}_q75"].to_numpy(), "upperfence": table[f"{prefix}_q95"].to_numpy(),
            "marker": {"color": color}, "line": {"color": color}, "hoverinfo": "x+y"}


def expected_spread_figure(table: pd.DataFrame, *, library_size: float, subtitle: str = "") -> go.Figure:
    """Per gene, the spread of expected counts over latent draws (box: 5/25/50/75/95%) and the point estimate."""
    traces = [
        _boxes(table, "expected", "latent draws z ~ q(z|x): 5-25-50-75-95%", PALETTE[0]),
        {"type": "scatter", "x": list(table.index), "y": table["point"].to_numpy(), "mode": "markers",
         "name": "at the latent mean", "marker": {"symbol": "diamond", "size": 10, "color": PALETTE[1]},
         "hovertemplate": "%{x}: %{y:.3g} counts at the latent mean<extra></extra>"},
    ]
    xaxis, bottom = _gene_axis(list(table.index))
    layout = {
        "title": _top_title("Expected counts over the cell's posterior", subtitle or f"library size {library_size:,.0f}"),
        "xaxis": xaxis, "yaxis": {"type": "log", "title": {"text": "expected counts (log scale)"}, "dtick": 1},
        "legend": {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom", "font": {"size": 11}},
        "height": 440, "margin": {**MARGIN, "l": 70, "b": bottom, "t": 125},
    }
    return build_figure(traces, layout)


def predictive_figure(table: pd.DataFrame, *, library_size: float, subtitle: str = "") -> go.Figure:
    """Per gene, the posterior predictive counts (box: 5/25/50/75/95%) and the cell's observed count."""
    inside = table["inside_90"].to_numpy(dtype=bool)
    traces = [
        _boxes(table, "predictive", "predictive: 5-25-50-75-95%", PALETTE[2]),
        {"type": "scatter", "x": list(table.index), "y": table["observed"].to_numpy(), "mode": "markers",
         "name": "observed count", "marker": {"symbol": "x", "size": 11, "color": np.where(inside, "#31333f", PALETTE[3])},
         "customdata": np.where(inside, "inside", "outside"),
         "hovertemplate": "%{x}: observed %{y:.0f} counts (%{customdata} the 90% interval)<extra></extra>"},
    ]
    xaxis, bottom = _gene_axis(list(table.index))
    layout = {
        "title": _top_title("Observed vs predictive counts", subtitle or f"library size {library_size:,.0f}"),
        "xaxis": xaxis, "yaxis": {"title": {"text": "counts in this cell"}, "rangemode": "tozero"},
        "legend": {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom", "font": {"size": 11}},
        "height": 440, "margin": {**MARGIN, "l": 70, "b": bottom, "t": 125},
    }
    return build_figure(traces, layout)


def fit_charts(check: FitCheck, *, name: str) -> dict[str, Chart]:
    """The model-fit page's charts for the cells ``name`` describes, as its download picker lists them."""
    subtitle = f"{shorten(name, 32)} · {check.n_cells:,} cells · {check.n_draws} draws"
    caption = {"cells": name, "cells checked": str(check.n_cells), "draws per cell": str(check.n_draws),
               "predicted": "statistic of each draw's counts over the cells, averaged over draws (as scvi.criticism)"}
    charts = {
        f"{STAT_AXES[stat][0]}, observed vs predicted (CSV: every gene)": Chart(
            f"fit_{stat}", lambda stat=stat: stat_scatter(check.genes, stat, check.summary.loc[stat], subtitle=subtitle),
            check.genes[[f"observed_{stat}", f"predicted_{stat}"]], caption)
        for stat in STATISTICS
    }
    charts["Calibration of the predictive intervals"] = Chart(
        "fit_calibration", lambda: calibration_figure(check.calibration, subtitle=subtitle), check.calibration, caption)
    return charts


def uncertainty_charts(table: pd.DataFrame, *, cell: str, library_size: float) -> dict[str, Chart]:
    """The charts of one cell's posterior uncertainty (:func:`scvi_viz.analysis.fit.cell_uncertainty`)."""
    subtitle = f"{shorten(cell, 30)} · library size {library_size:,.0f} · {CELL_DRAWS} draws"
    caption = {"cell": cell, "library size": f"{library_size:g}", "latent draws": str(CELL_DRAWS),
               "expected counts": "library size x normalised expression decoded from each z ~ q(z|x)",
               "predictive counts": "one count per draw from the model's likelihood at that z"}
    return {
        "Expected counts over the cell's posterior": Chart(
            "cell_expected_spread", lambda: expected_spread_figure(table, library_size=library_size, subtitle=subtitle),
            table, caption),
        "Observed counts against the predictive distribution": Chart(
            "cell_predictive", lambda: predictive_figure(table, library_size=library_size, subtitle=subtitle),
            table, caption),
    }
