"""How large a ``.zarr`` chunk becomes once decompressed, checked before zarr decodes it.

A chunk's codec allocates what the compressed stream says, not what the array declares: a blosc
or lz4 header names its own decoded size (up to 2 GiB), a zstd frame its content size, and a
gzip, zlib, bz2 or lzma stream simply inflates (a 2 MB gzip chunk can hold 2 GB). So each chunk
of a store is checked against its array's declared chunk before zarr reads it: from the header
where the format has one, by inflating it in bounded steps (and discarding the output) where it
has none. Codecs that cannot be bounded this way, and those that run code (``pickle``), are
refused with what to do.
"""

from __future__ import annotations

import bz2
import lzma
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scvi_viz.errors import DataError

MAX_VARIABLE_CHUNK_BYTES = 256 * 1024**2
"""Largest decoded chunk of variable-length items (strings), whose size no declaration states."""
_FIXED_SIZE_FILTERS = {"delta", "fixedscaleoffset", "quantize", "astype", "categorize", "packbits", "shuffle",
                       "bitround", "transpose", "bytes", "crc32c", "numcodecs.delta", "numcodecs.fixedscaleoffset",
                       "numcodecs.quantize", "numcodecs.astype", "numcodecs.packbits", "numcodecs.shuffle",
                       "numcodecs.bitround", "numcodecs.crc32c"}
_VARIABLE_FILTERS = {"vlen-utf8", "vlen-bytes", "vlen-array", "json2", "numcodecs.vlen-utf8", "numcodecs.vlen-bytes",
                     "numcodecs.json2"}
_HEADER_COMPRESSORS = {"blosc", "zstd", "lz4"}
_STREAM_COMPRESSORS = {"gzip", "zlib", "bz2", "lzma"}
_STREAM_STEP = 4 * 1024**2
_checked: dict[tuple[str, int, int, int, ChunkLayout], None] = {}
"""Chunk files already found within their layout, by path, size, modification time, inode and layout:
a store is opened several times per session (the workspace, prepare, the model-fit page)."""


@dataclass(frozen=True)
class ChunkLayout:
    """What one array's chunk may decode to, and how its files are compressed."""

    max_decoded_bytes: int
    compressor: str | None
    max_items: int | None = None
    """For variable-length items (strings): how many one chunk holds, which the decoded chunk's
    first four bytes must not exceed (the decoder allocates that many objects before reading)."""


def chunk_layout(meta: dict[str, Any], *, items: int, item_bytes: int, where: str, store: str) -> ChunkLayout:
    """The layout of the array whose zarr v2 ``.zarray`` or v3 ``zarr.json`` is ``meta``, with
    ``items`` per chunk (its declared shape) of ``item_bytes`` each.

    Raises
    ------
    DataError
        For a codec that runs code when read (``pickle``), one scvi-viz cannot bound before
        reading (sharding, an unknown codec), or two compressors in a row.
    """
    if meta.get("zarr_format") == 3 or "codecs" in meta:
        codecs = meta.get("codecs")
        steps = [_name(c, "name") for c in codecs] if isinstance(codecs, list) else []
    else:
        filters = meta.get("filters") or []
        compressor = meta.get("compressor")
        steps = [_name(f, "id") for f in (filters if isinstance(filters, list) else [filters])]
        if compressor is not None:
            steps.append(_name(compressor, "id"))
    names = [s.removeprefix("numcodecs.") for s in steps]
    unreadable = [n for n, s in zip(names, steps)
                  if s not in _FIXED_SIZE_FILTERS | _VARIABLE_FILTERS and n not in _HEADER_COMPRESSORS | _STREAM_COMPRESSORS]
    if unreadable:
        why = ("it runs code when read" if "pickle" in unreadable
               else "its decoded size cannot be checked before reading" if "sharding_indexed" in unreadable
               else "scvi-viz does not read it")
        raise DataError(f"{where} in {store} is stored with the codec {unreadable[0][:40]!r}, which scvi-viz does not "
                        f"read ({why}). Write the store again with anndata's default compressor: adata.write_zarr(path).")
    compressors = [n for n in names if n in _HEADER_COMPRESSORS | _STREAM_COMPRESSORS]
    if len(compressors) > 1:
        raise DataError(f"{where} in {store} compresses its chunks twice ({' then '.join(compressors)}), so their "
                        "decoded size cannot be checked. Write the store again with adata.write_zarr(path).")
    compressor = compressors[0] if compressors else None
    if not any(s in _VARIABLE_FILTERS for s in steps):
        return ChunkLayout(items * item_bytes, compressor)
    vlen = any(s.removeprefix("numcodecs.").startswith("vlen-") for s in steps)
    return ChunkLayout(MAX_VARIABLE_CHUNK_BYTES, compressor, max_items=items if vlen else None)


def _name(codec: object, key: str) -> str:
    """A codec's name in metadata (``{"id": "blosc", ...}``, ``{"name": "zstd", ...}`` or a bare string)."""
    name = codec.get(key) if isinstance(codec, dict) else codec
    return name if isinstance(name, str) else f"<{type(name).__name__}>"


def check_chunk(path: Path, layout: ChunkLayout, where: str, store: str) -> None:
    """Raise :class:`DataError` when the chunk file at ``path`` would decode past its layout's bound."""
    stat = path.lstat()
    key = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino, layout)
    if key in _checked:
        return
    limit = layout.max_decoded_bytes
    if layout.compressor is None or stat.st_size == 0:
        decoded = stat.st_size
    elif layout.compressor in _HEADER_COMPRESSORS:
        with open(path, "rb", opener=_no_follow) as handle:
            decoded = _header_size(layout.compressor, handle.read(18), where, store)
    else:
        decoded = _inflate_within(path, layout.compressor, limit, where, store)
    if decoded > limit:
        raise DataError(f"{where} in {store} would decode to {decoded / 1e6:,.1f} MB, more than the {limit / 1e6:,.1f} MB "
                        "its array declares for one chunk: the store is damaged or made to exhaust memory. "
                        "Write it again with adata.write_zarr(path).")
    if layout.max_items is not None:
        _check_item_count(path, layout, where, store)
    if len(_checked) > 500_000:
        _checked.clear()
    _checked[key] = None


def _check_item_count(path: Path, layout: ChunkLayout, where: str, store: str) -> None:
    """A chunk of strings starts with its number of items, which must fit the chunk's shape."""
    with open(path, "rb", opener=_no_follow) as handle:
        raw = handle.read()
    if layout.compressor is not None:
        import numcodecs

        try:
            raw = bytes(numcodecs.get_codec({"id": layout.compressor}).decode(raw))
        except Exception as exc:  # each codec raises its own types for damaged input
            raise DataError(f"{where} in {store} is not a readable {layout.compressor} chunk ({type(exc).__name__}). "
                            "Write the store again with adata.write_zarr(path).") from exc
    items = int.from_bytes(raw[:4], "little") if len(raw) >= 4 else 0
    if items > layout.max_items:
        raise DataError(f"{where} in {store} says it holds {items:,} strings, more than the {layout.max_items:,} its "
                        "array's chunk has room for: the store is damaged or made to exhaust memory. "
                        "Write it again with adata.write_zarr(path).")


def _no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW)


def _header_size(compressor: str, head: bytes, where: str, store: str) -> int:
    """The decoded size a blosc, lz4 or zstd chunk names in its first bytes."""
    if compressor == "blosc" and len(head) >= 16:
        return int.from_bytes(head[4:8], "little")
    if compressor == "lz4" and len(head) >= 4:
        return int.from_bytes(head[:4], "little", signed=True) % 2**32
    if compressor == "zstd" and len(head) >= 6 and head[:4] == b"\x28\xb5\x2f\xfd":
        descriptor = head[4]
        single_segment = bool(descriptor & 0x20)
        size_field = {0: 1 if single_segment else 0, 1: 2, 2: 4, 3: 8}[descriptor >> 6]
        start = 5 + (0 if single_segment else 1) + {0: 0, 1: 1, 2: 2, 3: 4}[descriptor & 0x3]
        if size_field and len(head) >= start + size_field:
            value = int.from_bytes(head[start:start + size_field], "little")
            return value + 256 if size_field == 2 else value
        if not size_field:
            raise DataError(f"{where} in {store} is a zstd chunk that does not state its decoded size, which scvi-viz "
                            "checks before reading. Write the store again with adata.write_zarr(path).")
    raise DataError(f"{where} in {store} is not a {compressor} chunk (its header is damaged). "
                    "Write the store again with adata.write_zarr(path).")


def _inflate_within(path: Path, compressor: str, limit: int, where: str, store: str) -> int:
    """Inflate a gzip / zlib / bz2 / lzma chunk in bounded steps, keeping none of it: its decoded
    size, which is at most ``limit`` (past it, :class:`DataError`)."""
    if compressor in ("gzip", "zlib"):
        inflater: Any = zlib.decompressobj(31 if compressor == "gzip" else 15)
    else:
        inflater = bz2.BZ2Decompressor() if compressor == "bz2" else lzma.LZMADecompressor()
    total = 0
    try:
        with open(path, "rb", opener=_no_follow) as handle:
            while not inflater.eof:
                piece = handle.read(_STREAM_STEP)
                if not piece:
                    break
                while piece or not _needs_input(inflater):
                    total += len(inflater.decompress(piece, _STREAM_STEP))
                    if total > limit:
                        raise DataError(f"{where} in {store} inflates to more than the {limit / 1e6:,.1f} MB its array "
                                        "declares for one chunk: the store is damaged or made to exhaust memory. "
                                        "Write it again with adata.write_zarr(path).")
                    piece = getattr(inflater, "unconsumed_tail", b"")
                    if inflater.eof:
                        break
    except (zlib.error, OSError, EOFError, lzma.LZMAError) as exc:
        raise DataError(f"{where} in {store} is not a readable {compressor} chunk ({exc}). "
                        "Write the store again with adata.write_zarr(path).") from exc
    return total


def _needs_input(inflater: Any) -> bool:
    return getattr(inflater, "needs_input", not getattr(inflater, "unconsumed_tail", b""))
