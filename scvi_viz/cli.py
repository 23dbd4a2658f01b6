"""The ``scvi-viz`` command (also ``python -m scvi_viz``).

``scvi-viz launch [MODEL_DIR [DATA]]`` starts the app, on the built-in demo or with that model and
data open (see :mod:`scvi_viz.launch`). ``scvi-viz prepare MODEL_DIR DATA`` computes what the
app needs for a large dataset ahead of time: run it on the machine that serves the app (or on
one that shares its cache folder); the app then opens the dataset in seconds. Each step shows a
progress bar; a stopped run resumes.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scvi_viz.analysis.embedding import UMAP_FIT_CELLS
from scvi_viz.analysis.prepare import STEP_TEXT, Prepared, prepare
from scvi_viz.errors import ScviVizError
from scvi_viz.io import sources
from scvi_viz.io.array_cache import default_cache_dir
from scvi_viz.launch import (
    DEFAULT_HOST,
    LaunchError,
    check_model,
    locate_files,
    port_is_free,
    run_in_foreground,
    server_environment,
    streamlit_command,
)
from scvi_viz.model import load_model


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (a whole number from 1 to 65535)")
    return port


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scvi-viz", description="scvi-viz: walk through what a trained scVI / scANVI model predicts.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{launch,prepare}")
    launch = commands.add_parser(
        "launch", help="start the app in the browser, on the built-in demo or with a model and its data open",
        description="Start the app (the same app.py as `streamlit run app.py`, with the same settings). With no "
                    "arguments it opens the built-in demo; with MODEL_DIR (and DATA) every new browser session "
                    "opens that model and data. Ctrl+C stops it.")
    launch.add_argument("model_dir", nargs="?", type=Path, default=None,
                        help="a model.save() folder (or its model.pt); read with the safe loader, never unpickled")
    launch.add_argument("data", nargs="?", type=Path, default=None,
                        help="the cells' .h5ad file or .zarr store (default: MODEL_DIR/adata.h5ad)")
    launch.add_argument("--port", type=_port, default=None,
                        help="port to serve on (default: 8501, or the next free one)")
    launch.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}, this machine only; 0.0.0.0 serves "
                             "every network the machine is on)")
    launch.add_argument("--data-root", type=Path, default=None,
                        help="the folder whose files the sidebar's 'Files on this server' can open (default: the "
                             "folder that holds MODEL_DIR and DATA; with no model, $SCVI_VIZ_DATA_DIR or the "
                             "current folder)")
    p = commands.add_parser(
        "prepare", help="compute latent points, library sizes, the UMAP and softmax normalisers of a dataset",
        description="Compute each cell's latent point and library size, a UMAP and the softmax normalisers, and keep "
                    "them in the cache folder (never in your files), keyed by the content hashes of model and data. "
                    "The app finds and uses them.")
    p.add_argument("model_dir", type=Path, help="a model.save() folder (or its model.pt)")
    p.add_argument("data", type=Path, help="the .h5ad file or .zarr store of the cells (read, never written)")
    p.add_argument("--cache", type=Path, default=None,
                   help=f"cache folder (default: $SCVI_VIZ_CACHE_DIR or {default_cache_dir()})")
    p.add_argument("--umap-fit", type=int, default=UMAP_FIT_CELLS,
                   help=f"cells the UMAP is fit on, a uniform random sample; the rest are placed by transform "
                        f"(default {UMAP_FIT_CELLS:,})")
    p.add_argument("--latent-key", default=None,
                   help="an obsm entry to take as the latent points (e.g. X_scVI) instead of encoding the counts")
    p.add_argument("--embedding", default=None,
                   help="a 2-D obsm embedding (e.g. X_umap) to map the cells on instead of computing a UMAP "
                        "(the app's 'Map the cells on' choice)")
    p.add_argument("--scheduler", default="local",
                   help="Dask scheduler for the per-cell steps: a distributed scheduler address (tcp://host:8786), "
                        "'local' for a local cluster (the default), or 'none' to run in this process")
    p.add_argument("--workers", type=int, default=None, help="workers of the local cluster (default: one per core)")
    return parser


class _Bars:
    """One tqdm bar per step, on standard error."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._tqdm, self._bars, self._done = tqdm, {}, {}

    def __call__(self, step: str, done: int, total: int) -> None:
        bar = self._bars.get(step)
        if bar is None:
            bar = self._bars[step] = self._tqdm(total=total, desc=STEP_TEXT.get(step, step), unit="cells",
                                                unit_scale=True, file=sys.stderr, leave=True)
            self._done[step] = 0
        bar.update(done - self._done[step])
        self._done[step] = done
        if done >= total:
            bar.close()


def _client(scheduler: str, workers: int | None) -> Any:
    if scheduler == "none":
        return None
    from distributed import Client, LocalCluster

    if scheduler == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None)
        return Client(cluster)
    return Client(scheduler)


def _summary(prepared: Prepared, started: float) -> str:
    mapped = f"UMAP fit on {prepared.umap_fit_cells:,} cells" if prepared.umap is not None else "no UMAP: an obsm map"
    lines = [f"Prepared {prepared.latent.shape[0]:,} cells in {time.perf_counter() - started:.1f} s "
             f"(latent from {prepared.source.describe()}; {mapped})."]
    lines += [f"  {step}: {seconds:.1f} s" + (" (from the cache)" if seconds == 0 else "")
              for step, seconds in prepared.seconds.items()]
    lines.append(f"Kept in {prepared.folder}" if prepared.folder else "The cache folder could not be written: nothing was kept.")
    return "\n".join(lines)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _launch(args: argparse.Namespace) -> int:
    """``scvi-viz launch``: check what was given, then become the app's server."""
    try:
        if args.model_dir is None:
            if args.data is not None:  # pragma: no cover - argparse fills model_dir first
                raise LaunchError("give the model folder before the data")
            root = (args.data_root or sources.data_root()).expanduser().resolve()
            if not root.is_dir():
                raise LaunchError(f"{args.data_root or root}: the data root is not a folder.")
            files, opening = None, "the built-in demo"
        else:
            files = locate_files(args.model_dir, args.data, data_root=args.data_root)
            root = files.root
            opening = f"the {check_model(files)} model {args.model_dir} with {files.root / files.data}"
        if args.port is not None and not port_is_free(args.port, args.host):
            raise LaunchError(f"port {args.port} of {args.host} is in use: choose another with --port.")
        command = streamlit_command(host=args.host, port=args.port)
    except (ScviVizError, FileNotFoundError) as exc:
        print(f"scvi-viz launch: {_one_line(exc)}", file=sys.stderr)
        return 2
    print(f"scvi-viz: opening {opening}; the sidebar can open files under {root}. Ctrl+C stops the server.")
    return run_in_foreground(command, server_environment(root, files))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 on success, 2 for input scvi-viz cannot use)."""
    args = _parser().parse_args(argv)
    if args.command == "launch":
        return _launch(args)
    started = time.perf_counter()
    client = None
    try:
        model = load_model(args.model_dir, device="cpu")
        client = _client(args.scheduler, args.workers)
        prepared = prepare(model, args.data, cache_dir=args.cache, latent_key=args.latent_key,
                           embedding_key=args.embedding, umap_fit=args.umap_fit, client=client, progress=_Bars())
    except (ScviVizError, FileNotFoundError) as exc:
        print(f"scvi-viz prepare: {_one_line(exc)}", file=sys.stderr)
        return 2
    finally:
        if client is not None:
            cluster = client.cluster
            client.close()
            if cluster is not None:
                cluster.close()
    print(_summary(prepared, started))
    return 0
