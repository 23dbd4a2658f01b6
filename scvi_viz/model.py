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
import torch
from torch.nn import functional as F

from scvi_viz.covariates import Covariates
from scvi_viz.errors import CudaFallbackWarning, DecodeInputError, ModelFileError
from scvi_viz.io.adata import model_inputs_from_adata
from scvi_viz.io.model_file import read_model_spec, resolve_model_file
from scvi_viz.nn import DecoderSCVI, Encoder
from scvi_viz.spec import Dispersion, LatentDistribution, Likelihood, ModelSpec

Index = int | str
PerRow = Index | Sequence[Index] | np.ndarray
DEFAULT_CHUNK = 2048
HIDDEN_CACHE_ENTRIES = 4
"""Covariate settings whose hidden layers :meth:`ScviModel.decode_genes` keeps."""
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
        if value is None:
            idx = np.zeros(n, dtype=np.int64)
        else:
            lookup = {c: i for i, c in enumerate(categories)}
            idx = np.empty(n, dtype=np.int64)
            for j, v in enumerate(self._per_row(value, n, what)):
                if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
                    if not 0 <= int(v) < len(categories):
                        raise DecodeInputError(f"{what} index {v} is out of range: the model has {len(categories)} categories.")
                    idx[j] = int(v)
                elif str(v) in lookup:
                    idx[j] = lookup[str(v)]
                else:
                    shown = ", ".join(map(repr, categories[:8])) + (" ..." if len(categories) > 8 else "")
                    raise DecodeInputError(f"{what} {str(v)!r} is not one of the model's categories: {shown}.")
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
        both compute the same values, and the second stores them again).
        """
        key = inputs.key()
        with self._hidden_lock:
            if key in self._hidden_cache:
                self._hidden_cache.move_to_end(key)
                return self._hidden_cache[key]
        n = inputs.x.shape[0]
        hidden = torch.empty(n, self.spec.n_hidden, device=self.device)
        log_norm = torch.empty(n, device=self.device) if self.decoder.scale_activation == "softmax" else None
        linear = self.decoder.px_scale_decoder[0]
        for start in range(0, n, chunk_size):
            part = inputs.rows(start, start + chunk_size)
            h = self.decoder.px_decoder(part.x, *part.cats)
            hidden[start : start + h.shape[0]] = h
            if log_norm is not None:
                log_norm[start : start + h.shape[0]] = torch.logsumexp(linear(h), dim=-1)
        with self._hidden_lock:
            self._hidden_cache[key] = (hidden, log_norm)
            while len(self._hidden_cache) > HIDDEN_CACHE_ENTRIES:
                self._hidden_cache.popitem(last=False)
        return hidden, log_norm

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
            mean = qz.loc
            if self.latent_distribution == "ln":
                mean = torch.softmax(mean, dim=-1)
            out[start:stop] = mean.cpu().numpy()
        return out


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
