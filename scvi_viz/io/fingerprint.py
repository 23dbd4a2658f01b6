"""Content hashes of users' files and folders, remembered by their size and modification time.

The prepared cache (:mod:`scvi_viz.analysis.prepare`) is keyed by the SHA-256 of the model and
the data. Hashing a data file of several GB takes seconds, so each file's hash is kept in a memo
in the cache folder, keyed by its path, size, modification time and inode: a file that changes
in any of these is hashed again. Files are only read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from pathlib import Path

from scvi_viz.io.zarr_files import store_files

MEMO_NAME = "content-hashes.json"
MEMO_ENTRIES = 10_000
"""Hashes the memo keeps (the oldest are forgotten first)."""
MAX_MEMO_BYTES = 8 * 1024**2
"""A larger memo is not read (10,000 entries take about 2 MB)."""
_HEX = re.compile(r"[0-9a-f]{64}")
_LOCK = threading.Lock()


def _stat_key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _read_memo(memo: Path) -> dict[str, str]:
    """The memo's entries, as far as they are hashes (64 hex digits: a value is used in cache folder
    names); a memo that is a link, too large or not such a mapping counts as empty."""
    try:
        if memo.is_symlink() or memo.stat().st_size > MAX_MEMO_BYTES:
            return {}
        data = json.loads(memo.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str) and _HEX.fullmatch(v)}


def _write_memo(memo: Path, entries: dict[str, str]) -> None:
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=memo.parent, prefix=".hashes-", suffix=".tmp", delete=False,
                                         encoding="utf-8") as handle:
            json.dump(entries, handle)
        os.replace(handle.name, memo)
    except OSError:
        pass  # without a writable memo the hash is computed again next time


def content_sha256(path: str | Path, memo_dir: Path | None = None) -> str:
    """SHA-256 of a file's bytes, or of a folder's files (relative paths and contents, in sorted order).

    Parameters
    ----------
    path
        A file (``.h5ad``, ``model.pt``) or a folder (a ``.zarr`` store).
    memo_dir
        Folder of the memo of hashes already computed; ``None`` hashes every time.
    """
    path = Path(path)
    # A store's own files only: a link inside it, read here, would be read wherever it points.
    files = [path] if path.is_file() else store_files(path)
    memo = _read_memo(memo_dir / MEMO_NAME) if memo_dir is not None else {}
    fresh = {}
    digests = []
    for file in files:
        key = _stat_key(file)
        digest = memo.get(key) or _file_sha256(file)
        fresh[key] = digest
        digests.append(digest if path.is_file() else f"{file.relative_to(path).as_posix()}:{digest}")
    if memo_dir is not None and any(k not in memo for k in fresh):
        with _LOCK:
            current = _read_memo(memo_dir / MEMO_NAME)
            current.update(fresh)
            _write_memo(memo_dir / MEMO_NAME, dict(list(current.items())[-MEMO_ENTRIES:]))
    if path.is_file():
        return digests[0]
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()
