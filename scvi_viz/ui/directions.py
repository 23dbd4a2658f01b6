"""Directions with names on the Explore page: which sliders the walk shows (latent dimensions or
the cells' principal axes), a slider toward a group, between two groups or toward more of a gene
set, *Go to* a group's centre, and what is characteristic of the point."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from scvi_viz.analysis.characteristic import DEFAULT_MIN_EXPRESSION as MIN_EXPRESSION
from scvi_viz.analysis.characteristic import MAX_CATEGORIES, characteristic_genes
from scvi_viz.analysis.directions import expression_unit, follow_gene_set
from scvi_viz.analysis.sliders import SliderRow, line_row, traverse
from scvi_viz.analysis.trajectory import OFF_DATA_RATIO
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.errors import DecodeInputError
from scvi_viz.plots.export import Chart
from scvi_viz.plots.traversal import traversal_chart, traversal_spec
from scvi_viz.ui import cache, keys
from scvi_viz.ui.components.live_traversal import live_traversal
from scvi_viz.ui.gene_sets import gene_sets
from scvi_viz.ui.point import current_point, set_point

SLIDER_SETS = {"dimensions": "latent dimensions", "axes": "principal axes of the cells"}
KINDS = {"toward": "toward a group", "between": "from group A to group B", "more": "more of a gene set"}
FOLLOW_STEPS = 20
"""Steps a "more of a gene set" slider follows the set's gradient along the data (its 1)."""
CHARACTERISTIC_GENES = 5
TRAVERSAL_KEY = "traversal_row"


def group_columns(ws: Workspace) -> list[str]:
    """``obs`` columns whose groups can be gone to: 2 to :data:`MAX_CATEGORIES` categories."""
    return [c for c in ws.color_columns() if 1 < ws.category_count(c) <= MAX_CATEGORIES]


def _go_to(ws: Workspace) -> None:
    column, group = st.session_state.get("goto_column"), st.session_state.get("goto_group")
    centre = cache.centroids(ws, column).get(group) if column in group_columns(ws) else None
    if centre is not None:
        set_point(ws, replace(current_point(), z=tuple(float(v) for v in centre)),
                  origin=f"centre of {column} {group}", xy=None)


def _add_direction(ws: Workspace) -> None:
    ss = st.session_state
    kind = ss.get("dir_kind")
    spec: dict[str, Any] = {"kind": kind, "start": [float(v) for v in current_point().z]}
    if kind in ("toward", "between"):
        spec |= {"column": ss.get("dir_column"), "target": ss.get("dir_target")}
        if kind == "between":
            spec["source"] = ss.get("dir_source")
    elif kind == "more":
        spec["set"] = ss.get("dir_set")
    ss[keys.DIRECTION] = spec
    ss.pop(TRAVERSAL_KEY, None)  # the traversal chart shows the new slider
    ss[keys.SHOW_TRAVERSAL] = True


def direction_controls(ws: Workspace) -> None:
    """The *Directions* popover's content."""
    st.toggle("Chart what moving one slider does", key=keys.SHOW_TRAVERSAL,
              help="Below the map and the sliders: one slider's whole range decoded from the current point, with the "
                   "genes that change most along it. Off by default: a chart that follows every move costs each move time.")
    st.radio("Sliders", list(SLIDER_SETS), format_func=SLIDER_SETS.get, key=keys.SLIDER_SET, horizontal=True,
             help="One slider per latent dimension of the model, or one per principal axis of the cells' latent "
                  "points (largest spread first): the same space, turned so that the first sliders move along the "
                  "data's main directions.")
    columns = group_columns(ws)
    if columns:
        st.markdown("**Go to the centre of a group**", help="The mean latent point of the group's cells; the "
                    "library size and covariates stay as they are.")
        column = st.selectbox("obs column", columns, key="goto_column")
        groups = list(cache.centroids(ws, column))
        pick, go = st.columns([3, 1], vertical_alignment="bottom")
        pick.selectbox("Group", groups, key="goto_group")
        go.button("Go", on_click=_go_to, args=(ws,), key="goto_button")
    st.markdown("**Add a slider with a name**")
    sets = gene_sets()
    kinds = [k for k in KINDS if (k != "more" or sets) and (k == "more" or columns)]
    kind = st.selectbox("Slider", kinds, format_func=KINDS.get, key="dir_kind",
                        help="'toward a group' runs from the current point (0) to the group's centre (1); 'from A to "
                             "B' from one group's centre (0) to another's (1); 'more of a gene set' from the current "
                             f"point (0) to where following the set's rise along the data ends ({FOLLOW_STEPS} steps "
                             "at most, 1). Gene sets are made under 'Gene sets' at the top of the page.")
    if kind in ("toward", "between"):
        column = st.selectbox("obs column", columns, key="dir_column")
        groups = list(cache.centroids(ws, column))
        if kind == "between":
            st.selectbox("From group A", groups, key="dir_source")
        st.selectbox("Toward group" + (" B" if kind == "between" else ""), groups, key="dir_target",
                     index=min(1, len(groups) - 1) if kind == "between" else 0)
    elif kind == "more":
        st.selectbox("Gene set", list(sets), key="dir_set")
    add, remove = st.columns(2)
    add.button("Add the slider", on_click=_add_direction, args=(ws,), key="dir_add", disabled=kind is None)
    remove.button("Remove it", on_click=lambda: st.session_state.pop(keys.DIRECTION, None), key="dir_remove",
                  disabled=not st.session_state.get(keys.DIRECTION))


def _named_row(ws: Workspace, spec: dict[str, Any]) -> SliderRow:
    """The slider a direction's ``spec`` (as :func:`_add_direction` keeps it) names."""
    kind, start = spec.get("kind"), spec.get("start")
    if kind in ("toward", "between"):
        column, target = spec.get("column"), spec.get("target")
        centres = cache.centroids(ws, column) if column in group_columns(ws) else {}
        if target not in centres:
            raise DecodeInputError(f"There is no group {target!r} in obs column {column!r}.")
        if kind == "toward":
            return line_row(f"toward {target}", start, centres[target],
                            help=f"0 = where this slider was added, 1 = the centre of {column} {target} (exactly).")
        source = spec.get("source")
        if source not in centres:
            raise DecodeInputError(f"There is no group {source!r} in obs column {column!r}.")
        return line_row(f"{source} → {target}", centres[source], centres[target],
                        help=f"0 = the centre of {column} {source}, 1 = the centre of {column} {target}.")
    if kind == "more":
        genes = gene_sets().get(spec.get("set"))
        if not genes:
            raise DecodeInputError(f"There is no gene set {spec.get('set')!r} (see 'Gene sets').")
        p = current_point()
        path = _followed(ws, tuple(start), tuple(genes), p)
        if len(path) < 2:
            raise DecodeInputError(f"From here, more of {spec['set']!r} cannot be followed along the data (its "
                                   "expression is at a peak, or every step would leave the data).")
        return line_row(f"more of {spec['set']}", start, path[-1],
                        help=f"0 = where this slider was added, 1 = where following the rise of the set's mean log "
                             f"expression along the data ends ({len(path) - 1} steps of one typical neighbour distance).")
    raise DecodeInputError(f"Unknown kind of slider: {kind!r}.")


@st.cache_data(max_entries=16, show_spinner="Following the gene set along the data…")
def _followed_path(ws_id: str, start: tuple[float, ...], genes: tuple[str, ...], covariates: str, _ws: Workspace,
                   _kwargs: dict) -> np.ndarray:
    return np.asarray(follow_gene_set(_ws.model, start, list(genes), latent=cache.data_distance(_ws),
                                      steps=FOLLOW_STEPS, **_kwargs).z)


def _followed(ws: Workspace, start: tuple[float, ...], genes: tuple[str, ...], p: Any) -> np.ndarray:
    kwargs = p.covariates.decode_kwargs()
    return _followed_path(cache.workspace_id(), start, genes, repr(sorted(kwargs.items(), key=str)), ws, kwargs)


def slider_rows(ws: Workspace) -> list[SliderRow]:
    """The walk's sliders: the chosen set, then the named slider (if any; a warning says why not)."""
    rows = list(cache.axis_rows_of(ws) if st.session_state.get(keys.SLIDER_SET) == "axes"
                else cache.dimension_rows_of(ws))
    spec = st.session_state.get(keys.DIRECTION)
    if spec:
        try:
            rows.append(_named_row(ws, spec))
        except DecodeInputError as exc:
            st.caption(f"The named slider is not shown: {exc}")
    return rows


def characteristic_line(ws: Workspace, profile: pd.DataFrame) -> str:
    """The genes most above and below their average over the cells at the point (decoded in
    ``profile``, :func:`~scvi_viz.analysis.profiles.gene_profile`), in one line."""
    p = current_point()
    above, below = characteristic_genes(ws.model, p.z, cache.mean_scale(ws), n=CHARACTERISTIC_GENES,
                                        scale_here=profile["scale"].to_numpy(), **p.covariates.decode_kwargs())
    up = " · ".join(f"{g} ×{2 ** v:.3g}" for g, v in above["log2_vs_mean"].items()) or "none"
    down = " · ".join(f"{g} ×{2 ** v:.2g}" for g, v in below["log2_vs_mean"].items()) or "none"
    return f"Characteristic here (vs the average cell): higher {up}; lower {down}"


def traversal_section(ws: Workspace, rows: list[SliderRow]) -> Chart | None:
    """The chart of one slider's whole range from the current point, when shown (the toggle is in
    :func:`direction_controls`); returns it for the downloads."""
    if not st.session_state.get(keys.SHOW_TRAVERSAL):
        return None
    p = current_point()
    labels = [r.label for r in rows]
    chosen = st.session_state.get(TRAVERSAL_KEY)
    if chosen not in labels:
        st.session_state[TRAVERSAL_KEY] = labels[-1] if st.session_state.get(keys.DIRECTION) else labels[0]
    label = st.selectbox("What moving one slider does", labels, key=TRAVERSAL_KEY,
                         help="Decodes the slider's whole range from the current point (the other sliders stay where "
                              "they are) and charts the genes whose expression changes most along it, among those "
                              f"expected at {MIN_EXPRESSION:g} or more (per 10,000 counts, or at size factor 1).")
    row = rows[labels.index(label)]
    traversal = traverse(ws.model, row, p.z, distance=cache.data_distance(ws), min_expression=MIN_EXPRESSION,
                         **p.covariates.decode_kwargs())
    _, unit = expression_unit(ws.model)
    words = {"slider": label, "unit": unit, "off_ratio": OFF_DATA_RATIO, "subtitle": p.describe(ws.model.spec) or ""}
    live_traversal(traversal_spec(traversal, **words), key="traversal_chart",
                   note="Hover the chart for each gene's value at a step. To download it (PNG, SVG, PDF) or its "
                        "numbers (CSV), pick *What moving one slider does* under Download below.")
    return traversal_chart(traversal, **words, caption={"slider": label, "unit": unit})
