"""Every text of every chart readable: inside its chart and clear of every other text.

For each page of the demo at 1,100 and 1,500 px browser width, each plotly chart's texts
(titles, subtitles, axis titles, tick labels, legends, colour bars, panel titles) are measured
in the browser. A text is "inside" when its box lies within the chart's box, and two texts
"overlap" when their boxes share more than a pixel each way. Also: the page asks nothing of
any address but the app's own (the README promises that no data leave the machine).
"""

from __future__ import annotations

import re

import pytest
from test_browser import _FRESH, assert_no_exception, open_app, switch_to_compare, wait_idle
from test_trajectory_page import switch_to_trajectory

WIDTHS = (1100, 1500)
TOLERANCE_PX = 1.0

_TEXTS_JS = """() => {
  const charts = [...document.querySelectorAll('.js-plotly-plot')].filter(e => e.offsetParent !== null);
  return charts.map(chart => {
    const box = chart.getBoundingClientRect();
    const title = (chart._fullLayout && chart._fullLayout.title && chart._fullLayout.title.text) || '';
    const texts = [...chart.querySelectorAll('svg text')]
      .filter(t => !t.closest('.hoverlayer') && !t.closest('.modebar'))
      .filter(t => {
        const style = getComputedStyle(t);
        return t.textContent.trim() && style.display !== 'none' && style.visibility !== 'hidden'
          && Number(style.opacity) > 0 && Number(t.getAttribute('opacity') ?? 1) > 0;
      })
      .map(t => {
        const r = t.getBoundingClientRect();
        return {text: t.textContent.trim().slice(0, 60), cls: t.getAttribute('class') || t.parentNode.getAttribute('class') || '',
                left: r.left, right: r.right, top: r.top, bottom: r.bottom};
      })
      .filter(t => t.right > t.left && t.bottom > t.top);
    return {title: title.replace(/<[^>]*>/g, '').slice(0, 80), box: {left: box.left, right: box.right, top: box.top, bottom: box.bottom},
            texts};
  });
}"""


def problems(chart: dict) -> list[str]:
    """What is wrong with one chart's texts: outside the chart, or overlapping another."""
    box, texts, found = chart["box"], chart["texts"], []
    for t in texts:
        if (t["left"] < box["left"] - TOLERANCE_PX or t["right"] > box["right"] + TOLERANCE_PX
                or t["top"] < box["top"] - TOLERANCE_PX or t["bottom"] > box["bottom"] + TOLERANCE_PX):
            found.append(f"{t['text']!r} ({t['cls']}) leaves the chart")
    for i, a in enumerate(texts):
        for b in texts[i + 1:]:
            dx = min(a["right"], b["right"]) - max(a["left"], b["left"])
            dy = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"])
            if dx > TOLERANCE_PX and dy > TOLERANCE_PX:
                found.append(f"{a['text']!r} ({a['cls']}) overlaps {b['text']!r} ({b['cls']})")
    return found


def chart_texts(page) -> list[dict]:
    wait_idle(page)
    page.mouse.move(0, 0)  # no hover labels
    return page.evaluate(_TEXTS_JS)


def text_layout_problems(page, titles: list[str]) -> list[str]:
    """:func:`problems` of the drawn charts titled like ``titles`` (each must be drawn)."""
    charts = [c for c in chart_texts(page) if any(t in c["title"] for t in titles)]
    assert len(charts) >= len(titles), f"only {len(charts)} of the charts {titles} drawn"
    return [f"{c['title']!r}: {p}" for c in charts for p in problems(c)]


def check_page(page, what: str) -> int:
    charts = chart_texts(page)
    assert charts, f"no charts on {what}"
    report = [f"{what}, chart {c['title']!r}: {p}" for c in charts for p in problems(c)]
    assert not report, "\n".join(report[:30])
    return len(charts)


@pytest.mark.parametrize("width", WIDTHS)
def test_every_chart_text_is_inside_its_chart_and_clear_of_the_others(new_page, app_url, width):
    page = new_page({"width": width, "height": 3000})  # tall: every chart is drawn
    open_app(page, app_url)
    assert_no_exception(page)
    assert check_page(page, f"Explore at {width} px") >= 2  # the map and the decoded figure
    switch_to_compare(page)
    assert_no_exception(page)
    assert check_page(page, f"Compare at {width} px") >= 2
    switch_to_trajectory(page)
    assert_no_exception(page)
    assert check_page(page, f"Trajectory at {width} px") >= 4  # the map, the heatmap, the counts, the distances


_TOOLBAR_JS = """() => {
  const gd = document.querySelector('.st-key-umap .js-plotly-plot');
  const bar = gd.querySelector('.modebar').getBoundingClientRect(), title = gd.querySelector('.gtitle').getBoundingClientRect();
  return {apart: bar.right < title.left || bar.left > title.right || bar.bottom < title.top || bar.top > title.bottom,
          bar: [bar.left, bar.top, bar.right, bar.bottom], title: [title.left, title.top, title.right, title.bottom]};
}"""


@pytest.mark.parametrize("width", WIDTHS)
def test_the_map_toolbar_shown_on_hover_leaves_the_title_clear(new_page, app_url, width):
    page = new_page({"width": width, "height": 800})
    open_app(page, app_url)
    box = page.locator(".st-key-umap .js-plotly-plot").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.6)
    page.wait_for_function("() => getComputedStyle(document.querySelector('.st-key-umap .modebar-container') "
                           "|| document.body).opacity !== '0'")
    placed = page.evaluate(_TOOLBAR_JS)
    assert placed["apart"], placed


_CUT_JS = """() => {
  const cut = [];
  const sel = 'button, button *, input[role="combobox"], [data-baseweb="select"] div, [data-baseweb="tag"] span, '
    + '[data-testid="stWidgetLabel"] p';
  for (const root of document.querySelectorAll('[data-testid="stMain"], [data-testid="stSidebar"]')) {
    for (const el of root.querySelectorAll(sel)) {
      if (el.offsetParent === null || el.closest('.js-plotly-plot') || el.closest('[data-stale="true"]')) continue;
      const text = el.tagName === 'INPUT' ? el.value : el.textContent.trim();
      const style = getComputedStyle(el);
      const clips = el.tagName === 'INPUT' || style.textOverflow === 'ellipsis' || style.overflowX === 'hidden'
        || style.overflow.includes('hidden');
      if (text && clips && el.scrollWidth > el.clientWidth + 1) cut.push(`${el.tagName.toLowerCase()}: ${text.slice(0, 70)}`);
    }
  }
  return [...new Set(cut)];
}"""
PAGES = ("Compare covariates", "Differential expression", "Model fit", "Trajectory")


@pytest.mark.parametrize("width", WIDTHS)
def test_no_button_label_or_chosen_value_is_cut(new_page, app_url, width):
    """Every button's label, select box's value and widget label is shown whole, on every page."""
    page = new_page({"width": width, "height": 1000})
    open_app(page, app_url)
    found = [f"Explore: {c}" for c in page.evaluate(_CUT_JS)]
    for name in PAGES:
        page.get_by_role("link", name=name).click()
        page.wait_for_url(re.compile("/" + name.lower().split()[0]))
        page.wait_for_function(f"() => {_FRESH}.length > 0", timeout=120_000)
        wait_idle(page)
        found += [f"{name}: {c}" for c in page.evaluate(_CUT_JS)]
    assert not found, "\n".join(found)


def test_a_cut_label_is_found(new_page, app_url):
    """The check itself: a chart whose labels are pushed out of it is reported."""
    page = new_page({"width": 1100, "height": 3000})
    open_app(page, app_url)
    page.evaluate("""() => {
      const gd = document.querySelector('.st-key-umap .js-plotly-plot');
      return window.Plotly.relayout(gd, {'margin.l': 0, 'margin.b': 0, 'xaxis.showticklabels': true,
                                         'yaxis.showticklabels': true, 'title.x': 0.9});
    }""")
    charts = chart_texts(page)
    assert any(problems(c) for c in charts)
    page.evaluate("() => { const i = [...document.querySelectorAll('[data-testid=stMain] input[role=combobox]')]"
                  ".find(i => i.offsetParent && i.value); i.value = 'a chosen value far too long for its box '.repeat(8); }")
    assert page.evaluate(_CUT_JS), "a select box whose value is cut is reported"


def test_nothing_is_requested_from_outside_the_machine(new_page, app_url):
    page = new_page({"width": 1500, "height": 1200})
    outside: list[str] = []
    local = app_url.rsplit(":", 1)[0]
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((local, "data:", "blob:")) else None)
    open_app(page, app_url)
    switch_to_compare(page)
    assert not outside, outside[:5]
