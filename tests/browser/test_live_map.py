"""The Explore map kept in the browser (``live_map.js``): a recolouring brings only the colours,
and the chart drawn is the one ``plots/cell_map.py`` builds (the same traces as exports)."""

from __future__ import annotations

import io
import json
import zipfile
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image
from test_browser import (_MAP, _MAP_TARGETS_JS, choose, download, download_chart, hovers, open_app, read_csv,
                          restore_saved_view, wait_idle)

from scvi_viz.analysis.workspace import Workspace
from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL
from scvi_viz.plots.cell_map import assemble_map, map_parts
from scvi_viz.plots.style import PALETTE

_DRAWN_JS = f"""() => {{
  const gd = {_MAP};
  if (!gd || !gd._fullData) return null;
  const arr = v => (v == null ? null : Array.from(v));
  const m = gd.__scviVizMap;
  const grid = m ? [arr(m.cells.grid_x), arr(m.cells.grid_y)] : null;
  return {{colouring: gd.dataset.colouring || null, title: String(gd._fullLayout.title.text), grid,
          values: m && m.values ? arr(m.values) : null,
          legend: gd._fullData.map(t => t.name),
          traces: m.traces().map(t => ({{name: t.name, x: arr(t.x), y: arr(t.y), customdata: arr(t.customdata),
                                         color: !t.marker ? null : Array.isArray(t.marker.color) || ArrayBuffer.isView(t.marker.color)
                                           ? arr(t.marker.color) : t.marker.color}}))}};
}}"""


@pytest.fixture(scope="module")
def ws() -> Workspace:
    return Workspace.open(str(DEMO_MODEL), str(DEMO_DATA))


def drawn(page) -> dict:
    return page.evaluate(_DRAWN_JS)


def python_traces(ws, color, name) -> list[dict]:
    base, colour = map_parts(ws.embedding(ws.embedding_names()[0]), color, color_name=name, hover=ws.cell_hover())
    traces, _ = assemble_map(base, colour)
    return traces


def assert_same_traces(drawn: dict, python: list[dict]) -> None:
    """The map drawn in the browser holds ``python``'s traces; plotly is given the grid's name
    alone (its points are picked in the browser, from the cells' message)."""
    browser = drawn["traces"]
    assert [t["name"] for t in browser] == [t["name"] for t in python] == drawn["legend"]
    np.testing.assert_array_equal(np.asarray(drawn["grid"], dtype=np.float32),
                                  np.asarray([python[0]["x"], python[0]["y"]], dtype=np.float32))
    for b, p in zip(browser[1:], python[1:]):
        np.testing.assert_array_equal(np.asarray(b["x"], dtype=np.float32), np.asarray(p["x"], dtype=np.float32))
        np.testing.assert_array_equal(np.asarray(b["y"], dtype=np.float32), np.asarray(p["y"], dtype=np.float32))
        if "customdata" in p:  # cell rows, exactly; on a colour scale the values are checked below
            want = np.asarray(p["customdata"], dtype=np.float64)
            np.testing.assert_array_equal(np.asarray(b["customdata"], dtype=np.float64), want if want.ndim == 1 else want[:, 0])
        colour = p["marker"].get("color")
        if colour is not None and not isinstance(colour, str) and b["color"] is not None:
            np.testing.assert_array_equal(np.asarray(b["color"], dtype=np.float32), np.asarray(colour, dtype=np.float32))


def test_a_recolouring_sends_the_colours_not_the_cells_and_draws_what_python_builds(new_page, app_url, ws):
    page = new_page({"width": 1500, "height": 1000})
    received: list[bytes] = []  # every frame from the server; the messages' headers are JSON text inside them
    page.on("websocket", lambda s: s.on("framereceived", lambda payload: received.append(
        payload if isinstance(payload, bytes) else payload.encode())))
    open_app(page, app_url)
    wait_idle(page)
    first = drawn(page)
    labels = ws.obs[ws.model.labels_key].to_numpy()
    assert_same_traces(first, python_traces(ws, labels, ws.model.labels_key))
    cells = page.evaluate("() => Object.values(window.scviViz.mapCells).map(c => c.x.length)")
    assert cells == [ws.n_cells]

    n_before = len(received)
    choose(page, "Colour cells by", "a gene (decoded)")
    page.wait_for_function(f"() => {{ const gd = {_MAP}; return gd && gd._fullLayout.title.text.includes('decoded'); }}")
    wait_idle(page)
    by_gene = drawn(page)
    sent = received[n_before:]
    gene = page.get_by_role("combobox", name="Gene", exact=True).input_value()
    from scvi_viz.analysis.genes import gene_overlay
    values = gene_overlay(ws, gene)
    assert_same_traces(by_gene, python_traces(ws, values, f"{gene} (decoded counts per 10,000)"))
    # Each drawn cell's value (all 700 are drawn): a float32 decode, which the server may run on
    # other threads than this test (ulps apart).
    np.testing.assert_allclose(by_gene["values"], values, rtol=1e-5)
    # A message's JSON header starts with its format (the component's script names both formats too).
    assert any(b'{"format": "scvi-viz-map-colour/1"' in frame for frame in sent), "the new colouring came"
    assert not any(b'{"format": "scvi-viz-map-cells/1"' in frame for frame in sent), "the cells did not travel again"
    assert sum(map(len, sent)) < 4 * 2 * ws.n_cells + 4 * ws.n_cells + 60_000
    assert page.evaluate("() => Object.keys(window.scviViz.mapCells).length") == 1
    # What names the colouring follows it: the address and the map offered for download.
    assert gene in unquote(page.url)
    assert any(gene.encode() in frame and b"map_UMAP" in frame for frame in sent), "the map's download names the gene"
    # Hovering a cell labels it with its name and value (the label is the map's own: plotly draws no cell).
    targets = page.evaluate(_MAP_TARGETS_JS, 20)
    cell = next(c for c in targets["isolated"] if c["gap"] > 3 and hovers(page, c))
    label = page.locator(".st-key-umap .scvi-viz-map-hover")
    assert label.is_visible()
    row = int(cell["cell"])
    name, value = label.inner_text().splitlines()
    assert name == cell["text"]
    assert value.startswith(f"{gene} (decoded counts per 10,000): ")
    assert float(value.rsplit(": ", 1)[1]) == pytest.approx(float(f"{values[row]:.3g}"), rel=1e-9)
    # The map's table, decoded only when downloaded (after the page's run, outside it): every cell's value.
    _, data = download_chart(page, "Map, with the current point", "CSV")
    _, header, rows = read_csv(data)
    assert header[-1] == f"{gene} (decoded counts per 10,000)" and len(rows) == ws.n_cells
    np.testing.assert_allclose([float(r[-1]) for r in rows], gene_overlay(ws, gene), rtol=1e-5)
    assert not page.js_errors


# For each cell trace plotly holds (in its legend only), the canvas pixel under each of its
# cells in view: the topmost trace with cells in view must show its colour at each of them
# (nothing is painted over them).
_CANVAS_JS = f"""() => {{
  const gd = {_MAP};
  const canvas = gd.querySelector('canvas.scvi-viz-cells');
  if (!canvas) return null;
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, W = canvas.width, H = canvas.height;
  const pixels = new Uint32Array(canvas.getContext('2d').getImageData(0, 0, W, H).data.buffer);
  const [x0, x1] = xa.range, [y0, y1] = ya.range;
  const layers = gd.__scviVizMap.layers.map(l => {{
    const t = gd._fullData[l.trace], cells = gd.__scviVizMap.traces()[l.trace], seen = [];
    for (let i = 0; i < cells.x.length; i++) {{
      const X = Math.round((cells.x[i] - x0) * W / (x1 - x0)), Y = Math.round(H - (cells.y[i] - y0) * H / (y1 - y0));
      seen.push(X >= 4 && X < W - 4 && Y >= 4 && Y < H - 4 ? pixels[Y * W + X] : null);  // away from the edges
    }}
    return {{trace: l.trace, colour: l.colour, type: t.type, visible: t.visible, seen}};
  }});
  const colours = new Set(pixels);
  return {{layers, colours: [...colours], drawn: Number(canvas.dataset.drawn), gl: gd.querySelectorAll('.gl-canvas').length}};
}}"""


def _check_canvas(page) -> dict:
    painted = page.evaluate(_CANVAS_JS)
    assert painted is not None, "the cells are painted on the map's canvas"
    layers = painted["layers"]
    assert layers and all(layer["visible"] == "legendonly" and layer["type"] == "scatter" for layer in layers)
    assert painted["gl"] == 0, "plotly draws no cell, and keeps no WebGL layer"
    top = next(layer for layer in reversed(layers) if any(s is not None for s in layer["seen"]))
    inside = [s for s in top["seen"] if s is not None]
    assert all(s == top["colour"] for s in inside), "the topmost trace's cells show its colour"
    # Every colour on the canvas is a trace's, or the transparent background.
    assert set(painted["colours"]) <= {layer["colour"] for layer in layers} | {0}
    return painted


def test_the_cells_are_painted_on_a_canvas_that_follows_zoom_legend_and_download(new_page, app_url, ws):
    page = new_page({"width": 1500, "height": 1000})
    open_app(page, app_url)
    wait_idle(page)
    first = _check_canvas(page)
    assert first["drawn"] == ws.n_cells
    # Zoomed into a quarter: the canvas is painted again at the new ranges.
    page.evaluate(f"""() => {{ const gd = {_MAP}, xa = gd._fullLayout.xaxis.range, ya = gd._fullLayout.yaxis.range;
                      return Plotly.relayout(gd, {{'xaxis.range': [xa[0], (xa[0] + xa[1]) / 2],
                                                  'yaxis.range': [(ya[0] + ya[1]) / 2, ya[1]]}}); }}""")
    page.wait_for_function(f"() => Number({_MAP}.querySelector('canvas.scvi-viz-cells').dataset.drawn) < {ws.n_cells}")
    _check_canvas(page)
    # A legend click hides the cells' traces (one legend group) from the canvas too.
    page.locator(".st-key-umap .legendtoggle").first.click()
    page.wait_for_function(f"() => {_MAP}.querySelector('canvas.scvi-viz-cells').dataset.drawn === '0'")
    page.locator(".st-key-umap .legendtoggle").first.click()
    page.wait_for_function(f"() => {_MAP}.querySelector('canvas.scvi-viz-cells').dataset.drawn !== '0'")
    # The toolbar's camera saves the map with its cells drawn (plotly draws none of them on the page).
    page.locator(".st-key-umap .js-plotly-plot").hover()
    with page.expect_download() as download:
        page.locator('.st-key-umap .modebar-btn[data-title="Download plot as a png"]').click()
    png = Image.open(download.value.path()).convert("RGB")
    counts = dict((rgb, n) for n, rgb in png.getcolors(maxcolors=1 << 20))
    assert download.value.suggested_filename.endswith(".png")
    palette = {tuple(int(c[k:k + 2], 16) for k in (1, 3, 5)) for c in PALETTE[:2]}
    assert all(counts.get(rgb, 0) > 200 for rgb in palette), "the first two categories' cells are in the image"
    assert not page.js_errors


def _map_title(page) -> str:
    return page.evaluate(f"() => String({_MAP}._fullLayout.title.text)")


def test_a_recolouring_travels_with_the_view_and_a_restored_view_recolours(new_page, app_url, tmp_path):
    page = new_page({"width": 1500, "height": 1000})
    open_app(page, app_url)
    wait_idle(page)
    # A recolouring reruns the map and the downloads only: the address and the report bundle follow it.
    before = page.url
    choose(page, "Colour cells by", "phase")
    page.wait_for_function("(u) => window.location.href !== u", arg=before)
    wait_idle(page)
    assert _map_title(page).endswith("coloured by phase")
    assert "x.color_by=phase" in unquote(page.url)
    _, bundle = download(page, page.get_by_role("button", name="Download report bundle (ZIP)"))
    state = zipfile.ZipFile(io.BytesIO(bundle)).read("state.json").decode()
    assert json.loads(state)["extras"]["color_by"] == "phase"
    (tmp_path / "state.json").write_text(state)
    # Another gene, then the saved view back: the map and its boxes show its colouring again.
    choose(page, "Colour cells by", "a gene (decoded)")
    gene_box = page.get_by_role("combobox", name="Gene", exact=True)
    gene_box.click()
    gene_box.fill("LYZ")  # the box lists the genes that contain what is typed
    page.get_by_role("option", name="LYZ", exact=True).click()
    page.wait_for_function(f"() => String({_MAP}._fullLayout.title.text).includes('LYZ')")
    restore_saved_view(page, tmp_path / "state.json")
    page.wait_for_function(f"() => String({_MAP}._fullLayout.title.text).endsWith('coloured by phase')")
    wait_idle(page)
    assert page.get_by_role("combobox", name="Colour cells by").input_value() == "phase"
    assert not page.get_by_role("combobox", name="Gene", exact=True).count()
    assert not page.js_errors
