// One slider per latent dimension of the current point, all in one element.
//
// Streamlit draws each st.slider as an element of its own, and each slider given a new value
// measures and lays out the page again: a map click, which sets every latent dimension at
// once, spent ~40 ms of the browser's time in ten such sliders (more for models with 30
// dimensions). Here the sliders are plain range inputs, built once and updated in place (so
// keyboard focus stays put across reruns). A finished move -- a key press, or letting go of
// the thumb -- sends the whole latent vector back to Python as the trigger value "moved",
// numbered: Python sends back the number of the last move it applied, and while moves are
// still on their way (a held arrow key) a rerun for an older one leaves the sliders alone.
const DIGITS = 3;
const IN_FLIGHT_MS = 2000; // a move not applied by then is taken as lost (e.g. a server restart)

function show(input, value, v) {
  const text = Number(v).toFixed(DIGITS);
  value.textContent = text;
  input.setAttribute("aria-valuetext", text);
}

function build(root, data, state) {
  root.replaceChildren();
  state.inputs = data.ranges.map(([lo, hi], i) => {
    const row = document.createElement("div");
    row.className = "row";
    const head = document.createElement("div");
    head.className = "head";
    const label = document.createElement("label");
    label.textContent = data.labels[i];
    const value = document.createElement("output");
    head.append(label, value);
    const input = document.createElement("input");
    input.type = "range";
    input.min = String(lo);
    input.max = String(hi);
    input.step = String((hi - lo) / data.steps);
    input.setAttribute("aria-label", data.labels[i]);
    input.id = label.htmlFor = `${state.id}-${i}`;
    input.addEventListener("input", () => show(input, value, input.value));
    input.addEventListener("change", () => {
      state.z[i] = Number(input.value);
      state.move += 1;
      state.sentAt = performance.now();
      state.send({ z: [...state.z], move: state.move });
    });
    input.addEventListener("pointerdown", () => { state.dragging = i; });
    row.append(head, input);
    root.appendChild(row);
    return { input, value };
  });
}

export default function ({ parentElement, data, setTriggerValue }) {
  let root = parentElement.querySelector("div.scvi-viz-latent");
  if (!root) {
    root = document.createElement("div");
    root.className = "scvi-viz-latent";
    parentElement.appendChild(root);
    root.__state = { id: `scvi-viz-latent-${Math.random().toString(36).slice(2)}`, dragging: null, move: 0, sentAt: 0 };
    window.addEventListener("pointerup", () => { root.__state.dragging = null; });
  }
  const state = root.__state;
  state.send = (moved) => setTriggerValue("moved", moved);
  const shape = JSON.stringify([data.ranges, data.labels, data.steps]);
  if (state.shape !== shape) {
    build(root, data, state);
    state.shape = shape;
  }
  if (data.move < state.move && performance.now() - state.sentAt < IN_FLIGHT_MS) return; // a rerun for an older move
  state.move = data.move;
  // The exact values (an input snaps what it shows to its step): a move of one dimension
  // sends the others unchanged.
  state.z = [...data.z];
  state.inputs.forEach(({ input, value }, i) => {
    if (state.dragging !== i) input.value = String(data.z[i]);
    show(input, value, data.z[i]);
  });
}
