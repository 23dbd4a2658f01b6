"""A model together with its cells: latent means, libraries, covariates and embeddings."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scvi_viz.arrays import read_only
from scvi_viz.analysis.embedding import UMAP_OBSM_KEY, InverseMap, cached_umap
from scvi_viz.covariates import Covariates
from scvi_viz.io.adata import GeneMatch, model_inputs_from_adata, read_h5ad
from scvi_viz.model import ScviModel, load_model
from scvi_viz.point import Point

LATENT_UMAP = "UMAP of the scVI latent space"


def data_key(cell_ids: Sequence[str], genes: Sequence[str]) -> str:
    """SHA-256 of cell ids and gene names, in order (see :attr:`Workspace.data_key`)."""
    digest = hashlib.sha256()
    for names in (cell_ids, genes):
        digest.update("\n".join(map(str, names)).encode())
        digest.update(b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class Workspace:
    """Everything a page needs about one model and one dataset; built once, then read-only.

    One workspace is shared by every browser session that opens the same files, so nothing
    in it changes after :meth:`open`: the dataclass is frozen and its arrays are read-only
    (``obs`` is a copy of the file's table that no code writes).

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
        Each cell's covariates.
    precomputed_umap
        A UMAP of ``latent`` stored in the file for this very model, if any.
    data_key
        SHA-256 of the data's cell ids and gene names: which cells and genes, not their counts
        (links and saved views name their data by it).
    data_path
        The ``.h5ad`` the cells were read from (pages that need the counts read them again).
    """

    model: ScviModel
    obs: pd.DataFrame
    obsm: dict[str, np.ndarray]
    gene_match: GeneMatch
    latent: np.ndarray
    library: np.ndarray
    covariates: Covariates
    precomputed_umap: np.ndarray | None = None
    data_key: str = ""
    data_path: Path | None = None

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
        cells = model_inputs_from_adata(model.spec, adata, allow_missing_genes=True)
        latent = model.encode_counts(cells.counts, cells.covariates)
        if model.uses_size_factor:
            library = adata.obs[model.spec.size_factor_key].to_numpy(dtype=np.float64)
        else:
            library = np.asarray(cells.counts.sum(axis=1)).ravel().astype(np.float64)
        library = np.where(library > 0, library, 1.0)
        obsm = {k: read_only(np.asarray(v)[:, :2].astype(np.float32)) for k, v in adata.obsm.items()
                if k != UMAP_OBSM_KEY and getattr(v, "ndim", 0) == 2 and v.shape[1] == 2}
        precomputed = None
        record = adata.uns.get("scvi_viz", {}) if hasattr(adata.uns, "get") else {}
        if UMAP_OBSM_KEY in adata.obsm and record.get("umap_model_sha256") == model.file_sha256:
            precomputed = read_only(np.asarray(adata.obsm[UMAP_OBSM_KEY], dtype=np.float32))
        obs = adata.obs.copy()
        obs.index = obs.index.astype(str)
        return cls(model, obs, obsm, cells.gene_match, read_only(latent), read_only(library), cells.covariates, precomputed,
                   data_key(obs.index, adata.var_names), Path(data_path))

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return self.latent.shape[0]

    def embedding_names(self) -> list[str]:
        """Embeddings to choose from: the latent UMAP first, then 2-D ``obsm`` entries."""
        return [LATENT_UMAP, *self.obsm]

    def embedding(self, name: str, cache_dir: Path | None = None) -> np.ndarray:
        """Coordinates of embedding ``name`` (computing and caching the latent UMAP if needed), read-only."""
        if name == LATENT_UMAP:
            if self.precomputed_umap is not None:
                return self.precomputed_umap
            return read_only(cached_umap(self.latent, cache_dir))
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
            batch=None if cov.batch is None else str(cov.batch[i]),
            label=None if cov.label is None else str(cov.label[i]),
            categorical={k: str(v[i]) for k, v in cov.categorical.items()},
            continuous={k: float(v[i]) for k, v in cov.continuous.items()},
        )

    def latent_ranges(self) -> np.ndarray:
        """Slider range per latent dimension: the cells' min and max, padded by 10% of the span."""
        lo, hi = self.latent.min(0), self.latent.max(0)
        pad = 0.1 * np.maximum(hi - lo, 1e-3)
        return np.stack([lo - pad, hi + pad], axis=1).astype(np.float64)

    def color_columns(self) -> list[str]:
        """``obs`` columns that can colour the cells."""
        return [c for c in self.obs.columns if not str(c).startswith("_scvi")]

    def category_count(self, column: str) -> int:
        """Distinct values of a non-numeric ``obs`` column (0 for numeric columns, which colour by a scale)."""
        values = self.obs[column]
        if pd.api.types.is_numeric_dtype(values) and not isinstance(values.dtype, pd.CategoricalDtype):
            return 0
        return int(values.nunique(dropna=False))

    def cell_hover(self) -> list[str]:
        """Hover text per cell: id plus the model's label column when there is one."""
        ids = self.obs.index.to_numpy(dtype=str)
        key = self.model.labels_key
        if key is not None and key in self.obs:
            return [f"{i} · {lab}" for i, lab in zip(ids, self.obs[key].astype(str))]
        return list(ids)
