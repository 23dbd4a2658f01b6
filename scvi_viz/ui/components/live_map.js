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
// a rerun. The traces are those of scvi_viz/plots/cell_map.py: assemble_map (a test compares them).
//
// The cells are painted here, on a 2-D canvas under plotly's layers, not by plotly's WebGL:
// without a GPU (software WebGL) plotly takes 200-700 ms to draw 100,000 markers, a canvas whose
// pixels are written directly 10-30 ms. plotly keeps the cells' traces with transparent
// markers (it skips drawing those), so hover, clicks, the legend and zoom work as before; the
// canvas is painted again after every plotly redraw and while a pan or zoom is dragged.
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

// The traces of assemble_map: the invisible grid first, then one trace per category in order,
// or one trace on a colour scale.
function buildTraces(cells, colour, arrays) {
  const traces = [{ type: "scattergl", x: cells.grid_x, y: cells.grid_y, mode: "markers", name: "empty space",
                    showlegend: false, marker: { size: cells.cell_size, opacity: 0 }, hoverinfo: "none" }];
  const texts = cells.hover;
  if (colour.kind === "scale") {
    // One trace per colour step, the highest last (on top), as assemble_map and scale_steps.
    const n = colour.steps.length, span = colour.high - colour.low, values = arrays.values;
    const rows = colour.steps.map(() => []);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!Number.isFinite(v)) continue;
      const k = span <= 0 ? 0 : Math.min(n - 1, Math.max(0, Math.floor((v - colour.low) * (n / span))));
      rows[k].push(i);
    }
    const value = `${colour.name}: %{customdata[1]:.3g}<extra></extra>`;
    const template = texts ? `%{text}<br>${value}` : `cell #%{customdata[0]}<br>${value}`;
    colour.steps.forEach((rgb, k) => {
      const sel = rows[k];
      traces.push({
        type: "scattergl", mode: "markers", hovertemplate: template, x: subset(cells.x, sel), y: subset(cells.y, sel),
        name: colour.name, showlegend: false, customdata: sel.map((i) => [cells.index[i], values[i]]),
        ...(texts ? { text: sel.map((i) => texts[i]) } : {}), marker: { size: cells.cell_size, color: rgb, opacity: 0 },
      });
    });
    traces.push({
      type: "scattergl", x: [null], y: [null], mode: "markers", name: colour.name, showlegend: false, hoverinfo: "skip",
      marker: { color: [colour.low, colour.high], colorscale: "Viridis", showscale: true, cmin: colour.low,
                cmax: colour.high,
                colorbar: { title: { text: colour.colorbar_title, font: { size: colour.tick_size } }, len: 0.8 } },
    });
    return traces;
  }
  const rows = colour.categories.map(() => []);
  const codes = arrays.codes;
  for (let i = 0; i < codes.length; i++) rows[codes[i]].push(i);
  const template = texts ? "%{text}<extra></extra>" : "%{fullData.name}, cell #%{customdata}<extra></extra>";
  colour.categories.forEach((name, c) => {
    const sel = rows[c];
    traces.push({
      type: "scattergl", mode: "markers", hovertemplate: template, x: subset(cells.x, sel), y: subset(cells.y, sel),
      name, legendgroup: "cells", customdata: subset(cells.index, sel),
      ...(texts ? { text: sel.map((i) => texts[i]) } : {}),
      marker: { size: cells.cell_size, color: colour.palette[c % colour.palette.length], opacity: 0 },
    });
  });
  return traces;
}


// ------------------------------------------------------------------ the cells' canvas
const CANVAS_CLASS = "scvi-viz-cells";
const LEGEND_STYLE = "scvi-viz-live-map-legend";

function rgba(colour) {
  // "#rrggbb" or "rgb(r, g, b)" -> a little-endian RGBA pixel, opaque.
  let r, g, b;
  if (colour[0] === "#") [r, g, b] = [1, 3, 5].map((k) => parseInt(colour.slice(k, k + 2), 16));
  else [r, g, b] = colour.match(/[\d.]+/g).map(Number);
  return ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

// Pixel offsets of a round marker of `size` px (plotly's marker.size is its diameter).
function disc(size) {
  const r = size / 2, out = [];
  for (let dy = -Math.ceil(r); dy <= Math.ceil(r); dy++)
    for (let dx = -Math.ceil(r); dx <= Math.ceil(r); dx++) if (dx * dx + dy * dy <= r * r) out.push([dx, dy]);
  return out;
}

// Paint every visible cell trace (transparent in plotly) at the axes' current ranges, in trace
// order (the last on top, as plotly draws them).
function paintCells(gd, ranges) {
  const fl = gd._fullLayout, layers = gd.__scviVizCellTraces;
  if (!fl || !fl.xaxis || !layers) return;
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
  for (const { trace: k, colour, size } of layers) {
    const trace = gd._fullData[k];
    if (!trace || trace.visible !== true) continue; // hidden from the legend
    const xs = gd.data[k].x, ys = gd.data[k].y, stamp = disc(size * dpr);
    for (let i = 0; i < xs.length; i++) {
      const X = Math.round((xs[i] - x0) * sx), Y = Math.round(H - (ys[i] - y0) * sy);
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

// The cells' layers of a trace list: their trace numbers, colours and sizes; each made transparent for plotly.
function cellLayers(traces) {
  const layers = [];
  traces.forEach((t, k) => {
    if (t.marker && t.marker.opacity === 0 && t.customdata) layers.push({ trace: k, colour: rgba(t.marker.color), size: t.marker.size });
  });
  return layers;
}

// Repaint after each plotly redraw, and on each frame of a pan or zoom being dragged (plotly
// moves the axes then, and redraws when the drag ends).
function bindPainter(gd) {
  if (gd.__scviVizPainter) return;
  gd.__scviVizPainter = true;
  if (!document.getElementById(LEGEND_STYLE)) {
    // The legend draws each category's marker as the trace's: opaque here, though plotly's is not.
    const style = document.createElement("style");
    style.id = LEGEND_STYLE;
    style.textContent = ".scvi-viz-live-map .legend .scatterpts { opacity: 1 !important; }";
    document.head.appendChild(style);
  }
  let queued = null;
  const later = (ranges) => {
    const first = queued === null;
    queued = ranges;
    if (first) requestAnimationFrame(() => { const r = queued; queued = null; paintCells(gd, r); });
  };
  gd.on("plotly_afterplot", () => later(null));
  gd.on("plotly_relayouting", (update) => {
    const x = [update["xaxis.range[0]"], update["xaxis.range[1]"]], y = [update["yaxis.range[0]"], update["yaxis.range[1]"]];
    later(x.every(Number.isFinite) && y.every(Number.isFinite) ? { x, y } : null);
  });
}

// The camera button draws the figure again off screen, with the cells' markers opaque (on the
// page plotly's copies are transparent), as "Download plot as a png" does.
function cameraButton(config) {
  const options = config.toImageButtonOptions || {};
  return {
    name: "Download plot as a png", icon: window.Plotly.Icons.camera,
    click: (gd) => {
      const data = gd.data.map((t, k) => (gd.__scviVizCellTraces.some((l) => l.trace === k)
        ? { ...t, marker: { ...t.marker, opacity: 1 } } : t));
      const layout = { ...gd.layout, width: gd._fullLayout.width, height: gd._fullLayout.height };
      window.Plotly.downloadImage({ data, layout }, { format: "png", scale: 2, filename: "newplot", ...options });
    },
  };
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
    const traces = buildTraces(scviViz.mapCells[header.cells], header, arrays);
    const started = performance.now();
    // The toolbar's buttons as Python names them, with the camera that draws the cells.
    const buttons = header.config.modeBarButtons.map((group) => group.map((b) => (b === "toImage" ? cameraButton(header.config) : b)));
    const config = { ...header.config, modeBarButtons: buttons };
    window.Plotly.react(gd, traces, header.layout, config).then(() => {
      gd.__scviVizCellTraces = cellLayers(traces);
      bindPainter(gd);
      paintCells(gd, null);
      gd.dataset.colouring = header.id;
      gd.dataset.drawMs = String(performance.now() - started);
    });
  });
}
