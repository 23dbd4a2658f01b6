"""Decoding: latent points -> expected expression, dispersion and dropout of every gene.

:class:`DecodeMixin` runs ``DecoderSCVI.forward`` in chunks straight into its output buffers,
retries smaller chunks after a CUDA out-of-memory error and finishes on the CPU if it must.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from scvi_viz.errors import CudaFallbackWarning, DecodeInputError
from scvi_viz.model.base import BaseModel
from scvi_viz.model.inputs import DecoderInputs, PerRow, check_chunk
from scvi_viz.model.threads import one_thread_for_few_points
from scvi_viz.nn import DecoderSCVI

DEFAULT_CHUNK = 2048
MAX_DECODE_BYTES = 4 * 1024**3
"""Most memory one ``decode``/``decode_genes`` call may hold in its results (rows x genes x outputs)."""
MIN_OOM_CHUNK = 64
"""Smallest chunk tried on the GPU after an out-of-memory error, before finishing on the CPU."""


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



def _is_cuda_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or (isinstance(exc, RuntimeError) and "CUDA out of memory" in str(exc))


class DecodeMixin(BaseModel):
    """``decode`` and ``decode_mean`` (scvi-tools' ``generative`` / ``get_normalized_expression``)."""

    _cpu_decoder: DecoderSCVI | None = None  # made on the first CUDA out-of-memory fallback

    def _theta(self, inputs: DecoderInputs, px_r: torch.Tensor | None, genes: list[int] | None = None) -> torch.Tensor | None:
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

    @one_thread_for_few_points
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
        chunk_size = check_chunk(chunk_size)
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
        with self._lock:
            if self._cpu_decoder is None:
                self._cpu_decoder = copy.deepcopy(self.decoder).to("cpu")
            return self._cpu_decoder

    def _decode_chunks(
        self, inputs: DecoderInputs, chunk_size: int, decoder: DecoderSCVI, device: torch.device
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
        part: DecoderInputs,
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

    @one_thread_for_few_points
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
        chunk_size = check_chunk(chunk_size)
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
