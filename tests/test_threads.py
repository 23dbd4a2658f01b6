"""Work on a few points runs on one CPU thread; larger work keeps torch's threads (``model/threads.py``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import scvi_viz
from scvi_viz.io.sources import DEMO_MODEL
from scvi_viz.model.threads import FEW_ROWS


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # conftest runs the tests on one
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model():
    return scvi_viz.load_model(DEMO_MODEL, device="cpu")


def _threads_seen(model, call) -> list[int]:
    seen: list[int] = []
    handle = model.decoder.px_decoder.register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))
    try:
        call()
    finally:
        handle.remove()
    return seen


@pytest.mark.parametrize("n_rows, expected", [(1, 1), (FEW_ROWS, 1), (FEW_ROWS + 1, 2)])
def test_decoding_a_few_points_uses_one_thread(model, two_threads, n_rows, expected):
    z = np.zeros((n_rows, model.n_latent), dtype=np.float32)
    genes = list(model.genes[:3])
    assert set(_threads_seen(model, lambda: model.decode(z))) == {expected}
    assert set(_threads_seen(model, lambda: model.decode_genes(z, genes))) == {expected}
    assert set(_threads_seen(model, lambda: model.decode_mean(z))) == {expected}
    assert torch.get_num_threads() == 2  # restored


def test_the_jacobian_of_one_point_uses_one_thread_and_restores_them(model, two_threads):
    seen = _threads_seen(model, lambda: model.log_scale_jacobian(np.zeros(model.n_latent), genes=list(model.genes[:5])))
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("z", [np.zeros((1, 10)), [[0.0] * 10, [0.0]], "zeros"])
def test_threads_are_restored_after_an_error(model, two_threads, z):
    with pytest.raises(scvi_viz.ScviVizError):
        model.decode(z, batch="no such batch")
    assert torch.get_num_threads() == 2


def test_one_thread_gives_the_same_numbers(model, two_threads):
    z = np.random.default_rng(0).normal(size=(FEW_ROWS + 1, model.n_latent)).astype(np.float32)
    many = model.decode(z).scale.numpy()
    few = np.concatenate([model.decode(z[i:i + 1]).scale.numpy() for i in range(len(z))])
    np.testing.assert_allclose(few, many, rtol=1e-5, atol=1e-9)  # float32, as the parity tests
