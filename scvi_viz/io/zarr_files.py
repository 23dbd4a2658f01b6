"""A ``.zarr`` store's files, checked before zarr (or the content hash) reads any of them.

zarr opens whatever path a store's layout names: a symbolic link inside a store is read where it
points (outside the data root too), a FIFO named like a chunk blocks the reader, a device file
such as ``/dev/zero`` never ends, and a chunk's size comes from metadata the file declares. So
a store is walked first, without following links, and refused (with what to do) when it holds
anything but its own directories and regular files, or metadata and chunks over the caps.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

from scvi_viz.errors import DataError
from scvi_viz.io.zarr_chunks import ChunkLayout, check_chunk, chunk_layout

MAX_STORE_ENTRIES = 2_000_000
"""Files and folders a store may hold (a million-cell store written by anndata holds thousands)."""
MAX_METADATA_BYTES = 16 * 1024**2
"""Largest ``.zarray`` / ``.zattrs`` / ``.zgroup`` / ``.zmetadata`` / ``zarr.json`` file read."""
MAX_CHUNK_BYTES = 1024**3
"""Largest chunk, as a file and as declared (its shape times the item size): what one read allocates."""
_METADATA = {".zarray", ".zattrs", ".zgroup", ".zmetadata", "zarr.json"}


def store_files(path: Path, *, chunk_contents: bool = False) -> list[Path]:
    """Every regular file of the store at ``path``, in sorted order, after the checks above.

    With ``chunk_contents``, also check what each chunk decodes to (:mod:`scvi_viz.io.zarr_chunks`),
    as zarr's reading needs and the content hash does not.

    Raises
    ------
    DataError
        For a symbolic link, a FIFO, device or socket anywhere in the store, more than
        :data:`MAX_STORE_ENTRIES` entries, a metadata file over :data:`MAX_METADATA_BYTES`, or a
        chunk over :data:`MAX_CHUNK_BYTES` (as a file, or as its array declares it); with
        ``chunk_contents``, a chunk that would decode past its array's chunk, or a codec that
        cannot be checked.
    """
    if path.is_symlink() or not path.is_dir():
        raise DataError(f"{path.name} is not a folder of its own (a .zarr store is read only from its own files).")
    files: list[Path] = []
    layouts: dict[Path, ChunkLayout] = {}
    entries = 0
    for folder, dirs, names in os.walk(path, followlinks=False):
        for name in [*dirs, *names]:
            entries += 1
            if entries > MAX_STORE_ENTRIES:
                raise DataError(f"{path.name} holds more than {MAX_STORE_ENTRIES:,} files and folders; a .zarr store "
                                "written by anndata holds far fewer. Rewrite it with adata.write_zarr(), or use .h5ad.")
            entry = Path(folder, name)
            mode = entry.lstat().st_mode
            where = entry.relative_to(path).as_posix()
            if stat.S_ISLNK(mode):
                raise DataError(f"{path.name} holds a symbolic link ({where}); a .zarr store is read only from its own "
                                "files. Copy the store with the linked files in place of the links (cp -rL).")
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                raise DataError(f"{path.name} holds {where}, which is not a regular file (a pipe, device or socket); "
                                "a .zarr store holds only folders and files. Rewrite it with adata.write_zarr().")
            size = entry.lstat().st_size
            if name in _METADATA and size > MAX_METADATA_BYTES:
                raise DataError(f"{where} in {path.name} is {size / 1e6:,.0f} MB, more than the "
                                f"{MAX_METADATA_BYTES // 1024**2} MiB a store's metadata may take.")
            if name not in _METADATA and size > MAX_CHUNK_BYTES:
                raise DataError(f"{where} in {path.name} is {size / 1e9:,.1f} GB, more than the "
                                f"{MAX_CHUNK_BYTES // 1024**3} GiB one chunk may take. Rewrite the store with smaller chunks.")
            if name in (".zarray", "zarr.json"):
                layout = _check_declared_chunk(entry, where, path.name)
                if layout is not None:
                    layouts[entry.parent] = layout
            files.append(entry)
    if chunk_contents:
        for file in files:
            if file.name not in _METADATA:
                _check_chunk_file(file, layouts, path)
    return sorted(files)


def _check_chunk_file(file: Path, layouts: dict[Path, ChunkLayout], store: Path) -> None:
    """Check ``file`` against the array whose folder holds it (chunks may sit in sub-folders)."""
    for folder in file.parents:
        if folder in layouts:
            check_chunk(file, layouts[folder], file.relative_to(store).as_posix(), store.name)
            return
        if folder == store:
            return  # not inside an array: zarr never decodes it


def _check_declared_chunk(metadata: Path, where: str, store: str) -> ChunkLayout | None:
    """An array's chunk, as declared: its shape times the item size, at most :data:`MAX_CHUNK_BYTES`;
    ``None`` for a group's metadata."""
    try:
        meta = json.loads(metadata.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DataError(f"{where} in {store} is not readable zarr metadata ({type(exc).__name__}).") from exc
    if not isinstance(meta, dict) or meta.get("node_type", "array") != "array":
        return None
    grid = meta.get("chunk_grid")
    chunks = grid.get("configuration", {}).get("chunk_shape") if isinstance(grid, dict) else meta.get("chunks")
    if chunks is None:
        return None  # zarr itself says what is missing
    dtype = meta.get("dtype") if "dtype" in meta else meta.get("data_type")
    itemsize = _itemsize(dtype)
    if (not isinstance(chunks, list) or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in chunks)
            or len(chunks) > 32):
        raise DataError(f"{where} in {store} declares chunks {str(chunks)[:80]}, not a list of positive whole numbers.")
    declared = math.prod(chunks) * itemsize
    if declared > MAX_CHUNK_BYTES:
        raise DataError(f"{where} in {store} declares chunks of {declared / 1e9:,.1f} GB, more than the "
                        f"{MAX_CHUNK_BYTES // 1024**3} GiB one read may take. Rewrite the store with smaller chunks.")
    return chunk_layout(meta, items=math.prod(chunks), item_bytes=itemsize, where=where, store=store)


def _itemsize(dtype: object) -> int:
    """Bytes per item of a zarr v2 (``"<f4"``) or v3 (``"float32"``) data type; 8 when it says nothing
    plainer (strings and objects are read through their codecs, item by item)."""
    if isinstance(dtype, str):
        digits = "".join(c for c in dtype if c.isdigit())
        if dtype[:1] in "<>|=" and digits:
            return max(int(digits), 1) if dtype[1:2] not in ("U",) else 4 * max(int(digits), 1)
        if digits and dtype.rstrip("0123456789") in ("int", "uint", "float", "complex"):
            return max(int(digits) // 8, 1)
    return 8
