"""Every decode/decode_genes/encode argument is checked: a result that is right, or a DecodeInputError.

Property-based (hypothesis): whatever the arguments, the call never returns uninitialised,
NaN or infinite numbers and never raises anything but a scvi-viz error.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scvi_viz.model.decoding as model_module
from scvi_viz import DecodeInputError, ScviVizError, load_model
from scvi_viz.errors import CudaFallbackWarning

FIXTURES = Path(__file__).parent / "fixtures" / "models"
MODEL = load_model(FIXTURES / "scvi_covariates", device="cpu")
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**40, 10**40), st.just(1e300), st.just(-0.0)
)
anything = st.one_of(
    numbers, st.text(max_size=5), st.none(), st.booleans(), st.lists(numbers, max_size=4),
    st.complex_numbers(max_magnitude=10), st.dictionaries(st.text(max_size=3), numbers, max_size=2),
)


def finite(decoded) -> bool:
    parts = [decoded.scale, decoded.rate] + [p for p in (decoded.theta, decoded.dropout_logits) if p is not None]
    return all(bool(torch.isfinite(p).all()) for p in parts)


def call(fn, *args, **kwargs):
    """The call's result, or ``None`` if it raised a scvi-viz error; anything else fails the test."""
    try:
        return fn(*args, **kwargs)
    except ScviVizError as exc:
        assert len(str(exc)) > 20
        return None


@SETTINGS
@given(z=st.one_of(anything, st.lists(st.lists(numbers, min_size=MODEL.n_latent, max_size=MODEL.n_latent), max_size=3)),
       library_size=st.one_of(anything, st.floats(1.0, 1e6)), chunk_size=st.one_of(st.integers(-3, 5), anything))
def test_decode_arguments(z, library_size, chunk_size):
    out = call(MODEL.decode, z, library_size=library_size, chunk_size=chunk_size)
    if out is not None:
        assert finite(out)
        np.testing.assert_array_equal(out.scale.numpy(), MODEL.decode(z, library_size=library_size).scale.numpy())


@SETTINGS
@given(batch=anything, categorical=anything, continuous=anything)
def test_decode_covariate_arguments(batch, categorical, continuous):
    out = call(MODEL.decode, np.zeros(MODEL.n_latent), batch=batch, categorical=categorical, continuous=continuous)
    if out is not None:
        assert finite(out)


@SETTINGS
@given(genes=st.one_of(anything, st.lists(st.sampled_from(MODEL.genes[:5] + ["NOPE"]), max_size=3)),
       library_size=anything, chunk_size=anything)
def test_decode_genes_arguments(genes, library_size, chunk_size):
    out = call(MODEL.decode_genes, np.zeros((2, MODEL.n_latent)), genes, library_size=library_size, chunk_size=chunk_size)
    if out is not None:
        assert finite(out)
        full = MODEL.decode(np.zeros((2, MODEL.n_latent)), library_size=library_size)
        torch.testing.assert_close(out.scale, full.scale[:, MODEL.gene_indices(list(genes))])


@SETTINGS
@given(batch_size=anything)
def test_encode_batch_size(batch_size):
    counts = np.ones((3, MODEL.n_genes), np.float32)
    from scvi_viz.covariates import Covariates
    cov = Covariates(batch=None, label=None, categorical={}, continuous={k: np.zeros(3) for k in MODEL.continuous_covariates})
    out = call(MODEL.encode_counts, counts, cov, batch_size=batch_size)
    if out is not None:
        assert np.isfinite(out).all()


@pytest.mark.parametrize("chunk_size", [0, -1, 2.5, True, "8", 10**9])
def test_bad_chunk_size_is_refused_not_uninitialised(chunk_size):
    with pytest.raises(DecodeInputError, match="chunk_size"):
        MODEL.decode(np.zeros((3, MODEL.n_latent)), chunk_size=chunk_size)
    with pytest.raises(DecodeInputError, match="chunk_size"):
        MODEL.decode_genes(np.zeros((3, MODEL.n_latent)), MODEL.genes[:1], chunk_size=chunk_size)


def test_library_size_beyond_float32_is_refused():
    with pytest.raises(DecodeInputError, match="float32"):
        MODEL.decode(np.zeros(MODEL.n_latent), library_size=1e300)
    with pytest.raises(DecodeInputError, match="float32"):
        MODEL.decode(np.zeros(MODEL.n_latent), library_size=1e-300)


def test_z_beyond_float32_is_refused():
    for z in (np.full(MODEL.n_latent, 1e300), torch.full((MODEL.n_latent,), 1e300, dtype=torch.float64)):
        with pytest.raises(DecodeInputError, match="float32"):
            MODEL.decode(z)


def test_decode_mean_of_no_rows_is_refused_and_decode_of_no_rows_is_empty():
    with pytest.raises(DecodeInputError, match="at least one row"):
        MODEL.decode_mean(np.zeros((0, MODEL.n_latent)))
    assert MODEL.decode(np.zeros((0, MODEL.n_latent))).scale.shape == (0, MODEL.n_genes)


def test_gene_name_string_is_not_split_into_letters():
    with pytest.raises(DecodeInputError, match="list of gene names"):
        MODEL.decode_genes(np.zeros(MODEL.n_latent), MODEL.genes[0])


def test_two_million_rows_get_a_clear_error_with_the_memory_needed():
    from scvi_viz.io.sources import DEMO_MODEL

    demo = load_model(DEMO_MODEL, device="cpu")  # 765 genes: 2,000,000 rows need 18 GB
    with pytest.raises(DecodeInputError, match=r"18\.\d GB .* at most [\d,]+ rows per call"):
        demo.decode(torch.zeros(2_000_000, demo.n_latent))


def test_rows_within_the_cap_decode(monkeypatch):
    monkeypatch.setattr(model_module, "MAX_DECODE_BYTES", 3 * MODEL.n_genes * 4 * 100)
    MODEL.decode(np.zeros((100, MODEL.n_latent)))
    with pytest.raises(DecodeInputError, match="at most 100 rows"):
        MODEL.decode(np.zeros((101, MODEL.n_latent)))


def pretend_cuda(model, monkeypatch) -> None:
    """Make ``model`` believe it runs on CUDA; its argument checks still build CPU tensors."""
    real_inputs = model._inputs

    def inputs_on_cpu(*args, **kwargs):
        model.device = torch.device("cpu")
        try:
            return real_inputs(*args, **kwargs)
        finally:
            model.device = torch.device("cuda")

    monkeypatch.setattr(model, "_inputs", inputs_on_cpu)
    monkeypatch.setattr(model, "device", torch.device("cuda"))


def test_cuda_out_of_memory_retries_smaller_then_finishes_on_cpu(monkeypatch):
    """Simulated on the CPU: the model believes it is on CUDA, and chunks above a size 'run out of memory'."""
    model = load_model(FIXTURES / "scvi_covariates", device="cpu")
    z = np.random.default_rng(0).normal(size=(300, model.n_latent)).astype(np.float32)
    expected = model.decode(z, library_size=5e3)
    real = model._decode_chunks
    tried = []

    def fake(inputs, chunk, decoder, device, fits=None):
        tried.append((chunk, device.type))
        if device.type == "cuda" and chunk > fits:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(inputs, chunk, decoder, torch.device("cpu"))

    pretend_cuda(model, monkeypatch)
    monkeypatch.setattr(model, "_decode_chunks", lambda *a: fake(*a, fits=128))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = model.decode(z, library_size=5e3, chunk_size=2048)  # 2048 -> 512 -> 128 fits: no warning
    assert tried == [(2048, "cuda"), (512, "cuda"), (128, "cuda")]
    torch.testing.assert_close(out.scale, expected.scale, rtol=0, atol=0)

    tried.clear()
    monkeypatch.setattr(model, "_decode_chunks", lambda *a: fake(*a, fits=0))
    with pytest.warns(CudaFallbackWarning, match="finished on the CPU"):
        out = model.decode(z, library_size=5e3, chunk_size=2048)
    assert tried == [(2048, "cuda"), (512, "cuda"), (128, "cuda"), (64, "cuda"), (2048, "cpu")]
    torch.testing.assert_close(out.scale, expected.scale, rtol=0, atol=0)
    assert out.scale.device.type == "cpu"


def test_other_runtime_errors_are_not_taken_for_out_of_memory(monkeypatch):
    model = load_model(FIXTURES / "scvi_covariates", device="cpu")
    pretend_cuda(model, monkeypatch)

    def broken(*args):
        raise RuntimeError("some other failure")

    monkeypatch.setattr(model, "_decode_chunks", broken)
    with pytest.raises(RuntimeError, match="some other failure"):
        model.decode(np.zeros(model.n_latent))


def test_bad_device_is_a_decode_input_error():
    for device in ("gpu", "mps", "cuda:x"):
        with pytest.raises(DecodeInputError):
            load_model(FIXTURES / "scvi_default", device=device)
