"""``python -m scvi_viz prepare``: compute what the app needs for a large dataset ahead of time.

Run it on the machine that serves the app (or on one that shares its cache folder); the app then
opens the dataset in seconds. Each step shows a progress bar; a stopped run resumes.
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
from scvi_viz.io.array_cache import default_cache_dir
from scvi_viz.model import load_model


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scvi_viz", description="scvi-viz command-line tools.")
    commands = parser.add_subparsers(dest="command", required=True)
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 on success, 2 for input scvi-viz cannot use)."""
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    client = None
    try:
        model = load_model(args.model_dir, device="cpu")
        client = _client(args.scheduler, args.workers)
        prepared = prepare(model, args.data, cache_dir=args.cache, latent_key=args.latent_key,
                           embedding_key=args.embedding, umap_fit=args.umap_fit, client=client, progress=_Bars())
    except (ScviVizError, FileNotFoundError) as exc:
        print(f"scvi-viz prepare: {exc}", file=sys.stderr)
        return 2
    finally:
        if client is not None:
            cluster = client.cluster
            client.close()
            if cluster is not None:
                cluster.close()
    print(_summary(prepared, started))
    return 0
