"""Read a ``torch.save`` zip archive without letting the file run code.

A scvi-tools ``model.pt`` is a pickle. A pickle can name any importable callable and make
the reader call it, which is how a crafted file runs ``os.system``. This reader resolves
only an allowlist of data constructors (tensor rebuild, numpy arrays and dtypes,
``OrderedDict``/``defaultdict``, ``bytes``/``slice``). pandas objects (the training
history) are read into inert :class:`OpaqueObject` placeholders: no pandas code runs, and
scvi-viz does not need them. Anything else is refused with :class:`UnsafeModelFileError`.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scvi_viz.errors import ModelFileError, UnsafeModelFileError

_STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


class OpaqueObject:
    """Stand-in for a pandas object found in a model file; it keeps nothing and runs nothing."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state: Any) -> None:  # discarded on purpose
        pass

    def __repr__(self) -> str:
        return "<pandas object, not read>"


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    # Protocol-2 pickles store bytes as ``_codecs.encode(str, "latin1")``.
    if encoding not in ("latin1", "latin-1"):
        raise UnsafeModelFileError(f"model file asks for _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def _numpy_global(name: str):
    allowed = {
        "_reconstruct": np._core.multiarray._reconstruct if hasattr(np, "_core") else np.core.multiarray._reconstruct,
        "scalar": (np._core.multiarray.scalar if hasattr(np, "_core") else np.core.multiarray.scalar),
    }
    return allowed.get(name)


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str):
        super().__init__(io.BytesIO(data))
        self._archive = archive
        self._prefix = prefix
        self._storages: dict[str, torch.UntypedStorage] = {}

    def find_class(self, module: str, name: str):
        qualname = f"{module}.{name}"
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "collections" and name == "defaultdict":
            return collections.defaultdict
        if module in ("builtins", "__builtin__") and name in ("dict", "list", "set", "frozenset", "tuple", "bytes", "bytearray", "slice", "int", "float", "str", "bool", "complex"):
            return getattr(__import__("builtins"), name)
        if module == "_codecs" and name == "encode":
            return _latin1_encode
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and _numpy_global(name) is not None:
            return _numpy_global(name)
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if module == "numpy.dtypes" and name.endswith("DType"):
            return getattr(np.dtypes, name)
        if module.split(".")[0] == "pandas":
            return OpaqueObject
        raise UnsafeModelFileError(
            f"The model file asks to call {qualname!r}, which a model saved by scvi-tools never "
            "contains, so it was not loaded. Save the model again with scvi-tools' model.save()."
        )

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise UnsafeModelFileError(f"unexpected persistent id in model file: {pid!r:.80}")
        _, dtype, key, _location, numel = pid
        if not isinstance(dtype, torch.dtype):
            raise UnsafeModelFileError("model file names a storage type that is not a torch storage")
        if key not in self._storages:
            try:
                raw = self._archive.read(f"{self._prefix}/data/{key}")
            except KeyError as exc:
                raise ModelFileError(f"model file is incomplete: tensor data {key!r} is missing") from exc
            itemsize = torch.empty((), dtype=dtype).element_size()
            if len(raw) < numel * itemsize:
                raise ModelFileError("model file is truncated: a tensor has fewer bytes than declared")
            buffer = torch.frombuffer(bytearray(raw), dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
            self._storages[key] = buffer.untyped_storage()
        return (self._storages[key], dtype)


def _rebuild_tensor(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    untyped, dtype = storage
    return torch.empty((0,), dtype=dtype).set_(untyped, storage_offset, tuple(size), tuple(stride))


def _rebuild_parameter(data, requires_grad, backward_hooks, *args):
    return data


def safe_torch_load(path: str | Path) -> Any:
    """Load a ``torch.save`` zip archive with the allowlist described in this module.

    Parameters
    ----------
    path
        The file to read.

    Returns
    -------
    object
        The unpickled object; tensors are CPU tensors.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    UnsafeModelFileError
        If the file asks to call anything outside the allowlist.
    ModelFileError
        If the file is empty, truncated or not a torch archive.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {path}.")
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path.name} is empty: it is not a saved scvi-tools model.")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelFileError(
            f"{path.name} is not a torch archive (a model.pt written by scvi-tools' model.save()); "
            "it may be truncated or another kind of file."
        ) from exc
    with archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise ModelFileError(f"{path.name} is a zip file but not a torch archive (no data.pkl).")
        prefix = pickles[0].split("/")[0]
        try:
            return _RestrictedUnpickler(archive.read(pickles[0]), archive, prefix).load()
        except UnsafeModelFileError:
            raise
        except ModelFileError:
            raise
        except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
            raise ModelFileError(f"{path.name} could not be read as a saved model: {exc}") from exc
