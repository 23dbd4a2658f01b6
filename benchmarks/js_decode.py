#!/usr/bin/env python3
"""The browser's decoder (``live_decoder.js``) against torch, one point at a time, in one run.

For the demo model (765 genes) and generated models of 16,000 and 30,000 genes (random weights in
scvi-tools' saved format, ``benchmarks/scale_data.py``; 128 hidden units, 10 latent dimensions,
ZINB), prints the bytes the browser is sent once per model, the median and 90th percentile of
one decode in Chromium (Debian's, headless, no GPU) and of ``ScviModel.decode`` of one point on
this CPU, and their ratio. Targets for the browser: 2 / 10 / 20 ms.

Run from the repository root::

    python benchmarks/js_decode.py [--repeat 200] [--json PATH]
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "browser"), str(Path(__file__).resolve().parent)]
from scale_data import write_model  # noqa: E402
from streamlit_server import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

from scvi_viz import load_model  # noqa: E402
from scvi_viz.analysis.walk import point_covariates  # noqa: E402
from scvi_viz.io.sources import DEMO_MODEL  # noqa: E402
from scvi_viz.point import default_point  # noqa: E402

SCRIPT = "\n".join((ROOT / "scvi_viz" / "ui" / "components" / name).read_text(encoding="utf-8")
                   for name in ("messages.js", "live_decoder.js"))  # as components/live_decoder.py joins them
TIME_JS = """
([blob, points, library, covariates]) => {
  const dec = window.scviViz.parseDecoder(blob);
  dec.decode(points[0], library, covariates);  // folds the covariates once, as the first frame of a move does
  const times = [];
  for (const z of points) {
    const t0 = performance.now();
    dec.decode(z, library, covariates);
    times.push(performance.now() - t0);
  }
  return times;
}
"""


def quantiles(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples), statistics.quantiles(samples, n=10, method="inclusive")[-1]


def measure(page, model, repeat: int) -> dict:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(repeat, model.n_latent)).astype(np.float32)
    here = default_point(model.spec)
    blob = model.browser_weights()
    js = page.evaluate(TIME_JS, [base64.b64encode(blob).decode("ascii"), points.tolist(), 1e4,
                                 point_covariates(model.spec, here)])
    torch_ms = []
    for z in points:
        start = time.perf_counter()
        model.decode(z, library_size=1e4, **here.covariates.decode_kwargs())
        torch_ms.append(1e3 * (time.perf_counter() - start))
    js_med, js_p90 = quantiles(js)
    t_med, t_p90 = quantiles(torch_ms)
    return {"genes": model.n_genes, "bytes": len(blob), "js_median_ms": js_med, "js_p90_ms": js_p90,
            "torch_median_ms": t_med, "torch_p90_ms": t_p90, "js_over_torch": js_med / t_med}


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=200, help="points decoded per model")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers here")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="scvi-viz-js-decode-") as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto("about:blank")
        page.add_script_tag(content=SCRIPT, type="module")
        page.wait_for_function("() => !!(window.scviViz && window.scviViz.parseDecoder)")
        models = [("demo", DEMO_MODEL)]
        for n_genes in (16_000, 30_000):
            folder = Path(tmp) / f"model-{n_genes}"
            folder.mkdir()
            write_model(folder / "model.pt", n_genes, 1000)
            models.append((f"generated, {n_genes:,} genes", folder))
        for name, path in models:
            result = {"model": name, **measure(page, load_model(path, device="cpu"), args.repeat)}
            results.append(result)
        chromium = browser.version
        browser.close()
    print(f"{'model':<26}{'genes':>8}{'sent once':>12}{'browser median / p90':>24}{'torch median / p90':>22}{'ratio':>8}")
    for r in results:
        print(f"{r['model']:<26}{r['genes']:>8,}{r['bytes'] / 1e6:>10.1f}MB{r['js_median_ms']:>13.2f} / {r['js_p90_ms']:<8.2f}"
              f"{r['torch_median_ms']:>11.2f} / {r['torch_p90_ms']:<8.2f}{r['js_over_torch']:>7.2f}x")
    print(f"Chromium {chromium} (headless, --disable-gpu); torch on {len(__import__('os').sched_getaffinity(0))} cores")
    if args.json:
        Path(args.json).write_text(json.dumps({"chromium": chromium, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
