"""scvi-viz's own cache files: arrays in ``.npz`` files with a digest, written atomically.

Only plain numeric arrays are stored (``allow_pickle=False`` both ways), each file through a
temporary file in the same folder that is renamed into place, so another session or worker never
sees half a file. Each file names what it was computed from (its folder, whose name holds the
model's and the data's content hashes, and its own name), so a file copied or linked in from
another dataset's folder is not taken for this one. A cache file is read as warily as a user's:
a regular file, not a link; each array's header (shape and type) checked against what is expected
before its bytes are read; no member inflating to more than its array needs. A file is used only
if every array has the expected shape and dtype, is finite and matches the stored digest;
anything else counts as missing and is computed again.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import stat
import tempfile
import threading
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np


def default_cache_dir() -> Path:
    """Folder for computed results: ``$SCVI_VIZ_CACHE_DIR`` or ``~/.cache/scvi-viz``."""
    return Path(os.environ.get("SCVI_VIZ_CACHE_DIR") or Path.home() / ".cache" / "scvi-viz")


class CacheDirWarning(UserWarning):
    """The cache folder cannot be written; results are computed again each time the app starts."""


_WARNED: set[str] = set()
_WARNED_LOCK = threading.Lock()


def cache_dir_problem(cache_dir: Path) -> str | None:
    """Why ``cache_dir`` cannot be scvi-viz's cache, or ``None``: a symbolic link (the cache would
    write wherever it points), a folder of another user, or one that others can write to (they
    could put results there for the app to show), as ssh refuses such a folder for its keys."""
    try:
        info = cache_dir.lstat()
    except OSError:
        return None  # made on the first write, as this user's (or said then, when it cannot be)
    if stat.S_ISLNK(info.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISDIR(info.st_mode):
        return "it is not a folder"
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return "it belongs to another user"
    if info.st_mode & 0o022:
        return "other users can write to it (chmod go-w fixes that)"
    return None


_PRIVATE: list[Path] = []


def usable_cache_dir(cache_dir: Path) -> Path:
    """``cache_dir``, or, when :func:`cache_dir_problem` finds one, a private temporary folder of this
    process (results are then not kept between runs), with a :class:`CacheDirWarning` saying why."""
    problem = cache_dir_problem(cache_dir)
    if problem is None:
        return cache_dir
    with _WARNED_LOCK:
        if not _PRIVATE:
            _PRIVATE.append(Path(tempfile.mkdtemp(prefix="scvi-viz-cache-")))
            atexit.register(shutil.rmtree, _PRIVATE[0], ignore_errors=True)
        first = str(cache_dir) not in _WARNED
        _WARNED.add(str(cache_dir))
    if first:
        warnings.warn(f"The cache folder {cache_dir} is not used: {problem}. Results such as UMAPs are kept only "
                      "until the app stops. Set SCVI_VIZ_CACHE_DIR to a folder of your own.", CacheDirWarning,
                      stacklevel=2)
    return _PRIVATE[0]


def warn_unwritable(cache_dir: Path, exc: OSError) -> None:
    """Say once per folder and process that ``cache_dir`` cannot be written."""
    with _WARNED_LOCK:
        if str(cache_dir) in _WARNED:
            return
        _WARNED.add(str(cache_dir))
    warnings.warn(
        f"The cache folder {cache_dir} cannot be written ({exc.strerror or exc}); results such as UMAPs are "
        "computed without the disk cache. Set SCVI_VIZ_CACHE_DIR to a writable folder to keep them.",
        CacheDirWarning, stacklevel=3,
    )


def _digest(arrays: Mapping[str, np.ndarray]) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}{a.shape}{a.dtype}".encode())
        digest.update(a.tobytes())
    return digest.digest()


def write_arrays(path: Path, arrays: Mapping[str, np.ndarray]) -> bool:
    """Store ``arrays`` at ``path`` atomically; ``False`` (and a :class:`CacheDirWarning`) if the folder cannot be written."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{path.stem}-", suffix=".tmp", delete=False) as handle:
            tmp = Path(handle.name)
            try:
                np.savez(handle, **arrays, _digest=np.frombuffer(_digest(arrays), np.uint8),
                         _inputs=np.frombuffer(_inputs(path), np.uint8))
                handle.flush()
                os.fsync(handle.fileno())
            except BaseException:
                handle.close()
                tmp.unlink(missing_ok=True)
                raise
        os.replace(tmp, path)
    except OSError as exc:
        warn_unwritable(folder, exc)
        return False
    return True


MAX_TAG_BYTES = 4096
"""Largest ``_inputs`` tag read from a cache file."""


def _inputs(path: Path) -> bytes:
    """What a cache file at ``path`` was computed from: its folder (named by the model's and the
    data's hashes and the step's settings) and its own name."""
    return f"{path.parent.name}/{path.name}".encode()


def _member(archive: zipfile.ZipFile, name: str, shape: tuple[int, ...] | None, dtype: str) -> np.ndarray | None:
    """Array ``name`` of an ``.npz``, read only if its header says ``shape`` (any shape for ``None``)
    and ``dtype`` and the member inflates to exactly that many bytes."""
    try:
        info = archive.getinfo(f"{name}.npy")
    except KeyError:
        return None
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version not in ((1, 0), (2, 0), (3, 0)):
            return None
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        found_shape, fortran, found_dtype = read_header(member)
        if fortran or found_dtype != np.dtype(dtype) or (shape is not None and found_shape != tuple(shape)):
            return None
        if shape is None and (len(found_shape) != 1 or found_shape[0] > MAX_TAG_BYTES):
            return None
        size = int(np.prod(found_shape, dtype=np.int64)) * found_dtype.itemsize
        if info.file_size != member.tell() + size:
            return None  # the member would inflate to more (or less) than its array
        data = member.read(size)
    if len(data) != size:
        return None
    return np.frombuffer(data, dtype=found_dtype).reshape(found_shape).copy()


def read_arrays(path: Path, expected: Mapping[str, tuple[tuple[int, ...], str]]) -> dict[str, np.ndarray] | None:
    """The arrays stored at ``path``, or ``None`` if it is missing, damaged or not what ``expected`` says.

    Parameters
    ----------
    expected
        Array name -> ``(shape, dtype)``; every one must be there as that, finite.
    """
    if path.is_symlink() or not path.is_file():
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            arrays = {name: _member(archive, name, tuple(shape), dtype) for name, (shape, dtype) in expected.items()}
            digest = _member(archive, "_digest", (16,), "uint8")
            inputs = _member(archive, "_inputs", None, "uint8")
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError):
        return None
    if digest is None or inputs is None or inputs.tobytes() != _inputs(path) or any(a is None for a in arrays.values()):
        return None
    for a in arrays.values():
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            return None
    return arrays if digest.tobytes() == _digest(arrays) else None
