"""Specifications of the objective's terms against closed forms."""

import numpy as np
import pytest

from tf_deepgifs.models import losses


def test_kl_is_zero_at_the_prior_and_matches_the_closed_form():
    zeros = np.zeros((3, 5), np.float32)
    assert float(losses.kl_divergence(zeros, zeros)) == pytest.approx(0.0)
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(4, 7)).astype(np.float32)
    log_variance = rng.normal(size=(4, 7)).astype(np.float32)
    variance = np.exp(log_variance)
    # KL(N(m, s^2) || N(0, 1)) = 0.5 (s^2 + m^2 - 1 - ln s^2) per dimension
    expected = np.mean(np.sum(0.5 * (variance + mean**2 - 1 - log_variance), axis=-1))
    assert float(losses.kl_divergence(mean, log_variance)) == pytest.approx(expected, rel=1e-5)


def test_kl_agrees_with_a_monte_carlo_estimate():
    rng = np.random.default_rng(1)
    mean, log_variance = np.array([[0.7, -0.3]]), np.array([[-0.5, 0.4]])
    sigma = np.exp(0.5 * log_variance)
    z = mean + sigma * rng.normal(size=(400_000, 2))
    log_q = -0.5 * (((z - mean) / sigma) ** 2 + log_variance + np.log(2 * np.pi))
    log_p = -0.5 * (z**2 + np.log(2 * np.pi))
    estimate = np.mean(np.sum(log_q - log_p, axis=-1))
    exact = float(losses.kl_divergence(mean.astype(np.float32), log_variance.astype(np.float32)))
    assert estimate == pytest.approx(exact, abs=0.01)


def test_binary_cross_entropy_and_accuracy():
    logits = np.array([[0.0], [2.0], [-3.0]], np.float32)
    assert float(losses.binary_cross_entropy(logits[:1], 1.0)) == pytest.approx(np.log(2), rel=1e-5)
    expected_real = np.mean([np.log(2), np.log1p(np.exp(-2.0)), np.log1p(np.exp(3.0))])
    assert float(losses.binary_cross_entropy(logits, 1.0)) == pytest.approx(expected_real, rel=1e-5)
    assert float(losses.accuracy(logits, 1.0)) == pytest.approx(1 / 3)
    assert float(losses.accuracy(logits, 0.0)) == pytest.approx(2 / 3)


def test_mean_squared_error_is_a_per_element_mean():
    a = np.zeros((2, 3, 4), np.float32)
    b = np.full((2, 3, 4), 2.0, np.float32)
    assert float(losses.mean_squared_error(a, b)) == pytest.approx(4.0)
