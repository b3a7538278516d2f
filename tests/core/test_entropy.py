"""Tests for wpgjax.core.entropy: exact Gaussian entropies and particle estimators against them."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from wpgjax.core import entropy as ent

COVARIANCE = np.array([[1.0, 0.5], [0.5, 2.0]])
EXACT_ENTROPY = 0.5 * math.log(np.linalg.det(2 * math.pi * math.e * COVARIANCE))


@functools.lru_cache(maxsize=None)
def _gaussian_cloud(n: int, seed: int = 0) -> np.ndarray:
  rng = np.random.default_rng(seed)
  return (rng.normal(size=(n, 2)) @ np.linalg.cholesky(COVARIANCE).T).astype(np.float32)


@jax.jit
def _all_estimates(particles):
  """One compile for every particle estimator on the [2000, 2] cloud."""
  return jnp.stack([
      ent.knn_entropy(particles, k=1),
      ent.knn_entropy(particles, k=4),
      ent.kde_entropy(particles, rule="silverman"),
      ent.kde_entropy(particles, rule="scott"),
      ent.gaussian_fit_entropy(particles),
  ])


@functools.lru_cache(maxsize=None)
def _cloud_estimates() -> np.ndarray:
  return np.asarray(_all_estimates(_gaussian_cloud(2000)))


# ----------------------------------------------------------------------------------------------- exact forms


def test_gaussian_entropy_matches_scipy_in_float64():
  with jax.enable_x64(True):
    cov = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.5]])
    got = ent.gaussian_entropy(jnp.asarray(cov))
    assert got.dtype == jnp.float64
    np.testing.assert_allclose(got, stats.multivariate_normal(cov=cov).entropy(), rtol=0, atol=1e-12)


def test_diagonal_gaussian_entropy_matches_full_covariance():
  with jax.enable_x64(True):
    log_std = jnp.array([-1.0, 0.2, 0.7])
    full = ent.gaussian_entropy(jnp.diag(jnp.exp(2 * log_std)))
    np.testing.assert_allclose(ent.diagonal_gaussian_entropy(log_std), full, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ent.diagonal_gaussian_entropy(log_std),
                               np.sum(stats.norm(scale=np.exp(np.asarray(log_std))).entropy()), rtol=0, atol=1e-12)


@pytest.mark.parametrize("dim, volume", [(1, 2.0), (2, math.pi), (3, 4 * math.pi / 3), (4, math.pi**2 / 2)])
def test_log_unit_ball_volume(dim, volume):
  assert ent.log_unit_ball_volume(dim) == pytest.approx(math.log(volume), abs=1e-14)


# ------------------------------------------------------------------------------------------------ estimators


def test_particle_estimators_match_gaussian_entropy_for_2000_samples():
  # Tolerance: over 16 independent seeds the estimators' errors on this [2000, 2] cloud had standard deviation
  # 0.020-0.031 nats and means within ±0.018 (kNN slightly low, KDE slightly high: its smoothing bias
  # (d/4)(h/σ)^4 ≈ 0.003 plus an O(1/(N h^d)) term); 0.1 nats is > 3 standard deviations plus the bias.
  # Errors a real bug makes are far larger (dropping log V_d alone is 1.14 nats; ψ(N) vs log N ~ 2.5e-4 is not).
  estimates = _cloud_estimates()
  np.testing.assert_allclose(estimates, EXACT_ENTROPY, rtol=0, atol=0.1)


def test_estimators_are_exactly_equivariant_under_scaling_and_translation():
  # H(c·A + b) = H(A) + d log c holds exactly for kNN, the Gaussian fit and the rule-of-thumb KDE.
  cloud = _gaussian_cloud(2000)
  moved = 3.0 * cloud + np.array([5.0, -2.0], np.float32)
  shift = 2 * math.log(3.0)
  np.testing.assert_allclose(_all_estimates(moved), _cloud_estimates() + shift, rtol=0, atol=2e-4)


def test_knn_entropy_small_sample_formula():
  # Three points on a line in R^1: nearest-neighbour distances 1, 1, 2.
  points = np.array([[0.0], [1.0], [3.0]])
  from scipy.special import digamma
  expected = digamma(3) - digamma(1) + math.log(2.0) + (1 / 3) * (0 + 0 + math.log(2.0))
  with jax.enable_x64(True):
    np.testing.assert_allclose(ent.knn_entropy(jnp.asarray(points), k=1), expected, rtol=0, atol=1e-12)
    # k = 2: second-neighbour distances 3, 2, 3.
    expected_k2 = digamma(3) - digamma(2) + math.log(2.0) + (1 / 3) * (2 * math.log(3.0) + math.log(2.0))
    np.testing.assert_allclose(ent.knn_entropy(jnp.asarray(points), k=2), expected_k2, rtol=0, atol=1e-12)


def test_knn_entropy_duplicated_particles_stay_finite():
  points = jnp.zeros((4, 2))
  value = ent.knn_entropy(points)
  assert np.isfinite(value) and value < -50.0  # log of the float32 floor ≈ -87


def test_kde_entropy_leave_one_out_formula_and_bandwidth_rule():
  with jax.enable_x64(True):
    rng = np.random.default_rng(5)
    points = rng.normal(size=(6, 2))
    h = np.array([0.4, 0.7])
    log_density = []
    for i in range(6):
      others = np.delete(points, i, axis=0)
      log_density.append(np.log(np.mean(stats.multivariate_normal(points[i], np.diag(h**2)).pdf(others))))
    np.testing.assert_allclose(ent.kde_entropy(jnp.asarray(points), bandwidth=jnp.asarray(h)),
                               -np.mean(log_density), rtol=0, atol=1e-12)
    # Scalar bandwidth = the same bandwidth on every axis.
    np.testing.assert_allclose(ent.kde_entropy(jnp.asarray(points), bandwidth=0.5),
                               ent.kde_entropy(jnp.asarray(points), bandwidth=jnp.array([0.5, 0.5])), rtol=1e-14)
    # Silverman's rule: (4/(d+2))^{1/(d+4)} N^{-1/(d+4)} σ̂; Scott's: N^{-1/(d+4)} σ̂.
    points3 = rng.normal(size=(50, 3)) * np.array([1.0, 2.0, 0.5])
    sigma = points3.std(axis=0, ddof=1)
    np.testing.assert_allclose(ent.kde_bandwidth(jnp.asarray(points3), "silverman"),
                               (4 / 5) ** (1 / 7) * 50 ** (-1 / 7) * sigma, rtol=1e-12)
    np.testing.assert_allclose(ent.kde_bandwidth(jnp.asarray(points3), "scott"), 50 ** (-1 / 7) * sigma, rtol=1e-12)


def test_gaussian_fit_entropy_matches_sample_covariance():
  with jax.enable_x64(True):
    points = np.random.default_rng(6).normal(size=(40, 3))
    expected = stats.multivariate_normal(cov=np.cov(points, rowvar=False)).entropy()
    np.testing.assert_allclose(ent.gaussian_fit_entropy(jnp.asarray(points)), expected, rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------------- Gaussian mixture


def test_gaussian_mixture_log_prob_matches_scipy():
  with jax.enable_x64(True):
    means = np.array([[0.0, 1.0], [2.0, -1.0], [-1.0, 0.5]])
    stds = np.array([[0.5, 1.0], [1.5, 0.3], [1.0, 1.0]])
    weights = np.array([0.2, 0.5, 0.3])
    x = np.array([0.3, -0.2])
    expected = np.log(sum(w * stats.multivariate_normal(m, np.diag(s**2)).pdf(x)
                          for w, m, s in zip(weights, means, stds)))
    got = ent.gaussian_mixture_log_prob(jnp.asarray(x), jnp.asarray(means), jnp.asarray(stds),
                                        jnp.log(jnp.asarray(weights)) + 3.0)  # unnormalised log-weights
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    uniform = ent.gaussian_mixture_log_prob(jnp.asarray(x), jnp.asarray(means), 0.7)
    expected_uniform = np.log(np.mean([stats.multivariate_normal(m, 0.49 * np.eye(2)).pdf(x) for m in means]))
    np.testing.assert_allclose(uniform, expected_uniform, rtol=0, atol=1e-12)


def test_gaussian_mixture_entropy_of_separated_components():
  # Two far-apart equal-weight components N(±20, I_2): H = H(N(0, I_2)) + log 2 (overlap ~ e^{-200}).
  with jax.enable_x64(True):
    rng = np.random.default_rng(7)
    n = 4000
    means = np.array([[20.0, 0.0], [-20.0, 0.0]])
    samples = rng.normal(size=(n, 2)) + means[rng.integers(0, 2, n)]
    got = ent.gaussian_mixture_entropy(jnp.asarray(samples), jnp.asarray(means), 1.0)
    # Monte Carlo standard error: std(‖z‖²/2)/sqrt(N) = 1/sqrt(4000) ≈ 0.016; 0.06 is ~4 standard errors.
    assert abs(float(got) - (1 + math.log(2 * math.pi) + math.log(2.0))) < 0.06


def test_mixture_plug_in_on_particles_is_resubstitution_kde():
  # Including each particle's own kernel: q(a_i) = ((N − 1) q_{−i}(a_i) + N(0; 0, h² I)) / N, exactly.
  with jax.enable_x64(True):
    points = np.random.default_rng(8).normal(size=(30, 2))
    h = 0.3
    resubstitution = float(ent.gaussian_mixture_entropy(jnp.asarray(points), jnp.asarray(points), h))
    leave_one_out = float(ent.kde_entropy(jnp.asarray(points), bandwidth=h))
    assert resubstitution < leave_one_out
    diff = points[:, None] - points[None]
    kernel = np.exp(-0.5 * np.sum(diff**2, -1) / h**2) / (2 * np.pi * h**2)
    expected = -np.mean(np.log(kernel.mean(axis=1)))
    np.testing.assert_allclose(resubstitution, expected, rtol=1e-12)


# ---------------------------------------------------------------------------------------------- jit and vmap


def test_every_estimator_under_jit_and_vmap():
  rng = np.random.default_rng(9)
  clouds = rng.normal(size=(2, 12, 2)).astype(np.float32)
  fns = [
      lambda a: ent.knn_entropy(a, k=2),
      lambda a: ent.kde_entropy(a),
      lambda a: ent.kde_entropy(a, bandwidth=0.4),
      lambda a: ent.gaussian_fit_entropy(a),
      lambda a: ent.gaussian_mixture_entropy(a, a[:3], 0.5),
      lambda a: ent.gaussian_mixture_log_prob(a[0], a[1:], 0.5),
      lambda a: ent.gaussian_entropy(a.T @ a / 12),
      lambda a: ent.diagonal_gaussian_entropy(a[0]),
      lambda a: ent.kde_bandwidth(a),
  ]

  def all_fns(a):
    return [fn(a) for fn in fns]

  # Eager (no-jit) calls of every function are exercised by the exact-formula tests above; an eager float32
  # pass here would cost seconds of op-by-op compiles for little extra coverage.
  jitted_fn = jax.jit(all_fns)
  jitted = [jitted_fn(c) for c in clouds]
  batched = jax.jit(jax.vmap(all_fns))(clouds)
  for i in range(len(fns)):
    np.testing.assert_allclose(batched[i], np.stack([jitted[0][i], jitted[1][i]]), rtol=1e-5, atol=1e-6)
    assert jitted[0][i].dtype == jnp.float32 and np.all(np.isfinite(jitted[0][i]))
  # Spot-check jit against an exact value: the Gaussian fit equals the sample-covariance entropy.
  cov = np.cov(clouds[0].astype(np.float64), rowvar=False)
  np.testing.assert_allclose(jitted[0][3], 0.5 * np.linalg.slogdet(2 * np.pi * np.e * cov)[1], rtol=1e-5)


# -------------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("call, match", [
    (lambda: ent.knn_entropy(jnp.ones(5)), "particles"),
    (lambda: ent.knn_entropy(jnp.ones((1, 2))), "particles"),
    (lambda: ent.knn_entropy(jnp.ones((5, 2)), k=5), "k"),
    (lambda: ent.knn_entropy(jnp.ones((5, 2)), k=0), "k"),
    (lambda: ent.kde_entropy(jnp.ones((5, 2)), bandwidth=-1.0), "bandwidth"),
    (lambda: ent.kde_entropy(jnp.ones((5, 2)), bandwidth=jnp.ones(3)), "bandwidth"),
    (lambda: ent.kde_entropy(jnp.ones((5, 2)), rule="bogus"), "rule"),
    (lambda: ent.gaussian_entropy(jnp.ones((2, 3))), "covariance"),
    (lambda: ent.gaussian_entropy(jnp.ones(3)), "covariance"),
    (lambda: ent.diagonal_gaussian_entropy(jnp.ones((2, 2))), "log_std"),
    (lambda: ent.gaussian_mixture_log_prob(jnp.ones(2), jnp.ones((3, 2)), 0.0), "stds"),
    (lambda: ent.gaussian_mixture_entropy(jnp.ones((4, 2)), jnp.ones((3, 3)), 1.0), "action_dim"),
    (lambda: ent.log_unit_ball_volume(0), "dim"),
])
def test_bad_input_raises_value_error_naming_the_argument(call, match):
  with pytest.raises(ValueError, match=match):
    call()
