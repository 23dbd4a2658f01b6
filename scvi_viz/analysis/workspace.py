"""A model together with its cells: latent means, libraries, covariates and embeddings."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scvi_viz.arrays import read_only
from scvi_viz.analysis.embedding import UMAP_OBSM_KEY, InverseMap
from scvi_viz.analysis.prepare import Prepared, Progress, prepare
from scvi_viz.covariates import Covariates
from scvi_viz.errors import DataError
from scvi_viz.io.adata import GeneMatch, is_minified
from scvi_viz.io.store import open_data
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
    (``obs`` is a copy of the file's table that no code writes). The counts stay on disk.

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
        Each cell's latent point, ``(n_cells, n_latent)``.
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
        The ``.h5ad`` file or ``.zarr`` store the cells were read from (pages that need the
        counts read blocks of them from it).
    prepared
        The results of :func:`scvi_viz.analysis.prepare.prepare`: latent source, posterior,
        UMAP, normalisers.
    minified
        Whether the data are minified (no counts: pages that need counts say so).
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
    prepared: Prepared | None = None
    minified: bool = False

    @classmethod
    def open(cls, model_path: str | Path, data_path: str | Path, *, device: str | None = None,
             cache_dir: str | Path | None = None, latent_key: str | None = None, embedding_key: str | None = None,
             umap_fit: int | None = None, progress: Progress | None = None) -> Workspace:
        """Load the model, open the data (counts stay on disk) and run or read back :func:`~scvi_viz.analysis.prepare.prepare`.

        Parameters
        ----------
        model_path, data_path
            A ``model.save()`` folder (or its ``model.pt``) and an ``.h5ad`` file or ``.zarr`` store.
        device
            ``"cpu"``, ``"cuda"`` or ``None`` (CUDA when there is one).
        cache_dir, latent_key, umap_fit, progress
            As in :func:`~scvi_viz.analysis.prepare.prepare`.
        embedding_key
            A 2-D ``obsm`` embedding to map the cells on instead of computing a latent UMAP
            (then no UMAP is offered).

        Raises
        ------
        ScviVizError
            (a ``ValueError``) with a message for a person when anything does not fit.
        """
        model = load_model(model_path, device=device)
        with open_data(data_path) as store:
            shapes = store.obsm_shapes()
            obsm = {k: read_only(store.obsm(k)[:, :2]) for k, shape in shapes.items()
                    if k != UMAP_OBSM_KEY and len(shape) == 2 and shape[1] == 2 and shape[0] == store.n_obs}
            record = store.uns_value("scvi_viz")
            own_umap = (embedding_key is None and isinstance(record, dict) and record.get("umap_model_sha256") == model.file_sha256
                        and shapes.get(UMAP_OBSM_KEY, (0,))[0] == store.n_obs)
            if embedding_key is not None and embedding_key not in obsm:
                raise DataError(f"{store.name} has no 2-D obsm embedding {embedding_key!r} to map the cells on "
                                f"(it has {', '.join(obsm) or 'none'}).")
            precomputed = read_only(store.obsm(UMAP_OBSM_KEY)) if own_umap else None
            prepared = prepare(model, data_path, store=store, cache_dir=cache_dir, latent_key=latent_key,
                               embedding_key=UMAP_OBSM_KEY if own_umap else embedding_key, umap_fit=umap_fit,
                               progress=progress)
            minified = is_minified(store, model.spec)
            obs, genes = store.obs, store.var_names
        if embedding_key is not None:  # the named map first
            obsm = {embedding_key: obsm[embedding_key], **obsm}
        frozen = Prepared(**{**prepared.__dict__, **{k: read_only(v) for k, v in prepared.__dict__.items()
                                                     if isinstance(v, np.ndarray)}})
        return cls(model, obs, obsm, frozen.layout.gene_match, frozen.latent, frozen.library, frozen.layout.covariates,
                   precomputed, data_key(obs.index, genes), Path(data_path), frozen, minified)

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return self.latent.shape[0]

    def has_latent_umap(self) -> bool:
        """Whether there is a UMAP of the latent points (stored in the file or prepared)."""
        return self.precomputed_umap is not None or (self.prepared is not None and self.prepared.umap is not None)

    def embedding_names(self) -> list[str]:
        """Embeddings to choose from: the latent UMAP first (when there is one), then 2-D ``obsm`` entries."""
        return [LATENT_UMAP, *self.obsm] if self.has_latent_umap() else list(self.obsm)

    def embedding(self, name: str) -> np.ndarray:
        """Coordinates of embedding ``name`` (the latent UMAP, or an ``obsm`` entry), read-only."""
        if name == LATENT_UMAP:
            return self.precomputed_umap if self.precomputed_umap is not None else self.prepared.umap
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

    def default_color_column(self, max_categories: int) -> str | None:
        """The ``obs`` column a first map is coloured by: the model's labels, else the first column of 2 to
        ``max_categories`` categories (cell types, say), else ``None`` (a gene's decoded expression)."""
        columns = self.color_columns()
        if self.model.labels_key in columns:
            return self.model.labels_key
        return next((c for c in columns if 1 < self.category_count(c) <= max_categories), None)

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
