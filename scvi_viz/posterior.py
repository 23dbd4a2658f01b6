"""Statistics on posterior samples, as scvi-tools computes them.

scvi-tools' ``differential_expression(mode="change")`` (Boyeau et al. 2019) turns posterior
samples of normalised expression of two groups into a log2 fold-change (LFC) distribution per
gene, the probability that ``|LFC|`` exceeds ``delta``, a Bayes factor and a call that controls
the posterior expected false discovery rate. The functions here compute those numbers from
sample arrays; :meth:`scvi_viz.ScviModel.differential_expression` draws the samples.
:func:`sample_counts` draws counts from scVI's likelihoods (ZINB, NB, Poisson).
"""

from __future__ import annotations

import numpy as np

DEFAULT_DE_SAMPLES = 5000
"""Posterior samples of normalised expression per group: scvi-tools' ``n_samples_overall``."""
BAYES_EPS = 1e-8
"""Added inside the logs of the Bayes factor (scvi-tools' ``eps``)."""
ZERO_COUNT_THRESHOLD = 0.01
"""A gene whose mean observed count in a group is below this is "not expressed" there
(scvi-tools' ``threshold_counts``); such genes set the pseudocount."""
PSEUDOCOUNT_QUANTILE = 0.9
LFC_REPORT_SHRINK = 1e-3
"""The ``lfc_*`` columns use ``pseudocounts * LFC_REPORT_SHRINK`` (scvi-tools reduces the offset
there so that the reported fold changes are not pulled towards 0)."""
MAX_POISSON_RATE = 1e8
"""Gamma draws are clipped here before the Poisson draw, as in scvi-tools' NB sampler."""
_GENE_CHUNK = 2048


def estimate_pseudocounts(scales1: np.ndarray, scales2: np.ndarray, not_expressed1: np.ndarray,
                          not_expressed2: np.ndarray, *, quantile: float = PSEUDOCOUNT_QUANTILE) -> float:
    """Pseudocount added to normalised expression before the LFC, estimated from the data.

    Per group, the ``quantile`` of the largest sampled expression of genes the group does
    not express; the larger of the two, divided by the number of genes (scvi-tools'
    ``estimate_pseudocounts_offset``; at least 1e-10).

    Parameters
    ----------
    scales1, scales2
        Samples of normalised expression, ``(n_samples, n_genes)``.
    not_expressed1, not_expressed2
        Boolean per gene: mean observed count in the group below :data:`ZERO_COUNT_THRESHOLD`.
    """
    offsets = []
    for scales, mask in ((scales1, not_expressed1), (scales2, not_expressed2)):
        mask = np.asarray(mask, dtype=bool)
        offsets.append(float(np.quantile(scales[:, mask].max(axis=0), quantile)) if mask.any() else 1e-10)
    return max(1e-10, max(offsets) / scales1.shape[1])


def estimate_delta(lfc_means: np.ndarray, *, seed: int = 0, coef: float = 0.6, min_delta: float = 0.1) -> float:
    """An LFC threshold from the spread of mean LFCs over genes (``delta=None`` in scvi-tools).

    A three-component Gaussian mixture is fitted to the genes' mean LFCs; the threshold is
    ``coef`` times the mean absolute position of the outer two components, at least ``min_delta``.
    """
    from sklearn.mixture import GaussianMixture

    means = np.sort(GaussianMixture(n_components=3, random_state=seed).fit(np.asarray(lfc_means)[:, None]).means_.ravel())
    return float(max(min_delta, coef * np.abs(means[[0, -1]]).mean()))


def change_statistics(scales1: np.ndarray, scales2: np.ndarray, *, delta: float | None, pseudocounts: float,
                      seed: int = 0) -> dict[str, np.ndarray | float]:
    """scvi-tools' change-mode statistics from paired samples of two groups.

    ``lfc = log2(scale1 + pseudocounts) - log2(scale2 + pseudocounts)`` per sample pair;
    ``proba_de = max(P(lfc >= delta), P(lfc < -delta))`` (the "three" test mode);
    ``bayes_factor = log(proba_de + eps) - log(1 - proba_de + eps)``. The ``lfc_*``
    descriptions use a pseudocount smaller by :data:`LFC_REPORT_SHRINK`.

    Parameters
    ----------
    scales1, scales2
        Paired samples of normalised expression, both ``(n_samples, n_genes)``.
    delta
        The LFC threshold; ``None`` estimates it (:func:`estimate_delta`).
    pseudocounts
        See :func:`estimate_pseudocounts`.
    seed
        Seeds the mixture fit when ``delta`` is ``None``.

    Returns
    -------
    dict
        ``proba_de``, ``proba_not_de``, ``bayes_factor``, ``lfc_mean``, ``lfc_median``,
        ``lfc_std``, ``lfc_min``, ``lfc_max`` (arrays per gene) and the ``delta`` used.
    """
    n_genes = scales1.shape[1]
    names = ("proba_up", "proba_down", "lfc_mean", "lfc_median", "lfc_std", "lfc_min", "lfc_max", "lfc_test_mean")
    out = {k: np.empty(n_genes) for k in names}
    shrunk = pseudocounts * LFC_REPORT_SHRINK
    lfc_blocks = []
    for start in range(0, n_genes, _GENE_CHUNK):
        cols = slice(start, start + _GENE_CHUNK)
        # float32, as scvi-tools' samples are: twice as fast as float64, and the sums below run in float64.
        a = np.asarray(scales1[:, cols], dtype=np.float32)
        b = np.asarray(scales2[:, cols], dtype=np.float32)
        lfc = np.log2(a + np.float32(pseudocounts)) - np.log2(b + np.float32(pseudocounts))
        out["lfc_test_mean"][cols] = lfc.mean(0, dtype=np.float64)
        if delta is not None:
            out["proba_up"][cols] = (lfc >= delta).mean(0)
            out["proba_down"][cols] = (lfc < -delta).mean(0)
        else:
            lfc_blocks.append((cols, lfc))
        reported = np.log2(a + np.float32(shrunk)) - np.log2(b + np.float32(shrunk))
        out["lfc_mean"][cols] = reported.mean(0, dtype=np.float64)
        out["lfc_median"][cols] = np.median(reported, 0)
        out["lfc_std"][cols] = reported.std(0, dtype=np.float64)
        out["lfc_min"][cols] = reported.min(0)
        out["lfc_max"][cols] = reported.max(0)
    if delta is None:
        delta = estimate_delta(out["lfc_test_mean"], seed=seed)
        for cols, lfc in lfc_blocks:
            out["proba_up"][cols] = (lfc >= delta).mean(0)
            out["proba_down"][cols] = (lfc < -delta).mean(0)
    proba_de = np.maximum(out["proba_up"], out["proba_down"])
    return {
        "proba_de": proba_de,
        "proba_not_de": 1.0 - proba_de,
        "bayes_factor": np.log(proba_de + BAYES_EPS) - np.log(1.0 - proba_de + BAYES_EPS),
        **{k: out[k] for k in ("lfc_mean", "lfc_median", "lfc_std", "lfc_min", "lfc_max")},
        "delta": float(delta),
    }


def fdr_de_calls(proba_de: np.ndarray, *, fdr: float = 0.05) -> np.ndarray:
    """Which genes to call DE so that the posterior expected FDR stays at most ``fdr``.

    Genes sorted by ``proba_de`` (highest first); the expected FDR of the top ``k`` is the
    mean of their ``1 - proba_de``; the largest set of top genes at or below ``fdr`` is called
    (scvi-tools' ``_fdr_de_prediction``). Returns a boolean per gene, in input order.
    """
    proba_de = np.asarray(proba_de, dtype=np.float64)
    order = np.argsort(-proba_de, kind="stable")
    expected_fdr = np.cumsum(1.0 - proba_de[order]) / np.arange(1, len(order) + 1)
    calls = np.zeros(len(order), dtype=bool)
    calls[order[: int((expected_fdr <= fdr).sum())]] = True
    return calls


def sample_counts(rate: np.ndarray, theta: np.ndarray | None, dropout: np.ndarray | None,
                  rng: np.random.Generator) -> np.ndarray:
    """One draw of counts from scVI's likelihood with mean ``rate`` (any shape).

    NB(``rate``, ``theta``) as a Gamma-Poisson mixture (Gamma with shape ``theta`` and mean
    ``rate``, clipped at :data:`MAX_POISSON_RATE`); ``theta=None`` is Poisson(``rate``);
    ``dropout`` (zero-inflation probability) sets each count to 0 with that probability.
    """
    rate = np.asarray(rate, dtype=np.float64)
    if theta is None:
        means = rate
    else:
        theta = np.asarray(theta, dtype=np.float64)
        means = np.minimum(rng.gamma(theta, rate / theta), MAX_POISSON_RATE)
    counts = rng.poisson(means).astype(np.float32)
    if dropout is not None:
        counts[rng.random(counts.shape) <= dropout] = 0.0
    return counts
