"""Box-bounded actions through the tanh change of variables (docs/theory.md §4).

Particles live in an unsquashed space u ∈ R^d and act as a = low + (high − low)(tanh(u) + 1)/2. A Gibbs law
p(a) ∝ exp(Q(a)/τ) on the box is the pushforward of the u-space law with log density
    Q(squash(u))/τ + log|det ∂a/∂u|,   log|det ∂a/∂u| = Σ_i [log((high_i − low_i)/2) + log(1 − tanh² u_i)],
so WPG on the box is WPG in u-space on the potential `bounded_q_fn(q_fn, tau, low, high)`.
"""

from __future__ import annotations

__all__ = ['squash', 'unsquash', 'log_abs_det_jacobian', 'bounded_q_fn']

from typing import Callable

import chex
import jax
import jax.numpy as jnp

QFunction = Callable[[chex.Array], chex.Array]


def squash(u: chex.Array, low: chex.Numeric = -1.0, high: chex.Numeric = 1.0) -> chex.Array:
  """a = low + (high − low)(tanh(u) + 1)/2.  u: [..., d] -> [..., d]."""
  return low + (high - low) * (jnp.tanh(u) + 1.0) / 2.0


def unsquash(a: chex.Array, low: chex.Numeric = -1.0, high: chex.Numeric = 1.0, eps: float = 1e-6) -> chex.Array:
  """u = artanh(2(a − low)/(high − low) − 1), clipped to |·| ≤ 1 − eps so box edges stay finite."""
  y = 2.0 * (a - low) / (high - low) - 1.0
  return jnp.arctanh(jnp.clip(y, -1.0 + eps, 1.0 - eps))


def log_abs_det_jacobian(u: chex.Array, low: chex.Numeric = -1.0, high: chex.Numeric = 1.0) -> chex.Array:
  """log|det ∂a/∂u| = Σ_i log((high_i − low_i)/2) + 2(log 2 − u_i − softplus(−2u_i)).  u: [d] -> scalar.

  Uses the identity log(1 − tanh² u) = 2(log 2 − u − softplus(−2u)), which is exact and stable for large |u|.
  """
  log_one_minus_tanh_sq = 2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))
  log_half_width = jnp.broadcast_to(jnp.log((jnp.asarray(high) - jnp.asarray(low)) / 2.0), u.shape)
  return jnp.sum(log_half_width + log_one_minus_tanh_sq, axis=-1)


def bounded_q_fn(q_fn: QFunction, tau: chex.Numeric, low: chex.Numeric = -1.0,
                 high: chex.Numeric = 1.0) -> QFunction:
  """The u-space potential Q_u(u) = Q(squash(u)) + τ log|det ∂a/∂u|, so exp(Q_u/τ) is the pulled-back Gibbs law.

  q_fn: [d] -> scalar on the box. Returns a function [d] -> scalar on R^d, to be passed to `wpg_step`.
  """

  def q_unsquashed(u: chex.Array) -> chex.Array:
    return q_fn(squash(u, low, high)) + tau * log_abs_det_jacobian(u, low, high)

  return q_unsquashed
