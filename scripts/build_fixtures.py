"""Build the parity fixtures under ``tests/fixtures`` with scvi-tools.

Run from the repository root (needs ``pip install -r requirements-dev.txt``)::

    python scripts/build_fixtures.py

It writes

* ``tests/fixtures/adata.h5ad``: one small synthetic AnnData (120 cells x 40 genes);
* ``tests/fixtures/models/<name>/``: tiny SCVI/SCANVI models saved with
  ``model.save(dir, save_anndata=False)``, one per decoding option, each with
  ``config.json`` (how it was set up) and ``reference.npz`` (fixed random decoder inputs
  and scvi-tools' outputs for them, plus the latent representation of the AnnData);
* ``tests/fixtures/refused/<ClassName>/``: tiny saved models of classes scvi-viz refuses.

The tests only read these files; they never need scvi-tools.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import anndata
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

import scvi

ROOT = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
N_CELLS, N_GENES, N_ROWS = 120, 40, 8
SEED = 0
SMALL = {"n_hidden": 16, "n_latent": 4}
TRAIN = {"max_epochs": 2, "accelerator": "cpu", "devices": 1, "batch_size": 64, "enable_progress_bar": False}

COVS = {"categorical_covariate_keys": ["cat1", "cat2"], "continuous_covariate_keys": ["cont1", "cont2"]}

# name -> (model class, setup_anndata kwargs, model kwargs). Together they cover every option
# that changes what DecoderSCVI (or the encoder) computes.
MODELS: dict[str, tuple[str, dict, dict]] = {
    "scvi_default": ("SCVI", {"batch_key": "batch"}, {}),
    "scvi_gene_batch_nb": ("SCVI", {"batch_key": "batch"}, {"dispersion": "gene-batch", "gene_likelihood": "nb"}),
    "scvi_gene_label_zinb": (
        "SCVI",
        {"batch_key": "batch", "labels_key": "label"},
        {"dispersion": "gene-label", "gene_likelihood": "zinb"},
    ),
    "scvi_gene_cell_nb": ("SCVI", {"batch_key": "batch"}, {"dispersion": "gene-cell", "gene_likelihood": "nb"}),
    "scvi_gene_cell_zinb": ("SCVI", {"batch_key": "batch"}, {"dispersion": "gene-cell"}),
    "scvi_poisson": ("SCVI", {"batch_key": "batch"}, {"gene_likelihood": "poisson"}),
    "scvi_covariates": ("SCVI", {"batch_key": "batch", **COVS}, {}),
    "scvi_2layers_deep": (
        "SCVI",
        {"batch_key": "batch", **COVS},
        {"n_layers": 2, "deeply_inject_covariates": True, "use_batch_norm": "both"},
    ),
    "scvi_2layers_shallow": (
        "SCVI",
        {"batch_key": "batch", **COVS},
        {"n_layers": 2, "deeply_inject_covariates": False, "use_layer_norm": "both", "use_batch_norm": "none"},
    ),
    "scvi_bn_decoder_ln_encoder": (
        "SCVI",
        {"batch_key": "batch"},
        {"use_batch_norm": "decoder", "use_layer_norm": "encoder"},
    ),
    "scvi_bn_encoder_ln_decoder": (
        "SCVI",
        {"batch_key": "batch"},
        {"use_batch_norm": "encoder", "use_layer_norm": "decoder", "dispersion": "gene-batch"},
    ),
    "scvi_embedding": (
        "SCVI",
        {"batch_key": "batch", **COVS},
        {"batch_representation": "embedding", "dispersion": "gene-batch"},
    ),
    "scvi_embedding_encode_covariates": (
        "SCVI",
        {"batch_key": "batch", **COVS},
        {"batch_representation": "embedding", "encode_covariates": True, "n_layers": 2},
    ),
    "scvi_encode_covariates": ("SCVI", {"batch_key": "batch", **COVS}, {"encode_covariates": True}),
    "scvi_size_factor": ("SCVI", {"batch_key": "batch", "size_factor_key": "sf"}, {"gene_likelihood": "nb"}),
    "scvi_no_observed_lib": ("SCVI", {"batch_key": "batch"}, {"use_observed_lib_size": False}),
    "scvi_ln": ("SCVI", {"batch_key": "batch"}, {"latent_distribution": "ln"}),
    "scvi_no_batch": ("SCVI", {}, {"dispersion": "gene-cell", "n_layers": 2}),
    # dispersion="gene-label" is broken for SCANVI in scvi-tools 1.4.2 (px_r has 0 columns).
    "scanvi": (
        "SCANVI",
        {"batch_key": "batch", "labels_key": "label", "unlabeled_category": "Unknown", "categorical_covariate_keys": ["cat1"]},
        {"dispersion": "gene-batch", "n_layers": 2},
    ),
}


def make_adata(rng: np.random.Generator) -> anndata.AnnData:
    """Negative-binomial counts with batch and covariate effects; every cell has counts."""
    batch = rng.integers(0, 3, N_CELLS)
    label = rng.integers(0, 3, N_CELLS)
    base = rng.gamma(2.0, 2.0, N_GENES)
    batch_effect = rng.normal(0, 0.3, (3, N_GENES))
    label_effect = rng.normal(0, 0.6, (3, N_GENES))
    mean = base * np.exp(batch_effect[batch] + label_effect[label]) * rng.uniform(0.5, 2.0, (N_CELLS, 1))
    theta = 3.0
    counts = rng.poisson(rng.gamma(theta, mean / theta)).astype(np.float32)
    counts[:, 0] += 1  # no empty cells
    obs = pd.DataFrame(
        {
            "batch": pd.Categorical([f"b{i}" for i in batch]),
            "cat1": pd.Categorical(rng.choice(["x", "y", "z"], N_CELLS)),
            "cat2": pd.Categorical(rng.choice(["p", "q"], N_CELLS)),
            "cont1": rng.normal(0, 1, N_CELLS),
            "cont2": rng.uniform(0, 5, N_CELLS),
            "label": pd.Categorical(np.array(["A", "B", "C"])[label]),
            "sf": counts.sum(1) / counts.sum(1).mean(),
        },
        index=[f"cell_{i:03d}" for i in range(N_CELLS)],
    )
    var = pd.DataFrame(index=[f"gene_{j:02d}" for j in range(N_GENES)])
    return anndata.AnnData(X=sp.csr_matrix(counts), obs=obs, var=var)


def reference_inputs(model, setup: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Fixed random decoder inputs for ``model``."""
    module = model.module
    n_latent = module.n_latent
    z = rng.normal(0, 1, (N_ROWS, n_latent)).astype(np.float32)
    if module.latent_distribution == "ln":
        z = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    n_batch = model.summary_stats.n_batch
    n_labels = module.n_labels
    out = {
        "z": z.astype(np.float32),
        "library": np.log(rng.uniform(300, 3000, (N_ROWS, 1))).astype(np.float32),
        "batch_index": rng.integers(0, n_batch, (N_ROWS, 1)).astype(np.int64),
        "y": rng.integers(0, n_labels, (N_ROWS, 1)).astype(np.int64),
    }
    cat_keys = setup.get("categorical_covariate_keys") or []
    if cat_keys:
        sizes = [len(model.adata.obs[k].cat.categories) for k in cat_keys]
        out["cat_covs"] = np.stack([rng.integers(0, n, N_ROWS) for n in sizes], axis=1).astype(np.int64)
    cont_keys = setup.get("continuous_covariate_keys") or []
    if cont_keys:
        out["cont_covs"] = rng.normal(0, 2, (N_ROWS, len(cont_keys))).astype(np.float32)
    if setup.get("size_factor_key"):
        out["size_factor"] = rng.uniform(0.3, 3.0, (N_ROWS, 1)).astype(np.float32)
    return out


@torch.no_grad()
def reference_outputs(model, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """scvi-tools' ``module.generative`` on ``inputs`` in eval mode."""
    module = model.module
    module.eval()
    t = {k: torch.as_tensor(v) for k, v in inputs.items()}
    gen = module.generative(
        z=t["z"],
        library=t["library"],
        batch_index=t["batch_index"],
        cont_covs=t.get("cont_covs"),
        cat_covs=t.get("cat_covs"),
        size_factor=torch.log(t["size_factor"]) if "size_factor" in t else None,
        y=t["y"],
    )
    px = gen["px"]
    out = {"px_scale": px.scale.numpy(), "px_mu": px.mu.numpy() if hasattr(px, "mu") else px.rate.numpy()}
    if module.gene_likelihood != "poisson":
        out["px_theta"] = px.theta.numpy()
    if module.gene_likelihood == "zinb":
        out["px_zi_logits"] = px.zi_logits.numpy()
    return out


def build_model(
    name: str, cls_name: str, setup: dict, kwargs: dict, adata: anndata.AnnData, rng, target: Path | None = None
) -> None:
    """Train, save and write the reference of one model to ``target`` (default ``models/<name>``)."""
    cls = getattr(scvi.model, cls_name)
    ad = adata.copy()
    cls.setup_anndata(ad, **setup)
    model = cls(ad, **SMALL, **kwargs)
    model.train(**TRAIN)
    model.module.eval()
    target = ROOT / "models" / name if target is None else target
    model.save(str(target), save_anndata=False, overwrite=True)

    inputs = reference_inputs(model, setup, rng)
    outputs = reference_outputs(model, inputs)
    latent = {"latent": model.get_latent_representation(ad).astype(np.float32)}
    if model.module.latent_distribution == "ln":
        qz_m, _ = model.get_latent_representation(ad, return_dist=True)
        latent["latent_qz_mean"] = np.asarray(qz_m, dtype=np.float32)
    np.savez_compressed(target / "reference.npz", **inputs, **outputs, **latent)
    config = {
        "model_class": cls_name,
        "setup_anndata": setup,
        "model_kwargs": {**SMALL, **kwargs},
        "scvi_version": scvi.__version__,
    }
    (target / "config.json").write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")
    print(f"{name}: {sorted(outputs)}")


def build_refused(adata: anndata.AnnData, rng) -> None:
    """Tiny saved models whose decoder is not DecoderSCVI."""
    out = ROOT / "refused"
    small = {"n_hidden": 16, "n_latent": 4}

    def save(model, name):
        model.train(**TRAIN)
        model.save(str(out / name), save_anndata=False, overwrite=True)
        print(f"refused/{name}")

    ad = adata.copy()
    scvi.model.LinearSCVI.setup_anndata(ad, batch_key="batch")
    save(scvi.model.LinearSCVI(ad, **small), "LinearSCVI")

    ad = adata.copy()
    scvi.model.CondSCVI.setup_anndata(ad, labels_key="label")
    save(scvi.model.CondSCVI(ad, **small, n_layers=1), "CondSCVI")

    ad = adata.copy()
    ad.obsm["protein"] = pd.DataFrame(
        rng.poisson(20, (ad.n_obs, 5)).astype(np.float32), index=ad.obs_names, columns=[f"prot_{i}" for i in range(5)]
    )
    scvi.model.TOTALVI.setup_anndata(ad, protein_expression_obsm_key="protein", batch_key="batch")
    save(scvi.model.TOTALVI(ad, n_latent=4, n_hidden=16), "TOTALVI")

    ad = adata.copy()
    ad.X = sp.csr_matrix((ad.X.toarray() > 2).astype(np.float32))
    scvi.model.PEAKVI.setup_anndata(ad, batch_key="batch")
    save(scvi.model.PEAKVI(ad, n_hidden=16, n_latent=4), "PeakVI")


def main() -> None:
    warnings.filterwarnings("ignore")
    scvi.settings.seed = SEED
    torch.set_num_threads(1)
    rng = np.random.default_rng(SEED)
    for sub in ("models", "refused"):
        shutil.rmtree(ROOT / sub, ignore_errors=True)
    ROOT.mkdir(parents=True, exist_ok=True)
    adata = make_adata(rng)
    adata.write_h5ad(ROOT / "adata.h5ad", compression="gzip")
    for name, (cls_name, setup, kwargs) in MODELS.items():
        scvi.settings.seed = SEED
        build_model(name, cls_name, setup, kwargs, adata, rng)
    scvi.settings.seed = SEED
    build_refused(adata, rng)


if __name__ == "__main__":
    main()
