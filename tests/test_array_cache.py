"""scvi-viz's cache files are read as warily as a user's (``scvi_viz/io/array_cache.py``,
``scvi_viz/io/fingerprint.py``): anything odd is "missing, compute again", never a raw error, a
huge allocation, another dataset's numbers or a path outside the cache."""

from __future__ import annotations

import io
import json
import shutil
import zipfile

import numpy as np
import pytest

from scvi_viz.io import fingerprint
from scvi_viz.io.array_cache import read_arrays, write_arrays

EXPECTED = {"coords": ((50, 2), "float32")}


@pytest.fixture
def cached(tmp_path):
    path = tmp_path / "aaaa-bbbb-encoder" / "umap.npz"
    coords = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    assert write_arrays(path, {"coords": coords})
    return path, coords


def test_a_written_file_is_read_back(cached):
    path, coords = cached
    np.testing.assert_array_equal(read_arrays(path, EXPECTED)["coords"], coords)


def test_a_file_of_another_dataset_copied_or_linked_in_is_not_used(cached, tmp_path):
    path, _ = cached
    other = tmp_path / "cccc-dddd-encoder" / "umap.npz"
    other.parent.mkdir()
    shutil.copy(path, other)  # same shapes, valid digest: another dataset's numbers
    assert read_arrays(other, EXPECTED) is None
    linked = tmp_path / "eeee-ffff-encoder" / "umap.npz"
    linked.parent.mkdir()
    linked.symlink_to(path)
    assert read_arrays(linked, EXPECTED) is None


def _rewrite(path, name: str, array_bytes: bytes) -> None:
    with zipfile.ZipFile(path) as archive:
        members = {i.filename: archive.read(i) for i in archive.infolist()}
    members[f"{name}.npy"] = array_bytes
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(member, data)


def _npy_header(shape, dtype="<f4") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def test_a_header_declaring_a_huge_array_is_not_read(cached):
    path, _ = cached
    _rewrite(path, "coords", _npy_header((10**12, 2)) + b"\0" * 64)
    assert read_arrays(path, EXPECTED) is None


def test_a_member_that_inflates_past_its_array_is_not_read(cached):
    path, _ = cached
    _rewrite(path, "coords", _npy_header((50, 2)) + b"\0" * (400 + 50_000_000))  # 50 MB of zeros, deflated to ~50 KB
    assert read_arrays(path, EXPECTED) is None


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"\x93NUMPY plain npy", b"not a zip at all"])
def test_damaged_files_count_as_missing(cached, content):
    path, _ = cached
    if content.startswith(b"\x93NUMPY"):
        np.save(path.with_suffix(".npy"), np.zeros((50, 2), np.float32))
        path.with_suffix(".npy").replace(path)  # a plain .npy where an .npz belongs
    else:
        path.write_bytes(content)
    assert read_arrays(path, EXPECTED) is None


def test_the_hash_memo_keeps_only_hashes(tmp_path):
    memo = tmp_path / fingerprint.MEMO_NAME
    good = "a" * 64
    memo.write_text(json.dumps({"k1": good, "k2": "../../outside", "k3": ["x"], "k4": "A" * 64}))
    assert fingerprint._read_memo(memo) == {"k1": good}
    memo.write_text("[" * 100_000 + "]" * 100_000)  # nested past Python's recursion limit
    assert fingerprint._read_memo(memo) == {}
    memo.unlink()
    memo.symlink_to(tmp_path / "elsewhere.json")
    (tmp_path / "elsewhere.json").write_text(json.dumps({"k": good}))
    assert fingerprint._read_memo(memo) == {}


def test_a_poisoned_memo_does_not_change_a_file_hash(tmp_path):
    data = tmp_path / "cells.h5ad"
    data.write_bytes(b"cells")
    true = fingerprint.content_sha256(data)
    (tmp_path / fingerprint.MEMO_NAME).write_text(json.dumps({fingerprint._stat_key(data): "../" * 20}))
    assert fingerprint.content_sha256(data, memo_dir=tmp_path) == true


def test_a_cache_folder_that_is_a_link_or_open_to_others_is_not_used(tmp_path):
    from scvi_viz.io import array_cache

    own = tmp_path / "own"
    own.mkdir(mode=0o700)
    assert array_cache.cache_dir_problem(own) is None
    assert array_cache.usable_cache_dir(own) == own
    assert array_cache.cache_dir_problem(tmp_path / "not yet made") is None

    users_folder = tmp_path / "documents"
    users_folder.mkdir()
    link = tmp_path / "cache-link"
    link.symlink_to(users_folder, target_is_directory=True)
    assert array_cache.cache_dir_problem(link) == "it is a symbolic link"
    with pytest.warns(array_cache.CacheDirWarning, match="is not used: it is a symbolic link"):
        private = array_cache.usable_cache_dir(link)
    assert private != link and not private.is_symlink() and array_cache.cache_dir_problem(private) is None

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert "other users can write" in array_cache.cache_dir_problem(shared)


def test_prepare_writes_nothing_into_a_linked_cache_folder(tmp_path):
    import anndata as ad

    from scvi_viz.analysis.prepare import prepare
    from scvi_viz.io import array_cache
    from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL
    from scvi_viz.model import load_model

    data = tmp_path / "cells.h5ad"
    ad.read_h5ad(DEMO_DATA)[:60].copy().write_h5ad(data)
    users_folder = tmp_path / "documents"
    users_folder.mkdir()
    link = tmp_path / "cache-link"
    link.symlink_to(users_folder, target_is_directory=True)
    with pytest.warns(array_cache.CacheDirWarning):
        prepared = prepare(load_model(DEMO_MODEL, device="cpu"), data, cache_dir=link, umap_fit=30)
    assert prepared.latent.shape == (60, 10)
    assert list(users_folder.iterdir()) == []
