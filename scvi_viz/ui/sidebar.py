"""The sidebar every page shares: where model and data come from, the model card, saved views."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
import torch

from scvi_viz.analysis.embedding import UMAP_OBSM_KEY
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.errors import ScviVizError
from scvi_viz.io import sources
from scvi_viz.io.adata import is_minified
from scvi_viz.io.store import open_data
from scvi_viz.io.view_state import ViewState, read_state_upload
from scvi_viz.ui import cache, keys, views
from scvi_viz.ui.point import remember_clicked, set_point

_RESTORE_MESSAGE = "restore_message"


def _choose_source() -> tuple[str, str, str] | None:
    """Sidebar controls for the model and data; returns (model path, data path, label)."""
    if "source" not in st.session_state and (files := sources.files_to_open()) is not None:
        # `scvi-viz launch MODEL_DIR DATA`: a new session opens those files (a link's files come first).
        st.session_state["source"] = "Files on this server"
        st.session_state["root_model_typed"], st.session_state["root_data"] = files
    choice = st.sidebar.radio(
        "Model and data", ["Built-in demo", "Files on this server", "Upload"], key="source",
        help="The demo is a real scVI model of 700 PBMCs (scanpy's pbmc68k_reduced).",
    )
    if choice == "Built-in demo":
        st.session_state[keys.SOURCE] = {"kind": "demo"}
        return str(sources.DEMO_MODEL), str(sources.DEMO_DATA), "demo: PBMC 68k (reduced), scVI"
    if choice == "Files on this server":
        return _server_files()
    return _uploads()


def _server_files() -> tuple[str, str, str] | None:
    root = sources.data_root()
    st.sidebar.caption(f"Data root: `{root}` (set SCVI_VIZ_DATA_DIR to change it)")
    models, datasets = sources.list_model_dirs(root), sources.list_h5ad_files(root)

    def follow_model(key: str) -> None:
        # The data box follows the model folder: its own adata.h5ad (model.save(save_anndata=True)).
        folder = (st.session_state.get(key) or "").strip()
        own = str(Path(folder) / "adata.h5ad") if folder else None
        if own in datasets:
            st.session_state["root_data"] = own

    model_rel = st.sidebar.selectbox("Model folder", models, index=None, key="root_model",
                                     on_change=follow_model, args=("root_model",),
                                     placeholder="folders with a model.pt" if models else "no model.pt under the data root")
    typed = st.sidebar.text_input("…or type a model folder (relative to the data root)", key="root_model_typed",
                                  on_change=follow_model, args=("root_model_typed",))
    wanted = st.session_state.get("root_data")
    if wanted and wanted not in datasets and _in_root(wanted, root):
        datasets.append(wanted)  # named by a link or `scvi-viz launch`, deeper than the list goes
    if st.session_state.get("root_data") not in datasets:
        st.session_state["root_data"] = None  # e.g. a link naming a file that is not there
    data_rel = st.sidebar.selectbox("AnnData (.h5ad or .zarr)", datasets, index=None, key="root_data",
                                    placeholder=".h5ad files and .zarr stores under the data root")
    model_rel = typed.strip() or model_rel
    if not model_rel or not data_rel:
        st.sidebar.info("Pick a model folder and an .h5ad file or .zarr store.")
        return None
    if Path(data_rel).parent != Path(model_rel):
        st.sidebar.info(f"The model ({model_rel}) and the data ({data_rel}) come from different folders: "
                        "check that this data is the one the model was trained on, or a query of its genes.")
    model_path = sources.resolve_in_root(model_rel, root)
    data_path = sources.resolve_in_root(data_rel, root)
    st.session_state[keys.SOURCE] = {"kind": "server", "model": model_rel, "data": data_rel}
    shown = root.name if Path(model_rel) == Path(".") else model_rel  # the data root itself (scvi_viz.view)
    return str(model_path), str(data_path), f"{shown} + {data_rel}"


def _in_root(relative: str, root: Path) -> bool:
    """Whether ``relative`` names a file or store under ``root`` (symlinks resolved)."""
    try:
        sources.resolve_in_root(relative, root)
    except (sources.PathOutsideRootError, FileNotFoundError, OSError):
        return False
    return True


def _uploads() -> tuple[str, str, str] | None:
    model_file = st.sidebar.file_uploader("Model: zipped model.save() folder, or model.pt", type=["zip", "pt"], key="up_model")
    data_file = st.sidebar.file_uploader("Data: .h5ad", type=["h5ad"], key="up_data")
    if model_file is None or data_file is None:
        st.sidebar.info("Upload a model and an .h5ad file.")
        return None
    if keys.UPLOADS not in st.session_state:
        st.session_state[keys.UPLOADS] = sources.SessionUploads()
    model_dir, data_path = st.session_state[keys.UPLOADS].unpacked(model_file, data_file)
    st.session_state[keys.SOURCE] = {"kind": "upload"}
    return model_dir, data_path, f"upload: {model_file.name} + {data_file.name}"


def _model_card(ws: Workspace, label: str) -> None:
    m = ws.model
    with st.sidebar.expander("Model card", expanded=True):
        st.markdown(
            f"**{m.model_name}** (scvi-tools {m.scvi_version}) · {label}  \n"
            f"{m.n_genes:,} genes · {m.n_latent} latent dimensions · {ws.n_cells:,} cells  \n"
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
            unlabeled = m.spec.unlabeled_category
            st.markdown(f"Labels **{m.labels_key}** ({len(m.labels)} categories"
                        + (f", plus unlabeled cells as '{unlabeled}'" if unlabeled is not None else "") + ")")
        st.markdown(_data_lines(ws))
        device = f"CUDA ({torch.cuda.get_device_name(m.device)})" if m.device.type == "cuda" else "CPU"
        last = st.session_state.get(keys.LAST_DECODE_MS)
        st.markdown(f"Decoding on **{device}**" + (f" · last decode {last:.1f} ms" if last is not None else ""))
    if ws.gene_match.model_only or ws.gene_match.data_only:
        (st.sidebar.warning if ws.gene_match.model_only else st.sidebar.info)(ws.gene_match.summary()
            + (" Missing model genes are encoded as zero counts." if ws.gene_match.model_only else ""))


def server_memory_bytes() -> int | None:
    """Memory this server process holds now (resident set size), or ``None`` where it cannot be read."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # the peak, in KiB on Linux
    except (ImportError, OSError):
        return None


def _data_lines(ws: Workspace) -> str:
    """The model card's lines on the data: cells held, where the counts and latent points are, memory."""
    prepared = ws.prepared
    where = "a .zarr store" if ws.data_path is not None and ws.data_path.is_dir() else "the .h5ad file"
    counts = ("minified data: no counts, the stored posterior instead" if ws.minified
              else f"counts stay in {where}, read a block of cells at a time")
    lines = [f"**{ws.n_cells:,} cells** held ({counts})",
             f"Latent points from {prepared.source.describe()}"]
    if not ws.has_latent_umap():
        lines.append(f"Mapped on obsm['{ws.embedding_names()[0]}'] (no UMAP computed)")
    elif ws.precomputed_umap is None and 0 < prepared.umap_fit_cells < ws.n_cells:
        lines.append(f"UMAP fit on a random {prepared.umap_fit_cells:,} cells; the other "
                     f"{ws.n_cells - prepared.umap_fit_cells:,} placed on it by UMAP's transform")
    memory = server_memory_bytes()
    if memory is not None:
        lines.append(f"App memory: {memory / 1024**3:.2f} GB (this server, all sessions)")
    return "  \n".join(lines)


def _latent_key(data_path: str, stamp: tuple) -> str | None:
    """The sidebar's choice of where the latent points come from: the model (default) or an obsm entry."""
    shapes, minified = _obsm_shapes(data_path, stamp)
    wide = [k for k, shape in shapes.items() if len(shape) == 2 and shape[1] > 2]
    if not wide or minified:  # minified data give their stored posterior whatever is chosen
        return None
    encode = "the model (encoder)"
    choice = st.sidebar.selectbox(
        "Latent points from", [encode, *wide], key=keys.LATENT_KEY,
        help="Minified data give their stored posterior; other data are encoded by the model (on first open; then "
             "kept in the cache). Or take an obsm entry with one column per latent dimension, such as X_scVI, as given.")
    return None if choice == encode else choice


def _embedding_key(data_path: str, stamp: tuple) -> str | None:
    """The sidebar's choice of the cells' map: a UMAP of the latent points (default) or a 2-D obsm embedding."""
    flat = [k for k, shape in _obsm_shapes(data_path, stamp)[0].items()
            if len(shape) == 2 and shape[1] == 2 and k != UMAP_OBSM_KEY]
    if not flat:
        return None
    umap = "UMAP of latent space"
    choice = st.sidebar.selectbox(
        "Map the cells on", [umap, *flat], key=keys.EMBEDDING_KEY,
        help="The UMAP is computed when the data are first opened (minutes for a million cells; then kept in the "
             "cache). An obsm embedding of the file, such as X_umap, needs no computing; it is not a map of this "
             "model's latent space.")
    return None if choice == umap else choice


@st.cache_data(max_entries=16, show_spinner=False)
def _obsm_shapes(data_path: str, stamp: tuple) -> tuple[dict[str, tuple[int, ...]], bool]:
    """The data's ``obsm`` shapes and whether they are minified (read without ``obs`` or counts)."""
    try:
        with open_data(data_path) as store:
            return store.obsm_shapes(), is_minified(store)
    except (ScviVizError, FileNotFoundError):
        return {}, False  # opening the workspace says what is wrong with the file


PAGES = ("explore", "compare", "differential_expression", "model_fit", "trajectory")
"""The pages a saved view can name (``pages/<name>.py``)."""


def _restore_controls(ws: Workspace) -> None:
    def apply() -> None:
        upload = st.session_state.get("restore_file")
        if upload is None:
            return
        try:
            state, warnings = ViewState.from_json(read_state_upload(upload.getvalue()), ws.model.spec)
            warnings += views.apply_view(ws, state, origin=f"restored view ({state.cell_id or 'saved point'})")
        except ScviVizError as exc:
            st.session_state[_RESTORE_MESSAGE] = ("error", str(exc))
            return
        st.session_state[_RESTORE_MESSAGE] = ("warning", " ".join(warnings)) if warnings else ("success", "View restored.")
        if state.page in PAGES:  # the page the view was saved on (app.py switches to it)
            st.session_state[keys.START_PAGE] = f"pages/{state.page}.py"

    with st.sidebar.expander("Restore a saved view"):
        st.file_uploader("state.json or report ZIP", type=["json", "zip"], key="restore_file")
        st.button("Restore", on_click=apply, key="restore_apply")
        # Shown on the page the view was saved on, once app.py has switched to it.
        message = None if st.session_state.get(keys.START_PAGE) else st.session_state.pop(_RESTORE_MESSAGE, None)
        if message:
            getattr(st, message[0])(message[1])


def sidebar() -> Workspace | None:
    """Draw the shared sidebar and return the workspace to show (``None`` if there is none).

    Errors in the chosen files are shown as ``st.error`` with what to do; the app stays usable.
    """
    st.sidebar.title("scvi-viz")
    try:
        chosen = _choose_source()
        if chosen is None:
            st.session_state[keys.WORKSPACE] = None
            return None
        model_path, data_path, label = chosen
        stamp = sources.file_stamp(data_path)
        ws = cache.open_workspace(model_path, data_path, latent_key=_latent_key(data_path, stamp),
                                  embedding_key=_embedding_key(data_path, stamp))
    except (ScviVizError, FileNotFoundError) as exc:
        st.session_state[keys.WORKSPACE] = None
        st.sidebar.error(str(exc))
        st.error(f"Could not open this model and data: {exc}")
        return None
    ws_id = f"{ws.model.file_sha256}:{model_path}:{data_path}:{ws.prepared.source.slug}:{ws.embedding_names()[0]}"
    if st.session_state.get(keys.WORKSPACE_ID) != ws_id:
        st.session_state[keys.WORKSPACE_ID] = ws_id
        point, origin = remember_clicked(ws, 0)
        set_point(ws, point, origin=origin, xy=None)
        st.session_state[keys.GENES] = cache.variable_genes(ws)
    views.apply_link(ws)
    cache.cache_notes(ws)
    _model_card(ws, label)
    _restore_controls(ws)
    st.session_state[keys.WORKSPACE] = ws
    return ws


def start_page() -> str | None:
    """The page a visitor asked for by URL before the app's navigation existed (see :func:`workspace`)."""
    return st.session_state.pop(keys.START_PAGE, None)


def workspace(page_file: str) -> Workspace | None:
    """The workspace the sidebar opened, or ``None`` (after showing a hint) when there is none.

    ``page_file`` is the calling page's ``__file__``. A page opened by its URL before any
    session on this server has run ``app.py`` is run by Streamlit on its own, without the
    sidebar (a ``pages/`` folder is served that way until ``st.navigation`` is first called):
    then this goes through ``app.py`` and back to the page.
    """
    if keys.WORKSPACE not in st.session_state:
        st.session_state[keys.START_PAGE] = f"pages/{Path(page_file).name}"
        st.switch_page("app.py")
    ws = st.session_state.get(keys.WORKSPACE)
    if ws is None:
        st.info("Choose a model and its data in the sidebar. The built-in demo opens with no action.")
    return ws
