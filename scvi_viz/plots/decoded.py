"""Figures of what the decoder says at one point: top genes, expected counts with their
predictive interval, zero probabilities, and the decoder's parameters per gene."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from scvi_viz.analysis.profiles import top_genes
from scvi_viz.plots.export import Chart
from scvi_viz.plots.style import GENE_MARGIN, MARGIN, bars_h, build_figure, format_library_size, titled


@dataclass(frozen=True)
class Panel:
    """One chart's traces and axes, to be drawn alone or as a panel of a larger figure."""

    title: str
    traces: list[dict]
    xaxis: dict = field(default_factory=dict)
    yaxis: dict = field(default_factory=dict)


def _compose(placed: list[tuple[Panel, tuple[float, float], tuple[float, float]]], **layout) -> go.Figure:
    """Put panels on their own axes at the given (x, y) paper domains; titles above each panel."""
    traces: list[dict] = []
    layout = {"margin": MARGIN, "annotations": [], **layout}
    for i, (panel, (x0, x1), (y0, y1)) in enumerate(placed):
        suffix = "" if i == 0 else str(i + 1)
        traces += [{**t, "xaxis": f"x{suffix}", "yaxis": f"y{suffix}"} for t in panel.traces]
        layout[f"xaxis{suffix}"] = {**panel.xaxis, "domain": [x0, x1], "anchor": f"y{suffix}"}
        layout[f"yaxis{suffix}"] = {**panel.yaxis, "domain": [y0, y1], "anchor": f"x{suffix}"}
        if len(placed) > 1:
            layout["annotations"].append({"text": f"<b>{panel.title}</b>", "x": (x0 + x1) / 2, "y": y1, "xref": "paper",
                                          "yref": "paper", "yshift": 6, "showarrow": False, "xanchor": "center",
                                          "yanchor": "bottom", "font": {"size": 12}})
    return build_figure(traces, layout)


def _single(panel: Panel, *, subtitle: str, height: int, **layout) -> go.Figure:
    return _compose([(panel, (0.0, 1.0), (0.0, 1.0))], title=titled(panel.title, subtitle), height=height, **layout)


def top_genes_panel(profile: pd.DataFrame, *, library_size: float) -> Panel:
    """Horizontal bars of expected counts for the rows of ``profile`` (largest on top)."""
    data = profile.iloc[::-1]
    trace = bars_h(data, data["rate"].to_numpy(), name="expected counts", customdata=data["scale"].to_numpy(),
                    marker={"color": "#1f77b4"}, showlegend=False,
                    hovertemplate="%{y}: %{x:.3g} counts (fraction %{customdata:.3g})<extra></extra>")
    return Panel(f"Top {len(profile)} genes: expected counts at library size {format_library_size(library_size)}", [trace],
                 xaxis={"title": {"text": "expected counts"}})


def expected_counts_panel(profile: pd.DataFrame, *, library_size: float) -> Panel:
    """Expected counts per gene with the 90% predictive interval of the count distribution."""
    rate = profile["rate"].to_numpy()
    low, high = profile["interval_low"].to_numpy(), profile["interval_high"].to_numpy()
    trace = {
        "type": "scatter", "x": list(profile.index), "y": rate, "mode": "markers", "name": "expected counts",
        "marker": {"size": 10, "color": "#1f77b4"}, "showlegend": False,
        "error_y": {"type": "data", "symmetric": False, "array": np.maximum(high - rate, 0), "arrayminus": np.maximum(rate - low, 0)},
        "customdata": np.stack([low, high], axis=1),
        "hovertemplate": "%{x}: %{y:.3g} counts, 90% interval %{customdata[0]:.0f}-%{customdata[1]:.0f}<extra></extra>",
    }
    return Panel(f"Expected counts at library size {format_library_size(library_size)}, with 90% predictive interval", [trace],
                 yaxis={"title": {"text": "counts"}, "rangemode": "tozero"})


def zero_probability_panel(profile: pd.DataFrame) -> Panel:
    """Stacked bars of P(count = 0): the dropout part and the NB (or Poisson) part."""
    genes = list(profile.index)
    traces = [
        {"type": "bar", "x": genes, "y": profile["p_zero_dropout"].to_numpy(), "name": "P(0) from dropout (zero inflation)",
         "marker": {"color": "#d62728"}, "hovertemplate": "%{x}: %{y:.3f}<extra>dropout</extra>"},
        {"type": "bar", "x": genes, "y": profile["p_zero_counts"].to_numpy(), "name": "P(0) from the count distribution",
         "marker": {"color": "#7f7f7f"}, "hovertemplate": "%{x}: %{y:.3f}<extra>counts</extra>"},
    ]
    return Panel("Probability of observing zero counts", traces,
                 yaxis={"title": {"text": "P(count = 0)"}, "range": [0, 1]})


def parameter_panels(profile: pd.DataFrame) -> list[Panel]:
    """One bar panel each for normalised expression, NB theta and dropout probability."""
    genes = list(profile.index)
    return [
        Panel(label, [{"type": "bar", "x": genes, "y": profile[column].to_numpy(), "name": column, "showlegend": False,
                       "marker": {"color": color}, "hovertemplate": "%{x}: %{y:.4g}<extra>" + column + "</extra>"}],
              yaxis={"rangemode": "tozero", **({"range": [0, 1]} if column == "dropout" else {})})
        for column, label, color in (
            ("scale", "normalised expression (fraction of library)", "#2ca02c"),
            ("theta", "NB inverse dispersion theta", "#9467bd"),
            ("dropout", "dropout probability", "#d62728"),
        )
    ]


def _row(panels: list[Panel], x0: float, x1: float, y: tuple[float, float], gap: float = 0.06):
    width = (x1 - x0 - gap * (len(panels) - 1)) / len(panels)
    return [(p, (x0 + i * (width + gap), x0 + i * (width + gap) + width), y) for i, p in enumerate(panels)]


def top_genes_figure(profile: pd.DataFrame, *, library_size: float, subtitle: str = "") -> go.Figure:
    """Horizontal bars of expected counts for the rows of ``profile`` (largest on top)."""
    return _single(top_genes_panel(profile, library_size=library_size), subtitle=subtitle,
                   height=max(260, 22 * len(profile) + 90), margin=GENE_MARGIN)


def expected_counts_figure(profile: pd.DataFrame, *, library_size: float, subtitle: str = "") -> go.Figure:
    """Expected counts per gene with the 90% predictive interval of the count distribution."""
    return _single(expected_counts_panel(profile, library_size=library_size), subtitle=subtitle, height=360)


def parameters_figure(profile: pd.DataFrame, *, subtitle: str = "") -> go.Figure:
    """Three panels per gene: normalised expression, NB theta and dropout probability."""
    return _compose(_row(parameter_panels(profile), 0.0, 1.0, (0.0, 1.0)), title=titled("Decoder parameters per gene", subtitle),
                    height=370, margin={**MARGIN, "t": 110}, showlegend=False)


def zero_probability_figure(profile: pd.DataFrame, *, subtitle: str = "") -> go.Figure:
    """Stacked bars of P(count = 0): the dropout part and the NB (or Poisson) part."""
    return _single(zero_probability_panel(profile), subtitle=subtitle, height=340, barmode="stack",
                   legend={"orientation": "h", "y": -0.2})


def point_figure(top: pd.DataFrame, chosen: pd.DataFrame | None, *, library_size: float, subtitle: str = "") -> go.Figure:
    """Everything decoded at the current point, in one figure (one redraw per slider move).

    Left: the top genes by expected counts. Right, for the ``chosen`` genes: expected counts
    with the 90% predictive interval, P(count = 0) split into its two parts, and normalised
    expression, theta and dropout probability. The same panels are available one by one
    (``top_genes_figure``, ``expected_counts_figure``, ...) for export.
    """
    lib = format_library_size(library_size)
    top_panel = replace(top_genes_panel(top, library_size=library_size), title=f"Top {len(top)} genes, expected counts at N={lib}")
    title = titled(f"Decoded at the current point (library size N = {lib})", subtitle)
    height = max(760, 22 * len(top) + 200)
    if chosen is None or chosen.empty:
        return _compose([(top_panel, (0.0, 1.0), (0.0, 0.93))], title=title, height=height, margin=GENE_MARGIN)
    counts = replace(expected_counts_panel(chosen, library_size=library_size), title="Expected counts, with 90% predictive interval")
    zeros = replace(zero_probability_panel(chosen), title="P(count = 0): dropout + count distribution")
    short = ("scale (fraction of library)", "NB theta", "dropout probability")
    params = [replace(p, title=t) for p, t in zip(parameter_panels(chosen), short)]
    placed = [(top_panel, (0.0, 0.38), (0.0, 0.93)),
              (counts, (0.5, 1.0), (0.72, 0.93)),
              (zeros, (0.5, 1.0), (0.40, 0.60))]
    placed += _row(params, 0.5, 1.0, (0.0, 0.22), gap=0.05)
    return _compose(placed, title=title, height=height, barmode="stack", margin=GENE_MARGIN,
                    legend={"orientation": "h", "x": 0.5, "y": 0.355, "yanchor": "top", "font": {"size": 11}})


@dataclass(frozen=True)
class DecodedCharts:
    """The charts of one point: the whole figure as shown, and each panel on its own for export.

    Attributes
    ----------
    whole
        Every panel in one figure (:func:`point_figure`), with the numbers of every gene shown.
    panels
        What a person reads ("Top 20 genes, expected counts") -> that panel alone; the
        per-gene panels only when genes are chosen. Built only when a download asks.
    """

    whole: Chart
    panels: dict[str, Chart]


def decoded_charts(profile: pd.DataFrame, *, genes: list[str], n_top: int, library_size: float, subtitle: str,
                   caption: Mapping[str, str]) -> DecodedCharts:
    """The charts of :class:`DecodedCharts` for a point's gene profile.

    Parameters
    ----------
    profile
        :func:`scvi_viz.analysis.profiles.gene_profile` of every gene at the point.
    genes
        Genes chosen for the per-gene panels (may be empty).
    n_top
        How many genes the top-genes panel shows.
    library_size
        The point's library size N, for titles.
    subtitle
        What the point is (cell, covariates), under each title.
    caption
        Provenance lines for the exported CSVs.
    """
    top = top_genes(profile, n_top)
    chosen = profile.loc[genes] if genes else None
    figure = point_figure(top, chosen, library_size=library_size, subtitle=subtitle)
    shown = profile.loc[list(dict.fromkeys([*top.index, *genes]))]
    whole = Chart("decoded_at_point", lambda: figure, shown, caption)
    panels = {f"Top {len(top)} genes, expected counts": Chart(
        "top_genes", lambda: top_genes_figure(top, library_size=library_size, subtitle=subtitle), top, caption)}
    if chosen is not None:
        panels |= {
            "Expected counts, with 90% predictive interval": Chart(
                "expected_counts", lambda: expected_counts_figure(chosen, library_size=library_size, subtitle=subtitle),
                chosen, caption),
            "P(count = 0), dropout and count parts": Chart(
                "zero_probability", lambda: zero_probability_figure(chosen, subtitle=subtitle), chosen, caption),
            "Decoder parameters: scale, theta, dropout": Chart(
                "decoder_parameters", lambda: parameters_figure(chosen, subtitle=subtitle), chosen, caption),
        }
    return DecodedCharts(whole, panels)
