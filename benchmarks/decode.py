"""Decode benchmark: scvi-viz's decoder against this machine's matmul rate and scvi-tools.

Builds one scvi-tools SCVI model with ~16,000 genes on synthetic counts (needs scvi-tools,
see requirements-dev.txt), saves it, loads it with ``scvi_viz.load_model`` and measures, in
one run, side by side:

- single-point decode latency;
- batch decode throughput (cells/s) and its FLOP rate as a fraction of ``torch.mm`` on the
  same shapes, measured in the same run;
- the same cells through scvi-tools' ``get_normalized_expression`` (cells/s), and the ratio;
- a one-gene overlay for 100,000 cells once the softmax normaliser is cached.

On a machine with CUDA the same figures are measured on the GPU too.

Run from the repository root::

    python benchmarks/decode.py [--genes 16000] [--cells 4096] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scvi_viz import load_model  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: torch.device, *, repeat: int, warmup: int = 2) -> list[float]:
    """Wall-clock seconds of ``repeat`` calls of ``fn`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    _sync(device)
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        _sync(device)
        out.append(time.perf_counter() - start)
    return out


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def build_scvi_model(n_genes: int, n_cells: int, workdir: Path):
    """A real scvi-tools SCVI model (one short epoch) on synthetic counts, saved to ``workdir``."""
    import anndata as ad
    import scipy.sparse as sp
    import scvi

    scvi.settings.seed = 0
    rng = np.random.default_rng(0)
    counts = rng.negative_binomial(2, 0.7, size=(n_cells, n_genes)).astype(np.float32)
    adata = ad.AnnData(sp.csr_matrix(counts))
    adata.var_names = [f"gene{i}" for i in range(n_genes)]
    adata.obs["batch"] = rng.choice(["a", "b"], n_cells)
    scvi.model.SCVI.setup_anndata(adata, batch_key="batch")
    model = scvi.model.SCVI(adata, n_latent=10, n_hidden=128)
    model.train(max_epochs=1, accelerator="cpu", enable_progress_bar=False)
    model.save(str(workdir / "model"), overwrite=True)
    return model, adata


def matmul_gflops(rows: int, n_hidden: int, n_genes: int, device: torch.device) -> float:
    """``torch.mm`` rate on the decoder's head shape ``(rows x n_hidden) @ (n_hidden x n_genes)``."""
    a = torch.randn(rows, n_hidden, device=device)
    b = torch.randn(n_hidden, n_genes, device=device)
    out = torch.empty(rows, n_genes, device=device)
    seconds = statistics.median(timed(lambda: torch.mm(a, b, out=out), device, repeat=10))
    return 2 * rows * n_hidden * n_genes / seconds / 1e9


def measure(model, reference, adata, *, cells: int, device: torch.device) -> dict:
    n_genes, n_hidden = len(model.genes), model.spec.n_hidden
    rng = np.random.default_rng(1)
    z = rng.standard_normal((cells, model.n_latent)).astype(np.float32)
    results: dict = {"device": str(device), "genes": n_genes, "cells": cells}

    one = z[:1]
    lat = timed(lambda: model.decode(one, library_size=1e4), device, repeat=200, warmup=10)
    results["single_point_ms"] = 1e3 * statistics.median(lat)

    batch = timed(lambda: model.decode(z, library_size=1e4), device, repeat=5)
    seconds = statistics.median(batch)
    results["batch_cells_per_s"] = cells / seconds
    # The same with px_rate materialised as well (Decoded derives it on first access).
    full = timed(lambda: model.decode(z, library_size=1e4).rate, device, repeat=5)
    results["batch_with_rate_cells_per_s"] = cells / statistics.median(full)
    # Useful work per cell: the first layer, and the scale and dropout heads (n_hidden x n_genes each).
    layer_in = model.decoder.px_decoder.fc_layers[0][0].in_features
    flops = cells * 2 * (layer_in * n_hidden + 2 * n_hidden * n_genes)
    results["batch_gflops"] = flops / seconds / 1e9
    results["matmul_gflops"] = matmul_gflops(min(cells, 2048), n_hidden, n_genes, device)
    results["fraction_of_matmul"] = results["batch_gflops"] / results["matmul_gflops"]

    if reference is not None:
        ref_cells = adata[:cells].copy()
        def scvi_run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                reference.get_normalized_expression(ref_cells, library_size=1e4, batch_size=1024, return_numpy=True)
        ref = timed(scvi_run, device, repeat=3, warmup=1)
        results["scvi_tools_cells_per_s"] = cells / statistics.median(ref)
        results["speedup_vs_scvi_tools"] = results["batch_cells_per_s"] / results["scvi_tools_cells_per_s"]

    n_overlay = 100_000
    z_all = rng.standard_normal((n_overlay, model.n_latent)).astype(np.float32)
    gene = model.genes[123]
    start = time.perf_counter()
    model.decode_genes(z_all, [gene], library_size=1e4)
    _sync(device)
    results["overlay_first_call_s"] = time.perf_counter() - start
    cached = timed(lambda: model.decode_genes(z_all, [model.genes[456]], library_size=1e4), device, repeat=10)
    results["overlay_cached_ms"] = 1e3 * statistics.median(cached)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genes", type=int, default=16_000)
    parser.add_argument("--cells", type=int, default=4096)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        try:
            reference, adata = build_scvi_model(args.genes, max(args.cells, 2048), Path(tmp))
        except ImportError:
            sys.exit("benchmarks/decode.py needs scvi-tools to build its model: pip install -r requirements-dev.txt")
        reference.module.eval()
        runs = []
        devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
        for device in devices:
            model = load_model(Path(tmp) / "model", device=device)
            reference.to_device(device.type if device.type == "cpu" else 0)
            runs.append(measure(model, reference, adata, cells=args.cells, device=device))

    machine = {"cpu": cpu_name(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
               "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, torch {machine['torch']} ({machine['torch_threads']} threads)"
          + (f", GPU {machine['gpu']}" if machine["gpu"] else ""))
    for r in runs:
        print(f"\n[{r['device']}] model with {r['genes']:,} genes, batch of {r['cells']:,} cells")
        print(f"  single-point decode            {r['single_point_ms']:8.2f} ms")
        print(f"  batch decode                   {r['batch_cells_per_s']:8.0f} cells/s  ({r['batch_gflops']:.1f} GFLOP/s; scale, theta, dropout logits)")
        print(f"    ... with px_rate materialised {r['batch_with_rate_cells_per_s']:8.0f} cells/s")
        print(f"  torch.mm on the same shape     {r['matmul_gflops']:8.1f} GFLOP/s  -> decode at {100 * r['fraction_of_matmul']:.0f}% of it")
        if "scvi_tools_cells_per_s" in r:
            print(f"  scvi-tools get_normalized_expression {r['scvi_tools_cells_per_s']:8.0f} cells/s  -> scvi-viz {r['speedup_vs_scvi_tools']:.1f}x")
        print(f"  one-gene overlay, 100,000 cells: first call {r['overlay_first_call_s']:.2f} s (computes the normaliser), "
              f"then {r['overlay_cached_ms']:.1f} ms per gene")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
