"""A ``.zarr`` chunk is checked before zarr decodes it (``scvi_viz/io/zarr_chunks.py``): what it
would decode to stays within its array's declared chunk, codecs that cannot be bounded or that run
code are refused, and a sparse matrix with a chunk missing is an error rather than zeros."""

from __future__ import annotations

import bz2
import gzip
import json

import anndata as ad
import numcodecs
import numpy as np
import pytest
import zarr

from scvi_viz.errors import DataError
from scvi_viz.io import zarr_chunks
from scvi_viz.io.sources import DEMO_DATA
from scvi_viz.io.store import open_data
from test_zarr_files import store, written  # noqa: F401  (fixtures: a copy of the demo's first 50 cells as a store)

COMPRESSORS = {"gzip": numcodecs.GZip(), "zlib": numcodecs.Zlib(), "bz2": numcodecs.BZ2(), "lzma": numcodecs.LZMA(),
               "zstd": numcodecs.Zstd(), "lz4": numcodecs.LZ4(), "blosc": numcodecs.Blosc(), "none": None}


@pytest.fixture(scope="module")
def cells():
    """The cells the shared ``written`` store holds (``tests/test_zarr_files.py``)."""
    return ad.read_h5ad(DEMO_DATA)[:50].copy()


def _dense_counts(store, cells, compressor) -> None:
    """Replace the store's sparse counts by dense ones in chunks of 10 x 100, with ``compressor``."""
    group = zarr.open_group(store, mode="r+")
    del group["X"]
    array = group.create_array("X", data=np.asarray(cells.X.todense()), chunks=(10, 100),
                               compressors=compressor if compressor is not None else None)
    array.attrs.update({"encoding-type": "array", "encoding-version": "0.2.0"})
    zarr.consolidate_metadata(store)


def _counts(store) -> np.ndarray:
    with open_data(store) as data:
        block = data.count_rows(None, slice(0, 50))
    return block.toarray() if hasattr(block, "toarray") else block


@pytest.mark.parametrize("name", COMPRESSORS)
def test_every_compressor_zarr_writes_is_read(store, cells, name):
    _dense_counts(store, cells, COMPRESSORS[name])
    np.testing.assert_array_equal(_counts(store), cells.X.toarray())


def _replace_first_chunk(store, content: bytes) -> None:
    (store / "X" / "0.0").write_bytes(content)


_BOMBS = {
    "blosc": lambda chunk: chunk[:4] + (2**31 - 1).to_bytes(4, "little") + chunk[8:],
    "lz4": lambda chunk: (2**31 - 1).to_bytes(4, "little") + chunk[4:],
    "zstd": lambda chunk: b"\x28\xb5\x2f\xfd" + bytes([0xE0]) + (2**40).to_bytes(8, "little") + chunk[13:],
    "gzip": lambda chunk: gzip.compress(bytes(16 * 1024**2)),
    "bz2": lambda chunk: bz2.compress(bytes(16 * 1024**2)),
}


@pytest.mark.parametrize("name", _BOMBS)
def test_a_chunk_that_would_decode_past_its_array_is_refused_before_reading(store, cells, name, monkeypatch):
    _dense_counts(store, cells, COMPRESSORS[name])
    _replace_first_chunk(store, _BOMBS[name]((store / "X" / "0.0").read_bytes()))
    monkeypatch.setattr(zarr.Array, "__getitem__", lambda *a: pytest.fail("zarr read the chunk"))
    with pytest.raises(DataError, match=r"(decode|inflates) to .* declares for one chunk"):
        with open_data(store):
            pass


def test_a_zstd_chunk_that_does_not_state_its_size_is_refused(store, cells):
    _dense_counts(store, cells, COMPRESSORS["zstd"])
    _replace_first_chunk(store, b"\x28\xb5\x2f\xfd\x00\x50" + bytes(40))
    with pytest.raises(DataError, match="does not state its decoded size"):
        _counts(store)


def test_a_damaged_stream_is_refused_in_words(store, cells):
    _dense_counts(store, cells, COMPRESSORS["gzip"])
    _replace_first_chunk(store, b"not gzip at all")
    with pytest.raises(DataError, match="not a readable gzip chunk"):
        _counts(store)


@pytest.mark.parametrize("codec, words", [({"id": "pickle"}, "runs code when read"), ({"id": "made-up"}, "does not read it")])
def test_codecs_that_run_code_or_are_unknown_are_refused(store, codec, words):
    meta_path = store / "X" / "data" / ".zarray"
    meta = json.loads(meta_path.read_text())
    meta["filters"] = [codec]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(DataError, match=words):
        _counts(store)


def test_two_compressors_in_a_row_are_refused():
    meta = {"zarr_format": 3, "codecs": [{"name": "bytes"}, {"name": "gzip"}, {"name": "zstd"}]}
    with pytest.raises(DataError, match="compresses its chunks twice"):
        zarr_chunks.chunk_layout(meta, items=250, item_bytes=4, where="X/zarr.json", store="cells.zarr")


def _rechunk(store, part: str, size: int) -> None:
    group = zarr.open_group(store, mode="r+")
    values = group[f"X/{part}"][:]
    attrs = dict(group[f"X/{part}"].attrs)
    del group[f"X/{part}"]
    group.create_array(f"X/{part}", data=values, chunks=(size,)).attrs.update(attrs)
    zarr.consolidate_metadata(store)


@pytest.mark.parametrize("part, chunk", [("data", "3"), ("indices", "0"), ("indptr", "2"), ("indptr", "0")])
def test_a_missing_chunk_of_sparse_counts_is_an_error_not_zeros(store, part, chunk):
    _rechunk(store, part, 10)
    np.testing.assert_array_equal(_counts(store), ad.read_zarr(store).X.toarray())  # whole: read as written
    (store / "X" / part / chunk).unlink()
    with pytest.raises(DataError, match=rf"1 of the \d+ chunks of the counts' .* \({part}\) are missing"):
        _counts(store)


def test_row_offsets_out_of_order_are_an_error(store):
    group = zarr.open_group(store, mode="r+")
    indptr = group["X/indptr"][:]
    indptr[10] = indptr[-1] + 5
    group["X/indptr"][:] = indptr
    with pytest.raises(DataError, match="row offsets"):
        _counts(store)


def test_a_dense_chunk_zarr_left_out_reads_as_its_fill_value(store, cells):
    """zarr writes no chunk that holds only the fill value: such a store is read as written."""
    dense = np.asarray(cells.X.todense())
    dense[:10, :100] = 0
    group = zarr.open_group(store, mode="r+")
    del group["X"]
    group.create_array("X", data=dense, chunks=(10, 100)).attrs.update({"encoding-type": "array", "encoding-version": "0.2.0"})
    zarr.consolidate_metadata(store)
    assert not (store / "X" / "0.0").exists()
    np.testing.assert_array_equal(_counts(store), dense)


@pytest.mark.parametrize("compressor", ["blosc", "gzip", "none"])
def test_a_string_chunk_claiming_more_items_than_its_shape_is_refused(store, compressor):
    """The strings' decoder allocates the number of items a chunk states before reading them."""
    group = zarr.open_group(store, mode="r+")
    notes = group.create_array("obs/note", shape=(50,), chunks=(25,), dtype=str,
                               compressors=COMPRESSORS[compressor] if compressor != "none" else None)
    notes[:] = np.array([f"cell_{i}" for i in range(50)])
    zarr.consolidate_metadata(store)
    with open_data(store):
        pass  # as written: read
    chunk = store / "obs" / "note" / "0"
    raw = numcodecs.get_codec({"id": compressor}).decode(chunk.read_bytes()) if compressor != "none" else chunk.read_bytes()
    raw = (2**31).to_bytes(4, "little") + bytes(raw)[4:]
    chunk.write_bytes(numcodecs.get_codec({"id": compressor}).encode(raw) if compressor != "none" else raw)
    with pytest.raises(DataError, match="says it holds 2,147,483,648 strings, more than the 25"):
        with open_data(store):
            pass


def test_consolidated_metadata_is_not_what_zarr_reads(store, cells):
    """zarr would take an array's codec and chunks from ``.zmetadata``; the checks read each array's
    own metadata, so the reader must too."""
    consolidated = json.loads((store / ".zmetadata").read_text())
    consolidated["metadata"]["X/data/.zarray"]["filters"] = [{"id": "pickle"}]
    consolidated["metadata"]["X/data/.zarray"]["chunks"] = [10**9]
    (store / ".zmetadata").write_text(json.dumps(consolidated))
    np.testing.assert_array_equal(_counts(store), cells.X.toarray())
