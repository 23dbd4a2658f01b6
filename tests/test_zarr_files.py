"""A ``.zarr`` store is read only from its own regular files, with bounded metadata and chunks
(``scvi_viz/io/zarr_files.py``), by the reader and by the content hash alike."""

from __future__ import annotations

import json
import os

import anndata as ad
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scvi_viz.errors import DataError, ScviVizError
from scvi_viz.io import zarr_files
from scvi_viz.io.fingerprint import content_sha256
from scvi_viz.io.sources import DEMO_DATA
from scvi_viz.io.store import open_data


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    path = tmp_path_factory.mktemp("zarr") / "cells.zarr"
    ad.read_h5ad(DEMO_DATA)[:50].copy().write_zarr(path)
    return path


@pytest.fixture
def store(written, tmp_path):
    import shutil

    copy = tmp_path / "cells.zarr"
    shutil.copytree(written, copy)
    return copy


def _a_chunk(store):
    return next(p for p in sorted((store / "X").rglob("*")) if p.is_file() and not p.name.startswith(".")
                and p.name != "zarr.json")


def test_a_store_written_by_anndata_is_read(store):
    files = zarr_files.store_files(store)
    assert files == sorted(p for p in store.rglob("*") if p.is_file())
    with open_data(store) as data:
        assert data.n_obs == 50
    assert len(content_sha256(store)) == 64


def _refused(store, words: str) -> None:
    with pytest.raises(DataError, match=words):
        with open_data(store):
            pass
    with pytest.raises(DataError, match=words):
        content_sha256(store)


@pytest.mark.parametrize("replace_with, words", [("link", "symbolic link"), ("pipe", "not a regular file")])
def test_a_chunk_that_is_a_link_or_a_pipe_is_refused_never_followed(store, tmp_path, replace_with, words):
    outside = tmp_path / "secret.txt"
    outside.write_text("not yours")
    chunk = _a_chunk(store)
    chunk.unlink()
    chunk.symlink_to(outside) if replace_with == "link" else os.mkfifo(chunk)  # a pipe would block a reader
    _refused(store, words)


def test_a_linked_metadata_folder_is_refused(store, tmp_path):
    import shutil

    elsewhere = tmp_path / "elsewhere"
    shutil.move(str(store / "obs"), elsewhere)
    (store / "obs").symlink_to(elsewhere, target_is_directory=True)
    _refused(store, "symbolic link")


def test_a_store_that_is_itself_a_link_is_refused(store, tmp_path):
    link = tmp_path / "link.zarr"
    link.symlink_to(store, target_is_directory=True)
    with pytest.raises(DataError, match="folder of its own"):
        zarr_files.store_files(link)


def test_declared_chunks_over_the_cap_are_refused_before_a_read(store):
    meta = next((store / "X").rglob(".zarray"))  # sparse counts: X/data, X/indices, X/indptr
    declared = json.loads(meta.read_text())
    declared["chunks"] = [10**10] * len(declared["chunks"])
    declared["dtype"] = "<f4"
    meta.write_text(json.dumps(declared))
    _refused(store, "declares chunks of 40.0 GB")


def test_chunk_and_metadata_files_over_their_caps_are_refused(store, monkeypatch):
    monkeypatch.setattr(zarr_files, "MAX_CHUNK_BYTES", 8)
    _refused(store, "one chunk may take")
    monkeypatch.setattr(zarr_files, "MAX_CHUNK_BYTES", 1024**3)
    monkeypatch.setattr(zarr_files, "MAX_METADATA_BYTES", 8)
    _refused(store, "metadata may take")


def test_too_many_entries_are_refused(store, monkeypatch):
    monkeypatch.setattr(zarr_files, "MAX_STORE_ENTRIES", 5)
    _refused(store, "more than 5 files")


_json = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                     max_leaves=12)
_fields = st.fixed_dictionaries({}, optional={"chunks": _json | st.lists(st.integers(-5, 10**7), max_size=6),
                                              "dtype": _json | st.sampled_from(["<f4", "|b1", "<U9", "float32", "<f999"]),
                                              "shape": _json, "node_type": st.sampled_from(["array", "group"]) | _json,
                                              "chunk_grid": _json, "data_type": _json})


@settings(max_examples=60, deadline=None)
@given(_fields)
def test_any_array_metadata_is_read_or_refused_in_words(tmp_path_factory, meta):
    folder = tmp_path_factory.mktemp("meta")
    path = folder / ".zarray"
    path.write_text(json.dumps(meta))
    try:
        zarr_files._check_declared_chunk(path, ".zarray", "cells.zarr")
    except ScviVizError:
        pass
