"""``ScviModel``: a loaded scVI/scANVI decoder (and encoder) with a decode/encode API."""

from __future__ import annotations

import copy
import hashlib
import threading
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from scvi_viz.covariates import Covariates
from scvi_viz.errors import CudaFallbackWarning, DataError, DecodeInputError, ModelFileError
from scvi_viz.io.adata import is_minified, model_inputs_from_adata, stored_posterior
from scvi_viz.io.store import DataStore
from scvi_viz.io.model_file import read_model_spec, resolve_model_file
from scvi_viz import posterior
from scvi_viz.nn import DecoderSCVI, Encoder
from scvi_viz.spec import Dispersion, LatentDistribution, Likelihood, ModelSpec

Index = int | str
PerRow = Index | Sequence[Index] | np.ndarray
DEFAULT_CHUNK = 2048
HIDDEN_CACHE_ENTRIES = 4
"""Covariate settings whose hidden layers :meth:`ScviModel.decode_genes` keeps."""
HIDDEN_CACHE_BYTES = 1536 * 1024**2
"""Most memory those hidden layers may hold together (a million cells x 128 units take 512 MB)."""
MAX_DECODE_BYTES = 4 * 1024**3
"""Most memory one ``decode``/``decode_genes`` call may hold in its results (rows x genes x outputs)."""
MAX_CHUNK = 1 << 20
MIN_OOM_CHUNK = 64
"""Smallest chunk tried on the GPU after an out-of-memory error, before finishing on the CPU."""
_F32 = np.finfo(np.float32)


@dataclass(frozen=True)
class Decoded:
    """Decoder outputs, each of shape ``(n, n_genes)`` (torch tensors on the model's device).

    ``rate`` and ``dropout`` are derived from the stored tensors on first access (and then
    kept), so a large batch holds one ``n x genes`` matrix fewer until they are needed.

    Attributes
    ----------
    scale
        Expected expression as a fraction of the library (softmax models), or the softplus
        scale of size-factor models.
    library_size
        The multiplier of ``scale`` per row, shape ``(n, 1)``: ``exp(log(library_size))``
        exactly as scvi-tools applies it.
    theta
        NB inverse dispersion (``None`` for poisson).
    dropout_logits
        Zero-inflation logits (``None`` unless zinb).
    """

    scale: torch.Tensor
    library_size: torch.Tensor
    theta: torch.Tensor | None
    dropout_logits: torch.Tensor | None

    @cached_property
    def rate(self) -> torch.Tensor:
        """Expected counts, ``library_size * scale`` (scvi-tools' ``px_rate``)."""
        return self.library_size * self.scale

    @cached_property
    def dropout(self) -> torch.Tensor | None:
        """Zero-inflation (dropout) probability, ``sigmoid(dropout_logits)``."""
        return None if self.dropout_logits is None else torch.sigmoid(self.dropout_logits)


@dataclass(frozen=True)
class _Inputs:
    """Decoder inputs for ``n`` rows, already on the model's device."""

    x: torch.Tensor  # (n, n_input): z, continuous covariates, batch embedding
    log_library: torch.Tensor  # (n, 1)
    cats: tuple[torch.Tensor, ...]  # each (n, 1): batch (one-hot models), categorical covs, label
    batch: torch.Tensor  # (n, 1)
    label: torch.Tensor  # (n, 1)

    def rows(self, start: int, stop: int) -> _Inputs:
        return _Inputs(
            self.x[start:stop],
            self.log_library[start:stop],
            tuple(c[start:stop] for c in self.cats),
            self.batch[start:stop],
            self.label[start:stop],
        )

    def to(self, device: torch.device) -> _Inputs:
        return _Inputs(
            self.x.to(device), self.log_library.to(device), tuple(c.to(device) for c in self.cats),
            self.batch.to(device), self.label.to(device),
        )

    def key(self) -> str:
        """Content hash of everything that determines the decoder's hidden layer."""
        digest = hashlib.blake2b(digest_size=16)
        for t in (self.x, *self.cats):
            digest.update(t.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()


def _pick_device(device: str | torch.device | None) -> torch.device:
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


def _check_chunk(chunk_size: Any, what: str = "chunk_size") -> int:
    if not isinstance(chunk_size, (int, np.integer)) or isinstance(chunk_size, bool) or not 1 <= chunk_size <= MAX_CHUNK:
        raise DecodeInputError(f"{what} must be a whole number from 1 to {MAX_CHUNK:,}; got {chunk_size!r:.40}.")
    return int(chunk_size)


def _is_cuda_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or (isinstance(exc, RuntimeError) and "CUDA out of memory" in str(exc))


def _numbers(value: Any, what: str, *, positive: bool = False) -> np.ndarray:
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


class ScviModel:
    """A trained scVI or scANVI model, read from a ``model.save()`` directory.

    Use :func:`load_model` to create one. The torch modules are in eval mode and are never
    modified after loading, so one model can serve several threads (Streamlit sessions) at
    once: the only state that changes, the hidden-layer cache of :meth:`decode_genes`, is
    guarded by a lock.

    The model's settings are read-only properties (:attr:`genes`, :attr:`batches`, ...);
    :attr:`spec` holds all of them, as read from the file.

    Attributes
    ----------
    spec
        Every saved setting (:class:`scvi_viz.spec.ModelSpec`).
    path
        The ``model.pt`` that was read.
    device
        Where decoding runs.
    decoder
        The loaded :class:`scvi_viz.nn.DecoderSCVI`.
    encoder
        The loaded ``z_encoder`` (:class:`scvi_viz.nn.Encoder`).
    """

    def __init__(self, spec: ModelSpec, *, device: str | torch.device | None = None, path: Path | None = None):
        self.spec = spec
        self.path = path
        self.device = _pick_device(device)
        state = spec.state_dict
        n_cont = len(spec.continuous_covariates)
        n_decoder_in = spec.n_latent + n_cont + spec.batch_embedding_dim

        with torch.device("meta"):  # shapes only: nothing is allocated until they match the file's
            self.decoder = DecoderSCVI(
                n_decoder_in,
                len(spec.genes),
                n_cat_list=spec.cat_list_sizes,
                n_layers=spec.n_layers,
                n_hidden=spec.n_hidden,
                inject_covariates=spec.deeply_inject_covariates,
                use_batch_norm=spec.use_batch_norm_decoder,
                use_layer_norm=spec.use_layer_norm_decoder,
                scale_activation="softplus" if spec.uses_size_factor else "softmax",
            )
            n_encoder_in = len(spec.genes) + (n_cont + spec.batch_embedding_dim) * spec.encode_covariates
            self.encoder = Encoder(
                n_encoder_in,
                spec.n_latent,
                n_cat_list=spec.cat_list_sizes if spec.encode_covariates else None,
                n_layers=spec.n_layers,
                n_hidden=spec.n_hidden,
                distribution=spec.latent_distribution,
                inject_covariates=spec.deeply_inject_covariates,
                use_batch_norm=spec.use_batch_norm_encoder,
                use_layer_norm=spec.use_layer_norm_encoder,
                return_dist=True,
            )
        self._load("decoder.", self.decoder)
        self._load("z_encoder.", self.encoder)

        px_r = state.get("px_r")
        self._log_theta = None if px_r is None else px_r.to(self.device, torch.float32)
        emb = state.get("_embeddings_dict.batch.weight")
        self._batch_embedding = None if emb is None else emb.to(self.device, torch.float32)
        self._hidden_cache: OrderedDict[str, tuple[torch.Tensor, torch.Tensor | None]] = OrderedDict()
        self._hidden_lock = threading.Lock()
        self._gene_index = {g: i for i, g in enumerate(spec.genes)}
        self._cpu_decoder: DecoderSCVI | None = None  # made on the first CUDA out-of-memory fallback

    def _load(self, prefix: str, module: torch.nn.Module) -> None:
        sub = {k[len(prefix):]: v for k, v in self.spec.state_dict.items() if k.startswith(prefix)}
        expected = module.state_dict()
        problems = [f"missing {k}" for k in expected if k not in sub]
        problems += [f"unexpected {k}" for k in sub if k not in expected]
        problems += [
            f"{k} is {tuple(sub[k].shape)} in the file but {tuple(v.shape)} by the settings"
            for k, v in expected.items() if k in sub and tuple(sub[k].shape) != tuple(v.shape)
        ]
        problems += [f"{k} has NaN or infinite values" for k, v in sub.items() if v.is_floating_point() and not torch.isfinite(v).all()]
        if problems:
            raise ModelFileError(
                f"The saved weights under '{prefix}' do not match the architecture in the model's settings "
                f"({len(problems)} problem(s): {'; '.join(problems[:4])}{' ...' if len(problems) > 4 else ''}). "
                "The file is damaged or comes from a modified scvi-tools."
            )
        module.to_empty(device=self.device)
        module.load_state_dict(sub, strict=True)
        module.eval()
        for p in module.parameters():
            p.requires_grad_(False)

    # ----------------------------------------------------------------- settings
    @property
    def model_name(self) -> str:
        """``"SCVI"`` or ``"SCANVI"``."""
        return self.spec.model_name

    @property
    def scvi_version(self) -> str:
        """The scvi-tools version that saved the model."""
        return self.spec.scvi_version

    @property
    def genes(self) -> list[str]:
        """Gene names in the decoder's output order (a new list: changing it changes nothing)."""
        return list(self.spec.genes)

    @property
    def n_genes(self) -> int:
        """Number of genes the decoder outputs."""
        return len(self.spec.genes)

    @property
    def n_latent(self) -> int:
        """Number of latent dimensions."""
        return self.spec.n_latent

    @property
    def dispersion(self) -> Dispersion:
        """How theta varies: ``"gene"``, ``"gene-batch"``, ``"gene-label"`` or ``"gene-cell"``."""
        return self.spec.dispersion

    @property
    def gene_likelihood(self) -> Likelihood:
        """``"zinb"``, ``"nb"`` or ``"poisson"``."""
        return self.spec.gene_likelihood

    @property
    def latent_distribution(self) -> LatentDistribution:
        """``"normal"`` or ``"ln"`` (logistic normal)."""
        return self.spec.latent_distribution

    @property
    def batch_key(self) -> str | None:
        """The ``obs`` column registered as batch, or ``None``."""
        return self.spec.batch_key

    @property
    def batches(self) -> list[str]:
        """Batch categories in the model's order (one, ``"0"``, without a batch key) (a new list: changing it changes nothing)."""
        return list(self.spec.batches)

    @property
    def labels_key(self) -> str | None:
        """The labels column, or ``None``."""
        return self.spec.labels_key

    @property
    def labels(self) -> list[str]:
        """Label categories, without scANVI's unlabeled category (a new list: changing it changes nothing)."""
        return list(self.spec.labels)

    @property
    def categorical_covariates(self) -> dict[str, list[str]]:
        """Extra categorical covariates: name -> categories, in setup order (a new dict)."""
        return {k: list(v) for k, v in self.spec.categorical_covariates.items()}

    @property
    def continuous_covariates(self) -> list[str]:
        """Extra continuous covariate names, in setup order (a new list: changing it changes nothing)."""
        return list(self.spec.continuous_covariates)

    @property
    def uses_size_factor(self) -> bool:
        """Whether ``library_size`` is a size factor (``size_factor_key`` models) rather than total counts."""
        return self.spec.uses_size_factor

    @property
    def file_sha256(self) -> str:
        """SHA-256 of the ``model.pt`` that was loaded."""
        return self.spec.file_sha256

    def __repr__(self) -> str:
        return (
            f"ScviModel({self.model_name}, {self.n_genes} genes, {self.n_latent} latent dims, "
            f"dispersion={self.dispersion!r}, likelihood={self.gene_likelihood!r}, device={self.device})"
        )

    # ----------------------------------------------------------- input handling
    def gene_indices(self, genes: Sequence[str]) -> list[int]:
        """Positions of ``genes`` in :attr:`genes`; raises ``DecodeInputError`` naming unknown ones."""
        missing = [g for g in genes if g not in self._gene_index]
        if missing:
            raise DecodeInputError(
                f"{len(missing)} gene(s) are not in the model: {', '.join(map(str, missing[:5]))}"
                f"{' ...' if len(missing) > 5 else ''}."
            )
        return [self._gene_index[g] for g in genes]

    def _as_z(self, z: Any) -> torch.Tensor:
        # A copy: inputs may be read-only arrays shared between sessions (torch warns on those).
        if isinstance(z, torch.Tensor):
            if z.is_complex() or z.dtype == torch.bool:
                raise DecodeInputError(f"z must hold real numbers; got a {z.dtype} tensor.")
            t = z.detach().to("cpu", torch.float32)
        else:
            arr = _numbers(z, "z") if not isinstance(z, np.ndarray) or z.dtype.kind not in "iuf" else z
            with np.errstate(over="ignore"):
                t = torch.from_numpy(np.array(arr, dtype=np.float32))
        if t.dim() == 1:
            t = t.unsqueeze(0)
        if t.dim() != 2 or t.shape[1] != self.n_latent:
            raise DecodeInputError(f"z must have shape (n, {self.n_latent}) or ({self.n_latent},); got {tuple(t.shape)}.")
        if not torch.isfinite(t).all():
            raise DecodeInputError("z contains NaN or infinite values (or values beyond float32's range).")
        return t.to(self.device)

    def _per_row(self, value: Any, n: int, what: str) -> np.ndarray:
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

    def _category_index(self, value: PerRow | None, categories: Sequence[str], n: int, what: str) -> torch.Tensor:
        """Each row's category as an index into ``categories``: from a name, or an index (not a bool).

        Distinct values are looked up once (``pandas.factorize``), so a million rows of a few
        batches cost a hash pass, not a Python loop.
        """
        if value is None:
            idx = np.zeros(n, dtype=np.int64)
        else:
            values = self._per_row(value, n, what)
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
        return torch.as_tensor(idx, device=self.device).unsqueeze(1)

    def _inputs(
        self,
        z: Any,
        *,
        library_size: Any = 1e4,
        batch: PerRow | None = None,
        label: PerRow | None = None,
        categorical: Mapping[str, PerRow] | None = None,
        continuous: Mapping[str, Any] | None = None,
    ) -> _Inputs:
        zt = self._as_z(z)
        n = zt.shape[0]
        lib = _numbers(self._per_row(library_size, n, "library_size"), "library_size", positive=True)
        log_lib = torch.as_tensor(np.log(lib), dtype=torch.float32, device=self.device).unsqueeze(1)

        for given, what in ((categorical, "categorical"), (continuous, "continuous")):
            if given is not None and not isinstance(given, Mapping):
                raise DecodeInputError(f"{what} must be a dict of covariate name -> value; got {type(given).__name__}.")
        categorical = dict(categorical or {})
        continuous = dict(continuous or {})
        for given, known, kind in (
            (categorical, self.spec.categorical_covariates, "categorical"),
            (continuous, self.spec.continuous_covariates, "continuous"),
        ):
            unknown = set(given) - set(known)
            if unknown:
                raise DecodeInputError(
                    f"Unknown {kind} covariate(s) {sorted(unknown)}; the model has {list(known) or 'none'}."
                )

        batch_idx = self._category_index(batch, self.spec.batches, n, "batch")
        label_idx = self._category_index(label, self.spec.labels, n, "label")
        cat_idx = [
            self._category_index(categorical.get(name), cats, n, f"categorical covariate {name!r}")
            for name, cats in self.spec.categorical_covariates.items()
        ]
        parts = [zt]
        if self.spec.continuous_covariates:
            cont = np.stack(
                [_numbers(self._per_row(continuous.get(name, 0.0), n, f"continuous covariate {name!r}"),
                          f"continuous covariate {name!r}")
                 for name in self.spec.continuous_covariates],
                axis=1,
            )
            parts.append(torch.as_tensor(cont, dtype=torch.float32, device=self.device))
        if self._batch_embedding is not None:
            parts.append(self._batch_embedding[batch_idx.squeeze(1)])
            cats = (*cat_idx, label_idx)
        else:
            cats = (batch_idx, *cat_idx, label_idx)
        x = torch.cat(parts, dim=1) if len(parts) > 1 else zt
        return _Inputs(x, log_lib, cats, batch_idx, label_idx)

    # ------------------------------------------------------------------ decode
    def _theta(self, inputs: _Inputs, px_r: torch.Tensor | None, genes: list[int] | None = None) -> torch.Tensor | None:
        if self.gene_likelihood == "poisson":
            return None
        if self.dispersion == "gene-cell":
            return torch.exp(px_r)
        log_theta = (self._log_theta if genes is None else self._log_theta[genes]).to(inputs.x.device)
        n = inputs.x.shape[0]
        if self.dispersion == "gene":
            return torch.exp(log_theta).unsqueeze(0).expand(n, -1)
        idx = inputs.batch if self.dispersion == "gene-batch" else inputs.label
        return torch.exp(log_theta.T)[idx.squeeze(1)]

    @torch.inference_mode()
    def decode(
        self,
        z: Any,
        *,
        library_size: Any = 1e4,
        batch: PerRow | None = None,
        label: PerRow | None = None,
        categorical: Mapping[str, PerRow] | None = None,
        continuous: Mapping[str, Any] | None = None,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> Decoded:
        """Decode latent points into expected expression, dispersion and dropout.

        Parameters
        ----------
        z
            Latent points, shape ``(n, n_latent)`` or ``(n_latent,)``.
        library_size
            Multiplier of ``scale``: total counts (or the size factor for size-factor models),
            a scalar or one value per row.
        batch
            Batch category name or index, scalar or per row; default the first category.
        label
            Label name or index (used by ``dispersion="gene-label"``); default the first.
        categorical
            Categorical covariate name -> category name or index (scalar or per row);
            a covariate left out takes its first category.
        continuous
            Continuous covariate name -> value (scalar or per row); left out means 0.
        chunk_size
            Rows decoded at a time.

        Returns
        -------
        Decoded
            ``scale``, ``rate``, ``theta``, ``dropout_logits`` and ``dropout``.

        Raises
        ------
        DecodeInputError
            For wrong shapes, NaN in ``z``, unknown categories or covariates.
        """
        chunk_size = _check_chunk(chunk_size)
        inputs = self._inputs(z, library_size=library_size, batch=batch, label=label, categorical=categorical, continuous=continuous)
        want_r = self.dispersion == "gene-cell" and self.gene_likelihood != "poisson"
        per_row_theta = want_r or self.dispersion in ("gene-batch", "gene-label") and self.gene_likelihood != "poisson"
        self._check_result_size(inputs.x.shape[0], self.n_genes, 2 + (self.gene_likelihood == "zinb") + want_r + per_row_theta, "decode")
        chunk = chunk_size
        while True:
            try:
                scale, px_r, dropout = self._decode_chunks(inputs, chunk, self.decoder, self.device)
                break
            except (torch.OutOfMemoryError, RuntimeError) as exc:
                if self.device.type != "cuda" or not _is_cuda_oom(exc):
                    raise
                if self.device.type == "cuda" and torch.cuda.is_available():
                    torch.cuda.empty_cache()
                if chunk <= MIN_OOM_CHUNK:
                    warnings.warn(
                        f"Decoding {inputs.x.shape[0]:,} rows ran out of GPU memory even {chunk} rows at a time, so "
                        "it was finished on the CPU (slower). Decode fewer rows per call to stay on the GPU.",
                        CudaFallbackWarning, stacklevel=3,
                    )
                    inputs = inputs.to(torch.device("cpu"))
                    scale, px_r, dropout = self._decode_chunks(inputs, chunk_size, self._cpu_decoder_copy(), torch.device("cpu"))
                    break
                chunk = max(chunk // 4, MIN_OOM_CHUNK)
        return Decoded(scale, torch.exp(inputs.log_library), self._theta(inputs, px_r), dropout)

    def _check_result_size(self, n: int, n_cols: int, outputs: int, what: str) -> None:
        need = n * n_cols * 4 * outputs
        if need > MAX_DECODE_BYTES:
            rows = max(MAX_DECODE_BYTES // (n_cols * 4 * outputs), 1)
            raise DecodeInputError(
                f"{what} of {n:,} rows x {n_cols:,} genes would need {need / 1e9:.1f} GB for its {outputs} float32 "
                f"outputs, more than the {MAX_DECODE_BYTES / 1e9:.1f} GB one call may use. Decode at most {rows:,} "
                "rows per call (split z and the per-row arguments), or use decode_mean for averages over rows and "
                "decode_genes for a few genes."
            )

    def _cpu_decoder_copy(self) -> DecoderSCVI:
        with self._hidden_lock:
            if self._cpu_decoder is None:
                self._cpu_decoder = copy.deepcopy(self.decoder).to("cpu")
            return self._cpu_decoder

    def _decode_chunks(
        self, inputs: _Inputs, chunk_size: int, decoder: DecoderSCVI, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        n, n_genes = inputs.x.shape[0], self.n_genes
        want_r = self.dispersion == "gene-cell" and self.gene_likelihood != "poisson"
        scale = torch.empty(n, n_genes, device=device)
        px_r = torch.empty_like(scale) if want_r else None
        dropout = torch.empty_like(scale) if self.gene_likelihood == "zinb" else None
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            rows = slice(start, stop)
            self._decode_rows(
                inputs.rows(start, stop), scale[rows],
                None if px_r is None else px_r[rows], None if dropout is None else dropout[rows], decoder,
            )
        return scale, px_r, dropout

    def _decode_rows(
        self,
        part: _Inputs,
        scale: torch.Tensor,
        px_r: torch.Tensor | None,
        dropout: torch.Tensor | None,
        decoder: DecoderSCVI | None = None,
    ) -> None:
        """``DecoderSCVI.forward`` written straight into the output buffers.

        Same operations as the module's forward (the parity tests hold it to scvi-tools), but
        each head's matmul writes into its slice of the result and the softmax runs in
        place, so a batch makes no temporary ``rows x genes`` copies. ``px_rate`` is left to
        :attr:`Decoded.rate`.
        """
        decoder = self.decoder if decoder is None else decoder
        h = decoder.px_decoder(part.x, *part.cats)
        head = decoder.px_scale_decoder[0]
        torch.addmm(head.bias, h, head.weight.T, out=scale)
        if decoder.scale_activation == "softmax":
            torch.ops.aten._softmax.out(scale, 1, False, out=scale)
        else:
            scale.copy_(F.softplus(scale))
        if px_r is not None:
            r = decoder.px_r_decoder
            torch.addmm(r.bias, h, r.weight.T, out=px_r)
        if dropout is not None:
            d = decoder.px_dropout_decoder
            torch.addmm(d.bias, h, d.weight.T, out=dropout)

    @torch.inference_mode()
    def decode_mean(
        self,
        z: Any,
        *,
        library_size: Any = 1e4,
        batch: PerRow | None = None,
        label: PerRow | None = None,
        categorical: Mapping[str, PerRow] | None = None,
        continuous: Mapping[str, Any] | None = None,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> dict[str, np.ndarray]:
        """Mean over rows of ``scale`` and ``rate`` without holding an ``n x genes`` matrix.

        Takes the arguments of :meth:`decode`, all but ``z`` by keyword. Returns a dict with
        ``"scale"`` and ``"rate"``, each a float64 array of length ``n_genes``.
        """
        chunk_size = _check_chunk(chunk_size)
        inputs = self._inputs(z, library_size=library_size, batch=batch, label=label, categorical=categorical, continuous=continuous)
        n = inputs.x.shape[0]
        if n == 0:
            raise DecodeInputError("decode_mean needs at least one row of z; the mean of no rows is undefined.")
        library = torch.exp(inputs.log_library)
        total_scale = torch.zeros(self.n_genes, dtype=torch.float64, device=self.device)
        total_rate = torch.zeros_like(total_scale)
        buffer = torch.empty(min(chunk_size, n), self.n_genes, device=self.device)  # reused for every chunk
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            scale = buffer[: stop - start]
            self._decode_rows(inputs.rows(start, stop), scale, None, None)
            total_scale += scale.sum(0, dtype=torch.float64)
            total_rate += (library[start:stop].T @ scale).squeeze(0).double()
        return {"scale": (total_scale / n).cpu().numpy(), "rate": (total_rate / n).cpu().numpy()}

    def _hidden(self, inputs: _Inputs, chunk_size: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Hidden layer and softmax log-normaliser per row, cached by input content.

        The cache is shared by every thread using this model: reads and writes hold
        ``_hidden_lock``; the computation itself runs outside it (two threads that miss at once
        both compute the same values, and the second stores them again). It keeps
        :data:`HIDDEN_CACHE_ENTRIES` settings and at most :data:`HIDDEN_CACHE_BYTES` (always the
        newest one).
        """
        key = inputs.key()
        with self._hidden_lock:
            if key in self._hidden_cache:
                self._hidden_cache.move_to_end(key)
                return self._hidden_cache[key]
        hidden = self._px_hidden(inputs, chunk_size)
        log_norm = None
        if self.decoder.scale_activation == "softmax":
            linear = self.decoder.px_scale_decoder[0]
            log_norm = torch.cat([torch.logsumexp(linear(h), dim=-1) for h in hidden.split(chunk_size)])
        with self._hidden_lock:
            self._hidden_cache[key] = (hidden, log_norm)
            sizes = {k: v[0].nbytes + (0 if v[1] is None else v[1].nbytes) for k, v in self._hidden_cache.items()}
            while len(self._hidden_cache) > 1 and (len(self._hidden_cache) > HIDDEN_CACHE_ENTRIES
                                                   or sum(sizes.values()) > HIDDEN_CACHE_BYTES):
                sizes.pop(self._hidden_cache.popitem(last=False)[0])
        return hidden, log_norm

    @torch.inference_mode()
    def hidden_layer(
        self,
        z: Any,
        *,
        batch: PerRow | None = None,
        label: PerRow | None = None,
        categorical: Mapping[str, PerRow] | None = None,
        continuous: Mapping[str, Any] | None = None,
        chunk_size: int = 8192,
    ) -> torch.Tensor:
        """The decoder's hidden layer, ``px_decoder(z, covariates)``, per row: what every gene's output is computed from.

        With it and :meth:`softmax_log_normaliser`, :meth:`scale_from_hidden` gives any gene's
        ``px_scale`` for all rows with one dot product each.

        Returns
        -------
        torch.Tensor
            Float32 ``(n, n_hidden)`` on the model's device.
        """
        chunk_size = _check_chunk(chunk_size)
        return self._px_hidden(self._inputs(z, batch=batch, label=label, categorical=categorical, continuous=continuous),
                               chunk_size)

    def _px_hidden(self, inputs: _Inputs, chunk_size: int) -> torch.Tensor:
        hidden = torch.empty(inputs.x.shape[0], self.spec.n_hidden, device=self.device)
        for start in range(0, inputs.x.shape[0], chunk_size):
            part = inputs.rows(start, start + chunk_size)
            hidden[start : start + part.x.shape[0]] = self.decoder.px_decoder(part.x, *part.cats)
        return hidden

    @torch.inference_mode()
    def scale_from_hidden(self, hidden: torch.Tensor, genes: Sequence[str], *, log_normaliser: Any = None) -> torch.Tensor:
        """``px_scale`` of ``genes`` for rows whose :meth:`hidden_layer` is ``hidden``, ``(n, len(genes))``.

        Softmax models need each row's :meth:`softmax_log_normaliser` (same rows, same
        covariates); size-factor models take none.
        """
        idx = self.gene_indices([str(g) for g in genes])
        linear = self.decoder.px_scale_decoder[0]
        logits = F.linear(hidden, linear.weight[idx], linear.bias[idx])
        if self.decoder.scale_activation != "softmax":
            return F.softplus(logits)
        if log_normaliser is None:
            raise DecodeInputError("A softmax model needs each row's log_normaliser (see softmax_log_normaliser).")
        log_norm = log_normaliser.to(self.device) if isinstance(log_normaliser, torch.Tensor) else \
            torch.from_numpy(np.array(log_normaliser, dtype=np.float32)).to(self.device)
        if log_norm.shape != (hidden.shape[0],):
            raise DecodeInputError(f"log_normaliser has shape {tuple(log_norm.shape)}; it needs one value per row ({hidden.shape[0]}).")
        return torch.exp(logits - log_norm.unsqueeze(1))

    @torch.inference_mode()
    def softmax_log_normaliser(
        self,
        z: Any,
        *,
        batch: PerRow | None = None,
        label: PerRow | None = None,
        categorical: Mapping[str, PerRow] | None = None,
        continuous: Mapping[str, Any] | None = None,
        chunk_size: int = 8192,
    ) -> np.ndarray:
        """Per row, ``log(sum over genes of exp(logit))``: what turns one gene's logit into its ``px_scale``.

        With it, :meth:`scale_from_hidden` charts a gene for many cells without a pass over every gene.

        Raises
        ------
        DecodeInputError
            For size-factor models (softplus scale, no normaliser) or bad arguments.
        """
        if self.decoder.scale_activation != "softmax":
            raise DecodeInputError("This model scales by a size factor (softplus); it has no softmax normaliser.")
        hidden = self.hidden_layer(z, batch=batch, label=label, categorical=categorical, continuous=continuous,
                                   chunk_size=chunk_size)
        linear = self.decoder.px_scale_decoder[0]
        return torch.cat([torch.logsumexp(linear(h), dim=-1) for h in hidden.split(chunk_size)]).cpu().numpy()

    @torch.inference_mode()
    def decode_genes(
        self,
        z: Any,
        genes: Sequence[str],
        *,
        library_size: Any = 1e4,
        batch: PerRow | None = None,
        label: PerRow | None = None,
        categorical: Mapping[str, PerRow] | None = None,
        continuous: Mapping[str, Any] | None = None,
        chunk_size: int = 8192,
    ) -> Decoded:
        """Decode only ``genes`` for every row of ``z``, cheaply after the first call.

        The softmax normaliser needs every gene, so the first call for a given ``z`` and
        covariates computes each row's hidden layer and log-normaliser once and caches them
        (:data:`HIDDEN_CACHE_ENTRIES` settings are kept). After that each gene costs
        ``n x n_hidden``.

        Parameters
        ----------
        z, library_size, batch, label, categorical, continuous
            As in :meth:`decode` (all but ``z`` by keyword).
        genes
            Gene names from :attr:`genes`.
        chunk_size
            Rows per chunk while computing the normaliser.

        Returns
        -------
        Decoded
            Tensors of shape ``(n, len(genes))``, equal to ``decode(...)`` restricted to ``genes``.
        """
        chunk_size = _check_chunk(chunk_size)
        if isinstance(genes, (str, bytes)) or not isinstance(genes, (Sequence, np.ndarray)):
            raise DecodeInputError(f"genes must be a list of gene names (e.g. ['CD74']); got {type(genes).__name__}.")
        idx = self.gene_indices([str(g) for g in genes])
        inputs = self._inputs(z, library_size=library_size, batch=batch, label=label, categorical=categorical, continuous=continuous)
        self._check_result_size(inputs.x.shape[0], len(idx) + self.spec.n_hidden, 5, "decode_genes")
        hidden, log_norm = self._hidden(inputs, chunk_size)
        heads = [self.decoder.px_scale_decoder[0]]
        if self.dispersion == "gene-cell" and self.gene_likelihood != "poisson":
            heads.append(self.decoder.px_r_decoder)
        if self.gene_likelihood == "zinb":
            heads.append(self.decoder.px_dropout_decoder)
        # One pass over the (n x n_hidden) hidden layer for every head and gene.
        weight = torch.cat([head.weight[idx] for head in heads])
        bias = torch.cat([head.bias[idx] for head in heads])
        outputs = F.linear(hidden, weight, bias).split(len(idx), dim=1)
        logits = outputs[0]
        scale = torch.exp(logits - log_norm.unsqueeze(1)) if log_norm is not None else F.softplus(logits)
        px_r = outputs[1] if len(heads) > 1 and heads[1] is self.decoder.px_r_decoder else None
        dropout = outputs[-1] if self.gene_likelihood == "zinb" else None
        return Decoded(scale, torch.exp(inputs.log_library), self._theta(inputs, px_r, idx), dropout)

    # ------------------------------------------------------------------ encode
    @torch.inference_mode()
    def encode(self, adata: Any, *, batch_size: int = 1024, allow_missing_genes: bool = False) -> np.ndarray:
        """Posterior mean of each cell's latent point, as scvi-tools computes it.

        For ``latent_distribution="normal"`` this equals scvi-tools'
        ``get_latent_representation(give_mean=True)``. For ``"ln"`` scvi-tools returns a Monte
        Carlo mean of ``softmax`` of samples; this returns ``softmax`` of the posterior mean
        (deterministic), a point on the simplex that the decoder takes as input.

        Parameters
        ----------
        adata
            An :class:`anndata.AnnData` with the model's genes (matched by name, any order) in
            the layer the model was set up with, and its covariate columns in ``obs``.
        batch_size
            Cells encoded at a time.
        allow_missing_genes
            Encode model genes the data lacks as zero counts instead of raising.

        Returns
        -------
        numpy.ndarray
            Float32 array of shape ``(n_obs, n_latent)``.

        Raises
        ------
        DataError
            If genes or covariate columns are missing, or categories are unknown.
        """
        _check_chunk(batch_size, "batch_size")
        cells = model_inputs_from_adata(self.spec, adata, allow_missing_genes=allow_missing_genes)
        return self.encode_counts(cells.counts, cells.covariates, batch_size=batch_size)

    @torch.inference_mode()
    def encode_counts(self, counts: Any, covariates: Covariates, *, batch_size: int = 1024) -> np.ndarray:
        """:meth:`encode` for counts already in the model's gene order.

        Parameters
        ----------
        counts
            Dense or sparse ``(n_cells, n_genes)`` counts, columns in :attr:`genes` order.
        covariates
            Per-cell covariates (as :func:`scvi_viz.io.adata.covariates_from_obs` reads them).
        batch_size
            Cells encoded at a time.
        """
        batch_size = _check_chunk(batch_size, "batch_size")
        out = np.empty((counts.shape[0], self.n_latent), dtype=np.float32)
        for start in range(0, counts.shape[0], batch_size):
            stop = min(start + batch_size, counts.shape[0])
            block = counts[start:stop]
            block = block.toarray() if hasattr(block, "toarray") else np.asarray(block)
            x = torch.as_tensor(block, dtype=torch.float32, device=self.device)
            if self.spec.log_variational:
                x = torch.log1p(x)
            rows = covariates.rows(slice(start, stop))
            inputs = self._inputs(
                np.zeros((stop - start, self.n_latent), np.float32),
                batch=rows.batch, categorical=rows.categorical, continuous=rows.continuous,
            )
            enc_in = x
            if self.spec.encode_covariates:
                extra = inputs.x[:, self.n_latent :]  # continuous covariates, then batch embedding
                enc_in = torch.cat([x, extra], dim=1) if extra.shape[1] else x
                cats = inputs.cats[:-1]  # drop the label: encoders take batch and covariates
            else:
                cats = ()
            qz, _ = self.encoder(enc_in, *cats)
            out[start:stop] = self.latent_point(qz.loc.cpu().numpy())
        return out

    def latent_point(self, qz_mean: np.ndarray) -> np.ndarray:
        """The latent point the decoder takes for a posterior mean: itself, or its ``softmax`` (``latent_distribution="ln"``).

        Float32, computed as :meth:`encode` computes it.
        """
        mean = torch.as_tensor(np.asarray(qz_mean, dtype=np.float32))
        return (torch.softmax(mean, dim=-1) if self.latent_distribution == "ln" else mean).numpy()

    # ------------------------------------------------- posterior q(z|x) and what follows from it
    @torch.inference_mode()
    def latent_posterior_counts(self, counts: Any, covariates: Covariates, *,
                                batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of each cell's posterior q(z|x), as the encoder outputs them.

        For ``latent_distribution="ln"`` these are of the Gaussian before the softmax
        (scvi-tools' ``qzm`` / ``qzv``); :meth:`sample_latent` applies the softmax.

        Parameters
        ----------
        counts, covariates, batch_size
            As in :meth:`encode_counts`.

        Returns
        -------
        tuple of numpy.ndarray
            ``(mean, variance)``, each float32 ``(n_cells, n_latent)``.
        """
        means = np.empty((counts.shape[0], self.n_latent), dtype=np.float32)
        variances = np.empty_like(means)
        for start in range(0, counts.shape[0], batch_size):
            stop = min(start + batch_size, counts.shape[0])
            block = counts[start:stop]
            block = block.toarray() if hasattr(block, "toarray") else np.asarray(block)
            x = torch.as_tensor(block, dtype=torch.float32, device=self.device)
            x = torch.log1p(x) if self.spec.log_variational else x
            rows = covariates.rows(slice(start, stop))
            inputs = self._inputs(np.zeros((stop - start, self.n_latent), np.float32), batch=rows.batch,
                                  categorical=rows.categorical, continuous=rows.continuous)
            cats: tuple[torch.Tensor, ...] = ()
            if self.spec.encode_covariates:
                extra = inputs.x[:, self.n_latent :]
                x = torch.cat([x, extra], dim=1) if extra.shape[1] else x
                cats = inputs.cats[:-1]
            qz, _ = self.encoder(x, *cats)
            means[start:stop] = qz.loc.cpu().numpy()
            variances[start:stop] = qz.scale.square().cpu().numpy()
        return means, variances

    def latent_posterior(self, adata: Any, *, batch_size: int = 1024,
                         allow_missing_genes: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`latent_posterior_counts` for an AnnData; minified data give their stored posterior.

        Data minified by scvi-tools (``uns["_scvi_adata_minify_type"] ==
        "latent_posterior_parameters"``) hold no counts: the posterior they store where the
        model's saved registry says (see :func:`scvi_viz.io.adata.stored_posterior`) is returned.
        """
        stored = stored_posterior(self.spec, DataStore.in_memory(adata))
        if stored is not None:
            return stored.qz_mean, stored.qz_var
        cells = model_inputs_from_adata(self.spec, adata, allow_missing_genes=allow_missing_genes)
        return self.latent_posterior_counts(cells.counts, cells.covariates, batch_size=batch_size)

    def sample_latent(self, qz_mean: np.ndarray, qz_var: np.ndarray, *, n_samples: int = 1,
                      seed: int | np.random.Generator = 0) -> np.ndarray:
        """Draws ``z ~ q(z|x)``: shape ``(n_samples, n_cells, n_latent)``, float32.

        For ``latent_distribution="ln"`` each draw goes through the softmax, as in scvi-tools.
        ``seed`` is an integer or a :class:`numpy.random.Generator`.
        """
        rng = np.random.default_rng(seed)
        qz_mean = np.asarray(qz_mean, dtype=np.float64)
        z = qz_mean + np.sqrt(np.asarray(qz_var, dtype=np.float64)) * rng.standard_normal((n_samples, *qz_mean.shape))
        if self.latent_distribution == "ln":
            z = np.exp(z - z.max(-1, keepdims=True))
            z /= z.sum(-1, keepdims=True)
        return z.astype(np.float32)

    def _posterior_scales(self, qz_mean: np.ndarray, qz_var: np.ndarray, covariates: Covariates,
                          batch: PerRow | None, n_draws: int, rng: np.random.Generator) -> np.ndarray:
        """``n_draws`` samples of normalised expression of a group, drawn as scvi-tools draws them.

        scvi-tools samples ``n_draws // n_cells + 1`` latent draws of every cell, decodes them
        all and keeps ``n_draws`` of the decoded rows, uniformly with replacement. Here the kept
        rows are chosen first and only those are drawn and decoded: the same distribution, at a
        fraction of the cost for large groups.
        """
        n_cells = qz_mean.shape[0]
        per_cell = n_draws // n_cells + 1
        picked = rng.choice(per_cell * n_cells, size=n_draws, replace=True)
        unique, back = np.unique(picked, return_inverse=True)
        cells = unique % n_cells
        z = self.sample_latent(qz_mean[cells], qz_var[cells], n_samples=1, seed=rng)[0]
        rows = covariates.rows(cells)
        if batch is not None:
            rows = rows.with_value("batch", None, batch)
        scale = self.decode(z, library_size=1.0, **rows.decode_kwargs()).scale.cpu().numpy()
        return scale[back]

    def differential_expression_counts(
        self,
        counts: Any,
        covariates: Covariates,
        idx1: Any,
        idx2: Any,
        *,
        delta: float | None = 0.25,
        batch_correction: bool = False,
        batch: str | None = None,
        fdr_target: float = 0.05,
        n_samples: int | None = None,
        seed: int = 0,
        qz: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> pd.DataFrame:
        """:meth:`differential_expression` for counts in the model's gene order and two sets of rows.

        Parameters
        ----------
        counts, covariates
            As in :meth:`encode_counts` (all cells).
        idx1, idx2
            The two groups: row indices or boolean masks over ``counts``.
        qz
            Each cell's posterior ``(mean, variance)`` if already computed (every row), e.g.
            for minified data; else the encoder computes it for the two groups' cells.
        delta, batch_correction, batch, fdr_target, n_samples, seed
            As in :meth:`differential_expression`.
        """
        n = counts.shape[0]
        groups = [_as_indices(idx, n, name) for idx, name in ((idx1, "idx1"), (idx2, "idx2"))]
        if batch is not None and batch_correction:
            raise DecodeInputError("Give either batch (decode both groups in one batch) or batch_correction=True, not both.")
        if batch is not None:
            batches: list[str | None] = [self.spec.batches[int(self._category_index(batch, self.spec.batches, 1, "batch")[0, 0])]]
        elif batch_correction:
            batches = list(self.spec.batches)
        else:
            batches = [None]
        n_total = posterior.DEFAULT_DE_SAMPLES if n_samples is None else int(n_samples)
        if n_total < 1:
            raise DecodeInputError(f"n_samples must be at least 1, not {n_samples}.")
        per_batch = max(int(n_total / len(batches)), 2)
        rng = np.random.default_rng(seed)
        scales = []
        for cells in groups:
            if qz is None:
                mean, var = self.latent_posterior_counts(counts[cells], covariates.rows(cells))
            else:
                mean, var = qz[0][cells], qz[1][cells]
            rows = covariates.rows(cells)
            # Pairs are formed within each batch the groups are decoded in, as scvi-tools does.
            scales.append(np.concatenate([self._posterior_scales(mean, var, rows, b, per_batch, rng) for b in batches]))
        observed = [_dense(counts[cells]) for cells in groups]
        not_expressed = [block.mean(0) < posterior.ZERO_COUNT_THRESHOLD for block in observed]
        pseudocounts = posterior.estimate_pseudocounts(scales[0], scales[1], *not_expressed)
        stats = posterior.change_statistics(scales[0], scales[1], delta=delta, pseudocounts=pseudocounts, seed=seed)
        totals = np.asarray(counts.sum(axis=1), dtype=np.float64).ravel()
        table = pd.DataFrame({
            "proba_de": stats["proba_de"], "proba_not_de": stats["proba_not_de"], "bayes_factor": stats["bayes_factor"],
            "scale1": scales[0].mean(0), "scale2": scales[1].mean(0),
            "pseudocounts": pseudocounts, "delta": stats["delta"],
            **{k: stats[k] for k in ("lfc_mean", "lfc_median", "lfc_std", "lfc_min", "lfc_max")},
            "raw_mean1": observed[0].mean(0), "raw_mean2": observed[1].mean(0),
            "non_zeros_proportion1": (observed[0] != 0).mean(0), "non_zeros_proportion2": (observed[1] != 0).mean(0),
            "raw_normalized_mean1": _normalized_mean(observed[0], totals[groups[0]]),
            "raw_normalized_mean2": _normalized_mean(observed[1], totals[groups[1]]),
        }, index=pd.Index(self.genes, name="gene"))
        table = table.sort_values("proba_de", ascending=False, kind="stable")
        table[f"is_de_fdr_{fdr_target}"] = posterior.fdr_de_calls(table["proba_de"].to_numpy(), fdr=fdr_target)
        table.attrs.update({"n_cells1": len(groups[0]), "n_cells2": len(groups[1]), "n_samples": per_batch * len(batches),
                            "batches": [b for b in batches if b is not None], "seed": seed})
        return table

    def differential_expression(
        self,
        adata: Any,
        *,
        groupby: str | None = None,
        group1: str | None = None,
        group2: str | None = None,
        idx1: Any = None,
        idx2: Any = None,
        delta: float | None = 0.25,
        batch_correction: bool = False,
        batch: str | None = None,
        fdr_target: float = 0.05,
        n_samples: int | None = None,
        seed: int = 0,
        allow_missing_genes: bool = False,
    ) -> pd.DataFrame:
        """Differential expression between two groups of cells, as scvi-tools' ``mode="change"``.

        For each group, ``n_samples`` samples of normalised expression are drawn from the
        posterior (a cell of the group, a latent draw ``z ~ q(z|x)`` of it, decoded); sample
        pairs of the two groups give a log2 fold-change (LFC) distribution per gene. A gene's
        ``proba_de`` is the larger of ``P(LFC >= delta)`` and ``P(LFC < -delta)``;
        ``is_de_fdr_<fdr_target>`` calls the largest set of top genes whose posterior expected
        false discovery rate is at most ``fdr_target``. See :mod:`scvi_viz.posterior`.

        Parameters
        ----------
        adata
            The cells (with counts, which also set the pseudocount and the ``raw_*`` columns).
        groupby, group1, group2
            An ``obs`` column and two of its categories; ``group2=None`` compares ``group1``
            with every other cell ("Rest").
        idx1, idx2
            Instead of ``groupby``: the two groups as row indices or boolean masks
            (``idx2=None``: every other cell).
        delta
            LFC threshold of "differentially expressed"; ``None`` estimates it from the data.
        batch_correction
            Decode every cell under each of the model's batches (pairs within a batch) instead
            of its own batch, as scvi-tools does.
        batch
            Decode both groups in this one batch (scvi-tools' ``batchid1 = batchid2 = [batch]``
            with ``batch_correction=True``).
        fdr_target
            Target of the FDR-controlled call.
        n_samples
            Posterior samples per group; scvi-tools' default (5000) when ``None``.
        seed
            The result is the same for the same seed.
        allow_missing_genes
            Treat model genes the data lacks as zero counts.

        Returns
        -------
        pandas.DataFrame
            Indexed by gene, sorted by ``proba_de``: scvi-tools' columns ``proba_de``,
            ``proba_not_de``, ``bayes_factor``, ``scale1``, ``scale2``, ``pseudocounts``,
            ``delta``, ``lfc_mean``, ``lfc_median``, ``lfc_std``, ``lfc_min``, ``lfc_max``,
            ``raw_mean1``, ``raw_mean2``, ``non_zeros_proportion1``, ``non_zeros_proportion2``,
            ``raw_normalized_mean1``, ``raw_normalized_mean2``, ``is_de_fdr_<fdr_target>``,
            and for ``groupby`` comparisons ``comparison``, ``group1``, ``group2``.

        Raises
        ------
        DecodeInputError
            For missing or empty groups, an unknown column or category, or an unknown batch.
        DataError
            If the data does not fit the model, or is minified (no counts).
        """
        if is_minified(DataStore.in_memory(adata), self.spec):
            raise DataError("This AnnData is minified (its counts were dropped): differential expression needs the "
                            "counts; use the full data the model was trained on.")
        names = None
        if idx1 is None:
            if groupby is None or group1 is None:
                raise DecodeInputError("Give groupby and group1 (and optionally group2), or idx1 (and optionally idx2).")
            if groupby not in adata.obs:
                raise DecodeInputError(f"obs has no column {groupby!r}; columns: {', '.join(map(str, adata.obs.columns[:10]))}.")
            values = adata.obs[groupby].astype(str).to_numpy()
            for group in (group1, group2):
                if group is not None and not (values == str(group)).any():
                    raise DecodeInputError(f"No cell has {groupby} = {group!r}.")
            idx1 = values == str(group1)
            idx2 = ~idx1 if group2 is None else values == str(group2)
            names = (str(group1), "Rest" if group2 is None else str(group2))
        elif idx2 is None:
            idx2 = np.setdiff1d(np.arange(adata.n_obs), _as_indices(idx1, adata.n_obs, "idx1"))
        cells = model_inputs_from_adata(self.spec, adata, allow_missing_genes=allow_missing_genes)
        table = self.differential_expression_counts(
            cells.counts, cells.covariates, idx1, idx2, delta=delta, batch_correction=batch_correction, batch=batch,
            fdr_target=fdr_target, n_samples=n_samples, seed=seed)
        if names is not None:
            table["comparison"] = f"{names[0]} vs {names[1]}"
            table["group1"], table["group2"] = names
        return table

    @torch.inference_mode()
    def posterior_predictive_counts(self, counts: Any, covariates: Covariates, library_size: Any, *,
                                    n_samples: int = 1, seed: int = 0,
                                    qz: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """:meth:`posterior_predictive_sample` for counts in the model's gene order.

        Parameters
        ----------
        counts, covariates
            The cells to sample for (as in :meth:`encode_counts`).
        library_size
            Each cell's library size (total counts, or size factor for size-factor models).
        n_samples
            Draws per cell.
        seed
            The draws are the same for the same seed.
        qz
            The cells' posterior ``(mean, variance)``, if already computed.
        """
        rng = np.random.default_rng(seed)
        mean, var = self.latent_posterior_counts(counts, covariates) if qz is None else qz
        n_cells = mean.shape[0]
        library = self._per_row(library_size, n_cells, "library_size")
        out = np.empty((n_cells, self.n_genes, n_samples), dtype=np.float32)
        z = self.sample_latent(mean, var, n_samples=n_samples, seed=rng)
        kwargs = covariates.decode_kwargs()
        for s in range(n_samples):
            decoded = self.decode(z[s], library_size=library, **kwargs)
            theta = None if decoded.theta is None else decoded.theta.cpu().numpy()
            dropout = None if decoded.dropout is None else decoded.dropout.cpu().numpy()
            out[:, :, s] = posterior.sample_counts(decoded.rate.cpu().numpy(), theta, dropout, rng)
        return out

    def posterior_predictive_sample(self, adata: Any, *, indices: Any = None, n_samples: int = 1, seed: int = 0,
                                    allow_missing_genes: bool = False) -> np.ndarray:
        """Counts drawn from the posterior predictive distribution p(x_hat | x), as scvi-tools does.

        For every cell, ``n_samples`` latent draws ``z ~ q(z|x)``, each decoded at the cell's
        own library size (its total counts over the model's genes, or its size factor) and
        covariates, and one count per gene drawn from the model's likelihood (ZINB, NB or
        Poisson) for each draw.

        Parameters
        ----------
        adata
            The cells (with counts).
        indices
            Rows of ``adata`` to sample for (indices or a boolean mask); default all.
        n_samples
            Draws per cell.
        seed
            The draws are the same for the same seed.
        allow_missing_genes
            Treat model genes the data lacks as zero counts.

        Returns
        -------
        numpy.ndarray
            Float32 counts of shape ``(n_cells, n_genes, n_samples)`` (also for
            ``n_samples=1``, where scvi-tools drops the last axis), genes in :attr:`genes` order.
        """
        if is_minified(DataStore.in_memory(adata), self.spec):
            raise DataError("This AnnData is minified (its counts were dropped): use the full data, whose library "
                            "sizes the predictive draws need.")
        cells = model_inputs_from_adata(self.spec, adata, allow_missing_genes=allow_missing_genes)
        rows = np.arange(adata.n_obs) if indices is None else _as_indices(indices, adata.n_obs, "indices")
        counts = cells.counts[rows]
        if self.uses_size_factor:
            library = adata.obs[self.spec.size_factor_key].to_numpy(dtype=np.float64)[rows]
        else:
            library = np.asarray(counts.sum(axis=1), dtype=np.float64).ravel()
        return self.posterior_predictive_counts(counts, cells.covariates.rows(rows), np.where(library > 0, library, 1.0),
                                                n_samples=n_samples, seed=seed)


def _as_indices(idx: Any, n: int, what: str) -> np.ndarray:
    """Row indices from indices or a boolean mask over ``n`` rows; refuses an empty group."""
    arr = np.asarray(idx).ravel()
    if arr.dtype == bool:
        if arr.shape[0] != n:
            raise DecodeInputError(f"{what} is a mask of {arr.shape[0]} values for {n} cells.")
        arr = np.flatnonzero(arr)
    arr = arr.astype(np.int64)
    if arr.size == 0:
        raise DecodeInputError(f"{what} selects no cells; both groups need at least one.")
    if arr.min() < 0 or arr.max() >= n:
        raise DecodeInputError(f"{what} has row numbers outside 0..{n - 1}.")
    return arr


def _dense(block: Any) -> np.ndarray:
    return np.asarray(block.toarray() if hasattr(block, "toarray") else block, dtype=np.float64)


def _normalized_mean(observed: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Mean of counts scaled to 10,000 per cell (scvi-tools' ``raw_normalized_mean``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (observed * (1e4 / totals)[:, None]).mean(0)


def load_model(path: str | Path, *, device: str | torch.device | None = None) -> ScviModel:
    """Load a scVI or scANVI model saved with scvi-tools' ``model.save(dir)``.

    The pickle in ``model.pt`` is read with an allowlist, so no code from the file runs.
    scvi-tools does not need to be installed.

    Parameters
    ----------
    path
        The directory that ``model.save(dir)`` wrote, or the ``model.pt`` inside it.
    device
        ``"cuda"``, ``"cpu"`` or a :class:`torch.device`; default CUDA when available.

    Returns
    -------
    ScviModel
        The model, ready to decode and encode.

    Raises
    ------
    FileNotFoundError
        If there is no model at ``path``.
    ModelFileError
        If the file is damaged or not a saved scvi-tools model.
    UnsafeModelFileError
        If the file asks to run code.
    UnsupportedModelError
        If the model's decoder is not ``DecoderSCVI`` (TOTALVI, CondSCVI, ...).

    Examples
    --------
    >>> model = load_model("my_scvi_model/")  # doctest: +SKIP
    >>> out = model.decode(np.zeros(model.n_latent), library_size=1e4)  # doctest: +SKIP
    """
    return ScviModel(read_model_spec(path), device=device, path=resolve_model_file(path))
