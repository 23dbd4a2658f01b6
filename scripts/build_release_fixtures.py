"""Build the per-release parity fixtures under ``tests/fixtures/releases`` with scvi-tools.

Users save models with whatever scvi-tools release they have, so the parity tests also run on
models saved by each release line. Run from the repository root, once per release line, with a
Python environment holding that scvi-tools (1.2, 1.3, 1.4 or 1.5)::

    python scripts/build_release_fixtures.py

It writes ``tests/fixtures/releases/<major.minor>/<name>/`` (``model.pt`` saved with
``save_anndata=False``, ``config.json`` and ``reference.npz``, in the same format as
``scripts/build_fixtures.py``, whose pieces it reuses). It reads the existing
``tests/fixtures/adata.h5ad`` and never touches ``tests/fixtures/models`` or ``refused``.

The calls it makes (``setup_anndata``, the model constructors, ``train``, ``save``,
``module.generative`` and ``get_latent_representation``) take the same arguments in every
release from 1.2 to 1.5; what differs is only in what ``save`` writes, which is the point.
"""

from __future__ import annotations

import shutil
import warnings

import anndata
import numpy as np
import torch

import scvi
from build_fixtures import COVS, MODELS, ROOT, SEED, build_model

RELEASES = ("1.2", "1.3", "1.4", "1.5")

# Per release line: the default model, one with covariates, gene-batch dispersion and layer
# norm, and a SCANVI.
RELEASE_MODELS: dict[str, tuple[str, dict, dict]] = {
    "scvi_default": MODELS["scvi_default"],
    "scvi_covariates_gene_batch_ln": (
        "SCVI",
        {"batch_key": "batch", **COVS},
        {"dispersion": "gene-batch", "use_layer_norm": "both", "use_batch_norm": "none"},
    ),
    "scanvi": MODELS["scanvi"],
}


def release_line(version: str) -> str:
    """``"1.2.2.post2"`` -> ``"1.2"``."""
    major, minor = version.split(".")[:2]
    line = f"{major}.{minor}"
    if line not in RELEASES:
        raise SystemExit(f"scvi-tools {version} is not one of the release lines {', '.join(RELEASES)}")
    return line


def main() -> None:
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    line = release_line(scvi.__version__)
    out = ROOT / "releases" / line
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    adata = anndata.read_h5ad(ROOT / "adata.h5ad")
    for name, (cls_name, setup, kwargs) in RELEASE_MODELS.items():
        scvi.settings.seed = SEED
        rng = np.random.default_rng(SEED)
        build_model(name, cls_name, setup, kwargs, adata, rng, target=out / name)
    print(f"scvi-tools {scvi.__version__} -> {out}")


if __name__ == "__main__":
    main()
