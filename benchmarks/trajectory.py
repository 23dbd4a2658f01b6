"""Trajectory benchmark: a path of 50 steps to charts, on the demo, once the kNN graph is cached.

Measured in one run, side by side:

- the library work for a new path between two cells: both kinds of path (straight and through
  the kNN graph), their map positions and distances to the data, decoding the 50 steps, ranking
  the genes, the three path charts and the map with both paths, and each figure serialised to
  JSON as Streamlit sends it;
- one decode of the same 50 points alone (``model.decode``), for scale;
- building the kNN graph (what is cached per model and data);
- the page's server time under ``streamlit.testing`` (its script run, as the server does it):
  a new end cell (the whole page) and a move of the step slider (its fragment only).

Run from the repository root::

    python benchmarks/trajectory.py [--repeats 30] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from decode import cpu_name  # noqa: E402

from scvi_viz.analysis import trajectory as tr  # noqa: E402
from scvi_viz.analysis.workspace import LATENT_UMAP, Workspace  # noqa: E402
from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL  # noqa: E402
from scvi_viz.plots.trajectory import path_charts, path_map_figure  # noqa: E402

N_STEPS = 50


def _ms(fn, repeats: int) -> list[float]:
    out = []
    for i in range(repeats):
        start = time.perf_counter()
        fn(i)
        out.append(1e3 * (time.perf_counter() - start))
    return out


def _summary(ms: list[float]) -> dict[str, float]:
    return {"median_ms": statistics.median(ms), "p90_ms": float(np.percentile(ms, 90))}


def library_path(ws: Workspace, graph: tr.LatentGraph, coords: np.ndarray, a: int, b: int) -> None:
    """What the page computes for a new path between cells ``a`` and ``b``, up to JSON figures."""
    inverse = ws.inverse_map(coords)
    point = ws.cell_point(0)
    z, xy, dist = {}, {}, {}
    for kind in tr.PATH_KINDS:
        z[kind] = tr.latent_path(ws.latent[a], ws.latent[b], kind=kind, n_steps=N_STEPS, graph=graph)
        xy[kind] = np.array([inverse.position_of(p) for p in z[kind]])
        dist[kind] = graph.distance_to_data(z[kind])
    off = tr.off_data(dist["graph"])
    decoded = tr.decode_path(ws.model, z["graph"], point=point)
    charts = path_charts(decoded, decoded.changing_genes(20), relative_distance=dist["graph"], off=off, step=0,
                         ratio=tr.OFF_DATA_RATIO, size_factor=False, gene_note="the 20 genes that change most",
                         subtitle="A → B", caption={})
    for chart in charts.named().values():
        chart.figure.to_json()
    map_inputs = {"coords": coords, "color": ws.obs[ws.model.labels_key].to_numpy(), "color_name": ws.model.labels_key,
                  "hover": ws.cell_hover(), "embedding_name": "UMAP"}
    path_map_figure(map_inputs, xy, kind="graph", off=off, names={"graph": "through the cells", "straight": "straight"},
                    title="Path from A to B", subtitle="A → B").to_json()


def page_times(repeats: int) -> dict[str, dict[str, float]]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page("pages/trajectory.py").run()
    at.run()  # the graph and the UMAP are cached from here on
    cells = at.session_state["_workspace"].obs.index
    radio = at.radio(key="traj_end_w_kind")
    if radio.value != "cell":
        radio.set_value("cell").run()
    rng = np.random.default_rng(1)

    def new_end(_):
        at.text_input(key="traj_end_w_cell").set_value(str(cells[rng.integers(len(cells))])).run()

    def step(i):
        at.slider(key="traj_step").set_value(1 + i % (N_STEPS - 2)).run()

    end_ms, step_ms = _ms(new_end, repeats), _ms(step, repeats)
    assert not at.exception, [e.message for e in at.exception]
    return {"page_new_end_cell": _summary(end_ms), "page_step_slider": _summary(step_ms)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    ws = Workspace.open(DEMO_MODEL, DEMO_DATA)
    coords = ws.embedding(LATENT_UMAP)
    graph_ms = _ms(lambda _: tr.LatentGraph.build(ws.latent), 5)
    graph = tr.LatentGraph.build(ws.latent)
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, ws.n_cells, size=(args.repeats + 3, 2))
    library_path(ws, graph, coords, *pairs[0])  # warm-up: first decode, first figure
    library_ms = _ms(lambda i: library_path(ws, graph, coords, *pairs[i + 1]), args.repeats)
    z = tr.latent_path(ws.latent[0], ws.latent[1], n_steps=N_STEPS).astype(np.float32)
    point = ws.cell_point(0)
    decode_ms = _ms(lambda _: ws.model.decode(z, library_size=point.library_size, **point.covariates.decode_kwargs()).rate,
                    args.repeats)
    results = {
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "torch": torch.__version__,
                    "torch_threads": torch.get_num_threads(), "load_average": os.getloadavg()},
        "model": {"genes": ws.model.n_genes, "cells": ws.n_cells, "steps": N_STEPS},
        "knn_graph_build": _summary(graph_ms),
        "path_to_charts": _summary(library_ms),
        "one_decode_of_the_50_points": _summary(decode_ms),
        **page_times(args.repeats),
    }
    m = results["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads), "
          f"load average {m['load_average'][0]:.1f}")
    print(f"demo: {ws.n_cells} cells, {ws.model.n_genes} genes, paths of {N_STEPS} steps; median / p90 of {args.repeats}")
    rows = [("kNN graph built (cached per model and data)", "knn_graph_build"),
            ("new path -> charts as JSON (library, graph cached)", "path_to_charts"),
            ("... one decode of the same 50 points alone", "one_decode_of_the_50_points"),
            ("page: new end cell -> page run (whole page)", "page_new_end_cell"),
            ("page: step slider -> fragment run", "page_step_slider")]
    for label, key in rows:
        r = results[key]
        print(f"  {label:<52} {r['median_ms']:7.1f} / {r['p90_ms']:7.1f} ms")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
