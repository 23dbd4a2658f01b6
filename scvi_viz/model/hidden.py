"""A few genes for many cells: the decoder's hidden layer, kept per covariate setting.

Every gene's output is a dot product of the decoder's hidden layer (``px_decoder``'s output)
with that gene's weights; only the softmax normaliser needs every gene. :class:`HiddenLayerMixin`
keeps the hidden layer and the normaliser of recent inputs, so that colouring all cells by one
gene costs one dot product per cell after the first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from scvi_viz.errors import DecodeInputError
from scvi_viz.model.decoding import Decoded, DecodeMixin
from scvi_viz.model.inputs import DecoderInputs, PerRow, check_chunk
from scvi_viz.model.threads import one_thread_for_few_points

HIDDEN_CACHE_ENTRIES = 4
"""Covariate settings whose hidden layers :meth:`HiddenLayerMixin.decode_genes` keeps."""
HIDDEN_CACHE_BYTES = 1536 * 1024**2
"""Most memory those hidden layers may hold together (a million cells x 128 units take 512 MB)."""


class HiddenLayerMixin(DecodeMixin):
    """``decode_genes``, ``hidden_layer``, ``scale_from_hidden`` and ``softmax_log_normaliser``.

    The cache of hidden layers is shared by every thread using the model: reads and writes
    hold the model's lock.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hidden_cache: OrderedDict[str, tuple[torch.Tensor, torch.Tensor | None]] = OrderedDict()

    def _hidden(self, inputs: DecoderInputs, chunk_size: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Hidden layer and softmax log-normaliser per row, cached by input content.

        The cache is shared by every thread using this model: reads and writes hold
        the model's ``_lock``; the computation itself runs outside it (two threads that miss at once
        both compute the same values, and the second stores them again). It keeps
        :data:`HIDDEN_CACHE_ENTRIES` settings and at most :data:`HIDDEN_CACHE_BYTES` (always the
        newest one).
        """
        key = inputs.key()
        with self._lock:
            if key in self._hidden_cache:
                self._hidden_cache.move_to_end(key)
                return self._hidden_cache[key]
        hidden = self._px_hidden(inputs, chunk_size)
        log_norm = None
        if self.decoder.scale_activation == "softmax":
            linear = self.decoder.px_scale_decoder[0]
            log_norm = torch.cat([torch.logsumexp(linear(h), dim=-1) for h in hidden.split(chunk_size)])
        with self._lock:
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
        chunk_size = check_chunk(chunk_size)
        return self._px_hidden(self._inputs(z, batch=batch, label=label, categorical=categorical, continuous=continuous),
                               chunk_size)

    def _px_hidden(self, inputs: DecoderInputs, chunk_size: int) -> torch.Tensor:
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

    @one_thread_for_few_points
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
        chunk_size = check_chunk(chunk_size)
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

