// A plotly chart that stays on the page and takes each new figure in place.
//
// st.plotly_chart gives a chart a new identity whenever its figure changes: the browser then
// builds it from nothing and draws it twice (once more to apply the theme), 60-150 ms for a
// figure of six panels. The Explore page's decoded charts change on every slider move, so
// they are drawn here instead: one chart that Plotly.react draws the first time and then
// updates with each new figure, one draw per change. plotly.js is the copy Streamlit loads for st.plotly_chart (it sets
// window.Plotly); pages that use this component also show an st.plotly_chart (the map).
const WAIT_MS = 20_000;

function whenPlotly(callback, started = performance.now()) {
  if (window.Plotly) {
    callback(window.Plotly);
  } else if (performance.now() - started < WAIT_MS) {
    setTimeout(() => whenPlotly(callback, started), 25);
  } else {
    console.error("scvi-viz: plotly.js was not loaded on this page; the chart cannot be drawn");
  }
}

// Charts whose newest figure is not drawn yet, drawn together in one task: two charts that each
// waited for a paint of their own would add a frame between their redraws.
const waiting = new Set();
let scheduled = false;

function drawWaiting(Plotly) {
  scheduled = false;
  const charts = [...waiting];
  waiting.clear();
  for (const gd of charts) {
    const { figure, config } = gd.__scviVizNext; // figures that came while it waited: the newest only
    Plotly.react(gd, figure.data, figure.layout, config).then(() => {
      if (gd.__scviVizNext.figure === figure) delete gd.dataset.drawing;
    });
  }
}

export default function ({ parentElement, data }) {
  let gd = parentElement.querySelector("div.scvi-viz-live-chart");
  if (!gd) {
    gd = document.createElement("div");
    gd.className = "scvi-viz-live-chart";
    gd.style.width = "100%";
    parentElement.appendChild(gd);
  }
  gd.__scviVizNext = { figure: JSON.parse(data.figure), config: data.config };
  gd.dataset.drawing = "true"; // until the newest figure is drawn (tests wait for it)
  whenPlotly((Plotly) => {
    waiting.add(gd);
    if (scheduled) return;
    scheduled = true;
    // After the next paint: the rest of the page's update (the walk's numbers beside the map)
    // shows first, not after the charts' 30-60 ms redraws.
    requestAnimationFrame(() => setTimeout(() => drawWaiting(Plotly), 0));
  });
}
