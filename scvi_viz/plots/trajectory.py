"""Figures of a path through latent space: the path on the map, a heatmap of genes along it,
expected counts with their 90% predictive band, and each step's distance to the data.

Every chart's x axis is the step along the path. Steps off the data are shaded in red and the
current step is a dashed line on every chart. As in :mod:`scvi_viz.plots.decoded`, heights are
computed in pixels from the texts each chart holds and margins from its labels; titles wrap to
:data:`MIN_WIDTH`, the narrowest width the charts are drawn at (a 1,100 px browser window).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from scvi_viz.analysis.trajectory import OFF_DATA_TEXT, PathDecoded
from scvi_viz.plots.cell_map import umap_figure
from scvi_viz.plots.export import Chart
from scvi_viz.plots.style import (
    PANEL_TITLE_SIZE,
    TICK_SIZE,
    build_figure,
    label_margin,
    library_label,
    text_height,
    text_width,
    title_block,
    wrap,
)

MIN_WIDTH = 600
"""Narrowest width the path's charts are laid out for."""
OFF_COLOUR = "rgba(214, 39, 40, 0.13)"
OFF_STRIP_COLOUR = "#d62728"
_STRIP_PX = 8
STEP_COLOUR = "#31333f"
PATH_STYLES = {
    "graph": {"color": "#31333f", "width": 3, "dash": "solid"},
    "straight": {"color": "#31333f", "width": 2, "dash": "dash"},
}
"""How each path kind is drawn on the map: through the cells solid, the straight line dashed."""
_BAND = "rgba(31, 119, 180, 0.2)"
_LINE = "#1f77b4"
_RIGHT = 24
_XTICKS_PX = 20
_PANEL_PX = 110
_GAP_PX = 14


def step_axis_title(n_steps: int) -> str:
    """What the x axis of every path chart is."""
    return f"step along the path (0 = start A, {n_steps - 1} = end B)"


def off_data_note(off: np.ndarray) -> str:
    """The subtitle line that explains the red shading ('' when every step is on the data)."""
    n = int(np.count_nonzero(off))
    return f"steps marked red ({n} of {len(off)}): {OFF_DATA_TEXT}" if n else ""


def _marks(off: np.ndarray, step: int | None, *, yref: str = "paper", y0: float = 0.0, y1: float = 1.0,
           strip: tuple[float, float] | None = None) -> list[dict]:
    """Shapes: a red band over each run of off-data steps (behind the data; or, with ``strip``, an
    opaque red bar from ``strip[0]`` to ``strip[1]``, for heatmaps whose colours a band would
    change), and a dotted line at the current step."""
    shapes = []
    off = np.asarray(off, dtype=bool)
    i = 0
    while i < len(off):
        if off[i]:
            j = i
            while j + 1 < len(off) and off[j + 1]:
                j += 1
            low, high, colour = (*strip, OFF_STRIP_COLOUR) if strip else (y0, y1, OFF_COLOUR)
            shapes.append({"type": "rect", "xref": "x", "yref": yref, "x0": i - 0.5, "x1": j + 0.5, "y0": low, "y1": high,
                           "fillcolor": colour, "line": {"width": 0}, "layer": "above" if strip else "below"})
            i = j + 1
        else:
            i += 1
    if step is not None:
        shapes.append({"type": "line", "xref": "x", "yref": yref, "x0": step, "x1": step, "y0": y0, "y1": y1,
                       "line": {"color": STEP_COLOUR, "width": 1.5, "dash": "dot"}, "layer": "above"})
    return shapes


def _axis_title(text: str, length_px: float) -> tuple[dict, int]:
    lines = wrap(text, length_px - 8, TICK_SIZE)
    return {"text": "<br>".join(lines), "font": {"size": TICK_SIZE}, "standoff": 6}, len(lines)


def _x_axis(n_steps: int) -> tuple[dict, int]:
    title, lines = _axis_title(step_axis_title(n_steps), MIN_WIDTH / 2)
    return {"title": title, "range": [-0.5, n_steps - 0.5], "tickfont": {"size": TICK_SIZE}, "zeroline": False}, lines


def _subtitle(subtitle: str, off: np.ndarray) -> str:
    return " · ".join(t for t in (subtitle, off_data_note(off)) if t)


def heatmap_figure(values: np.ndarray, genes: Sequence[str], *, off: np.ndarray, step: int | None, unit: str,
                   title: str, subtitle: str = "") -> go.Figure:
    """Genes (rows) against steps (columns), coloured by ``values`` ``(n_genes, n_steps)``.

    ``unit`` says what the colour is (the colour bar's title).
    """
    genes = list(genes)
    n_steps = values.shape[1]
    title_dict, top = title_block(title, _subtitle(subtitle, off), width=MIN_WIDTH)
    left = label_margin(genes)
    bar_lines = wrap(unit, 90, TICK_SIZE)
    right = int(max(90, max(text_width(t, TICK_SIZE) for t in bar_lines) + 16))
    xaxis, x_lines = _x_axis(n_steps)
    plot_px = 18 * len(genes)
    bottom = _XTICKS_PX + text_height(x_lines, TICK_SIZE) + 10
    colour_px = max(plot_px, text_height(len(bar_lines), TICK_SIZE) + 80)
    trace = {"type": "heatmap", "z": np.asarray(values, dtype=np.float32), "x": np.arange(n_steps), "y": genes,
             "colorscale": "Viridis", "hovertemplate": "%{y}, step %{x}: %{z:.3g}<extra></extra>",
             "colorbar": {"title": {"text": "<br>".join(bar_lines), "font": {"size": TICK_SIZE}, "side": "top"},
                          "thickness": 14, "len": 1, "lenmode": "fraction", "x": 1, "xpad": 8, "xanchor": "left",
                          "tickfont": {"size": TICK_SIZE}}}
    # Off-data steps: a red strip just above the cells of the heatmap, in room of its own.
    top += _STRIP_PX + 4
    strip = (1 + 3 / colour_px, 1 + (_STRIP_PX + 3) / colour_px)
    layout = {"title": title_dict, "height": int(top + colour_px + bottom),
              "margin": {"l": left, "r": right, "t": top, "b": bottom, "autoexpand": False},
              "xaxis": xaxis, "yaxis": {"autorange": "reversed", "tickfont": {"size": TICK_SIZE}, "type": "category"},
              "shapes": [{**m, "line": {**m["line"], "color": "white"}} if m["type"] == "line" else m  # seen on dark cells
                         for m in _marks(off, step, strip=strip)]}
    return build_figure([trace], layout)


def counts_figure(rate: np.ndarray, low: np.ndarray, high: np.ndarray, genes: Sequence[str], *, off: np.ndarray,
                  step: int | None, counts_unit: str, title: str, subtitle: str = "") -> go.Figure:
    """One panel per gene: expected counts (line) and the 90% predictive interval (band) along the path.

    ``rate``, ``low`` and ``high`` are ``(n_steps, n_genes)``; ``counts_unit`` ("expected counts
    at library size N = 1,234") titles each panel beside the gene's name.
    """
    genes = list(genes)
    n_steps = rate.shape[0]
    title_dict, top = title_block(title, _subtitle(subtitle, off), width=MIN_WIDTH)
    ticks = [f"{v:.3g}" for v in np.concatenate([[0.0], np.asarray(high, dtype=np.float64).max(axis=0)])]
    left = label_margin(ticks) + 28  # tick labels plus the vertical "counts" axis title
    plot_width = MIN_WIDTH - left - _RIGHT
    xaxis, x_lines = _x_axis(n_steps)
    steps = np.arange(n_steps)
    traces, axes, annotations, shapes, placed = [], {}, [], [], []
    y = 0.0
    for k, gene in enumerate(genes):
        suffix = "" if k == 0 else str(k + 1)
        head = wrap(f"<b>{gene}</b> · {counts_unit}", plot_width, PANEL_TITLE_SIZE)
        plot_top = y + text_height(len(head), PANEL_TITLE_SIZE) + 4
        plot_bottom = plot_top + _PANEL_PX
        placed.append((suffix, plot_top, plot_bottom))
        annotations.append({"text": "<br>".join(head), "xref": "paper", "x": 0, "xanchor": "left", "yanchor": "bottom",
                            "showarrow": False, "font": {"size": PANEL_TITLE_SIZE}, "align": "left", "_top": plot_top - 2})
        xa, ya = f"x{suffix}", f"y{suffix}"
        traces += [
            {"type": "scatter", "x": steps, "y": high[:, k], "mode": "lines", "line": {"width": 0}, "xaxis": xa, "yaxis": ya,
             "hoverinfo": "skip", "showlegend": False, "name": f"{gene} 90% upper"},
            {"type": "scatter", "x": steps, "y": low[:, k], "mode": "lines", "line": {"width": 0}, "fill": "tonexty",
             "fillcolor": _BAND, "xaxis": xa, "yaxis": ya, "showlegend": False, "name": f"{gene} 90% interval",
             "customdata": high[:, k], "hovertemplate": "step %{x}: 90% interval %{y:.0f}-%{customdata:.0f}<extra></extra>"},
            {"type": "scatter", "x": steps, "y": rate[:, k], "mode": "lines", "line": {"color": _LINE, "width": 2},
             "xaxis": xa, "yaxis": ya, "showlegend": False, "name": f"{gene} expected counts",
             "hovertemplate": "step %{x}: %{y:.3g} expected counts<extra>" + gene + "</extra>"},
        ]
        last = k == len(genes) - 1
        axes[f"xaxis{suffix}"] = {**xaxis, "anchor": ya, "showticklabels": last, **({"matches": "x"} if k else {}),
                                  **({} if last else {"title": {"text": ""}})}
        axes[f"yaxis{suffix}"] = {"anchor": xa, "rangemode": "tozero", "nticks": 4, "tickfont": {"size": TICK_SIZE},
                                  "title": {"text": "counts", "font": {"size": TICK_SIZE}, "standoff": 4}}
        shapes += [{**mark, "xref": xa} for mark in _marks(off, step, yref=f"{ya} domain")]
        y = plot_bottom + (_GAP_PX if not last else _XTICKS_PX + text_height(x_lines, TICK_SIZE) + 6)
    area = y
    for suffix, t, b in placed:
        axes[f"yaxis{suffix}"]["domain"] = [1 - b / area, 1 - t / area]
    for a in annotations:
        a["y"], a["yref"] = 1 - a.pop("_top") / area, "paper"
    return build_figure(traces, {"title": title_dict, "height": int(top + area + 4), "showlegend": False,
                                 "margin": {"l": left, "r": _RIGHT, "t": top, "b": 4, "autoexpand": False},
                                 "annotations": annotations, "shapes": shapes, "hovermode": "x", **axes})


def distance_figure(relative: np.ndarray, *, off: np.ndarray, step: int | None, ratio: float, title: str,
                    subtitle: str = "") -> go.Figure:
    """Each step's distance to the nearest cell, in typical nearest-neighbour distances, with the
    threshold above which a step is off the data."""
    n_steps = len(relative)
    threshold = f"dashed red line: {ratio:g} × the typical distance, beyond which a step is off the data"
    title_dict, top = title_block(title, _subtitle(f"{subtitle} · {threshold}" if subtitle else threshold, off),
                                  width=MIN_WIDTH)
    plot_px = 200
    y_title, y_lines = _axis_title("distance to the nearest cell ÷ typical distance between neighbouring cells", plot_px)
    ticks = [f"{v:.2g}" for v in (0, max(float(np.max(relative)), ratio) * 1.1)]
    left = label_margin(ticks) + int(text_height(y_lines, TICK_SIZE)) + 8
    xaxis, x_lines = _x_axis(n_steps)
    bottom = _XTICKS_PX + text_height(x_lines, TICK_SIZE) + 10
    traces = [
        {"type": "scatter", "x": np.arange(n_steps), "y": np.asarray(relative, dtype=np.float64), "mode": "lines+markers",
         "line": {"color": _LINE, "width": 2}, "marker": {"size": 5, "color": np.where(off, "#d62728", _LINE)},
         "name": "distance to data", "hovertemplate": "step %{x}: %{y:.2f} × the typical distance<extra></extra>"},
    ]
    shapes = _marks(off, step) + [{"type": "line", "xref": "paper", "yref": "y", "x0": 0, "x1": 1, "y0": ratio, "y1": ratio,
                                   "line": {"color": "#d62728", "width": 1, "dash": "dash"}}]
    layout = {"title": title_dict, "height": int(top + plot_px + bottom), "showlegend": False,
              "margin": {"l": left, "r": _RIGHT, "t": top, "b": bottom, "autoexpand": False}, "xaxis": xaxis,
              "yaxis": {"title": y_title, "rangemode": "tozero", "range": [0, max(float(np.max(relative)), ratio) * 1.1],
                        "tickfont": {"size": TICK_SIZE}, "nticks": 5},
              "shapes": shapes}
    return build_figure(traces, layout)


def path_map_figure(map_inputs: Mapping, paths: Mapping[str, np.ndarray], *, kind: str, off: np.ndarray,
                    names: Mapping[str, str], step_xy: tuple[float, float] | None = None, title: str,
                    subtitle: str = "") -> go.Figure:
    """The map of cells (:func:`~scvi_viz.plots.cell_map.umap_figure`) with paths drawn over it.

    Parameters
    ----------
    map_inputs
        :func:`umap_figure`'s keyword arguments for the map.
    paths
        Path kind -> ``(n_steps, 2)`` map positions of its steps (both kinds, drawn in
        :data:`PATH_STYLES`).
    kind
        The path being decoded: its off-data steps (``off``) are marked with red dots.
    names
        Path kind -> legend name.
    step_xy
        Where to draw the current step's × (exports; on screen a component draws it).
    """
    inputs = {k: v for k, v in map_inputs.items() if k not in ("title", "subtitle")}
    fig = umap_figure(**inputs, point_xy=step_xy, title=title, subtitle=subtitle)
    extra = []
    for name, xy in paths.items():
        style = PATH_STYLES[name]
        # WebGL traces, like the cells: an SVG trace would be drawn under them.
        extra.append({"type": "scattergl", "x": xy[:, 0], "y": xy[:, 1], "mode": "lines", "name": names[name],
                      "line": dict(style), "opacity": 1.0 if name == kind else 0.55, "hoverinfo": "skip"})
    chosen = paths[kind]
    where = np.flatnonzero(off)
    if len(where):
        extra.append({"type": "scattergl", "x": chosen[where, 0], "y": chosen[where, 1], "mode": "markers",
                      "name": "off the data", "hoverinfo": "skip",
                      "marker": {"symbol": "circle-open", "color": OFF_STRIP_COLOUR, "size": 10, "line": {"width": 2}}})
    for label, i, symbol in (("start A", 0, "circle"), ("end B", -1, "square")):
        extra.append({"type": "scattergl", "x": [chosen[i, 0]], "y": [chosen[i, 1]], "mode": "markers", "name": label,
                      "hoverinfo": "skip", "marker": {"symbol": symbol, "size": 13, "color": STEP_COLOUR,
                                                      "line": {"color": "white", "width": 1.5}}})
    fig.add_traces(extra)
    return fig


LINE_GENES = 6
"""Genes drawn as line charts of expected counts (the first of the heatmap's genes)."""


@dataclass(frozen=True)
class PathCharts:
    """The charts of a path along which the decoder was evaluated, under the names a person reads.

    Attributes
    ----------
    heatmap, counts, distance
        The heatmap of genes along the path, the expected counts of :data:`LINE_GENES` genes with
        their 90% band, and each step's distance to the data (figures built on first use).
    """

    heatmap: Chart
    counts: Chart
    distance: Chart

    def named(self) -> dict[str, Chart]:
        """What a person reads -> chart, for the download picker."""
        return {"Heatmap of genes along the path": self.heatmap,
                "Expected counts with 90% predictive band along the path": self.counts,
                "Distance of each step to the nearest cell": self.distance}


def path_charts(decoded: PathDecoded, genes: Sequence[str], *, relative_distance: np.ndarray, off: np.ndarray,
                step: int | None, ratio: float, size_factor: bool, gene_note: str, subtitle: str,
                caption: Mapping[str, str]) -> PathCharts:
    """The :class:`PathCharts` of ``decoded`` for ``genes`` (heatmap rows; the first
    :data:`LINE_GENES` also get line charts).

    Parameters
    ----------
    decoded
        :func:`scvi_viz.analysis.trajectory.decode_path` of the path.
    genes
        The genes to chart, in order.
    relative_distance, off
        Each step's distance to the data in typical neighbour distances, and whether it is off the data.
    step
        The current step (a dashed line on every chart), or ``None``.
    ratio
        The distance above which a step is off the data.
    size_factor
        Whether the library size is a size factor (for axis titles).
    gene_note
        Which genes these are, for the heatmap's title ("the 20 genes that change most").
    subtitle
        The path and where it was decoded (endpoints, library size, covariates).
    caption
        Provenance lines for the CSVs.
    """
    genes = list(genes)
    n_steps = decoded.rate.shape[0]
    at = library_label(decoded.library_size, size_factor=size_factor)
    cols = decoded.columns(genes)
    rate = decoded.rate[:, cols]
    steps = pd.Index(np.arange(n_steps), name="step")
    common = {"off": off, "step": step, "subtitle": subtitle}
    heat_table = pd.DataFrame(rate, index=steps, columns=genes)
    unit_note = "" if at in subtitle else f", expected counts at {at}"  # said once on the chart
    heatmap = Chart("path_heatmap",
                    lambda: heatmap_figure(np.log10(1 + rate.T), genes, unit="log10(1 + expected counts)",
                                           title="Genes along the path, log10(1 + expected counts)",
                                           **{**common, "subtitle": f"{gene_note}{unit_note} · {subtitle}"}),
                    heat_table, {**caption, "values": f"expected counts at {at}"})
    line_genes = genes[:LINE_GENES]
    low, high = decoded.interval(line_genes)
    line_rate = rate[:, :len(line_genes)]
    counts_table = pd.concat({g: pd.DataFrame({"expected_counts": line_rate[:, k], "interval_90_low": low[:, k],
                                               "interval_90_high": high[:, k]}, index=steps)
                              for k, g in enumerate(line_genes)}, names=["gene"]) if line_genes else pd.DataFrame()
    counts = Chart("path_expected_counts",
                   lambda: counts_figure(line_rate, low, high, line_genes, counts_unit=f"expected counts at {at}",
                                         title="Expected counts (line) and 90% predictive interval (band)",
                                         **common),
                   counts_table, {**caption, "values": f"counts at {at}; 90% central interval of the count distribution"})
    distance_table = pd.DataFrame({"relative_distance_to_nearest_cell": relative_distance, "off_the_data": off},
                                  index=steps)
    distance = Chart("path_distance_to_data",
                     lambda: distance_figure(relative_distance, ratio=ratio,
                                             title="How far each step is from the nearest real cell", **common),
                     distance_table, {**caption, "values": "distance to the nearest cell's latent mean, divided by the median "
                                      f"distance between a cell and its nearest neighbour; above {ratio:g}: {OFF_DATA_TEXT}"})
    return PathCharts(heatmap, counts, distance)


def path_map_chart(inputs: Mapping, *, step: int, step_xy: tuple[float, float], caption: Mapping[str, str]) -> Chart:
    """The map with both paths and the current step's × for downloads; its CSV holds every
    step's map position and whether it is off the data, for both kinds of path."""
    kind, off = inputs["kind"], inputs["off"]
    tables = {name: pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1]}, index=pd.Index(np.arange(len(xy)), name="step"))
              for name, xy in inputs["paths"].items()}
    tables[kind]["off_the_data"] = off
    subtitle = f"× step {step} · {inputs['subtitle']}"
    return Chart("path_map", lambda: path_map_figure(**{**inputs, "subtitle": subtitle}, step_xy=step_xy),
                 pd.concat(tables, names=["path"]), {**caption, "map positions": "distance-weighted position of each "
                                                     "step's 10 nearest cells in latent space"})
