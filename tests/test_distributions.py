"""Zero probabilities, predictive intervals and means of scVI's count distributions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from scvi_viz.analysis.distributions import (
    expected_count,
    nb_zero_probability,
    predictive_interval,
    zero_probability_parts,
)

MU = np.array([0.01, 0.3, 1.0, 2.5, 7.0, 40.0, 250.0])
THETA = np.array([0.05, 0.5, 1.0, 3.0, 10.0, 0.8, 50.0])
PI = np.array([0.0, 0.02, 0.04, 0.3, 0.5, 0.9, 0.1])


def nb_p(mu, theta):
    """scipy's ``p`` for NB with mean ``mu`` and inverse dispersion ``theta``."""
    return theta / (theta + mu)


def zinb_pmf(k, mu, theta, pi):
    """Mixture pmf: pi * [k == 0] + (1 - pi) * NB(k)."""
    return pi * (k == 0) + (1 - pi) * stats.nbinom.pmf(k, theta, nb_p(mu, theta))


def brute_force_quantile(q, mu, theta, pi, k_max=20000):
    """Smallest k whose mixture CDF (a sum of pmf values) reaches q."""
    k = np.arange(k_max)
    cdf = np.cumsum(zinb_pmf(k, mu, theta, pi))
    # Tiny tolerance for the rounding of the cumulative sum.
    return int(np.argmax(cdf >= q - 1e-12))


def test_nb_zero_probability_matches_scipy():
    expected = stats.nbinom.pmf(0, THETA, nb_p(MU, THETA))
    np.testing.assert_allclose(nb_zero_probability(MU, THETA), expected, rtol=1e-10)


def test_zero_probability_parts_zinb_matches_scipy_and_sums_to_p0():
    from_dropout, from_counts = zero_probability_parts(MU, THETA, PI)
    nb0 = stats.nbinom.pmf(0, THETA, nb_p(MU, THETA))
    np.testing.assert_allclose(from_dropout, PI, rtol=0, atol=0)
    np.testing.assert_allclose(from_counts, (1 - PI) * nb0, rtol=1e-10)
    total = from_dropout + from_counts
    np.testing.assert_allclose(total, PI + (1 - PI) * nb0, rtol=1e-10)
    # P(0) from the full mixture pmf.
    np.testing.assert_allclose(total, zinb_pmf(0, MU, THETA, PI), rtol=1e-10)
    assert np.all((total >= 0) & (total <= 1))


def test_zero_probability_parts_without_dropout():
    from_dropout, from_counts = zero_probability_parts(MU, THETA, None)
    np.testing.assert_array_equal(from_dropout, np.zeros_like(MU))
    np.testing.assert_allclose(from_counts, stats.nbinom.pmf(0, THETA, nb_p(MU, THETA)), rtol=1e-10)


def test_zero_probability_parts_poisson():
    from_dropout, from_counts = zero_probability_parts(MU, None, None)
    np.testing.assert_array_equal(from_dropout, 0.0)
    np.testing.assert_allclose(from_counts, np.exp(-MU), rtol=1e-12)
    np.testing.assert_allclose(nb_zero_probability(MU, None), stats.poisson.pmf(0, MU), rtol=1e-12)
    # Zero-inflated Poisson.
    d, c = zero_probability_parts(MU, None, PI)
    np.testing.assert_allclose(d + c, PI + (1 - PI) * np.exp(-MU), rtol=1e-12)


def test_large_theta_approaches_poisson():
    mu = np.array([0.5, 3.0, 12.0])
    np.testing.assert_allclose(nb_zero_probability(mu, np.full(3, 1e7)), np.exp(-mu), rtol=1e-5)


def test_predictive_interval_nb_equals_scipy_ppf():
    low, high = predictive_interval(MU, THETA, None)
    p = nb_p(MU, THETA)
    np.testing.assert_array_equal(low, stats.nbinom.ppf(0.05, THETA, p))
    np.testing.assert_array_equal(high, stats.nbinom.ppf(0.95, THETA, p))
    assert np.all(low <= high)
    np.testing.assert_array_equal(low, np.round(low))
    np.testing.assert_array_equal(high, np.round(high))


def test_predictive_interval_other_level():
    low, high = predictive_interval(MU, THETA, None, level=0.5)
    p = nb_p(MU, THETA)
    np.testing.assert_array_equal(low, stats.nbinom.ppf(0.25, THETA, p))
    np.testing.assert_array_equal(high, stats.nbinom.ppf(0.75, THETA, p))


def test_predictive_interval_poisson_equals_scipy_ppf():
    low, high = predictive_interval(MU, None, None)
    np.testing.assert_array_equal(low, stats.poisson.ppf(0.05, MU))
    np.testing.assert_array_equal(high, stats.poisson.ppf(0.95, MU))


def test_predictive_interval_zinb_matches_brute_force_cdf():
    low, high = predictive_interval(MU, THETA, PI)
    for i in range(len(MU)):
        exp_low = brute_force_quantile(0.05, MU[i], THETA[i], PI[i])
        exp_high = brute_force_quantile(0.95, MU[i], THETA[i], PI[i])
        assert low[i] == exp_low, (i, MU[i], THETA[i], PI[i])
        assert high[i] == exp_high, (i, MU[i], THETA[i], PI[i])


def test_predictive_interval_zinb_lower_bound_zero_when_dropout_above_tail():
    # A large mean makes P_NB(0) negligible: without dropout the lower bound is far above 0,
    # with pi > 0.05 the mixture's CDF at 0 already exceeds 0.05.
    mu, theta = np.array([200.0, 200.0]), np.array([20.0, 20.0])
    nb_low, _ = predictive_interval(mu, theta, None)
    assert np.all(nb_low > 50)
    pi = np.array([0.06, 0.3])
    low, high = predictive_interval(mu, theta, pi)
    np.testing.assert_array_equal(low, [0.0, 0.0])
    for i in range(2):
        assert high[i] == brute_force_quantile(0.95, mu[i], theta[i], pi[i])
    # With pi just below 0.05 the lower bound is positive again.
    low_small, _ = predictive_interval(mu[:1], theta[:1], np.array([0.04]))
    assert low_small[0] > 0
    assert low_small[0] == brute_force_quantile(0.05, mu[0], theta[0], 0.04)


def test_predictive_interval_zinb_dropout_above_upper_quantile_gives_zero_interval():
    low, high = predictive_interval(np.array([30.0]), np.array([5.0]), np.array([0.97]))
    assert low[0] == 0 and high[0] == 0


def test_predictive_interval_zinb_zero_dropout_equals_nb():
    low, high = predictive_interval(MU, THETA, np.zeros_like(MU))
    nb_low, nb_high = predictive_interval(MU, THETA, None)
    np.testing.assert_array_equal(low, nb_low)
    np.testing.assert_array_equal(high, nb_high)


def test_expected_count():
    np.testing.assert_allclose(expected_count(MU, None), MU)
    np.testing.assert_allclose(expected_count(MU, PI), (1 - PI) * MU)
    # The mixture mean computed from pmf sums.
    k = np.arange(5000)
    for i in (1, 3, 4):
        mean = float((k * zinb_pmf(k, MU[i], THETA[i], PI[i])).sum())
        assert expected_count(MU[i : i + 1], PI[i : i + 1])[0] == pytest.approx(mean, rel=1e-6)
