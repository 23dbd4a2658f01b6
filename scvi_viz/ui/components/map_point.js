// The current point on the Explore map, and clicks on that map.
//
// st.plotly_chart gives a chart a new identity whenever its figure changes, and the browser
// then builds the chart again from nothing: for a WebGL map that is 250-500 ms. So the map's
// figure does not hold the current point. This component draws the point as a small cross
// over the map (found by its Streamlit key), moves it when Python sends a new position, keeps
// it in place when the map is panned, zoomed or redrawn, and sends every click on the map
// back to Python as a trigger value "click" (also a second click on the same cell).
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
  gd.on("plotly_click", (event) => {
    const p = event && event.points && event.points[0];
    if (!p) return;
    const custom = Array.isArray(p.customdata) ? p.customdata[0] : p.customdata;
    binding.link.send({
      curve_number: p.curveNumber,
      point_index: p.pointIndex ?? p.pointNumber,
      x: p.x,
      y: p.y,
      customdata: custom ?? null,
    });
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
  link.send = (hit) => setTriggerValue("click", hit);
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
