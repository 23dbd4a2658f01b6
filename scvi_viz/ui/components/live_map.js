// The Explore map, kept in the browser: the cells' positions come once per map, a recolouring
// brings only one category code or value per drawn cell.
//
// st.plotly_chart rebuilds a chart from nothing when its figure changes, and sends the whole
// figure: for 100,000 cells seconds of serialising, transferring and building WebGL twice. Here
// two kinds of message (components/live_map.py, read by messages.js) arrive as bytes: the cells
// ("scvi-viz-map-cells/1": click grid, positions, rows, hover texts), kept in window.scviViz
// under their key, and a colouring ("scvi-viz-map-colour/1": codes or values, the categories,
// the layout), which Plotly.react draws over the cells the first time and in place afterwards.
// Streamlit sends a message of 10 KB or more once per connection, so neither travels again on
// a rerun. The traces are those of scvi_viz/plots/cell_map.py: assemble_map (a test compares
// them with __scviVizMap.traces(), built when the camera or a test asks).
//
// The cells are painted here, on a 2-D canvas under plotly's layers, and plotly draws no cell at
// all: without a GPU (software WebGL) plotly's WebGL layers cost 150-500 ms a redraw in the app's
// page even with transparent markers, and an SVG point per cell is slower still. plotly keeps
// the cells' traces "legendonly" (SVG type, one null point each), which gives the legend, the
// colour bar, the axes, zoom and pan; the hover label and clicks are found here, among the drawn cells and
// the grid of empty space (as plotly would pick them: the marker nearest the mouse). A redraw is
// 20-50 ms; the canvas is painted again after every plotly redraw and while a pan or zoom is
// dragged. Clicks reach map_point.js as a "scvi-viz-click" event on the chart's element.
const scviViz = (window.scviViz = window.scviViz || { decoders: {}, cells: {}, maps: {} });
scviViz.mapCells = scviViz.mapCells || {};
const WAIT_MS = 30_000;
const CELLS_FORMAT = "scvi-viz-map-cells/1";
const COLOUR_FORMAT = "scvi-viz-map-colour/1";

function when(ready, callback, started = performance.now()) {
  if (ready()) callback();
  else if (performance.now() - started < WAIT_MS) setTimeout(() => when(ready, callback, started), 25);
  else console.error("scvi-viz: the map's cells or plotly.js did not arrive; the map cannot be drawn");
}

function subset(array, rows) {
  const out = new array.constructor(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = array[rows[i]];
  return out;
}

// The cells' layers of a colouring, in drawing order (the last on top), as assemble_map's cell
// traces: one per colour step (the highest last, as scale_steps) or one per category. Each has
// its trace number (the grid is trace 0), name, colour and the drawn rows it holds.
function colourLayers(cells, colour, arrays) {
  let rows, names, colours;
  if (colour.kind === "scale") {
    const n = colour.steps.length, span = colour.high - colour.low, values = arrays.values;
    rows = colour.steps.map(() => []);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!Number.isFinite(v)) continue;
      rows[span <= 0 ? 0 : Math.min(n - 1, Math.max(0, Math.floor((v - colour.low) * (n / span))))].push(i);
    }
    names = colour.steps.map(() => colour.name);
    colours = colour.steps;
  } else {
    rows = colour.categories.map(() => []);
    const codes = arrays.codes;
    for (let i = 0; i < codes.length; i++) rows[codes[i]].push(i);
    names = colour.categories;
    colours = colour.categories.map((_, c) => colour.palette[c % colour.palette.length]);
  }
  return rows.map((r, k) => ({ trace: k + 1, name: names[k], css: colours[k], colour: rgba(colours[k]),
                                size: cells.cell_size, rows: r }));
}

// The traces of assemble_map, for the camera's PNG and for tests: the invisible grid first, the
// cells' layers with their points, and the colour bar of a scale. Without assemble_map's hover
// templates, and a cell's customdata is its row alone (showHover labels cells here).
function fullTraces(cells, colour, layers) {
  const texts = cells.hover, scale = colour.kind === "scale";
  const traces = [{ type: "scattergl", x: cells.grid_x, y: cells.grid_y, mode: "markers", name: "empty space",
                    showlegend: false, marker: { size: cells.cell_size, opacity: 0 }, hoverinfo: "none" }];
  for (const layer of layers) {
    const rows = layer.rows;
    traces.push({
      ...cellTrace(layer, scale), type: "scattergl", x: subset(cells.x, rows), y: subset(cells.y, rows),
      customdata: subset(cells.index, rows), ...(texts ? { text: rows.map((i) => texts[i]) } : {}),
    });
  }
  if (scale) traces.push(colourBar(colour));
  return traces;
}

// A layer's trace without its points: name, legend (a category's, or none on a colour scale), marker.
function cellTrace({ name, css, size }, scale) {
  return { mode: "markers", name, ...(scale ? { showlegend: false } : { legendgroup: "cells" }),
           marker: { size, color: css } };
}

function colourBar(colour) {
  return {
    type: "scattergl", x: [null], y: [null], mode: "markers", name: colour.name, showlegend: false, hoverinfo: "skip",
    marker: { color: [colour.low, colour.high], colorscale: "Viridis", showscale: true, cmin: colour.low,
              cmax: colour.high,
              colorbar: { title: { text: colour.colorbar_title, font: { size: colour.tick_size } }, len: 0.8 } },
  };
}

// What plotly is given: the same traces without points. The grid's points are picked here; the
// cells' traces are SVG and "legendonly" (in the legend, never drawn by plotly: the canvas paints
// them), which gives the legend, the colour bar, the axes, zoom and pan. Its arrays are the same
// objects on every colouring, so that Plotly.react redraws what changed, not every trace.
const NULL_POINT = Object.freeze([null]); // one point, none drawn: plotly hides a trace with no points, legend and all
function plotlyTraces(colour, layers) {
  const scale = colour.kind === "scale";
  const traces = [{ type: "scatter", x: NULL_POINT, y: NULL_POINT, mode: "markers", name: "empty space",
                    showlegend: false, hoverinfo: "none", marker: { opacity: 0 } }];
  for (const layer of layers) {
    traces.push({ ...cellTrace(layer, scale), type: "scatter", x: NULL_POINT, y: NULL_POINT, visible: "legendonly" });
  }
  if (scale) traces.push({ ...colourBar(colour), type: "scatter", x: NULL_POINT, y: NULL_POINT });
  return traces;
}


// ------------------------------------------------------------------ the cells' canvas
const CANVAS_CLASS = "scvi-viz-cells";
const HOVER_CLASS = "scvi-viz-map-hover";
const LEGEND_STYLE = "scvi-viz-live-map-legend";
const CLICK_SLOP_PX = 4; // a press and release this close is a click, farther a pan

// "#rrggbb" or "rgb(r, g, b)" -> [r, g, b].
function rgbOf(colour) {
  return colour[0] === "#" ? [1, 3, 5].map((k) => parseInt(colour.slice(k, k + 2), 16)) : colour.match(/[\d.]+/g).map(Number);
}

// A colour as a little-endian RGBA pixel, opaque.
function rgba(colour) {
  const [r, g, b] = rgbOf(colour);
  return ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

// Pixel offsets of a round marker of `size` px (plotly's marker.size is its diameter).
function disc(size) {
  const r = size / 2, out = [];
  for (let dy = -Math.ceil(r); dy <= Math.ceil(r); dy++)
    for (let dx = -Math.ceil(r); dx <= Math.ceil(r); dx++) if (dx * dx + dy * dy <= r * r) out.push([dx, dy]);
  return out;
}

// Paint every shown cell trace (not drawn by plotly) at the axes' current ranges, in trace
// order (the last on top, as plotly draws them).
function paintCells(gd, ranges) {
  const fl = gd._fullLayout, map = gd.__scviVizMap;
  if (!fl || !fl.xaxis || !map) return;
  const layers = map.layers;
  const xa = fl.xaxis, ya = fl.yaxis;
  let canvas = gd.querySelector(`canvas.${CANVAS_CLASS}`);
  if (!canvas) {
    const below = gd.querySelector(".svg-container > svg.main-svg");
    if (!below) return;
    canvas = document.createElement("canvas");
    canvas.className = CANVAS_CLASS;
    canvas.style.cssText = "position:absolute;pointer-events:none";
    below.after(canvas); // above the background and axes, below plotly's own layers
  }
  const dpr = window.devicePixelRatio || 1;
  const W = Math.max(1, Math.round(xa._length * dpr)), H = Math.max(1, Math.round(ya._length * dpr));
  Object.assign(canvas.style, { left: `${xa._offset}px`, top: `${ya._offset}px`, width: `${xa._length}px`,
                                height: `${ya._length}px` });
  if (canvas.width !== W) canvas.width = W;
  if (canvas.height !== H) canvas.height = H;
  const [x0, x1] = (ranges && ranges.x) || xa.range, [y0, y1] = (ranges && ranges.y) || ya.range;
  const sx = W / (x1 - x0), sy = H / (y1 - y0);
  const context = canvas.getContext("2d");
  const image = context.createImageData(W, H);
  const pixels = new Uint32Array(image.data.buffer);
  let drawn = 0;
  const xs = map.cells.x, ys = map.cells.y;
  for (const { trace: k, colour, size, rows } of layers) {
    if (map.hidden.has(k)) continue; // hidden from the legend
    const stamp = disc(size * dpr);
    for (let j = 0; j < rows.length; j++) {
      const i = rows[j], X = Math.round((xs[i] - x0) * sx), Y = Math.round(H - (ys[i] - y0) * sy);
      if (X < -8 || Y < -8 || X > W + 8 || Y > H + 8) continue;
      for (let s = 0; s < stamp.length; s++) {
        const px = X + stamp[s][0], py = Y + stamp[s][1];
        if (px >= 0 && px < W && py >= 0 && py < H) pixels[py * W + px] = colour;
      }
      drawn++;
    }
  }
  context.putImageData(image, 0, 0);
  canvas.dataset.drawn = String(drawn);
}

// The axes' ranges: the grid of empty space (the cells' extent and 5% more, cell_map._grid_axes),
// as plotly's autorange took them when it drew the grid, and a marker's breadth more.
function gridRange(cells) {
  const span = (v) => {
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < v.length; i++) { if (v[i] < lo) lo = v[i]; if (v[i] > hi) hi = v[i]; }
    if (!(hi > lo)) { lo -= 1; hi += 1; }
    const pad = 0.01 * (hi - lo);
    return [lo - pad, hi + pad];
  };
  return { x: span(cells.grid_x), y: span(cells.grid_y) };
}

// ------------------------------------------------------------------ picking, hover and clicks
// The marker plotly would pick under the mouse: the nearest in pixels among the shown cells and
// the grid of empty space. {curveNumber, pointNumber, x, y, customdata, cell (drawn row)}, or null
// off the plot area.
function pick(gd, clientX, clientY) {
  const fl = gd._fullLayout, map = gd.__scviVizMap;
  if (!fl || !fl.xaxis || !map) return null;
  const xa = fl.xaxis, ya = fl.yaxis, r = gd.getBoundingClientRect();
  const X = clientX - r.left - xa._offset, Y = clientY - r.top - ya._offset;
  if (X < 0 || Y < 0 || X > xa._length || Y > ya._length) return null;
  const x0 = xa.d2p(0), mx = xa.d2p(1) - x0, y0 = ya.d2p(0), my = ya.d2p(1) - y0; // linear axes
  const { cells } = map;
  let best = Infinity, hit = null;
  for (let i = 0; i < cells.grid_x.length; i++) {
    const dx = x0 + mx * cells.grid_x[i] - X, dy = y0 + my * cells.grid_y[i] - Y, d = dx * dx + dy * dy;
    if (d < best) { best = d; hit = { curveNumber: 0, pointNumber: i, x: cells.grid_x[i], y: cells.grid_y[i], customdata: null }; }
  }
  for (const { trace: k, rows } of map.layers) {
    if (map.hidden.has(k)) continue;
    for (let j = 0; j < rows.length; j++) {
      const i = rows[j], dx = x0 + mx * cells.x[i] - X, dy = y0 + my * cells.y[i] - Y, d = dx * dx + dy * dy;
      if (d < best) { best = d; hit = { curveNumber: k, pointNumber: j, x: cells.x[i], y: cells.y[i], cell: i }; }
    }
  }
  if (hit && hit.cell !== undefined) hit.customdata = cells.index[hit.cell];
  return hit;
}

// The hover label of a cell, in the words of assemble_map's hover templates (plotly draws none).
function hoverText(gd, hit) {
  const { cells, colour } = gd.__scviVizMap;
  const row = cells.index[hit.cell], text = cells.hover ? cells.hover[hit.cell] : null;
  if (colour.kind === "scale") {
    const v = gd.__scviVizMap.values[hit.cell];
    return [text || `cell #${row}`, `${colour.name}: ${Number.isFinite(v) ? Number(v.toPrecision(3)) : v}`];
  }
  return [text || `${gd.__scviVizMap.layers[hit.curveNumber - 1].name}, cell #${row}`];
}

function showHover(gd, hit) {
  let label = gd.querySelector(`.${HOVER_CLASS}`);
  if (!hit || hit.cell === undefined) { if (label) label.hidden = true; return; }
  if (!label) {
    label = document.createElement("div");
    label.className = HOVER_CLASS;
    label.style.cssText = "position:absolute;pointer-events:none;z-index:10;padding:3px 6px;border-radius:3px;" +
      "font:12px sans-serif;white-space:nowrap;border:1px solid #fff;box-shadow:0 1px 3px rgba(0,0,0,.3)";
    gd.appendChild(label);
  }
  const fl = gd._fullLayout, colour = gd.__scviVizMap.layers[hit.curveNumber - 1].css;
  label.replaceChildren(...hoverText(gd, hit).map((line) => { const d = document.createElement("div"); d.textContent = line; return d; }));
  label.style.background = colour;
  const [r, g, b] = rgbOf(colour);
  label.style.color = 0.299 * r + 0.587 * g + 0.114 * b > 150 ? "#000" : "#fff";
  const X = fl.xaxis._offset + fl.xaxis.d2p(hit.x), Y = fl.yaxis._offset + fl.yaxis.d2p(hit.y);
  label.hidden = false;
  const right = X + 12 + label.offsetWidth > fl.width;
  label.style.left = `${right ? X - 12 - label.offsetWidth : X + 12}px`;
  label.style.top = `${Y - label.offsetHeight / 2}px`;
}

// Legend clicks toggle a category (a legend group together, as plotly does) on the canvas; a
// double click shows that one alone, or all again. plotly's own toggling would draw the trace.
function toggle(gd, k, alone) {
  const map = gd.__scviVizMap, group = gd.data[k].legendgroup;
  const same = map.layers.filter((l) => l.trace === k || (group && gd.data[l.trace].legendgroup === group)).map((l) => l.trace);
  if (alone) {
    const onlyThese = map.layers.every((l) => same.includes(l.trace) !== map.hidden.has(l.trace));
    map.hidden = new Set(onlyThese ? [] : map.layers.map((l) => l.trace).filter((t) => !same.includes(t)));
  } else if (same.every((t) => map.hidden.has(t))) same.forEach((t) => map.hidden.delete(t));
  else same.forEach((t) => map.hidden.add(t));
  styleLegend(gd);
  paintCells(gd, null);
}

// plotly dims every item of a "legendonly" trace (inline); the style sheet dims the hidden ones only.
function styleLegend(gd) {
  if (!document.getElementById(LEGEND_STYLE)) {
    const style = document.createElement("style");
    style.id = LEGEND_STYLE;
    style.textContent = ".scvi-viz-live-map .legend .traces { opacity: 1 !important; }\n" +
      ".scvi-viz-live-map .legend .traces.scvi-viz-hidden { opacity: 0.5 !important; }";
    document.head.appendChild(style);
  }
  const map = gd.__scviVizMap;
  gd.querySelectorAll(".legend .traces").forEach((item) => {
    const d = item.__data__ && item.__data__[0] && item.__data__[0].trace;
    if (d) item.classList.toggle("scvi-viz-hidden", map.hidden.has(d.index));
  });
}

// Repaint after each plotly redraw, and on each frame of a pan or zoom being dragged (plotly
// moves the axes then, and redraws when the drag ends); hover labels, clicks and the legend.
function bindMap(gd) {
  if (gd.__scviVizPainter) return;
  gd.__scviVizPainter = true;
  gd.style.position = "relative";
  let queued = null;
  const later = (ranges) => {
    const first = queued === null;
    queued = ranges;
    if (first) requestAnimationFrame(() => { const r = queued; queued = null; styleLegend(gd); paintCells(gd, r); });
  };
  gd.on("plotly_afterplot", () => later(null));
  gd.on("plotly_relayouting", (update) => {
    showHover(gd, null);
    const x = [update["xaxis.range[0]"], update["xaxis.range[1]"]], y = [update["yaxis.range[0]"], update["yaxis.range[1]"]];
    later(x.every(Number.isFinite) && y.every(Number.isFinite) ? { x, y } : null);
  });
  gd.on("plotly_legendclick", (event) => { toggle(gd, event.curveNumber, false); return false; });
  gd.on("plotly_legenddoubleclick", (event) => { toggle(gd, event.curveNumber, true); return false; });
  // The hover label and map_point.js's preview both ask, in the same frame, for the same mouse
  // position: one scan of the cells serves both.
  let last = null;
  gd.__scviVizPick = (clientX, clientY) => {
    const frame = document.timeline.currentTime, map = gd.__scviVizMap;
    if (!last || last.frame !== frame || last.map !== map || last.at[0] !== clientX || last.at[1] !== clientY) {
      last = { frame, map, at: [clientX, clientY], hit: pick(gd, clientX, clientY) };
    }
    return last.hit;
  };
  let pending = null;
  gd.addEventListener("mousemove", (event) => {
    const first = pending === null;
    pending = event;
    if (first) requestAnimationFrame(() => {
      const e = pending;
      pending = null;
      const hit = e.buttons || !e.target.closest(".nsewdrag") ? null : gd.__scviVizPick(e.clientX, e.clientY);
      gd.__scviVizHover = hit ? [hit.curveNumber, hit.customdata === undefined ? null : hit.customdata] : null;
      showHover(gd, hit);
    });
  });
  gd.addEventListener("mouseleave", () => showHover(gd, null));
  // A click is a press and release in place on the plot area (not a pan, not on the toolbar).
  // The release is the window's: plotly covers the page while the button is down.
  let down = null;
  gd.addEventListener("pointerdown", (e) => {
    down = e.button === 0 && e.target.closest(".nsewdrag") ? [e.clientX, e.clientY] : null;
  }, true);
  window.addEventListener("pointerup", (e) => {
    if (!down || Math.hypot(e.clientX - down[0], e.clientY - down[1]) > CLICK_SLOP_PX) return;
    down = null;
    const hit = pick(gd, e.clientX, e.clientY);
    if (hit) gd.dispatchEvent(new CustomEvent("scvi-viz-click", { detail: hit }));
  }, true);
}

// The camera button draws the figure again off screen with the cells as plotly markers (on the
// page they are painted on the canvas), as "Download plot as a png" does.
function cameraButton(config) {
  const options = config.toImageButtonOptions || {};
  return {
    name: "Download plot as a png", icon: window.Plotly.Icons.camera,
    click: (gd) => {
      const { traces, hidden } = gd.__scviVizMap;
      const data = traces().map((t, k) => (k === 0 ? { ...t, x: [null], y: [null] }
        : t.customdata ? { ...t, visible: hidden.has(k) ? "legendonly" : true, marker: { ...t.marker, opacity: 1 } } : t));
      const layout = { ...gd.layout, width: gd._fullLayout.width, height: gd._fullLayout.height,
                       xaxis: { ...gd.layout.xaxis, range: [...gd._fullLayout.xaxis.range] },
                       yaxis: { ...gd.layout.yaxis, range: [...gd._fullLayout.yaxis.range] } };
      window.Plotly.downloadImage({ data, layout }, { format: "png", scale: 2, filename: "newplot", ...options });
    },
  };
}

// The chart's config, the same object while it does not change: Plotly.react draws a chart anew
// (newPlot) whenever its config differs, and a new camera button would differ each time.
function plotlyConfig(gd, wanted) {
  const json = JSON.stringify(wanted);
  if (!gd.__scviVizConfig || gd.__scviVizConfig.json !== json) {
    const buttons = wanted.modeBarButtons.map((group) => group.map((b) => (b === "toImage" ? cameraButton(wanted) : b)));
    gd.__scviVizConfig = { json, config: { ...wanted, modeBarButtons: buttons } };
  }
  return gd.__scviVizConfig.config;
}

export default function ({ parentElement, data }) {
  const buffer = toBuffer(data);
  const { header } = readHeader(buffer);
  if (header.format === CELLS_FORMAT) {
    if (!scviViz.mapCells[header.key]) {
      const { arrays } = readMessage(buffer);
      scviViz.mapCells[header.key] = { ...header, ...arrays };
    }
    return;
  }
  if (header.format !== COLOUR_FORMAT) throw new Error(`scvi-viz: unknown map message ${header.format}`);
  let gd = parentElement.querySelector("div.scvi-viz-live-map");
  if (!gd) {
    gd = document.createElement("div");
    gd.className = "scvi-viz-live-map";
    gd.style.width = "100%";
    gd.style.minHeight = `${header.layout.height}px`;
    parentElement.appendChild(gd);
  }
  if (gd.__scviVizWanted === header.id) return; // this colouring is drawn (or on its way)
  gd.__scviVizWanted = header.id;
  const { arrays } = readMessage(buffer);
  when(() => window.Plotly && scviViz.mapCells[header.cells], () => {
    if (gd.__scviVizWanted !== header.id) return; // a newer colouring came meanwhile
    const cells = scviViz.mapCells[header.cells];
    const layers = colourLayers(cells, header, arrays);
    const range = gridRange(cells);
    const layout = { ...header.layout, uirevision: header.cells, xaxis: { ...header.layout.xaxis, range: range.x },
                     yaxis: { ...header.layout.yaxis, range: range.y } };
    const started = performance.now();
    // The toolbar's buttons as Python names them, with the camera that draws the cells.
    const config = plotlyConfig(gd, header.config);
    const names = layers.map((l) => l.name).join("\n");
    const before = gd.__scviVizMap;
    let full = null;
    gd.__scviVizMap = { cells, colour: header, values: arrays.values, layers, names,
                        traces: () => (full = full || fullTraces(cells, header, layers)),
                        hidden: before && before.names === names && before.cells === cells ? before.hidden : new Set() };
    window.Plotly.react(gd, plotlyTraces(header, layers), layout, config).then(() => {
      bindMap(gd);
      styleLegend(gd);
      paintCells(gd, null);
      gd.dataset.colouring = header.id;
      gd.dataset.drawMs = String(performance.now() - started);
    });
  });
}
