"""A model together with its cells: latent means, libraries, covariates and embeddings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scvi_viz.data import GeneMatch, match_genes, model_inputs_from_adata, read_h5ad
from scvi_viz.embedding import UMAP_OBSM_KEY, InverseMap, cached_umap
from scvi_viz.model import ScviModel, load_model
from scvi_viz.state import Point

LATENT_UMAP = "UMAP of the scVI latent space"


@dataclass
class Workspace:
    """Everything a page needs about one model and one dataset; built once, then read-only.

    Attributes
    ----------
    model
        The loaded model.
    obs
        The cells' ``obs`` table (index = cell ids).
    obsm
        2-D embeddings found in the file (name -> ``(n_cells, 2)``).
    gene_match
        How model and data genes line up.
    latent
        Each cell's latent mean, ``(n_cells, n_latent)``.
    library
        Each cell's observed library size (or size factor).
    covariates
        Each cell's covariates, as from :func:`scvi_viz.data.covariates_from_obs`.
    precomputed_umap
        A UMAP of ``latent`` stored in the file for this very model, if any.
    """

    model: ScviModel
    obs: pd.DataFrame
    obsm: dict[str, np.ndarray]
    gene_match: GeneMatch
    latent: np.ndarray
    library: np.ndarray
    covariates: dict[str, Any]
    precomputed_umap: np.ndarray | None = None

    @classmethod
    def open(cls, model_path: str | Path, data_path: str | Path, *, device: str | None = None) -> Workspace:
        """Load the model and the ``.h5ad``, check they fit, and encode every cell.

        Raises
        ------
        ScviVizError
            (a ``ValueError``) with a message for a person when anything does not fit.
        """
        model = load_model(model_path, device=device)
        adata = read_h5ad(data_path)
        counts, covariates = model_inputs_from_adata(model, adata, allow_missing_genes=True)
        match = match_genes(model.genes, [str(g) for g in adata.var_names])
        latent = model.encode_counts(counts, covariates)
        if model.spec.uses_size_factor:
            library = adata.obs[model.spec.size_factor_key].to_numpy(dtype=np.float64)
        else:
            library = np.asarray(counts.sum(axis=1)).ravel().astype(np.float64)
        library = np.where(library > 0, library, 1.0)
        obsm = {k: np.asarray(v)[:, :2].astype(np.float32) for k, v in adata.obsm.items()
                if k != UMAP_OBSM_KEY and getattr(v, "ndim", 0) == 2 and v.shape[1] == 2}
        precomputed = None
        record = adata.uns.get("scvi_viz", {}) if hasattr(adata.uns, "get") else {}
        if UMAP_OBSM_KEY in adata.obsm and record.get("umap_model_sha256") == model.file_sha256:
            precomputed = np.asarray(adata.obsm[UMAP_OBSM_KEY], dtype=np.float32)
        obs = adata.obs.copy()
        obs.index = obs.index.astype(str)
        return cls(model, obs, obsm, match, latent, library, covariates, precomputed)

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return self.latent.shape[0]

    def embedding_names(self) -> list[str]:
        """Embeddings to choose from: the latent UMAP first, then 2-D ``obsm`` entries."""
        return [LATENT_UMAP, *self.obsm]

    def embedding(self, name: str, cache_dir: Path | None = None) -> np.ndarray:
        """Coordinates of embedding ``name`` (computing and caching the latent UMAP if needed)."""
        if name == LATENT_UMAP:
            return self.precomputed_umap if self.precomputed_umap is not None else cached_umap(self.latent, cache_dir)
        return self.obsm[name]

    def inverse_map(self, coords: np.ndarray) -> InverseMap:
        """Mapping between positions in ``coords`` and latent space."""
        return InverseMap(coords, self.latent)

    def cell_point(self, i: int) -> Point:
        """The point of cell ``i``: its latent mean, library size and own covariates."""
        cov = self.covariates
        return Point(
            z=tuple(float(v) for v in self.latent[i]),
            library_size=float(self.library[i]),
            batch=None if cov["batch"] is None else str(cov["batch"][i]),
            label=None if cov["label"] is None else str(cov["label"][i]),
            categorical={k: str(v[i]) for k, v in cov["categorical"].items()},
            continuous={k: float(v[i]) for k, v in cov["continuous"].items()},
        )

    def latent_ranges(self) -> np.ndarray:
        """Slider range per latent dimension: the cells' min and max, padded by 10% of the span."""
        lo, hi = self.latent.min(0), self.latent.max(0)
        pad = 0.1 * np.maximum(hi - lo, 1e-3)
        return np.stack([lo - pad, hi + pad], axis=1).astype(np.float64)

    def color_columns(self) -> list[str]:
        """``obs`` columns that can colour the cells."""
        return [c for c in self.obs.columns if not str(c).startswith("_scvi")]

    def cell_hover(self) -> list[str]:
        """Hover text per cell: id plus the model's label column when there is one."""
        ids = self.obs.index.to_numpy(dtype=str)
        key = self.model.labels_key
        if key is not None and key in self.obs:
            return [f"{i} · {lab}" for i, lab in zip(ids, self.obs[key].astype(str))]
        return list(ids)

    def group_covariates(self, cells: np.ndarray) -> dict[str, Any]:
        """The per-cell covariates of ``cells`` (indices)."""
        cov = self.covariates
        return {
            "batch": None if cov["batch"] is None else cov["batch"][cells],
            "label": None if cov["label"] is None else cov["label"][cells],
            "categorical": {k: v[cells] for k, v in cov["categorical"].items()},
            "continuous": {k: v[cells] for k, v in cov["continuous"].items()},
        }

