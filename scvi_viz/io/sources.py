"""Where models and data come from: the built-in demo, a data root on the server, uploads.

Nothing here writes outside scvi-viz's own folders: uploads are unpacked into a fresh
private temporary folder (removed again if the upload is refused), never over an existing
file, and files under the data root are only read; a file is opened only if its real path
(symlinks resolved) is inside the root.

Caps on uploads: each file at most :data:`MAX_UPLOAD_BYTES`; a ZIP at most
:data:`MAX_ARCHIVE_MEMBERS` members, one ``model.pt`` and at most one ``adata.h5ad``
unpacked, at most :data:`MAX_UPLOAD_BYTES` inflated in all (counted as they inflate, not as
the archive declares), member names at most 1,000 characters without NUL.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import weakref
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from scvi_viz.errors import ScviVizError

DEMO_DIR = Path(__file__).resolve().parents[1] / "demo"
DEMO_MODEL = DEMO_DIR / "model"
DEMO_DATA = DEMO_DIR / "pbmc68k.h5ad"
MAX_UPLOAD_BYTES = 2 * 1024**3
MAX_ARCHIVE_MEMBERS = 10_000
UPLOAD_PREFIX = "scvi-viz-upload-"
_MAX_DEPTH = 4


class PathOutsideRootError(ScviVizError):
    """A path that leaves the data root (``..``, an absolute path elsewhere, a symlink out), or that the server
    cannot open as a path at all (a name longer than its file system allows)."""


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


DATA_DIR_ENV = "SCVI_VIZ_DATA_DIR"
OPEN_MODEL_ENV = "SCVI_VIZ_OPEN_MODEL"
OPEN_DATA_ENV = "SCVI_VIZ_OPEN_DATA"
"""The model folder and data, relative to the data root, that a new session opens first
(``scvi-viz launch MODEL_DIR DATA`` sets them); a link's files come before them."""


def data_root() -> Path:
    """The folder server-side files are picked from: ``$SCVI_VIZ_DATA_DIR`` or the current folder."""
    return Path(os.environ.get(DATA_DIR_ENV) or os.getcwd()).resolve()


def files_to_open() -> tuple[str, str] | None:
    """The model folder and data a new session opens first (:data:`OPEN_MODEL_ENV`,
    :data:`OPEN_DATA_ENV`), relative to the data root; ``None`` when they are not both set."""
    model, data = os.environ.get(OPEN_MODEL_ENV, "").strip(), os.environ.get(OPEN_DATA_ENV, "").strip()
    return (model, data) if model and data else None


def resolve_in_root(relative: str | Path, root: Path | None = None) -> Path:
    """``root / relative`` with symlinks resolved, refused unless it stays inside ``root``.

    For a folder, the model files in it that :func:`~scvi_viz.io.model_file.resolve_model_file`
    may read (``*model.pt``) are resolved and checked too: a ``model.pt`` that links outside
    the root is refused.

    Raises
    ------
    PathOutsideRootError
        If the path, or the model file in the folder, resolves outside the root.
    FileNotFoundError
        If it does not exist.
    """
    root = (root or data_root()).resolve()
    if "\0" in str(relative):
        raise PathOutsideRootError(f"{str(relative)[:80]!r} is not a valid path (it contains a NUL character).")
    try:
        path = _inside(root / relative, root, relative)
        exists = path.exists()
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise PathOutsideRootError(f"{str(relative)[:80]!r}… is not a path this server can open ({exc.strerror}).") from exc
    if not exists:
        raise FileNotFoundError(f"{relative} does not exist under the data root {root}.")
    if path.is_dir():
        for model_file in path.glob("*model.pt"):
            _inside(model_file, root, Path(relative) / model_file.name)
    return path


def _inside(path: Path, root: Path, shown: str | Path) -> Path:
    resolved = path.resolve()
    if resolved != root and root not in resolved.parents:
        raise PathOutsideRootError(
            f"{shown} is outside the data root {root}"
            + (f" ({path.name} links to {resolved})" if resolved.name != path.name or path.is_symlink() else "")
            + ". Only files under the data root can be opened; start the app with SCVI_VIZ_DATA_DIR set to "
            "the folder that holds your models and data."
        )
    return resolved


def _walk(root: Path, stores: list[Path] | None = None):
    """Folders under ``root`` and their files; ``.zarr`` stores are not entered (they go in ``stores``)."""
    root_depth = len(root.parts)
    for current, dirs, files in os.walk(root):
        depth = len(Path(current).parts) - root_depth
        if stores is not None:
            stores.extend(Path(current) / d for d in dirs if d.endswith(".zarr"))
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__" and not d.endswith(".zarr")) \
            if depth < _MAX_DEPTH else []
        yield Path(current), files


def list_model_dirs(root: Path | None = None) -> list[str]:
    """Folders under ``root`` that hold a ``model.pt``, relative to ``root``."""
    root = (root or data_root()).resolve()
    return [str(d.relative_to(root)) or "." for d, files in _walk(root) if "model.pt" in files]


def list_h5ad_files(root: Path | None = None) -> list[str]:
    """``.h5ad`` files and ``.zarr`` stores under ``root``, relative to ``root``."""
    root = (root or data_root()).resolve()
    stores: list[Path] = []
    files = [str((d / f).relative_to(root)) for d, names in _walk(root, stores) for f in sorted(names) if f.endswith(".h5ad")]
    return files + sorted(str(s.relative_to(root)) for s in stores)


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
def _upload_folder() -> Iterator[Path]:
    """A new private temporary folder, removed again if the block fails."""
    folder = Path(tempfile.mkdtemp(prefix=UPLOAD_PREFIX))
    try:
        yield folder
    except BaseException:
        remove_upload_folder(folder)
        raise


def _write_new(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, which must not exist yet (nothing is ever written over)."""
    with open(path, "xb") as handle:
        handle.write(data)


def unpack_model_upload(name: str, data: bytes) -> Path:
    """Write an uploaded model into a new private folder and return that folder.

    Parameters
    ----------
    name
        The uploaded file's name (``.zip`` of a ``model.save`` folder, or ``model.pt``).
    data
        Its bytes.

    The folder is new (``tempfile.mkdtemp``, readable by its owner only) and removed again if
    the upload is refused; see :func:`remove_upload_folder` for removing it later.

    Raises
    ------
    UploadError
        If it is neither, the ZIP is damaged, encrypted, too large or has no (or several)
        ``model.pt``.
    """
    _check_size(data, name)
    with _upload_folder() as folder:
        return _unpack_model(name, data, folder)


_ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, RuntimeError, NotImplementedError, EOFError, ValueError, OverflowError)


def _unpack_model(name: str, data: bytes, dest: Path) -> Path:
    if data[:2] == b"PK" and not name.endswith(".pt"):
        try:
            _unpack_zip(name, data, dest)
        except UploadError:
            raise
        except _ARCHIVE_ERRORS as exc:
            raise UploadError(
                f"{name} could not be unpacked ({type(exc).__name__}: {str(exc)[:120]}): it is damaged, encrypted "
                "or uses a compression other than deflate. Zip the model folder again with a standard ZIP tool."
            ) from exc
        return dest
    if name.endswith(".pt"):
        _write_new(dest / "model.pt", data)
        return dest
    raise UploadError(f"{name} is neither a .zip of a saved model folder nor a model.pt.")


def _unpack_zip(name: str, data: bytes, dest: Path) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise UploadError(f"{name} is not a valid ZIP file.") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ARCHIVE_MEMBERS:
            raise UploadError(f"{name} has {len(infos):,} files; a model folder's ZIP has at most {MAX_ARCHIVE_MEMBERS:,}.")
        for info in infos:
            if len(info.filename) > 1000 or "\0" in info.filename:
                raise UploadError(f"{name} has a file name that is too long or contains NUL characters; zip the folder again.")
        wanted = [m for m in infos if Path(m.filename).name in ("model.pt", "adata.h5ad") and not m.is_dir()]
        models = [m for m in wanted if Path(m.filename).name == "model.pt"]
        datasets = [m for m in wanted if Path(m.filename).name == "adata.h5ad"]
        if len(models) != 1:
            raise UploadError(
                f"{name} should contain exactly one model.pt (the folder written by model.save(dir), zipped); "
                f"it has {len(models)}."
            )
        if len(datasets) > 1:
            raise UploadError(f"{name} has {len(datasets)} adata.h5ad files; zip one model folder (one model.pt, at most one adata.h5ad).")
        budget = MAX_UPLOAD_BYTES
        for member in models + datasets:
            if member.file_size > budget:
                raise UploadError(f"{member.filename[:80]} in {name} is too large to unpack (uploads unpack to {MAX_UPLOAD_BYTES / 1e9:.0f} GB at most).")
            # Only the base name is used, so no member can write outside ``dest``; read in
            # blocks, so a member that inflates past what it declares stops at the budget.
            with archive.open(member) as src, open(dest / Path(member.filename).name, "xb") as out:
                while block := src.read(1 << 20):
                    budget -= len(block)
                    if budget < 0:
                        raise UploadError(f"{name} unpacks to more than {MAX_UPLOAD_BYTES / 1e9:.0f} GB; uploads are limited to that.")
                    out.write(block)


def save_h5ad_upload(name: str, data: bytes) -> Path:
    """Write an uploaded ``.h5ad`` into a new private folder and return its path.

    Raises
    ------
    UploadError
        If it is not an HDF5 file or is too large.
    """
    _check_size(data, name)
    if not data.startswith(b"\x89HDF\r\n\x1a\n"):
        raise UploadError(f"{name} is not an .h5ad file (it is not HDF5). Save your data with adata.write_h5ad().")
    with _upload_folder() as folder:
        path = folder / "data.h5ad"
        _write_new(path, data)
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
