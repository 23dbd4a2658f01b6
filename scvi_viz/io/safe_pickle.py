"""Read a ``torch.save`` zip archive without letting the file run code or corrupt memory.

A scvi-tools ``model.pt`` is a pickle. A pickle can name any importable callable and make
the reader call it with arguments of its choosing, which is how a crafted file runs
``os.system`` -- and how it can build an object-dtype numpy array over raw bytes from the
file (pointers the file chose: a segfault, or worse). This reader uses Python's pure-Python
unpickler (no C-level memo table a file could size), resolves names only through the
allowlist below, and gives every admitted name a wrapper that checks the types and sizes of
its arguments before anything is allocated. ``BUILD`` (``__setstate__``) runs only on this
module's own placeholder types, never on a numpy dtype or a tensor.

Audit of the allowlist (name in the file -> what runs, and what it accepts):

==========================================  ===========================================
``torch._utils._rebuild_tensor(_v2)``        :func:`_rebuild_tensor`: a storage reference
                                             made by this reader's ``persistent_load``
                                             only; offset and sizes non-negative ints,
                                             strides positive ints (0 only for a size-1
                                             or empty dimension), at most 8 dimensions; the
                                             view must lie inside the storage and hold no
                                             more elements than the storage (no expanding
                                             views). Hooks, ``requires_grad`` and metadata
                                             are ignored.
``torch._utils._rebuild_parameter``          returns its first argument if it is a tensor.
``torch.<Type>Storage`` (10 numeric types)   resolve to a ``torch.dtype`` value (not
                                             callable); used only in persistent ids.
persistent id ``("storage", ...)``           the storage's archive member, read once per
                                             key: its declared size must cover
                                             ``numel * itemsize`` and fit the archive's
                                             byte budget, and what it inflates to must be
                                             exactly its declared size.
``numpy.core/_core.multiarray._reconstruct`` :class:`SafeArray` placeholder (empty), only
                                             as ``_reconstruct(ndarray, (0,), b"b")``.
                                             Its ``BUILD`` state: a shape of at most 32
                                             non-negative ints, a dtype from
                                             ``numpy.dtype`` below, and raw bytes of
                                             exactly ``prod(shape) * itemsize`` -- or, for
                                             the object dtype only, a Python list of
                                             ``prod(shape)`` items (never raw bytes).
``numpy.ndarray``                            a marker for ``_reconstruct``; not callable
                                             (``ndarray(shape, dtype, buffer)`` is the
                                             object-array-over-bytes primitive).
``numpy.dtype``                              :class:`SafeDtype`: the first argument must
                                             name a numeric, bool, datetime, ``U<n>``,
                                             ``S<n>`` or object (``O8``) dtype; structured
                                             and void dtypes are refused. Its ``BUILD``
                                             state must equal what numpy writes for that
                                             dtype (so no flags, fields or item sizes from
                                             the file); only the byte order is taken.
``numpy.core/_core.multiarray.scalar``       a non-object :class:`SafeDtype` and bytes of
                                             exactly its item size.
``collections.OrderedDict``                  the class; items come from ``SETITEMS``;
                                             a ``BUILD`` state (torch's ``_metadata``
                                             attribute) is dropped, never set.
``collections.defaultdict``                  with no factory, or ``dict``/``list``/
                                             ``OrderedDict`` as the factory.
``builtins`` ``dict list tuple set``         no argument, or one container (list, tuple,
``frozenset``                                set, frozenset, dict); never a string or a
                                             number (no amplification of a short string).
``builtins.bytes``/``bytearray``             no argument, bytes, a list of ints, or a
                                             ``str`` with a latin-1/ASCII/UTF-8 encoding;
                                             never an int (``bytes(10**10)``).
``builtins`` ``int float complex bool str``  plain numbers and strings only (a string of
                                             at most 100 characters for numbers).
``builtins.slice``                           ints or ``None``.
``_codecs.encode``                           a ``str`` and the latin-1 encoding.
``pandas.*``                                 :class:`OpaqueObject`: keeps nothing, runs
                                             nothing (the training history).
==========================================  ===========================================

Everything else is refused with :class:`UnsafeModelFileError`, naming what the file asked
for. Caps, each checked before the allocation it bounds: the archive has at most
:data:`MAX_MEMBERS` members; ``data.pkl`` inflates to at most :data:`MAX_PICKLE_BYTES`; all
members read inflate to at most :data:`MAX_EXPANSION` times the file's size (torch stores
them uncompressed, so a real file reads exactly its own size) and at most
:data:`MAX_MODEL_BYTES` in all; every tensor and array holds at most the bytes its storage
or its raw data really has.
"""

from __future__ import annotations

import collections
import io
import math
import pickle
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scvi_viz.errors import ModelFileError, UnsafeModelFileError

MAX_MEMBERS = 10_000
"""Members a model archive may have (torch writes one per tensor storage, plus four)."""
MAX_PICKLE_BYTES = 64 * 1024**2
"""Largest ``data.pkl`` read (scvi-tools writes tens to hundreds of kB)."""
MAX_MODEL_BYTES = 8 * 1024**3
"""Most bytes read out of one model archive in all."""
MAX_EXPANSION = 32
"""Members may inflate to at most this many times the archive's size on disk, together."""
MAX_TENSOR_DIMS = 8
MAX_ARRAY_DIMS = 32

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
_TORCH_DTYPES = frozenset(_STORAGE_DTYPES.values())

_DTYPE_CODE = re.compile(
    r"(?:[biuf][1248]|f16|c8|c16|c32|O8|O4|[Mm]8(?:\[[a-zA-Z0-9]+\])?|[US][1-9][0-9]{0,6})"
)


def _refuse(what: str) -> UnsafeModelFileError:
    return UnsafeModelFileError(
        f"The model file {what}, which a model saved by scvi-tools never does, so it was not "
        "loaded. Save the model again with scvi-tools' model.save()."
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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


class _NdarrayMarker:
    """What ``numpy.ndarray`` resolves to: a marker that :func:`_reconstruct` checks, not a class."""

    __slots__ = ()


_NDARRAY = _NdarrayMarker()


class SafeDtype:
    """A numpy dtype named by the file, checked; :attr:`dtype` is built by numpy from its name only."""

    def __init__(self, code: Any, align: Any = False, copy: Any = True):
        if not (isinstance(code, str) and _DTYPE_CODE.fullmatch(code)) or not isinstance(align, bool) or align:
            raise _refuse(f"asks for the numpy dtype {code!r:.40}")
        self.dtype = np.dtype(code)
        self._built = False

    def __setstate__(self, state: Any) -> None:
        if self._built or not isinstance(state, tuple) or len(state) < 2 or state[1] not in ("<", ">", "|", "="):
            raise _refuse("gives a numpy dtype an invalid state")
        dtype = self.dtype.newbyteorder(state[1])
        if tuple(state) != dtype.__reduce__()[2]:
            raise _refuse("gives a numpy dtype fields, flags or an item size of its own")
        self.dtype, self._built = dtype, True


class SafeArray(np.ndarray):
    """A numpy array rebuilt from checked parts (see the module's audit)."""

    def __setstate__(self, state: Any) -> None:
        if getattr(self, "_scvi_viz_built", False):
            raise _refuse("rebuilds one numpy array twice")
        if isinstance(state, tuple) and len(state) == 5 and state[0] == 1:
            state = state[1:]
        if not (isinstance(state, tuple) and len(state) == 4):
            raise ModelFileError("A numpy array in the model file has an invalid state.")
        shape, spec, fortran, raw = state
        if not (isinstance(shape, tuple) and len(shape) <= MAX_ARRAY_DIMS and all(_is_int(s) and s >= 0 for s in shape)):
            raise ModelFileError("A numpy array in the model file has an invalid shape.")
        if not isinstance(spec, SafeDtype) or not isinstance(fortran, bool):
            raise _refuse("builds a numpy array with a dtype that is not a plain numpy dtype")
        n = math.prod(shape)
        if spec.dtype.hasobject:
            if not (isinstance(raw, list) and len(raw) == n):
                raise _refuse("builds an object array from raw bytes instead of a list of values")
        elif not (isinstance(raw, (bytes, bytearray)) and len(raw) == n * spec.dtype.itemsize):
            raise ModelFileError(
                f"A numpy array in the model file declares {n} values of {spec.dtype.itemsize} bytes but holds "
                f"{len(raw) if isinstance(raw, (bytes, bytearray)) else 'no'} bytes; the file is damaged."
            )
        np.ndarray.__setstate__(self, (shape, spec.dtype, fortran, raw))
        self._scvi_viz_built = True


def _reconstruct(subtype: Any, shape: Any, dtype_char: Any) -> SafeArray:
    if subtype is not _NDARRAY or shape != (0,) or dtype_char not in (b"b", "b"):
        raise _refuse("reconstructs a numpy array in a way numpy never pickles one")
    return np.ndarray.__new__(SafeArray, (0,), np.uint8)


def _scalar(spec: Any, data: Any = None) -> Any:
    if not isinstance(spec, SafeDtype) or spec.dtype.hasobject:
        raise _refuse("builds a numpy scalar with an object or unchecked dtype")
    if not (isinstance(data, bytes) and len(data) == spec.dtype.itemsize):
        raise ModelFileError("A numpy value in the model file has the wrong number of bytes; the file is damaged.")
    return np.frombuffer(data, dtype=spec.dtype)[0].copy()


def _latin1_encode(text: Any, encoding: Any = "latin1") -> bytes:
    # Protocol-2 pickles store bytes as ``_codecs.encode(str, "latin1")``.
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _refuse(f"asks for _codecs.encode of a {type(text).__name__} with encoding {encoding!r:.20}")
    return text.encode("latin1")


_CONTAINERS = (list, tuple, set, frozenset, dict)


def _container(kind: type):
    def build(*args: Any) -> Any:
        if len(args) > 1 or (args and not isinstance(args[0], _CONTAINERS)):
            raise _refuse(f"calls {kind.__name__}() with {len(args)} argument(s) that are not a container")
        return kind(*args)

    build.__name__ = kind.__name__
    return build


def _byte_string(kind: type):
    def build(*args: Any) -> Any:
        if not args:
            return kind()
        if len(args) == 1 and isinstance(args[0], (bytes, bytearray)):
            return kind(args[0])
        if len(args) == 1 and isinstance(args[0], list) and all(_is_int(v) for v in args[0]):
            return kind(args[0])
        if len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1", "ascii", "utf-8", "utf8"):
            return kind(args[0], args[1])
        raise _refuse(f"calls {kind.__name__}() with arguments of types {[type(a).__name__ for a in args]}")

    build.__name__ = kind.__name__
    return build


def _number(kind: type):
    def build(*args: Any) -> Any:
        if len(args) > 2 or not all(
            isinstance(a, (int, float, complex)) or (isinstance(a, str) and len(a) <= 100) for a in args
        ):
            raise _refuse(f"calls {kind.__name__}() with arguments that are not short numbers or strings")
        return kind(*args)

    build.__name__ = kind.__name__
    return build


def _str(*args: Any) -> str:
    if not args:
        return ""
    if len(args) == 1 and isinstance(args[0], (str, int, float, bool)):
        return str(args[0])
    if len(args) == 2 and isinstance(args[0], bytes) and args[1] in ("latin1", "latin-1", "ascii", "utf-8", "utf8"):
        return str(args[0], args[1])
    raise _refuse("calls str() with arguments that are not a string, a number or bytes with an encoding")


def _slice(*args: Any) -> slice:
    if not 1 <= len(args) <= 3 or not all(a is None or _is_int(a) for a in args):
        raise _refuse("calls slice() with arguments that are not integers")
    return slice(*args)


_BUILTINS = {
    "dict": _container(dict), "list": _container(list), "tuple": _container(tuple),
    "set": _container(set), "frozenset": _container(frozenset),
    "bytes": _byte_string(bytes), "bytearray": _byte_string(bytearray),
    "int": _number(int), "float": _number(float), "complex": _number(complex), "bool": _number(bool),
    "str": _str, "slice": _slice,
}
_FACTORIES = (None, _BUILTINS["dict"], _BUILTINS["list"], collections.OrderedDict)


def _defaultdict(factory: Any = None, *args: Any) -> collections.defaultdict:
    if not any(factory is f for f in _FACTORIES) or args:
        raise _refuse("makes a defaultdict with a factory other than dict or list")
    return collections.defaultdict(factory)


@dataclass(frozen=True)
class _StorageRef:
    """A tensor storage read by ``persistent_load``; the pickle itself cannot make one."""

    untyped: torch.UntypedStorage
    dtype: torch.dtype
    numel: int


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored) -> torch.Tensor:
    if not isinstance(storage, _StorageRef):
        raise _refuse("rebuilds a tensor from something that is not one of its tensor storages")
    size, stride = tuple(size) if isinstance(size, (tuple, list)) else None, tuple(stride) if isinstance(stride, (tuple, list)) else None
    if (
        not _is_int(storage_offset) or storage_offset < 0 or size is None or stride is None
        or len(size) != len(stride) or len(size) > MAX_TENSOR_DIMS
        or not all(_is_int(s) and s >= 0 for s in size) or not all(_is_int(s) and s >= 0 for s in stride)
    ):
        raise ModelFileError("A tensor in the model file has an invalid shape or layout; the file is damaged.")
    numel = math.prod(size)
    if numel:
        if any(st == 0 and s > 1 for s, st in zip(size, stride)):
            raise _refuse("declares a tensor that repeats its data (a zero stride), which torch.save never writes")
        last = storage_offset + sum((s - 1) * st for s, st in zip(size, stride))
        if last >= storage.numel or numel > storage.numel - storage_offset:
            raise ModelFileError(
                f"A tensor in the model file of shape {list(size)} needs more data than its storage holds "
                f"({storage.numel} values); the file is truncated or damaged."
            )
    return torch.empty((0,), dtype=storage.dtype).set_(storage.untyped, storage_offset, size, stride)


def _rebuild_parameter(data, *_ignored) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise _refuse("makes a parameter of something that is not a tensor")
    return data


def _numpy_multiarray(name: str):
    return {"_reconstruct": _reconstruct, "scalar": _scalar}.get(name)


class _ArchiveReader:
    """Reads members of an open model archive within the byte budget of the module docstring."""

    def __init__(self, archive: zipfile.ZipFile, file_size: int):
        self.archive = archive
        self.budget = min(MAX_MODEL_BYTES, MAX_EXPANSION * max(file_size, 1))

    def read(self, info: zipfile.ZipInfo, *, limit: int | None = None) -> bytes:
        if info.file_size > self.budget or (limit is not None and info.file_size > limit):
            raise ModelFileError(
                f"The model file's member {info.filename[:80]!r} declares {info.file_size:,} bytes, more than "
                f"this file can hold ({min(self.budget, limit or self.budget):,} bytes at most); it is damaged or crafted."
            )
        with self.archive.open(info) as handle:
            data = handle.read(info.file_size + 1)
        if len(data) != info.file_size:
            raise ModelFileError(f"The model file's member {info.filename[:80]!r} is not the size it declares; it is damaged.")
        self.budget -= len(data)
        return data


class _RestrictedUnpickler(pickle._Unpickler):
    # The pure-Python unpickler: its memo is a dict, so a memo index from the file allocates nothing.
    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, data: bytes, reader: _ArchiveReader, prefix: str):
        super().__init__(io.BytesIO(data))
        self._reader = reader
        self._prefix = prefix
        self._storages: dict[str, tuple[torch.UntypedStorage, int]] = {}

    def find_class(self, module: str, name: str):
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "collections" and name == "defaultdict":
            return _defaultdict
        if module in ("builtins", "__builtin__") and name in _BUILTINS:
            return _BUILTINS[name]
        if module == "_codecs" and name == "encode":
            return _latin1_encode
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and _numpy_multiarray(name) is not None:
            return _numpy_multiarray(name)
        if module == "numpy" and name == "ndarray":
            return _NDARRAY
        if module == "numpy" and name == "dtype":
            return SafeDtype
        if module.split(".")[0] == "pandas":
            return OpaqueObject
        raise UnsafeModelFileError(
            f"The model file asks to call {f'{module}.{name}'[:120]!r}, which a model saved by scvi-tools never "
            "contains, so it was not loaded. Save the model again with scvi-tools' model.save()."
        )

    def _load_build(self):
        inst = self.stack[-2] if len(self.stack) > 1 else None
        if type(inst) is collections.OrderedDict and isinstance(self.stack[-1], dict):
            self.stack.pop()  # torch's state-dict ``_metadata`` attribute: not needed, not set
            return
        if not isinstance(inst, (SafeArray, SafeDtype, OpaqueObject)):
            raise _refuse(f"sets the state of a {type(inst).__name__}")
        pickle._Unpickler.load_build(self)

    dispatch[pickle.BUILD[0]] = _load_build

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise UnsafeModelFileError(f"unexpected persistent id in model file: {pid!r:.80}")
        _, dtype, key, _location, numel = pid
        if dtype not in _TORCH_DTYPES:
            raise UnsafeModelFileError("model file names a storage type that is not a torch storage")
        if not (isinstance(key, str) and re.fullmatch(r"[0-9A-Za-z_]{1,40}", key)) or not _is_int(numel) or numel < 0:
            raise ModelFileError("model file has an invalid tensor storage reference; it is damaged.")
        itemsize = torch.empty((), dtype=dtype).element_size()
        if key not in self._storages:
            try:
                info = self._reader.archive.getinfo(f"{self._prefix}/data/{key}")
            except KeyError as exc:
                raise ModelFileError(f"model file is incomplete: tensor data {key!r} is missing") from exc
            if info.file_size < numel * itemsize:
                raise ModelFileError("model file is truncated: a tensor has fewer bytes than declared")
            raw = self._reader.read(info)
            buffer = torch.frombuffer(bytearray(raw), dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
            self._storages[key] = (buffer.untyped_storage(), len(raw))
        untyped, nbytes = self._storages[key]
        if nbytes < numel * itemsize:
            raise ModelFileError("model file is truncated: a tensor has fewer bytes than declared")
        return _StorageRef(untyped, dtype, nbytes // itemsize)


_READ_ERRORS = (
    pickle.UnpicklingError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError,
    TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError, RecursionError, MemoryError,
    OSError, UnicodeError,
)


def safe_torch_load(path: str | Path) -> Any:
    """Load a ``torch.save`` zip archive with the allowlist and caps described in this module.

    Parameters
    ----------
    path
        The file to read.

    Returns
    -------
    object
        The unpickled object; tensors are CPU tensors, numpy arrays :class:`SafeArray`.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    UnsafeModelFileError
        If the file asks to call anything outside the allowlist, or to call it with
        arguments that no saved model has.
    ModelFileError
        If the file is empty, truncated, larger than its caps or not a torch archive.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {path}.")
    size = path.stat().st_size
    if size == 0:
        raise ModelFileError(f"{path.name} is empty: it is not a saved scvi-tools model.")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise ModelFileError(
            f"{path.name} is not a torch archive (a model.pt written by scvi-tools' model.save()); "
            "it may be truncated or another kind of file."
        ) from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ModelFileError(f"{path.name} has {len(infos):,} archive members; a model file has at most {MAX_MEMBERS:,}.")
        pickles = [i for i in infos if i.filename.endswith("/data.pkl") and i.filename.count("/") == 1]
        if len(pickles) != 1:
            raise ModelFileError(f"{path.name} is a zip file but not a torch archive (no data.pkl).")
        prefix = pickles[0].filename.split("/")[0]
        reader = _ArchiveReader(archive, size)
        try:
            data = reader.read(pickles[0], limit=MAX_PICKLE_BYTES)
            return _RestrictedUnpickler(data, reader, prefix).load()
        except ModelFileError:
            raise
        except _READ_ERRORS as exc:
            raise ModelFileError(
                f"{path.name} could not be read as a saved model ({type(exc).__name__}: {str(exc)[:200]}). "
                "It is damaged or was not written by scvi-tools' model.save()."
            ) from exc
