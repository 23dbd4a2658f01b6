"""Figures of what the decoder says at one point: top genes, expected counts with their
predictive interval, zero probabilities, and the decoder's parameters per gene.

Every panel has one row per gene, its name on the left, so each gene keeps its name at any
width. Panels are stacked in rows whose heights are fixed in pixels (titles, gene rows, tick
labels), and the left margin fits the longest gene name: nothing depends on the width the
figure is drawn at, as long as it is at least :data:`MIN_WIDTH`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from scvi_viz.analysis.profiles import top_genes
from scvi_viz.plots.export import Chart
from scvi_viz.plots.style import (
    PANEL_TITLE_SIZE,
    TICK_SIZE,
    as_figure,
    figure_spec,
    library_label,
    label_margin,
    text_height,
    title_block,
    wrap,
)
from scvi_viz.spec import Likelihood

MIN_WIDTH = 460
"""Narrowest width the decoded figure is laid out for: its column in a 1,100 px browser window."""
MAX_GENES = 40
"""Chosen genes drawn in the per-gene panels at most (the table and CSVs hold all of them)."""
ROW_PX = 20
_RIGHT = 24  # room for the last x tick label, centred on the axis end
_GAP_PX = 22
_XTICKS_PX = 20
_COLOURS = {"rate": "#1f77b4", "dropout": "#d62728", "counts": "#7f7f7f", "scale": "#2ca02c", "theta": "#9467bd"}


@dataclass(frozen=True)
class Panel:
    """One chart: its traces, its x axis (with its unit as the axis title), genes on the y axis."""

    title: str
    traces: list[dict]
    genes: list[str]
    xaxis: dict = field(default_factory=dict)


def _axis_title(text: str, width: float) -> tuple[dict, int]:
    lines = wrap(text, width - 8, TICK_SIZE)
    return {"text": "<br>".join(lines), "font": {"size": TICK_SIZE}, "standoff": 6}, len(lines)


def _stack(rows: list[list[Panel]], *, title: str, subtitle: str, **layout) -> go.Figure:
    """:func:`_stack_spec` as a ``go.Figure``."""
    return as_figure(_stack_spec(rows, title=title, subtitle=subtitle, **layout))


def _stack_spec(rows: list[list[Panel]], *, title: str, subtitle: str, **layout) -> dict:
    """Panels in rows, top to bottom; panels of a row share their genes (names only on the first).

    Heights are computed in pixels from the text each row holds, at :data:`MIN_WIDTH`.
    """
    left = label_margin([g for row in rows for p in row for g in p.genes])
    title_dict, top = title_block(title, subtitle, width=MIN_WIDTH)
    plot_width = MIN_WIDTH - left - _RIGHT
    traces: list[dict] = []
    axes: dict = {}
    annotations: list[dict] = []
    placed: list[tuple[int, float, float, float, float]] = []  # axis number, x0, x1, top px, bottom px
    y = 0.0
    n = 0
    for row in rows:
        gap = 0.06 if len(row) > 1 else 0.0
        width = (1.0 - gap * (len(row) - 1)) / len(row)
        panel_px = plot_width * width
        title_lines = max(len(wrap(p.title, panel_px, PANEL_TITLE_SIZE)) for p in row)
        x_titles = [_axis_title(p.xaxis.get("title", ""), panel_px) for p in row]
        x_lines = max(lines for _, lines in x_titles)
        plot_top = y + text_height(title_lines, PANEL_TITLE_SIZE) + 6
        plot_bottom = plot_top + ROW_PX * max(len(p.genes) for p in row)
        for i, (panel, (x_title, _)) in enumerate(zip(row, x_titles)):
            n += 1
            x0 = i * (width + gap)
            suffix = "" if n == 1 else str(n)
            traces += [{**t, "xaxis": f"x{suffix}", "yaxis": f"y{suffix}"} for t in panel.traces]
            axes[f"xaxis{suffix}"] = {"nticks": 5 if len(row) == 1 else 3, "tickfont": {"size": TICK_SIZE},
                                      **panel.xaxis, "title": x_title, "anchor": f"y{suffix}", "domain": [x0, x0 + width]}
            axes[f"yaxis{suffix}"] = {"type": "category", "categoryorder": "array", "categoryarray": panel.genes[::-1],
                                      "autorange": True, "tickfont": {"size": TICK_SIZE}, "showticklabels": i == 0,
                                      "anchor": f"x{suffix}", "ticks": ""}
            annotations.append({"text": "<br>".join(f"<b>{t}</b>" for t in wrap(panel.title, panel_px, PANEL_TITLE_SIZE)),
                                "x": x0 + width / 2, "xref": "paper", "xanchor": "center", "yanchor": "bottom",
                                "showarrow": False, "font": {"size": PANEL_TITLE_SIZE}, "align": "center",
                                "_top_px": plot_top - 4})
            placed.append((n, x0, x0 + width, plot_top, plot_bottom))
        y = plot_bottom + _XTICKS_PX + text_height(x_lines, TICK_SIZE) + _GAP_PX
    area = y - _GAP_PX + 8
    for (k, _, _, t, b) in placed:
        suffix = "" if k == 1 else str(k)
        axes[f"yaxis{suffix}"]["domain"] = [1 - b / area, 1 - t / area]
    for a in annotations:
        a["y"], a["yref"] = 1 - a.pop("_top_px") / area, "paper"
    height = int(top + area + 4)
    return figure_spec(traces, {"title": title_dict, "height": height, "showlegend": False,
                                 "margin": {"l": left, "r": _RIGHT, "t": top, "b": 4, "autoexpand": False},
                                 "annotations": annotations, **axes, **layout})


def top_genes_panel(profile: pd.DataFrame, *, library_size: float, size_factor: bool = False) -> Panel:
    """Horizontal bars of expected counts for the rows of ``profile`` (largest on top)."""
    genes = list(profile.index)
    trace = {"type": "bar", "orientation": "h", "x": profile["rate"].to_numpy(), "y": genes, "name": "expected counts",
             "customdata": profile["scale"].to_numpy(), "marker": {"color": _COLOURS["rate"]},
             "hovertemplate": "%{y}: %{x:.3g} counts (fraction %{customdata:.3g})<extra></extra>"}
    return Panel(f"Top {len(genes)} genes by expected counts", [trace], genes,
                 {"title": f"expected counts at {library_label(library_size, size_factor=size_factor)}"})


def expected_counts_panel(profile: pd.DataFrame, *, library_size: float, size_factor: bool = False) -> Panel:
    """Expected counts per gene (dots) with the 90% predictive interval of the count distribution (bars)."""
    genes = list(profile.index)
    rate = profile["rate"].to_numpy()
    low, high = profile["interval_low"].to_numpy(), profile["interval_high"].to_numpy()
    trace = {
        "type": "scatter", "x": rate, "y": genes, "mode": "markers", "name": "expected counts",
        "marker": {"size": 9, "color": _COLOURS["rate"]},
        "error_x": {"type": "data", "symmetric": False, "array": np.maximum(high - rate, 0),
                    "arrayminus": np.maximum(rate - low, 0), "thickness": 2, "width": 4},
        "customdata": np.stack([low, high], axis=1),
        "hovertemplate": "%{y}: %{x:.3g} counts, 90% interval %{customdata[0]:.0f}-%{customdata[1]:.0f}<extra></extra>",
    }
    return Panel("Expected counts (dot) and 90% predictive interval (bar)", [trace], genes,
                 {"title": f"counts at {library_label(library_size, size_factor=size_factor)}", "rangemode": "tozero"})


def zero_probability_panel(profile: pd.DataFrame, *, likelihood: Likelihood = "zinb") -> Panel:
    """Stacked bars of P(count = 0): the dropout part and the NB (or Poisson) part."""
    genes = list(profile.index)
    counts = {"type": "bar", "orientation": "h", "y": genes, "x": profile["p_zero_counts"].to_numpy(),
              "name": "from the count distribution", "marker": {"color": _COLOURS["counts"]},
              "hovertemplate": "%{y}: %{x:.3f}<extra>from the counts</extra>"}
    if likelihood != "zinb":
        what = "NB" if likelihood == "nb" else "Poisson"
        return Panel(f"P(count = 0) under the {what} distribution (no zero inflation)", [counts], genes,
                     {"title": "probability", "range": [0, 1]})
    dropout = {"type": "bar", "orientation": "h", "y": genes, "x": profile["p_zero_dropout"].to_numpy(),
               "name": "from dropout", "marker": {"color": _COLOURS["dropout"]},
               "hovertemplate": "%{y}: %{x:.3f}<extra>from dropout</extra>"}
    # Each coloured word is one token for wrap(), so no line break falls inside its markup.
    title = (f"P(count = 0) = <span style='color:{_COLOURS['dropout']}'>dropout</span> + "
             f"<span style='color:{_COLOURS['counts']}'>NB</span> zeros")
    return Panel(title, [dropout, counts], genes,
                 {"title": "probability (red: zero inflation, grey: zeros of the NB distribution)", "range": [0, 1]})


def parameter_panels(profile: pd.DataFrame, *, likelihood: Likelihood = "zinb", size_factor: bool = False) -> list[Panel]:
    """One panel each for normalised expression, NB theta (not for Poisson) and dropout (zinb only)."""
    genes = list(profile.index)
    wanted = [("scale", "Normalised expression",
               "softplus scale (x size factor = counts)" if size_factor else "fraction of library")]
    if likelihood != "poisson":
        wanted.append(("theta", "Dispersion θ", "NB inverse dispersion theta (higher: less variable)"))
    if likelihood == "zinb":
        wanted.append(("dropout", "Dropout", "zero-inflation probability (extra zeros)"))
    return [
        Panel(label, [{"type": "bar", "orientation": "h", "y": genes, "x": profile[column].to_numpy(), "name": label,
                       "marker": {"color": _COLOURS[column]}, "hovertemplate": "%{y}: %{x:.4g}<extra>" + label + "</extra>"}],
              genes, {"title": unit, "rangemode": "tozero", **({"range": [0, 1]} if column == "dropout" else {})})
        for column, label, unit in wanted
    ]


def missing_parameters(likelihood: Likelihood) -> str:
    """What the model has no parameter for, in words ('' for zinb)."""
    if likelihood == "nb":
        return "NB likelihood: no zero inflation, so no dropout."
    if likelihood == "poisson":
        return "Poisson likelihood: no dispersion (theta) and no dropout."
    return ""


def top_genes_figure(profile: pd.DataFrame, *, library_size: float, size_factor: bool = False,
                     subtitle: str = "") -> go.Figure:
    """Horizontal bars of expected counts for the rows of ``profile`` (largest on top)."""
    panel = top_genes_panel(profile, library_size=library_size, size_factor=size_factor)
    return _stack([[panel]], title=f"Top {len(profile)} genes by expected counts", subtitle=subtitle)


def expected_counts_figure(profile: pd.DataFrame, *, library_size: float, size_factor: bool = False,
                           subtitle: str = "") -> go.Figure:
    """Expected counts per gene with the 90% predictive interval of the count distribution."""
    panel = expected_counts_panel(profile, library_size=library_size, size_factor=size_factor)
    return _stack([[panel]], title="Expected counts with 90% predictive interval", subtitle=subtitle)


def parameters_figure(profile: pd.DataFrame, *, likelihood: Likelihood = "zinb", size_factor: bool = False,
                      subtitle: str = "") -> go.Figure:
    """One panel per decoder parameter the model has: normalised expression, NB theta, dropout."""
    note = missing_parameters(likelihood)
    return _stack([parameter_panels(profile, likelihood=likelihood, size_factor=size_factor)],
                  title="Decoder parameters per gene", subtitle=" · ".join(t for t in (subtitle, note) if t))


def zero_probability_figure(profile: pd.DataFrame, *, likelihood: Likelihood = "zinb", subtitle: str = "") -> go.Figure:
    """Stacked bars of P(count = 0): the dropout part and the NB (or Poisson) part."""
    return _stack([[zero_probability_panel(profile, likelihood=likelihood)]], title="Probability of observing zero counts",
                  subtitle=subtitle, barmode="stack")


def point_figure(top: pd.DataFrame, chosen: pd.DataFrame | None, *, library_size: float,
                 likelihood: Likelihood = "zinb", size_factor: bool = False, subtitle: str = "") -> go.Figure:
    """:func:`point_spec` as a ``go.Figure``."""
    return as_figure(point_spec(top, chosen, library_size=library_size, likelihood=likelihood, size_factor=size_factor,
                                subtitle=subtitle))


def point_spec(top: pd.DataFrame, chosen: pd.DataFrame | None, *, library_size: float,
               likelihood: Likelihood = "zinb", size_factor: bool = False, subtitle: str = "") -> dict:
    """Everything decoded at the current point, in one figure (one redraw per slider move), as a
    plain dict (:func:`~scvi_viz.plots.style.figure_spec`).

    From the top: the top genes by expected counts; then, for the ``chosen`` genes, expected
    counts with the 90% predictive interval, P(count = 0) split into its two parts, and the
    decoder's parameters (normalised expression, theta, dropout: those the likelihood has).
    The same panels are available one by one (``top_genes_figure``, ...) for export.
    """
    rows = [[top_genes_panel(top, library_size=library_size, size_factor=size_factor)]]
    notes = [subtitle]
    if chosen is not None and not chosen.empty:
        rows += [[expected_counts_panel(chosen, library_size=library_size, size_factor=size_factor)],
                 [zero_probability_panel(chosen, likelihood=likelihood)],
                 parameter_panels(chosen, likelihood=likelihood, size_factor=size_factor)]
        notes.append(missing_parameters(likelihood))
    return _stack_spec(rows, title=f"Decoded at the current point ({library_label(library_size, size_factor=size_factor)})",
                       subtitle=" · ".join(t for t in notes if t), barmode="stack")


@dataclass(frozen=True)
class DecodedCharts:
    """The charts of one point: the whole figure as shown, and each panel on its own for export.

    Attributes
    ----------
    whole
        Every panel in one figure (:func:`point_figure`), with the numbers of every gene shown.
    shown
        The same figure as the plain dict the page draws (:func:`point_spec`).
    panels
        What a person reads ("Top 20 genes, expected counts") -> that panel alone; the
        per-gene panels only when genes are chosen. Built only when a download asks.
    drawn_genes
        The chosen genes the panels draw (at most :data:`MAX_GENES`).
    """

    whole: Chart
    shown: dict
    panels: dict[str, Chart]
    drawn_genes: list[str]


def decoded_charts(profile: pd.DataFrame, *, genes: Sequence[str], n_top: int, library_size: float,
                   likelihood: Likelihood, size_factor: bool, subtitle: str, caption: Mapping[str, str]) -> DecodedCharts:
    """The charts of :class:`DecodedCharts` for a point's gene profile.

    Parameters
    ----------
    profile
        :func:`scvi_viz.analysis.profiles.gene_profile` of every gene at the point.
    genes
        Genes chosen for the per-gene panels (may be empty); the first :data:`MAX_GENES` are drawn.
    n_top
        How many genes the top-genes panel shows.
    library_size
        The point's library size N (or size factor), for titles.
    likelihood, size_factor
        The model's likelihood, and whether ``library_size`` is a size factor: panels the
        model has no parameter for are left out.
    subtitle
        What the point is (cell, covariates, model), under each title.
    caption
        Provenance lines for the exported CSVs.
    """
    top = top_genes(profile, n_top)
    drawn = list(genes)[:MAX_GENES]
    chosen = profile.loc[drawn] if drawn else None
    spec = point_spec(top, chosen, library_size=library_size, likelihood=likelihood, size_factor=size_factor,
                      subtitle=subtitle)
    numbers = profile.loc[list(dict.fromkeys([*top.index, *genes]))]
    whole = Chart("decoded_at_point", lambda: as_figure(spec), numbers, caption)
    lib = {"library_size": library_size, "size_factor": size_factor}
    panels = {f"Top {len(top)} genes, expected counts": Chart(
        "top_genes", lambda: top_genes_figure(top, **lib, subtitle=subtitle), top, caption)}
    if chosen is not None:
        panels |= {
            "Expected counts, with 90% predictive interval": Chart(
                "expected_counts", lambda: expected_counts_figure(chosen, **lib, subtitle=subtitle), chosen, caption),
            "P(count = 0), dropout and count parts": Chart(
                "zero_probability", lambda: zero_probability_figure(chosen, likelihood=likelihood, subtitle=subtitle),
                chosen, caption),
            "Decoder parameters: scale, theta, dropout": Chart(
                "decoder_parameters", lambda: parameters_figure(chosen, likelihood=likelihood, size_factor=size_factor,
                                                                subtitle=subtitle), chosen, caption),
        }
    return DecodedCharts(whole, spec, panels, drawn)
