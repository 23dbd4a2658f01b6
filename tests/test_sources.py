"""Data root confinement, listings, and unpacking uploads without writing outside a private folder."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
from pathlib import Path

import anndata
import numpy as np
import pytest

from scvi_viz.io import sources
from scvi_viz.errors import ScviVizError
from scvi_viz.io.sources import PathOutsideRootError, UploadError

FAKE_MODEL = b"PK\x03\x04" + b"fake torch zip" * 10
FAKE_H5AD = b"\x89HDF\r\n\x1a\n" + b"fake hdf5" * 10


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path -> sha256), symlinks not followed."""
    out = {}
    for current, dirs, files in os.walk(folder):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(current, d))]:
            p = Path(current) / name
            key = str(p.relative_to(folder))
            out[key] = "link" if p.is_symlink() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture()
def root(tmp_path) -> Path:
    r = tmp_path / "root"
    (r / "models" / "pbmc").mkdir(parents=True)
    (r / "models" / "pbmc" / "model.pt").write_bytes(FAKE_MODEL)
    (r / "data").mkdir()
    (r / "data" / "a.h5ad").write_bytes(FAKE_H5AD)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("secret")
    (tmp_path / "outside" / "model.pt").write_bytes(FAKE_MODEL)
    return r


# --------------------------------------------------------------- data root


def test_errors_are_value_errors():
    assert issubclass(PathOutsideRootError, ScviVizError) and issubclass(PathOutsideRootError, ValueError)
    assert issubclass(UploadError, ValueError)


def test_data_root_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SCVI_VIZ_DATA_DIR", str(tmp_path))
    assert sources.data_root() == tmp_path.resolve()
    monkeypatch.delenv("SCVI_VIZ_DATA_DIR")
    monkeypatch.chdir(tmp_path)
    assert sources.data_root() == tmp_path.resolve()


def test_demo_paths_exist():
    assert (sources.DEMO_MODEL / "model.pt").is_file()
    assert sources.DEMO_DATA.is_file()


def test_resolve_in_root_accepts_inside(root):
    before = snapshot(root.parent)
    assert sources.resolve_in_root("models/pbmc/model.pt", root) == (root / "models/pbmc/model.pt").resolve()
    assert sources.resolve_in_root(Path("data") / "a.h5ad", root) == (root / "data" / "a.h5ad").resolve()
    assert sources.resolve_in_root("models/../data/a.h5ad", root) == (root / "data" / "a.h5ad").resolve()
    assert sources.resolve_in_root(".", root) == root.resolve()
    assert sources.resolve_in_root(str(root / "data" / "a.h5ad"), root) == (root / "data" / "a.h5ad").resolve()
    assert snapshot(root.parent) == before


def test_resolve_in_root_uses_data_root_by_default(root, monkeypatch):
    monkeypatch.setenv("SCVI_VIZ_DATA_DIR", str(root))
    assert sources.resolve_in_root("data/a.h5ad") == (root / "data" / "a.h5ad").resolve()
    with pytest.raises(PathOutsideRootError):
        sources.resolve_in_root("../outside/secret.txt")


@pytest.mark.parametrize("relative", ["../outside/secret.txt", "..", "data/../../outside/secret.txt", "../root2"])
def test_resolve_in_root_refuses_parent(root, relative):
    with pytest.raises(PathOutsideRootError):
        sources.resolve_in_root(relative, root)


def test_resolve_in_root_refuses_absolute_elsewhere(root):
    with pytest.raises(PathOutsideRootError):
        sources.resolve_in_root(str(root.parent / "outside" / "secret.txt"), root)
    with pytest.raises(PathOutsideRootError):
        sources.resolve_in_root("/etc/passwd", root)


def test_resolve_in_root_refuses_sibling_with_common_prefix(root):
    sibling = root.parent / (root.name + "-other")
    sibling.mkdir()
    (sibling / "f.txt").write_text("x")
    with pytest.raises(PathOutsideRootError):
        sources.resolve_in_root(str(sibling / "f.txt"), root)


def test_resolve_in_root_refuses_symlink_out(root):
    (root / "link.txt").symlink_to(root.parent / "outside" / "secret.txt")
    (root / "linkdir").symlink_to(root.parent / "outside", target_is_directory=True)
    with pytest.raises(PathOutsideRootError):
        sources.resolve_in_root("link.txt", root)
    with pytest.raises(PathOutsideRootError):
        sources.resolve_in_root("linkdir/model.pt", root)
    # A link that stays inside the root is fine.
    (root / "inner").symlink_to(root / "data" / "a.h5ad")
    assert sources.resolve_in_root("inner", root) == (root / "data" / "a.h5ad").resolve()
    assert (root.parent / "outside" / "secret.txt").read_text() == "secret"


def test_resolve_in_root_missing(root):
    with pytest.raises(FileNotFoundError):
        sources.resolve_in_root("data/missing.h5ad", root)
    # Outside and missing: the confinement error wins (no probing outside the root).
    with pytest.raises(PathOutsideRootError):
        sources.resolve_in_root("../nowhere.h5ad", root)


# ----------------------------------------------------------------- listings


def test_list_model_dirs_and_h5ad_files(root):
    (root / "models" / "second" / "nested").mkdir(parents=True)
    (root / "models" / "second" / "nested" / "model.pt").write_bytes(FAKE_MODEL)
    (root / "models" / "second" / "nested" / "adata.h5ad").write_bytes(FAKE_H5AD)
    (root / ".hidden").mkdir()
    (root / ".hidden" / "model.pt").write_bytes(FAKE_MODEL)
    (root / ".hidden" / "x.h5ad").write_bytes(FAKE_H5AD)
    (root / "data" / ".cache").mkdir()
    (root / "data" / ".cache" / "y.h5ad").write_bytes(FAKE_H5AD)
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "model.pt").write_bytes(FAKE_MODEL)
    (root / "data" / "notes.txt").write_text("not data")
    (root / "data" / "b.h5ad.bak").write_bytes(FAKE_H5AD)
    (root / "data" / "0.h5ad").write_bytes(FAKE_H5AD)
    before = snapshot(root)

    assert sorted(sources.list_model_dirs(root)) == ["models/pbmc", "models/second/nested"]
    assert sorted(sources.list_h5ad_files(root)) == ["data/0.h5ad", "data/a.h5ad", "models/second/nested/adata.h5ad"]
    assert snapshot(root) == before


def test_list_model_dir_at_root(tmp_path):
    (tmp_path / "model.pt").write_bytes(FAKE_MODEL)
    assert sources.list_model_dirs(tmp_path) == ["."]


def test_listings_default_to_data_root(root, monkeypatch):
    monkeypatch.setenv("SCVI_VIZ_DATA_DIR", str(root))
    assert sources.list_model_dirs() == ["models/pbmc"]
    assert sources.list_h5ad_files() == ["data/a.h5ad"]


def test_listings_depth_limit(tmp_path):
    deep = tmp_path / "1" / "2" / "3" / "4"
    deep.mkdir(parents=True)
    (deep / "model.pt").write_bytes(FAKE_MODEL)
    (deep / "5").mkdir()
    (deep / "5" / "model.pt").write_bytes(FAKE_MODEL)
    assert sources.list_model_dirs(tmp_path) == ["1/2/3/4"]


def test_listings_do_not_follow_symlinked_dirs(root):
    (root / "escape").symlink_to(root.parent / "outside", target_is_directory=True)
    assert "escape" not in sources.list_model_dirs(root)


# ------------------------------------------------------------------ uploads


@pytest.fixture()
def dest(tmp_path, monkeypatch) -> Path:
    """The temporary folder uploads get their fresh private folders in (empty again after a refusal)."""
    d = tmp_path / "a" / "b" / "dest"
    d.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


def test_unpack_zipped_model_folder(dest):
    data = zip_bytes({"my_model/": b"", "my_model/model.pt": FAKE_MODEL, "my_model/adata.h5ad": FAKE_H5AD,
                      "my_model/notes.txt": b"ignored"})
    original = bytes(data)
    out = sources.unpack_model_upload("my_model.zip", data)
    assert out.parent == dest
    assert sorted(p.name for p in out.iterdir()) == ["adata.h5ad", "model.pt"]
    assert (out / "model.pt").read_bytes() == FAKE_MODEL
    assert (out / "adata.h5ad").read_bytes() == FAKE_H5AD
    assert data == original


def test_unpack_zip_model_only_at_top_level(dest):
    out = sources.unpack_model_upload("m.zip", zip_bytes({"model.pt": FAKE_MODEL}))
    assert [p.name for p in out.iterdir()] == ["model.pt"]


def test_unpack_bare_model_pt(dest):
    # torch's zip format starts with PK: a .pt name must not be treated as a ZIP archive.
    data = bytearray(FAKE_MODEL)
    out = sources.unpack_model_upload("model.pt", data)
    assert [p.name for p in out.iterdir()] == ["model.pt"]
    assert (out / "model.pt").read_bytes() == FAKE_MODEL
    assert bytes(data) == FAKE_MODEL
    out2 = sources.unpack_model_upload("pbmc_scvi.pt", b"\x80\x02legacy pickle")
    assert (out2 / "model.pt").read_bytes() == b"\x80\x02legacy pickle"


def test_unpack_real_demo_model_file(dest):
    data = (sources.DEMO_MODEL / "model.pt").read_bytes()
    out = sources.unpack_model_upload("model.pt", data)
    assert (out / "model.pt").read_bytes() == data


def test_unpack_default_dest_is_fresh_private_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    a = sources.unpack_model_upload("model.pt", FAKE_MODEL)
    b = sources.unpack_model_upload("model.pt", FAKE_MODEL)
    assert a != b
    for d in (a, b):
        assert d.parent == tmp_path and d.name.startswith("scvi-viz-upload-")
        assert (d / "model.pt").read_bytes() == FAKE_MODEL
        assert (d.stat().st_mode & 0o077) == 0  # mkdtemp: only the owner can read it


@pytest.mark.parametrize(
    "members",
    [
        {"folder/adata.h5ad": FAKE_H5AD, "folder/params.json": b"{}"},
        {"a/model.pt": FAKE_MODEL, "b/model.pt": FAKE_MODEL},
        {"model.pt/": b""},
        {"model.pt.bak": FAKE_MODEL},
    ],
)
def test_unpack_zip_without_exactly_one_model(dest, members):
    with pytest.raises(UploadError, match="model.pt"):
        sources.unpack_model_upload("upload.zip", zip_bytes(members))
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize(
    "evil",
    ["../../evil/model.pt", "../../../../../../../../tmp/evil/model.pt", "/tmp/evil-abs/model.pt", "./../model.pt"],
)
def test_unpack_zip_path_traversal_stays_in_dest(tmp_path, dest, evil):
    before = snapshot(tmp_path)
    tmp_root_before = set(os.listdir(tempfile.gettempdir()))
    data = zip_bytes({evil: FAKE_MODEL, "../adata.h5ad": FAKE_H5AD})
    out = sources.unpack_model_upload("evil.zip", data)
    assert out.parent == dest
    after = snapshot(tmp_path)
    new = {k: v for k, v in after.items() if k not in before}
    assert set(new) == {f"a/b/dest/{out.name}/model.pt", f"a/b/dest/{out.name}/adata.h5ad"}
    assert (out / "model.pt").read_bytes() == FAKE_MODEL
    assert not (tmp_path / "evil").exists() and not (tmp_path / "a" / "evil").exists()
    assert not (tmp_path / "a" / "adata.h5ad").exists() and not (tmp_path / "a" / "b" / "adata.h5ad").exists()
    created_in_tmp = set(os.listdir(tempfile.gettempdir())) - tmp_root_before
    assert not created_in_tmp & {"evil", "evil-abs"}


@pytest.mark.parametrize(
    ("name", "data", "match"),
    [
        ("model.txt", b"hello", "neither"),
        ("model.zip", b"not a zip file", "neither"),
        ("adata.h5ad", FAKE_H5AD, "neither"),
        ("model.zip", b"PK\x03\x04 corrupted", "not a valid ZIP"),
        ("model.pt", b"", "empty"),
        ("model.zip", b"", "empty"),
    ],
)
def test_unpack_errors(dest, name, data, match):
    with pytest.raises(UploadError, match=match):
        sources.unpack_model_upload(name, data)
    assert list(dest.iterdir()) == []


def test_unpack_too_large(dest, monkeypatch):
    monkeypatch.setattr(sources, "MAX_UPLOAD_BYTES", 16)
    with pytest.raises(UploadError, match="limited"):
        sources.unpack_model_upload("model.pt", FAKE_MODEL)
    assert list(dest.iterdir()) == []


def test_unpack_zip_member_too_large(dest, monkeypatch):
    data = zip_bytes({"m/model.pt": b"\x00" * 10_000}, zipfile.ZIP_DEFLATED)  # compresses far below its size
    monkeypatch.setattr(sources, "MAX_UPLOAD_BYTES", 5_000)
    assert len(data) < 5_000
    with pytest.raises(UploadError, match="too large"):
        sources.unpack_model_upload("m.zip", data)


def test_save_h5ad_upload(tmp_path, dest):
    src = tmp_path / "small.h5ad"
    anndata.AnnData(X=np.eye(3, dtype=np.float32)).write_h5ad(src)
    data = src.read_bytes()
    mtime = src.stat().st_mtime_ns
    path = sources.save_h5ad_upload("my data.h5ad", data)
    assert path.parent.parent == dest and path.name == "data.h5ad"
    assert path.read_bytes() == data
    assert src.read_bytes() == data and src.stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(anndata.read_h5ad(path).X, np.eye(3))


def test_save_h5ad_upload_default_dest(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = sources.save_h5ad_upload("x.h5ad", FAKE_H5AD)
    assert path.parent.parent == tmp_path and path.name == "data.h5ad"
    assert path.read_bytes() == FAKE_H5AD


@pytest.mark.parametrize("data", [b"AnnData? no", b"PK\x03\x04zip", b"\x89PNG\r\n\x1a\n", b"\x89HDF"])
def test_save_h5ad_upload_rejects_non_hdf5(dest, data):
    with pytest.raises(UploadError, match="not HDF5"):
        sources.save_h5ad_upload("x.h5ad", data)
    assert list(dest.iterdir()) == []


def test_save_h5ad_upload_rejects_empty(dest):
    with pytest.raises(UploadError, match="empty"):
        sources.save_h5ad_upload("x.h5ad", b"")


# ------------------------------------------------------------- upload folders' lifetime
@pytest.fixture
def tmp_root(monkeypatch, tmp_path) -> Path:
    """The temporary-files folder, here a test folder."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def upload_folders(root: Path) -> list[Path]:
    return sorted(root.glob(f"{sources.UPLOAD_PREFIX}*"))


@pytest.mark.parametrize("name, data", [("model.zip", b"PK\x03\x04 corrupted"), ("m.zip", zip_bytes({"x.txt": b"1"})),
                                        ("adata.h5ad", FAKE_H5AD)])
def test_refused_model_upload_leaves_no_folder(tmp_root, name, data):
    with pytest.raises(UploadError):
        sources.unpack_model_upload(name, data)
    assert upload_folders(tmp_root) == []


def test_remove_upload_folder_only_removes_upload_folders(tmp_root):
    folder = sources.unpack_model_upload("model.pt", FAKE_MODEL)
    other = tmp_root / "results"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    sources.remove_upload_folder(other)
    sources.remove_upload_folder(tmp_root)
    assert (other / "keep.txt").read_text() == "mine"
    sources.remove_upload_folder(folder)
    assert not folder.exists()


class FakeUpload:
    """What Streamlit's file uploader returns, as far as the app uses it."""

    def __init__(self, name: str, data: bytes):
        self.name, self.file_id, self._data = name, f"{name}-{id(self)}", data

    def getvalue(self) -> bytes:
        return self._data


def test_session_uploads_are_removed_when_replaced_or_dropped(tmp_root):
    import gc

    from scvi_viz.io.sources import SessionUploads

    uploads = SessionUploads()
    model, data = FakeUpload("model.pt", FAKE_MODEL), FakeUpload("cells.h5ad", FAKE_H5AD)
    first = uploads.unpacked(model, data)
    assert uploads.unpacked(model, data) == first  # written once per pair of uploads
    assert Path(first[0], "model.pt").read_bytes() == FAKE_MODEL and Path(first[1]).read_bytes() == FAKE_H5AD
    assert len(upload_folders(tmp_root)) == 2

    # A refused data file: the new model's folder goes, the current upload stays.
    with pytest.raises(UploadError):
        uploads.unpacked(FakeUpload("model.pt", FAKE_MODEL), FakeUpload("cells.h5ad", b"not hdf5"))
    assert uploads.unpacked(model, data) == first and len(upload_folders(tmp_root)) == 2

    second = uploads.unpacked(model, FakeUpload("other.h5ad", FAKE_H5AD))
    assert second != first and len(upload_folders(tmp_root)) == 2
    assert not Path(first[0]).exists() and Path(second[0], "model.pt").exists()

    del uploads  # as when Streamlit drops an ended session's state
    gc.collect()
    assert upload_folders(tmp_root) == []
