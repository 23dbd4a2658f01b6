"""The whole view of a session: saved in report bundles, restored from them, and kept in the
page's address so that copying the address shares it.

A link and a ``state.json`` share one schema (:mod:`scvi_viz.io.view_state`, encoded for the
address by :mod:`scvi_viz.io.view_link`). A view is only applied to the model it was made with:
another model's latent point would show other numbers, so then the page says so instead.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

import scvi_viz
from scvi_viz.analysis.compare import covariate_options
from scvi_viz.analysis.gene_sets import MAX_NAME_CHARS, valid_gene_sets
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.io import view_link
from scvi_viz.io.view_state import StateFileError, ViewState
from scvi_viz.ui import cache, keys
from scvi_viz.ui.genes import chosen_genes
from scvi_viz.ui.point import current_point, point_origin, set_point

_LINK_READ = "_link_read"
_LINK_PENDING = "_link_pending"
_LINK_MESSAGE = "_link_message"
_LINK_WRITTEN = "_link_written"
"""The query string this session last wrote."""
_LINK_NAVIGATED = "_link_navigated"

RENAMED = {(keys.COLOR_BY, "decoded expression of a gene"): cache.GENE_COLOUR,
           (keys.COLOR_BY, "decoded expression of a gene set"): cache.SET_COLOUR}
"""Choices whose words changed: views saved before read as they meant."""
PAGE_CHOICES: dict[str, tuple[str, ...]] = {"explore": keys.EXPLORE_VIEW, "trajectory": keys.TRAJECTORY_VIEW,
                                             "differential_expression": keys.DE_VIEW, "model_fit": keys.FIT_VIEW}
"""Per page, the widget keys whose values a view keeps (besides point and genes). The Compare
page keeps what each of its sections shows instead (:func:`_compare_choices`)."""


def _choice_checks(ws: Workspace) -> dict[str, Any]:
    groupable = [c for c in ws.color_columns() if ws.obs[c].nunique() <= 200]  # as the group pickers offer
    categories = {str(v) for c in groupable for v in ws.obs[c].astype(str).unique()}
    return {
        keys.EMBEDDING: lambda v: v in ws.embedding_names(),
        keys.COLOR_BY: lambda v: v in (cache.GENE_COLOUR, cache.SET_COLOUR) or v in ws.color_columns(),
        keys.OVERLAY_SET: lambda v: isinstance(v, str) and 0 < len(v) <= MAX_NAME_CHARS,
        keys.GENE_SETS: lambda v: valid_gene_sets(v, ws.model.spec.genes),
        keys.SLIDER_SET: lambda v: v in ("dimensions", "axes"),
        keys.DIRECTION: lambda v: _direction(v, ws.model.n_latent),
        keys.OVERLAY_GENE: lambda v: v in ws.model.spec.genes,
        keys.N_TOP: lambda v: isinstance(v, int) and not isinstance(v, bool) and 5 <= v <= 50,
        keys.SHOW_TABLE: lambda v: isinstance(v, bool),
        keys.SHOW_TRAVERSAL: lambda v: isinstance(v, bool),
        keys.POINT_XY: lambda v: isinstance(v, list) and len(v) == 2 and all(_finite(x) for x in v),
        # The Trajectory page checks its endpoints against the data itself (and says so).
        keys.TRAJECTORY_START: _endpoint,
        keys.TRAJECTORY_END: _endpoint,
        keys.TRAJECTORY_KIND: lambda v: v in ("graph", "straight"),
        keys.TRAJECTORY_STEPS: lambda v: _whole(v) and 2 <= v <= 1000,
        keys.TRAJECTORY_STEP: lambda v: _whole(v) and v >= 0,
        keys.TRAJECTORY_GENES: lambda v: v in ("changing", "chosen"),
        **{f"{g}_how": (lambda v: v == "cells of an obs category") for g in ("de_group1", "de_group2", "fit_group")},
        **{f"{g}_column": (lambda v: v in groupable) for g in ("de_group1", "de_group2", "fit_group")},
        **{f"{g}_category": (lambda v: isinstance(v, str) and v in categories) for g in ("de_group1", "de_group2", "fit_group")},
        "de_group2_rest": lambda v: isinstance(v, bool),
        "de_batch_mode": lambda v: isinstance(v, str) and v in keys.DE_BATCH_MODES,
        "de_batch": lambda v: v in ws.model.batches,
        "de_delta": lambda v: _finite(v) and 0 <= v <= 10,
        "de_fdr": lambda v: _finite(v) and 0.001 <= v <= 0.5,
        "de_samples": lambda v: _whole(v) and 1 <= v <= 200_000,
        "fit_which": lambda v: v in ("all cells", "a group of cells"),
    }


def _direction(value: Any, n_latent: int) -> bool:
    """A named slider as ``ui/directions.py`` keeps it (its groups and set are checked when it is drawn)."""
    if not isinstance(value, dict) or value.get("kind") not in ("toward", "between", "more"):
        return False
    start = value.get("start")
    texts = all(isinstance(value.get(k, ""), str) and len(value.get(k, "")) <= 200
                for k in ("column", "target", "source", "set"))
    return (isinstance(start, list) and len(start) == n_latent and all(_finite(x) for x in start) and texts
            and set(value) <= {"kind", "start", "column", "target", "source", "set"})


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _endpoint(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    if value.get("kind") == "cells":
        return isinstance(value.get("cells"), list) and all(isinstance(c, str) for c in value["cells"])
    return value.get("kind") in ("cell", "group") and all(isinstance(v, str) for v in value.values())


def page_choices(page: str) -> dict[str, Any]:
    """The current values of ``page``'s choices (see :data:`PAGE_CHOICES`)."""
    if page == "compare":
        return {section: extras for section in keys.COMPARE_SECTIONS
                if (extras := st.session_state.get(keys.compare_view(section)))}
    return {k: st.session_state.get(k) for k in PAGE_CHOICES.get(page, ())}


def _compare_widgets(ws: Workspace, section: str, extras: dict[str, Any]) -> dict[str, Any] | None:
    """The Compare widget values that show what ``extras`` records for ``section`` (None: they do not fit)."""
    options = covariate_options(ws.model)
    name, values = extras.get("compare_covariate"), extras.get("compare_values")
    if name not in options or not isinstance(values, list) or len(values) < 2:
        return None
    choice = options[name]
    widgets: dict[str, Any] = {f"{section}_covariate": name}
    if choice.categories is None:
        if len(values) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return None
        widgets |= {f"{section}_a::{name}": float(values[0]), f"{section}_b::{name}": float(values[1])}
    else:
        if not set(values) <= set(choice.categories):
            return None
        widgets[f"{section}_values::{name}"] = list(values)
    minimum = extras.get("compare_min_expression")
    widgets[f"{section}_min_on"] = minimum is not None
    if isinstance(minimum, (int, float)) and not isinstance(minimum, bool) and minimum >= 0:
        widgets[f"{section}_min_counts"] = float(minimum)
    if section == "cmp_group":
        column, category = extras.get("compare_group_column"), extras.get("compare_group_category")
        if column is not None:
            if column not in ws.obs or category not in set(ws.obs[column].astype(str)):
                return None
            widgets |= {"cmp_group_how": "cells of an obs category", "cmp_group_column": column,
                        "cmp_group_category": category}
        elif isinstance(extras.get("compare_group_cells"), list):
            widgets |= {"cmp_group_how": "cells selected on the map",
                        keys.restored_cells("cmp_group"): [str(c) for c in extras["compare_group_cells"]]}
    return widgets


def _compare_sections(extras: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What a view records of the Compare page, per section: links keep both sections, a report
    bundle the one it was downloaded from."""
    sections = {s: extras[s] for s in keys.COMPARE_SECTIONS if isinstance(extras.get(s), dict)}
    if "compare_covariate" in extras:
        grouped = "compare_group_column" in extras or "compare_group_cells" in extras
        sections["cmp_group" if grouped else "cmp_point"] = extras
    return sections


def current_view(ws: Workspace, *, page: str, extras: dict[str, Any] | None = None) -> ViewState:
    """This session's view of ``page``: point, genes, the page's choices (and ``extras``)."""
    return ViewState(
        model_sha256=ws.model.file_sha256,
        point=current_point(),
        genes=tuple(chosen_genes()),
        device=str(ws.model.device),
        app_version=scvi_viz.__version__,
        cell_id=point_origin(),
        extras={**page_choices(page), **(extras or {})},
        page=page,
        data_key=ws.data_key,
        source=dict(st.session_state.get(keys.SOURCE) or {}),
    )


def apply_view(ws: Workspace, state: ViewState, *, origin: str) -> list[str]:
    """Make ``state`` this session's view; returns what could not be applied, in words.

    Raises
    ------
    StateFileError
        If the view was made with another model file (nothing is applied then).
    """
    if not state.same_model(ws.model.spec):
        raise StateFileError(
            f"This view was made with another model (file hash {state.model_sha256[:12]}…; the open model's is "
            f"{ws.model.file_sha256[:12]}…): its point would show other numbers here. Open that model to see it."
        )
    notes = []
    if state.data_key and not ws.data_key.startswith(state.data_key):
        notes.append("This view was made with other data (other cells or genes): the point and genes are shown, "
                     "but cells it names may differ.")
    set_point(ws, state.point, origin=origin, xy=None)
    st.session_state[keys.GENES] = list(state.genes)
    checks, skipped = _choice_checks(ws), []
    for key, value in state.extras.items():
        value = RENAMED.get((key, value), value) if isinstance(value, str) else value
        check = checks.get(key)
        if check is None:
            continue
        if check(value):
            st.session_state[key] = tuple(value) if key == keys.POINT_XY else value
        else:
            skipped.append(key)
    for group in ("de_group1", "de_group2", "fit_group"):  # a category must be one of its own column's
        column, category = st.session_state.get(f"{group}_column"), f"{group}_category"
        if category in state.extras and column in ws.obs and \
                st.session_state.get(category) not in set(ws.obs[column].astype(str)):
            st.session_state.pop(category, None)
            skipped.append(category)
    for section, recorded in _compare_sections(state.extras).items():
        widgets = _compare_widgets(ws, section, recorded)
        if widgets is None:
            skipped.append(f"the Compare page's {'group' if section == 'cmp_group' else 'point'} comparison")
        else:
            st.session_state.update(widgets)
    if skipped:
        notes.append(f"Saved choices that do not fit this model and data were left as they are: {', '.join(skipped)}.")
    return notes


# ----------------------------------------------------------------------------- links
def read_link() -> None:
    """Take the view from the address (before the sidebar runs): on a session's first run, and
    whenever the address is not the one this session last wrote (the browser's Back / Forward,
    which rerun the app with an earlier address: every finished move is a step of history).

    The view waits until its model is open (:func:`apply_link`); its source (the demo, or files
    under the data root) is chosen in the sidebar.
    """
    params = st.query_params.to_dict()
    if st.session_state.get(_LINK_READ):
        written = st.session_state.get(_LINK_WRITTEN)
        if written is None or not params or params == written or "v" not in params or not _history_navigation():
            return
        st.session_state[_LINK_NAVIGATED] = True  # Back / Forward: the view it names, exactly as it was
    st.session_state[_LINK_READ] = True
    if not params:
        return
    if (files := view_link.files_from_query(params)) is not None:  # files only, as scvi_viz.view() links
        _choose_server_files(files)
        return
    try:
        data = view_link.from_query(params)
    except StateFileError as exc:
        st.session_state[_LINK_MESSAGE] = ("error", f"The address holds no view this app can open: {exc}")
        return
    st.session_state[_LINK_PENDING] = data
    source = data["source"]
    if source.get("kind") == "server":
        _choose_server_files(source)
    elif source.get("kind") == "upload":
        st.session_state["source"] = "Upload"
        st.session_state[_LINK_MESSAGE] = ("info", "This link was made with uploaded files: upload the same model and "
                                                   "data to see its view.")


def _history_navigation() -> bool:
    """Whether this rerun is the browser's Back / Forward (Streamlit marks those reruns).

    Only then is an address other than the last one written a view to apply: a move made while
    the browser had not yet taken the address of the move before it also comes with an older
    address, and the move must stand.
    """
    ctx = get_script_run_ctx()
    return bool(getattr(ctx, "is_history_navigation", False))


def _choose_server_files(source: dict[str, str]) -> None:
    """Set the sidebar to the files under the data root that a link names."""
    st.session_state["source"] = "Files on this server"
    st.session_state["root_model_typed"] = source.get("model", "")
    st.session_state["root_data"] = source.get("data") or None


def apply_link(ws: Workspace) -> None:
    """Apply the view from the address once its model is open; say why when it cannot be."""
    data = st.session_state.get(_LINK_PENDING)
    if data is not None:
        try:
            state, warnings = ViewState.from_dict(data, ws.model.spec)
            navigated = st.session_state.pop(_LINK_NAVIGATED, False)
            origin = state.cell_id if navigated and state.cell_id else f"shared link ({state.cell_id or 'a latent point'})"
            notes = [*warnings, *apply_view(ws, state, origin=origin)]  # e.g. genes of the link the model lacks
        except StateFileError as exc:
            st.session_state[_LINK_MESSAGE] = ("warning", f"The view in this address was not applied. {exc}")
        else:
            st.session_state[_LINK_MESSAGE] = ("warning", " ".join(notes)) if notes else None
        st.session_state.pop(_LINK_PENDING, None)
    message = st.session_state.pop(_LINK_MESSAGE, None)
    if message:
        getattr(st, message[0])(message[1])


def write_link(ws: Workspace, *, page: str) -> None:
    """Keep the address up to date with this session's view of ``page`` (copy it to share the view)."""
    if st.session_state.get(_LINK_PENDING) is not None:
        return  # a view from the address is still waiting for its model
    state = current_view(ws, page=page)
    query = view_link.to_query(state)
    if view_link.query_length(query) > view_link.MAX_QUERY_CHARS:
        # A large map selection does not fit an address: the link keeps everything else.
        extras = {k: {kk: vv for kk, vv in v.items() if kk != "compare_group_cells"} if isinstance(v, dict) else v
                  for k, v in state.extras.items()}
        query = view_link.to_query(replace(state, extras=extras))
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)
    st.session_state[_LINK_WRITTEN] = query
