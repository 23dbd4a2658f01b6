// The current point on the Explore map, and clicks on that map.
//
// st.plotly_chart gives a chart a new identity whenever its figure changes, and the browser
// then builds the chart again from nothing: for a WebGL map that is 250-500 ms. So the map's
// figure does not hold the current point. This component draws the point as a small cross
// over the map (found by its Streamlit key), moves it when Python sends a new position, keeps
// it in place when the map is panned, zoomed or redrawn, and sends every click on the map
// back to Python as a trigger value "click" (also a second click on the same cell).
//
// With "preview on hover" on, the point under the mouse is shown without a server request:
// the marker a click there would pick (plotly picks the marker nearest the mouse, cells and the
// invisible grid alike, all of one size) is found here on every mouse move -- plotly's own hover
// events come at most every 50 ms -- and resolved as the server resolves a click on it
// (analysis/embedding.py: resolve_click and InverseMap.latent_at, over the cells
// live_decoder.js loaded), then handed to the latent walk (latent_walk.js), which decodes it in
// the browser. Leaving the map shows the current point again.
const scviViz = (window.scviViz = window.scviViz || { decoders: {}, cells: {}, maps: {} });
const SVG_NS = "http://www.w3.org/2000/svg";
const CROSS_CLASS = "scvi-viz-point";
const SIZE = 24;

function graphDiv(mapKey) {
  const box = document.querySelector(`.st-key-${CSS.escape(mapKey)}`);
  const gd = box && box.querySelector(".js-plotly-plot");
  return gd && gd._fullLayout && gd._fullLayout.xaxis && gd.on ? gd : null;
}

function cross(gd) {
  let svg = gd.querySelector(`svg.${CROSS_CLASS}`);
  if (svg) return svg;
  svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("class", CROSS_CLASS);
  svg.setAttribute("width", SIZE);
  svg.setAttribute("height", SIZE);
  svg.setAttribute("viewBox", `${-SIZE / 2} ${-SIZE / 2} ${SIZE} ${SIZE}`);
  svg.setAttribute("aria-label", "current point");
  svg.style.cssText = "position:absolute;pointer-events:none;overflow:visible;display:none";
  for (const [color, width] of [["white", 6], ["black", 3]]) {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", "M-8,-8L8,8M-8,8L8,-8");
    path.setAttribute("stroke", color);
    path.setAttribute("stroke-width", width);
    path.setAttribute("stroke-linecap", "round");
    svg.appendChild(path);
  }
  gd.querySelector(".svg-container").appendChild(svg);
  return svg;
}

// Draw the cross at the data position [x, y] (null hides it).
function place(gd, point) {
  const svg = cross(gd);
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  if (!point) {
    svg.style.display = "none";
    return;
  }
  const X = xa._offset + xa.d2p(point[0]);
  const Y = ya._offset + ya.d2p(point[1]);
  const inside = X >= xa._offset && X <= xa._offset + xa._length && Y >= ya._offset && Y <= ya._offset + ya._length;
  svg.style.left = `${X - SIZE / 2}px`;
  svg.style.top = `${Y - SIZE / 2}px`;
  svg.style.display = inside ? "" : "none";
  svg.dataset.x = String(point[0]);
  svg.dataset.y = String(point[1]);
}

// ------------------------------------------------------------------ hover preview
function nearest2d(coords, n, x, y, k) {
  const near = []; // [squared distance, cell], smallest first
  for (let i = 0; i < n; i++) {
    const dx = coords[2 * i] - x, dy = coords[2 * i + 1] - y;
    const s = dx * dx + dy * dy;
    if (near.length === k && s >= near[k - 1][0]) continue;
    let m = Math.min(near.length, k - 1);
    if (near.length < k) near.push(null);
    while (m > 0 && near[m - 1][0] > s) { near[m] = near[m - 1]; m--; }
    near[m] = [s, i];
  }
  return near;
}

function cellLatent(cells, i) {
  return Array.from(cells.latent.subarray(i * cells.nLatent, (i + 1) * cells.nLatent));
}

// InverseMap.latent_at: the inverse-distance-weighted mean of the k nearest cells' latent points (float32).
function latentAt(cells, coords, x, y) {
  const near = nearest2d(coords, cells.n, x, y, Math.min(cells.k, cells.n));
  if (Math.sqrt(near[0][0]) < 1e-9) return cellLatent(cells, near[0][1]);
  const d = cells.nLatent, z = new Array(d).fill(0);
  let w = 0;
  for (const [s, i] of near) {
    const wi = 1 / Math.sqrt(s);
    w += wi;
    for (let j = 0; j < d; j++) z[j] += wi * cells.latent[i * d + j];
  }
  return z.map((v) => Math.fround(v / w));
}

function cellCovariates(cells, i) {
  return {
    batch: cells.batch[i],
    label: cells.label[i],
    categorical: cells.categorical.map((codes) => codes[i]),
    continuous: cells.continuous.map((values) => values[i]),
  };
}

// analysis.embedding.resolve_click, for the marker under the mouse (pickAt): {z, library, covariates, xy} or null.
function resolveHover(link, p) {
  const cells = link.cells && scviViz.cells[link.cells];
  const walk = scviViz.walk;
  if (!cells || !walk) return null;
  const coords = cells.coords[link.embedding];
  if (!coords) return null;
  const x = Number(p.x), y = Number(p.y);
  let cell = null;
  if (p.curveNumber === link.gridTrace) {
    const [[, i]] = nearest2d(coords, cells.n, x, y, 1);
    const step = cells.gridSteps[link.embedding];
    if (step && Math.abs(coords[2 * i] - x) <= step[0] / 2 && Math.abs(coords[2 * i + 1] - y) <= step[1] / 2) cell = i;
    if (cell === null) {
      const here = walk.current();
      return { z: latentAt(cells, coords, x, y), library: here.library, covariates: here.covariates, xy: [x, y] };
    }
  } else {
    cell = p.cell;
  }
  return { z: cellLatent(cells, cell), library: cells.library[cell], covariates: cellCovariates(cells, cell),
           xy: [coords[2 * cell], coords[2 * cell + 1]] };
}

// The marker under the mouse, as the live map (live_map.js) picks it among its shown cells and
// the grid of empty space; null off the plot, or on a map that is not a live one (no preview there).
function pickAt(gd, clientX, clientY) {
  return gd.__scviVizPick ? gd.__scviVizPick(clientX, clientY) : null;
}

function previewAt(gd, link, clientX, clientY) {
  if (!link.hover || scviViz.hoverPreview === false || !scviViz.walk) return;
  const p = pickAt(gd, clientX, clientY);
  if (!p) { endPreview(gd, link); return; }
  const point = resolveHover(link, p);
  if (point && scviViz.walk.preview(point)) place(gd, point.xy);
}

function endPreview(gd, link) {
  if (scviViz.walk) scviViz.walk.endPreview();
  place(gd, link.point);
}

// One binding per map element: Streamlit builds a new one when the map's figure changes.
function bind(gd, link) {
  if (gd.__scviVizPoint) {
    gd.__scviVizPoint.link = link;
    return;
  }
  const binding = { link };
  gd.__scviVizPoint = binding;
  const redraw = () => place(gd, binding.link.point);
  gd.on("plotly_afterplot", redraw);
  gd.on("plotly_relayout", redraw);
  // Mouse moves come as fast as the hand: one preview per frame, at the newest position.
  let pending = null;
  gd.addEventListener("mousemove", (event) => {
    if (!binding.link.hover || event.buttons) return; // not while panning
    const first = pending === null;
    pending = [event.clientX, event.clientY];
    if (first) requestAnimationFrame(() => { const [x, y] = pending; pending = null; previewAt(gd, binding.link, x, y); });
  });
  gd.addEventListener("mouseleave", () => { if (binding.link.hover) endPreview(gd, binding.link); });
  const send = (p) => {
    const custom = Array.isArray(p.customdata) ? p.customdata[0] : p.customdata;
    binding.link.send({
      curve_number: p.curveNumber,
      point_index: p.pointIndex ?? p.pointNumber,
      x: p.x,
      y: p.y,
      customdata: custom ?? null,
    });
  };
  // The live map finds its clicks itself (plotly draws none of its cells); other maps are plotly's.
  gd.addEventListener("scvi-viz-click", (event) => send(event.detail));
  gd.on("plotly_click", (event) => {
    const p = event && event.points && event.points[0];
    if (p && !gd.__scviVizPick) send(p);
  });
}

const links = new Map(); // map key -> {point, send, observer}

export default function ({ data, setTriggerValue }) {
  const mapKey = data.map_key;
  let link = links.get(mapKey);
  if (!link) {
    link = { point: null, send: null, observer: null };
    links.set(mapKey, link);
  }
  link.point = data.point;
  link.hover = Boolean(data.hover);
  link.cells = data.cells;
  link.embedding = data.embedding;
  link.gridTrace = data.grid_trace;
  link.send = (hit) => setTriggerValue("click", hit);
  scviViz.maps[mapKey] = { place: (xy) => { const gd = graphDiv(mapKey); if (gd) place(gd, xy); } };
  const attach = () => {
    const gd = graphDiv(mapKey);
    if (!gd) return false;
    bind(gd, link);
    place(gd, link.point);
    return true;
  };
  attach();
  // The map may be drawn after this component, or built again (another colouring): watch
  // the page for it.
  if (!link.observer) {
    let queued = false;
    link.observer = new MutationObserver(() => {
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => {
        queued = false;
        const gd = graphDiv(mapKey);
        if (gd && !gd.__scviVizPoint) attach();
      });
    });
    link.observer.observe(document.body, { childList: true, subtree: true });
  }
  return () => {
    if (link.observer) link.observer.disconnect();
    links.delete(mapKey);
  };
}
