"""Arrays: made read-only when shared between sessions, so no session can change another's
numbers; and packed into one binary message with a JSON header, to send to a browser."""

from __future__ import annotations

import json
import struct
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


def read_only(values: T) -> T:
    """``values`` with writing switched off: a numpy array, or a scipy sparse matrix's arrays.

    Anything else (a scalar, a string) is returned as it is. The array itself is changed (no
    copy), so call this on arrays the caller owns.
    """
    parts: list[Any] = [values, *(getattr(values, name, None) for name in ("data", "indices", "indptr"))]
    for part in parts:
        if isinstance(part, np.ndarray):
            part.flags.writeable = False
    return values


MESSAGE_DTYPES = {"f4": np.dtype("<f4"), "f8": np.dtype("<f8"), "i4": np.dtype("<i4"), "u1": np.dtype("u1")}
"""Array types a message holds (JavaScript's Float32Array, Float64Array, Int32Array, Uint8Array)."""


def pack_arrays(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """``header`` and named ``arrays`` as one message a browser reads without copying.

    Layout: a little-endian ``uint32`` length, the UTF-8 JSON header (with ``"arrays"``: each
    array's ``name``, ``dtype``, ``shape`` and ``offset``), zero padding to a multiple of 8
    bytes, then the arrays, little-endian, each at a multiple of 8 bytes from there (offsets
    count from the end of the padding), so typed arrays can view them in place.
    """
    by_type = {dtype: code for code, dtype in MESSAGE_DTYPES.items()}
    entries, chunks, offset = [], [], 0
    for name, array in arrays.items():
        array = np.asarray(array)
        code = by_type.get(array.dtype.newbyteorder("<") if array.dtype.itemsize > 1 else array.dtype)
        if code is None:
            raise TypeError(f"array {name!r} is {array.dtype}; a message holds float32, float64, int32 or uint8")
        data = np.ascontiguousarray(array, dtype=MESSAGE_DTYPES[code]).tobytes()
        entries.append({"name": name, "dtype": code, "shape": list(array.shape), "offset": offset})
        chunks += [data, b"\0" * (-len(data) % 8)]
        offset += len(data) + (-len(data) % 8)
    text = json.dumps({**header, "arrays": entries}).encode("utf-8")
    return b"".join([struct.pack("<I", len(text)), text, b"\0" * (-(4 + len(text)) % 8), *chunks])


def unpack_arrays(message: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and arrays of :func:`pack_arrays` (read-only views of ``message``)."""
    (size,) = struct.unpack_from("<I", message)
    header = json.loads(message[4:4 + size])
    start = 4 + size + (-(4 + size) % 8)
    arrays = {}
    for e in header["arrays"]:
        dtype = MESSAGE_DTYPES[e["dtype"]]
        count = int(np.prod(e["shape"], dtype=np.int64))
        arrays[e["name"]] = np.frombuffer(message, dtype=dtype, count=count, offset=start + e["offset"]).reshape(e["shape"])
    return header, arrays
