"""The app in a real browser, used as a new user would: open it, click the map, move sliders,
change the batch, compare, download. Run: ``python -m pytest tests/browser -q``.

Every wait is on a condition in the page (chart data, page text, Streamlit's script state),
never a fixed sleep. Plotly's drawn data is read from each ``.js-plotly-plot`` element's
``_fullData`` (typed arrays already decoded).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import re
import struct
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO_MODEL = ROOT / "scvi_viz" / "demo" / "model" / "model.pt"
SCREENSHOTS = ROOT / "docs" / "screenshots"
"""The README's screenshots: written only with ``SCVI_VIZ_UPDATE_SCREENSHOTS=1`` (else to a temporary folder)."""
SCREENSHOT_VIEWPORT = {"width": 1400, "height": 1500}
SCREENSHOT_MAX_BYTES = 500_000
N_GENES = 765
N_LATENT = 10
TOP_GENES_TITLE = "Decoded at the current point"  # the point figure; its trace 0 is the top-genes bars
NO_EXCEPTION = '[data-testid="stException"]'

# ------------------------------------------------------------------------------ page helpers
# While Streamlit reruns it keeps hidden or faded ("stale") copies of elements next to the new
# ones: only fresh, visible charts count.
_FRESH = "[...document.querySelectorAll('.js-plotly-plot')].filter(e => !e.closest('[data-stale=\"true\"]') && e.offsetParent !== null)"

_CHART_JS = """
(part) => {
  const els = FRESH;
  const el = els.find(e => e._fullLayout && String((e._fullLayout.title || {}).text || '').includes(part));
  if (!el || !el._fullData) return null;
  const arr = v => (v == null ? null : Array.from(v));
  return {
    title: String(el._fullLayout.title.text),
    // The live map gives plotly its traces without points: its own copy has them.
    traces: (el.__scviVizMap ? el.__scviVizMap.traces() : el._fullData)
      .map(t => ({name: t.name, x: arr(t.x), y: arr(t.y), customdata: arr(t.customdata)})),
  };
}
"""

_RUNNING_JS = """
() => document.querySelector('[data-testid="stApp"]').dataset.testScriptState === 'running'
"""

_IDLE_JS = """
() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.dataset.testScriptState === 'notRunning' && app.dataset.testConnectionState === 'CONNECTED'
    && !document.querySelector('.scvi-viz-live-chart[data-drawing]');  // live_chart.js draws after the next paint
}
"""

_CHARTS_READY_JS = """
([n, texts]) => {
  const els = [...document.querySelectorAll('.js-plotly-plot')];
  const app = document.querySelector('[data-testid="stApp"]');
  return els.length >= n && els.every(e => e._fullData && e._fullData.length > 0)
    && texts.every(t => document.body.innerText.includes(t))
    && !!app && app.dataset.testScriptState === 'notRunning' && !document.querySelector('.scvi-viz-live-chart[data-drawing]');
}
"""

_CHANGED_JS = """
([part, trace, axis, before]) => {
  const el = FRESH
    .find(e => e._fullLayout && String((e._fullLayout.title || {}).text || '').includes(part));
  const traces = el && (el.__scviVizMap ? el.__scviVizMap.traces() : el._fullData);
  if (!traces || !traces[trace]) return false;
  const now = Array.from(traces[trace][axis]);
  return now.length !== before.length || now.some((v, i) => v !== before[i]);
}
"""

# The map: pixel positions of every cell and grid point, and a cell and an empty spot to click.
_MAP_TARGETS_JS = """
(limit) => {
  const el = FRESH[0];
  const fl = el._fullLayout, r = el.getBoundingClientRect(), s = fl._size;
  const px = x => r.left + s.l + fl.xaxis.d2p(x), py = y => r.top + s.t + fl.yaxis.d2p(y);
  const inside = (X, Y, m) => X > r.left + s.l + m && X < r.left + s.l + s.w - m && Y > r.top + s.t + m && Y < r.top + s.t + s.h - m;
  const cells = [];
  const cross = el.querySelector('svg.scvi-viz-point');
  const marker = cross && cross.dataset.x ? {X: px(+cross.dataset.x), Y: py(+cross.dataset.y)} : null;
  (el.__scviVizMap ? el.__scviVizMap.traces() : el._fullData).forEach((t, ti) => {
    if (ti === 0 || !t.customdata) return;  // the grid, a colour bar
    for (let i = 0; i < t.x.length; i++)
      cells.push({trace: ti, x: t.x[i], y: t.y[i], X: px(t.x[i]), Y: py(t.y[i]), cell: t.customdata[i], text: t.text ? t.text[i] : null});
  });
  const nearest = (X, Y, skip) => {
    let best = Infinity;
    for (const c of cells) if (c !== skip) best = Math.min(best, Math.hypot(c.X - X, c.Y - Y));
    return best;
  };
  const far = (X, Y) => !marker || Math.hypot(marker.X - X, marker.Y - Y) > 30;
  // Cells well inside the plot and away from the current marker, the most isolated first.
  const isolated = cells.filter(c => inside(c.X, c.Y, 15) && far(c.X, c.Y))
    .map(c => ({...c, gap: nearest(c.X, c.Y, c)})).sort((a, b) => b.gap - a.gap).slice(0, limit);
  // The grid point farthest from every cell (empty space).
  const live = el.__scviVizMap;  // the live map gives plotly no grid points: they are its own
  const grid = live ? {x: live.cells.grid_x, y: live.cells.grid_y, name: el._fullData[0].name} : el._fullData[0];
  let empty = null, emptyGap = -1;
  for (let i = 0; i < grid.x.length; i++) {
    const X = px(grid.x[i]), Y = py(grid.y[i]);
    if (!inside(X, Y, 5) || !far(X, Y)) continue;
    const gap = nearest(X, Y, null);
    if (gap > emptyGap) { empty = {x: grid.x[i], y: grid.y[i], X, Y}; emptyGap = gap; }
  }
  return {isolated, empty, emptyGap, nCells: cells.length, gridName: grid.name,
          xRange: fl.xaxis.range, yRange: fl.yaxis.range};
}
"""

_HOVERED_JS = """
() => {
  const el = FRESH[0];
  if (el.__scviVizPick) return el.__scviVizHover || false;  // the live map picks (and labels) cells itself
  const h = el._hoverdata;
  return !!h && h.length > 0 && [h[0].curveNumber, h[0].customdata === undefined ? null : h[0].customdata];
}
"""

# The map is found by its key: while the Explore fragment reruns, Streamlit marks it stale for a moment.
_MAP = "document.querySelector('.st-key-umap .js-plotly-plot')"
_MARKER_JS = """
() => {
  const cross = FRESH[0] && FRESH[0].querySelector('svg.scvi-viz-point');
  return !!cross && !!cross.dataset.x && cross.style.display !== 'none' && [+cross.dataset.x, +cross.dataset.y];
}
"""
_MAP_TARGETS_JS, _HOVERED_JS, _MARKER_JS = (js.replace("FRESH[0]", _MAP) for js in (_MAP_TARGETS_JS, _HOVERED_JS, _MARKER_JS))
_CHART_JS, _CHANGED_JS = (js.replace("FRESH", _FRESH) for js in (_CHART_JS, _CHANGED_JS))


def hovered(page, cell: dict) -> list:
    """Move the mouse onto ``cell``; return plotly's hover, what a click there picks: [curve, customdata]."""
    page.mouse.move(1, 1)  # off the map first, so the move below always is a move
    page.evaluate(f"() => {{ {_MAP}._hoverdata = null; {_MAP}.__scviVizHover = null; }}")
    page.mouse.move(cell["X"], cell["Y"])
    return page.wait_for_function(_HOVERED_JS).json_value()


def hovers(page, cell: dict) -> bool:
    """Whether the mouse on ``cell`` hovers that cell (so that a click picks it)."""
    return hovered(page, cell) == [cell["trace"], cell["cell"]]


def click_until(page, x: float, y: float, condition: str, arg=None, *, tries: int = 3) -> None:
    """Click at (x, y) until ``condition`` holds. The map reruns every second to follow the
    sliders; a click that lands while it is being redrawn can be lost, as for a person, who
    would click again."""
    for attempt in range(tries):
        wait_idle(page)
        page.mouse.click(x, y)
        try:
            page.wait_for_function(condition, arg=arg, timeout=10_000)
            return
        except Exception:
            if attempt == tries - 1:
                raise


def open_app(page, url: str, path: str = "") -> None:
    page.goto(f"{url}/{path}")
    wait_explore_ready(page) if path == "" else wait_compare_ready(page)


def wait_explore_ready(page) -> None:
    # The map and the figure of everything decoded at the point, and the page drawn to its end.
    page.wait_for_function(_CHARTS_READY_JS, arg=[2, ["Current point:", "Download report bundle"]])
    assert chart(page, "Cells in") is not None, "the first chart should be the map"


def wait_compare_ready(page) -> None:
    page.wait_for_function(_CHARTS_READY_JS, arg=[4, ["Compare batches and covariates", "Download report bundle"]])


def wait_idle(page) -> None:
    page.wait_for_function(_IDLE_JS)


def restore_saved_view(page, path) -> None:
    """Restore the saved view in ``path`` as a user does: upload it in the sidebar, press Restore.

    Restore reads the uploaded file from the session, so it is pressed only once the file's chip
    shows it uploaded (the upload is its own request: the app can be idle before it arrives).
    """
    page.get_by_text("Restore a saved view").click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').last.set_input_files(str(path))
    page.wait_for_function(
        "(name) => [...document.querySelectorAll('[data-testid=\"stFileChipName\"]')].some(e => e.textContent.includes(name))"
        " && !document.querySelector('[data-testid=\"stFileChipIconSpinner\"]')", arg=Path(path).name)
    wait_idle(page)
    page.get_by_role("button", name="Restore").click()


def chart(page, title_part: str) -> dict:
    """The drawn chart whose title contains ``title_part`` (waits for it to be drawn)."""
    return page.wait_for_function(_CHART_JS, arg=title_part).json_value()


def wait_changed(page, title_part: str, before: list, *, trace: int = 0, axis: str = "x") -> None:
    page.wait_for_function(_CHANGED_JS, arg=[title_part, trace, axis, before])


def body_text(page) -> str:
    return page.evaluate("document.body.innerText")


def assert_no_exception(page) -> None:
    wait_idle(page)
    shown = page.locator(NO_EXCEPTION)
    assert shown.count() == 0, shown.first.inner_text()
    assert not page.js_errors, page.js_errors


def top_gene_values(page) -> list[float]:
    return chart(page, TOP_GENES_TITLE)["traces"][0]["x"]


def marker_xy(page) -> tuple[float, float]:
    """The data position of the current-point cross drawn over the map (scvi_viz/ui/components/map_point.js)."""
    xy = page.wait_for_function(_MARKER_JS).json_value()
    return xy[0], xy[1]


def download(page, button, *, timeout: float = 120_000):
    with page.expect_download(timeout=timeout) as info:
        button.click()
    path = info.value.path()
    return info.value.suggested_filename, Path(path).read_bytes()


def choose(page, label: str, option: str, *, nth: int = 0) -> None:
    """Pick ``option`` in the ``nth`` selectbox labelled ``label``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    box = page.get_by_role("combobox", name=label).nth(nth)
    if box.input_value() == option:
        return
    # Scroll first: the dropdown closes when the page scrolls, as it does under a click that
    # has to bring the box into view.
    box.scroll_into_view_if_needed()
    wanted = page.get_by_role("option", name=option, exact=True)
    for _ in range(3):
        box.click()
        try:
            wanted.wait_for(timeout=3000)
            break
        except PlaywrightTimeoutError:
            page.keyboard.press("Escape")
    wanted.click()
    page.wait_for_function("([box, v]) => box.value === v", arg=[box.element_handle(), option])
    # The box shows the new value before the rerun it asks for has started: wait for that
    # rerun (unless it was already over), so later clicks reach the redrawn page.
    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_function(_RUNNING_JS, polling="raf", timeout=3000)
    wait_idle(page)


def download_chart(page, chart_label: str, fmt: str, *, nth: int = 0) -> tuple[str, bytes]:
    """Download ``chart_label`` as ``fmt`` (PNG, CSV, ...) through the page's ``nth`` chart picker."""
    choose(page, "Download a chart", chart_label, nth=nth)
    choose(page, "Format", fmt, nth=nth)
    button = (page.get_by_role("combobox", name="Format").nth(nth)
              .locator('xpath=following::*[@data-testid="stDownloadButton"][1]').locator("button"))
    return download(page, button)


def read_csv(data: bytes) -> tuple[list[str], list[str], list[list[str]]]:
    """(caption lines, header, rows) of an exported CSV."""
    lines = data.decode("utf-8").splitlines()
    captions = [line for line in lines if line.startswith("#")]
    rows = list(csv.reader(line for line in lines if not line.startswith("#")))
    return captions, rows[0], rows[1:]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def switch_to_compare(page) -> None:
    page.get_by_role("link", name="Compare covariates").click()
    page.wait_for_url(re.compile(r"/compare(\?|$)"))
    wait_compare_ready(page)


# ------------------------------------------------------------------------------------ tests
def test_explore_and_compare_pages_open_on_the_demo(page, app_url):
    open_app(page, app_url)
    text = body_text(page)
    assert "Explore the latent space" in text
    assert re.search(r"Current point: cell \S+ \(", text), text[:2000]
    wait_idle(page)
    titles = page.evaluate(f"() => {_FRESH}.map(e => String(e._fullLayout.title.text))")
    assert "Cells in UMAP" in titles[0]
    assert any(TOP_GENES_TITLE in t for t in titles[1:])
    grid = chart(page, "Cells in")["traces"][0]
    assert grid["name"] == "empty space"
    assert_no_exception(page)

    switch_to_compare(page)
    text = body_text(page)
    assert "At the current point" in text and "For a group of cells" in text
    assert page.evaluate(f"{_FRESH}.length") >= 4
    assert_no_exception(page)


def test_click_a_cell_then_empty_space(page, app_url):
    open_app(page, app_url)
    page.locator('.st-key-umap .js-plotly-plot').scroll_into_view_if_needed()
    before = top_gene_values(page)
    targets = page.evaluate(_MAP_TARGETS_JS, 40)
    assert targets["nCells"] == 700 and targets["gridName"] == "empty space"
    # Hover a cell first, as a mouse does; the invisible grid takes the hover of some cells
    # (see test_click_right_on_a_cell_picks_that_cell), so use the first one plotly picks.
    cell = next((c for c in targets["isolated"] if c["gap"] > 3 and hovers(page, c)), None)
    assert cell is not None, f"plotly picked none of the {len(targets['isolated'])} most isolated cells"
    cell_id, cell_type = cell["text"].split(" · ")
    expected = f"Current point: cell {cell_id} ({cell_type})"
    click_until(page, cell["X"], cell["Y"], "t => document.body.innerText.includes(t)", expected)
    wait_changed(page, TOP_GENES_TITLE, before)
    wait_idle(page)
    x, y = marker_xy(page)
    assert math.isclose(x, cell["x"], rel_tol=1e-5, abs_tol=1e-5) and math.isclose(y, cell["y"], rel_tol=1e-5, abs_tol=1e-5)
    assert_no_exception(page)

    # Click empty space: the grid point farthest from every cell.
    targets = page.evaluate(_MAP_TARGETS_JS, 0)
    empty = targets["empty"]
    assert empty is not None and targets["emptyGap"] > 10, targets
    after_cell = top_gene_values(page)
    assert hovered(page, empty) == [0, None], "the empty spot should hover the invisible grid"
    click_until(page, empty["X"], empty["Y"], "() => document.body.innerText.includes('empty space at')")
    wait_idle(page)
    x, y = marker_xy(page)
    span_x = targets["xRange"][1] - targets["xRange"][0]
    span_y = targets["yRange"][1] - targets["yRange"][0]
    assert abs(x - empty["x"]) < 0.01 * span_x and abs(y - empty["y"]) < 0.01 * span_y, ((x, y), empty)
    text = body_text(page)
    assert f"({empty['x']:.2f}, {empty['y']:.2f})" in text, re.findall(r"Current point:.*", text)
    wait_changed(page, TOP_GENES_TITLE, after_cell)  # decoding an empty-space point changes the top genes
    assert_no_exception(page)


def test_slider_keys_and_batch_then_compare(page, app_url):
    open_app(page, app_url)

    # Latent dimension 1, by keyboard.
    slider = page.locator('input[type="range"][aria-label="latent dimension 1"]')
    start = float(slider.input_value())  # the cell's value, snapped to the slider's steps
    step = float(slider.get_attribute("step"))
    before = top_gene_values(page)
    cross = marker_xy(page)
    page.evaluate(f"() => {{ {_MAP}.__kept = true; }}")  # tag the drawn map
    slider.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    wait_changed(page, TOP_GENES_TITLE, before)
    page.wait_for_function("() => document.body.innerText.includes('Current point: sliders (moved from cell')")
    wait_idle(page)
    # Three steps right, applied in Python and shown back (value text comes from the rerun).
    assert float(slider.input_value()) == pytest.approx(start + 3 * step)
    assert slider.get_attribute("aria-valuetext") == f"{start + 3 * step:.3f}"
    assert slider.evaluate("el => el === el.getRootNode().activeElement"), "the slider should keep keyboard focus"
    # The cross follows the point; the map itself was neither re-sent nor drawn again.
    page.wait_for_function("(xy) => { const c = " + _MAP + ".querySelector('svg.scvi-viz-point');"
                           " return c && (+c.dataset.x !== xy[0] || +c.dataset.y !== xy[1]); }", arg=list(cross))
    assert page.evaluate(f"() => {_MAP}.__kept === true"), "a slider move should not rebuild the map"
    assert_no_exception(page)

    # The batch covariate: G1 -> G2M (in the point's "Edit" popover).
    page.get_by_role("button", name="Edit").click()
    batch = page.get_by_role("combobox", name="phase (batch covariate)")
    assert batch.input_value() == "G1"
    before = top_gene_values(page)
    batch.click()
    page.get_by_role("option", name="G2M", exact=True).click()
    wait_changed(page, TOP_GENES_TITLE, before)
    wait_idle(page)
    assert batch.input_value() == "G2M"
    top = chart(page, TOP_GENES_TITLE)["traces"][0]
    scale_here = dict(zip(top["y"], top["customdata"]))  # normalised expression of the top genes
    assert_no_exception(page)

    # Compare: the current point under its own batch (G2M, the reference), G1 and S.
    switch_to_compare(page)
    scatter = chart(page, "Normalised expression under each value")
    names = [t["name"] for t in scatter["traces"]]
    assert names == ["identity (no change)", "phase = G1", "phase = S"], names
    lfc = chart(page, "log2 fold change|")
    assert sorted(t["name"] for t in lfc["traces"]) == ["phase = G1", "phase = S"]
    values = lfc["traces"][0]["x"]
    assert len(values) == 20 and all(math.isfinite(v) for v in values) and any(v != 0 for v in values)
    assert "sorted by largest |log2FC| over the values" in body_text(page)
    # The comparison decodes the point set on Explore: its G2M values are the ones shown there.
    points = next(t for t in scatter["traces"] if t["name"] == "phase = G1")
    genes = page.evaluate(
        f"() => Array.from({_FRESH}[0]._fullData.find(t => t.name === 'phase = G1').text)")
    g2m = dict(zip(genes, points["x"]))
    for gene, value in scale_here.items():
        assert math.isclose(g2m[gene], value, rel_tol=1e-4), (gene, g2m[gene], value)
    # The table (drawn on a canvas) has one scale and one rate column per batch: read its CSV.
    _, data = download_chart(page, "Scatter of the values against the reference (CSV: every gene)", "CSV")
    captions, header, rows = read_csv(data)
    for column in ("scale [phase = G1]", "rate [phase = G1]", "scale [phase = G2M]", "rate [phase = G2M]",
                   "log2FC [phase = G1 vs phase = G2M]", "log2FC [phase = S vs phase = G2M]", "ranked"):
        assert column in header, header
    assert any(c.startswith("# ranking: sorted by largest |log2FC| over the values among the") for c in captions), captions
    assert len(rows) == N_GENES
    assert_no_exception(page)


def test_downloads_csv_png_and_report_bundle(page, app_url):
    open_app(page, app_url)
    top = chart(page, TOP_GENES_TITLE)["traces"][0]

    name, top_csv = download_chart(page, "Top 20 genes, expected counts", "CSV")
    assert name.endswith(".csv")
    captions, header, rows = read_csv(top_csv)
    for column in ("rate", "scale", "theta", "dropout", "interval_low", "interval_high"):
        assert column in header, header
    assert len(rows) == len(top["y"]) == 20
    assert [r[0] for r in rows] == top["y"], "CSV genes should be the chart's genes, largest first"
    assert any(c.startswith("# point:") for c in captions), captions

    name, data = download_chart(page, "Top 20 genes, expected counts", "PNG")
    assert name.endswith(".png")
    width, height = png_size(data)
    assert width > 300 and height > 300, (width, height)

    # The map's numbers, with the current point (drawn over the map on screen) in the caption.
    x, y = marker_xy(page)
    name, data = download_chart(page, "Map, with the current point", "CSV")
    captions, header, rows = read_csv(data)
    assert name.startswith("map_") and len(rows) == 700 and header[1:3] == ["x", "y"], (name, header)
    assert f"# current point (x, y): {x:.4g}, {y:.4g}" in captions, captions

    name, data = download(page, page.get_by_role("button", name=re.compile("Download report bundle")))
    assert name.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        state = json.loads(archive.read("state.json"))
        all_genes = archive.read("all_genes.csv")
        bundled_top = archive.read("top_genes.csv")
    assert state["model_sha256"] == hashlib.sha256(DEMO_MODEL.read_bytes()).hexdigest()
    assert len(state["point"]["z"]) == N_LATENT and all(math.isfinite(v) for v in state["point"]["z"])
    stems = ["top_genes", "expected_counts", "decoder_parameters", "zero_probability"]
    stems.append(next(n for n in names if n.startswith("map_") and n.endswith(".csv")).removesuffix(".csv"))
    for stem in stems:
        for ext in ("svg", "png", "csv"):
            assert f"{stem}.{ext}" in names, (stem, ext, sorted(names))
    _, header, rows = read_csv(all_genes)
    assert "rate" in header and len(rows) == N_GENES
    assert read_csv(bundled_top)[2] == read_csv(top_csv)[2], "the bundle's top-genes CSV should match the CSV button's"
    assert_no_exception(page)


def test_click_right_on_a_cell_picks_that_cell(page, app_url):
    open_app(page, app_url)
    page.locator('.st-key-umap .js-plotly-plot').scroll_into_view_if_needed()
    targets = page.evaluate(_MAP_TARGETS_JS, 1000)
    # A cell no other cell covers (> 4 px apart) whose hover the grid takes.
    stolen = next((c for c in targets["isolated"] if c["gap"] > 4 and hovered(page, c)[0] == 0), None)
    if stolen is None:
        return  # the grid takes no isolated cell's hover: clicks on cells are cells
    cell_id, cell_type = stolen["text"].split(" · ")
    page.mouse.click(stolen["X"], stolen["Y"])
    # Wait for either outcome: that cell, or an empty-space point.
    page.wait_for_function("t => document.body.innerText.includes('empty-space click') || document.body.innerText.includes(t)",
                           arg=f"Current point: cell {cell_id} (")
    wait_idle(page)
    text = body_text(page)
    assert f"Current point: cell {cell_id} ({cell_type})" in text, re.findall(r"Current point:[^\n]*", text)


@pytest.mark.parametrize("name", ["explore", "compare", "trajectory"])
def test_screenshots(new_page, app_url, name, tmp_path):
    from test_trajectory_page import switch_to_trajectory

    page = new_page(SCREENSHOT_VIEWPORT)
    open_app(page, app_url)  # a new user lands on Explore, then opens another page
    if name == "compare":
        switch_to_compare(page)
    elif name == "trajectory":
        switch_to_trajectory(page)
    assert_no_exception(page)
    page.mouse.move(0, 0)
    folder = SCREENSHOTS if os.environ.get("SCVI_VIZ_UPDATE_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    size = target.stat().st_size
    assert size < SCREENSHOT_MAX_BYTES, f"{target} is {size:,} bytes"
    assert png_size(target.read_bytes())[0] >= 1400


def test_compare_link_opened_first_on_a_fresh_server(start_server, page):
    server = start_server()
    page.goto(f"{server.url}/compare")
    # Wait until the page has finished either way, so the failure is quick and says what is shown.
    page.wait_for_function("""() => {
      const app = document.querySelector('[data-testid="stApp"]');
      const text = document.body.innerText;
      return !!app && app.dataset.testScriptState === 'notRunning'
        && (text.includes('Download report bundle') || text.includes('Choose a model and its data'));
    }""")
    nav = page.locator('[data-testid="stSidebarNavLink"]').all_inner_texts()
    assert "Choose a model and its data" not in body_text(page), f"no workspace on /compare; sidebar pages: {nav}"
    wait_compare_ready(page)
    assert_no_exception(page)
