// scvi-tools' DecoderSCVI for one latent point, in plain JavaScript over typed arrays.
//
// The server sends the decoder's own float32 weights once per model (model/browser.py); here
// the point's covariates are folded into each layer's bias (one-hot injection, continuous
// covariates and a batch embedding are constant while a point moves) and eval-mode batch norm
// into the linear layers, in float64, and the point is decoded in float64 (JavaScript's
// numbers) from the float32 weights: at least as exact as torch's float32. Why plain JS: one
// point costs about 2 x hidden x genes multiply-adds per head (2 MFLOP for 16,000 genes), a
// few milliseconds; WebGL / WebGPU need unsafe flags in headless Chromium without a GPU and give
// float16 or nothing, and a WASM runtime is megabytes with accuracy reports of its own.
//
// Messages are read by messages.js, which components/live_decoder.py puts before this file.
// As a Streamlit component it loads one message (components/live_decoder.py) with the
// decoder, the gene names and the drawn cells, and keeps them in window.scviViz under the
// message's key. Tests load this file into a blank page and call window.scviViz.parseDecoder.
const scviViz = (window.scviViz = window.scviViz || { decoders: {}, cells: {}, maps: {} });
scviViz.geneNames = scviViz.geneNames || {};
// ------------------------------------------------------------------ the decoder
const softplus = (x) => (x > 20 ? x : Math.log1p(Math.exp(x))); // torch's threshold: exact above it
const sigmoid = (x) => 1 / (1 + Math.exp(-x));

function parse(data) {
  const { header: h, arrays: w } = readMessage(toBuffer(data));
  if (h.format !== "scvi-viz-decoder/1") throw new Error(`scvi-viz: unknown decoder format ${h.format}`);
  const folds = new Map();

  // The covariates' contribution to each layer, and batch norm, folded in: weight and bias that
  // act on the point alone (layer 0: z; later layers: the previous layer's output).
  function fold(cov) {
    const key = JSON.stringify(cov);
    if (folds.has(key)) return folds.get(key);
    const cats = h.cat_order.map((name) => (name === "batch" ? cov.batch : name === "label" ? cov.label
      : cov.categorical[Number(name.slice("categorical".length))]));
    // Layer 0's input beyond z: continuous covariates, then the batch's embedding.
    const extra = [...(cov.continuous || []).map(Math.fround)];
    if (w.batch_embedding) {
      const d = h.batch_embedding_dim;
      for (let j = 0; j < d; j++) extra.push(w.batch_embedding[cov.batch * d + j]);
    }
    const layers = h.layers.map((layer, i) => {
      const W = w[`layer${i}.weight`], b = w[`layer${i}.bias`];
      const nIn = layer.n_in, width = layer.n_in + layer.injected, nOut = layer.n_out;
      const keep = i === 0 ? h.n_latent : nIn; // the columns that act on the moving input
      const weight = new Float64Array(nOut * keep), bias = new Float64Array(nOut);
      for (let o = 0; o < nOut; o++) {
        let s = b[o];
        if (i === 0) for (let j = 0; j < extra.length; j++) s += W[o * width + h.n_latent + j] * extra[j];
        if (layer.injected) {
          let col = nIn;
          h.n_cat_list.forEach((n, c) => {
            if (!n) return;
            s += W[o * width + col + cats[c]];
            col += n;
          });
        }
        let scale = 1, shift = 0;
        if (layer.batch_norm) {
          scale = w[`layer${i}.bn.weight`][o] / Math.sqrt(w[`layer${i}.bn.running_var`][o] + layer.batch_norm_eps);
          shift = w[`layer${i}.bn.bias`][o] - w[`layer${i}.bn.running_mean`][o] * scale;
        }
        bias[o] = s * scale + shift;
        for (let j = 0; j < keep; j++) weight[o * keep + j] = W[o * width + j] * scale;
      }
      return { weight, bias, nIn: keep, nOut, layerNorm: layer.layer_norm, eps: layer.layer_norm_eps };
    });
    let logTheta = null;
    if (w.log_theta) {
      const t = w.log_theta, G = h.n_genes;
      if (h.dispersion === "gene") logTheta = t;
      else {
        const cols = t.length / G, which = h.dispersion === "gene-batch" ? cov.batch : cov.label;
        logTheta = new Float64Array(G);
        for (let g = 0; g < G; g++) logTheta[g] = t[g * cols + which];
      }
    }
    const folded = { layers, logTheta };
    if (folds.size > 16) folds.delete(folds.keys().next().value);
    folds.set(key, folded);
    return folded;
  }

  // The gene heads (`names`) on the hidden layer, in one pass over the genes. Only the hidden units
  // ReLU left above 0 are summed (adding W x 0 changes nothing): about half of them, here.
  function heads(names, hidden) {
    const active = [], values = [];
    for (let j = 0; j < hidden.length; j++) if (hidden[j] !== 0) { active.push(j); values.push(hidden[j]); }
    const n = active.length, H = h.n_hidden, G = h.n_genes;
    const idx = Int32Array.from(active), val = Float64Array.from(values);
    const outs = names.map(() => new Float64Array(G));
    const Ws = names.map((name) => w[`${name}.weight`]), bs = names.map((name) => w[`${name}.bias`]);
    if (names.length === 2) {
      const [W0, W1] = Ws, [o0, o1] = outs;
      for (let g = 0; g < G; g++) {
        let s0 = bs[0][g], s1 = bs[1][g];
        const row = g * H;
        for (let k = 0; k < n; k++) { const j = row + idx[k], v = val[k]; s0 += W0[j] * v; s1 += W1[j] * v; }
        o0[g] = s0;
        o1[g] = s1;
      }
      return outs;
    }
    names.forEach((name, m) => {
      const W = Ws[m], b = bs[m], out = outs[m];
      for (let g = 0; g < G; g++) {
        let s = b[g];
        const row = g * H;
        for (let k = 0; k < n; k++) s += W[row + idx[k]] * val[k];
        out[g] = s;
      }
    });
    return outs;
  }

  // Decode latent point z at library size `library` (total counts, or the size factor) under
  // covariates {batch, label, categorical: [...], continuous: [...]} (category numbers in the
  // model's order). Returns Float64Arrays of n_genes: scale, rate, theta (null for Poisson),
  // dropoutLogits and dropout (null unless ZINB).
  function decode(z, library, cov) {
    const { layers, logTheta } = fold(cov);
    let x = Float64Array.from(z, Math.fround); // torch decodes z as float32
    for (const L of layers) {
      const y = new Float64Array(L.nOut);
      for (let o = 0; o < L.nOut; o++) {
        let s = L.bias[o];
        const row = o * L.nIn;
        for (let j = 0; j < L.nIn; j++) s += L.weight[row + j] * x[j];
        y[o] = s;
      }
      if (L.layerNorm) {
        let mean = 0, variance = 0;
        for (let o = 0; o < L.nOut; o++) mean += y[o];
        mean /= L.nOut;
        for (let o = 0; o < L.nOut; o++) variance += (y[o] - mean) ** 2;
        const inv = 1 / Math.sqrt(variance / L.nOut + L.eps);
        for (let o = 0; o < L.nOut; o++) y[o] = (y[o] - mean) * inv;
      }
      for (let o = 0; o < L.nOut; o++) if (y[o] < 0) y[o] = 0;
      x = y;
    }
    const G = h.n_genes;
    const names = h.heads;  // px_scale, then px_r (gene-cell) and px_dropout (ZINB) where the model has them
    const outs = heads(names, x);
    const out = (name) => outs[names.indexOf(name)];
    const scale = out("px_scale");
    if (h.scale_activation === "softmax") {
      let max = -Infinity, total = 0;
      for (let g = 0; g < G; g++) if (scale[g] > max) max = scale[g];
      for (let g = 0; g < G; g++) { scale[g] = Math.exp(scale[g] - max); total += scale[g]; }
      for (let g = 0; g < G; g++) scale[g] /= total;
    } else {
      for (let g = 0; g < G; g++) scale[g] = softplus(scale[g]);
    }
    // scvi-tools multiplies by exp(log library), each in float32.
    const lib = Math.fround(Math.exp(Math.fround(Math.log(library))));
    const rate = scale.map((v) => lib * v);
    let theta = null;
    if (names.includes("px_r")) theta = out("px_r").map(Math.exp);
    else if (logTheta) theta = Float64Array.from(logTheta, Math.exp);
    let dropoutLogits = null, dropout = null;
    if (names.includes("px_dropout")) {
      dropoutLogits = out("px_dropout");
      dropout = dropoutLogits.map(sigmoid);
    }
    return { scale, rate, theta, dropoutLogits, dropout };
  }

  return { info: h, fold, decode };
}

scviViz.parseDecoder = parse;

// ------------------------------------------------------------------ the component
function cellsOf(header, arrays) {
  const c = header.cells;
  const cells = {
    n: c.n, nLatent: c.n_latent, typical: c.typical, k: c.k, nTotal: c.n_total,
    latent: arrays.latent, library: arrays.library, batch: arrays.batch, label: arrays.label,
    categorical: Array.from({ length: c.n_categorical }, (_, j) => arrays[`categorical${j}`]),
    continuous: Array.from({ length: c.n_continuous }, (_, j) => arrays[`continuous${j}`]),
    coords: Object.fromEntries(c.embeddings.map((name) => [name, arrays[`coords:${name}`]])),
    gridSteps: c.grid_steps,
  };
  return cells;
}

export default function ({ data }) {
  try {
    const buffer = toBuffer(data);
    const { header } = readHeader(buffer);
    if (scviViz.decoders[header.key]) return; // parsed once per model and map: reruns cost nothing
    const { arrays } = readMessage(buffer);
    scviViz.cells[header.key] = cellsOf(header, arrays);
    scviViz.geneNames[header.key] = header.genes;
    scviViz.decoders[header.key] = parse(arrays.weights);
  } catch (error) {
    console.error("scvi-viz: the live decoder could not be loaded", error);
  }
}
