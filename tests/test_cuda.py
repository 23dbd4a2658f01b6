"""The CUDA path gives the CPU's numbers. Runs wherever CUDA is available; skipped elsewhere."""

from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import torch

from scvi_viz import load_model

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
