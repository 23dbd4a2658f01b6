#!/usr/bin/env python3
"""How long the app takes to answer a user, measured in a real browser.

Starts two servers on free ports of 127.0.0.1 -- the app (``app.py`` with the project's
settings) and ``benchmarks/minimal_app.py`` (one slider, one 10-bar chart; run from a copy in a
temporary folder, so with Streamlit's default settings) -- drives them in Debian's Chromium and
reports the median and 90th percentile of:

(a) a key press on "latent dimension 1" until every chart shows new values: the decoded
    charts, and the map's current-point cross (drawn over the map by scvi_viz/ui/components/map_point.js);
(b) a click on a cell of the map until all charts show new values (preview on hover off, so
    that the click, not the hover before it, moves the point);
(c) a key press on the minimal app's slider until its chart shows new values;
(d) a drag of the "latent dimension 1" thumb across its range, pointer events every 16 ms: chart
    updates per second, event -> chart updated (the browser decodes the point: no server
    request), frames sent to the server during the drag, and the release until the server's
    numbers replace the browser's;
(e) the mouse moved over the map with *preview on hover*, every 16 ms: the same measures;

plus the cold start (process start until the map and charts are drawn) and the warm reload
(``page.reload()`` until they are drawn again).

How a measurement is taken: the page records ``performance.now()`` in a capture-phase listener
when the real key or mouse event arrives (``page.keyboard.press`` / ``page.mouse.click``); one
``page.evaluate`` then polls every chart's ``_fullData`` in a requestAnimationFrame loop and
returns the milliseconds from that event to the first frame in which every chart's data differs
from its data before the event. Resolution is one animation frame (~16.7 ms).

Run from the repository root::

    python benchmarks/interaction.py [--n 20] [--warmup 2] [--reloads 5] [--traversal] [--json PATH]

``--traversal`` measures with Explore's traversal chart shown (off by default in the app): it is
one more chart that every move redraws, and the measures wait for it too.

Both servers are stopped at the end, also on errors and on Ctrl-C / SIGTERM. Numbers depend on
the machine and on what else runs on it: the CPU model, core count and load are printed with them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MINIMAL_APP = Path(__file__).resolve().parent / "minimal_app.py"
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from streamlit_server import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, StreamlitServer  # noqa: E402 (the tests' server)

SLIDER = "latent dimension 1"
READY_TIMEOUT_MS = 120_000
INTERACTION_TIMEOUT_MS = 30_000

# Installed in every page (also after reloads): chart signatures and "is the page drawn".
HELPERS_JS = r"""
window.__bench = {
  sig(el) {
    // Explore's traversal chart is plain SVG (scvi_viz/ui/components/live_traversal.js): its lines and current mark.
    if (el.classList.contains('scvi-viz-traversal')) {
      return el.dataset.current + ';' + [...el.querySelectorAll('path.line')].map((l) => l.getAttribute('d')).join(';');
    }
    const fd = el._fullData;
    if (!fd || !fd.length) return null;
    // The map's current point is a cross drawn over it (scvi_viz/ui/components/map_point.js), not plotly data.
    const cross = el.querySelector('svg.scvi-viz-point');
    const point = cross ? `point ${cross.dataset.x},${cross.dataset.y};` : '';
    if (el.__benchCache && el.__benchCache.ref === fd) return point + el.__benchCache.sig;
    const parts = [];
    for (const t of fd) {
      for (const key of ['x', 'y']) {
        const a = t[key];
        if (a == null) { parts.push('-'); continue; }
        let s = 0, w = 0, text = '';
        for (let i = 0; i < a.length; i++) {
          const v = a[i];
          if (typeof v === 'number') { s += v; w += v * ((i % 101) + 1); } else { text += v + '|'; }
        }
        parts.push(a.length + ':' + s + ':' + w + ':' + text);
      }
    }
    const sig = parts.join(';');
    el.__benchCache = {ref: fd, sig};
    return point + sig;
  },
  // The charts on screen, by element key: during a rerun Streamlit keeps hidden or faded
  // ("stale") copies of elements next to the new ones, so only fresh, visible charts count.
  charts() {
    const out = {};
    document.querySelectorAll('[data-testid="stElementContainer"]').forEach((box, i) => {
      const el = box.querySelector('.js-plotly-plot, .scvi-viz-traversal');
      if (!el || box.dataset.stale === 'true' || el.offsetParent === null) return;
      if (el.parentElement.closest('[data-testid="stElementContainer"]') !== box) return;
      const key = [...box.classList].find(c => c.startsWith('st-key-')) || ('chart-' + i);
      out[key] = el;
    });
    return out;
  },
  sigs() {
    const out = {};
    for (const [key, el] of Object.entries(this.charts())) out[key] = this.sig(el);
    return out;
  },
  idle() {
    const app = document.querySelector('[data-testid="stApp"]');
    return !!app && app.dataset.testScriptState === 'notRunning' && app.dataset.testConnectionState === 'CONNECTED';
  },
  // At least n charts, every chart on screen drawn, and the script done.
  ready(n, text) {
    const charts = [...document.querySelectorAll('.js-plotly-plot')];
    const drawn = charts.filter(el => el._fullData && el._fullData.length);
    return charts.length >= n && drawn.length === charts.length && this.idle()
      && (!text || document.body.innerText.includes(text));
  },
};
"""

ARM_JS = """
(eventType) => {
  const b = window.__bench;
  b.before = b.sigs();
  b.t0 = null;
  window.addEventListener(eventType, () => { if (b.t0 === null) b.t0 = performance.now(); }, {capture: true, once: true});
  return Object.keys(b.before);
}
"""

MEASURE_JS = """
async (timeoutMs) => {
  const b = window.__bench;
  const start = performance.now();
  const app = document.querySelector('[data-testid="stApp"]');
  const keys = Object.keys(b.before);
  const changedAt = {};                 // ms after the event at which each chart showed new data
  let runStart = null, runEnd = null;   // Streamlit's script state, as the page saw it
  return await new Promise(resolve => {
    const tick = () => {
      const now = performance.now();
      if (b.t0 !== null) {
        const state = app && app.dataset.testScriptState;
        if (state === 'running' && runStart === null) runStart = now - b.t0;
        if (state !== 'running' && runStart !== null && runEnd === null) runEnd = now - b.t0;
        const s = b.sigs();
        for (const k of keys) if (!(k in changedAt) && s[k] != null && s[k] !== b.before[k]) changedAt[k] = now - b.t0;
        if (keys.every(k => k in changedAt)) {
          resolve({ms: now - b.t0, charts: keys.length, changedAt, runStart, runEnd});
          return;
        }
        if (now - start > timeoutMs) { resolve({ms: null, charts: keys.length, changedAt, runStart, runEnd}); return; }
      } else if (now - start > timeoutMs) {
        resolve({ms: null, charts: keys.length, changedAt, error: 'the event never reached the page'});
        return;
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
}
"""

CELLS_JS = """
() => {
  const el = window.__bench.charts()['st-key-umap'];
  const fl = el._fullLayout, r = el.getBoundingClientRect(), s = fl._size;
  const px = x => r.left + s.l + fl.xaxis.d2p(x), py = y => r.top + s.t + fl.yaxis.d2p(y);
  const cells = [];
  el.__scviVizMap.traces().forEach((t, ti) => {  // the live map's traces with their points (plotly has none)
    if (ti === 0 || !t.customdata) return;
    for (let i = 0; i < t.x.length; i++) cells.push({trace: ti, cell: t.customdata[i], X: px(t.x[i]), Y: py(t.y[i])});
  });
  const inside = c => c.X > r.left + s.l + 15 && c.X < r.left + s.l + s.w - 15 && c.Y > r.top + s.t + 15 && c.Y < r.top + s.t + s.h - 15;
  return cells.filter(inside).map(c => {
    let gap = Infinity;
    for (const o of cells) if (o !== c) gap = Math.min(gap, Math.hypot(o.X - c.X, o.Y - c.Y));
    return {...c, gap};
  });
}
"""

POSITION_JS = """
([trace, cell]) => {
  const el = window.__bench.charts()['st-key-umap'];
  let r = el.getBoundingClientRect();
  if (r.top < 0 || r.bottom > window.innerHeight) { el.scrollIntoView({block: 'center', behavior: 'instant'}); r = el.getBoundingClientRect(); }
  const fl = el._fullLayout, s = fl._size, t = el.__scviVizMap.traces()[trace];
  const i = Array.from(t.customdata).indexOf(cell);
  return {X: r.left + s.l + fl.xaxis.d2p(t.x[i]), Y: r.top + s.t + fl.yaxis.d2p(t.y[i])};
}
"""

DOUBLE_CLICK_JS = """
() => window.__bench.charts()['st-key-umap']._context.doubleClickDelay
"""

# The live walk (scvi_viz/ui/components/latent_walk.js) lives in a shadow root; it counts the frames it
# draws in data-frames. Each pointer move and each drawn frame is timed in the page.
WALK_ARM_JS = """
() => {
  const host = [...document.querySelectorAll('*')].find(e => e.shadowRoot && e.shadowRoot.querySelector('.scvi-viz-walk'));
  const root = host.shadowRoot.querySelector('.scvi-viz-walk');
  const rec = window.__walk = {moves: [], frames: [], root};
  if (!window.__walkListening) {
    window.__walkListening = true;
    window.addEventListener('pointermove', () => window.__walk && window.__walk.moves.push(performance.now()), {capture: true});
  }
  rec.observer = new MutationObserver(() => rec.frames.push(performance.now()));
  rec.observer.observe(root, {attributes: true, attributeFilter: ['data-frames']});
  return root.dataset.frames || '0';
}
"""

WALK_RESULT_JS = """
() => {
  const rec = window.__walk;
  rec.observer.disconnect();
  // Per drawn frame: from the first pointer move after the previous frame to this frame.
  const latencies = [];
  let i = 0, last = -Infinity;
  for (const t of rec.frames) {
    while (i < rec.moves.length && rec.moves[i] <= last) i++;
    if (i < rec.moves.length && rec.moves[i] <= t) latencies.push(t - rec.moves[i]);
    last = t;
  }
  const span = rec.moves.length > 1 ? rec.moves[rec.moves.length - 1] - rec.moves[0] : NaN;
  return {moves: rec.moves.length, frames: rec.frames.length, span_ms: span, latencies};
}
"""

RELEASE_ARM_JS = """
() => {
  window.__release = {t0: null};
  window.addEventListener('pointerup', () => { window.__release.t0 = performance.now(); }, {capture: true, once: true});
}
"""

# From the release of the thumb to the frame in which the walk shows the server's numbers.
RELEASE_MEASURE_JS = """
async (timeoutMs) => {
  const host = [...document.querySelectorAll('*')].find(e => e.shadowRoot && e.shadowRoot.querySelector('.scvi-viz-walk'));
  const title = () => host.shadowRoot.querySelector('.scvi-viz-walk .chart .title');
  const start = performance.now();
  return await new Promise(resolve => {
    const tick = () => {
      const t0 = window.__release.t0;
      if (t0 !== null && title().dataset.source === 'server') { resolve(performance.now() - t0); return; }
      if (performance.now() - start > timeoutMs) { resolve(null); return; }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
}
"""

# What a click at the mouse picks on the map: [trace, customdata]. The live map (live_map.js)
# picks and labels its cells itself (plotly draws none of them); other charts are plotly's.
HOVERED_JS = """
() => {
  const el = window.__bench.charts()['st-key-umap'];
  if (el.__scviVizPick) return el.__scviVizHover || false;
  const h = el._hoverdata;
  return !!h && h.length > 0 && [h[0].curveNumber, h[0].customdata === undefined ? null : h[0].customdata];
}
"""
CLEAR_HOVER_JS = "() => { const el = window.__bench.charts()['st-key-umap']; el._hoverdata = null; el.__scviVizHover = null; }"


# ------------------------------------------------------------------------------- measuring
def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    p90 = statistics.quantiles(ordered, n=10, method="inclusive")[-1] if len(ordered) > 1 else ordered[0]
    return {"n": len(ordered), "median_ms": statistics.median(ordered), "p90_ms": p90,
            "min_ms": ordered[0], "max_ms": ordered[-1], "samples_ms": [round(v, 2) for v in samples]}


def wait_ready(page, n_charts: int, text: str | None = None) -> float:
    """Wait until the page is drawn; returns performance.now() (ms since navigation) at that frame."""
    handle = page.wait_for_function(
        "([n, text]) => window.__bench && window.__bench.ready(n, text) && performance.now()",
        arg=[n_charts, text], polling="raf", timeout=READY_TIMEOUT_MS)
    return float(handle.json_value())


def show_traversal(page) -> None:
    """Turn on Explore's traversal chart (*Directions* > *Chart what moving one slider does*); the
    address keeps it, so reloads keep it too."""
    page.get_by_role("button", name="Directions").click()
    page.get_by_text("Chart what moving one slider does").click()
    page.keyboard.press("Escape")
    page.wait_for_function("() => window.location.href.includes('show_traversal')", timeout=READY_TIMEOUT_MS)
    wait_ready(page, 3, "Download report bundle")


def measure(page, event_type: str, act) -> dict:
    """Arm the page, run ``act()`` (a real key press or click), return the page's measurement."""
    page.wait_for_function("() => window.__bench.idle()", timeout=READY_TIMEOUT_MS)
    page.evaluate(ARM_JS, event_type)
    act()
    result = page.evaluate(MEASURE_JS, INTERACTION_TIMEOUT_MS)
    if result["ms"] is None:
        raise RuntimeError(f"no redraw within {INTERACTION_TIMEOUT_MS} ms after {event_type}: {result}")
    return result


def slider_presses(page, label: str, n: int) -> list[dict]:
    page.bring_to_front()  # a background tab's timers and animation frames are throttled
    slider = page.locator(f'input[type="range"][aria-label="{label}"]')
    results = []
    for i in range(n):
        key = "ArrowRight" if (i // 40) % 2 == 0 else "ArrowLeft"
        slider.focus()
        results.append(measure(page, "keydown", lambda k=key: page.keyboard.press(k)))
    return results


def interaction_summary(results: list[dict]) -> dict:
    """Median/p90 of the full redraw, plus when each chart and the script run finished (medians)."""
    out = summary([r["ms"] for r in results])
    out["charts"] = sorted(results[0]["changedAt"])
    out["per_chart_median_ms"] = {k.removeprefix("st-key-"): statistics.median(r["changedAt"][k] for r in results)
                                  for k in out["charts"]}
    ends = [r["runEnd"] for r in results if r.get("runEnd") is not None]
    out["script_done_median_ms"] = statistics.median(ends) if ends else None
    return out


def map_clicks(page, n: int) -> tuple[list[dict], int]:
    """Click ``n`` different cells; returns (measurements, cells skipped).

    Each cell is hovered first, as a mouse does; a cell whose hover plotly gives to something
    else (the invisible click grid, or a cell drawn over it) is skipped, so every measured
    click really is a click on a cell. Clicks are spaced by more than the map's double-click
    window (plotly's ``doubleClickDelay``, 500 ms): a second mouse-down inside it is a
    double-click, which plotly answers by also resetting the map's axes.
    """
    page.bring_to_front()  # a background tab's timers and animation frames are throttled
    page.wait_for_function("() => window.__bench.idle()", timeout=READY_TIMEOUT_MS)
    # Preview on hover off: a hovered cell would already show its point (and the x) before the click.
    page.evaluate("() => { (window.scviViz = window.scviViz || {decoders: {}, cells: {}, maps: {}}).hoverPreview = false; }")
    double_click_s = page.evaluate(DOUBLE_CLICK_JS) / 1000 + 0.05
    last_click = -double_click_s
    candidates = sorted((c for c in page.evaluate(CELLS_JS) if c["gap"] > 4), key=lambda c: -c["gap"])
    samples, skipped, previous, i = [], 0, None, 0
    while len(samples) < n:
        if i >= 4 * len(candidates) or skipped > 10 * n:
            raise RuntimeError(f"could not find cells to click: {len(samples)} clicks, {skipped} cells skipped")
        cell = candidates[i % len(candidates)]
        i += 1
        if previous is not None and ((cell["X"] - previous["X"]) ** 2 + (cell["Y"] - previous["Y"]) ** 2) ** 0.5 < 40:
            continue  # far from the last click, so that the marker never covers this cell
        page.wait_for_function("() => window.__bench.idle()", timeout=READY_TIMEOUT_MS)
        at = page.evaluate(POSITION_JS, [cell["trace"], cell["cell"]])  # where it is drawn now
        page.mouse.move(1, 1)
        page.evaluate(CLEAR_HOVER_JS)
        page.mouse.move(at["X"], at["Y"])
        if page.wait_for_function(HOVERED_JS, timeout=10_000).json_value() != [cell["trace"], cell["cell"]]:
            skipped += 1
            continue
        time.sleep(max(0.0, last_click + double_click_s - time.monotonic()))
        last_click = time.monotonic()
        samples.append(measure(page, "mousedown", lambda a=at: page.mouse.click(a["X"], a["Y"])))
        previous = cell
    return samples, skipped


def _frames_sent(page) -> list:
    sent: list = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    return sent


def walk_summary(result: dict, sent: int) -> dict:
    """Updates per second, event -> chart latency (median, p90) and server frames sent, of one gesture."""
    lat = sorted(result["latencies"])
    return {"pointer_events": result["moves"], "chart_updates": result["frames"],
            "updates_per_s": 1e3 * result["frames"] / result["span_ms"] if result["span_ms"] else None,
            "latency_median_ms": statistics.median(lat) if lat else None,
            "latency_p90_ms": statistics.quantiles(lat, n=10, method="inclusive")[-1] if len(lat) > 1 else None,
            "frames_sent_to_server": sent}


def drags(page, sent: list, n: int, steps: int = 60, interval_s: float = 0.016) -> tuple[list[dict], list[float]]:
    """``n`` drags of the first latent thumb across its range; returns (per-drag summaries, release ms)."""
    page.bring_to_front()
    slider = page.locator('.scvi-viz-walk input[type="range"][aria-label="latent dimension 1"]')
    out, releases = [], []
    for k in range(n):
        page.wait_for_function("() => window.__bench.idle()", timeout=READY_TIMEOUT_MS)
        box = slider.bounding_box()
        y = box["y"] + box["height"] / 2
        xs = [box["x"] + box["width"] * (0.05 + 0.9 * i / steps) for i in range(steps + 1)]
        if k % 2:
            xs = xs[::-1]
        page.mouse.move(xs[0], y)
        page.mouse.down()
        page.evaluate(WALK_ARM_JS)
        before = len(sent)
        for x in xs[1:]:
            start = time.perf_counter()
            page.mouse.move(x, y)
            time.sleep(max(0.0, interval_s - (time.perf_counter() - start)))
        result = page.evaluate(WALK_RESULT_JS)
        during = len(sent) - before
        page.evaluate(RELEASE_ARM_JS)
        page.mouse.up()
        ms = page.evaluate(RELEASE_MEASURE_JS, INTERACTION_TIMEOUT_MS)
        if ms is None:
            raise RuntimeError(f"the server's numbers did not replace the browser's within {INTERACTION_TIMEOUT_MS} ms")
        releases.append(ms)
        page.wait_for_function("() => window.__bench.idle()", timeout=READY_TIMEOUT_MS)
        out.append(walk_summary(result, during))
    return out, releases


def hovers_over_map(page, sent: list, n: int, steps: int = 60, interval_s: float = 0.016) -> list[dict]:
    """``n`` sweeps of the mouse across the middle of the map; each a summary as for drags."""
    page.bring_to_front()
    page.evaluate("() => { (window.scviViz = window.scviViz || {decoders: {}, cells: {}, maps: {}}).hoverPreview = true; }")
    out = []
    for k in range(n):
        page.wait_for_function("() => window.__bench.idle()", timeout=READY_TIMEOUT_MS)
        box = page.evaluate("() => { const r = window.__bench.charts()['st-key-umap'].querySelector('.nsewdrag')"
                            ".getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width, h: r.height}; }")
        y = box["y"] + box["h"] * (0.3 + 0.4 * (k % 3) / 2)
        xs = [box["x"] + box["w"] * (0.05 + 0.9 * i / steps) for i in range(steps + 1)]
        page.mouse.move(xs[0], y)
        page.evaluate(WALK_ARM_JS)
        before = len(sent)
        for x in xs[1:]:
            start = time.perf_counter()
            page.mouse.move(x, y)
            time.sleep(max(0.0, interval_s - (time.perf_counter() - start)))
        result = page.evaluate(WALK_RESULT_JS)
        out.append(walk_summary(result, len(sent) - before))
        page.mouse.move(1, 1)
    return out


def gesture_summary(runs: list[dict]) -> dict:
    """Medians over gestures of each gesture's figures; the worst p90 latency; all frames sent."""
    def med(key):
        values = [r[key] for r in runs if r[key] is not None]
        return statistics.median(values) if values else None
    return {"gestures": len(runs), "updates_per_s": med("updates_per_s"), "latency_median_ms": med("latency_median_ms"),
            "latency_p90_ms": max((r["latency_p90_ms"] for r in runs if r["latency_p90_ms"] is not None), default=None),
            "frames_sent_to_server": sum(r["frames_sent_to_server"] for r in runs), "runs": runs}


def machine() -> dict:
    model = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = {}
    for package in ("streamlit", "plotly", "playwright", "torch"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {"cpu_model": model, "cores_usable": cores, "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "versions": versions}


def print_report(results: dict) -> None:
    rows = [
        ("(a) app: slider key -> all Explore charts", results["slider"]),
        ("(b) app: map click -> all Explore charts", results["click"]),
        ("(c) minimal app: slider key -> chart", results["minimal_slider"]),
        ("warm reload: app (reload -> map + charts)", results["warm_reload"]),
        ("warm reload: minimal app", results["minimal_warm_reload"]),
    ]
    print()
    print(f"{'measure':<46}{'n':>4}{'median ms':>12}{'p90 ms':>10}")
    for name, s in rows:
        print(f"{name:<46}{s['n']:>4}{s['median_ms']:>12.1f}{s['p90_ms']:>10.1f}")
    for name, key in (("cold start: app (process -> map + charts)", "cold_start"),
                      ("cold start: minimal app (process -> chart)", "minimal_cold_start")):
        c = results[key]
        print(f"{name:<46}{1:>4}{c['drawn_ms']:>12.1f}{'':>10}   (server healthy after {c['healthy_ms']:.0f} ms)")
    for name, key in (("(d) drag a latent thumb, pointer every 16 ms", "drag"),
                      ("(e) hover over the map, pointer every 16 ms", "hover")):
        g = results[key]
        print(f"{name}: {g['updates_per_s']:.0f} chart updates/s, event -> chart median {g['latency_median_ms']:.1f} ms, "
              f"p90 (worst gesture) {g['latency_p90_ms']:.1f} ms, {g['frames_sent_to_server']} frames sent to the "
              f"server during {g['gestures']} gestures")
    rel = results["drag_release"]
    print(f"(d) release -> the server's numbers in the walk: median {rel['median_ms']:.0f} ms, p90 {rel['p90_ms']:.0f} ms")
    r = results["ratios"]
    print()
    print(f"slider / minimal: median x{r['slider_over_minimal_median']:.2f}, p90 x{r['slider_over_minimal_p90']:.2f}")
    print(f"click  / minimal: median x{r['click_over_minimal_median']:.2f}, p90 x{r['click_over_minimal_p90']:.2f}")
    print(f"release / minimal: median x{r['release_over_minimal_median']:.2f}, p90 x{r['release_over_minimal_p90']:.2f}")
    m = results["machine"]
    for key in ("slider", "click", "minimal_slider"):
        x = results[key]
        done = x["script_done_median_ms"]
        print(f"{key}: median ms until each chart showed new data: "
              + ", ".join(f"{k} {v:.0f}" for k, v in x["per_chart_median_ms"].items())
              + (f"; script run seen done at {done:.0f}" if done is not None else ""))
    print(f"map cells skipped because plotly gave their hover to something else (the invisible grid or "
          f"another cell): {results['click_cells_skipped']}")
    print(f"machine: {m['cpu_model']}, {m['cores_usable']} usable cores ({m['cpu_count']} online), {m['platform']}; "
          f"Chromium {results['chromium']}; " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()))
    print(f"load average (1 min) before / after: {results['load_before'][0]:.2f} / {results['load_after'][0]:.2f}"
          " -- numbers from a shared or busy machine are only indicative")


# ------------------------------------------------------------------------------------ main
def run(args: argparse.Namespace, stack: contextlib.ExitStack) -> dict:
    from playwright.sync_api import sync_playwright

    if not os.access(CHROMIUM, os.X_OK):
        raise SystemExit(f"{CHROMIUM} is missing (apt-get install chromium; never `playwright install`)")
    work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scvi-viz-bench-")))
    minimal_dir = work / "minimal"  # no .streamlit/ here: Streamlit's defaults
    minimal_dir.mkdir()
    shutil.copy(MINIMAL_APP, minimal_dir / "minimal_app.py")
    env = {"SCVI_VIZ_CACHE_DIR": str(work / "cache")}
    results: dict = {"machine": machine(), "load_before": os.getloadavg(), "settings": vars(args).copy()}
    results["settings"].pop("json", None)

    p = stack.enter_context(sync_playwright())
    browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    stack.callback(browser.close)
    results["chromium"] = browser.version
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(HELPERS_JS)

    def cold_start(script: str, cwd: Path, name: str, n_charts: int, text: str | None):
        server = StreamlitServer(work / f"{name}.log", script=script, cwd=cwd, env=env)
        stack.callback(server.stop)
        healthy = server.wait_healthy()
        page = context.new_page()
        page.goto(server.url)
        wait_ready(page, n_charts, text)
        drawn = time.perf_counter() - server.started
        return server, page, {"healthy_ms": 1e3 * healthy, "drawn_ms": 1e3 * drawn}

    def reloads(page, n_charts: int, text: str | None) -> list[float]:
        samples = []
        page.bring_to_front()
        for _ in range(args.reloads):
            page.reload()
            samples.append(wait_ready(page, n_charts, text))
        return samples

    print("cold start: app ...", flush=True)
    _, app_page, results["cold_start"] = cold_start("app.py", ROOT, "app", 2, "Download report bundle")
    if args.traversal:
        show_traversal(app_page)
    n_app_charts = app_page.locator('.js-plotly-plot').count()
    print("cold start: minimal app ...", flush=True)
    _, minimal_page, results["minimal_cold_start"] = cold_start("minimal_app.py", minimal_dir, "minimal", 1, None)

    print(f"(a) {args.warmup} + {args.n} key presses on '{SLIDER}' ...", flush=True)
    slider_presses(app_page, SLIDER, args.warmup)
    results["slider"] = interaction_summary(slider_presses(app_page, SLIDER, args.n))

    print(f"(b) {args.warmup} + {args.n} clicks on map cells ...", flush=True)
    clicks, results["click_cells_skipped"] = map_clicks(app_page, args.warmup + args.n)
    results["click"] = interaction_summary(clicks[args.warmup:])

    sent = _frames_sent(app_page)
    app_page.reload()
    wait_ready(app_page, n_app_charts, "Download report bundle")
    print(f"(d) {args.gestures} drags of '{SLIDER}' ...", flush=True)
    drag_runs, releases = drags(app_page, sent, args.gestures)
    results["drag"], results["drag_release"] = gesture_summary(drag_runs), summary(releases)
    print(f"(e) {args.gestures} sweeps of the mouse over the map ...", flush=True)
    results["hover"] = gesture_summary(hovers_over_map(app_page, sent, args.gestures))

    print(f"(c) {args.warmup} + {args.n} key presses on the minimal app ...", flush=True)
    slider_presses(minimal_page, "value", args.warmup)
    results["minimal_slider"] = interaction_summary(slider_presses(minimal_page, "value", args.n))

    print(f"warm reloads ({args.reloads} each) ...", flush=True)
    results["warm_reload"] = summary(reloads(app_page, n_app_charts, "Download report bundle"))
    results["minimal_warm_reload"] = summary(reloads(minimal_page, 1, None))

    m = results["minimal_slider"]
    results["ratios"] = {
        "slider_over_minimal_median": results["slider"]["median_ms"] / m["median_ms"],
        "slider_over_minimal_p90": results["slider"]["p90_ms"] / m["p90_ms"],
        "click_over_minimal_median": results["click"]["median_ms"] / m["median_ms"],
        "click_over_minimal_p90": results["click"]["p90_ms"] / m["p90_ms"],
        "release_over_minimal_median": results["drag_release"]["median_ms"] / m["median_ms"],
        "release_over_minimal_p90": results["drag_release"]["p90_ms"] / m["p90_ms"],
    }
    results["load_after"] = os.getloadavg()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20, help="measured interactions of each kind (at least 20)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured interactions before each kind")
    parser.add_argument("--reloads", type=int, default=5, help="warm reloads of each app")
    parser.add_argument("--gestures", type=int, default=6, help="drags and map sweeps measured (d, e)")
    parser.add_argument("--traversal", action="store_true",
                        help="with Explore's traversal chart shown (off by default in the app); it counts among the charts")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers (and every sample) here")
    args = parser.parse_args(argv)
    if args.n < 20:
        parser.error("--n must be at least 20")

    def on_sigterm(signum, frame):  # run the cleanup in `finally` below
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_sigterm)
    with contextlib.ExitStack() as stack:  # stops both servers and the browser, also on errors
        results = run(args, stack)
    print_report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
