#!/usr/bin/env python3
"""Many users at once: Chromium sessions clicking and sliding against one app server.

Starts the app (``app.py``, the built-in demo) on a free port of 127.0.0.1, then runs the
same scripted session twice: alone (the single-user figure), and ``--sessions`` times at
once (default 10), each in its own Chromium process for ``--seconds`` (default 30 on this
project's 2-core machine; ``--seconds 60`` for the issue's minute). A session repeats: click
a map cell (a different one each time, drawn from the session's own random stream), pick a
batch value, press the arrow keys on a latent slider (its own dimensions and directions); the
first session also drags a latent thumb across its range (pointer events every 16 ms), whose
chart updates per second and event -> chart latency are reported alone and with the others busy.
After every action it checks that no exception box is shown and records what the page says
the point is (the clicked cell, each moved slider's value, the batch) and what the decoded
figure shows (the top genes and their normalised expression). Afterwards this process opens
the same demo itself and decodes each recorded point directly: every recorded figure must
show exactly those genes and values (relative tolerance 1e-4, what the figure's JSON keeps).

Reported: the p90 (and median) interaction latency under load next to the single-user
figure, measured as in ``benchmarks/interaction.py`` (event to every chart redrawn), and the
server's memory: peak resident set size (``VmHWM``) and the largest ``VmRSS`` sampled in each
phase.

Run from the repository root::

    python benchmarks/load.py [--sessions 10] [--seconds 30] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "browser"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import interaction as bench  # noqa: E402 (the interaction benchmark's page helpers)
from streamlit_server import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, StreamlitServer  # noqa: E402

TOP_GENES_TITLE = "Decoded at the current point"
BATCH_LABEL = "phase (batch covariate)"
NO_EXCEPTION = '[data-testid="stException"]'

FIGURE_JS = """
(part) => {
  const el = [...document.querySelectorAll('.js-plotly-plot')].find(e => !e.closest('[data-stale="true"]')
    && e.offsetParent !== null && e._fullLayout && String((e._fullLayout.title || {}).text || '').includes(part));
  if (!el || !el._fullData || !el._fullData.length) return null;
  const t = el._fullData[0];
  return {genes: Array.from(t.y), scale: Array.from(t.customdata)};
}
"""


def _point_text(page) -> str:
    text = page.evaluate("document.body.innerText")
    found = re.search(r"Current point:\s*(.+)", text)
    return found.group(1).strip() if found else ""


def _click_cell(page, rng: random.Random, last_click: float) -> tuple[dict, float] | None:
    """Hover and click a random cell of the map (as ``bench.map_clicks`` does); ``None`` if plotly gave the hover elsewhere."""
    candidates = [c for c in page.evaluate(bench.CELLS_JS) if c["gap"] > 4]
    cell = rng.choice(candidates)
    at = page.evaluate(bench.POSITION_JS, [cell["trace"], cell["cell"]])
    page.mouse.move(1, 1)
    page.evaluate(bench.CLEAR_HOVER_JS)
    page.mouse.move(at["X"], at["Y"])
    if page.wait_for_function(bench.HOVERED_JS, timeout=10_000).json_value() != [cell["trace"], cell["cell"]]:
        return None
    time.sleep(max(0.0, last_click + 0.55 - time.monotonic()))  # past plotly's 500 ms double-click window
    last_click = time.monotonic()
    return bench.measure(page, "mousedown", lambda: page.mouse.click(at["X"], at["Y"])), last_click


def _point_batch(page) -> str:
    """The point's batch, as the line beside *Edit* writes it ("... · phase G1 · ...")."""
    found = re.search(r"phase (\S+)", page.evaluate("document.body.innerText"))
    return found.group(1) if found else ""


def _choose_batch(page, value: str) -> dict | None:
    box = page.get_by_role("combobox", name=BATCH_LABEL)
    if not box.is_visible():
        page.get_by_role("button", name="Edit").click()  # the point's library size and covariates
    if box.input_value() == value:
        return None
    box.scroll_into_view_if_needed()
    box.click()
    option = page.get_by_role("option", name=value, exact=True)
    option.wait_for(timeout=10_000)
    # Only the decoded figure changes (the point, and so the map's cross, stays where it is).
    page.evaluate(bench.ARM_JS, "mousedown")
    page.evaluate("() => { const b = window.__bench; b.before = {'st-key-point_chart': b.before['st-key-point_chart']}; }")
    option.click()
    result = page.evaluate(bench.MEASURE_JS, bench.INTERACTION_TIMEOUT_MS)
    page.keyboard.press("Escape")  # close the popover again
    if result["ms"] is None:
        raise RuntimeError(f"no redraw within {bench.INTERACTION_TIMEOUT_MS} ms after choosing batch {value}: {result}")
    return result


def session(k: int, url: str, seconds: float, batches: list[str], barrier) -> dict:
    """One user: returns latencies, records of what the page showed, and exception boxes seen."""
    from playwright.sync_api import sync_playwright

    rng = random.Random(k)
    out = {"session": k, "latency_ms": [], "kinds": [], "records": [], "exceptions": [], "skipped_clicks": 0, "drags": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport=VIEWPORT).new_page()
            sent = bench._frames_sent(page)
            page.add_init_script(bench.HELPERS_JS)
            page.goto(url)
            bench.wait_ready(page, 2, "Download report bundle")
            # Preview on hover off: clicks are measured from the click, not from the hover before it.
            page.evaluate("() => { (window.scviViz = window.scviViz || {decoders: {}, cells: {}, maps: {}}).hoverPreview = false; }")
            n_dims = page.locator('input[type="range"][aria-label^="latent dimension"]').count()
            if barrier is not None:
                barrier.wait(timeout=600)
            deadline = time.monotonic() + seconds
            moved: dict[int, float] = {}
            cell = _point_text(page).removeprefix("cell ").split(" ")[0]
            last_click, step = -1.0, 0
            while time.monotonic() < deadline:
                kind = ("click", "batch", "slide", "slide", "drag" if k == 0 else "slide")[step % 5]
                step += 1
                if kind == "drag":
                    drag, _ = bench.drags(page, sent, 1)
                    out["drags"].append(drag[0])
                    cell = None
                    continue
                if kind == "click":
                    done = _click_cell(page, rng, last_click)
                    if done is None:
                        out["skipped_clicks"] += 1
                        continue
                    result, last_click = done
                    origin = _point_text(page)
                    if not origin.startswith("cell "):
                        out["exceptions"].append(f"a click on a cell gave the point {origin!r}")
                        continue
                    cell, moved = origin.removeprefix("cell ").split(" ")[0], {}
                elif cell is None:
                    continue  # after a drag, until the next click: the point is no longer a cell's plus known moves
                elif kind == "batch":
                    result = _choose_batch(page, rng.choice(batches))
                    if result is None:
                        continue
                else:
                    dim = rng.randrange(n_dims)
                    slider = page.locator(f'input[type="range"][aria-label="latent dimension {dim + 1}"]')
                    slider.focus()
                    key = rng.choice(["ArrowRight", "ArrowLeft"])
                    result = bench.measure(page, "keydown", lambda key=key: page.keyboard.press(key))
                    page.wait_for_function("() => window.__bench.idle()", timeout=bench.READY_TIMEOUT_MS)
                    moved[dim] = float(slider.input_value())
                page.wait_for_function("() => window.__bench.idle()", timeout=bench.READY_TIMEOUT_MS)
                out["latency_ms"].append(result["ms"])
                out["kinds"].append(kind)
                if page.locator(NO_EXCEPTION).count():
                    out["exceptions"].append(page.locator(NO_EXCEPTION).first.inner_text()[:300])
                shown = page.evaluate(FIGURE_JS, TOP_GENES_TITLE)
                out["records"].append({"cell": cell, "moved": {str(d): v for d, v in moved.items()},
                                       "batch": _point_batch(page),
                                       "shown": shown})
        finally:
            browser.close()
    return out


def verify(records: list[dict]) -> list[str]:
    """Decode every recorded point directly; the differences from what the page showed."""
    from dataclasses import replace

    import numpy as np

    from scvi_viz.analysis.workspace import Workspace
    from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL

    ws = Workspace.open(DEMO_MODEL, DEMO_DATA, device="cpu")
    index = {str(c): i for i, c in enumerate(ws.obs.index)}
    genes = ws.model.genes
    problems = []
    for r in records:
        if r["shown"] is None:
            problems.append(f"no decoded figure for {r}")
            continue
        point = ws.cell_point(index[r["cell"]])
        z = list(point.z)
        for d, v in r["moved"].items():
            z[int(d)] = v
        point = replace(point, z=tuple(z), batch=r["batch"])
        scale = ws.model.decode(**point.decode_kwargs()).scale[0].numpy().astype(np.float64)
        top = [genes[i] for i in np.argsort(-scale, kind="stable")[: len(r["shown"]["genes"])]]
        shown = dict(zip(r["shown"]["genes"], r["shown"]["scale"]))
        if set(shown) != set(top):
            problems.append(f"cell {r['cell']} moved {r['moved']} batch {r['batch']}: shows {sorted(set(shown) - set(top))[:3]} "
                            f"instead of {sorted(set(top) - set(shown))[:3]}")
            continue
        for gene, value in shown.items():
            expected = scale[genes.index(gene)]
            if not abs(value - expected) <= 1e-4 * abs(expected):
                problems.append(f"cell {r['cell']} moved {r['moved']} batch {r['batch']}: {gene} shows {value}, decode gives {expected}")
                break
    return problems


class MemoryWatch:
    """Samples the server's VmRSS every 0.2 s in a thread; ``peak()`` since the last ``reset()``."""

    def __init__(self, pid: int):
        self.pid, self._peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def status(self, field: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            with contextlib.suppress(OSError):
                self._peak = max(self._peak, self.status("VmRSS"))

    def reset(self) -> None:
        self._peak = self.status("VmRSS")

    def peak(self) -> int:
        return self._peak

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def phase(name: str, n: int, url: str, seconds: float, memory: MemoryWatch) -> dict:
    from scvi_viz.io.model_file import read_model_spec
    from scvi_viz.io.sources import DEMO_MODEL

    batches = list(read_model_spec(DEMO_MODEL).batches)
    print(f"{name}: {n} session(s) for {seconds:.0f} s ...", flush=True)
    memory.reset()
    ctx = get_context("spawn")
    with ctx.Manager() as manager, ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
        barrier = manager.Barrier(n) if n > 1 else None
        runs = list(pool.map(session, range(n), [url] * n, [seconds] * n, [batches] * n, [barrier] * n))
    latencies = [ms for r in runs for ms in r["latency_ms"]]
    result = bench.summary(latencies)
    result.pop("samples_ms")
    result.update({
        "sessions": n,
        "by_kind_p90_ms": {k: bench.summary([ms for r in runs for ms, kind in zip(r["latency_ms"], r["kinds"]) if kind == k])["p90_ms"]
                           for k in ("click", "batch", "slide") if any(k in r["kinds"] for r in runs)},
        "interactions_per_session": [len(r["latency_ms"]) for r in runs],
        "exceptions": [e for r in runs for e in r["exceptions"]],
        "server_peak_rss_mb": memory.peak() / 2**20,
        "records": [rec for r in runs for rec in r["records"]],
        "drag": bench.gesture_summary([d for r in runs for d in r["drags"]]) if any(r["drags"] for r in runs) else None,
    })
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10, help="sessions at once in the load phase")
    parser.add_argument("--seconds", type=float, default=30, help="how long each session clicks and slides")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers here")
    args = parser.parse_args(argv)
    if not os.access(CHROMIUM, os.X_OK):
        raise SystemExit(f"{CHROMIUM} is missing (apt-get install chromium; never `playwright install`)")

    def on_sigterm(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_sigterm)
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory(prefix="scvi-viz-load-") as work:
        server = StreamlitServer(Path(work) / "app.log", env={"SCVI_VIZ_CACHE_DIR": str(Path(work) / "cache")})
        stack.callback(server.stop)
        server.wait_healthy()
        memory = MemoryWatch(server.proc.pid)
        stack.callback(memory.stop)
        load_before = os.getloadavg()
        single = phase("single user", 1, server.url, args.seconds, memory)
        loaded = phase("under load", args.sessions, server.url, args.seconds, memory)
        hwm = memory.status("VmHWM")
        load_after = os.getloadavg()
    print("checking every recorded figure against a direct decode ...", flush=True)
    problems = verify(single["records"] + loaded["records"])
    n_records = len(single["records"]) + len(loaded["records"])
    results = {"single": single, "loaded": loaded, "server_vmhwm_mb": hwm / 2**20, "checked_figures": n_records,
               "mismatches": problems, "machine": bench.machine(), "load_before": load_before, "load_after": load_after,
               "settings": {"sessions": args.sessions, "seconds": args.seconds}}
    print()
    print(f"{'phase':<14}{'sessions':>9}{'actions':>9}{'median ms':>11}{'p90 ms':>9}{'p90 click/batch/slide ms':>27}{'peak RSS MB':>13}")
    for name, r in (("single user", single), ("under load", loaded)):
        kinds = "/".join(f"{r['by_kind_p90_ms'].get(k, float('nan')):.0f}" for k in ("click", "batch", "slide"))
        print(f"{name:<14}{r['sessions']:>9}{r['n']:>9}{r['median_ms']:>11.0f}{r['p90_ms']:>9.0f}{kinds:>27}{r['server_peak_rss_mb']:>13.0f}")
    print(f"p90 under load / single user: x{loaded['p90_ms'] / single['p90_ms']:.2f}; server peak RSS (VmHWM) {hwm / 2**20:.0f} MB")
    for name, r in (("alone", single), (f"with {args.sessions - 1} others busy", loaded)):
        d = r["drag"]
        if d:
            print(f"first session's drags, {name}: {d['updates_per_s']:.0f} chart updates/s, event -> chart median "
                  f"{d['latency_median_ms']:.1f} ms, p90 {d['latency_p90_ms']:.1f} ms, {d['frames_sent_to_server']} "
                  f"frames sent to the server during {d['gestures']} drags")
    print(f"exception boxes: {len(single['exceptions']) + len(loaded['exceptions'])}; figures checked against a direct "
          f"decode: {n_records}, mismatches: {len(problems)}")
    for p in (single["exceptions"] + loaded["exceptions"] + problems)[:10]:
        print("  ", p)
    m = results["machine"]
    print(f"machine: {m['cpu_model']}, {m['cores_usable']} usable cores; {m['platform']}; "
          + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
          + f"; load average (1 min) before / after: {load_before[0]:.2f} / {load_after[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    ok = not problems and not single["exceptions"] and not loaded["exceptions"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
