"""The Trajectory page in a real browser: its default path, the step slider (the × on the map and
the Explore page's point follow it), a click on the map that sets an endpoint, and downloads."""

from __future__ import annotations

import contextlib
import re

from test_browser import (
    _FRESH,
    _IDLE_JS,
    assert_no_exception,
    body_text,
    chart,
    click_until,
    download,
    download_chart,
    open_app,
    png_size,
    read_csv,
    wait_idle,
)

HEATMAP_TITLE = "Genes along the path"
COUNTS_TITLE = "Expected counts (line)"
DISTANCE_TITLE = "How far each step is"
MAP_TITLE = "Path from A to B"
_MAP = "document.querySelector('.st-key-traj_map .js-plotly-plot')"
_MARKER_JS = f"""
() => {{
  const cross = {_MAP} && {_MAP}.querySelector('svg.scvi-viz-point');
  return !!cross && !!cross.dataset.x && cross.style.display !== 'none' && [+cross.dataset.x, +cross.dataset.y];
}}
"""
_READY_JS = f"""
() => {{
  const els = {_FRESH};
  const app = document.querySelector('[data-testid="stApp"]');
  return els.length >= 4 && els.every(e => e._fullData && e._fullData.length > 0)
    && document.body.innerText.includes('Download report bundle')
    && !!app && app.dataset.testScriptState === 'notRunning';
}}
"""
# A cell of a category far from the default path (B cells): its pixel position and hover text.
_CELL_JS = f"""
(name) => {{
  const el = {_MAP}, fl = el._fullLayout, r = el.getBoundingClientRect(), s = fl._size;
  const t = el._fullData.find(t => t.name === name);
  const i = 0;
  return {{X: r.left + s.l + fl.xaxis.d2p(t.x[i]), Y: r.top + s.t + fl.yaxis.d2p(t.y[i]), text: t.text[i]}};
}}
"""
_STEP_LINE_JS = f"""
(part) => {{
  const el = {_FRESH}.find(e => String((e._fullLayout.title || {{}}).text || '').includes(part));
  const line = el && el._fullLayout.shapes.find(s => s.type === 'line' && s.xref === 'x');
  return line ? line.x0 : null;
}}
"""


def wait_trajectory_ready(page) -> None:
    page.wait_for_function(_READY_JS)
    assert chart(page, MAP_TITLE) is not None


def switch_to_trajectory(page) -> None:
    """From any page, go to the Trajectory page by its link in the navigation and wait for its charts."""
    page.get_by_role("link", name="Trajectory").click()
    page.wait_for_url(re.compile(r"/trajectory(\?|$)"))
    wait_trajectory_ready(page)


def marker_xy(page) -> tuple[float, float]:
    xy = page.wait_for_function(_MARKER_JS).json_value()
    return xy[0], xy[1]


def step_line(page, title_part: str) -> float | None:
    return page.evaluate(_STEP_LINE_JS, title_part)


def press_step(page, key: str, times: int) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    slider = page.get_by_role("slider", name=re.compile("Step along the path"))
    slider.focus()
    for _ in range(times):
        page.keyboard.press(key)
    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_function("() => document.querySelector('[data-testid=\"stApp\"]').dataset.testScriptState === 'running'",
                               polling="raf", timeout=3000)
    page.wait_for_function(_IDLE_JS)


def test_default_path_between_the_two_largest_groups(page, app_url):
    open_app(page, app_url)
    switch_to_trajectory(page)
    text = body_text(page)
    assert "A: bulk_labels = Dendritic (centroid) → B: bulk_labels = CD14+ Monocyte (centroid)" in text, text[:3000]
    the_map = chart(page, MAP_TITLE)
    names = [t["name"] for t in the_map["traces"]]
    assert {"through the cells", "straight line in z", "start A", "end B"} <= set(names), names
    heat = chart(page, HEATMAP_TITLE)
    assert len(heat["traces"][0]["y"]) == 20 and len(heat["traces"][0]["x"]) == 50
    distance = chart(page, DISTANCE_TITLE)["traces"][0]
    assert len(distance["y"]) == 50 and all(v >= 0 for v in distance["y"])
    subtitles = page.evaluate(f"() => {_FRESH}.filter(e => !String(e._fullLayout.title.text).includes('Cells in')).map(e => String(e._fullLayout.title.subtitle.text).replace(/<br>/g, ' '))")
    assert all("library size N = " in s for s in subtitles[1:]), subtitles
    assert_no_exception(page)


def test_step_slider_moves_the_cross_and_sets_the_explore_point(page, app_url):
    open_app(page, app_url)
    switch_to_trajectory(page)
    start = marker_xy(page)
    assert step_line(page, HEATMAP_TITLE) == 0
    press_step(page, "ArrowRight", 5)
    page.wait_for_function(f"() => {{ const xy = ({_MARKER_JS})(); return xy && (xy[0] !== {start[0]} || xy[1] !== {start[1]}); }}")
    wait_idle(page)
    for title in (HEATMAP_TITLE, COUNTS_TITLE, DISTANCE_TITLE):
        assert step_line(page, title) == 5, title
    assert_no_exception(page)
    page.get_by_role("link", name="Explore").click()
    page.wait_for_function("() => document.body.innerText.includes('Current point: step 5 of 49 on the path')")
    assert_no_exception(page)


def test_click_on_the_map_sets_an_endpoint_and_downloads(page, app_url):
    open_app(page, app_url)
    switch_to_trajectory(page)
    page.locator(".st-key-traj_map").scroll_into_view_if_needed()
    wait_idle(page)
    cell = page.evaluate(_CELL_JS, "CD19+ B")
    cell_id = cell["text"].split(" · ")[0]
    click_until(page, cell["X"], cell["Y"], "t => document.body.innerText.includes(t)", f"A: cell {cell_id} →")
    wait_trajectory_ready(page)
    subtitle = page.evaluate(f"() => {_FRESH}.filter(e => !String(e._fullLayout.title.text).includes('Cells in')).map(e => String(e._fullLayout.title.subtitle.text))")
    assert all(f"A: cell {cell_id}" in s.replace("<br>", " ") for s in subtitle), subtitle

    name, data = download_chart(page, "Distance of each step to the nearest cell", "CSV")
    captions, header, rows = read_csv(data)
    assert name == "path_distance_to_data.csv" and len(rows) == 50, (name, len(rows))
    assert header == ["step", "relative_distance_to_nearest_cell", "off_the_data"], header
    assert any(c.startswith(f"# path: A: cell {cell_id}") for c in captions), captions
    name, data = download_chart(page, "Heatmap of genes along the path", "PNG")
    width, height = png_size(data)
    assert name == "path_heatmap.png" and width > 600 and height > 400, (width, height)
    name, data = download(page, page.get_by_role("button", name=re.compile("Download report bundle")))
    assert name == "scvi-viz-trajectory-report.zip"
    assert_no_exception(page)
