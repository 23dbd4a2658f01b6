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
        ...(texts ? { text: sel.map((i) => texts[i]) } : {}), marker: { size: cells.cell_size, color: rgb },
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
      marker: { size: cells.cell_size, color: colour.palette[c % colour.palette.length] },
    });
  });
  return traces;
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
    window.Plotly.react(gd, traces, header.layout, header.config).then(() => {
      gd.dataset.colouring = header.id;
      gd.dataset.drawMs = String(performance.now() - started);
    });
  });
}
