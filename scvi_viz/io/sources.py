"""Where models and data come from: the built-in demo, a data root on the server, uploads.

Nothing here writes outside scvi-viz's own folders: uploads are unpacked into a fresh
temporary folder (removed again if the upload is refused), and files under the data root are
only read.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import weakref
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from scvi_viz.errors import ScviVizError

DEMO_DIR = Path(__file__).resolve().parents[1] / "demo"
DEMO_MODEL = DEMO_DIR / "model"
DEMO_DATA = DEMO_DIR / "pbmc68k.h5ad"
MAX_UPLOAD_BYTES = 2 * 1024**3
UPLOAD_PREFIX = "scvi-viz-upload-"
_MAX_DEPTH = 4


class PathOutsideRootError(ScviVizError):
    """A path that leaves the data root (``..``, an absolute path elsewhere, a symlink out)."""


class UploadError(ScviVizError):
    """An uploaded file that is not a model archive, ``model.pt`` or ``.h5ad``."""


def file_stamp(*paths: str | Path) -> tuple[tuple[str, int, int], ...]:
    """Name, size and modification time of each file (of a folder's files): changes when a file does.

    Caches of opened models and data are keyed by it, so a file replaced on disk is read again.
    """
    out = []
    for p in paths:
        p = Path(p)
        for f in sorted(p.glob("*")) if p.is_dir() else [p]:
            stat = f.stat()
            out.append((str(f), stat.st_size, stat.st_mtime_ns))
    return tuple(out)


def data_root() -> Path:
    """The folder server-side files are picked from: ``$SCVI_VIZ_DATA_DIR`` or the current folder."""
    return Path(os.environ.get("SCVI_VIZ_DATA_DIR") or os.getcwd()).resolve()


def resolve_in_root(relative: str | Path, root: Path | None = None) -> Path:
    """``root / relative`` with symlinks resolved, refused unless it stays inside ``root``.

    Raises
    ------
    PathOutsideRootError
        If the path resolves outside the root.
    FileNotFoundError
        If it does not exist.
    """
    root = (root or data_root()).resolve()
    path = (root / relative).resolve()
    if path != root and root not in path.parents:
        raise PathOutsideRootError(
            f"{relative} is outside the data root {root}. Only files under the data root can be opened; "
            "start the app with SCVI_VIZ_DATA_DIR set to the folder that holds your models and data."
        )
    if not path.exists():
        raise FileNotFoundError(f"{relative} does not exist under the data root {root}.")
    return path


def _walk(root: Path):
    root_depth = len(root.parts)
    for current, dirs, files in os.walk(root):
        depth = len(Path(current).parts) - root_depth
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__") if depth < _MAX_DEPTH else []
        yield Path(current), files


def list_model_dirs(root: Path | None = None) -> list[str]:
    """Folders under ``root`` that hold a ``model.pt``, relative to ``root``."""
    root = (root or data_root()).resolve()
    return [str(d.relative_to(root)) or "." for d, files in _walk(root) if "model.pt" in files]


def list_h5ad_files(root: Path | None = None) -> list[str]:
    """``.h5ad`` files under ``root``, relative to ``root``."""
    root = (root or data_root()).resolve()
    return [str((d / f).relative_to(root)) for d, files in _walk(root) for f in sorted(files) if f.endswith(".h5ad")]


def _check_size(data: bytes, name: str) -> None:
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(f"{name} is {len(data) / 1e9:.1f} GB; uploads are limited to {MAX_UPLOAD_BYTES / 1e9:.0f} GB.")
    if not data:
        raise UploadError(f"{name} is empty.")


def remove_upload_folder(folder: str | Path) -> None:
    """Delete a temporary folder that an upload was written to; any other path is left alone."""
    folder = Path(folder)
    if folder.name.startswith(UPLOAD_PREFIX) and folder.parent == Path(tempfile.gettempdir()):
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _upload_folder(dest: Path | None) -> Iterator[Path]:
    """``dest``, or a new private temporary folder that is removed again if the block fails."""
    if dest is not None:
        yield Path(dest)
        return
    folder = Path(tempfile.mkdtemp(prefix=UPLOAD_PREFIX))
    try:
        yield folder
    except BaseException:
        remove_upload_folder(folder)
        raise


def unpack_model_upload(name: str, data: bytes, dest: Path | None = None) -> Path:
    """Write an uploaded model into a new private folder and return that folder.

    Parameters
    ----------
    name
        The uploaded file's name (``.zip`` of a ``model.save`` folder, or ``model.pt``).
    data
        Its bytes.
    dest
        Folder to unpack into; default a new temporary folder, removed again if the upload is
        refused (see :func:`remove_upload_folder` for removing it later).

    Raises
    ------
    UploadError
        If it is neither, the ZIP has no ``model.pt``, or it is too large.
    """
    _check_size(data, name)
    with _upload_folder(dest) as folder:
        return _unpack_model(name, data, folder)


def _unpack_model(name: str, data: bytes, dest: Path) -> Path:
    if data[:2] == b"PK" and not name.endswith(".pt"):
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile as exc:
            raise UploadError(f"{name} is not a valid ZIP file.") from exc
        with archive:
            members = [m for m in archive.infolist() if Path(m.filename).name in ("model.pt", "adata.h5ad") and not m.is_dir()]
            models = [m for m in members if Path(m.filename).name == "model.pt"]
            if len(models) != 1:
                raise UploadError(
                    f"{name} should contain exactly one model.pt (the folder written by model.save(dir), zipped); "
                    f"it has {len(models)}."
                )
            for member in members:
                if member.file_size > MAX_UPLOAD_BYTES:
                    raise UploadError(f"{member.filename} in {name} is too large to unpack.")
                # Only the base name is used, so no member can write outside ``dest``.
                (dest / Path(member.filename).name).write_bytes(archive.read(member))
        return dest
    if name.endswith(".pt"):
        (dest / "model.pt").write_bytes(data)
        return dest
    raise UploadError(f"{name} is neither a .zip of a saved model folder nor a model.pt.")


def save_h5ad_upload(name: str, data: bytes, dest: Path | None = None) -> Path:
    """Write an uploaded ``.h5ad`` into a private folder and return its path.

    Raises
    ------
    UploadError
        If it is not an HDF5 file or is too large.
    """
    _check_size(data, name)
    if not data.startswith(b"\x89HDF\r\n\x1a\n"):
        raise UploadError(f"{name} is not an .h5ad file (it is not HDF5). Save your data with adata.write_h5ad().")
    with _upload_folder(dest) as folder:
        path = folder / "data.h5ad"
        path.write_bytes(data)
        return path


class UploadedFile(Protocol):
    """What an upload widget hands over (Streamlit's ``UploadedFile`` is one)."""

    file_id: str
    name: str

    def getvalue(self) -> bytes: ...


class SessionUploads:
    """One browser session's uploaded model and data, written to temporary folders.

    The folders are removed when a new upload replaces them, and when this object is
    garbage-collected (Streamlit drops a session's state when the session ends).
    """

    def __init__(self) -> None:
        self._key: tuple[str, str] | None = None
        self._paths = ("", "")
        self._folders: list[Path] = []
        weakref.finalize(self, _remove_upload_folders, self._folders)

    def unpacked(self, model_file: UploadedFile, data_file: UploadedFile) -> tuple[str, str]:
        """Paths of the model folder and ``.h5ad`` for these two uploads (written once).

        Raises
        ------
        UploadError
            If either upload is refused; nothing of it is left on disk then.
        """
        key = (model_file.file_id, data_file.file_id)
        if key != self._key:
            model_dir = unpack_model_upload(model_file.name, model_file.getvalue())
            try:
                data_path = save_h5ad_upload(data_file.name, data_file.getvalue())
            except BaseException:
                remove_upload_folder(model_dir)
                raise
            _remove_upload_folders(self._folders)
            self._folders[:] = [model_dir, data_path.parent]
            self._key, self._paths = key, (str(model_dir), str(data_path))
        return self._paths


def _remove_upload_folders(folders: list[Path]) -> None:
    for folder in folders:
        remove_upload_folder(folder)
    folders.clear()
