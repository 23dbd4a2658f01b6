"""Symlinked files cannot leave the data root; uploads never overwrite; every archive failure is an UploadError."""

from __future__ import annotations

import inspect
import io
import struct
import tempfile
import zipfile
from pathlib import Path

import pytest

from scvi_viz.io import sources
from scvi_viz.io.sources import PathOutsideRootError, UploadError

MODEL = b"PK\x03\x04" + b"fake torch zip" * 10
H5AD = b"\x89HDF\r\n\x1a\n" + b"fake hdf5" * 10


@pytest.fixture()
def uploads(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def zipped(members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_symlinked_model_file_to_outside_is_refused(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "m").mkdir(parents=True)
    outside.mkdir()
    (outside / "model.pt").write_bytes(MODEL)
    (root / "m" / "model.pt").symlink_to(outside / "model.pt")
    with pytest.raises(PathOutsideRootError, match="outside the data root"):
        sources.resolve_in_root("m", root)
    with pytest.raises(PathOutsideRootError):
        sources.resolve_in_root("m/model.pt", root)
    # A link that stays inside the root is fine.
    (root / "real").mkdir()
    (root / "real" / "model.pt").write_bytes(MODEL)
    (root / "m" / "model.pt").unlink()
    (root / "m" / "model.pt").symlink_to(root / "real" / "model.pt")
    assert sources.resolve_in_root("m", root) == (root / "m").resolve()


def test_nul_in_path_is_refused(tmp_path):
    with pytest.raises(PathOutsideRootError, match="NUL"):
        sources.resolve_in_root("a\0b", tmp_path)


def test_uploads_take_no_destination():
    """Uploads go to a fresh private folder only: there is no parameter that could point them at a user's files."""
    assert "dest" not in inspect.signature(sources.unpack_model_upload).parameters
    assert "dest" not in inspect.signature(sources.save_h5ad_upload).parameters


def test_a_second_upload_leaves_the_first_untouched(uploads):
    first = sources.unpack_model_upload("model.pt", MODEL)
    second = sources.unpack_model_upload("model.pt", b"PK\x03\x04 another")
    assert first != second and (first / "model.pt").read_bytes() == MODEL


def test_nul_in_a_member_name_is_cut_there_and_nothing_else_is_written(uploads):
    # zipfile itself ends a name at a NUL; only the one model.pt is unpacked.
    out = sources.unpack_model_upload("upload.zip", zipped({"m/model.pt": MODEL, "a\0/../../b": b"y"}))
    assert [p.name for p in out.iterdir()] == ["model.pt"] and (out / "model.pt").read_bytes() == MODEL
    with pytest.raises(UploadError, match="exactly one model.pt"):
        sources.unpack_model_upload("upload.zip", zipped({"m/model.pt": MODEL, "model.pt\0/../../x": b"x"}))


def _flip_central(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    data = bytearray(data)
    for sig, off in ((b"PK\x01\x02", offset), (b"PK\x03\x04", offset - 2)):
        pos = data.find(sig)
        while pos >= 0:
            data[pos + off : pos + off + struct.calcsize(fmt)] = struct.pack(fmt, value)
            pos = data.find(sig, pos + 4)
    return bytes(data)


def _bad_crc() -> bytes:
    data = bytearray(zipped({"m/model.pt": b"x" * 200}))
    pos = data.find(b"x" * 200)
    data[pos] = ord("y")
    return bytes(data)


def _deflate_corrupt() -> bytes:
    data = bytearray(zipped({"m/model.pt": bytes(range(256)) * 40}, zipfile.ZIP_DEFLATED))
    data[40:80] = b"\xff" * 40
    return bytes(data)


def _lying_size() -> bytes:
    # 50 MB of zeros that declare 100 bytes: stops at the declared size, then the CRC is wrong.
    return _flip_central(zipped({"m/model.pt": b"\0" * (50 * 1024**2)}, zipfile.ZIP_DEFLATED), 24, "<I", 100)


BAD_ARCHIVES = {
    "bad_crc": _bad_crc(),
    "corrupt_deflate": _deflate_corrupt(),
    "encrypted": _flip_central(zipped({"m/model.pt": MODEL}), 8, "<H", 1),
    "unknown_compression": _flip_central(zipped({"m/model.pt": MODEL}), 10, "<H", 99),
    "very_long_name": zipped({"m/model.pt": MODEL, "d/" * 600 + "x": b"x"}),
    "two_datasets": zipped({"m/model.pt": MODEL, "m/adata.h5ad": H5AD, "n/adata.h5ad": H5AD}),
    "lying_size": _lying_size(),
}


@pytest.mark.parametrize("kind", list(BAD_ARCHIVES))
def test_bad_archive_is_an_upload_error_and_leaves_nothing(uploads, kind):
    with pytest.raises(UploadError) as info:
        sources.unpack_model_upload("upload.zip", BAD_ARCHIVES[kind])
    assert len(str(info.value)) > 30
    assert list(uploads.iterdir()) == []


def test_too_many_members(uploads, monkeypatch):
    monkeypatch.setattr(sources, "MAX_ARCHIVE_MEMBERS", 5)
    data = zipped({"m/model.pt": MODEL, **{f"m/{i}.txt": b"" for i in range(5)}})
    with pytest.raises(UploadError, match="at most 5"):
        sources.unpack_model_upload("upload.zip", data)
    assert list(uploads.iterdir()) == []


def test_total_inflated_size_is_capped_while_inflating(uploads, monkeypatch):
    monkeypatch.setattr(sources, "MAX_UPLOAD_BYTES", 3 * 1024**2)
    # Each member declares under the cap; together they inflate past it.
    data = zipped({"m/model.pt": b"\0" * (2 * 1024**2), "m/adata.h5ad": b"\0" * (2 * 1024**2)}, zipfile.ZIP_DEFLATED)
    assert len(data) < 100_000
    with pytest.raises(UploadError, match="too large|more than"):
        sources.unpack_model_upload("upload.zip", data)
    assert list(uploads.iterdir()) == []


def test_a_path_too_long_for_the_file_system_is_refused_in_words(tmp_path):
    with pytest.raises(PathOutsideRootError, match="not a path this server can open"):
        sources.resolve_in_root("a" * 5000, tmp_path)
    with pytest.raises(PathOutsideRootError, match="not a path this server can open"):
        sources.resolve_in_root("/".join(["b" * 200] * 30), tmp_path)
