"""A slider's whole range decoded: the genes that change most along it, the current position and
the stretches off the data (shaded red, as on the Trajectory page). :func:`traversal_spec` holds
what the chart shows; Explore draws it in the browser, :func:`traversal_figure` for exports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from scvi_viz.analysis.sliders import Traversal
from scvi_viz.analysis.trajectory import OFF_DATA_TEXT
from scvi_viz.plots.export import Chart
from scvi_viz.plots.style import PALETTE, TICK_SIZE, build_figure, label_margin, text_height, title_block, wrap
from scvi_viz.plots.trajectory import OFF_COLOUR, STEP_COLOUR

WIDTH = 600
"""Narrowest width the chart is laid out for (titles wrap to it)."""
_PLOT_PX = 260
_LEGEND_PX = 130


def _off_bands(values: np.ndarray, off: np.ndarray) -> list[dict]:
    half = (values[1] - values[0]) / 2 if len(values) > 1 else 0.5
    shapes, i = [], 0
    while i < len(off):
        if off[i]:
            j = i
            while j + 1 < len(off) and off[j + 1]:
                j += 1
            shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": values[i] - half, "x1": values[j] + half,
                           "y0": 0, "y1": 1, "fillcolor": OFF_COLOUR, "line": {"width": 0}, "layer": "below"})
            i = j + 1
        else:
            i += 1
    return shapes


def traversal_spec(traversal: Traversal, *, slider: str, unit: str, off_ratio: float, subtitle: str = "") -> dict:
    """What the traversal chart shows, as plain values.

    The words (title, the note under it, the axis titles, the y title wrapped to the plot's
    height), the slider's values, one line per gene (name, colour, expected expression per step),
    which steps are off the data (and their colour), and the current value (and its line's
    colour). Explore draws it in the browser (``live_traversal.js``); :func:`traversal_figure`
    draws the same for exports.
    """
    off = traversal.ratio > off_ratio
    notes = [subtitle, f"dotted line: the current point ({traversal.current:.3g})"]
    if off.any():
        notes.append(f"red: {OFF_DATA_TEXT}")
    table = traversal.expression
    return {
        "title": f"Moving along '{slider}': the genes that change most",
        "notes": " · ".join(t for t in notes if t),
        "x_title": f"value of '{slider}'",
        "y_title": wrap(f"expected expression ({unit}, log scale)", _PLOT_PX - 10, TICK_SIZE),
        "x": [float(v) for v in traversal.values],
        "series": [{"name": str(g), "colour": PALETTE[i % len(PALETTE)], "y": [float(v) for v in table[g]]}
                   for i, g in enumerate(table.columns)],
        "off": [bool(o) for o in off],
        "current": float(traversal.current),
        "off_colour": OFF_COLOUR,
        "current_colour": STEP_COLOUR,
    }


def traversal_figure(traversal: Traversal, *, slider: str, unit: str, off_ratio: float, subtitle: str = "") -> go.Figure:
    """Expected expression (log axis) of the traversal's genes against the slider's value."""
    spec = traversal_spec(traversal, slider=slider, unit=unit, off_ratio=off_ratio, subtitle=subtitle)
    values = np.asarray(spec["x"])
    title_dict, top = title_block(spec["title"], spec["notes"], width=WIDTH)
    traces = [{"type": "scatter", "mode": "lines", "x": values, "y": s["y"], "name": s["name"],
               "line": {"color": s["colour"], "width": 2},
               "hovertemplate": f"{s['name']}: %{{y:.3g}} at %{{x:.3g}}<extra></extra>"} for s in spec["series"]]
    x_lines = wrap(spec["x_title"], WIDTH - 200, TICK_SIZE)
    bottom = 24 + int(text_height(len(x_lines), TICK_SIZE))
    shapes = _off_bands(values, np.asarray(spec["off"], dtype=bool)) + [
        {"type": "line", "xref": "x", "yref": "paper", "x0": spec["current"], "x1": spec["current"], "y0": 0, "y1": 1,
         "line": {"color": STEP_COLOUR, "width": 1.5, "dash": "dot"}, "layer": "above"}]
    layout = {"title": title_dict, "height": int(top + _PLOT_PX + bottom), "showlegend": True,
              # the legend beside the plot: its line (about 40 px) and the longest gene name, whole
              "margin": {"l": 56 + 16 * (len(spec["y_title"]) - 1),
                         "r": max(_LEGEND_PX, label_margin([s["name"] for s in spec["series"]], pad=64)),
                         "t": top, "b": bottom,
                         "autoexpand": False},
              "legend": {"x": 1.02, "xanchor": "left", "y": 1, "font": {"size": TICK_SIZE}},
              "xaxis": {"title": {"text": "<br>".join(x_lines), "font": {"size": TICK_SIZE}, "standoff": 6},
                        "range": [float(values[0]), float(values[-1])], "tickfont": {"size": TICK_SIZE}, "zeroline": False},
              "yaxis": {"type": "log", "exponentformat": "none",
                        "title": {"text": "<br>".join(spec["y_title"]), "font": {"size": TICK_SIZE}},
                        "tickfont": {"size": TICK_SIZE}},
              "shapes": shapes}
    return build_figure(traces, layout)


def traversal_chart(traversal: Traversal, *, slider: str, unit: str, off_ratio: float, subtitle: str = "",
                    caption: dict[str, str] | None = None) -> Chart:
    """:func:`traversal_figure` and its numbers (expression per gene and step, the distance to the
    data), both built when a download asks for them."""
    def numbers() -> pd.DataFrame:
        table = traversal.expression.copy()
        table.columns = [f"{g} ({unit})" for g in table.columns]
        table.insert(0, "relative_distance_to_nearest_cell", traversal.ratio)
        table.insert(1, "off_the_data", traversal.ratio > off_ratio)
        return pd.DataFrame(table)

    return Chart("traversal", lambda: traversal_figure(traversal, slider=slider, unit=unit, off_ratio=off_ratio,
                                                       subtitle=subtitle),
                 numbers, caption)
