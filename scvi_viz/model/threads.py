"""How many CPU threads torch uses for a piece of work.

Work on a few latent points (the point being walked, its Jacobian) is too small to gain from
torch's intra-op threads, and loses much when another process holds a core: the threads of
each operation wait for each other. Measured on a 2-core machine with one core busy: the
Jacobian of one point took 8 ms (p90 40 ms) on two threads and 3.7 ms (p90 3.9 ms) on one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import torch

FEW_ROWS = 64
"""Calls on at most this many latent points run on one thread."""

_Method = TypeVar("_Method", bound=Callable[..., Any])


def one_thread_for_few_points(method: _Method) -> _Method:
    """Run a model method whose first argument is ``z`` on one CPU thread when ``z`` holds at most
    :data:`FEW_ROWS` points (the whole call, argument checks included: a single torch operation
    on two threads between one-thread ones costs the wait for the other thread).

    torch's thread count belongs to the calling thread (OpenMP), so another session decoding a
    large batch at the same time keeps its threads; the count is restored on leaving.
    """

    @functools.wraps(method)
    def wrapper(self, z: Any, *args: Any, **kwargs: Any) -> Any:
        before = torch.get_num_threads()
        try:
            shape = np.shape(z)
        except (TypeError, ValueError):  # ragged or odd: the method's own checks say what is wrong
            shape = ()
        if self.device.type != "cpu" or before == 1 or (len(shape) > 1 and shape[0] > FEW_ROWS):
            return method(self, z, *args, **kwargs)
        torch.set_num_threads(1)
        try:
            return method(self, z, *args, **kwargs)
        finally:
            torch.set_num_threads(before)

    return wrapper  # type: ignore[return-value]
