"""The live walk in Chromium: the charts follow a dragged slider and the mouse over the map with no
server request, the server's numbers after the release equal the last live ones, the map, the
sliders and the chosen genes' chart share one screen, and Back / Undo bring back each view.

Streamlit talks to the server over one WebSocket: "no server request" means no frame sent on it.
"""

from __future__ import annotations

import json

import pytest
from test_browser import _MAP, _MAP_TARGETS_JS, hovered, open_app, wait_idle

WALK = ".scvi-viz-walk"  # inside the component's shadow root: Playwright's CSS locators pierce it
_CHOSEN_JS = """
() => {
  const host = [...document.querySelectorAll('*')].find(e => e.shadowRoot && e.shadowRoot.querySelector('.scvi-viz-walk'));
  const root = host && host.shadowRoot.querySelector('.scvi-viz-walk');
  if (!root) return null;
  const rows = [...root.querySelectorAll('.gene')];
  return {source: root.querySelector('.chart .title').dataset.source, frames: +(root.dataset.frames || 0),
          z: JSON.parse(root.dataset.z || 'null'), live: root.dataset.live, preview: root.dataset.preview || 'off',
          genes: rows.map(r => r.dataset.gene), rates: rows.map(r => +r.dataset.rate),
          top: root.querySelector('.top').dataset.genes,
          ratio: +(root.querySelector('.status').dataset.ratio || NaN)};
}
"""


SAME_POINT = "s.source === 'server' && s.z.every((v, i) => Math.fround(v) === Math.fround(arg[i]))"
"""The server shows the point ``arg`` as the decoder takes it (float32)."""


def walk_state(page) -> dict:
    return page.evaluate(_CHOSEN_JS)


def count_frames_sent(page) -> list:
    """Every frame the page sends the server over its WebSocket from now on (appended as they go)."""
    sent: list = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    return sent


def wait_walk(page, condition: str, arg=None):
    js = "(arg) => { const s = (" + _CHOSEN_JS + ")(); return !!s && (" + condition + "); }"
    page.wait_for_function(js, arg=arg)


def relative_difference(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) / max(abs(y), 1e-9) for x, y in zip(a, b))


def test_a_drag_is_followed_in_the_browser_and_confirmed_by_the_server(new_page, app_url):
    page = new_page()
    sent = count_frames_sent(page)
    open_app(page, app_url)
    wait_walk(page, "s.live === 'on' && s.genes.length > 0 && s.source === 'server'")
    before = walk_state(page)
    slider = page.locator(f'{WALK} input[type="range"][aria-label="latent dimension 1"]')
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    wait_idle(page)
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    page.mouse.down()
    n_sent = len(sent)
    seen = []
    for k in range(1, 9):  # the thumb goes right, step by step, as a hand would
        page.mouse.move(box["x"] + box["width"] * (0.5 + 0.05 * k), y)
        wait_walk(page, "s.frames > arg", arg=(seen[-1]["frames"] if seen else before["frames"]))
        seen.append(walk_state(page))
    assert len(sent) == n_sent, "a drag must not talk to the server until the thumb is released"
    assert all(s["source"] == "browser" for s in seen)
    assert seen[-1]["rates"] != before["rates"] and seen[-1]["z"][0] != before["z"][0]
    assert len({json.dumps(s["rates"]) for s in seen}) > 4  # the chart followed the hand, not only its end
    page.mouse.up()
    wait_walk(page, "s.source === 'server' && s.z[0] === arg", arg=seen[-1]["z"][0])
    after = walk_state(page)
    assert len(sent) > n_sent  # the release went to the server ...
    assert relative_difference(seen[-1]["rates"], after["rates"]) < 1e-5  # ... which agrees with the browser
    assert after["top"] == seen[-1]["top"]
    assert after["ratio"] == pytest.approx(seen[-1]["ratio"], rel=1e-6)
    assert not page.js_errors


def test_hover_previews_what_a_click_at_the_same_place_decodes(new_page, app_url):
    page = new_page()
    open_app(page, app_url)
    wait_walk(page, "s.live === 'on' && s.source === 'server'")
    targets = page.evaluate(_MAP_TARGETS_JS, 3)
    sent = count_frames_sent(page)
    for target in (targets["empty"], targets["isolated"][0]):
        wait_idle(page)
        current = walk_state(page)["z"]
        n_sent = len(sent)
        hovered(page, target)
        wait_walk(page, "s.preview === 'on' && s.source === 'browser'")
        preview = walk_state(page)
        assert len(sent) == n_sent, "a hover preview must not talk to the server"
        page.mouse.click(target["X"], target["Y"])
        wait_walk(page, "s.source === 'server' && s.preview !== 'on' && s.z.some((v, i) => v !== arg[i])", arg=current)
        clicked = walk_state(page)
        assert relative_difference(preview["z"], clicked["z"]) < 1e-6
        assert relative_difference(preview["rates"], clicked["rates"]) < 1e-5
        assert preview["ratio"] == pytest.approx(clicked["ratio"], rel=1e-5)
    page.mouse.move(1, 1)  # off the map: the current point again
    assert not page.js_errors


@pytest.mark.parametrize("viewport", [{"width": 1500, "height": 1000}, {"width": 1100, "height": 800}])
def test_map_sliders_and_chosen_genes_share_one_screen(new_page, app_url, viewport):
    page = new_page(viewport)
    open_app(page, app_url)
    wait_walk(page, "s.genes.length > 0")
    page.evaluate("window.scrollTo(0, 0)")
    boxes = {
        "map": page.evaluate(f"() => {{ const r = {_MAP}.querySelector('.nsewdrag').getBoundingClientRect();"
                             " return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; }"),
        "sliders": page.locator(f"{WALK} .sliders").bounding_box(),
        "chosen genes": page.locator(f"{WALK} .chart").bounding_box(),
    }
    for name, box in boxes.items():
        bottom = box["bottom"] if "bottom" in box else box["y"] + box["height"]
        top = box["top"] if "top" in box else box["y"]
        right = box["right"] if "right" in box else box["x"] + box["width"]
        assert top >= 0 and bottom <= viewport["height"], f"the {name} runs out of the screen: {top:.0f}-{bottom:.0f} px"
        assert right <= viewport["width"], f"the {name} runs off the right edge"


def test_back_undo_and_redo_step_through_finished_moves(new_page, app_url):
    page = new_page()
    open_app(page, app_url)
    wait_walk(page, "s.source === 'server'")
    first = walk_state(page)
    slider = page.locator(f'{WALK} input[type="range"][aria-label="latent dimension 2"]')
    slider.focus()
    for _ in range(2):
        wait_idle(page)
        z_before = walk_state(page)["z"]
        page.keyboard.press("ArrowRight")
        wait_walk(page, "s.source === 'server' && s.z[1] !== arg", arg=z_before[1])
    wait_idle(page)
    last = walk_state(page)
    points = page.evaluate("() => navigation.entries().map(e => new URL(e.url).searchParams.get('z'))")
    assert len(set(points[-3:])) == 3, f"one step of history per finished move: {points}"
    page.go_back()
    wait_walk(page, "s.source === 'server' && s.z[1] !== arg", arg=last["z"][1])
    middle = walk_state(page)
    page.locator(f"{WALK} .nav button", has_text="Undo").click()
    wait_walk(page, SAME_POINT, arg=first["z"])
    assert walk_state(page)["rates"] == first["rates"]
    page.locator(f"{WALK} .nav button", has_text="Redo").click()
    wait_walk(page, SAME_POINT, arg=middle["z"])
    page.go_forward()
    wait_walk(page, SAME_POINT, arg=last["z"])
    assert walk_state(page)["rates"] == last["rates"]
    assert not page.js_errors


def test_a_slider_toward_a_group_moves_live_and_reaches_its_centre_exactly(new_page, app_url):
    from scvi_viz.analysis.directions import group_centroids
    from scvi_viz.analysis.workspace import Workspace
    from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL

    page = new_page()
    open_app(page, app_url)
    wait_walk(page, "s.live === 'on' && s.source === 'server'")
    page.get_by_role("button", name="Directions").click()
    page.get_by_role("button", name="Add the slider").click()
    named = page.locator(f'{WALK} input[type="range"][aria-label^="toward "]')
    named.wait_for()
    page.keyboard.press("Escape")
    wait_idle(page)
    label = named.get_attribute("aria-label")
    ws = Workspace.open(str(DEMO_MODEL), str(DEMO_DATA))
    group = label.removeprefix("toward ")
    columns = [c for c in ws.color_columns() if 1 < ws.category_count(c) <= 60]
    centre = next(group_centroids(ws.latent, ws.obs[c])[group] for c in columns
                  if group in set(ws.obs[c].astype(str)))
    sent = count_frames_sent(page)
    before = walk_state(page)
    box = named.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.25, y)  # 0 = the start, a quarter of the way in
    page.mouse.down()
    n_sent = len(sent)
    for k in range(1, 5):
        page.mouse.move(box["x"] + box["width"] * (0.25 + 0.08 * k), y)
        wait_walk(page, "s.frames > arg", arg=before["frames"] + k - 1)
    moving = walk_state(page)
    assert len(sent) == n_sent and moving["source"] == "browser"
    assert sum(a != b for a, b in zip(moving["z"], before["z"])) > 1, "a named slider moves every coordinate"
    shown = page.locator(f'{WALK} input[type="range"][aria-label="latent dimension 1"]').input_value()
    assert float(shown) == pytest.approx(moving["z"][0], abs=0.05), "the other sliders follow the point"
    page.mouse.up()
    wait_idle(page)
    # a hand that stops exactly at 1 (as the keyboard's End of a 0..1 slider would)
    named.evaluate("el => { el.value = '1'; el.dispatchEvent(new Event('input', {bubbles: true}));"
                   " el.dispatchEvent(new Event('change', {bubbles: true})); }")
    wait_walk(page, SAME_POINT, arg=centre.tolist())
    assert walk_state(page)["z"] == centre.tolist(), "at 1 the point is the group's centre, to the last bit"
    assert not page.js_errors


def test_downloads_export_the_newest_point_without_being_redrawn_by_moves(new_page, app_url):
    """The download buttons sit outside the fragment that moves rerun: a move leaves them as they
    are and a download takes the newest point's charts, numbers and view."""
    import io
    import zipfile

    from test_browser import download, download_chart, read_csv

    page = new_page()
    received: list = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: received.append(payload)))
    open_app(page, app_url)
    wait_walk(page, "s.source === 'server'")
    wait_idle(page)
    before = walk_state(page)["z"]
    n_received = len(received)
    page.locator(f'{WALK} input[type="range"][aria-label="latent dimension 1"]').focus()
    page.keyboard.press("ArrowRight")
    wait_walk(page, "s.source === 'server' && s.z[0] !== arg", arg=before[0])
    wait_idle(page)
    z = walk_state(page)["z"]
    after = [bytes(f) if isinstance(f, (bytes, bytearray)) else f.encode() for f in received[n_received:]]
    assert after and any(b"Decoded at the current point" in f for f in after), "the move's rerun came over the socket"
    assert not any(b"Download report bundle" in f for f in after), "a move must not send the downloads again"
    _, bundle = download(page, page.get_by_role("button", name="Download report bundle (ZIP)"))
    state = json.loads(zipfile.ZipFile(io.BytesIO(bundle)).read("state.json"))
    assert state["point"]["z"] == pytest.approx(z, abs=1e-12) and state["point"]["z"][0] != before[0]
    _, data = download_chart(page, "Decoded at the current point (all panels, as shown)", "CSV")
    captions, _, rows = read_csv(data)
    top = [r[0] for r in rows[:3]]
    assert top == walk_state(page)["top"].split(",")[:3], "the CSV is of the point the page shows"
    assert not page.js_errors
