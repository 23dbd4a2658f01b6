"""The CUDA path gives the CPU's numbers. Runs wherever CUDA is available; skipped elsewhere."""

from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import torch

from scvi_viz import load_model
from scvi_viz.errors import CudaFallbackWarning

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available on this machine")

FIXTURES = Path(__file__).parent / "fixtures"
MODELS = sorted(p.name for p in (FIXTURES / "models").iterdir() if (p / "model.pt").is_file())


@pytest.mark.parametrize("name", MODELS)
def test_cuda_decode_and_encode_match_cpu(name):
    cpu = load_model(FIXTURES / "models" / name, device="cpu")
    gpu = load_model(FIXTURES / "models" / name, device="cuda")
    assert gpu.device.type == "cuda" and gpu.decoder.px_scale_decoder[0].weight.is_cuda
    z = np.random.default_rng(0).standard_normal((64, cpu.n_latent)).astype(np.float32)
    if cpu.latent_distribution == "ln":
        z = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    a, b = cpu.decode(z, library_size=5000.0), gpu.decode(z, library_size=5000.0)
    for field in ("scale", "rate", "theta", "dropout_logits"):
        x, y = getattr(a, field), getattr(b, field)
        assert (x is None) == (y is None)
        if x is not None:
            assert y.is_cuda
            torch.testing.assert_close(y.cpu(), x, rtol=1e-5, atol=1e-6)
    genes = cpu.genes[:3]
    torch.testing.assert_close(gpu.decode_genes(z, genes, library_size=5000.0).scale.cpu(), a.scale[:, :3], rtol=1e-5, atol=1e-7)
    adata = ad.read_h5ad(FIXTURES / "adata.h5ad")
    if set(cpu.continuous_covariates) | set(cpu.categorical_covariates) <= set(adata.obs):
        np.testing.assert_allclose(gpu.encode(adata), cpu.encode(adata), rtol=1e-5, atol=1e-5)


def test_a_real_out_of_memory_finishes_on_the_cpu_with_a_warning():
    """The GPU's allocator is capped below one output matrix: every chunk size runs out of memory,
    the decode finishes on the CPU with ``CudaFallbackWarning`` and the CPU's numbers."""
    cpu = load_model(FIXTURES / "models" / "scvi_default", device="cpu")
    gpu = load_model(FIXTURES / "models" / "scvi_default", device="cuda")
    z = np.random.default_rng(1).standard_normal((200_000, cpu.n_latent)).astype(np.float32)
    expected = cpu.decode(z, library_size=5000.0)
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(0).total_memory
    # Room for the inputs (z, library, batch: ~11 MB) but not for one 200,000 x 40 float32 output (32 MB).
    allowed = torch.cuda.memory_allocated() + 16 * 1024**2
    torch.cuda.set_per_process_memory_fraction(allowed / total, 0)
    try:
        with pytest.warns(CudaFallbackWarning, match="finished on the CPU"):
            out = gpu.decode(z, library_size=5000.0)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, 0)
        torch.cuda.empty_cache()
    assert out.scale.device.type == "cpu"
    torch.testing.assert_close(out.scale, expected.scale, rtol=1e-6, atol=0)
    torch.testing.assert_close(out.dropout_logits, expected.dropout_logits, rtol=1e-6, atol=1e-7)
    # With the cap lifted the same model decodes on the GPU again.
    assert gpu.decode(z[:10], library_size=5000.0).scale.is_cuda
