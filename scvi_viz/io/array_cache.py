"""scvi-viz's own cache files: arrays in ``.npz`` files with a digest, written atomically.

Only plain numeric arrays are stored (``allow_pickle=False`` both ways), each file through a
temporary file in the same folder that is renamed into place, so another session or worker never
sees half a file. A file is used only if every array has the expected shape and dtype, is finite
and matches the stored digest; anything else counts as missing and is computed again.
"""

from __future__ import annotations

import hashlib
import os
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
                np.savez(handle, **arrays, _digest=np.frombuffer(_digest(arrays), np.uint8))
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


def read_arrays(path: Path, expected: Mapping[str, tuple[tuple[int, ...], str]]) -> dict[str, np.ndarray] | None:
    """The arrays stored at ``path``, or ``None`` if it is missing, damaged or not what ``expected`` says.

    Parameters
    ----------
    expected
        Array name -> ``(shape, dtype)``; every one must be there as that, finite.
    """
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in expected}
            digest = stored["_digest"]
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error):
        return None
    for name, (shape, dtype) in expected.items():
        a = arrays[name]
        if a.shape != tuple(shape) or a.dtype != np.dtype(dtype) or (a.dtype.kind == "f" and not np.isfinite(a).all()):
            return None
    return arrays if digest.tobytes() == _digest(arrays) else None
