"""Jacobian benchmark: what every latent direction does to every gene, at one point.

Writes a 16,000-gene scVI model with 30 latent dimensions (``benchmarks/scale_data.py``'s
``write_model`` with its ``N_LATENT`` set to 30: seeded random weights in scvi-tools' saved
format, 128 hidden units, one layer, two batches) into a temporary folder, loads it with
``scvi_viz.load_model`` on the CPU and measures, side by side, over the same random points:

- ``ScviModel.log_scale_jacobian`` at one point, every gene (``16,000 x 30``);
- the same for a gene set of 20 genes (the "more of" direction);
- one ``ScviModel.decode`` of one point, for scale (the ratio is Jacobian / decode).

Median and 90th percentile of ``--repeats`` runs (after 3 warm-up runs; the three take turns point by
point, so that a busy machine slows them alike), printed as a table with the load average.
Target: the Jacobian of every gene at one point in at most 50 ms on this CPU.

Run from the repository root::

    python benchmarks/jacobian.py [--genes 16000] [--latent 30] [--repeats 20] [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import scale_data  # noqa: E402
from decode import cpu_name  # noqa: E402

from scvi_viz import load_model  # noqa: E402

TARGET_MS = 50.0


def _ms(fns: dict, points: np.ndarray, repeats: int, warmup: int = 3) -> dict[str, list[float]]:
    """Milliseconds of each ``fn(point)`` over ``repeats`` points, the functions taking turns point by point
    (so that a busy machine slows all of them alike); the first ``warmup`` points are not counted."""
    out: dict[str, list[float]] = {name: [] for name in fns}
    for i in range(warmup + repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn(points[i % len(points)])
            if i >= warmup:
                out[name].append(1e3 * (time.perf_counter() - start))
    return out


def _p90(values: list[float]) -> float:
    return float(np.percentile(values, 90))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genes", type=int, default=16_000)
    parser.add_argument("--latent", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1),
                        help="torch CPU threads (default 2: this machine's cores)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    scale_data.N_LATENT = args.latent  # the module's setting, read when the model is written
    with tempfile.TemporaryDirectory(prefix="scvi-viz-jacobian-") as tmp:
        folder = Path(tmp)
        scale_data.write_model(folder / "model.pt", args.genes, 1000)
        model = load_model(folder, device="cpu")
    assert (model.n_genes, model.n_latent) == (args.genes, args.latent), model

    points = np.random.default_rng(0).standard_normal((args.repeats + 3, model.n_latent))
    gene_set = model.genes[:: max(model.n_genes // 20, 1)][:20]
    rows = _ms({
        "Jacobian, every gene": lambda z: model.log_scale_jacobian(z, batch="b1"),
        "Jacobian, 20 genes": lambda z: model.log_scale_jacobian(z, batch="b1", genes=gene_set),
        "decode, one point": lambda z: model.decode(z, batch="b1"),
    }, points, args.repeats)
    decode_median = statistics.median(rows["decode, one point"])
    print(f"{model.n_genes:,} genes x {model.n_latent} latent dimensions, {model.spec.n_hidden} hidden units; "
          f"{cpu_name()}, {args.threads} torch thread(s); {args.repeats} runs each; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'':24s} {'median ms':>10s} {'p90 ms':>10s} {'x decode':>10s}")
    results = {"genes": model.n_genes, "latent": model.n_latent, "threads": args.threads, "cpu": cpu_name(),
               "load_average": os.getloadavg()[0], "target_ms": TARGET_MS}
    for name, times in rows.items():
        median = statistics.median(times)
        print(f"{name:24s} {median:10.1f} {_p90(times):10.1f} {median / decode_median:10.1f}")
        results[name] = {"median_ms": median, "p90_ms": _p90(times), "ratio_to_decode": median / decode_median}
    full = results["Jacobian, every gene"]["median_ms"]
    print(f"target: every gene's Jacobian at one point in <= {TARGET_MS:.0f} ms: "
          f"{'met' if full <= TARGET_MS else 'NOT met'} ({full:.1f} ms)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
