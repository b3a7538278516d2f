"""Tests for wpgjax.core.diagnostics against Gaussian closed forms, autodiff references and synthetic sequences.

Gibbs target of Q(a) = c − ½ (a − m)ᵀ H (a − m) at temperature τ: p = N(m, τ H⁻¹), LSI constant α = λ_min(H)/τ.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wpgjax.core import diagnostics as dg
from wpgjax.core import soft_values as sv


def _gaussian_kl(mu1, cov1, mu2, cov2):
  """KL(N(μ1, Σ1) ‖ N(μ2, Σ2))."""
  mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
  cov1, cov2 = np.atleast_2d(cov1), np.atleast_2d(cov2)
  inv2 = np.linalg.inv(cov2)
  diff = mu2 - mu1
  return 0.5 * (np.trace(inv2 @ cov1) + diff @ inv2 @ diff - len(mu1)
                + np.linalg.slogdet(cov2)[1] - np.linalg.slogdet(cov1)[1])


def _gaussian_fisher(mu1, cov1, mu2, cov2):
  """I(N(μ1, Σ1) ‖ N(μ2, Σ2)) = tr(A Σ1 Aᵀ) + ‖Σ2⁻¹(μ1 − μ2)‖²,  A = Σ2⁻¹ − Σ1⁻¹."""
  mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
  cov1, cov2 = np.atleast_2d(cov1), np.atleast_2d(cov2)
  a = np.linalg.inv(cov2) - np.linalg.inv(cov1)
  b = np.linalg.solve(cov2, mu1 - mu2)
  return np.trace(a @ cov1 @ a.T) + b @ b


def _gaussian_log_density(x, mu, cov):
  cov = np.atleast_2d(cov)
  diff = x - mu
  return -0.5 * (np.einsum("gi,ij,gj->g", diff, np.linalg.inv(cov), diff) + np.linalg.slogdet(2 * np.pi * cov)[1])


TAU = 0.4
HESS_2D = np.array([[2.0, 0.5], [0.5, 1.0]])
M_2D = np.array([0.3, -0.2])
AXIS = np.linspace(-7.0, 7.0, 121)
GRID_2D = np.stack(np.meshgrid(AXIS, AXIS, indexing="ij"), -1).reshape(-1, 2)
CELL_2D = (AXIS[1] - AXIS[0]) ** 2


def _q_2d(a):
  diff = a - M_2D
  return 1.3 - 0.5 * np.einsum("gi,ij,gj->g", diff, HESS_2D, diff)


# ----------------------------------------------------------------------------------------------- KL residual


def test_kl_residual_quadrature_matches_gaussian_kl_2d():
  with jax.enable_x64(True):
    mu, cov = np.array([0.0, 0.5]), np.array([[0.5, -0.1], [-0.1, 0.8]])
    log_pi = _gaussian_log_density(GRID_2D, mu, cov)
    got = dg.kl_residual_quadrature(jnp.asarray(log_pi), jnp.asarray(_q_2d(GRID_2D)), CELL_2D, TAU)
    expected = TAU * _gaussian_kl(mu, cov, M_2D, TAU * np.linalg.inv(HESS_2D))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)
    # Identity 1: τ KL(π‖p) = τ log Z − E_π[Q − τ log π], here with the soft_values quadrature pieces.
    q = _q_2d(GRID_2D)
    weights = np.exp(log_pi) * CELL_2D
    soft_value = np.sum(weights * (q - TAU * log_pi)) / np.sum(weights)
    np.testing.assert_allclose(sv.soft_optimal_value_quadrature(jnp.asarray(q), CELL_2D, TAU) - soft_value,
                               expected, rtol=0, atol=1e-10)


def test_kl_residual_quadrature_zero_at_gibbs_policy_and_handles_zero_mass():
  with jax.enable_x64(True):
    q = _q_2d(GRID_2D)
    log_gibbs = q / TAU  # unnormalised: the grid renormalisation takes care of Z
    np.testing.assert_allclose(dg.kl_residual_quadrature(jnp.asarray(log_gibbs), jnp.asarray(q), CELL_2D, TAU), 0.0,
                               atol=1e-12)
    # π = p restricted to half the grid (log π = −inf elsewhere): KL = −log p(half) exactly on the grid.
    half = GRID_2D[:, 0] > 0.3
    log_half = np.where(half, log_gibbs, -np.inf)
    grid_p = np.exp(log_gibbs - log_gibbs.max())
    expected = -TAU * np.log(grid_p[half].sum() / grid_p.sum())
    got = dg.kl_residual_quadrature(jnp.asarray(log_half), jnp.asarray(q), CELL_2D, TAU)
    assert np.isfinite(got)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_kl_residual_from_samples():
  with jax.enable_x64(True):
    rng = np.random.default_rng(0)
    cov_p = TAU * np.linalg.inv(HESS_2D)
    log_z = sv.gibbs_log_partition_quadrature(jnp.asarray(_q_2d(GRID_2D)), CELL_2D, TAU)
    # π = p: every sample gives exactly τ log Z − (Q − τ log p) = 0.
    samples = rng.multivariate_normal(M_2D, cov_p, size=6)
    log_p = _gaussian_log_density(samples, M_2D, cov_p)
    np.testing.assert_allclose(dg.kl_residual_from_samples(jnp.asarray(log_p), jnp.asarray(_q_2d(samples)), log_z,
                                                           TAU), 0.0, atol=1e-10)
    # π ≠ p: Monte Carlo estimate of the closed form.
    mu, cov = np.array([0.0, 0.5]), np.array([[0.5, -0.1], [-0.1, 0.8]])
    samples = rng.multivariate_normal(mu, cov, size=40000)
    got = dg.kl_residual_from_samples(jnp.asarray(_gaussian_log_density(samples, mu, cov)),
                                      jnp.asarray(_q_2d(samples)), log_z, TAU)
    expected = TAU * _gaussian_kl(mu, cov, M_2D, cov_p)
    # Per-sample std of τ(log π − log p) is ≈ 0.4 here, so the standard error is ≈ 0.002; tolerance 0.01.
    assert abs(float(got) - expected) < 0.01


# ----------------------------------------------------------------------------------------- Fisher information


def test_relative_fisher_information_grid_matches_closed_form_1d_and_2d():
  with jax.enable_x64(True):
    # 1-D: log π − Q/τ is quadratic, so the second-order differences are exact (up to rounding).
    h, m, mu, s2 = 2.0, 0.3, -0.4, 0.35
    grid = np.linspace(-8.0, 8.0, 321)
    log_pi = -0.5 * (grid - mu) ** 2 / s2
    q = -0.5 * h * (grid - m) ** 2
    got = dg.relative_fisher_information_grid(jnp.asarray(log_pi), jnp.asarray(q), grid[1] - grid[0], TAU)
    expected = _gaussian_fisher(mu, s2, m, TAU / h)
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    np.testing.assert_allclose(dg.fisher_dissipation(got, TAU), TAU**2 * expected, rtol=1e-9)
    # 2-D product grid, spacing per axis.
    mu2, cov = np.array([0.0, 0.5]), np.array([[0.5, -0.1], [-0.1, 0.8]])
    log_pi2 = _gaussian_log_density(GRID_2D, mu2, cov).reshape(AXIS.size, AXIS.size)
    q2 = _q_2d(GRID_2D).reshape(AXIS.size, AXIS.size)
    spacing = AXIS[1] - AXIS[0]
    got2 = dg.relative_fisher_information_grid(jnp.asarray(log_pi2), jnp.asarray(q2), (spacing, spacing), TAU)
    np.testing.assert_allclose(got2, _gaussian_fisher(mu2, cov, M_2D, TAU * np.linalg.inv(HESS_2D)), rtol=1e-9)


def test_relative_fisher_information_from_scores_with_weights_and_samples():
  with jax.enable_x64(True):
    mu, cov = np.array([0.0, 0.5]), np.array([[0.5, -0.1], [-0.1, 0.8]])
    expected = _gaussian_fisher(mu, cov, M_2D, TAU * np.linalg.inv(HESS_2D))
    scores = -np.linalg.solve(cov, (GRID_2D - mu).T).T
    q_grads = -(GRID_2D - M_2D) @ HESS_2D
    weights = np.exp(_gaussian_log_density(GRID_2D, mu, cov))
    got = dg.relative_fisher_information(jnp.asarray(scores), jnp.asarray(q_grads), TAU, weights=jnp.asarray(weights))
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    # Samples from π: unweighted mean.
    samples = np.random.default_rng(1).multivariate_normal(mu, cov, size=40000)
    got_mc = dg.relative_fisher_information(jnp.asarray(-np.linalg.solve(cov, (samples - mu).T).T),
                                            jnp.asarray(-(samples - M_2D) @ HESS_2D), TAU)
    assert abs(float(got_mc) / expected - 1.0) < 0.03  # relative MC standard error ≈ 0.7%


# --------------------------------------------------------------------------------------------------------- KSD


def test_ksd_matches_autodiff_stein_kernel():
  with jax.enable_x64(True):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 3))
    q_grads = rng.normal(size=(5, 3))  # any vectors: the identity is algebraic
    ell, tau = 0.9, 0.7

    def k(a, b):
      return jnp.exp(-jnp.sum((a - b) ** 2) / (2 * ell**2))

    @jax.jit
    def u(a, sa, b, sb):
      grad_a = jax.grad(k, 0)(a, b)
      grad_b = jax.grad(k, 1)(a, b)
      trace = jnp.trace(jax.jacfwd(jax.grad(k, 0), 1)(a, b))
      return sa @ sb * k(a, b) + sa @ grad_b + sb @ grad_a + trace

    s = q_grads / tau
    total = sum(float(u(x[i], s[i], x[j], s[j])) for i in range(5) for j in range(5) if i != j)
    got = dg.kernel_stein_discrepancy_squared(jnp.asarray(x), jnp.asarray(q_grads), tau, lengthscale=ell)
    np.testing.assert_allclose(got, total / 20, rtol=1e-12)
    # Default lengthscale: ℓ² = the median squared pairwise distance.
    sq_dists = ((x[:, None] - x[None]) ** 2).sum(-1)[np.triu_indices(5, 1)]
    np.testing.assert_allclose(dg.kernel_stein_discrepancy_squared(jnp.asarray(x), jnp.asarray(q_grads), tau),
                               dg.kernel_stein_discrepancy_squared(jnp.asarray(x), jnp.asarray(q_grads), tau,
                                                                   lengthscale=np.sqrt(np.median(sq_dists))),
                               rtol=1e-10)


def test_ksd_small_and_decreasing_for_samples_from_p_and_positive_for_a_shifted_cloud():
  h, m = np.array([2.0, 1.0]), np.array([0.3, -0.2])
  std = np.sqrt(TAU / h)

  @jax.jit
  @jax.vmap
  def ksd(x):
    return dg.kernel_stein_discrepancy_squared(x, -h * (x - m), TAU)

  rng = np.random.default_rng(3)
  small = np.abs(np.asarray(ksd((m + std * rng.normal(size=(16, 50, 2))).astype(np.float32)))).mean()
  cloud = (m + std * rng.normal(size=(16, 400, 2))).astype(np.float32)
  large = np.abs(np.asarray(ksd(cloud))).mean()
  shifted = np.asarray(ksd(cloud + np.float32(0.5 * std[0]) * np.array([1, 0], np.float32))).mean()
  # Under p the U-statistic is centred at 0 with spread O(1/N): 8x more particles, ~8x smaller (measured 7.3x).
  assert large < small / 3
  assert large < 0.03
  # Shifting by half a standard deviation: population KSD² ≈ 0.74 with these settings.
  assert shifted > 20 * large and shifted > 0.3


# ------------------------------------------------------------------------------------------- ratios and rates


def test_pl_ratio_lower_bounds_two_alpha_tau_with_equality_for_a_mean_shift():
  # 1-D Gibbs target N(m, τ/h): LSI(α) with α = h/τ, so g/(τKL) = τ I/KL ≥ 2ατ = 2h; equality for a pure mean shift.
  with jax.enable_x64(True):
    h, m = 2.0, 0.3
    grid = np.linspace(-9.0, 9.0, 721)
    q = -0.5 * h * (grid - m) ** 2
    for mu, s2, equality in [(1.0, TAU / h, True), (0.0, 0.1, False), (2.0, 0.5, False), (0.3, 0.05, False)]:
      log_pi = -0.5 * (grid - mu) ** 2 / s2 - 0.5 * math.log(2 * math.pi * s2)
      residual = dg.kl_residual_quadrature(jnp.asarray(log_pi), jnp.asarray(q), grid[1] - grid[0], TAU)
      fisher = dg.relative_fisher_information_grid(jnp.asarray(log_pi), jnp.asarray(q), grid[1] - grid[0], TAU)
      ratio = float(dg.empirical_pl_ratio(dg.fisher_dissipation(fisher, TAU), residual))
      if equality:
        assert ratio == pytest.approx(2 * h, rel=1e-8)
      else:
        assert ratio > 2 * h * (1 + 1e-3)


def test_pl_ratio_guards_zero_residual():
  ratio = dg.empirical_pl_ratio(jnp.array([0.0, 2.0, 1.0]), jnp.array([0.0, 1.0, -1e-3]))
  assert np.isnan(ratio[0]) and np.isnan(ratio[2]) and float(ratio[1]) == 2.0
  grad = jax.grad(lambda r: jnp.nansum(dg.empirical_pl_ratio(1.0, r)))(0.0)
  assert np.isfinite(grad)
  assert np.isnan(dg.empirical_pl_ratio(1.0, 0.5, min_residual=1.0))


def test_contraction_factor_and_bound():
  with jax.enable_x64(True):
    alpha, tau, eta, gamma = 2.0, 0.5, 0.3, 0.9
    x = alpha * tau * eta
    np.testing.assert_allclose(dg.predicted_contraction_factor(alpha, tau, eta, gamma),
                               1 - (1 - gamma) * (1 - math.exp(-x)), rtol=1e-14)
    np.testing.assert_allclose(dg.contraction_factor_bound(alpha, tau, eta, gamma),
                               math.exp(-0.5 * x * (1 - gamma)), rtol=1e-14)
    # The factor never exceeds the bound when ᾱτη ≤ 1, for any γ.
    xs = jnp.linspace(1e-4, 1.0, 50)[:, None]
    gammas = jnp.array([0.0, 0.5, 0.9, 0.999])[None, :]
    factor = dg.predicted_contraction_factor(xs, 1.0, 1.0, gammas)
    bound = dg.contraction_factor_bound(xs, 1.0, 1.0, gammas)
    assert factor.shape == (50, 4)
    assert np.all(np.asarray(factor) <= np.asarray(bound)) and np.all(np.asarray(factor) < 1)


# ---------------------------------------------------------------------------------------- host-side fits


@pytest.mark.parametrize("rate, amplitude, floor", [(0.9, 2.0, 0.05), (0.97, 1.0, 0.01), (0.99, 1.0, 0.1),
                                                    (0.8, 3.0, 0.0)])
def test_fit_geometric_decay_recovers_exact_sequences(rate, amplitude, floor):
  # (0.99, floor 0.1): after 300 steps the tail is still half transient; the floor refinement recovers it.
  gaps = floor + amplitude * rate ** np.arange(300)
  fit = dg.fit_geometric_decay(gaps)
  assert fit.rate == pytest.approx(rate, abs=1e-6)
  assert fit.floor == pytest.approx(floor, abs=1e-6)
  assert fit.amplitude == pytest.approx(amplitude, rel=1e-6)
  assert fit.start == 0 and 10 < fit.stop <= 300


def test_fit_geometric_decay_with_noise_and_a_burn_in():
  rng = np.random.default_rng(4)
  k = np.arange(300)
  gaps = 0.05 + 0.9**k + 1e-4 * rng.normal(size=300)  # additive noise on the plateau
  fit = dg.fit_geometric_decay(gaps)
  # The transient stops where E_k − floor ≈ 10 · noise (k ≈ 65): log-noise there is ~10%, on ~65 points.
  assert fit.rate == pytest.approx(0.9, abs=2e-3)
  assert fit.floor == pytest.approx(0.05, abs=1e-4)
  assert 50 < fit.stop < 90
  # A non-geometric burn-in (first 10 values flat) is skipped with start.
  gaps = 0.05 + 0.9 ** np.maximum(k - 10, 0)
  assert dg.fit_geometric_decay(gaps, start=10).rate == pytest.approx(0.9, abs=1e-8)
  assert abs(dg.fit_geometric_decay(gaps).rate - 0.9) > 1e-3  # the burn-in biases a fit from 0


def test_loglog_slope():
  eta = np.array([0.01, 0.02, 0.05, 0.1])
  fit = dg.loglog_slope(eta, 3.0 * eta**1.5)
  assert fit.slope == pytest.approx(1.5, abs=1e-12)
  assert fit.prefactor == pytest.approx(3.0, rel=1e-12)


# ---------------------------------------------------------------------------------------------- jit and vmap


def test_every_jittable_function_under_jit_and_vmap():
  rng = np.random.default_rng(5)
  x = rng.normal(size=(2, 9, 2)).astype(np.float32)
  g = rng.normal(size=(2, 9, 2)).astype(np.float32)
  v = rng.normal(size=(2, 9)).astype(np.float32)
  grid = (-0.5 * np.linspace(-2, 2, 9) ** 2)[None] * np.array([[1.0], [2.0]], np.float32)

  def all_fns(x, g, v, grid_values):
    return [
        dg.kl_residual_quadrature(v, grid_values, 0.5, 0.3),
        dg.kl_residual_from_samples(v, grid_values, 1.5, 0.3),
        dg.relative_fisher_information(x, g, 0.3),
        dg.relative_fisher_information(x, g, 0.3, weights=jnp.exp(v)),
        dg.relative_fisher_information_grid(grid_values, v, 0.5, 0.3),
        dg.fisher_dissipation(v[0] ** 2, 0.3),
        dg.kernel_stein_discrepancy_squared(x, g, 0.3),
        dg.kernel_stein_discrepancy_squared(x, g, 0.3, lengthscale=0.8),
        dg.empirical_pl_ratio(v[0] ** 2, v[1]),
        dg.predicted_contraction_factor(jnp.exp(v[0]), 0.5, 0.1, 0.9),
        dg.contraction_factor_bound(jnp.exp(v[0]), 0.5, 0.1, 0.9),
    ]

  # Eager (no-jit) calls of every function are exercised by the closed-form tests above; an eager float32 pass
  # here would cost seconds of op-by-op compiles for little extra coverage.
  jitted_fn = jax.jit(all_fns)
  jitted = [jitted_fn(x[i], g[i], v[i], grid[i]) for i in range(2)]
  batched = jax.jit(jax.vmap(all_fns))(x, g, v, grid)
  for j in range(len(jitted[0])):
    np.testing.assert_allclose(batched[j], np.stack([jitted[0][j], jitted[1][j]]), rtol=1e-5, atol=1e-6,
                               equal_nan=True)
    assert jitted[0][j].dtype == jnp.float32
  # Spot-check jit against exact values.
  np.testing.assert_allclose(jitted[0][2], np.mean(np.sum((x[0] - g[0] / 0.3) ** 2, -1)), rtol=1e-5)
  np.testing.assert_allclose(jitted[0][9], 1 - 0.1 * (1 - np.exp(-np.exp(v[0, 0]) * 0.05)), rtol=1e-5)


# -------------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("call, match", [
    (lambda: dg.kl_residual_quadrature(jnp.ones(3), jnp.ones(4), 0.1, 1.0), "q_values"),
    (lambda: dg.kl_residual_quadrature(jnp.ones((3, 2)), jnp.ones((3, 2)), 0.1, 1.0), "log_policy"),
    (lambda: dg.kl_residual_quadrature(jnp.ones(3), jnp.ones(3), 0.1, 0.0), "tau"),
    (lambda: dg.kl_residual_quadrature(jnp.ones(3), jnp.ones(3), -0.1, 1.0), "cell_volume"),
    (lambda: dg.kl_residual_from_samples(jnp.ones(3), jnp.ones(3), jnp.ones(2), 1.0), "log_partition"),
    (lambda: dg.relative_fisher_information(jnp.ones((3, 2)), jnp.ones((3, 1)), 1.0), "q_gradients"),
    (lambda: dg.relative_fisher_information(jnp.ones((3, 2)), jnp.ones((3, 2)), -1.0), "tau"),
    (lambda: dg.relative_fisher_information(jnp.ones((3, 2)), jnp.ones((3, 2)), 1.0, weights=jnp.ones(2)),
     "weights"),
    (lambda: dg.relative_fisher_information_grid(jnp.ones(5), jnp.ones(5), 0.0, 1.0), "grid_spacing"),
    (lambda: dg.relative_fisher_information_grid(jnp.ones((5, 5)), jnp.ones((5, 5)), (0.1,), 1.0), "grid_spacing"),
    (lambda: dg.relative_fisher_information_grid(jnp.ones(2), jnp.ones(2), 0.1, 1.0), "3 grid points"),
    (lambda: dg.kernel_stein_discrepancy_squared(jnp.ones(3), jnp.ones(3), 1.0), "particles"),
    (lambda: dg.kernel_stein_discrepancy_squared(jnp.ones((1, 2)), jnp.ones((1, 2)), 1.0), "particles"),
    (lambda: dg.kernel_stein_discrepancy_squared(jnp.ones((3, 2)), jnp.ones((3, 2)), 0.0), "tau"),
    (lambda: dg.kernel_stein_discrepancy_squared(jnp.ones((3, 2)), jnp.ones((3, 2)), 1.0, lengthscale=0.0),
     "lengthscale"),
    (lambda: dg.predicted_contraction_factor(1.0, 1.0, 0.1, 1.0), "discount"),
    (lambda: dg.contraction_factor_bound(0.0, 1.0, 0.1, 0.9), "lsi_constant"),
    (lambda: dg.predicted_contraction_factor(1.0, 1.0, -0.1, 0.9), "step_size"),
    (lambda: dg.fisher_dissipation(1.0, 0.0), "tau"),
    (lambda: dg.fit_geometric_decay(np.ones((3, 3))), "gaps"),
    (lambda: dg.fit_geometric_decay([1.0, np.nan, 0.5]), "gaps"),
    (lambda: dg.fit_geometric_decay(np.full(20, 0.5)), "at least 3 points"),
    (lambda: dg.fit_geometric_decay(np.linspace(1, 0, 20), tail_fraction=1.0), "tail_fraction"),
    (lambda: dg.fit_geometric_decay(np.linspace(1, 0, 20), start=20), "start"),
    (lambda: dg.loglog_slope([1.0, 2.0], [1.0, -1.0]), "xs and ys"),
    (lambda: dg.loglog_slope([1.0, 2.0, 3.0], [1.0, 2.0]), "xs and ys"),
    (lambda: dg.loglog_slope([2.0, 2.0], [1.0, 3.0]), "xs must not"),
])
def test_bad_input_raises_value_error_naming_the_argument(call, match):
  with pytest.raises(ValueError, match=match):
    call()


# --------------------------------------------------------------- the KL residual estimate the trainer logs


def _kl_estimates(num_samples: int, num_states: int, corrected: bool):
  """τKL(π‖p) estimates for π = N(0, 1), p ∝ exp(Q/τ) with Q(a) = −(a − 1)²/2, τ = 1 (p = N(1, 1), so the truth
  is τKL = 0.5), one per independent 'state' of num_samples draws, as `rl.agent.state_diagnostics` computes it."""
  tau = 1.0
  a = jax.random.normal(jax.random.key(0), (num_states, num_samples))
  log_pi = -0.5 * a**2 - 0.5 * jnp.log(2 * jnp.pi)
  q = -0.5 * (a - 1.0) ** 2
  log_z_fn = (sv.gibbs_log_partition_importance_corrected if corrected
              else sv.gibbs_log_partition_importance)
  log_z = jax.vmap(lambda qv, lp: log_z_fn(qv, lp, tau))(q, log_pi)
  return np.asarray(jax.vmap(lambda lp, qv, lz: dg.kl_residual_from_samples(lp, qv, lz, tau))(
      log_pi, q, log_z), dtype=np.float64)


def test_logged_kl_residual_estimate_matches_the_gaussian_closed_form_within_its_standard_error():
  estimates = _kl_estimates(num_samples=32, num_states=4000, corrected=True)  # the default diagnostic budget
  standard_error = estimates.std() / np.sqrt(estimates.size)
  assert abs(estimates.mean() - 0.5) < 3 * standard_error, (estimates.mean(), standard_error)


def test_plain_self_normalised_estimate_reads_low_by_its_jensen_bias():
  # log w̄ is biased low by ≈ Var(w)/(2N E[w]²) = (e − 1)/(2N) here: the reason for the correction above.
  for num_samples in (2, 4, 16):
    estimates = _kl_estimates(num_samples, num_states=4000, corrected=False)
    standard_error = estimates.std() / np.sqrt(estimates.size)
    bias = estimates.mean() - 0.5
    assert bias < -5 * standard_error, (num_samples, estimates.mean())
