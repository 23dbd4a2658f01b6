"""Posterior predictive sampling: counts the model would generate for each cell (scvi-tools'
``RNASeqMixin.posterior_predictive_sample``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from scvi_viz import posterior
from scvi_viz.covariates import Covariates
from scvi_viz.errors import DataError, DecodeInputError
from scvi_viz.io.adata import is_minified, model_inputs_from_adata
from scvi_viz.io.store import DataStore
from scvi_viz.model.decoding import DecodeMixin
from scvi_viz.model.encoding import EncodeMixin
from scvi_viz.model.inputs import check_adata, check_count, check_seed, numbers, per_row, row_indices

MAX_PREDICTIVE_BYTES = 4 * 1024**3
"""Most memory the drawn counts of one call may take (cells x genes x samples x 4 bytes)."""


class PredictiveMixin(DecodeMixin, EncodeMixin):
    """``posterior_predictive_sample`` and ``posterior_predictive_counts``."""

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
        n_samples = check_count(n_samples, "n_samples", high=10**6)
        need = counts.shape[0] * self.n_genes * n_samples * 4
        if need > MAX_PREDICTIVE_BYTES:
            raise DecodeInputError(f"{n_samples:,} draws of {counts.shape[0]:,} cells x {self.n_genes:,} genes would need "
                                   f"{need / 1e9:.1f} GB; draw fewer samples or cells per call.")
        rng = np.random.default_rng(check_seed(seed))
        mean, var = self.latent_posterior_counts(counts, covariates) if qz is None else qz
        n_cells = mean.shape[0]
        library = numbers(per_row(library_size, n_cells, "library_size"), "library_size", positive=True)
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
        check_adata(adata)
        if is_minified(DataStore.in_memory(adata), self.spec):
            raise DataError("This AnnData is minified (its counts were dropped): use the full data, whose library "
                            "sizes the predictive draws need.")
        cells = model_inputs_from_adata(self.spec, adata, allow_missing_genes=allow_missing_genes)
        rows = np.arange(adata.n_obs) if indices is None else row_indices(indices, adata.n_obs, "indices")
        counts = cells.counts[rows]
        if self.uses_size_factor:
            library = adata.obs[self.spec.size_factor_key].to_numpy(dtype=np.float64)[rows]
        else:
            library = np.asarray(counts.sum(axis=1), dtype=np.float64).ravel()
        return self.posterior_predictive_counts(counts, cells.covariates.rows(rows), np.where(library > 0, library, 1.0),
                                                n_samples=n_samples, seed=seed)
