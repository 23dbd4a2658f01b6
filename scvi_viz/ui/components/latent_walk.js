// The walk through latent space: sliders that move the point (one per latent dimension, or per
// principal axis, and one with a name: toward a group, more of a gene set), and what the decoder
// says at the point while the hand moves.
//
// While a thumb is dragged (every `input` event, at most once a frame) the point is decoded
// here, in the browser, by the model's own decoder (live_decoder.js, loaded once per model):
// the chosen genes' expected counts, the top genes, the distance to the data and the map's x
// follow with no server request. Letting go (or a key press) sends the whole latent vector to
// Python as the trigger value "moved", numbered; Python decodes it with torch and sends its
// numbers back, which replace the browser's (they agree to float32 rounding). While moves are
// still on their way (a held arrow key) a rerun for an older one leaves the sliders alone.
// The map component (map_point.js) calls window.scviViz.walk.preview(...) while the mouse
// moves over the map with "preview on hover" on, and .endPreview() when it leaves.
// Undo / Redo step through the browser's history: every finished move is an entry of its own.
const DIGITS = 3;
const IN_FLIGHT_MS = 2000; // a move not applied by then is taken as lost (e.g. a server restart)
const scviViz = (window.scviViz = window.scviViz || { decoders: {}, cells: {}, maps: {} });

function make(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// Counts as a biologist reads them: three significant digits, no exponent below a million.
function counts(v) {
  if (!Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString("en-US");
  if (a >= 1) return v.toPrecision(3);
  if (a >= 0.001) return v.toFixed(3);
  return v === 0 ? "0" : v.toExponential(1);
}

function showValue(input, output, v) {
  const text = Number(v).toFixed(DIGITS);
  output.textContent = text;
  input.setAttribute("aria-valuetext", text);
}

// ------------------------------------------------------------------ sliders as directions
// A slider moves the point along row.vector from row.anchor: its value at z is
// (z - anchor) . vector / |vector|^2 (scvi_viz/analysis/sliders.py). One-dimension sliders
// (row.axis) set z[axis] itself; a slider to a target (row.end) moves along
// (1 - t) * anchor + t * end, so that at 1 the point is the target exactly.
function rowValue(row, z) {
  if (row.axis !== null && row.axis !== undefined) return z[row.axis];
  let dot = 0, norm = 0;
  for (let j = 0; j < z.length; j++) { dot += (z[j] - row.anchor[j]) * row.vector[j]; norm += row.vector[j] * row.vector[j]; }
  return norm > 0 ? dot / norm : 0;
}

// Offsets from the line within the rounding of a point on it are 0 (sliders.py: line_offset), so
// that a point moved along the line stays on it, and at 1 is the target to the last bit.
const LINE_ROUNDING = 8 * Number.EPSILON;

function movedAlong(row, z0, t0, t) {
  const z = [...z0];
  if (row.axis !== null && row.axis !== undefined) { z[row.axis] = t; return z; }
  for (let j = 0; j < z.length; j++) {
    if (!row.end) { z[j] = z0[j] + (t - t0) * row.vector[j]; continue; }
    const a = row.anchor[j], b = row.end[j];
    let offset = z0[j] - ((1 - t0) * a + t0 * b);
    if (Math.abs(offset) <= LINE_ROUNDING * ((1 + Math.abs(t0)) * (Math.abs(a) + Math.abs(b)) + Math.abs(z0[j]))) offset = 0;
    z[j] = ((1 - t) * a + t * b) + offset;
  }
  return z;
}

function shortLabel(label) {
  return label.replace(/^latent /, "").replace(/ \(.*\)$/, "");
}

// Every slider but the one in the hand shows where the point now is along it.
function showOthers(state, moving) {
  state.data.rows.forEach((row, i) => {
    if (i === moving) return;
    const { input, output } = state.inputs[i];
    const v = rowValue(row, state.z);
    input.value = String(v);
    showValue(input, output, v);
  });
}

// ------------------------------------------------------------------ what a point shows
// The top `n` genes by expected counts: [index, rate] pairs, largest first.
function topGenes(rate, n) {
  const top = [];
  for (let i = 0; i < rate.length; i++) {
    const v = rate[i];
    if (top.length === n && v <= top[n - 1][1]) continue;
    let j = Math.min(top.length, n - 1);
    if (top.length < n) top.push(null);
    while (j > 0 && top[j - 1][1] < v) { top[j] = top[j - 1]; j--; }
    top[j] = [i, v];
  }
  return top;
}

// Distance from z to the nearest cell, over the median nearest-neighbour distance between cells
// (as the server computes it), and the map position of z: the inverse-distance-weighted position
// of its k nearest cells in latent space (InverseMap.position_of).
function placeInData(cells, z, embedding) {
  const d = cells.nLatent, n = cells.n, k = Math.min(cells.k, n);
  const near = []; // [squared distance, cell], smallest first
  for (let i = 0; i < n; i++) {
    let s = 0;
    const base = i * d;
    for (let j = 0; j < d; j++) { const t = z[j] - cells.latent[base + j]; s += t * t; }
    if (near.length === k && s >= near[k - 1][0]) continue;
    let m = Math.min(near.length, k - 1);
    if (near.length < k) near.push(null);
    while (m > 0 && near[m - 1][0] > s) { near[m] = near[m - 1]; m--; }
    near[m] = [s, i];
  }
  const ratio = Math.sqrt(near[0][0]) / cells.typical;
  const coords = cells.coords[embedding];
  let xy = null;
  if (coords) {
    const first = Math.sqrt(near[0][0]);
    if (first < 1e-9) {
      xy = [coords[2 * near[0][1]], coords[2 * near[0][1] + 1]];
    } else {
      let wx = 0, wy = 0, w = 0;
      for (const [s, i] of near) { const wi = 1 / Math.sqrt(s); wx += wi * coords[2 * i]; wy += wi * coords[2 * i + 1]; w += wi; }
      xy = [wx / w, wy / w];
    }
  }
  return { ratio, xy };
}

function decodeHere(state, z, library, covariates) {
  const data = state.data;
  const decoder = data.decoder && scviViz.decoders[data.decoder];
  if (!decoder) return null;
  const out = decoder.decode(z, library, covariates);
  const cells = data.cells && scviViz.cells[data.cells];
  const where = cells ? placeInData(cells, z, data.embedding) : { ratio: null, xy: null };
  return {
    source: "browser",
    library,
    chosen: [...data.chosen.map(([i]) => out.rate[i]),
             ...(data.sets || []).map(([, idx]) => idx.reduce((a, i) => a + out.rate[i], 0) / idx.length)],
    top: topGenes(out.rate, data.n_top).map(([i, v]) => [scviViz.geneNames[data.decoder][i], v]),
    off: where.ratio,
    xy: where.xy,
  };
}

// ------------------------------------------------------------------ drawing
function build(root, data, state) {
  root.replaceChildren();
  const nav = make("div", "nav");
  state.undo = make("button", "", "↶ Undo");
  state.redo = make("button", "", "Redo ↷");
  state.undo.title = "Back to the previous point and view (the browser's Back button does the same).";
  state.redo.title = "Forward again (the browser's Forward button does the same).";
  state.undo.addEventListener("click", () => history.back());
  state.redo.addEventListener("click", () => history.forward());
  const reset = make("button", "", "Reset to clicked cell");
  reset.title = "Back to the latent point, library size and covariates of the last cell you clicked.";
  reset.addEventListener("click", () => state.sendReset());
  const hover = make("label", "hover");
  state.hover = document.createElement("input");
  state.hover.type = "checkbox";
  state.hover.checked = scviViz.hoverPreview !== false;
  state.hover.addEventListener("change", () => { scviViz.hoverPreview = state.hover.checked; });
  hover.title = "Decode the cell (or empty space) under the mouse in your browser, without making it the current " +
    "point: click to keep it.";
  hover.append(state.hover, document.createTextNode(" preview on hover"));
  nav.append(state.undo, state.redo, reset, hover);
  const sliders = make("div", "sliders");
  sliders.title = "Each slider moves the point along one direction in latent space: drag a thumb, or use the arrow keys.";
  state.inputs = data.rows.map((row, i) => {
    const [lo, hi] = row.range;
    const line = make("div", "row");
    const short = shortLabel(row.label);
    const label = make("label", "", short);
    label.title = row.help || "";
    const output = make("output");
    const input = document.createElement("input");
    input.type = "range";
    input.min = String(lo);
    input.max = String(hi);
    input.step = String((hi - lo) / data.steps);
    input.setAttribute("aria-label", row.label);
    const showHint = () => {
      const hint = state.data.hints && state.data.hints[i];
      state.hint.textContent = hint ? `${short} ${hint}` : "";
      state.hint.dataset.dimension = String(i + 1);
    };
    input.addEventListener("focus", showHint);
    line.addEventListener("pointerenter", showHint);
    input.id = label.htmlFor = `${state.id}-${i}`;
    input.addEventListener("input", () => {
      const v = Number(input.value);
      showValue(input, output, v);
      if (!state.base || state.base.row !== i) state.base = { row: i, z: [...state.z], t: rowValue(row, state.z) };
      state.z = movedAlong(row, state.base.z, state.base.t, v);
      showOthers(state, i);
      schedule(state);
    });
    input.addEventListener("change", () => {
      const v = Number(input.value);
      if (!state.base || state.base.row !== i) state.base = { row: i, z: [...state.z], t: rowValue(row, state.z) };
      state.z = movedAlong(row, state.base.z, state.base.t, v);
      state.base = null;
      state.move += 1;
      state.sentAt = performance.now();
      state.send({ z: [...state.z], move: state.move });
    });
    input.addEventListener("pointerdown", () => { state.dragging = i; });
    line.append(label, input, output);
    sliders.appendChild(line);
    return { input, output };
  });
  state.hint = make("div", "hint");
  state.hint.title = "What moving this slider up does here: the genes whose expected expression rises and falls most " +
    "(the decoder's Jacobian at the point, among genes expected at 1 count per 10,000 or more).";
  state.status = make("div", "status");
  state.status.setAttribute("role", "status");
  const chart = make("div", "chart");
  state.chartTitle = make("div", "title");
  state.rows = make("div", "rows");
  chart.append(state.chartTitle, state.rows);
  state.top = make("div", "top");
  state.characteristic = make("div", "characteristic");
  state.characteristic.title = "Genes whose expected expression here is furthest above (and below) their mean over all " +
    "cells, each decoded at its own point: px_scale here over the mean px_scale, among genes expected at 1 or more " +
    "per 10,000 counts here or on average. Unlike the top genes by counts, they say which state this is. " +
    "Computed by the server for the point it decoded.";
  root.append(nav, sliders, state.hint, state.status, chart, state.top, state.characteristic);
}

function drawChosen(state, values) {
  const data = state.data;
  const source = values.source === "browser" ? "live, in your browser" : `server (${data.device})`;
  const names = [...data.chosen.map((g) => g[1]), ...(data.sets || []).map(([name, idx]) => `${name} (mean of ${idx.length})`)];
  state.chartTitle.textContent = names.length
    ? `Chosen genes${data.sets && data.sets.length ? " and gene sets" : ""}: expected counts (${data.library_text}) · ${source}`
    : "Pick genes above to chart them here.";
  state.chartTitle.title = "Expected counts (scvi-tools' px_rate = library size × px_scale). While you drag or hover " +
    "they are decoded in your browser; when you let go the server decodes the point again (torch) and its numbers " +
    "replace them.";
  state.chartTitle.dataset.source = values.source;
  const rows = state.rows;
  if (rows.childElementCount !== names.length || rows.dataset.genes !== names.join(",")) {
    rows.replaceChildren(...names.map((name, i) => {
      const row = make("div", i < data.chosen.length ? "gene" : "gene set");
      row.dataset.gene = name;
      const label = make("span", "name", name);
      label.title = name;
      row.append(label, make("span", "bar"), make("span", "value"));
      return row;
    }));
    rows.dataset.genes = names.join(",");
  }
  const max = Math.max(...values.chosen, 1e-12);
  values.chosen.forEach((v, i) => {
    const row = rows.children[i];
    row.dataset.rate = String(v);
    row.children[1].style.width = `${(100 * v) / max}%`;
    row.children[2].textContent = counts(v);
  });
}

function draw(state, values) {
  const data = state.data;
  drawChosen(state, values);
  state.top.textContent = `Top ${values.top.length} genes by expected counts: ` +
    values.top.map(([name, v]) => `${name} ${counts(v)}`).join(" · ");
  state.top.dataset.genes = values.top.map(([name]) => name).join(",");
  state.characteristic.textContent = values.source === "server" ? (data.server.characteristic || "") : "";
  if (values.off === null || values.off === undefined) {
    state.status.textContent = "";
  } else {
    const off = values.off > data.off_ratio;
    state.status.textContent = `Nearest cell: ${values.off.toFixed(2)} × typical neighbour distance` +
      (off ? ` — ${data.off_text}` : " (on the data)");
    state.status.title = "Distance from the point to the nearest cell in latent space, over the median distance " +
      `between neighbouring cells; past ${data.off_ratio} the point is off the data (as on the Trajectory page).`;
    state.status.classList.toggle("off", off);
    state.status.dataset.ratio = String(values.off);
  }
  if (values.xy && data.map && scviViz.maps[data.map]) scviViz.maps[data.map].place(values.xy);
  const nav = window.navigation;
  if (nav && nav.currentEntry) {
    state.undo.disabled = !(nav.canGoBack && nav.currentEntry.index > (scviViz.firstEntry ?? 0));
    state.redo.disabled = !nav.canGoForward;
  }
}

// Decode the dragged point once per frame, however many input events came.
function schedule(state) {
  if (state.frame) return;
  state.frame = requestAnimationFrame(() => {
    state.frame = 0;
    const d = state.data;
    const values = decodeHere(state, state.z, d.library, d.covariates);
    if (values) {
      draw(state, values);
      state.frames += 1;
      state.root.dataset.frames = String(state.frames);
      state.root.dataset.z = JSON.stringify(state.z); // the point whose numbers the chart now shows
    }
  });
}

// ------------------------------------------------------------------ the component
export default function ({ parentElement, data, setTriggerValue }) {
  if (scviViz.firstEntry === undefined && window.navigation && window.navigation.currentEntry) {
    scviViz.firstEntry = window.navigation.currentEntry.index; // Undo never leaves the app
  }
  let root = parentElement.querySelector("div.scvi-viz-walk");
  if (!root) {
    root = make("div", "scvi-viz-walk");
    parentElement.appendChild(root);
    root.__state = { id: `scvi-viz-walk-${Math.random().toString(36).slice(2)}`, dragging: null, move: 0, sentAt: 0,
                     frames: 0, root };
    window.addEventListener("pointerup", () => { root.__state.dragging = null; });
  }
  const state = root.__state;
  state.data = data;
  state.send = (moved) => setTriggerValue("moved", moved);
  state.sendReset = () => setTriggerValue("reset", true);
  const shape = JSON.stringify([data.rows, data.steps]);
  if (state.shape !== shape) {
    build(root, data, state);
    state.shape = shape;
  }
  root.dataset.live = data.decoder ? "on" : "off";
  state.hover.disabled = !data.decoder;
  state.inputs.forEach(({ input }, i) => { input.title = (data.hints && data.hints[i]) || ""; });
  const shown = Math.min(Number(state.hint.dataset.dimension || 1), data.rows.length) - 1; // the hint follows the point
  state.hint.textContent = data.hints && data.hints[shown] ? `${shortLabel(data.rows[shown].label)} ${data.hints[shown]}` : "";
  if (data.move < state.move && performance.now() - state.sentAt < IN_FLIGHT_MS) return; // a rerun for an older move
  state.move = data.move;
  // The exact values (an input snaps what it shows to its step): a move of one dimension
  // sends the others unchanged.
  state.z = [...data.z];
  state.base = null;
  const showPoint = (z) => {
    state.inputs.forEach(({ input, output }, i) => {
      const v = rowValue(data.rows[i], z);
      if (state.dragging !== i) input.value = String(v);
      showValue(input, output, v);
    });
    root.dataset.z = JSON.stringify(Array.from(z)); // the exact point shown (an input snaps to its step)
  };
  showPoint(data.z);
  const server = { source: "server", ...data.server };
  root.dataset.preview = "off"; // the server's point replaces any preview (a click keeps what was previewed)
  draw(state, server);
  scviViz.walk = {
    // A point under the mouse on the map: shown, not made current (a click does that).
    preview(point) {
      const values = decodeHere(state, point.z, point.library, point.covariates);
      if (!values) return false;
      showPoint(point.z);
      values.xy = point.xy;
      draw(state, values);
      state.frames += 1;
      root.dataset.frames = String(state.frames);
      root.dataset.preview = "on";
      return true;
    },
    endPreview() {
      if (root.dataset.preview !== "on") return;
      root.dataset.preview = "off";
      showPoint(state.z);
      draw(state, server);
    },
    current: () => ({ library: state.data.library, covariates: state.data.covariates }),
  };
}
