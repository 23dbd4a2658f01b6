"""The browser's decoder (``live_decoder.js``) against ``ScviModel.decode``, in Chromium.

For every fixture model (the parity fixtures, the models saved by each scvi-tools release line
and the minified data's models): 60 random points, a third of them far outside the data, with
random library sizes and covariates of every kind the model has, decoded by the JavaScript
decoder from ``ScviModel.browser_weights()`` and by torch: scale, rate, theta and dropout agree
to 1e-5 relative (1e-9 absolute).
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

import scvi_viz
from scvi_viz.analysis.walk import point_covariates
from scvi_viz.arrays import unpack_arrays
from scvi_viz.model import browser
from scvi_viz.point import Point

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
MODELS = sorted(p.parent for p in FIXTURES.glob("**/model.pt") if "refused" not in p.parts)
SCRIPT = "\n".join((ROOT / "scvi_viz" / "ui" / "components" / name).read_text(encoding="utf-8")
                   for name in ("messages.js", "live_decoder.js"))  # as components/live_decoder.py joins them
N_POINTS = 60

_DECODE_JS = """
([blob, points]) => {
  const dec = window.scviViz.parseDecoder(blob);
  const list = (a) => (a === null ? null : Array.from(a));
  return points.map((p) => {
    const out = dec.decode(p.z, p.library, p.covariates);
    return {scale: list(out.scale), rate: list(out.rate), theta: list(out.theta), dropout: list(out.dropout)};
  });
}
"""


@pytest.fixture(scope="module")
def blank_page(browser):
    page = browser.new_page()
    page.goto("about:blank")
    page.add_script_tag(content=SCRIPT, type="module")
    page.wait_for_function("() => !!(window.scviViz && window.scviViz.parseDecoder)")
    yield page
    page.close()


def random_points(model: scvi_viz.ScviModel, rng: np.random.Generator) -> list[Point]:
    spec = model.spec
    points = []
    for i in range(N_POINTS):
        spread = 1.0 if i % 3 else rng.uniform(5, 15)  # a third far outside where cells lie
        z = rng.normal(scale=spread, size=spec.n_latent)
        if spec.latent_distribution == "ln":
            z = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        points.append(Point(
            z=tuple(float(v) for v in np.float32(z)),
            library_size=float(rng.uniform(0.05, 5) if model.uses_size_factor else 10 ** rng.uniform(2, 5)),
            batch=str(rng.choice(spec.batches)),
            label=str(rng.choice(spec.labels)) if spec.labels else None,
            categorical={k: str(rng.choice(v)) for k, v in spec.categorical_covariates.items()},
            continuous={k: float(rng.normal(scale=2)) for k in spec.continuous_covariates},
        ))
    return points


@pytest.mark.parametrize("folder", MODELS, ids=[str(p.relative_to(FIXTURES)) for p in MODELS])
def test_the_browser_decodes_like_torch(blank_page, folder):
    model = scvi_viz.load_model(folder, device="cpu")
    assert model.browser_decoder_refusal() is None
    points = random_points(model, np.random.default_rng(len(str(folder))))
    blob = base64.b64encode(model.browser_weights()).decode("ascii")
    sent = [{"z": list(p.z), "library": p.library_size, "covariates": point_covariates(model.spec, p)} for p in points]
    decoded = blank_page.evaluate(_DECODE_JS, [blob, sent])
    for p, js in zip(points, decoded):
        torch_out = model.decode(**p.decode_kwargs())
        expected = {"scale": torch_out.scale, "rate": torch_out.rate, "theta": torch_out.theta,
                    "dropout": torch_out.dropout}
        for name, want in expected.items():
            if want is None:
                assert js[name] is None, name
                continue
            np.testing.assert_allclose(np.array(js[name]), want.cpu().numpy()[0], rtol=1e-5, atol=1e-9,
                                       err_msg=f"{name} at {p}")


def test_the_decoder_message_holds_the_state_dict_unchanged():
    model = scvi_viz.load_model(FIXTURES / "models" / "scvi_covariates", device="cpu")
    header, arrays = unpack_arrays(model.browser_weights())
    state = model.spec.state_dict
    assert header["format"] == browser.FORMAT and header["n_genes"] == model.n_genes
    for i in range(len(header["layers"])):
        prefix = f"decoder.px_decoder.fc_layers.Layer {i}."
        assert np.array_equal(arrays[f"layer{i}.weight"], state[prefix + "0.weight"].numpy())
        if header["layers"][i]["batch_norm"]:
            assert np.array_equal(arrays[f"layer{i}.bn.running_var"], state[prefix + "1.running_var"].numpy())
    assert np.array_equal(arrays["px_scale.weight"], state["decoder.px_scale_decoder.0.weight"].numpy())
    for entry in header["arrays"]:
        assert entry["offset"] % 8 == 0 and list(arrays[entry["name"]].shape) == entry["shape"]


def test_a_decoder_too_large_for_a_browser_is_refused_with_its_size(monkeypatch):
    model = scvi_viz.load_model(FIXTURES / "models" / "scvi_default", device="cpu")
    monkeypatch.setattr(browser, "MAX_BROWSER_WEIGHT_BYTES", 1000)
    assert "MB, more than the" in model.browser_decoder_refusal()
