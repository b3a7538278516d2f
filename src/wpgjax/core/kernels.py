"""Positive-definite kernels on action space, shared by SVGD and the kernel Stein discrepancy."""

from __future__ import annotations

__all__ = ['pairwise_sq_distances', 'median_lengthscale', 'rbf_kernel', 'rbf_kernel_matrix']

import chex
import jax
import jax.numpy as jnp
import numpy as np


def pairwise_sq_distances(x: chex.Array, y: chex.Array) -> chex.Array:
  """D_ij = ‖x_i − y_j‖².  x: [N, d], y: [M, d] -> [N, M]."""
  diff = x[:, None, :] - y[None, :, :]
  return jnp.sum(diff * diff, axis=-1)


MAX_MEDIAN_PAIRS = 20_000


def median_lengthscale(particles: chex.Array) -> chex.Array:
  """Median-heuristic RBF lengthscale ℓ with ℓ² = med(‖a_i − a_j‖²) / (2 log(N + 1)).

  This is the SVGD choice h = med² / log N written for k(x, y) = exp(−‖x − y‖² / (2ℓ²)); the median is taken
  over distinct pairs and floored at a tiny value so that a collapsed cloud does not divide by zero. When there
  are more than MAX_MEDIAN_PAIRS pairs, the median is taken over the deterministic subset {(i, i + s mod N):
  s = 1..S} with S = ⌈MAX_MEDIAN_PAIRS / N⌉ (every particle in 2S pairs), so the cost is O(N·S·d), not O(N²).
  particles: [N, d] -> scalar (gradient stopped: the bandwidth is a tuning choice, not a variable).
  """
  chex.assert_rank(particles, 2)
  n = particles.shape[0]
  if n * (n - 1) // 2 <= MAX_MEDIAN_PAIRS:
    rows, cols = np.triu_indices(n, 1) if n > 1 else (np.zeros(1, int), np.zeros(1, int))
    diff = particles[rows] - particles[cols]
  else:
    shifts = np.arange(1, -(-MAX_MEDIAN_PAIRS // n) + 1)
    diff = particles[None, :, :] - jnp.stack([jnp.roll(particles, -int(k), axis=0) for k in shifts])
  med = jnp.median(jnp.sum(diff * diff, axis=-1))
  ell_sq = med / (2.0 * jnp.log(n + 1.0))
  ell_sq = jnp.maximum(ell_sq, jnp.finfo(particles.dtype).tiny ** 0.5)
  return jax.lax.stop_gradient(jnp.sqrt(ell_sq))


def rbf_kernel(x: chex.Array, y: chex.Array, lengthscale: chex.Numeric) -> chex.Array:
  """k(x, y) = exp(−‖x − y‖² / (2ℓ²)).  x: [d], y: [d] -> scalar (vmap for matrices)."""
  diff = x - y
  return jnp.exp(-jnp.sum(diff * diff) / (2.0 * lengthscale**2))


def rbf_kernel_matrix(x: chex.Array, y: chex.Array, lengthscale: chex.Numeric) -> chex.Array:
  """K_ij = k(x_i, y_j) for the RBF kernel.  x: [N, d], y: [M, d] -> [N, M]."""
  return jnp.exp(-pairwise_sq_distances(x, y) / (2.0 * lengthscale**2))
