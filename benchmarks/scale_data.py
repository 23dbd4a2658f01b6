"""Generated atlas-sized datasets and a matching scVI model for ``benchmarks/scale.py``.

Each dataset lives in its own folder ``DATA_DIR/scale-<cells>x<genes>/``:

* ``adata.h5ad``: NB-like counts (sparse CSR, float32, about 4.2% of entries nonzero) of
  :data:`N_PROGRAMS` cell-type programs in two batches; ``obs`` has the categoricals ``batch``
  (``b0``, ``b1``) and ``cell_type``; genes are named ``G0000``, ``G0001``, ...
* ``model.pt``: an scVI model in scvi-tools' saved format (``model.save()``: ``model_state_dict``,
  ``attr_dict`` with ``registry_`` and ``init_params_``, ``var_names``) with seeded random
  weights: :data:`N_LATENT` latent dimensions, :data:`N_HIDDEN` hidden units, one layer, batch
  key ``batch`` (2 batches), dispersion ``gene``, likelihood ``zinb``. Its layout copies
  ``tests/fixtures/models/scvi_default/model.pt`` (written by scvi-tools 1.4.2).
* ``generated.json``: how long generating took and how large the files are; a folder with it
  is complete and is reused as it is.

The counts are sampled sparsely, never as a dense matrix: per cell about
:data:`DRAWS_PER_CELL` gene indices are drawn from its program's (and batch's) gene
distribution by inverse CDF (one ``np.searchsorted`` over all distributions at once), each
draw gets ``1 + NB`` counts, and duplicates are summed. Cells are made and appended to the
``.h5ad`` in blocks of :data:`CHUNK_CELLS`, so memory stays at one block's arrays.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

N_PROGRAMS = 8
"""Cell-type programs (``obs['cell_type']`` categories)."""
BATCHES = ("b0", "b1")
N_LATENT, N_HIDDEN = 10, 128
DRAWS_PER_CELL = 100
"""Mean number of gene draws per cell (Poisson); distinct genes per cell are somewhat fewer."""
CHUNK_CELLS = 100_000
"""Cells generated and written at a time."""
SEED = 0


@dataclass(frozen=True)
class Dataset:
    """One generated dataset's files and how they were made.

    Attributes
    ----------
    root
        The data root (``SCVI_VIZ_DATA_DIR`` of the app).
    folder
        ``root / scale-<cells>x<genes>``, which holds ``model.pt`` and ``adata.h5ad``.
    n_cells, n_genes
        Its size.
    info
        The contents of ``generated.json``: seconds taken, file sizes, nonzero fraction.
    """

    root: Path
    folder: Path
    n_cells: int
    n_genes: int
    info: dict

    @property
    def name(self) -> str:
        """The folder's name, e.g. ``scale-100000x2000``."""
        return self.folder.name

    @property
    def model_dir(self) -> Path:
        """The model folder (the one with ``model.pt``)."""
        return self.folder

    @property
    def data_path(self) -> Path:
        """The ``.h5ad`` file."""
        return self.folder / "adata.h5ad"

    def relative(self, path: Path) -> str:
        """``path`` relative to the data root, as the app's "Files on this server" takes it."""
        return str(path.relative_to(self.root))


def gene_names(n_genes: int) -> list[str]:
    """``G0000``, ``G0001``, ... (at least four digits)."""
    return [f"G{i:04d}" for i in range(n_genes)]


# ------------------------------------------------------------------------------- counts
def program_markers(n_genes: int) -> list[np.ndarray]:
    """Per program, its marker genes (2.5% of the genes, seeded by the program alone)."""
    return [np.random.default_rng(1000 + p).choice(n_genes, size=max(n_genes // 40, 1), replace=False)
            for p in range(N_PROGRAMS)]


def _gene_distributions(n_genes: int, rng: np.random.Generator) -> np.ndarray:
    """Per (batch, program) the probability of each gene, ``(len(BATCHES) * N_PROGRAMS, n_genes)``."""
    base = rng.normal(0.0, 1.0, n_genes)  # genes' overall expression levels (log scale)
    logits = []
    for _ in BATCHES:
        batch_shift = rng.normal(0.0, 0.2, n_genes)
        for markers in program_markers(n_genes):
            program = rng.normal(0.0, 0.3, n_genes)
            program[markers] += 3.0
            logits.append(base + batch_shift + program)
    logits = np.asarray(logits)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return probs / probs.sum(axis=1, keepdims=True)


def _count_block(n: int, cum_offset: np.ndarray, n_genes: int, dist: np.ndarray, rng: np.random.Generator):
    """CSR counts of ``n`` cells whose (batch, program) distribution indices are ``dist``.

    ``cum_offset`` is every distribution's cumulative probabilities, distribution ``d`` shifted
    by ``d`` and all concatenated, so that ``searchsorted(cum_offset, d + u)`` with ``u`` uniform
    in [0, 1) draws a gene from distribution ``d`` (as ``d * n_genes + gene``).
    """
    import scipy.sparse as sp

    draws = rng.poisson(DRAWS_PER_CELL, n).clip(min=5)
    rows = np.repeat(np.arange(n, dtype=np.int32), draws)
    u = rng.random(rows.size) + np.repeat(dist, draws)
    flat = np.searchsorted(cum_offset, u, side="right")
    cols = (flat - np.repeat(dist, draws).astype(np.int64) * n_genes).clip(0, n_genes - 1).astype(np.int32)
    values = (1 + rng.negative_binomial(2, 2 / (2 + 0.8), rows.size)).astype(np.float32)
    block = sp.csr_matrix((values, (rows, cols)), shape=(n, n_genes), dtype=np.float32)  # sums duplicates
    block.sort_indices()
    return block


def write_counts(path: Path, n_cells: int, n_genes: int, *, seed: int = SEED) -> float:
    """Write the ``.h5ad`` at ``path`` block by block; returns the fraction of nonzero entries."""
    import anndata
    import h5py
    import pandas as pd
    from anndata.io import sparse_dataset, write_elem

    rng = np.random.default_rng(seed)
    probs = _gene_distributions(n_genes, rng)
    cum = np.cumsum(probs, axis=1)
    cum[:, -1] = 1.0
    cum_offset = (cum + np.arange(len(cum))[:, None]).ravel()
    shares = rng.dirichlet(np.full(N_PROGRAMS, 3.0))  # unequal cell-type sizes
    program = rng.choice(N_PROGRAMS, size=n_cells, p=shares).astype(np.int64)
    batch = rng.integers(0, len(BATCHES), size=n_cells).astype(np.int64)
    dist = batch * N_PROGRAMS + program
    width = max(7, len(str(n_cells - 1)))
    obs = pd.DataFrame(
        {"batch": pd.Categorical.from_codes(batch, categories=list(BATCHES)),
         "cell_type": pd.Categorical.from_codes(program, categories=[f"type{p}" for p in range(N_PROGRAMS)])},
        index=pd.Index([f"cell{i:0{width}d}" for i in range(n_cells)], name=None))
    var = pd.DataFrame(index=gene_names(n_genes))
    # obs and var first (no X), then X: the first block written, the others appended.
    anndata.AnnData(obs=obs, var=var).write_h5ad(path)
    del obs
    nnz = 0
    with h5py.File(path, "a") as f:
        for start in range(0, n_cells, CHUNK_CELLS):
            stop = min(start + CHUNK_CELLS, n_cells)
            block = _count_block(stop - start, cum_offset, n_genes, dist[start:stop], rng)
            nnz += block.nnz
            if start == 0:
                write_elem(f, "X", block)
            else:
                sparse_dataset(f["X"]).append(block)
    return nnz / (n_cells * n_genes)


# ------------------------------------------------------------------------------- model
def _fc_layer(prefix: str, n_out: int, n_in: int, rng: np.random.Generator, scale: float) -> dict:
    """One scvi-tools ``FCLayers`` layer: linear (``.0``) and batch norm (``.1``) in eval state."""
    import torch

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(a, dtype=np.float32))

    return {
        f"{prefix}.0.weight": t(rng.normal(0, scale, (n_out, n_in))), f"{prefix}.0.bias": t(rng.normal(0, 0.05, n_out)),
        f"{prefix}.1.weight": t(np.ones(n_out)), f"{prefix}.1.bias": t(np.zeros(n_out)),
        f"{prefix}.1.running_mean": t(np.zeros(n_out)), f"{prefix}.1.running_var": t(np.ones(n_out)),
        f"{prefix}.1.num_batches_tracked": torch.tensor(1000, dtype=torch.int64),
    }


def _linear(prefix: str, n_out: int, n_in: int, rng: np.random.Generator, scale: float) -> dict:
    import torch

    return {f"{prefix}.weight": torch.from_numpy(rng.normal(0, scale, (n_out, n_in)).astype(np.float32)),
            f"{prefix}.bias": torch.from_numpy(rng.normal(0, 0.05, n_out).astype(np.float32))}


def model_state(n_genes: int, *, seed: int = SEED) -> dict:
    """The state dict of an scvi-tools ``VAE`` (one layer, one-hot batch of 2), seeded random weights.

    Key names, order and shapes are those scvi-tools 1.4.2 writes (see the fixture
    ``tests/fixtures/models/scvi_default/model.pt``). The weights are small (normal, sd 0.05
    or so), except that the encoder's first layer also sums each program's marker genes, so
    that cells of one program get nearby latent points as in a trained model.
    """
    import torch

    rng = np.random.default_rng(seed)
    g, h, k, b = n_genes, N_HIDDEN, N_LATENT, len(BATCHES)
    state = {"px_r": torch.from_numpy(rng.normal(0.5, 0.3, g).astype(np.float32))}
    encoder = _fc_layer("z_encoder.encoder.fc_layers.Layer 0", h, g, rng, 0.02)
    markers = np.zeros((N_PROGRAMS, g))
    for p, genes in enumerate(program_markers(g)):
        markers[p, genes] = 1.0 / np.sqrt(len(genes))
    encoder["z_encoder.encoder.fc_layers.Layer 0.0.weight"] += torch.from_numpy(
        (rng.normal(0, 1.0, (h, N_PROGRAMS)) @ markers).astype(np.float32))
    state |= encoder
    state |= _linear("z_encoder.mean_encoder", k, h, rng, 0.1)
    state |= _linear("z_encoder.var_encoder", k, h, rng, 0.05)
    state |= _fc_layer("l_encoder.encoder.fc_layers.Layer 0", h, g, rng, 0.05)
    state |= _linear("l_encoder.mean_encoder", 1, h, rng, 0.05)
    state |= _linear("l_encoder.var_encoder", 1, h, rng, 0.05)
    state |= _fc_layer("decoder.px_decoder.fc_layers.Layer 0", h, k + b, rng, 0.3)
    state |= _linear("decoder.px_scale_decoder.0", g, h, rng, 0.15)
    state |= _linear("decoder.px_r_decoder", g, h, rng, 0.05)
    state |= _linear("decoder.px_dropout_decoder", g, h, rng, 0.05)
    state["pyro_param_store"] = {"params": {}, "constraints": {}}
    return state


def model_attr_dict(genes: list[str], n_cells: int) -> dict:
    """``attr_dict`` as scvi-tools 1.4.2 saves it for ``SCVI.setup_anndata(adata, batch_key="batch")``."""
    names = np.array(genes, dtype=object)
    empty = {"data_registry": {}, "state_registry": {}, "summary_stats": {}}
    fields = defaultdict(dict, {
        "X": {"data_registry": {"attr_key": None, "attr_name": "X"},
              "state_registry": {"column_names": names, "n_obs": n_cells, "n_vars": len(genes)},
              "summary_stats": {"n_cells": n_cells, "n_vars": len(genes)}},
        "batch": {"data_registry": {"attr_key": "_scvi_batch", "attr_name": "obs"},
                  "state_registry": {"categorical_mapping": np.array(BATCHES, dtype=object), "original_key": "batch"},
                  "summary_stats": {"n_batch": len(BATCHES)}},
        "labels": {"data_registry": {"attr_key": "_scvi_labels", "attr_name": "obs"},
                   "state_registry": {"categorical_mapping": np.array([0]), "original_key": "_scvi_labels"},
                   "summary_stats": {"n_labels": 1}},
        "size_factor": dict(empty),
        "extra_categorical_covs": {"data_registry": {}, "state_registry": {}, "summary_stats": {"n_extra_categorical_covs": 0}},
        "extra_continuous_covs": {"data_registry": {}, "state_registry": {}, "summary_stats": {"n_extra_continuous_covs": 0}},
    })
    registry = {
        "scvi_version": "1.4.2", "model_name": "SCVI", "setup_method_name": "setup_anndata",
        "setup_args": {"layer": None, "batch_key": "batch", "labels_key": None, "size_factor_key": None,
                       "categorical_covariate_keys": None, "continuous_covariate_keys": None},
        "field_registries": fields, "_scvi_uuid": "00000000-0000-4000-8000-scvivizscale",
    }
    init_params = {"non_kwargs": {"n_hidden": N_HIDDEN, "n_latent": N_LATENT, "n_layers": 1, "dropout_rate": 0.1,
                                  "dispersion": "gene", "gene_likelihood": "zinb", "latent_distribution": "normal",
                                  "use_observed_lib_size": True},
                   "kwargs": {"kwargs": {}}}
    return {"registry_": registry, "init_params_": init_params, "is_trained_": True,
            "get_normalized_function_name_": "get_normalized_expression", "run_name_": "scale-benchmark",
            "run_id_": "", "train_indices_": np.array([], dtype=np.int64),
            "validation_indices_": np.array([], dtype=np.int64), "test_indices_": np.array([], dtype=np.int64)}


def write_model(path: Path, n_genes: int, n_cells: int, *, seed: int = SEED) -> None:
    """Write ``model.pt`` (scvi-tools' saved format) with the settings in the module docstring."""
    import torch

    genes = gene_names(n_genes)
    torch.save({"model_state_dict": model_state(n_genes, seed=seed), "var_names": np.array(genes, dtype=object),
                "attr_dict": model_attr_dict(genes, n_cells)}, path)


# ------------------------------------------------------------------------------- datasets
def ensure_dataset(root: Path, n_cells: int, n_genes: int, *, log=print) -> Dataset:
    """The dataset of this size under ``root``: reused when complete, else generated (and checked).

    Generation writes to temporary names and renames at the end, so a stopped run leaves no
    half-written file under the final names.
    """
    folder = Path(root) / f"scale-{n_cells}x{n_genes}"
    record = folder / "generated.json"
    if record.is_file() and (folder / "model.pt").is_file() and (folder / "adata.h5ad").is_file():
        return Dataset(Path(root), folder, n_cells, n_genes, json.loads(record.read_text()))
    folder.mkdir(parents=True, exist_ok=True)
    log(f"generating {n_cells:,} cells x {n_genes:,} genes in {folder} ...")
    started = time.perf_counter()
    tmp_data, tmp_model = folder / "adata.h5ad.tmp", folder / "model.pt.tmp"
    nonzero = write_counts(tmp_data, n_cells, n_genes)
    data_seconds = time.perf_counter() - started
    write_model(tmp_model, n_genes, n_cells)
    tmp_data.replace(folder / "adata.h5ad")
    tmp_model.replace(folder / "model.pt")
    seconds = time.perf_counter() - started
    info = {"cells": n_cells, "genes": n_genes, "nonzero_fraction": nonzero, "data_seconds": data_seconds,
            "seconds": seconds, "h5ad_bytes": (folder / "adata.h5ad").stat().st_size,
            "model_bytes": (folder / "model.pt").stat().st_size}
    check_model(folder)
    record.write_text(json.dumps(info, indent=1) + "\n")
    log(f"  done in {seconds:.1f} s: adata.h5ad {info['h5ad_bytes'] / 1e9:.2f} GB, {100 * nonzero:.1f}% nonzero")
    return Dataset(Path(root), folder, n_cells, n_genes, info)


def check_model(folder: Path) -> None:
    """Load the model with scvi-viz's loader and decode two points (raises if anything is off)."""
    from scvi_viz.model import load_model

    model = load_model(folder, device="cpu")
    assert (model.n_genes, model.n_latent, model.batches) == (len(model.genes), N_LATENT, list(BATCHES)), model
    out = model.decode(np.zeros((2, N_LATENT), dtype=np.float32), library_size=1e4, batch=list(BATCHES))
    scale = out.scale.numpy()
    assert scale.shape == (2, model.n_genes) and np.allclose(scale.sum(axis=1), 1.0, atol=1e-3), scale.sum(axis=1)
