"""Encoding: counts -> each cell's posterior q(z|x) and its latent point.

:class:`EncodeMixin` runs the model's ``z_encoder`` over counts in blocks (scvi-tools'
``VAE.inference`` and ``get_latent_representation``), reads minified data's stored posterior,
and draws from q(z|x).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from scvi_viz.covariates import Covariates
from scvi_viz.errors import DecodeInputError
from scvi_viz.io.adata import model_inputs_from_adata, stored_posterior
from scvi_viz.io.store import DataStore
from scvi_viz.model.base import BaseModel
from scvi_viz.model.inputs import check_adata, check_chunk, check_count, check_seed, numbers

MAX_LATENT_DRAWS = 10**8
"""Most latent values (draws x cells x dimensions) one :meth:`EncodeMixin.sample_latent` call makes."""


class EncodeMixin(BaseModel):
    """``encode``, ``latent_posterior`` and ``sample_latent`` (scvi-tools' ``VAEMixin``)."""

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
        check_chunk(batch_size, "batch_size")
        check_adata(adata)
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
        batch_size = check_chunk(batch_size, "batch_size")
        out = np.empty((counts.shape[0], self.n_latent), dtype=np.float32)
        for rows, qz in self._posterior_blocks(counts, covariates, batch_size):
            out[rows] = self.latent_point(qz.loc.cpu().numpy())
        return out

    def _posterior_blocks(self, counts: Any, covariates: Covariates,
                          batch_size: int) -> Iterator[tuple[slice, torch.distributions.Normal]]:
        """``(rows, q(z|x))`` for each block of ``batch_size`` cells, as ``VAE.inference`` computes it."""
        for start in range(0, counts.shape[0], batch_size):
            stop = min(start + batch_size, counts.shape[0])
            block = counts[start:stop]
            block = numbers(block.toarray() if hasattr(block, "toarray") else block, "counts")
            x = torch.as_tensor(block, dtype=torch.float32, device=self.device)
            if self.spec.log_variational:
                x = torch.log1p(x)
            rows = covariates.rows(slice(start, stop))
            inputs = self._inputs(np.zeros((stop - start, self.n_latent), np.float32), batch=rows.batch,
                                  categorical=rows.categorical, continuous=rows.continuous)
            cats: tuple[torch.Tensor, ...] = ()
            if self.spec.encode_covariates:
                extra = inputs.x[:, self.n_latent :]  # continuous covariates, then batch embedding
                x = torch.cat([x, extra], dim=1) if extra.shape[1] else x
                cats = inputs.cats[:-1]  # drop the label: encoders take batch and covariates
            qz, _ = self.encoder(x, *cats)
            yield slice(start, stop), qz

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
        batch_size = check_chunk(batch_size, "batch_size")
        means = np.empty((counts.shape[0], self.n_latent), dtype=np.float32)
        variances = np.empty_like(means)
        for rows, qz in self._posterior_blocks(counts, covariates, batch_size):
            means[rows] = qz.loc.cpu().numpy()
            variances[rows] = qz.scale.square().cpu().numpy()
        return means, variances

    def latent_posterior(self, adata: Any, *, batch_size: int = 1024,
                         allow_missing_genes: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`latent_posterior_counts` for an AnnData; minified data give their stored posterior.

        Data minified by scvi-tools (``uns["_scvi_adata_minify_type"] ==
        "latent_posterior_parameters"``) hold no counts: the posterior they store where the
        model's saved registry says (see :func:`scvi_viz.io.adata.stored_posterior`) is returned.
        """
        check_adata(adata)
        stored = stored_posterior(self.spec, DataStore.in_memory(adata))
        if stored is not None:
            return stored.qz_mean, stored.qz_var
        cells = model_inputs_from_adata(self.spec, adata, allow_missing_genes=allow_missing_genes)
        return self.latent_posterior_counts(cells.counts, cells.covariates, batch_size=batch_size)

    def sample_latent(self, qz_mean: np.ndarray, qz_var: np.ndarray, *, n_samples: int = 1,
                      seed: int | np.random.Generator = 0) -> np.ndarray:
        """Draws ``z ~ q(z|x)``: shape ``(n_samples, n_cells, n_latent)``, float32.

        For ``latent_distribution="ln"`` each draw goes through the softmax, as in scvi-tools.
        ``seed`` is a whole number from 0 or a :class:`numpy.random.Generator`. At most
        :data:`MAX_LATENT_DRAWS` values (draws x cells x dimensions) per call.
        """
        n_samples = check_count(n_samples, "n_samples", high=MAX_LATENT_DRAWS)
        mean = numbers(qz_mean, "qz_mean")
        var = numbers(qz_var, "qz_var")
        if mean.ndim != 2 or mean.shape[1] != self.n_latent or var.shape != mean.shape:
            raise DecodeInputError(f"qz_mean and qz_var must both have shape (n_cells, {self.n_latent}); "
                                   f"got {mean.shape} and {var.shape}.")
        if np.any(var < 0):
            raise DecodeInputError("qz_var holds negative variances; pass the posterior variances (qz.scale ** 2).")
        if n_samples * mean.size > MAX_LATENT_DRAWS:
            raise DecodeInputError(f"{n_samples:,} draws of {mean.shape[0]:,} cells make more than {MAX_LATENT_DRAWS:,} "
                                   "latent values; draw fewer samples or fewer cells per call.")
        rng = np.random.default_rng(check_seed(seed))
        z = mean + np.sqrt(var) * rng.standard_normal((n_samples, *mean.shape))
        if self.latent_distribution == "ln":
            z = np.exp(z - z.max(-1, keepdims=True))
            z /= z.sum(-1, keepdims=True)
        return z.astype(np.float32)
