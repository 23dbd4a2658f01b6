"""Reading an AnnData file and lining it up with a model's settings: genes, counts, covariates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from scvi_viz.covariates import Covariates
from scvi_viz.errors import DataError
from scvi_viz.io.store import DataStore
from scvi_viz.spec import ModelSpec

if TYPE_CHECKING:
    import anndata

MAX_H5AD_BYTES = 2 * 1024**3


def _preview(items: Sequence[str], k: int = 5) -> str:
    items = list(items)
    return ", ".join(map(str, items[:k])) + (f" and {len(items) - k} more" if len(items) > k else "")


def read_h5ad(path: str | Path, *, max_bytes: int = MAX_H5AD_BYTES) -> anndata.AnnData:
    """Read an ``.h5ad`` file into memory, read-only (the file is never written).

    Parameters
    ----------
    path
        The file.
    max_bytes
        Refuse larger files.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    DataError
        If it is too large or not an AnnData HDF5 file.
    """
    import anndata
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No .h5ad file at {path}.")
    size = path.stat().st_size
    if size > max_bytes:
        raise DataError(f"{path.name} is {size / 1e9:.1f} GB; the limit is {max_bytes / 1e9:.1f} GB. Subset the cells first.")
    if not h5py.is_hdf5(path):
        raise DataError(f"{path.name} is not an .h5ad file (not HDF5). Save your data with adata.write_h5ad().")
    try:
        return anndata.read_h5ad(path)
    except Exception as exc:  # anndata raises many types for damaged files
        raise DataError(f"{path.name} could not be read as AnnData: {type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True)
class GeneMatch:
    """How the model's genes line up with the data's ``var_names``.

    Attributes
    ----------
    model_only
        Genes of the model that the data lacks.
    data_only
        Genes of the data that the model lacks.
    data_index
        For each model gene, its column in the data, or -1 when missing.
    """

    model_only: list[str]
    data_only: list[str]
    data_index: np.ndarray

    @property
    def n_shared(self) -> int:
        """Genes present in both."""
        return int((self.data_index >= 0).sum())

    def summary(self) -> str:
        """One sentence for a person."""
        text = f"{self.n_shared} genes shared by the model and the data."
        if self.model_only:
            text += f" {len(self.model_only)} model genes are missing from the data ({_preview(self.model_only)})."
        if self.data_only:
            text += f" {len(self.data_only)} data genes are not in the model ({_preview(self.data_only)}); they are ignored."
        return text


def match_genes(model_genes: Sequence[str], data_genes: Sequence[str]) -> GeneMatch:
    """Match genes by name; see :class:`GeneMatch`."""
    position = {g: i for i, g in enumerate(data_genes)}
    index = np.array([position.get(g, -1) for g in model_genes], dtype=np.int64)
    model_set = set(model_genes)
    return GeneMatch(
        model_only=[g for g, i in zip(model_genes, index) if i < 0],
        data_only=[g for g in data_genes if g not in model_set],
        data_index=index,
    )


def _obs_column(adata: Any, key: str, what: str) -> np.ndarray:
    if key not in adata.obs:
        raise DataError(f"The data has no obs column {key!r}, which the model uses as {what}.")
    return adata.obs[key].to_numpy()


def _check_categories(values: np.ndarray, categories: Sequence[str], key: str) -> np.ndarray:
    values = values.astype(str)
    unknown = sorted(set(values) - set(categories))
    if unknown:
        raise DataError(
            f"obs column {key!r} has categories the model never saw: {_preview(unknown)}. "
            f"The model knows {_preview(categories)}."
        )
    return values


def covariates_from_obs(spec: ModelSpec, adata: Any) -> Covariates:
    """Each cell's batch, label, categorical and continuous covariates, from ``obs``.

    Labels the model does not know (scANVI's unlabeled cells, say) get the first label; the
    label only matters for ``dispersion="gene-label"``.

    Raises
    ------
    DataError
        If a column the model uses is missing, has categories the model never saw, or has
        non-finite values.
    """
    batch = None
    if spec.batch_key is not None:
        batch = _check_categories(_obs_column(adata, spec.batch_key, "batch"), spec.batches, spec.batch_key)
    label = None
    if spec.labels_key is not None and spec.labels_key in adata.obs:
        values = adata.obs[spec.labels_key].astype(str).to_numpy()
        label = np.where(np.isin(values, spec.labels), values, spec.labels[0])
    categorical = {
        key: _check_categories(_obs_column(adata, key, "a categorical covariate"), cats, key)
        for key, cats in spec.categorical_covariates.items()
    }
    continuous = {}
    for key in spec.continuous_covariates:
        column = _obs_column(adata, key, "a continuous covariate")
        try:
            values = np.asarray(column, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"obs column {key!r} holds text or other non-numbers, but the model uses it as a continuous "
                f"covariate; it needs a number for every cell ({exc})."
            ) from exc
        if not np.all(np.isfinite(values)):
            raise DataError(f"obs column {key!r} has NaN or infinite values; the model needs a number for every cell.")
        continuous[key] = values
    return Covariates(batch=batch, label=label, categorical=categorical, continuous=continuous)


@dataclass(frozen=True)
class DataLayout:
    """How a dataset lines up with a model, checked without reading its counts.

    Attributes
    ----------
    gene_match
        How the model's genes line up with the data's.
    covariates
        Each cell's covariates.
    layer
        Where the counts are: ``None`` for ``X``, else the layer name.
    """

    gene_match: GeneMatch
    covariates: Covariates
    layer: str | None

    def model_counts(self, block: Any, n_genes: int) -> Any:
        """A block of the data's counts in the model's gene order (zeros for genes the data lacks), checked.

        Raises
        ------
        DataError
            If the counts are not raw counts (see :func:`check_counts`).
        """
        index = self.gene_match.data_index
        identity = block.shape[1] == n_genes and np.array_equal(index, np.arange(n_genes))
        present = index >= 0
        if identity:
            counts = sp.csr_matrix(block) if sp.issparse(block) else block
        elif sp.issparse(block):
            columns = np.flatnonzero(present)
            expand = sp.csr_matrix((np.ones(len(columns)), (np.arange(len(columns)), columns)), shape=(len(columns), n_genes))
            counts = sp.csr_matrix(sp.csr_matrix(block)[:, index[present]] @ expand)
        else:
            counts = np.zeros((block.shape[0], n_genes), dtype=np.float32)
            counts[:, present] = np.asarray(block)[:, index[present]]
        check_counts(counts, self.layer)
        return counts


def check_data(spec: ModelSpec, store: DataStore, *, allow_missing_genes: bool = False) -> DataLayout:
    """Check that a dataset fits a model: cells, genes, covariates and size factors (not the counts).

    Parameters
    ----------
    spec
        The model's settings (``ScviModel.spec``).
    store
        The data (see :mod:`scvi_viz.io.store`).
    allow_missing_genes
        Fill model genes that the data lacks with zero counts (as scvi-tools'
        ``prepare_query_anndata`` does) instead of raising. At least one gene must match.

    Raises
    ------
    DataError
        If model genes are missing (and not allowed), no gene matches, a covariate or size
        factor column is missing or unusable, there are no cells, or cell ids or model genes
        repeat.
    """
    genes = spec.genes
    if store.n_obs == 0:
        raise DataError("The data has no cells (0 rows in obs). Use an .h5ad with the cells to explore.")
    cell_ids = store.obs.index
    if not cell_ids.is_unique:
        duplicated = cell_ids[cell_ids.duplicated()].unique()
        raise DataError(
            f"{len(duplicated)} cell id(s) occur more than once in obs_names ({_preview([str(c) for c in duplicated])}); "
            "cells are picked by id, so make them unique first (adata.obs_names_make_unique())."
        )
    data_genes = list(store.var_names)
    model_set = set(genes)
    seen: set[str] = set()
    repeated = sorted({g for g in data_genes if g in model_set and (g in seen or seen.add(g))})
    if repeated:
        raise DataError(
            f"{len(repeated)} of the model's genes occur more than once in the data's var_names ({_preview(repeated)}), "
            "so it is not clear which column holds their counts. Keep one column per gene (or call "
            "adata.var_names_make_unique() and check which one the model was trained on)."
        )
    match = match_genes(genes, data_genes)
    if match.n_shared == 0:
        raise DataError(
            f"None of the model's {len(genes)} genes are in the data (model genes start "
            f"{_preview(genes, 3)}; data genes start {_preview(data_genes, 3)}). "
            "Use the .h5ad the model was trained on, with gene names as var_names."
        )
    if match.model_only and not allow_missing_genes:
        raise DataError(
            f"{len(match.model_only)} of the model's {len(genes)} genes are missing from the data "
            f"({_preview(match.model_only)}); encoding needs all of them."
        )
    if spec.size_factor_key is not None:
        size_factors(spec, store)
    return DataLayout(match, covariates_from_obs(spec, store), spec.layer)


def size_factors(spec: ModelSpec, store: Any) -> np.ndarray:
    """The model's size factor for each cell, from ``obs[spec.size_factor_key]``, checked."""
    column = _obs_column(store, spec.size_factor_key, "its size factor")
    try:
        factors = np.asarray(column, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"obs column {spec.size_factor_key!r} (the model's size factor) must hold numbers.") from exc
    if not (np.all(np.isfinite(factors)) and np.all(factors > 0)):
        raise DataError(f"obs column {spec.size_factor_key!r} (the model's size factor) must be positive and finite for every cell.")
    return factors


@dataclass(frozen=True)
class CellInputs:
    """What the model needs of a dataset's cells, lined up with its settings.

    Attributes
    ----------
    counts
        Dense or CSR counts, ``(n_cells, n_model_genes)``, columns in the model's gene order
        (zeros for model genes the data lacks).
    covariates
        Each cell's covariates.
    gene_match
        How the model's genes line up with the data's.
    """

    counts: Any
    covariates: Covariates
    gene_match: GeneMatch


def cell_inputs(spec: ModelSpec, store: DataStore, rows: slice | np.ndarray = slice(None), *,
                allow_missing_genes: bool = False) -> CellInputs:
    """Counts of ``rows`` in the model's gene order, with their covariates, checked.

    Raises
    ------
    DataError
        As :func:`check_data` and :func:`check_counts`.
    """
    layout = check_data(spec, store, allow_missing_genes=allow_missing_genes)
    counts = layout.model_counts(store.count_rows(spec.layer, rows), len(spec.genes))
    return CellInputs(counts, layout.covariates.rows(rows), layout.gene_match)


def model_inputs_from_adata(spec: ModelSpec, adata: anndata.AnnData, *, allow_missing_genes: bool = False) -> CellInputs:
    """:func:`cell_inputs` of every cell of an in-memory AnnData."""
    return cell_inputs(spec, DataStore.in_memory(adata), allow_missing_genes=allow_missing_genes)


MINIFY_TYPE = "latent_posterior_parameters"
"""The kind of minified data scvi-tools writes (``minify_adata()``), the only kind there is."""
MINIFY_UNS_KEY = "_scvi_adata_minify_type"


@dataclass(frozen=True)
class StoredPosterior:
    """What minified data hold instead of counts: each cell's q(z|x) and its library size.

    Attributes
    ----------
    qz_mean, qz_var
        Posterior mean and variance, ``(n_cells, n_latent)`` (for ``latent_distribution="ln"``,
        of the Gaussian before the softmax).
    library
        Each cell's observed library size (or size factor).
    keys
        Where they were read, e.g. ``obsm['scvi_latent_qzm']``.
    """

    qz_mean: np.ndarray
    qz_var: np.ndarray
    library: np.ndarray
    keys: tuple[str, ...]


def is_minified(store: DataStore, spec: ModelSpec | None = None) -> bool:
    """Whether the data were minified by scvi-tools (their ``uns`` marker says so)."""
    key = spec.minified_fields.get("minify_type", ("uns", MINIFY_UNS_KEY))[1] if spec is not None else MINIFY_UNS_KEY
    marker = store.uns_value(key)
    return isinstance(marker, str) and marker == MINIFY_TYPE


def stored_posterior(spec: ModelSpec, store: DataStore) -> StoredPosterior | None:
    """The posterior and library sizes of minified data, where the model's saved registry says they are.

    Returns ``None`` for data that are not minified.

    Raises
    ------
    DataError
        If the data are minified but the model was saved before ``minify_adata()`` (so its
        registry does not say where the posterior is), or the entries are missing or do not fit.
    """
    if not is_minified(store, spec):
        return None
    fields = spec.minified_fields
    if not {"latent_qzm", "latent_qzv"} <= set(fields) or ("observed_lib_size" not in fields and spec.size_factor_key is None):
        raise DataError(
            f"{store.name} is minified (it holds each cell's latent posterior instead of counts), but this model was "
            "saved before minify_adata(), so its registry does not say where the posterior is stored. Save the model "
            "again after model.minify_adata() with model.save(dir, save_anndata=True), or open the data with counts."
        )
    shapes = store.obsm_shapes()
    arrays = []
    for name in ("latent_qzm", "latent_qzv"):
        key = fields[name][1]
        if shapes.get(key) != (store.n_obs, spec.n_latent):
            raise DataError(f"The model's registry says the minified posterior is in obsm[{key!r}], but {store.name} "
                            f"{'has it with shape ' + str(shapes[key]) if key in shapes else 'lacks it'}; it needs "
                            f"{store.n_obs:,} x {spec.n_latent} values. Use the data saved with this model.")
        values = store.obsm(key)
        if not np.isfinite(values).all():
            raise DataError(f"obsm[{key!r}] (the stored posterior) has NaN or infinite values.")
        arrays.append(values)
    if (arrays[1] <= 0).any():
        raise DataError(f"obsm[{fields['latent_qzv'][1]!r}] (the posterior variance) has values that are not positive.")
    if spec.size_factor_key is not None:
        library, where = size_factors(spec, store), f"obs[{spec.size_factor_key!r}]"
    else:
        key = fields["observed_lib_size"][1]
        where = f"obs[{key!r}]"
        library = np.asarray(_obs_column(store, key, "the observed library size"), dtype=np.float64)
        if not (np.isfinite(library).all() and (library >= 0).all()):
            raise DataError(f"{where} (the cells' observed library sizes) must be finite and not negative.")
    keys = (f"obsm[{fields['latent_qzm'][1]!r}]", f"obsm[{fields['latent_qzv'][1]!r}]", where)
    return StoredPosterior(arrays[0], arrays[1], library, keys)


def check_counts(counts: Any, layer: str | None) -> None:
    """Refuse counts the encoder cannot use: non-numbers, NaN, infinite, negative or fractional values.

    Raises
    ------
    DataError
        Saying which and where the raw counts should come from.
    """
    values = counts.data if sp.issparse(counts) else np.asarray(counts)
    where = f"layer {layer!r}" if layer else "X"
    if values.dtype.kind not in "biuf":
        raise DataError(f"The counts in {where} are of type {values.dtype}, not numbers; the model needs raw counts.")
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values)
        if bad.any():
            raise DataError(f"The counts in {where} have {int(bad.sum()):,} NaN or infinite values; the model needs raw counts.")
        fractional = int(np.count_nonzero(values != np.round(values)))
        if fractional:
            raise DataError(
                f"The counts in {where} have {fractional:,} non-integer values (e.g. {values[values != np.round(values)][0]:.3g}): "
                "they look normalised or log-transformed. scVI models take raw UMI counts; use the layer "
                "the model was trained on."
            )
    if values.size and values.min() < 0:
        raise DataError(f"The counts in {where} have negative values; the model needs raw counts (0 or more).")
