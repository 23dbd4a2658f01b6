// What moving one slider does: the genes that change most along the slider's whole range, decoded
// from the current point (scvi_viz/plots/traversal.py: traversal_spec), drawn as plain SVG.
//
// Every move redraws this chart. Plotly.react took ~25 ms of the browser's time per redraw of
// these eight lines (axes, legend, hover layers rebuilt); this redraw did not show among the
// functions of a CPU profile of 16 clicks (under a millisecond each). Exports still come from
// the plotly figure of the same spec (Download on Explore).
const SVG = "http://www.w3.org/2000/svg";
const PLOT_PX = 260;
const LEGEND_PX = 150;
const TOP_PX = 8;
const BOTTOM_PX = 44;
const TICK_PX = 12;

function node(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function html(tag, className, text) {
  const el = document.createElement(tag);
  el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

// Numbers as a biologist reads them: three significant digits, no exponent for 0.001-99,999.
function number(v) {
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(3)));
}

// About `count` ticks at 1, 2 or 5 times a power of ten, inside [lo, hi].
function linearTicks(lo, hi, count) {
  const raw = (hi - lo) / count;
  if (!(raw > 0)) return [lo];
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = power * [1, 2, 5, 10].find((m) => m * power >= raw);
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return ticks;
}

// Ticks of a log axis over [lo, hi] (lo > 0): the powers of ten, with 2 and 5 times them when
// fewer than three powers fall inside; on a range narrower than that, plain linear ticks.
function logTicks(lo, hi) {
  const ticks = [];
  const first = Math.floor(Math.log10(lo)), last = Math.ceil(Math.log10(hi));
  const inside = (v) => v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9);
  const decades = [];
  for (let k = first; k <= last; k++) if (inside(10 ** k)) decades.push(10 ** k);
  const multiples = decades.length < 3 ? [1, 2, 5] : [1];
  for (let k = first; k <= last; k++) {
    for (const m of multiples) if (inside(m * 10 ** k)) ticks.push(Number((m * 10 ** k).toPrecision(1)));
  }
  return ticks.length >= 2 ? ticks : linearTicks(lo, hi, 4);
}

function build(root) {
  const title = html("div", "title");
  const notes = html("div", "notes");
  const body = html("div", "body");
  const svg = node("svg", { role: "img" });
  const axes = node("g"); // off-data bands, grid, ticks, frame, axis titles: redrawn when they change
  const lines = node("g");
  const current = node("line", { class: "current", y1: TOP_PX, y2: TOP_PX + PLOT_PX });
  const guide = node("line", { class: "guide", y1: TOP_PX, y2: TOP_PX + PLOT_PX, visibility: "hidden" });
  svg.append(axes, lines, current, guide);
  const legend = html("ul", "legend");
  const tip = html("div", "tip");
  const note = html("div", "note");
  body.append(svg, legend, tip);
  root.append(title, notes, body, note);
  svg.addEventListener("mousemove", (event) => hover(root, event));
  svg.addEventListener("mouseleave", () => hover(root, null));
  return { title, notes, svg, axes, lines, current, guide, legend, tip, note };
}

function geometry(spec, width) {
  const left = 58 + 16 * (spec.y_title.length - 1);
  const plotWidth = Math.max(120, width - LEGEND_PX - left - 12);
  const ys = spec.series.flatMap((s) => s.y).filter((v) => v > 0 && Number.isFinite(v));
  let lo = ys.length ? Math.min(...ys) : 0.1, hi = ys.length ? Math.max(...ys) : 10;
  if (hi / lo < 1.5) { lo /= 1.25; hi *= 1.25; } // flat lines still get an axis with room
  const span = Math.log10(hi) - Math.log10(lo);
  const low = Math.log10(lo) - 0.04 * span, high = Math.log10(hi) + 0.04 * span; // plotly's autorange padding
  const x0 = spec.x[0], x1 = spec.x[spec.x.length - 1];
  const px = (x) => left + ((x - x0) / (x1 - x0 || 1)) * plotWidth;
  const py = (y) => TOP_PX + PLOT_PX - ((Math.log10(Math.max(y, 10 ** low)) - low) / (high - low)) * PLOT_PX;
  return { left, plotWidth, width: left + plotWidth + 8, lo: 10 ** low, hi: 10 ** high, x0, x1, px, py };
}

// Sets what changed only: a move redraws the lines and the mark; the rest of the chart (and the
// page's layout around it) stays as it was unless its words, axes or genes changed.
function changed(el, key) {
  if (el.__scviVizKey === key) return false;
  el.__scviVizKey = key;
  return true;
}

function drawAxes(spec, g, axes) {
  const bottom = TOP_PX + PLOT_PX;
  const out = [];
  // the stretches off the data, each step widened by half a step either side (as plotly's shapes)
  const half = spec.x.length > 1 ? (spec.x[1] - spec.x[0]) / 2 : 0.5;
  spec.off.forEach((off, i) => {
    if (!off || (i > 0 && spec.off[i - 1])) return;
    let j = i;
    while (j + 1 < spec.off.length && spec.off[j + 1]) j++;
    const a = g.px(Math.max(g.x0, spec.x[i] - half)), b = g.px(Math.min(g.x1, spec.x[j] + half));
    out.push(node("rect", { class: "off", x: a, y: TOP_PX, width: b - a, height: PLOT_PX, fill: spec.off_colour }));
  });
  for (const v of logTicks(g.lo, g.hi)) {
    const y = g.py(v);
    out.push(node("line", { class: "grid", x1: g.left, x2: g.left + g.plotWidth, y1: y, y2: y }));
    out.push(node("text", { class: "tick", x: g.left - 6, y: y + 4, "text-anchor": "end" }, number(v)));
  }
  for (const v of linearTicks(g.x0, g.x1, Math.max(3, Math.round(g.plotWidth / 90)))) {
    const x = g.px(v);
    out.push(node("line", { class: "grid", x1: x, x2: x, y1: TOP_PX, y2: bottom }));
    out.push(node("text", { class: "tick", x, y: bottom + 16, "text-anchor": "middle" }, number(v)));
  }
  out.push(node("rect", { class: "frame", x: g.left, y: TOP_PX, width: g.plotWidth, height: PLOT_PX }));
  out.push(node("text", { class: "axis-title", x: g.left + g.plotWidth / 2, y: bottom + 36, "text-anchor": "middle" },
    spec.x_title));
  const yTitle = node("text", { class: "axis-title", transform: `translate(14 ${TOP_PX + PLOT_PX / 2}) rotate(-90)`,
    "text-anchor": "middle" });
  spec.y_title.forEach((text, i) => {
    yTitle.append(node("tspan", { x: 0, dy: i ? TICK_PX * 1.3 : -((spec.y_title.length - 1) * TICK_PX * 1.3) / 2 }, text));
  });
  out.push(yTitle);
  axes.replaceChildren(...out);
}

function draw(root, width) {
  const { spec, parts } = root.__scviViz;
  const g = geometry(spec, width);
  root.__scviViz.geometry = g;
  if (changed(parts.title, spec.title)) parts.title.textContent = spec.title;
  if (changed(parts.notes, spec.notes)) parts.notes.textContent = spec.notes;
  if (changed(parts.note, spec.note || "")) {
    parts.note.replaceChildren(...(spec.note || "").split("*").map((text, i) => (i % 2 ? html("em", "", text) : text)));
  }
  const { svg } = parts;
  if (changed(svg, `${g.width} ${spec.title}`)) {
    svg.setAttribute("width", g.width);
    svg.setAttribute("height", TOP_PX + PLOT_PX + BOTTOM_PX);
    svg.setAttribute("aria-label", spec.title);
  }
  if (changed(parts.axes, JSON.stringify([g.width, g.lo, g.hi, g.x0, g.x1, spec.off, spec.x_title, spec.y_title]))) {
    drawAxes(spec, g, parts.axes);
  }
  const paths = parts.lines.children;
  while (paths.length > spec.series.length) paths[paths.length - 1].remove();
  while (paths.length < spec.series.length) parts.lines.append(node("path", { class: "line" }));
  spec.series.forEach((s, k) => {
    const path = paths[k];
    path.setAttribute("d", s.y.map((y, i) => `${i ? "L" : "M"}${g.px(spec.x[i]).toFixed(1)},${g.py(y).toFixed(1)}`).join(""));
    if (path.dataset.gene !== s.name) path.dataset.gene = s.name;
    if (path.getAttribute("stroke") !== s.colour) path.setAttribute("stroke", s.colour);
  });
  const cx = g.px(spec.current);
  parts.current.setAttribute("x1", cx);
  parts.current.setAttribute("x2", cx);
  parts.current.setAttribute("stroke", spec.current_colour);
  if (changed(parts.legend, JSON.stringify(spec.series.map((s) => [s.name, s.colour])))) {
    parts.legend.replaceChildren(...spec.series.map((s) => {
      const item = html("li", "", s.name);
      item.title = s.name;
      item.style.setProperty("--colour", s.colour);
      return item;
    }));
  }
  parts.tip.style.display = "none";
  parts.guide.setAttribute("visibility", "hidden");
  // what the chart shows, for tests and benchmarks/interaction.py
  root.dataset.current = String(spec.current);
  root.dataset.genes = spec.series.map((s) => s.name).join(",");
}

// The values at the step under the mouse, highest first, beside a line across the chart.
function hover(root, event) {
  const { spec, geometry: g, parts } = root.__scviViz;
  const { guide } = parts;
  const box = parts.svg.getBoundingClientRect();
  const x = event && event.clientX - box.left;
  if (!event || x < g.left || x > g.left + g.plotWidth || !spec.x.length) {
    guide.setAttribute("visibility", "hidden");
    parts.tip.style.display = "none";
    return;
  }
  const i = Math.round(((x - g.left) / g.plotWidth) * (spec.x.length - 1)); // the steps are evenly spaced
  const gx = g.px(spec.x[i]);
  guide.setAttribute("x1", gx);
  guide.setAttribute("x2", gx);
  guide.setAttribute("visibility", "visible");
  const rows = spec.series.map((s) => [s, s.y[i]]).sort((a, b) => b[1] - a[1]);
  parts.tip.replaceChildren(
    html("div", "head", `${spec.x_title}: ${number(spec.x[i])}${spec.off[i] ? " (off the data)" : ""}`),
    ...rows.map(([s, y]) => {
      const row = html("div", "row", `${s.name}: ${number(y)}`);
      row.style.setProperty("--colour", s.colour);
      return row;
    }));
  parts.tip.style.display = "block";
  parts.tip.style.left = `${gx + (gx > g.left + g.plotWidth / 2 ? -12 : 12)}px`;
  parts.tip.style.transform = gx > g.left + g.plotWidth / 2 ? "translateX(-100%)" : "none";
}

export default function ({ parentElement, data }) {
  let root = parentElement.querySelector("div.scvi-viz-traversal");
  if (!root) {
    root = html("div", "scvi-viz-traversal");
    parentElement.appendChild(root);
    root.__scviViz = { parts: build(root), width: 0 };
    // Redrawn when its column changes width; moves reuse the width seen last (reading it on
    // every move would make the browser lay the page out in the middle of Streamlit's update).
    new ResizeObserver(([entry]) => {
      const width = Math.round(entry.contentRect.width);
      if (width && width !== root.__scviViz.width) { root.__scviViz.width = width; draw(root, width); }
    }).observe(root);
  }
  root.__scviViz.spec = { ...JSON.parse(data.spec), note: data.note };
  if (!root.__scviViz.width) root.__scviViz.width = root.clientWidth || 600;
  draw(root, root.__scviViz.width);
}
