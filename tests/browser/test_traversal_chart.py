"""Explore's traversal chart in Chromium (``live_traversal.js``): it draws the server's spec on a
true log axis, moving the charted slider moves only its mark, another slider redraws the lines,
and the mouse over it reads the values at a step."""

from __future__ import annotations

import json
import math

from test_browser import open_app, wait_idle
from test_live_walk import WALK

_DRAWN_JS = """
() => {
  const root = document.querySelector('.st-key-traversal_chart .scvi-viz-traversal');
  if (!root || !root.__scviViz || !root.__scviViz.spec) return null;
  const point = (p) => p.slice(1).split(',').map(Number);
  return {
    spec: root.__scviViz.spec,
    current: Number(root.dataset.current),
    lines: [...root.querySelectorAll('path.line')].map((l) => ({
      gene: l.dataset.gene, points: l.getAttribute('d').match(/[ML][^ML]+/g).map(point)})),
    mark: Number(root.querySelector('line.current').getAttribute('x1')),
    ticks: [...root.querySelectorAll('text.tick[text-anchor="end"]')].map((t) => [Number(t.textContent), Number(t.getAttribute('y')) - 4]),
    legend: [...root.querySelectorAll('.legend li')].map((li) => li.textContent),
    off: root.querySelectorAll('rect.off').length,
  };
}
"""


def shown(v: float) -> str:
    """A number as the chart's read-out writes it (``number`` in live_traversal.js)."""
    if v == 0:
        return "0"
    if abs(v) >= 1e5 or abs(v) < 1e-3:
        mantissa, exponent = f"{v:.1e}".split("e")
        return f"{mantissa}e{int(exponent):+d}"
    return f"{float(f'{v:.3g}'):g}"


def drawn(page) -> dict:
    return page.evaluate(_DRAWN_JS)


def show_traversal(page) -> dict:
    page.get_by_role("button", name="Directions").click()
    page.get_by_text("Chart what moving one slider does").click()
    page.keyboard.press("Escape")
    page.wait_for_function(f"() => {{ const d = ({_DRAWN_JS})(); return !!d && d.lines.length > 0; }}")
    wait_idle(page)
    return drawn(page)


def wait_changed(page, before: dict, what: str) -> dict:
    """Once the chart shows a spec whose ``what`` ("current", "series") differs from ``before``'s
    (not its drawing alone: a new width redraws the same spec)."""
    page.wait_for_function(
        f"(b) => {{ const d = ({_DRAWN_JS})(); return !!d && JSON.stringify(d.spec.{what}) !== JSON.stringify(b); }}",
        arg=before["spec"][what])
    wait_idle(page)
    return drawn(page)


def test_the_traversal_chart_draws_its_spec_on_a_log_axis(new_page, app_url):
    page = new_page()
    open_app(page, app_url)
    d = show_traversal(page)
    spec = d["spec"]
    assert [line["gene"] for line in d["lines"]] == [s["name"] for s in spec["series"]] == d["legend"]
    assert len(spec["series"]) == 8 and all(len(line["points"]) == len(spec["x"]) for line in d["lines"])
    # One straight map from log10(expression) to pixels for every line and every tick label.
    pairs = [(math.log10(v), p[1]) for line, s in zip(d["lines"], spec["series"]) for v, p in zip(s["y"], line["points"])]
    (a0, y0), (a1, y1) = min(pairs), max(pairs)
    slope = (y1 - y0) / (a1 - a0)
    assert slope < 0, "higher expression is drawn higher"
    for log_v, y in pairs + [(math.log10(v), y) for v, y in d["ticks"]]:
        assert abs(y0 + slope * (log_v - a0) - y) < 0.2 + 0.01 * abs(log_v - a0), (log_v, y)
    assert len(d["ticks"]) >= 2
    # the x axis: the steps evenly across, the current value's mark where it falls among them
    xs = d["lines"][0]["points"]
    x_of = lambda v: xs[0][0] + (v - spec["x"][0]) / (spec["x"][-1] - spec["x"][0]) * (xs[-1][0] - xs[0][0])  # noqa: E731
    assert all(abs(x_of(v) - p[0]) < 0.2 for v, p in zip(spec["x"], xs))
    assert abs(x_of(spec["current"]) - d["mark"]) < 0.2 and d["current"] == spec["current"]
    assert d["off"] == (1 if spec["off"][0] else 0) + sum(1 for a, b in zip(spec["off"], spec["off"][1:]) if b and not a)
    assert not page.js_errors and page.locator('[data-testid="stException"]').count() == 0


def test_moving_the_charted_slider_moves_its_mark_and_another_slider_redraws_the_lines(new_page, app_url):
    page = new_page()
    open_app(page, app_url)
    before = show_traversal(page)
    page.locator(f'{WALK} input[type="range"][aria-label="latent dimension 1"]').focus()
    page.keyboard.press("ArrowRight")
    moved = wait_changed(page, before, "current")
    assert moved["current"] > before["current"] and moved["mark"] > before["mark"]
    assert moved["spec"]["series"] == before["spec"]["series"], "along its own slider the range decoded is the same"
    page.locator(f'{WALK} input[type="range"][aria-label="latent dimension 2"]').focus()
    page.keyboard.press("ArrowRight")
    other = wait_changed(page, moved, "series")
    assert other["current"] == moved["current"] and other["lines"] != moved["lines"]
    assert not page.js_errors


def test_the_mouse_over_the_traversal_reads_each_gene_at_that_step(new_page, app_url):
    page = new_page()
    open_app(page, app_url)
    d = show_traversal(page)
    svg = page.locator(".st-key-traversal_chart svg")
    svg.scroll_into_view_if_needed()
    box = svg.bounding_box()
    xs = d["lines"][0]["points"]
    step = len(xs) // 3
    page.mouse.move(box["x"] + xs[step][0], box["y"] + 100)
    tip = page.locator(".st-key-traversal_chart .tip")
    tip.wait_for(state="visible")
    spec = d["spec"]
    rows = tip.locator(".row").all_inner_texts()
    values = sorted(((s["y"][step], s["name"]) for s in spec["series"]), reverse=True)
    assert rows == [f"{name}: {shown(v)}" for v, name in values]
    assert tip.locator(".head").inner_text().startswith(spec["x_title"])
    page.mouse.move(box["x"] - 30, box["y"] - 30)
    tip.wait_for(state="hidden")
