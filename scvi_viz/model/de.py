"""Differential expression between two groups of cells, as scvi-tools' ``mode="change"``.

:class:`DifferentialExpressionMixin` draws posterior samples of each group's normalised
expression (a cell, a latent draw of it, decoded) and hands them to :mod:`scvi_viz.posterior`
for the fold-change distribution, the Bayes factor and the FDR call (scvi-tools'
``RNASeqMixin.differential_expression``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from scvi_viz import posterior
from scvi_viz.covariates import Covariates
from scvi_viz.errors import DataError, DecodeInputError
from scvi_viz.io.adata import is_minified, model_inputs_from_adata
from scvi_viz.io.store import DataStore
from scvi_viz.model.decoding import DecodeMixin
from scvi_viz.model.encoding import EncodeMixin
from scvi_viz.model.inputs import PerRow, category_index, check_adata, check_count, check_real, check_seed, row_indices

MAX_DE_SAMPLES = 200_000
"""Most posterior samples per group one differential expression may draw."""
MAX_DE_SAMPLE_BYTES = 2 * 1024**3
"""Most memory the two groups' samples may take (samples x genes x 4 bytes x 2 groups)."""


class DifferentialExpressionMixin(DecodeMixin, EncodeMixin):
    """``differential_expression`` and ``differential_expression_counts``."""

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

    def _check_de_arguments(self, n_samples: Any, delta: Any, fdr_target: Any,
                            seed: Any) -> tuple[int, float | None, float, int]:
        """The numeric arguments of :meth:`differential_expression`, checked (sizes capped before any draw)."""
        n_total = posterior.DEFAULT_DE_SAMPLES if n_samples is None else check_count(n_samples, "n_samples", high=MAX_DE_SAMPLES)
        if n_total * self.n_genes * 4 * 2 > MAX_DE_SAMPLE_BYTES:
            most = MAX_DE_SAMPLE_BYTES // (self.n_genes * 4 * 2)
            raise DecodeInputError(f"n_samples={n_total:,} for {self.n_genes:,} genes would hold more than "
                                   f"{MAX_DE_SAMPLE_BYTES / 1e9:.1f} GB of samples; use at most {most:,}.")
        if delta is not None:
            delta = check_real(delta, "delta (the smallest log2 fold change called DE)", low=0)
        fdr_target = check_real(fdr_target, "fdr_target", low=0, high=1, open_low=True, open_high=True)
        return n_total, delta, fdr_target, check_seed(seed)

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
        groups = [row_indices(idx, n, name) for idx, name in ((idx1, "idx1"), (idx2, "idx2"))]
        if batch is not None and batch_correction:
            raise DecodeInputError("Give either batch (decode both groups in one batch) or batch_correction=True, not both.")
        if batch is not None:
            batches: list[str | None] = [self.spec.batches[int(category_index(batch, self.spec.batches, 1, "batch", self.device)[0, 0])]]
        elif batch_correction:
            batches = list(self.spec.batches)
        else:
            batches = [None]
        n_total, delta, fdr_target, seed = self._check_de_arguments(n_samples, delta, fdr_target, seed)
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
        observed = [dense(counts[cells]) for cells in groups]
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
        check_adata(adata)
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
            idx2 = np.setdiff1d(np.arange(adata.n_obs), row_indices(idx1, adata.n_obs, "idx1"))
        cells = model_inputs_from_adata(self.spec, adata, allow_missing_genes=allow_missing_genes)
        table = self.differential_expression_counts(
            cells.counts, cells.covariates, idx1, idx2, delta=delta, batch_correction=batch_correction, batch=batch,
            fdr_target=fdr_target, n_samples=n_samples, seed=seed)
        if names is not None:
            table["comparison"] = f"{names[0]} vs {names[1]}"
            table["group1"], table["group2"] = names
        return table


def dense(block: Any) -> np.ndarray:
    """A block of counts (dense or sparse) as a float64 array."""
    return np.asarray(block.toarray() if hasattr(block, "toarray") else block, dtype=np.float64)


def _normalized_mean(observed: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Mean of counts scaled to 10,000 per cell (scvi-tools' ``raw_normalized_mean``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (observed * (1e4 / totals)[:, None]).mean(0)
