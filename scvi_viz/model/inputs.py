"""Checked inputs: every argument of the engine's entry points is checked here, once.

Each function takes what a user passed (a number, an array, a category name, ...) and returns
it in the form the engine computes with, or raises :class:`~scvi_viz.errors.DecodeInputError`
with a message that says what to pass instead. :func:`decoder_inputs` turns the keyword
arguments of ``decode`` into the tensors ``DecoderSCVI`` takes (:class:`DecoderInputs`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from scvi_viz.errors import DecodeInputError
from scvi_viz.spec import ModelSpec

Index = int | str
PerRow = Index | Sequence[Index] | np.ndarray
MAX_CHUNK = 1 << 20
"""Most rows one chunk (``chunk_size``, ``batch_size``) may hold."""
MAX_SEED = 2**63 - 1
_F32 = np.finfo(np.float32)


@dataclass(frozen=True)
class DecoderInputs:
    """Decoder inputs for ``n`` rows, already on the model's device."""

    x: torch.Tensor  # (n, n_input): z, continuous covariates, batch embedding
    log_library: torch.Tensor  # (n, 1)
    cats: tuple[torch.Tensor, ...]  # each (n, 1): batch (one-hot models), categorical covs, label
    batch: torch.Tensor  # (n, 1)
    label: torch.Tensor  # (n, 1)

    def rows(self, start: int, stop: int) -> DecoderInputs:
        """Rows ``start:stop``."""
        return DecoderInputs(
            self.x[start:stop],
            self.log_library[start:stop],
            tuple(c[start:stop] for c in self.cats),
            self.batch[start:stop],
            self.label[start:stop],
        )

    def to(self, device: torch.device) -> DecoderInputs:
        """The same inputs on ``device``."""
        return DecoderInputs(
            self.x.to(device), self.log_library.to(device), tuple(c.to(device) for c in self.cats),
            self.batch.to(device), self.label.to(device),
        )

    def key(self) -> str:
        """Content hash of everything that determines the decoder's hidden layer."""
        digest = hashlib.blake2b(digest_size=16)
        for t in (self.x, *self.cats):
            digest.update(t.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()


# ------------------------------------------------------------------ plain values
def pick_device(device: str | torch.device | None) -> torch.device:
    """The torch device to run on: ``device``, or CUDA when available and none is named."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise DecodeInputError(f"device={device!r:.40} is not a torch device; use 'cpu' or 'cuda'.") from exc
    if device.type not in ("cpu", "cuda"):
        raise DecodeInputError(f"device={str(device)!r} is not supported; use 'cpu' or 'cuda'.")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DecodeInputError("device='cuda' was asked for but CUDA is not available here; use device='cpu'.")
    return device


def check_chunk(chunk_size: Any, what: str = "chunk_size") -> int:
    """A whole number of rows from 1 to :data:`MAX_CHUNK`."""
    return check_count(chunk_size, what, high=MAX_CHUNK)


def check_count(value: Any, what: str, *, low: int = 1, high: int) -> int:
    """A whole number from ``low`` to ``high`` (not a bool, not a float)."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)) or not low <= value <= high:
        raise DecodeInputError(f"{what} must be a whole number from {low:,} to {high:,}; got {value!r:.40}.")
    return int(value)


def check_seed(seed: Any) -> int | np.random.Generator:
    """A random seed: a whole number from 0 to 2**63 - 1, or a :class:`numpy.random.Generator`."""
    if isinstance(seed, np.random.Generator):
        return seed
    return check_count(seed, "seed", low=0, high=MAX_SEED)


def check_real(value: Any, what: str, *, low: float | None = None, high: float | None = None,
               open_low: bool = False, open_high: bool = False) -> float:
    """A finite real number within ``[low, high]`` (or the open ends asked for)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DecodeInputError(f"{what} must be a number; got {type(value).__name__}.")
    number = float(value)
    if not math.isfinite(number):
        raise DecodeInputError(f"{what} must be a finite number; got {number}.")
    too_low = low is not None and (number <= low if open_low else number < low)
    too_high = high is not None and (number >= high if open_high else number > high)
    if too_low or too_high:
        left = "any" if low is None else f"{'(' if open_low else '['}{low:g}"
        right = "" if high is None else f"{high:g}{')' if open_high else ']'}"
        raise DecodeInputError(f"{what} must lie in {left}, {right or 'inf)'}; got {number:g}.")
    return number


def numbers(value: Any, what: str, *, positive: bool = False) -> np.ndarray:
    """``value`` as a float64 array of real numbers that float32 can hold, or a ``DecodeInputError``."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise DecodeInputError(f"{what} must be numbers; got {type(value).__name__}.") from exc
    if arr.dtype.kind not in "iuf":
        raise DecodeInputError(f"{what} must be real numbers; got values of type {arr.dtype}.")
    arr = arr.astype(np.float64)
    if positive and not (np.all(np.isfinite(arr)) and np.all(arr >= _F32.tiny) and np.all(arr <= _F32.max)):
        raise DecodeInputError(
            f"{what} must be positive and finite, within float32's range ({_F32.tiny:.1e} to {_F32.max:.1e}); "
            "give a cell's total counts (or its size factor), such as 1e4."
        )
    if not np.all(np.isfinite(arr)) or np.any(np.abs(arr) > _F32.max):
        raise DecodeInputError(f"{what} must be finite numbers within float32's range (|x| < 3.4e38).")
    return arr


def per_row(value: Any, n: int, what: str) -> np.ndarray:
    """One value repeated for ``n`` rows, or ``n`` values, as a 1-D array."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise DecodeInputError(f"{what} must be one value or one per row; got {type(value).__name__}.") from exc
    if arr.ndim == 0:
        return np.repeat(arr.reshape(1), n)
    arr = arr.ravel()
    if arr.shape[0] == 1:
        return np.repeat(arr, n)
    if arr.shape[0] != n:
        raise DecodeInputError(f"{what} has {arr.shape[0]} values but z has {n} rows; give one value or one per row.")
    return arr


def row_indices(idx: Any, n: int, what: str) -> np.ndarray:
    """Row indices from indices or a boolean mask over ``n`` rows; refuses an empty group."""
    try:
        arr = np.asarray(idx).ravel()
    except (TypeError, ValueError) as exc:
        raise DecodeInputError(f"{what} must be row numbers or a boolean mask; got {type(idx).__name__}.") from exc
    if arr.dtype == bool:
        if arr.shape[0] != n:
            raise DecodeInputError(f"{what} is a mask of {arr.shape[0]} values for {n} cells.")
        arr = np.flatnonzero(arr)
    if arr.size and arr.dtype.kind not in "iu":
        raise DecodeInputError(f"{what} must be whole row numbers or a boolean mask; got values of type {arr.dtype}.")
    arr = arr.astype(np.int64)
    if arr.size == 0:
        raise DecodeInputError(f"{what} selects no cells; both groups need at least one.")
    if arr.min() < 0 or arr.max() >= n:
        raise DecodeInputError(f"{what} has row numbers outside 0..{n - 1}.")
    return arr


def one_point(value: Any, n_latent: int, what: str = "z") -> np.ndarray:
    """One latent point as a float64 ``(n_latent,)`` array (``(1, n_latent)`` is taken too): finite, the right length."""
    arr = numbers(value, what)
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.shape != (n_latent,):
        raise DecodeInputError(f"{what} must be one latent point of {n_latent} numbers; got shape {arr.shape}.")
    return arr


def cell_points(latent: Any, n_latent: int | None = None) -> np.ndarray:
    """The cells' latent points, ``(n_cells, n_latent)``: real, finite, at least one cell (kept in their dtype)."""
    arr = np.asarray(latent)
    if arr.dtype.kind not in "iuf" or arr.ndim != 2 or arr.shape[0] == 0:
        raise DecodeInputError(f"latent must be the cells' latent points, a 2-D array of numbers; got shape {arr.shape}.")
    if n_latent is not None and arr.shape[1] != n_latent:
        raise DecodeInputError(f"latent has {arr.shape[1]} columns but the model has {n_latent} latent dimensions.")
    if not np.isfinite(arr).all():
        raise DecodeInputError("latent contains NaN or infinite values.")
    return arr


def gene_list(genes: Any, what: str = "genes") -> list[str]:
    """Gene names as a non-empty list: one name (a string) or a list of names; whether the model has them is
    checked by ``gene_indices``."""
    if isinstance(genes, str):
        genes = [genes]
    if isinstance(genes, bytes) or not isinstance(genes, (Sequence, np.ndarray, pd.Index)):
        raise DecodeInputError(f"{what} must be a gene name or a list of gene names (e.g. ['CD74']); got {type(genes).__name__}.")
    if len(genes) == 0:
        raise DecodeInputError(f"{what} is empty: name at least one gene.")
    return [str(g) for g in genes]


# ------------------------------------------------------------ decoder inputs
def latent_points(z: Any, n_latent: int, device: torch.device) -> torch.Tensor:
    """``z`` as a float32 ``(n, n_latent)`` tensor on ``device``: finite, real, the right width."""
    # A copy: inputs may be read-only arrays shared between sessions (torch warns on those).
    if isinstance(z, torch.Tensor):
        if z.is_complex() or z.dtype == torch.bool:
            raise DecodeInputError(f"z must hold real numbers; got a {z.dtype} tensor.")
        t = z.detach().to("cpu", torch.float32)
    else:
        arr = numbers(z, "z") if not isinstance(z, np.ndarray) or z.dtype.kind not in "iuf" else z
        with np.errstate(over="ignore"):
            t = torch.from_numpy(np.array(arr, dtype=np.float32))
    if t.dim() == 1:
        t = t.unsqueeze(0)
    if t.dim() != 2 or t.shape[1] != n_latent:
        raise DecodeInputError(f"z must have shape (n, {n_latent}) or ({n_latent},); got {tuple(t.shape)}.")
    if not torch.isfinite(t).all():
        raise DecodeInputError("z contains NaN or infinite values (or values beyond float32's range).")
    return t.to(device)


def category_index(value: PerRow | None, categories: Sequence[str], n: int, what: str,
                   device: torch.device) -> torch.Tensor:
    """Each row's category as an ``(n, 1)`` index into ``categories``: from a name, or an index (not a bool).

    Distinct values are looked up once (``pandas.factorize``), so a million rows of a few
    batches cost a hash pass, not a Python loop. ``None`` is the first category.
    """
    if value is None:
        idx = np.zeros(n, dtype=np.int64)
    else:
        values = per_row(value, n, what)
        if values.dtype.kind in "iu":
            distinct, codes = np.unique(values), None
        else:
            try:
                codes, distinct = pd.factorize(values, use_na_sentinel=False)
            except TypeError:  # unhashable values (dicts, lists): compared by their text, as any other name
                codes, distinct = pd.factorize(np.array([str(v) for v in values], dtype=object), use_na_sentinel=False)
        lookup = {c: i for i, c in enumerate(categories)}
        mapped = np.empty(len(distinct), dtype=np.int64)
        for j, v in enumerate(distinct):
            if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
                if not 0 <= int(v) < len(categories):
                    raise DecodeInputError(f"{what} index {v} is out of range: the model has {len(categories)} categories.")
                mapped[j] = int(v)
            elif str(v) in lookup:
                mapped[j] = lookup[str(v)]
            else:
                shown = ", ".join(map(repr, categories[:8])) + (" ..." if len(categories) > 8 else "")
                raise DecodeInputError(f"{what} {str(v)!r} is not one of the model's categories: {shown}.")
        idx = mapped[np.searchsorted(distinct, values)] if codes is None else mapped[codes]
    return torch.as_tensor(idx, device=device).unsqueeze(1)


def decoder_inputs(
    spec: ModelSpec,
    batch_embedding: torch.Tensor | None,
    device: torch.device,
    z: Any,
    *,
    library_size: Any = 1e4,
    batch: PerRow | None = None,
    label: PerRow | None = None,
    categorical: Mapping[str, PerRow] | None = None,
    continuous: Mapping[str, Any] | None = None,
) -> DecoderInputs:
    """The keyword arguments of ``ScviModel.decode``, checked and turned into the decoder's tensors.

    Parameters
    ----------
    spec
        The model's settings (its categories and covariates).
    batch_embedding
        The model's batch embedding table (``batch_representation="embedding"``), else ``None``.
    device
        Where the tensors go.
    z, library_size, batch, label, categorical, continuous
        As in :meth:`scvi_viz.ScviModel.decode`.
    """
    zt = latent_points(z, spec.n_latent, device)
    n = zt.shape[0]
    lib = numbers(per_row(library_size, n, "library_size"), "library_size", positive=True)
    log_lib = torch.as_tensor(np.log(lib), dtype=torch.float32, device=device).unsqueeze(1)

    for given, what in ((categorical, "categorical"), (continuous, "continuous")):
        if given is not None and not isinstance(given, Mapping):
            raise DecodeInputError(f"{what} must be a dict of covariate name -> value; got {type(given).__name__}.")
    categorical = dict(categorical or {})
    continuous = dict(continuous or {})
    for given, known, kind in (
        (categorical, spec.categorical_covariates, "categorical"),
        (continuous, spec.continuous_covariates, "continuous"),
    ):
        unknown = set(given) - set(known)
        if unknown:
            raise DecodeInputError(f"Unknown {kind} covariate(s) {sorted(unknown)}; the model has {list(known) or 'none'}.")

    batch_idx = category_index(batch, spec.batches, n, "batch", device)
    label_idx = category_index(label, spec.labels, n, "label", device)
    cat_idx = [
        category_index(categorical.get(name), cats, n, f"categorical covariate {name!r}", device)
        for name, cats in spec.categorical_covariates.items()
    ]
    parts = [zt]
    if spec.continuous_covariates:
        cont = np.stack(
            [numbers(per_row(continuous.get(name, 0.0), n, f"continuous covariate {name!r}"),
                     f"continuous covariate {name!r}")
             for name in spec.continuous_covariates],
            axis=1,
        )
        parts.append(torch.as_tensor(cont, dtype=torch.float32, device=device))
    if batch_embedding is not None:
        parts.append(batch_embedding[batch_idx.squeeze(1)])
        cats = (*cat_idx, label_idx)
    else:
        cats = (batch_idx, *cat_idx, label_idx)
    x = torch.cat(parts, dim=1) if len(parts) > 1 else zt
    return DecoderInputs(x, log_lib, cats, batch_idx, label_idx)


def check_adata(adata: Any) -> None:
    """Refuse anything that is not an AnnData (or a view of one) before its parts are read."""
    if not all(hasattr(adata, part) for part in ("obs", "var_names", "n_obs", "X", "layers", "uns", "obsm")):
        raise DecodeInputError(
            f"adata must be an AnnData (e.g. anndata.read_h5ad('cells.h5ad')); got {type(adata).__name__}."
        )
