"""Sliders that mean something: the decoder's Jacobian (scvi_viz.model.jacobian)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from scvi_viz import load_model
from scvi_viz.errors import DecodeInputError
from scvi_viz.io.sources import DEMO_MODEL

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MODELS = sorted(p for p in (FIXTURES / "models").iterdir() if (p / "model.pt").is_file()) + \
    sorted(p for p in (FIXTURES / "releases").glob("*/*") if (p / "model.pt").is_file())


def covariates_of(model) -> dict:
    """Not the defaults: the last batch, label and category, and a continuous value of 0.7."""
    out: dict = {}
    if len(model.batches) > 1:
        out["batch"] = model.batches[-1]
    if len(model.labels) > 1:
        out["label"] = model.labels[-1]
    if model.categorical_covariates:
        out["categorical"] = {name: cats[-1] for name, cats in model.categorical_covariates.items()}
    if model.continuous_covariates:
        out["continuous"] = {name: 0.7 for name in model.continuous_covariates}
    return out


def log_scale_float64(model, decoder64, z: np.ndarray, covariates: dict) -> np.ndarray:
    """log px_scale of the rows of ``z`` through the model's own DecoderSCVI.forward, in float64."""
    inputs = model._inputs(z, **covariates)
    x = inputs.x.double()
    x[:, : model.n_latent] = torch.as_tensor(z, dtype=torch.float64)  # z itself, not its float32 rounding
    with torch.no_grad():
        scale = decoder64(model.dispersion, x, inputs.log_library.double(), *inputs.cats)[0]
    return torch.log(scale).numpy()


# ------------------------------------------------------------------------------- the Jacobian
@pytest.mark.parametrize("path", MODELS, ids=lambda p: "/".join(p.parts[-2:]))
def test_jacobian_equals_central_differences(path):
    model = load_model(path, device="cpu")
    decoder64 = copy.deepcopy(model.decoder).double()
    covariates = covariates_of(model)
    rng = np.random.default_rng(0)
    step = 1e-3
    for _ in range(2):
        # A point float32 holds exactly, so that the Jacobian (float32 inputs) and the differences share it.
        z = rng.normal(size=model.n_latent).astype(np.float32).astype(np.float64)
        # The float64 forward is the function decode computes (in float32).
        np.testing.assert_allclose(np.exp(log_scale_float64(model, decoder64, z[None], covariates))[0],
                                   model.decode(z, **covariates).scale.numpy()[0], rtol=2e-5, atol=1e-9)
        jacobian = model.log_scale_jacobian(z, **covariates)
        assert jacobian.shape == (model.n_genes, model.n_latent) and jacobian.dtype == np.float64
        eye = step * np.eye(model.n_latent)
        differences = (log_scale_float64(model, decoder64, z + eye, covariates)
                       - log_scale_float64(model, decoder64, z - eye, covariates)).T / (2 * step)
        np.testing.assert_allclose(jacobian, differences, rtol=1e-3, atol=1e-3 * np.abs(differences).max())
        genes = [model.genes[-1], model.genes[0]]
        np.testing.assert_allclose(model.log_scale_jacobian(z, genes=genes, **covariates), jacobian[[-1, 0]], rtol=1e-5,
                                   atol=1e-6 * np.abs(jacobian).max())  # float32 sums in another order


@pytest.fixture(scope="module")
def demo_model():
    return load_model(DEMO_MODEL, device="cpu")


@pytest.mark.parametrize("call, message", [
    (lambda m: m.log_scale_jacobian(np.full(m.n_latent, np.nan)), "NaN"),
    (lambda m: m.log_scale_jacobian(np.zeros(m.n_latent + 1)), "shape"),
    (lambda m: m.log_scale_jacobian(np.zeros((2, m.n_latent))), "one latent point"),
    (lambda m: m.log_scale_jacobian(np.zeros(m.n_latent), genes=["NOT_A_GENE"]), "not in the model"),
    (lambda m: m.log_scale_jacobian(np.zeros(m.n_latent), genes=[]), "empty"),
    (lambda m: m.log_scale_jacobian(np.zeros(m.n_latent), genes=3), "gene name"),
    (lambda m: m.log_scale_jacobian(np.zeros(m.n_latent), batch="M"), "categories"),
])
def test_jacobian_arguments_are_checked(demo_model, call, message):
    with pytest.raises(DecodeInputError, match=message):
        call(demo_model)
