"""Arrays shared between sessions are made read-only, so no session can change another's numbers."""

from __future__ import annotations

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
