"""``ScviModel``: a loaded scVI/scANVI decoder (and encoder) with a decode/encode API."""

from __future__ import annotations

import hashlib
import threading
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
from scvi_viz.errors import DecodeInputError, ModelFileError
from scvi_viz.io.adata import model_inputs_from_adata
from scvi_viz.io.model_file import read_model_spec, resolve_model_file
from scvi_viz.nn import DecoderSCVI, Encoder
from scvi_viz.spec import Dispersion, LatentDistribution, Likelihood, ModelSpec

Index = int | str
PerRow = Index | Sequence[Index] | np.ndarray
DEFAULT_CHUNK = 2048
HIDDEN_CACHE_ENTRIES = 4
"""Covariate settings whose hidden layers :meth:`ScviModel.decode_genes` keeps."""


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

    def key(self) -> str:
        """Content hash of everything that determines the decoder's hidden layer."""
        digest = hashlib.blake2b(digest_size=16)
        for t in (self.x, *self.cats):
            digest.update(t.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()


def _pick_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but CUDA is not available here; use device='cpu'.")
    return device


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
        self._load("decoder.", self.decoder)

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
        self._load("z_encoder.", self.encoder)

        px_r = state.get("px_r")
        self._log_theta = None if px_r is None else px_r.to(self.device, torch.float32)
        emb = state.get("_embeddings_dict.batch.weight")
        self._batch_embedding = None if emb is None else emb.to(self.device, torch.float32)
        self._hidden_cache: OrderedDict[str, tuple[torch.Tensor, torch.Tensor | None]] = OrderedDict()
        self._hidden_lock = threading.Lock()
        self._gene_index = {g: i for i, g in enumerate(spec.genes)}

    def _load(self, prefix: str, module: torch.nn.Module) -> None:
        sub = {k[len(prefix):]: v for k, v in self.spec.state_dict.items() if k.startswith(prefix)}
        try:
            module.load_state_dict(sub, strict=True)
        except RuntimeError as exc:
            raise ModelFileError(
                f"The saved weights under '{prefix}' do not match the architecture in the model's "
                f"settings ({str(exc).splitlines()[0]}). The file may come from a modified scvi-tools."
            ) from exc
        module.to(self.device).eval()
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
        t = z if isinstance(z, torch.Tensor) else torch.from_numpy(np.array(z, dtype=np.float32))
        if t.dim() == 1:
            t = t.unsqueeze(0)
        if t.dim() != 2 or t.shape[1] != self.n_latent:
            raise DecodeInputError(f"z must have shape (n, {self.n_latent}) or ({self.n_latent},); got {tuple(t.shape)}.")
        if not torch.isfinite(t).all():
            raise DecodeInputError("z contains NaN or infinite values.")
        return t.to(self.device, torch.float32)

    def _per_row(self, value: Any, n: int, what: str) -> np.ndarray:
        arr = np.asarray(value)
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
        lib = self._per_row(library_size, n, "library_size").astype(np.float64)
        if not np.all(np.isfinite(lib)) or np.any(lib <= 0):
            raise DecodeInputError("library_size must be positive and finite.")
        log_lib = torch.as_tensor(np.log(lib), dtype=torch.float32, device=self.device).unsqueeze(1)

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
                [self._per_row(continuous.get(name, 0.0), n, f"continuous covariate {name!r}").astype(np.float64)
                 for name in self.spec.continuous_covariates],
                axis=1,
            )
            if not np.all(np.isfinite(cont)):
                raise DecodeInputError("continuous covariates must be finite numbers.")
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
        log_theta = self._log_theta if genes is None else self._log_theta[genes]
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
        inputs = self._inputs(z, library_size=library_size, batch=batch, label=label, categorical=categorical, continuous=continuous)
        n, n_genes = inputs.x.shape[0], self.n_genes
        want_r = self.dispersion == "gene-cell" and self.gene_likelihood != "poisson"
        scale = torch.empty(n, n_genes, device=self.device)
        px_r = torch.empty_like(scale) if want_r else None
        dropout = torch.empty_like(scale) if self.gene_likelihood == "zinb" else None
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            rows = slice(start, stop)
            self._decode_rows(
                inputs.rows(start, stop), scale[rows],
                None if px_r is None else px_r[rows], None if dropout is None else dropout[rows],
            )
        return Decoded(scale, torch.exp(inputs.log_library), self._theta(inputs, px_r), dropout)

    def _decode_rows(
        self,
        part: _Inputs,
        scale: torch.Tensor,
        px_r: torch.Tensor | None,
        dropout: torch.Tensor | None,
    ) -> None:
        """``DecoderSCVI.forward`` written straight into the output buffers.

        Same operations as the module's forward (the parity tests hold it to scvi-tools), but
        each head's matmul writes into its slice of the result and the softmax runs in
        place, so a batch makes no temporary ``rows x genes`` copies. ``px_rate`` is left to
        :attr:`Decoded.rate`.
        """
        h = self.decoder.px_decoder(part.x, *part.cats)
        head = self.decoder.px_scale_decoder[0]
        torch.addmm(head.bias, h, head.weight.T, out=scale)
        if self.decoder.scale_activation == "softmax":
            torch.ops.aten._softmax.out(scale, 1, False, out=scale)
        else:
            scale.copy_(F.softplus(scale))
        if px_r is not None:
            r = self.decoder.px_r_decoder
            torch.addmm(r.bias, h, r.weight.T, out=px_r)
        if dropout is not None:
            d = self.decoder.px_dropout_decoder
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
        inputs = self._inputs(z, library_size=library_size, batch=batch, label=label, categorical=categorical, continuous=continuous)
        n = inputs.x.shape[0]
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
        idx = self.gene_indices(list(genes))
        inputs = self._inputs(z, library_size=library_size, batch=batch, label=label, categorical=categorical, continuous=continuous)
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
