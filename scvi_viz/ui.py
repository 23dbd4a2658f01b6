"""Streamlit glue: caching, the shared sidebar, the current-point widgets and export buttons.

This is the only module of ``scvi_viz`` that imports Streamlit. Pages call these functions
and the plain ``scvi_viz`` modules; they hold no logic of their own.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import scvi_viz
from scvi_viz import export, sources
from scvi_viz.errors import ScviVizError
from scvi_viz.state import Point, ViewState
from scvi_viz.workspace import Workspace

LARGE_DATASET_CELLS = 20_000
"""Above this many cells the map drops per-cell hover text, which keeps its figure small."""
GENE_COLOUR = "decoded expression of a gene"

_POINT = "point"
_POINT_ORIGIN = "point_origin"
_POINT_XY = "point_xy"
_WS_ID = "workspace_id"
_GENES = "genes"


# ---------------------------------------------------------------------------- loading
@st.cache_resource(show_spinner="Loading the model and encoding every cell…", max_entries=4)
def _open_workspace(model_path: str, data_path: str, stamp: tuple) -> Workspace:
    return Workspace.open(model_path, data_path)


def _stamp(*paths: str) -> tuple:
    # Reload when a file changes on disk: key the cache by size and modification time too.
    out = []
    for p in paths:
        for f in sorted(Path(p).glob("*")) if Path(p).is_dir() else [Path(p)]:
            stat = f.stat()
            out.append((str(f), stat.st_size, stat.st_mtime_ns))
    return tuple(out)


@st.cache_resource(show_spinner="Computing a UMAP of the latent space (once per model and data; cached on disk)…", max_entries=8)
def _embedding(ws_id: str, name: str, _ws: Workspace) -> np.ndarray:
    return _ws.embedding(name)


@st.cache_resource(max_entries=8)
def _inverse_map(ws_id: str, name: str, _ws: Workspace, _coords: np.ndarray):
    return _ws.inverse_map(_coords)


@st.cache_data(max_entries=32, show_spinner=False)
def _gene_overlay(ws_id: str, gene: str, _ws: Workspace) -> np.ndarray:
    cov = _ws.covariates
    out = _ws.model.decode_genes(
        _ws.latent, [gene], library_size=_ws.library, batch=cov["batch"], label=cov["label"],
        categorical=cov["categorical"], continuous=cov["continuous"],
    )
    scale = out.scale[:, 0].cpu().numpy()
    return scale if _ws.model.spec.uses_size_factor else scale * 1e4


@st.cache_data(max_entries=8, show_spinner=False)
def _default_genes(ws_id: str, _ws: Workspace, n: int = 6) -> list[str]:
    # Genes whose decoded expression varies most across (up to 500 of) the cells.
    cells = np.linspace(0, _ws.n_cells - 1, min(500, _ws.n_cells)).astype(int)
    cov = _ws.group_covariates(cells)
    out = _ws.model.decode(_ws.latent[cells], 1e4, batch=cov["batch"], label=cov["label"],
                           categorical=cov["categorical"], continuous=cov["continuous"])
    log_scale = np.log1p(out.scale.cpu().numpy() * 1e4)
    order = np.argsort(-log_scale.var(axis=0))[:n]
    return [_ws.model.genes[i] for i in order]


def gene_overlay(ws: Workspace, gene: str) -> np.ndarray:
    """Decoded expression of ``gene`` for every cell with its own z, library and covariates."""
    return _gene_overlay(st.session_state[_WS_ID], gene, ws)


def overlay_label(ws: Workspace, gene: str) -> str:
    """What :func:`gene_overlay` holds, in words."""
    unit = "decoded scale" if ws.model.spec.uses_size_factor else "decoded counts per 10,000"
    return f"{gene} ({unit})"


def _build_map_figure(coords: np.ndarray, color: np.ndarray, color_name: str, hover: list[str] | None,
                      embedding_name: str, point_xy: tuple[float, float] | None) -> go.Figure:
    # Plain arguments only: export downloads call this after the script run, without session state.
    from scvi_viz.figures import umap_figure

    return umap_figure(coords, color, color_name=color_name, hover=hover, point_xy=point_xy,
                       embedding_name=embedding_name.removeprefix("X_"))


def _map_hover(ws: Workspace) -> list[str] | None:
    return ws.cell_hover() if ws.n_cells <= LARGE_DATASET_CELLS else None


@st.cache_resource(max_entries=6, show_spinner=False)
def _map_figure(ws_id: str, embedding_name: str, color_by: str, gene: str | None, _ws: Workspace) -> go.Figure:
    color, color_name = map_colour(_ws, color_by, gene)
    return _build_map_figure(embedding(_ws, embedding_name), color, color_name, _map_hover(_ws), embedding_name, None)


def map_colour(ws: Workspace, color_by: str, gene: str | None) -> tuple[np.ndarray, str]:
    """Per-cell colour values and what they are: an obs column, or a gene's decoded expression."""
    if color_by == GENE_COLOUR:
        return gene_overlay(ws, gene), overlay_label(ws, gene)
    return ws.obs[color_by].to_numpy(), color_by


def map_figure(ws: Workspace, embedding_name: str, color_by: str, gene: str | None) -> go.Figure:
    """The map as the page shows it: cached, and without the current point (see :func:`map_point`).

    Its figure stays the same while the point moves, so Streamlit neither re-sends it nor
    makes the browser build it again.
    """
    return _map_figure(st.session_state[_WS_ID], embedding_name, color_by, gene, ws)


def map_chart(ws: Workspace, embedding_name: str, color_by: str, gene: str | None, *,
              marker: tuple[float, float]) -> export.Chart:
    """The map for exports: the same figure with the current point at ``marker``, built on first use."""
    coords = embedding(ws, embedding_name)
    color, color_name = map_colour(ws, color_by, gene)
    table = pd.DataFrame({"x": coords[:, 0], "y": coords[:, 1], color_name: color}, index=ws.obs.index)
    return export.Chart(f"map_{embedding_name}_{color_name}",
                        lambda: _build_map_figure(coords, color, color_name, _map_hover(ws), embedding_name, marker), table,
                        {"map": embedding_name, "colour": color_name,
                         "current point (x, y)": f"{marker[0]:.4g}, {marker[1]:.4g}"})


def embedding(ws: Workspace, name: str) -> np.ndarray:
    """Cached coordinates of embedding ``name``."""
    return _embedding(st.session_state[_WS_ID], name, ws)


def inverse_map(ws: Workspace, name: str):
    """Cached :class:`~scvi_viz.embedding.InverseMap` for embedding ``name``."""
    return _inverse_map(st.session_state[_WS_ID], name, ws, embedding(ws, name))


# ---------------------------------------------------------------------------- sidebar
def _choose_source() -> tuple[str, str, str] | None:
    """Sidebar controls for the model and data; returns (model path, data path, label)."""
    choice = st.sidebar.radio(
        "Model and data", ["Built-in demo", "Files on this server", "Upload"], key="source",
        help="The demo is a real scVI model of 700 PBMCs (scanpy's pbmc68k_reduced).",
    )
    if choice == "Built-in demo":
        return str(sources.DEMO_MODEL), str(sources.DEMO_DATA), "demo: PBMC 68k (reduced), scVI"
    if choice == "Files on this server":
        root = sources.data_root()
        st.sidebar.caption(f"Data root: `{root}` (set SCVI_VIZ_DATA_DIR to change it)")
        models, datasets = sources.list_model_dirs(root), sources.list_h5ad_files(root)
        model_rel = st.sidebar.selectbox("Model folder", models, index=None, key="root_model",
                                         placeholder="folders with a model.pt" if models else "no model.pt under the data root")
        typed = st.sidebar.text_input("…or type a model folder (relative to the data root)", key="root_model_typed")
        data_default = None
        if model_rel and f"{model_rel}/adata.h5ad" in datasets:
            data_default = datasets.index(f"{model_rel}/adata.h5ad")
        data_rel = st.sidebar.selectbox("AnnData (.h5ad)", datasets, index=data_default, key="root_data",
                                        placeholder=".h5ad files under the data root")
        model_rel = typed.strip() or model_rel
        if not model_rel or not data_rel:
            st.sidebar.info("Pick a model folder and an .h5ad file.")
            return None
        model_path = sources.resolve_in_root(model_rel, root)
        data_path = sources.resolve_in_root(data_rel, root)
        return str(model_path), str(data_path), f"{model_rel} + {data_rel}"
    model_file = st.sidebar.file_uploader("Model: zipped model.save() folder, or model.pt", type=["zip", "pt"], key="up_model")
    data_file = st.sidebar.file_uploader("Data: .h5ad", type=["h5ad"], key="up_data")
    if model_file is None or data_file is None:
        st.sidebar.info("Upload a model and an .h5ad file.")
        return None
    if "_uploads" not in st.session_state:
        st.session_state["_uploads"] = SessionUploads()
    model_dir, data_path = st.session_state["_uploads"].unpacked(model_file, data_file)
    return model_dir, data_path, f"upload: {model_file.name} + {data_file.name}"


class SessionUploads:
    """This session's uploaded model and data, written to temporary folders.

    The folders are removed when a new upload replaces them, and when the session ends
    (Streamlit then drops the session state that holds this object).
    """

    def __init__(self) -> None:
        self._key: tuple[str, str] | None = None
        self._paths = ("", "")
        self._folders: list[Path] = []
        weakref.finalize(self, _remove_upload_folders, self._folders)

    def unpacked(self, model_file: Any, data_file: Any) -> tuple[str, str]:
        """Paths of the model folder and ``.h5ad`` for these two uploads (written once)."""
        key = (model_file.file_id, data_file.file_id)
        if key != self._key:
            model_dir = sources.unpack_model_upload(model_file.name, model_file.getvalue())
            try:
                data_path = sources.save_h5ad_upload(data_file.name, data_file.getvalue())
            except BaseException:
                sources.remove_upload_folder(model_dir)
                raise
            _remove_upload_folders(self._folders)
            self._folders[:] = [model_dir, data_path.parent]
            self._key, self._paths = key, (str(model_dir), str(data_path))
        return self._paths


def _remove_upload_folders(folders: list[Path]) -> None:
    for folder in folders:
        sources.remove_upload_folder(folder)
    folders.clear()


def _model_card(ws: Workspace, label: str) -> None:
    m = ws.model
    with st.sidebar.expander("Model card", expanded=True):
        st.markdown(
            f"**{m.model_name}** (scvi-tools {m.scvi_version}) · {label}  \n"
            f"{len(m.genes):,} genes · {m.n_latent} latent dimensions · {ws.n_cells:,} cells  \n"
            f"dispersion `{m.dispersion}` · likelihood `{m.gene_likelihood}` · latent `{m.latent_distribution}`"
        )
        if m.batch_key is not None:
            st.markdown(f"Batch key **{m.batch_key}**: {', '.join(m.batches)}")
        else:
            st.markdown("No batch key.")
        for name, cats in m.categorical_covariates.items():
            st.markdown(f"Categorical covariate **{name}**: {', '.join(cats)}")
        if m.continuous_covariates:
            st.markdown(f"Continuous covariates: {', '.join(f'**{c}**' for c in m.continuous_covariates)}")
        if m.labels_key is not None:
            st.markdown(f"Labels **{m.labels_key}** ({len(m.labels)} categories)")
        device = "CUDA (" + __import__("torch").cuda.get_device_name(m.device) + ")" if m.device.type == "cuda" else "CPU"
        last = st.session_state.get("last_decode_ms")
        st.markdown(f"Decoding on **{device}**" + (f" · last decode {last:.1f} ms" if last is not None else ""))
    if ws.gene_match.model_only or ws.gene_match.data_only:
        (st.sidebar.warning if ws.gene_match.model_only else st.sidebar.info)(ws.gene_match.summary()
            + (" Missing model genes are encoded as zero counts." if ws.gene_match.model_only else ""))


def start_page() -> str | None:
    """The page a visitor asked for by URL before the app's navigation existed (see :func:`workspace`)."""
    return st.session_state.pop("_start_page", None)


def sidebar() -> Workspace | None:
    """Draw the shared sidebar and return the workspace to show (``None`` if there is none).

    Errors in the chosen files are shown as ``st.error`` with what to do; the app stays usable.
    """
    st.sidebar.title("scvi-viz")
    try:
        chosen = _choose_source()
        if chosen is None:
            st.session_state["_workspace"] = None
            return None
        model_path, data_path, label = chosen
        ws = _open_workspace(model_path, data_path, _stamp(model_path, data_path))
    except (ScviVizError, FileNotFoundError) as exc:
        st.session_state["_workspace"] = None
        st.sidebar.error(str(exc))
        st.error(f"Could not open this model and data: {exc}")
        return None
    ws_id = f"{ws.model.file_sha256}:{model_path}:{data_path}"
    if st.session_state.get(_WS_ID) != ws_id:
        st.session_state[_WS_ID] = ws_id
        point, origin = _remember_clicked(ws, 0)
        set_point(ws, point, origin=origin, xy=None)
        st.session_state[_GENES] = _default_genes(ws_id, ws)
    _model_card(ws, label)
    _restore_controls(ws)
    st.session_state["_workspace"] = ws
    return ws


def workspace(page_file: str) -> Workspace | None:
    """The workspace the sidebar opened, or ``None`` (after showing a hint) when there is none.

    ``page_file`` is the calling page's ``__file__``. A page opened by its URL before any
    session on this server has run ``app.py`` is run by Streamlit on its own, without the
    sidebar (a ``pages/`` folder is served that way until ``st.navigation`` is first called):
    then this goes through ``app.py`` and back to the page.
    """
    if "_workspace" not in st.session_state:
        st.session_state["_start_page"] = f"pages/{Path(page_file).name}"
        st.switch_page("app.py")
    ws = st.session_state.get("_workspace")
    if ws is None:
        st.info("Choose a model and its data in the sidebar. The built-in demo opens with no action.")
    return ws


# ---------------------------------------------------------------------- current point
def _cell_origin(ws: Workspace, i: int) -> str:
    key = ws.model.labels_key
    kind = f" ({ws.obs[key].iloc[i]})" if key is not None and key in ws.obs else ""
    return f"cell {ws.obs.index[i]}{kind}"


def _widget_keys(ws: Workspace) -> dict[str, Any]:
    p: Point = st.session_state[_POINT]
    keys = {"w_loglib": float(np.log10(p.library_size))}
    if ws.model.batch_key is not None:
        keys["w_batch"] = p.batch
    if ws.model.labels_key is not None and ws.model.dispersion == "gene-label":
        keys["w_label"] = p.label
    keys.update({f"w_cat::{k}": v for k, v in p.categorical.items()})
    keys.update({f"w_cont::{k}": float(v) for k, v in p.continuous.items()})
    return keys


def set_point(ws: Workspace, point: Point, *, origin: str, xy: tuple[float, float] | None) -> None:
    """Make ``point`` current and move every control to it (call before widgets, or in callbacks)."""
    st.session_state[_POINT] = point
    st.session_state[_POINT_ORIGIN] = origin
    st.session_state[_POINT_XY] = xy
    for key, value in _widget_keys(ws).items():
        st.session_state[key] = value


def current_point() -> Point:
    """The current point."""
    return st.session_state[_POINT]


def point_origin() -> str:
    """How the current point was set, in words."""
    return st.session_state.get(_POINT_ORIGIN, "")


def _moved_by_controls(point: Point) -> None:
    st.session_state[_POINT] = point
    moved_from = st.session_state.get(_POINT_ORIGIN, "").removeprefix("sliders (moved from ").removesuffix(")")
    st.session_state[_POINT_ORIGIN] = f"sliders (moved from {moved_from})"
    st.session_state[_POINT_XY] = None


def _point_from_widgets() -> None:
    p: Point = st.session_state[_POINT]
    ss = st.session_state
    _moved_by_controls(replace(
        p,
        library_size=float(10 ** ss["w_loglib"]),
        batch=ss.get("w_batch", p.batch),
        label=ss.get("w_label", p.label),
        categorical={k: ss[f"w_cat::{k}"] for k in p.categorical},
        continuous={k: float(ss[f"w_cont::{k}"]) for k in p.continuous},
    ))


def _on_latent_moved() -> None:
    moved = (st.session_state.get(_LATENT_KEY) or {}).get("moved")
    p = current_point()
    try:
        z, move = np.asarray(moved["z"], dtype=np.float64), int(moved["move"])
    except (TypeError, KeyError, ValueError):
        return  # not what latent_sliders.js sends
    if z.shape == (len(p.z),) and np.isfinite(z).all():
        st.session_state[_LATENT_MOVE] = move
        _moved_by_controls(replace(p, z=tuple(z.tolist())))


def point_controls(ws: Workspace) -> None:
    """Sliders for each latent dimension and the library size, one control per covariate."""
    for key, value in _widget_keys(ws).items():
        st.session_state.setdefault(key, value)  # restore after a page switch dropped widget state
    m = ws.model
    lib_label = "Size factor (log10)" if m.spec.uses_size_factor else "Library size, log10 of total counts"
    lo, hi = np.log10(np.percentile(ws.library, [0, 100])) + np.array([-1.0, 1.0])
    st.slider(lib_label, float(min(lo, 2.0)), float(max(hi, 5.0)), step=0.01, key="w_loglib", on_change=_point_from_widgets,
              help="Expected counts are scale x this library size.")
    st.caption(f"library size N = {current_point().library_size:,.0f}")
    if m.batch_key is not None:
        st.selectbox(f"{m.batch_key} (batch covariate)", m.batches, key="w_batch", on_change=_point_from_widgets)
    if m.labels_key is not None and m.dispersion == "gene-label":
        st.selectbox(f"{m.labels_key} (label: sets the per-label dispersion)", m.labels, key="w_label", on_change=_point_from_widgets)
    for name, cats in m.categorical_covariates.items():
        st.selectbox(name, cats, key=f"w_cat::{name}", on_change=_point_from_widgets)
    for i, name in enumerate(m.continuous_covariates):
        values = ws.covariates["continuous"][name]
        lo_c, hi_c = float(values.min()), float(values.max())
        pad = 0.1 * max(hi_c - lo_c, 1e-6)
        st.slider(name, lo_c - pad, hi_c + pad, step=(hi_c - lo_c + 2 * pad) / 200, key=f"w_cont::{name}",
                  on_change=_point_from_widgets, format="%.3g")
    latent_sliders(ws)


_LATENT_KEY = "latent"
_LATENT_MOVE = "latent_move"  # number of the last slider move applied (see latent_sliders.js)
_LATENT_SLIDERS = st.components.v2.component(
    "scvi_viz_latent_sliders",
    js=Path(__file__).with_name("latent_sliders.js").read_text(encoding="utf-8"),
    css=Path(__file__).with_name("latent_sliders.css").read_text(encoding="utf-8"),
)


def latent_sliders(ws: Workspace) -> None:
    """One slider per latent dimension, over the cells' range padded by 10%, in 200 steps.

    Drawn as one element (``latent_sliders.js``) rather than one ``st.slider`` each: a map
    click moves every dimension at once, and Streamlit's sliders each lay the page out again.
    A finished move sets the point's latent vector; its library size and covariates stay.
    """
    ranges = ws.latent_ranges()
    _LATENT_SLIDERS(key=_LATENT_KEY, on_moved_change=_on_latent_moved, data={
        "z": [float(v) for v in current_point().z],
        "ranges": ranges.tolist(),
        "labels": [f"latent dimension {i + 1}" for i in range(len(ranges))],
        "steps": 200,
        "move": st.session_state.get(_LATENT_MOVE, 0),
    })


def reset_button(ws: Workspace) -> None:
    """A button that returns the point to the last clicked cell."""
    def reset() -> None:
        point, origin = st.session_state.get("clicked") or _remember_clicked(ws, 0)
        set_point(ws, point, origin=origin, xy=None)

    st.button("Reset to clicked cell", on_click=reset, help="Back to the latent point, library and covariates of the last cell you clicked.")


def _remember_clicked(ws: Workspace, cell: int) -> tuple[Point, str]:
    point, origin = ws.cell_point(cell), _cell_origin(ws, cell)
    st.session_state["clicked"] = (point, origin)
    return point, origin


_MAP_POINT = st.components.v2.component(
    "scvi_viz_map_point", js=Path(__file__).with_name("map_point.js").read_text(encoding="utf-8")
)


def map_point(ws: Workspace, embedding_name: str, *, map_key: str) -> tuple[float, float]:
    """Draw the current point over the map with key ``map_key``, and make clicks on it set the point.

    A cell click makes that cell the point (its z, library and covariates); a click on empty
    space maps the position back into latent space. The map's figure itself does not change.
    Returns where the point is drawn (see :func:`marker_position`).
    """
    key = f"{map_key}_point"
    xy = marker_position(ws, embedding_name)
    _MAP_POINT(key=key, data={"map_key": map_key, "point": [xy[0], xy[1]]},
               on_click_change=lambda: _on_map_click(ws, embedding_name, key), height=1)
    return xy


def _on_map_click(ws: Workspace, embedding_name: str, key: str) -> None:
    from scvi_viz.embedding import resolve_click
    from scvi_viz.figures import GRID_TRACE_INDEX, grid_step

    hit = (st.session_state.get(key) or {}).get("click")
    if not hit:
        return
    inv = inverse_map(ws, embedding_name)
    cell, z, xy = resolve_click(hit, inv, GRID_TRACE_INDEX, grid_step(inv.coords))
    if cell is None:
        point = replace(current_point(), z=tuple(float(v) for v in z))
        origin = f"empty-space click at ({xy[0]:.2f}, {xy[1]:.2f}), mapped by {inv.method}"
    else:
        point, origin = _remember_clicked(ws, cell)
    set_point(ws, point, origin=origin, xy=xy)


def marker_position(ws: Workspace, embedding_name: str) -> tuple[float, float]:
    """Where to draw the current point on the map.

    Clicks put it where the user clicked; otherwise (sliders, a restored view) it goes to the
    distance-weighted position of the point's nearest cells in latent space.
    """
    xy = st.session_state.get(_POINT_XY)
    if xy is None:
        xy = inverse_map(ws, embedding_name).position_of(np.asarray(current_point().z))
    return xy


# ------------------------------------------------------------------------------ genes
def gene_picker(ws: Workspace) -> list[str]:
    """Searchable multiselect over all genes plus a box for pasted lists."""
    def add_pasted() -> None:
        text = st.session_state.get("pasted_genes", "")
        names = [g for g in text.replace(",", " ").replace(";", " ").split() if g]
        known = set(ws.model.genes)
        found = [g for g in names if g in known]
        st.session_state["pasted_missing"] = [g for g in names if g not in known]
        st.session_state[_GENES] = list(dict.fromkeys([*st.session_state.get(_GENES, []), *found]))

    st.multiselect("Genes to chart", ws.model.genes, key=_GENES, placeholder="type to search all genes",
                   help="Type part of a gene name to search.")
    with st.popover("Paste a gene list"):
        st.text_area("Genes, separated by spaces, commas or new lines", key="pasted_genes")
        st.button("Add these genes", on_click=add_pasted)
    missing = st.session_state.get("pasted_missing")
    if missing:
        st.warning(f"Not in the model: {', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}")
    return list(st.session_state.get(_GENES, []))


def timed_decode(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` and remember its duration as the last decode time (shown in the model card)."""
    start = time.perf_counter()
    out = fn()
    st.session_state["last_decode_ms"] = 1e3 * (time.perf_counter() - start)
    return out


# ------------------------------------------------------------------------------ charts
# Not isolated in a shadow root: plotly.js styles its charts (toolbar, hover labels) through
# global CSS rules.
_LIVE_CHART = st.components.v2.component(
    "scvi_viz_live_chart", js=Path(__file__).with_name("live_chart.js").read_text(encoding="utf-8"),
    isolate_styles=False,
)


def live_chart(fig: go.Figure, *, key: str, config: dict[str, Any]) -> None:
    """Draw a plotly figure that changes on every rerun, updating the drawn chart in place.

    ``st.plotly_chart`` rebuilds a changed chart from nothing and draws it twice; this draws it
    once per change (see ``live_chart.js``). For charts that change with the sliders.
    """
    _LIVE_CHART(key=key, data={"figure": fig.to_json(), "config": {**config, "responsive": True}})


# ----------------------------------------------------------------------------- export
def export_picker(charts: dict[str, export.Chart], *, key: str) -> None:
    """Download one of the page's charts: which chart, which format, one button.

    ``charts`` maps what the user reads ("Top 20 genes, expected counts") to the chart. Files
    are drawn only when the button is clicked.
    """
    static = export.static_export_available()
    formats = [f for f in export.FORMATS if static or f not in export.STATIC_FORMATS]
    which, fmt_col, button = st.columns([4, 1, 1], vertical_alignment="bottom")
    label = which.selectbox("Download a chart", list(charts), key=f"{key}_chart")
    fmt = fmt_col.selectbox("Format", formats, format_func=str.upper, key=f"{key}_format",
                            help="PNG, SVG and PDF as in a report; HTML is the interactive chart; CSV holds its numbers.")
    chart = charts[label]
    button.download_button("Download", data=lambda: export.chart_file(chart, fmt), icon=":material/download:",
                           file_name=f"{export.safe_filename(chart.name)}.{fmt}", mime=export.MIME[fmt],
                           key=f"{key}_download", on_click="ignore")
    if not static:
        st.caption(export.CHROME_HINT)


def view_state(ws: Workspace, extras: dict[str, Any] | None = None) -> ViewState:
    """The current view as a :class:`ViewState`."""
    return ViewState(
        model_sha256=ws.model.file_sha256,
        point=current_point(),
        genes=tuple(st.session_state.get(_GENES, [])),
        device=str(ws.model.device),
        app_version=scvi_viz.__version__,
        cell_id=point_origin(),
        extras=extras or {},
    )


def report_button(
    ws: Workspace,
    charts: list[export.Chart],
    *,
    page: str,
    tables: dict[str, Any] | None = None,
    extras: dict[str, Any] | None = None,
) -> None:
    """Download one ZIP with the page's figures (SVG + PNG), CSVs and ``state.json``."""
    state_json = view_state(ws, extras).to_json()
    st.download_button(
        "Download report bundle (ZIP: figures, CSVs, state.json)",
        data=lambda: export.report_bundle(charts, state_json, tables),
        file_name=f"scvi-viz-{page}-report.zip", mime=export.MIME["zip"], key=f"report_{page}",
        on_click="ignore", icon=":material/folder_zip:",
    )


def _restore_controls(ws: Workspace) -> None:
    def apply() -> None:
        upload = st.session_state.get("restore_file")
        if upload is None:
            return
        try:
            text = export.read_state_upload(upload.getvalue())
            state, warnings = ViewState.from_json(text, ws.model)
        except ScviVizError as exc:
            st.session_state["restore_message"] = ("error", str(exc))
            return
        set_point(ws, state.point, origin=f"restored view ({state.cell_id or 'saved point'})", xy=None)
        st.session_state[_GENES] = list(state.genes)
        st.session_state["restore_message"] = ("warning", " ".join(warnings)) if warnings else ("success", "View restored.")

    with st.sidebar.expander("Restore a saved view"):
        st.file_uploader("state.json or report ZIP", type=["json", "zip"], key="restore_file")
        st.button("Restore", on_click=apply, key="restore_apply")
        message = st.session_state.pop("restore_message", None)
        if message:
            getattr(st, message[0])(message[1])


# ---------------------------------------------------------------------------- compare
def covariate_options(ws: Workspace) -> dict[str, tuple[str, str | None, list | None]]:
    """Covariates that can be compared: label -> (kind, name, categories or ``None`` if continuous)."""
    m = ws.model
    options: dict[str, tuple[str, str | None, list | None]] = {}
    if m.batch_key is not None and len(m.batches) > 1:
        options[f"{m.batch_key} (batch covariate)"] = ("batch", None, list(m.batches))
    for name, cats in m.categorical_covariates.items():
        if len(cats) > 1:
            options[f"{name} (categorical covariate)"] = ("categorical", name, list(cats))
    if m.labels_key is not None and m.dispersion == "gene-label" and len(m.labels) > 1:
        options[f"{m.labels_key} (label: per-label dispersion only)"] = ("label", None, list(m.labels))
    for name in m.continuous_covariates:
        options[f"{name} (continuous covariate)"] = ("continuous", name, None)
    return options


def covariate_picker(ws: Workspace, options: dict, *, key: str) -> tuple[str, str | None, list] | None:
    """Choose a covariate and two or more of its values; returns (kind, name, values)."""
    label = st.selectbox("Covariate", list(options), key=f"{key}_cov")
    kind, name, cats = options[label]
    if cats is None:
        values = ws.covariates["continuous"][name]
        lo, hi = np.percentile(values, [10, 90])
        a, b = st.columns(2)
        va = a.number_input(f"{name}: value A (reference)", value=float(lo), key=f"{key}_{name}_a", format="%.4g")
        vb = b.number_input(f"{name}: value B", value=float(hi), key=f"{key}_{name}_b", format="%.4g")
        if va == vb:
            st.warning("Choose two different values.")
            return None
        return kind, name, [va, vb]
    current = _current_value(kind, name)
    default = [current, *[c for c in cats if c != current]][:2] if current in cats else cats[:2]
    chosen = st.multiselect(f"Values of {label.split(' (')[0]} (the first is the reference A)", cats,
                            default=default, key=f"{key}_{label}_values",
                            help="The reference A starts as the current point's own value.")
    if len(chosen) < 2:
        st.warning("Choose at least two values to compare.")
        return None
    return kind, name, chosen


def _current_value(kind: str, name: str | None) -> Any:
    point = current_point()
    return {"batch": point.batch, "label": point.label}.get(kind) if kind in ("batch", "label") else point.categorical.get(name)


def comparison_view(ws: Workspace, table: Any, *, key: str, subtitle: str, library_size: float | None) -> None:
    """Scatter of A vs the other values, top |log2FC| bars and the table, each with downloads."""
    from scvi_viz import figures, profiles
    from scvi_viz.export import Chart

    unit = st.radio("Axis", ["normalised expression (fraction of library)", "expected counts"], horizontal=True,
                    key=f"{key}_unit", disabled=library_size is None,
                    help="Expected counts are at the current library size; for groups each cell keeps its own library.")
    unit_key = "scale" if unit.startswith("normalised") or library_size is None else "rate"
    caption = {"comparison": subtitle, "log2FC": f"log2((scale_B + {profiles.LFC_PSEUDO_FRACTION:g}) / (scale_A + {profiles.LFC_PSEUDO_FRACTION:g}))"}
    charts = {
        "Scatter of the values against the reference (CSV: every gene)": Chart(
            f"{key}_scatter", lambda: figures.compare_scatter(table, unit=unit_key, subtitle=subtitle), table, caption),
        "Top genes by |log2 fold change|": Chart(
            f"{key}_log2fc", lambda: figures.lfc_figure(table, subtitle=subtitle), table.head(20), caption),
    }
    for column, chart in zip(st.columns(2), charts.values()):
        column.plotly_chart(chart.figure, key=f"{chart.name}_chart", config=export.toolbar_config(chart.name))
    st.caption(f"{len(table):,} genes, sorted by |log2 fold change| of {table.attrs['other']} vs {table.attrs['reference']}. {caption['log2FC']}.")
    st.dataframe(table, height=320, column_config={c: st.column_config.NumberColumn(format="%.4g") for c in table.columns})
    export_picker(charts, key=f"{key}_export")
    report_button(ws, list(charts.values()), page=key, tables={f"{key}_table": table})


def group_picker(ws: Workspace, *, key: str) -> tuple[np.ndarray | None, str]:
    """Pick cells by an obs category or by a box/lasso on the map; returns (indices, description)."""
    from scvi_viz.figures import GRID_TRACE_INDEX, umap_figure

    how = st.radio("Group", ["cells of an obs category", "cells selected on the map"], horizontal=True, key=f"{key}_how")
    if how == "cells of an obs category":
        columns = [c for c in ws.color_columns() if ws.obs[c].nunique() <= 200]
        if not columns:
            return None, ""
        default = columns.index(ws.model.labels_key) if ws.model.labels_key in columns else 0
        column = st.selectbox("obs column", columns, index=default, key=f"{key}_column")
        values = ws.obs[column].astype(str)
        category = st.selectbox("Category", sorted(values.unique()), key=f"{key}_category")
        return np.flatnonzero(values.to_numpy() == category), f"{column} = {category}"
    name = ws.embedding_names()[0]
    coords = embedding(ws, name)
    color_col = ws.model.labels_key if ws.model.labels_key in ws.obs else ws.color_columns()[0]
    fig = umap_figure(coords, ws.obs[color_col].to_numpy(), color_name=color_col, hover=ws.cell_hover(),
                      embedding_name=name.removeprefix("X_"), height=420)
    fig.update_layout(dragmode="lasso", title={"text": "Draw a box or lasso around the cells to compare"})
    event = st.plotly_chart(fig, key=f"{key}_map", on_select="rerun", selection_mode=("box", "lasso"))
    points = (event.get("selection") or {}).get("points") or [] if event else []
    cells = sorted({int(p["customdata"] if not isinstance(p["customdata"], list) else p["customdata"][0])
                    for p in points if p.get("curve_number") != GRID_TRACE_INDEX and p.get("customdata") is not None})
    return (np.asarray(cells, dtype=int) if cells else None), f"{len(cells)} selected cells"


@st.cache_data(max_entries=16, show_spinner="Decoding the group under each value…")
def _group_comparison(ws_id: str, cells_key: str, kind: str, name: str | None, values: tuple, _ws: Workspace, _cells: np.ndarray):
    from scvi_viz.profiles import compare_cells

    return compare_cells(_ws.model, _ws.latent[_cells], _ws.library[_cells], _ws.group_covariates(_cells), kind, name, values)


def group_comparison(ws: Workspace, cells: np.ndarray, kind: str, name: str | None, values: tuple):
    """Cached :func:`scvi_viz.profiles.compare_cells` for a group of cells."""
    from scvi_viz.embedding import content_key

    return _group_comparison(st.session_state[_WS_ID], content_key(cells), kind, name, values, ws, cells)
