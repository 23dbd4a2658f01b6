"""Build the minified-data fixtures under ``tests/fixtures/minified`` with scvi-tools.

Run from the repository root with scvi-tools installed (``pip install -r requirements-dev.txt``)::

    python scripts/build_minified_fixtures.py

For each model below it trains (into a folder named by the model and the scvi-tools release,
e.g. ``scvi_1.4``: run it with each release whose key names you want covered) a tiny model on ``tests/fixtures/adata.h5ad``, keeps scvi-tools'
latent representation and library sizes of the full data, calls ``model.minify_adata()`` and
saves the model *after* minification with ``model.save(dir, save_anndata=True)``, as scvi-hub
publishes models: ``model.pt`` (whose registry says where the posterior is) and the minified
``adata.h5ad`` (the posterior in ``obsm``, library sizes in ``obs``, an all-zero ``X``).
``reference.npz`` holds what scvi-tools computes for the cells: ``latent`` (its
``get_latent_representation()`` of the minified data), ``full_latent`` (the same before
minification), ``qzm``/``qzv`` and ``library`` (observed library sizes). The tests only read
these files; they never need scvi-tools.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import anndata
import numpy as np
import torch

import scvi

ROOT = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
OUT = ROOT / "minified"
TRAIN = {"max_epochs": 2, "accelerator": "cpu", "devices": 1, "batch_size": 64, "enable_progress_bar": False}
MODELS = {
    "scvi": {"n_hidden": 16, "n_latent": 4},
    "scvi_ln": {"n_hidden": 16, "n_latent": 4, "latent_distribution": "ln"},
}


def build(name: str, kwargs: dict) -> None:
    scvi.settings.seed = 0
    adata = anndata.read_h5ad(ROOT / "adata.h5ad")
    scvi.model.SCVI.setup_anndata(adata, batch_key="batch")
    model = scvi.model.SCVI(adata, **kwargs)
    model.train(**TRAIN)
    full_latent = model.get_latent_representation()
    qzm, qzv = model.get_latent_representation(give_mean=False, return_dist=True)
    library = np.asarray(adata.X.sum(axis=1)).ravel()
    adata.obsm["X_latent_qzm"], adata.obsm["X_latent_qzv"] = qzm, qzv
    model.minify_adata(use_latent_qzm_key="X_latent_qzm", use_latent_qzv_key="X_latent_qzv")
    torch.manual_seed(0)
    latent = model.get_latent_representation()
    folder = OUT / f"{name}_{'.'.join(scvi.__version__.split('.')[:2])}"
    shutil.rmtree(folder, ignore_errors=True)
    model.save(str(folder), save_anndata=True)
    np.savez(folder / "reference.npz", latent=latent.astype(np.float32), full_latent=full_latent.astype(np.float32),
             qzm=qzm.astype(np.float32), qzv=qzv.astype(np.float32), library=library.astype(np.float64))
    (folder / "config.json").write_text(json.dumps({"scvi_version": scvi.__version__, "model_kwargs": kwargs,
                                                    "minify_type": model.minified_data_type}, indent=1))
    print(f"{name}: {folder}")


def main() -> None:
    warnings.filterwarnings("ignore")
    for name, kwargs in MODELS.items():
        build(name, kwargs)


if __name__ == "__main__":
    main()
