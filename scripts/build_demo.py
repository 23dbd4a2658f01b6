"""Build scvi-viz's built-in demo: ``scvi_viz/demo/pbmc68k.h5ad`` and ``scvi_viz/demo/model/``.

Source: scanpy's bundled ``10x_pbmc68k_reduced.h5ad`` (read from the installed scanpy package;
nothing is downloaded). See ``scvi_viz/demo/README.md`` for provenance, licences and what this
script checks.

Steps
-----
1. Recover integer UMI counts for the 765 genes in ``.raw`` from their log-normalised values:
   ``.raw.X`` holds ``round(log1p(counts / n_counts * 1e4), 3)`` (``n_counts`` = each cell's
   total over all genes of the original matrix), so ``counts = expm1(raw.X) * n_counts / 1e4``
   rounded to the nearest integer. Every recovered value is checked to reproduce the stored one.
2. Train an scvi-tools SCVI model on those counts (CPU, seed 0) and save it.
3. With scvi-viz's own loader, encode the cells (checked against scvi-tools to 1e-5), compute the
   UMAP of the latent means and store both in the h5ad, tagged with the model file's SHA-256.

Run from the repository root (re-runnable, overwrites its outputs)::

    python3 scripts/build_demo.py [--epochs 400]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEMO_DIR = ROOT / "scvi_viz" / "demo"
H5AD_PATH = DEMO_DIR / "pbmc68k.h5ad"
MODEL_DIR = DEMO_DIR / "model"
SOURCE_NAME = "10x_pbmc68k_reduced.h5ad"

SCALE_FACTOR = 1e4  # counts per cell after normalize_per_cell, before log1p
DECIMALS = 3  # .raw.X was rounded to 3 decimals when the file was made
# a stored value may sit exactly on a rounding tie: allow half a unit plus float32 resolution
ROUND_TOL = 0.5 * 10.0**-DECIMALS + 1e-6

OBS_KEEP = ["bulk_labels", "phase", "S_score", "G2M_score", "percent_mito", "n_counts"]
SEED = 0
VAL_EVERY = 25  # epochs between validation ELBOs on the 10% held-out cells
N_LATENT, N_HIDDEN, N_LAYERS = 10, 128, 1


def log(msg: str) -> None:
    print(msg, flush=True)


def check(ok: bool, msg: str) -> None:
    log(f"  [{'ok' if ok else 'FAIL'}] {msg}")
    if not ok:
        raise SystemExit(f"check failed: {msg}")


# ------------------------------------------------------------------- source
def source_file() -> Path:
    """The h5ad shipped inside the installed scanpy, verified against the wheel's RECORD."""
    import importlib.metadata as md

    import scanpy

    path = Path(scanpy.__file__).parent / "datasets" / SOURCE_NAME
    check(path.is_file(), f"bundled file present: {path}")
    dist = md.distribution("scanpy")
    digest = base64.urlsafe_b64encode(hashlib.sha256(path.read_bytes()).digest()).rstrip(b"=").decode()
    recorded = [f for f in dist.files or [] if f.name == SOURCE_NAME]
    if recorded and recorded[0].hash is not None:
        check(recorded[0].hash.value == digest, f"sha256 matches scanpy {dist.version}'s RECORD ({digest})")
    else:
        log(f"  [--] scanpy's RECORD lists no hash for {SOURCE_NAME}; sha256 (urlsafe b64) {digest}")
    return path


# -------------------------------------------------------------- counts recovery
def recover_counts(raw_x: sp.csr_matrix, n_counts: np.ndarray) -> sp.csr_matrix:
    """Integer counts from ``round(log1p(counts / n_counts * 1e4), 3)``, with checks."""
    x = sp.csr_matrix(raw_x, dtype=np.float32, copy=True)
    x.sort_indices()
    x.eliminate_zeros()
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    stored = x.data.astype(np.float64)
    nc = n_counts.astype(np.float64)

    log("Counts recovery")
    check(bool(np.all(stored > 0)) and float(sp.csr_matrix(raw_x).min()) >= 0, "raw.X is non-negative (log scale, not scaled)")
    dev3 = np.abs(stored * 10**DECIMALS - np.round(stored * 10**DECIMALS)).max() / 10**DECIMALS
    check(dev3 < 1e-6, f"raw.X values are multiples of 10^-{DECIMALS} (max deviation {dev3:.2e}, float32 resolution)")
    check(np.all(nc == np.round(nc)) and np.all(nc > 0), "obs n_counts are positive integers")

    # scale factor: the smallest value of each cell is one count, expm1(min) = 1e4 / n_counts
    cell_min = np.minimum.reduceat(stored, x.indptr[:-1])
    ratio = np.expm1(cell_min) * nc / SCALE_FACTOR
    log(f"  expm1(cell minimum) * n_counts / 1e4: {ratio.min():.5f} .. {ratio.max():.5f} (median {np.median(ratio):.6f})")
    check(np.abs(ratio - 1).max() < 1e-3, "each cell's smallest value is 1 UMI at scale factor 1e4 / n_counts (within 3-decimal rounding)")

    value = np.expm1(stored) * nc[rows] / SCALE_FACTOR
    counts = np.round(value)
    dev = np.abs(value - counts)
    log(f"  max |expm1(x) * n_counts / 1e4 - nearest integer| = {dev.max():.4f} over {dev.size} non-zeros "
        f"(counts 1..{int(counts.max())}); for counts of 1: {dev[counts == 1].max():.5f}")
    # what the 3-decimal rounding alone allows: the interval of values mapping to the stored one
    lo = np.expm1(stored - ROUND_TOL) * nc[rows] / SCALE_FACTOR
    hi = np.expm1(stored + ROUND_TOL) * nc[rows] / SCALE_FACTOR
    half = (hi - lo) / 2
    log(f"  that deviation relative to the 3-decimal rounding half-width: max {np.max(dev / half):.3f} "
        f"(max half-width {half.max():.3f} counts)")
    check(bool(np.all(counts >= 1)), "every non-zero recovers to >= 1 count")
    n_int = np.floor(hi) - np.ceil(lo) + 1
    check(bool(np.all(n_int == 1)), "exactly one integer is consistent with each stored value (recovery is unique)")
    again = np.log1p(counts * SCALE_FACTOR / nc[rows])
    err = np.abs(again - stored)
    exact = np.mean(np.round(again, DECIMALS).astype(np.float32) == x.data)
    check(err.max() <= ROUND_TOL, f"round trip: max |log1p(c / n_counts * 1e4) - stored| = {err.max():.7f} <= {ROUND_TOL}; "
          f"{exact:.5%} of non-zeros reproduce the stored float32 exactly after rounding (the rest are rounding ties)")
    # a different scale factor does not fit: show the neighbours
    for alt in (SCALE_FACTOR * (1 - 5e-4), SCALE_FACTOR * (1 + 5e-4)):
        v = np.expm1(stored) * nc[rows] / alt
        e = np.abs(np.log1p(np.round(v) * alt / nc[rows]) - stored)
        log(f"    (scale factor {alt:.0f} instead: {np.mean(e <= ROUND_TOL):.1%} of values reproduce)")

    out = sp.csr_matrix((counts.astype(np.float32), x.indices.copy(), x.indptr.copy()), shape=x.shape)
    totals = np.asarray(out.sum(axis=1)).ravel()
    frac = totals / nc
    check(bool(np.all(totals <= nc)), f"recovered counts of the {x.shape[1]} genes sum to <= n_counts in every cell "
          f"(fraction {frac.min():.3f} .. {frac.max():.3f}, median {np.median(frac):.3f})")
    return out


def build_adata(src):
    import anndata

    counts = recover_counts(src.raw.X, src.obs["n_counts"].to_numpy())
    nnz = np.diff(counts.indptr)
    check(bool(np.all(nnz <= src.obs["n_genes"].to_numpy())), "genes detected among the 765 <= obs n_genes in every cell")
    # percent_mito was computed against the same n_counts: mito counts = percent_mito * n_counts is integral
    nc = src.obs["n_counts"].to_numpy().astype(np.float64)
    mito = src.obs["percent_mito"].to_numpy().astype(np.float64) * nc
    mdev = np.abs(mito - np.round(mito)).max()
    check(mdev < 1e-4, f"percent_mito * n_counts is integral (max deviation {mdev:.1e}; mito UMIs "
          f"{int(np.round(mito).min())}..{int(np.round(mito).max())}), so n_counts is the all-gene total")
    mt = [i for i, g in enumerate(src.raw.var_names) if str(g).upper().startswith("MT-")]
    mt_sum = np.asarray(counts[:, mt].sum(axis=1)).ravel()
    check(bool(np.all(mt_sum <= np.round(mito))), f"recovered counts of the mitochondrial genes in .raw "
          f"({', '.join(str(src.raw.var_names[i]) for i in mt)}) <= percent_mito * n_counts in every cell")
    obs = src.obs[OBS_KEEP].copy()
    obs.index = obs.index.astype(str)
    obs.index.name = None
    obs["cell_id"] = obs.index.to_numpy()
    var = src.raw.var[[]].copy()
    var.index = var.index.astype(str)
    var.index.name = None
    adata = anndata.AnnData(X=counts, obs=obs, var=var)
    adata.obsm["X_umap"] = np.asarray(src.obsm["X_umap"], dtype=np.float32)
    if "bulk_labels_colors" in src.uns:
        adata.uns["bulk_labels_colors"] = np.asarray(src.uns["bulk_labels_colors"]).astype(str)
    return adata


# ------------------------------------------------------------------- training
def train(adata, epochs: int):
    import scvi
    import torch

    scvi.settings.seed = SEED
    torch.set_num_threads(2)
    train_data = adata.copy()
    scvi.model.SCVI.setup_anndata(train_data, batch_key="phase", labels_key="bulk_labels",
                                  continuous_covariate_keys=["percent_mito"])
    model = scvi.model.SCVI(train_data, n_latent=N_LATENT, n_hidden=N_HIDDEN, n_layers=N_LAYERS,
                            gene_likelihood="zinb", dispersion="gene")
    log(f"Training SCVI (scvi-tools {scvi.__version__}): {epochs} epochs, seed {SEED}, CPU")
    start = time.perf_counter()
    model.train(max_epochs=epochs, accelerator="cpu", devices=1, enable_progress_bar=False, train_size=0.9,
                batch_size=128, check_val_every_n_epoch=VAL_EVERY)
    elapsed = time.perf_counter() - start
    hist = model.history
    tr = float(hist["elbo_train"].iloc[-1, 0])
    val = hist["elbo_validation"].iloc[:, 0].dropna() if "elbo_validation" in hist else None
    tr0 = float(hist["elbo_train"].iloc[0, 0])
    log(f"  trained in {elapsed:.1f} s ({len(model.train_indices)} training cells); "
        f"train ELBO per cell {tr0:.1f} -> {tr:.1f}")
    if val is not None and len(val):
        best = val.idxmin()
        log(f"  validation ELBO ({len(model.validation_indices)} held-out cells): {val.iloc[0]:.1f} at epoch {val.index[0]}, "
            f"best {val.min():.1f} at epoch {best}, final {val.iloc[-1]:.1f}")
    MODEL_DIR.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(MODEL_DIR), overwrite=True, save_anndata=False)
    return model, train_data


# --------------------------------------------------------------- scvi-viz side
def knn_agreement(rep: np.ndarray, labels: np.ndarray, k: int = 15) -> float:
    """Mean fraction of each cell's k nearest neighbours (Euclidean) sharing its label."""
    from scipy.spatial import cKDTree

    _, idx = cKDTree(np.asarray(rep, dtype=np.float64)).query(rep, k=k + 1)
    return float(np.mean(labels[idx[:, 1:]] == labels[:, None]))


def embed(adata, scvi_model, train_data, pca_ref: np.ndarray) -> None:
    import scvi_viz
    from scvi_viz.analysis.embedding import UMAP_OBSM_KEY, compute_umap

    log("scvi-viz: load, encode, UMAP")
    model = scvi_viz.load_model(MODEL_DIR, device="cpu")
    log(f"  {model!r}; model.pt sha256 {model.file_sha256}")
    latent = model.encode(adata)
    ref = scvi_model.get_latent_representation(train_data, give_mean=True).astype(np.float32)
    diff = float(np.abs(latent - ref).max())
    check(diff <= 1e-5, f"scvi_viz encode() == scvi-tools get_latent_representation(): max |diff| {diff:.2e} <= 1e-5")
    start = time.perf_counter()
    coords = compute_umap(latent)
    log(f"  UMAP of {latent.shape} latent means in {time.perf_counter() - start:.1f} s")
    check(coords.shape == (adata.n_obs, 2) and bool(np.isfinite(coords).all()), "UMAP coordinates finite, shape (700, 2)")
    labels = adata.obs["bulk_labels"].to_numpy()
    log(f"  15-NN bulk_labels agreement: scVI latent means {knn_agreement(latent, labels):.1%}, "
        f"scanpy's X_pca (50 PCs of the scaled data) {knn_agreement(pca_ref, labels):.1%}")
    adata.obsm["X_scvi"] = latent
    adata.obsm[UMAP_OBSM_KEY] = coords
    adata.uns["scvi_viz"] = {"umap_model_sha256": model.file_sha256}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=400)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    import anndata

    path = source_file()
    src = anndata.read_h5ad(path)
    log(f"Source: {path.name}, {src.n_obs} cells x {src.raw.n_vars} genes in .raw")
    adata = build_adata(src)
    model, train_data = train(adata, args.epochs)
    embed(adata, model, train_data, np.asarray(src.obsm["X_pca"]))

    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    tmp = H5AD_PATH.with_suffix(".tmp.h5ad")
    adata.write_h5ad(tmp, compression="gzip")
    tmp.replace(H5AD_PATH)

    log("Read back")
    import scvi_viz
    from scvi_viz.io.adata import read_h5ad
    from scvi_viz.analysis.embedding import UMAP_OBSM_KEY

    back = read_h5ad(H5AD_PATH)
    x = back.X
    check(sp.issparse(x) and bool(np.all(x.data == np.round(x.data))), "saved X is sparse with integer counts")
    check(list(back.obs.columns) == [*OBS_KEEP, "cell_id"] and bool((back.obs["cell_id"] == back.obs_names).all()),
          f"obs columns {list(back.obs.columns)}, cell_id == obs_names")
    again = scvi_viz.load_model(MODEL_DIR, device="cpu")
    check(back.uns["scvi_viz"]["umap_model_sha256"] == again.file_sha256, "uns['scvi_viz']['umap_model_sha256'] matches model.pt")
    check(bool(np.allclose(again.encode(back), back.obsm["X_scvi"], atol=1e-6)), "encoding the saved file reproduces obsm['X_scvi']")
    log(f"  obsm: {sorted(back.obsm)}; uns: {sorted(back.uns)}; {UMAP_OBSM_KEY} present")

    log("Sizes")
    for p in sorted(DEMO_DIR.rglob("*")):
        if p.is_file():
            log(f"  {p.relative_to(ROOT)}: {p.stat().st_size / 1e6:.2f} MB")
    du = subprocess.run(["du", "-sh", str(DEMO_DIR)], capture_output=True, text=True).stdout.split()[0]
    log(f"  du -sh scvi_viz/demo: {du}")


if __name__ == "__main__":
    main()
