"""Tests for wpgjax.core.soft_values against closed forms (Gaussian Gibbs laws) and hand-computed targets."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wpgjax.core import soft_values as sv


def _check_jit_and_vmap(fn, args_a, args_b, rtol=1e-5, atol=1e-6):
  """fn under jit equals fn eagerly, and vmap over a stacked pair of argument tuples equals the two calls."""
  expected_a, expected_b = fn(*args_a), fn(*args_b)
  np.testing.assert_allclose(jax.jit(fn)(*args_a), expected_a, rtol=rtol, atol=atol)
  stacked = [jnp.stack([jnp.asarray(a), jnp.asarray(b)]) for a, b in zip(args_a, args_b)]
  batched = jax.jit(jax.vmap(fn))(*stacked)
  np.testing.assert_allclose(batched, np.stack([expected_a, expected_b]), rtol=rtol, atol=atol)


def _gaussian_log_partition(hessian, constant, tau):
  """log ∫ exp((c − ½(a−m)ᵀH(a−m))/τ) da = c/τ + (d/2) log(2πτ) − ½ log det H."""
  hessian = np.atleast_2d(hessian)
  d = hessian.shape[0]
  return constant / tau + 0.5 * d * math.log(2 * math.pi * tau) - 0.5 * np.linalg.slogdet(hessian)[1]


# --------------------------------------------------------------------------------------------- log-partitions


def test_quadrature_log_partition_matches_gaussian_closed_form_1d():
  with jax.enable_x64(True):
    tau, h, m, c = 0.5, 2.0, 0.3, 1.7
    grid = jnp.linspace(-8.0, 8.0, 401)
    q = c - 0.5 * h * (grid - m) ** 2
    got = sv.gibbs_log_partition_quadrature(q, grid[1] - grid[0], tau)
    assert got.dtype == jnp.float64
    np.testing.assert_allclose(got, _gaussian_log_partition(h, c, tau), rtol=0, atol=1e-10)
    np.testing.assert_allclose(sv.soft_optimal_value_quadrature(q, grid[1] - grid[0], tau),
                               tau * _gaussian_log_partition(h, c, tau), rtol=0, atol=1e-10)


def test_quadrature_log_partition_matches_gaussian_closed_form_2d_with_weights():
  with jax.enable_x64(True):
    tau, c = 0.7, -0.4
    hessian = np.array([[2.0, 0.6], [0.6, 1.0]])
    mean = np.array([0.2, -0.5])
    axis = np.linspace(-9.0, 9.0, 91)
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    diff = grid - mean
    q = c - 0.5 * np.einsum("gi,ij,gj->g", diff, hessian, diff)
    cell = (axis[1] - axis[0]) ** 2
    expected = _gaussian_log_partition(hessian, c, tau)
    np.testing.assert_allclose(sv.gibbs_log_partition_quadrature(jnp.asarray(q), cell, tau), expected,
                               rtol=0, atol=1e-10)
    # Per-point weights: the trapezoid rule (tails negligible) gives the same answer.
    w1 = np.full(axis.shape, axis[1] - axis[0])
    w1[[0, -1]] /= 2
    weights = np.outer(w1, w1).reshape(-1)
    np.testing.assert_allclose(sv.gibbs_log_partition_quadrature(jnp.asarray(q), jnp.asarray(weights), tau),
                               expected, rtol=0, atol=1e-10)


def test_quadrature_log_partition_is_stable_for_large_q_over_tau_in_float32():
  tau = 1e-3
  grid = jnp.linspace(-1.0, 1.0, 2001)
  q = 1e3 - 0.5 * 4.0 * grid**2  # Q/τ up to 1e6: a naive exp overflows
  got = sv.gibbs_log_partition_quadrature(q, grid[1] - grid[0], tau)
  assert got.dtype == jnp.float32 and np.isfinite(got)
  np.testing.assert_allclose(got, _gaussian_log_partition(4.0, 1e3, tau), rtol=1e-6)


def test_importance_log_partition_exact_when_proposal_is_gibbs():
  with jax.enable_x64(True):
    tau, h, m, c = 0.5, 2.0, 0.3, 1.7
    samples = jnp.asarray(m + math.sqrt(tau / h) * np.random.default_rng(0).normal(size=7))
    q = c - 0.5 * h * (samples - m) ** 2
    log_gibbs = q / tau - _gaussian_log_partition(h, c, tau)  # log p(a) exactly
    got = sv.gibbs_log_partition_importance(q, log_gibbs, tau)
    np.testing.assert_allclose(got, _gaussian_log_partition(h, c, tau), rtol=0, atol=1e-12)
    np.testing.assert_allclose(sv.soft_optimal_value_importance(q, log_gibbs, tau),
                               tau * _gaussian_log_partition(h, c, tau), rtol=0, atol=1e-12)


def test_importance_log_partition_with_wider_proposal_converges():
  with jax.enable_x64(True):
    tau, h, m, c = 0.5, 2.0, 0.3, 1.7
    n, s = 20000, 1.0  # proposal N(0, 1) vs target N(0.3, 0.25): weights have relative variance ~0.6
    samples = jnp.asarray(s * np.random.default_rng(1).normal(size=n))
    log_proposal = -0.5 * (samples / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)
    q = c - 0.5 * h * (samples - m) ** 2
    got = sv.gibbs_log_partition_importance(q, log_proposal, tau)
    # Standard error of log Ẑ ≈ sqrt(Var(w)/E[w]² / N) < 0.01 here; 0.03 is > 3 standard errors.
    assert abs(float(got) - _gaussian_log_partition(h, c, tau)) < 0.03


# ------------------------------------------------------------------------------------------------ soft values


def test_soft_value_of_gibbs_policy_equals_soft_optimal_value_per_sample():
  with jax.enable_x64(True):
    tau, h, m, c = 0.5, 2.0, 0.3, 1.7
    samples = jnp.asarray(m + math.sqrt(tau / h) * np.random.default_rng(2).normal(size=5))
    q = c - 0.5 * h * (samples - m) ** 2
    log_pi = q / tau - _gaussian_log_partition(h, c, tau)
    np.testing.assert_allclose(sv.soft_value_from_samples(q, log_pi, tau),
                               tau * _gaussian_log_partition(h, c, tau), rtol=0, atol=1e-12)
    entropy = -jnp.mean(log_pi)
    np.testing.assert_allclose(sv.soft_value_from_entropy(q, entropy, tau), sv.soft_value_from_samples(q, log_pi, tau),
                               rtol=0, atol=1e-12)


def test_soft_value_from_samples_formula():
  q = jnp.array([1.0, 2.0, 4.0])
  log_pi = jnp.array([-1.0, 0.5, -2.0])
  expected = np.mean([1.0 + 0.3, 2.0 - 0.15, 4.0 + 0.6])
  np.testing.assert_allclose(sv.soft_value_from_samples(q, log_pi, 0.3), expected, rtol=1e-6)
  np.testing.assert_allclose(sv.soft_value_from_entropy(q, 2.0, 0.3), 7.0 / 3.0 + 0.6, rtol=1e-6)


# ---------------------------------------------------------------------------------------------- TD targets


def test_soft_td_target_one_transition():
  # y = r + γ(1 − term)[min_j Q̄_j − τ log π].
  y = sv.soft_td_target(1.0, 0.0, 0.9, jnp.array([3.0, 2.5]), -1.2, 0.5)
  np.testing.assert_allclose(y, 1.0 + 0.9 * (2.5 + 0.6), rtol=1e-6)
  # Termination: no bootstrap.
  np.testing.assert_allclose(sv.soft_td_target(1.0, 1.0, 0.9, jnp.array([3.0, 2.5]), -1.2, 0.5), 1.0)
  np.testing.assert_allclose(sv.soft_td_target(1.0, True, 0.9, jnp.array([3.0, 2.5]), -1.2, 0.5), 1.0)


def test_truncation_bootstraps_termination_does_not():
  # Brax convention: done = 1 on both; terminated = done · (1 − truncation).
  done = np.array([1.0, 1.0, 0.0])
  truncation = np.array([1.0, 0.0, 0.0])
  terminated = done * (1.0 - truncation)
  y = sv.bootstrapped_target(np.zeros(3), terminated, 0.5, np.full(3, 4.0))
  np.testing.assert_allclose(y, [2.0, 0.0, 2.0])


def test_soft_td_target_broadcasts_over_a_batch_like_vmap():
  rng = np.random.default_rng(3)
  reward = rng.normal(size=6).astype(np.float32)
  terminated = np.array([0, 1, 0, 0, 1, 0], dtype=bool)
  next_q = rng.normal(size=(2, 6)).astype(np.float32)  # twin critics first
  next_log_prob = rng.normal(size=6).astype(np.float32)
  discount = np.array([0.99, 0.99, 0.9, 0.81, 0.99, 0.0], np.float32)  # per-transition (e.g. γ^n)
  batched = jax.jit(sv.soft_td_target)(reward, terminated, discount, next_q, next_log_prob, 0.2)
  mapped = jax.jit(jax.vmap(sv.soft_td_target, in_axes=(0, 0, 0, 1, 0, None)))(
      reward, terminated, discount, next_q, next_log_prob, 0.2)
  expected = reward + discount * (1 - terminated) * (np.min(next_q, axis=0) - 0.2 * next_log_prob)
  np.testing.assert_allclose(batched, expected, rtol=1e-6)
  np.testing.assert_allclose(mapped, expected, rtol=1e-6)


def test_soft_td_target_from_entropy():
  next_q = jnp.array([[1.0, 2.0, 3.0], [0.5, 2.5, 2.0]])  # min over critics: [0.5, 2.0, 2.0]
  y = sv.soft_td_target_from_entropy(0.5, 0.0, 0.9, next_q, 1.5, 0.2)
  np.testing.assert_allclose(y, 0.5 + 0.9 * (1.5 + 0.3), rtol=1e-6)
  np.testing.assert_allclose(sv.soft_td_target_from_entropy(0.5, 1.0, 0.9, next_q, 1.5, 0.2), 0.5)


# ---------------------------------------------------------------------------------------------- jit and vmap


def test_every_function_under_jit_and_vmap():
  rng = np.random.default_rng(4)
  qa, qb = rng.normal(size=(2, 2, 8)).astype(np.float32)
  _check_jit_and_vmap(lambda q: sv.gibbs_log_partition_quadrature(q, 0.1, 0.5), (qa[0],), (qb[0],))
  _check_jit_and_vmap(lambda q, lp: sv.gibbs_log_partition_importance(q, lp, 0.5), (qa[0], qa[1]), (qb[0], qb[1]))
  _check_jit_and_vmap(lambda q, t: sv.soft_optimal_value_quadrature(q, 0.1, t), (qa[0], 0.5), (qb[0], 0.7))
  _check_jit_and_vmap(lambda q, lp, t: sv.soft_optimal_value_importance(q, lp, t), (qa[0], qa[1], 0.5),
                      (qb[0], qb[1], 0.3))
  _check_jit_and_vmap(lambda q, lp, t: sv.soft_value_from_samples(q, lp, t), (qa[0], qa[1], 0.5),
                      (qb[0], qb[1], 0.3))
  _check_jit_and_vmap(lambda q, h: sv.soft_value_from_entropy(q, h, 0.5), (qa[0], 1.0), (qb[0], -2.0))
  _check_jit_and_vmap(sv.bootstrapped_target, (1.0, 0.0, 0.9, 2.0), (0.5, 1.0, 0.8, 3.0))
  _check_jit_and_vmap(sv.soft_td_target, (1.0, 0.0, 0.9, qa[0, :2], 0.3, 0.5), (0.5, 1.0, 0.8, qb[0, :2], -1.0, 0.2))
  _check_jit_and_vmap(sv.soft_td_target_from_entropy, (1.0, 0.0, 0.9, qa[:, :4], 0.3, 0.5),
                      (0.5, 0.0, 0.8, qb[:, :4], -1.0, 0.2))


def test_float64_inputs_stay_float64():
  with jax.enable_x64(True):
    q = jnp.linspace(-1.0, 1.0, 5, dtype=jnp.float64)
    assert sv.gibbs_log_partition_quadrature(q, 0.1, 0.5).dtype == jnp.float64
    assert sv.soft_value_from_samples(q, q, 0.5).dtype == jnp.float64
    assert sv.soft_td_target(1.0, 0.0, 0.9, jnp.stack([q, q]), q, 0.5).dtype == jnp.float64


# -------------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("call, match", [
    (lambda: sv.gibbs_log_partition_quadrature(jnp.ones(3), 0.1, 0.0), "tau"),
    (lambda: sv.gibbs_log_partition_quadrature(jnp.ones(3), 0.1, -1.0), "tau"),
    (lambda: sv.gibbs_log_partition_quadrature(jnp.ones(3), 0.0, 1.0), "cell_volume"),
    (lambda: sv.gibbs_log_partition_quadrature(jnp.ones((3, 2)), 0.1, 1.0), "q_values"),
    (lambda: sv.gibbs_log_partition_importance(jnp.ones(3), jnp.ones(4), 1.0), "proposal_log_probs"),
    (lambda: sv.soft_value_from_samples(jnp.ones(3), jnp.ones(2), 1.0), "log_probs"),
    (lambda: sv.soft_value_from_samples(jnp.ones(3), jnp.ones(3), float("nan")), "tau"),
    (lambda: sv.soft_value_from_entropy(jnp.ones(3), jnp.ones(2), 1.0), "entropy"),
    (lambda: sv.soft_td_target(1.0, 0.0, 1.5, jnp.ones(2), 0.0, 1.0), "discount"),
    (lambda: sv.soft_td_target(1.0, 2.0, 0.9, jnp.ones(2), 0.0, 1.0), "terminated"),
    (lambda: sv.soft_td_target(1.0, 0.0, 0.9, jnp.float32(1.0), 0.0, 1.0), "next_q_values"),
    (lambda: sv.soft_td_target(1.0, 0.0, 0.9, jnp.ones(2), 0.0, 0.0), "tau"),
    (lambda: sv.soft_td_target_from_entropy(1.0, 0.0, 0.9, jnp.ones(2), 0.0, 1.0), "next_q_values"),
])
def test_bad_input_raises_value_error_naming_the_argument(call, match):
  with pytest.raises(ValueError, match=match):
    call()
