"""An AnnData dataset opened read-only with its counts left where they are.

``.h5ad`` files (HDF5) and ``.zarr`` stores are read part by part with anndata's element
readers: ``obs``, ``var`` names and the ``obsm`` entries asked for come into memory, while the
count matrix (``X`` or a layer) stays on disk and is read in blocks of rows. An in-memory
:class:`anndata.AnnData` is wrapped the same way, so every reader of cells takes a
:class:`DataStore`. Nothing is ever written.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from scvi_viz.errors import DataError
from scvi_viz.io.zarr_files import store_files

if TYPE_CHECKING:
    import anndata

DataKind = Literal["h5ad", "zarr", "memory"]
"""Where a store's data live: an HDF5 ``.h5ad`` file, a ``.zarr`` store, or memory."""

MAX_UNS_VALUE_BYTES = 1_000_000
"""``uns`` values larger than this are not read (only small markers are looked up there)."""


def data_kind(path: str | Path) -> DataKind:
    """``"zarr"`` for a ``.zarr`` folder, ``"h5ad"`` for a file; raises when neither fits."""
    path = Path(path)
    if path.is_dir():
        if (path / "zarr.json").is_file() or (path / ".zgroup").is_file():
            return "zarr"
        raise DataError(f"{path.name} is a folder but not a .zarr store (it has no zarr.json or .zgroup). "
                        "Pick an .h5ad file or a store written with adata.write_zarr().")
    if not path.is_file():
        raise FileNotFoundError(f"No .h5ad file or .zarr store at {path}.")
    return "h5ad"


class DataStore:
    """An AnnData's parts, read on demand; see the module docstring.

    Build it with :func:`open_data` (a file or store, closed when the ``with`` block ends) or
    :meth:`in_memory`. ``obs`` and ``var_names`` are read on first use.
    """

    def __init__(self, kind: DataKind, group: Any, name: str):
        self.kind = kind
        self.name = name
        self._group = group
        self._whole: set[str | None] = set()
        """Layers whose sparse parts were found whole (zarr only)."""
        if kind != "memory":
            for part in ("obs", "var"):
                if part not in group:
                    raise DataError(f"{name} is not an AnnData store: it has no {part!r} element. Save it with adata.write_h5ad().")

    def _read(self, what: str, read: Any) -> Any:
        """``read()``, with any error of a damaged file turned into a :class:`DataError` naming ``what``."""
        try:
            return read()
        except DataError:
            raise
        except Exception as exc:  # h5py, zarr and anndata raise many types for damaged files
            raise DataError(f"The {what} of {self.name} could not be read ({type(exc).__name__}: {exc}); "
                            "the file may be damaged. Write it again with adata.write_h5ad().") from exc

    @functools.cached_property
    def obs(self) -> pd.DataFrame:
        """The cells' ``obs`` table (a copy; index = cell ids as text), read on first use."""
        if self.kind == "memory":
            obs = self._group.obs.copy()
        else:
            from anndata.io import read_elem

            obs = self._read("obs table", lambda: read_elem(self._group["obs"]))
            if not isinstance(obs, pd.DataFrame):
                raise DataError(f"The obs of {self.name} is not a table; the file is not AnnData or is damaged.")
        obs.index = obs.index.astype(str)
        return obs

    @functools.cached_property
    def var_names(self) -> pd.Index:
        """The genes' names as text, read on first use."""
        if self.kind == "memory":
            names = self._group.var_names
        else:
            from anndata.io import read_elem

            names = self._read("gene names (var)", lambda: read_elem(self._group["var"]).index)
        return pd.Index([str(g) for g in names])

    @classmethod
    def in_memory(cls, adata: anndata.AnnData) -> DataStore:
        """Wrap an in-memory AnnData (its arrays are read, never changed)."""
        return cls("memory", adata, "the AnnData")

    @property
    def n_obs(self) -> int:
        """Number of cells."""
        if self.kind == "memory" or "obs" in self.__dict__:
            return len(self.obs)
        return self._read("obs table", lambda: int(self._group["obs"][self._group["obs"].attrs.get("_index", "_index")].shape[0]))

    # ----------------------------------------------------------------- obsm and uns
    def obsm_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of each ``obsm`` entry that is a plain array (data frames and sparse entries are left out)."""
        if self.kind == "memory":
            return {str(k): tuple(v.shape) for k, v in self._group.obsm.items() if isinstance(v, np.ndarray)}
        def read() -> dict[str, tuple[int, ...]]:
            obsm = self._group.get("obsm")
            shapes = {}
            for key in obsm.keys() if obsm is not None else ():
                item = obsm[key]
                if hasattr(item, "shape") and hasattr(item, "dtype") and item.dtype.kind in "fiu":
                    shapes[str(key)] = tuple(int(n) for n in item.shape)
            return shapes
        return self._read("obsm entries", read)

    def obsm(self, key: str) -> np.ndarray:
        """``obsm[key]`` as a float32 array (read whole: one row per cell).

        Raises
        ------
        DataError
            If there is no such numeric entry.
        """
        shapes = self.obsm_shapes()
        if key not in shapes:
            raise DataError(f"{self.name} has no numeric obsm entry {key!r} (it has {', '.join(shapes) or 'none'}).")
        if self.kind == "memory":
            return np.asarray(self._group.obsm[key], dtype=np.float32)
        return self._read(f"obsm entry {key!r}", lambda: np.asarray(self._group["obsm"][key][...], dtype=np.float32))

    def uns_value(self, key: str) -> Any:
        """A small ``uns`` entry (a marker or a record), or ``None`` when absent or large."""
        if self.kind == "memory":
            uns = self._group.uns
            return uns.get(key) if hasattr(uns, "get") else None
        uns = self._group.get("uns")
        if uns is None or key not in uns:
            return None
        item = uns[key]
        if getattr(item, "nbytes", 0) > MAX_UNS_VALUE_BYTES:
            return None
        from anndata.io import read_elem

        try:
            return read_elem(item)
        except Exception:  # a damaged or unknown uns entry only loses that marker
            return None

    # ----------------------------------------------------------------- counts
    def _matrix(self, layer: str | None) -> Any:
        if self.kind == "memory":
            if layer is None:
                return self._group.X
            if layer not in self._group.layers:
                raise self._no_layer(layer, list(self._group.layers))
            return self._group.layers[layer]
        if layer is None:
            if "X" not in self._group:
                raise DataError(f"{self.name} has no X; the model needs the counts it was trained on.")
            element = self._group["X"]
        else:
            layers = self._group.get("layers")
            if layers is None or layer not in layers:
                raise self._no_layer(layer, list(layers.keys()) if layers is not None else [])
            element = layers[layer]
        encoding = element.attrs.get("encoding-type", "array")
        if encoding in ("csr_matrix", "csc_matrix"):
            from anndata.io import sparse_dataset

            if self.kind == "zarr" and layer not in self._whole:
                self._read("counts", lambda: _check_sparse_parts(element, self.name))
                self._whole.add(layer)
            return self._read("counts", lambda: sparse_dataset(element))
        if encoding != "array" or not hasattr(element, "dtype"):
            raise DataError(f"The counts in {self.name} are stored as {encoding!r}, which scvi-viz cannot read in blocks.")
        return element

    def _no_layer(self, layer: str, layers: list[str]) -> DataError:
        return DataError(f"The model was set up with counts in layer {layer!r}, which this data lacks "
                         f"(layers: {', '.join(map(str, layers)) or 'none'}).")

    def counts_shape(self, layer: str | None) -> tuple[int, int]:
        """``(cells, genes)`` of ``X`` or the layer."""
        return tuple(int(n) for n in self._matrix(layer).shape)  # type: ignore[return-value]

    def count_rows(self, layer: str | None, rows: slice | np.ndarray) -> Any:
        """Counts of ``rows`` (a slice, or sorted row indices) in the data's gene order: CSR or dense.

        Column-compressed (CSC) counts on disk would have to be read whole for every block, so
        they are refused with what to do.
        """
        matrix = self._matrix(layer)
        if getattr(matrix, "format", None) == "csc" or (sp.issparse(matrix) and matrix.format == "csc"):
            raise DataError(f"The counts in {self.name} are stored by column (CSC), which cannot be read a block of "
                            "cells at a time. Save them by row first: adata.X = adata.X.tocsr(); adata.write_h5ad(...).")
        block = matrix[rows] if self.kind == "memory" else self._read("counts", lambda: matrix[rows])
        return sp.csr_matrix(block) if sp.issparse(block) else np.asarray(block)

    def close(self) -> None:
        """Close the file (a no-op for memory and zarr stores)."""
        if self.kind == "h5ad":
            self._group.close()


def _check_sparse_parts(element: Any, name: str) -> None:
    """Refuse a zarr sparse matrix with a chunk of any of its three parts missing, or row pointers
    out of order.

    zarr reads a chunk that is not stored as its fill value (zero), as it writes none for a chunk
    that holds only that value. For a dense array that is what was written; a sparse matrix stores
    only non-zero values, their columns and the rows' offsets, so a missing chunk there is a lost
    part of the counts (a whole chunk of offsets at zero would need that many empty cells).
    """
    for part in ("data", "indices", "indptr"):
        array = element[part]
        missing = array.nchunks - array.nchunks_initialized if array.size else 0
        if missing:
            raise DataError(f"{missing} of the {array.nchunks} chunks of the counts' {_PARTS[part]} ({part}) are missing "
                            f"from {name}; zarr would read them as zeros, giving wrong counts. Copy the whole store "
                            "again, or write it anew with adata.write_zarr(path).")
    indptr = np.asarray(element["indptr"][:])
    if (indptr.ndim != 1 or indptr.size == 0 or indptr[0] != 0 or (np.diff(indptr) < 0).any()
            or indptr[-1] != element["data"].shape[0]):
        raise DataError(f"The counts' row offsets (indptr) in {name} are out of order or do not end at the number "
                        "of stored values: the store is damaged. Copy the whole store again, or write it anew with "
                        "adata.write_zarr(path).")


_PARTS = {"data": "stored values", "indices": "column numbers", "indptr": "row offsets"}


def _open_zarr_group(zarr: Any, path: Path) -> Any:
    """The store's root group, read from each array's own metadata (the files checked by
    :func:`store_files`), never from a consolidated copy (``.zmetadata``, or zarr v3's
    ``consolidated_metadata``) that could declare other chunks or codecs."""
    if int(zarr.__version__.split(".")[0]) < 3:  # zarr 2 reads consolidated metadata only when asked
        return zarr.open_group(str(path), mode="r")
    return zarr.open_group(str(path), mode="r", use_consolidated=False)


@contextmanager
def open_data(path: str | Path) -> Iterator[DataStore]:
    """Open an ``.h5ad`` file or ``.zarr`` store read-only for the duration of a ``with`` block.

    Raises
    ------
    FileNotFoundError
        If there is nothing at ``path``.
    DataError
        If it is not an AnnData file or store.
    """
    path = Path(path)
    kind = data_kind(path)
    if kind == "zarr":
        import zarr

        store_files(path, chunk_contents=True)  # its own regular files only, sizes bounded: before zarr reads any
        try:
            group = _open_zarr_group(zarr, path)
        except Exception as exc:  # zarr raises many types for damaged stores
            raise DataError(f"{path.name} could not be opened as a zarr store: {type(exc).__name__}: {exc}") from exc
    else:
        import h5py

        if not h5py.is_hdf5(path):
            raise DataError(f"{path.name} is not an .h5ad file (not HDF5). Save your data with adata.write_h5ad().")
        try:
            group = h5py.File(path, "r")
        except OSError as exc:
            raise DataError(f"{path.name} could not be opened: {exc}") from exc
    try:
        try:
            store = DataStore(kind, group, path.name)
        except DataError:
            raise
        except Exception as exc:  # anndata raises many types for damaged files
            raise DataError(f"{path.name} could not be read as AnnData: {type(exc).__name__}: {exc}") from exc
        yield store
    finally:
        if kind == "h5ad":
            group.close()
