"""Count distributions of scVI's likelihoods: zero probabilities and predictive intervals.

Parameterisation as in scvi-tools: NB with mean ``mu`` and inverse dispersion ``theta``
(variance ``mu + mu**2 / theta``); ZINB adds a zero-inflation (dropout) probability
``pi = sigmoid(zi_logits)``; Poisson has mean ``mu``.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def nb_zero_probability(mu: np.ndarray, theta: np.ndarray | None) -> np.ndarray:
    """P(count = 0) under NB(mu, theta), or Poisson(mu) when ``theta`` is ``None``."""
    mu = np.asarray(mu, dtype=np.float64)
    if theta is None:
        return np.exp(-mu)
    theta = np.asarray(theta, dtype=np.float64)
    return np.exp(theta * (np.log(theta) - np.log(theta + mu)))


def zero_probability_parts(
    mu: np.ndarray, theta: np.ndarray | None, dropout: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Split P(count = 0) into its dropout and count-distribution parts.

    Returns
    -------
    tuple of numpy.ndarray
        ``(from_dropout, from_counts)`` where ``from_dropout = pi`` and
        ``from_counts = (1 - pi) * P_NB(0)``; their sum is P(count = 0).
        Without zero inflation ``from_dropout`` is 0.
    """
    p0 = nb_zero_probability(mu, theta)
    if dropout is None:
        return np.zeros_like(p0), p0
    pi = np.asarray(dropout, dtype=np.float64)
    return pi, (1.0 - pi) * p0


def _count_ppf(q: np.ndarray, mu: np.ndarray, theta: np.ndarray | None) -> np.ndarray:
    q = np.clip(q, 0.0, 1.0)
    if theta is None:
        return stats.poisson.ppf(q, mu)
    theta = np.asarray(theta, dtype=np.float64)
    return stats.nbinom.ppf(q, theta, theta / (theta + mu))


def predictive_interval(
    mu: np.ndarray,
    theta: np.ndarray | None,
    dropout: np.ndarray | None,
    *,
    level: float = 0.9,
) -> tuple[np.ndarray, np.ndarray]:
    """Central ``level`` interval of the count distribution (ZINB, NB or Poisson).

    Parameters
    ----------
    mu
        Expected counts of the count component (scVI's ``px_rate``).
    theta
        NB inverse dispersion, ``None`` for Poisson.
    dropout
        Zero-inflation probability, ``None`` without zero inflation.
    level
        Probability mass inside the interval.

    Returns
    -------
    tuple of numpy.ndarray
        Lower and upper quantiles (integers as floats): the smallest counts whose CDF reaches
        ``(1 - level) / 2`` and ``(1 + level) / 2``.
    """
    mu = np.asarray(mu, dtype=np.float64)
    bounds = []
    for q in ((1.0 - level) / 2.0, (1.0 + level) / 2.0):
        if dropout is None:
            bounds.append(_count_ppf(np.full_like(mu, q), mu, theta))
            continue
        pi = np.asarray(dropout, dtype=np.float64)
        # ZINB CDF(k) = pi + (1 - pi) * CDF_NB(k); below pi only zero qualifies.
        q_nb = np.where(q <= pi, 0.0, (q - pi) / np.maximum(1.0 - pi, 1e-300))
        bounds.append(np.where(q <= pi, 0.0, _count_ppf(q_nb, mu, theta)))
    return bounds[0], bounds[1]


def expected_count(mu: np.ndarray, dropout: np.ndarray | None) -> np.ndarray:
    """Mean of the observed counts: ``(1 - pi) * mu`` with zero inflation, else ``mu``."""
    mu = np.asarray(mu, dtype=np.float64)
    return mu if dropout is None else (1.0 - np.asarray(dropout, dtype=np.float64)) * mu
