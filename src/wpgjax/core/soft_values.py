"""Soft Bellman pieces for ONE state or ONE transition: Gibbs log-partitions, soft values, soft TD targets.

Notation (docs/theory.md §1): temperature τ > 0, soft Q of the state Q(a), Gibbs policy p(a) = exp(Q(a)/τ) / Z with
Z = ∫ exp(Q(a)/τ) da. The soft optimality operator is (T*V)(s) = τ log Z_s, and the soft value of a policy π is
V^π(s) = E_{a∼π}[Q(a) − τ log π(a)].

Batching. Every function here is unbatched and pure, so `jax.vmap` over states (or over a replay batch) always
works. The TD-target functions are also elementwise in the transition: `reward`, `terminated`, `discount` and
`next_log_prob` may carry any common batch shape [...] and broadcast against each other, and `next_q_values`
carries the critic-ensemble axis FIRST ([J, ...]), so a deep-RL critic may call them on a whole batch directly,
e.g. `soft_td_target(r[B], terminated[B], 0.99, q_target[2, B], log_prob[B], tau)` -> [B].
"""

from __future__ import annotations

__all__ = [
    'gibbs_log_partition_quadrature',
    'gibbs_log_partition_importance',
    'gibbs_log_partition_importance_corrected',
    'soft_optimal_value_quadrature',
    'soft_optimal_value_importance',
    'soft_value_from_samples',
    'soft_value_from_entropy',
    'bootstrapped_target',
    'soft_td_target',
    'soft_td_target_from_entropy',
]

import chex
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from wpgjax import _validation


def _check_terminated(terminated: chex.Array) -> None:
  if _validation.is_concrete(terminated):
    arr = np.asarray(terminated, dtype=float)
    if not np.all((arr >= 0.0) & (arr <= 1.0)):
      raise ValueError(f"terminated must be a 0/1 (or boolean) mask with values in [0, 1], got {terminated!r}")


def gibbs_log_partition_quadrature(q_values: chex.Array, cell_volume: chex.Numeric,
                                   tau: chex.Numeric) -> chex.Array:
  """log Z = log ∫ exp(Q(a)/τ) da by quadrature on a grid, computed stably with logsumexp:

      log Z ≈ logsumexp_g( Q(a_g)/τ + log w_g ).

  q_values: [G] soft Q at the grid points (flatten a product grid first). cell_volume: the quadrature weight
  w_g — a scalar (uniform grid: the cell volume Π_i Δa_i, the midpoint/rectangle rule) or [G] per-point weights
  (e.g. trapezoid or Gauss–Hermite weights). tau: scalar > 0. Returns a scalar.
  For a smooth Q decaying fast at the grid ends the rectangle rule is spectrally accurate.
  """
  _validation.check_rank("q_values", q_values, 1, "[num_grid_points]")
  _validation.check_positive("cell_volume", cell_volume)
  _validation.check_positive("tau", tau)
  q_values = jnp.asarray(q_values)
  log_weights = jnp.broadcast_to(jnp.log(jnp.asarray(cell_volume, q_values.dtype)), q_values.shape)
  return logsumexp(q_values / tau + log_weights)


def gibbs_log_partition_importance(q_values: chex.Array, proposal_log_probs: chex.Array,
                                   tau: chex.Numeric) -> chex.Array:
  """log Z by self-normalised importance sampling with samples a_i ∼ μ from a proposal μ:

      log Ẑ = logsumexp_i( Q(a_i)/τ − log μ(a_i) ) − log N.

  Ẑ is unbiased for Z; log Ẑ is consistent but biased low (Jensen), by ≈ Var(w)/(2N E[w]²) for the weights
  w = exp(Q/τ)/μ. The estimate is exact for any N when μ is the Gibbs policy itself.
  q_values: [N] soft Q at the samples; proposal_log_probs: [N] log μ(a_i); tau: scalar > 0. Returns a scalar.
  """
  _validation.check_rank("q_values", q_values, 1, "[num_samples]")
  _validation.check_same_shape("q_values", q_values, "proposal_log_probs", proposal_log_probs)
  _validation.check_positive("tau", tau)
  q_values = jnp.asarray(q_values)
  num_samples = q_values.shape[0]
  return logsumexp(q_values / tau - proposal_log_probs) - jnp.log(jnp.asarray(num_samples, q_values.dtype))


def gibbs_log_partition_importance_corrected(q_values: chex.Array, proposal_log_probs: chex.Array,
                                             tau: chex.Numeric) -> chex.Array:
  """log Z by self-normalised importance sampling with the second-order (delta-method) bias correction:

      log Ẑ_c = log w̄ + s²_w / (2N w̄²),   w_i = exp(Q(a_i)/τ − log μ(a_i)),  s²_w the unbiased sample variance.

  `gibbs_log_partition_importance` (log w̄) is biased low by ≈ Var(w)/(2N E[w]²); the correction removes that
  term, leaving O(1/N²) for light-tailed weights (heavy-tailed weights keep a bias: there is no free lunch).
  q_values: [N] (N ≥ 2); proposal_log_probs: [N]; tau: scalar > 0. Returns a scalar.
  """
  log_mean_w = gibbs_log_partition_importance(q_values, proposal_log_probs, tau)
  relative_w = jnp.exp(jnp.asarray(q_values) / tau - proposal_log_probs - log_mean_w)  # w_i / w̄
  num = relative_w.shape[0]
  if num < 2:
    raise ValueError(f"q_values must hold at least 2 samples, got shape {np.shape(q_values)}")
  return log_mean_w + jnp.sum((relative_w - 1.0) ** 2) / (num - 1) / (2.0 * num)


def soft_optimal_value_quadrature(q_values: chex.Array, cell_volume: chex.Numeric,
                                  tau: chex.Numeric) -> chex.Array:
  """The soft optimal value (T*V)(s) = τ log ∫ exp(Q(a)/τ) da by quadrature (see
  `gibbs_log_partition_quadrature`).  q_values: [G]; cell_volume: scalar or [G]; tau > 0 -> scalar."""
  return tau * gibbs_log_partition_quadrature(q_values, cell_volume, tau)


def soft_optimal_value_importance(q_values: chex.Array, proposal_log_probs: chex.Array,
                                  tau: chex.Numeric) -> chex.Array:
  """The soft optimal value τ log Z by importance sampling (see `gibbs_log_partition_importance`).

  q_values, proposal_log_probs: [N]; tau > 0 -> scalar (biased low by Jensen, consistent as N → ∞).
  """
  return tau * gibbs_log_partition_importance(q_values, proposal_log_probs, tau)


def soft_value_from_samples(q_values: chex.Array, log_probs: chex.Array, tau: chex.Numeric) -> chex.Array:
  """Soft value of a policy from its own samples a_i ∼ π:  V^π ≈ (1/N) Σ_i [Q(a_i) − τ log π(a_i)].

  q_values: [N] Q(a_i); log_probs: [N] log π(a_i); tau: scalar > 0. Returns a scalar (unbiased).
  """
  _validation.check_rank("q_values", q_values, 1, "[num_samples]")
  _validation.check_same_shape("q_values", q_values, "log_probs", log_probs)
  _validation.check_positive("tau", tau)
  return jnp.mean(jnp.asarray(q_values) - tau * jnp.asarray(log_probs))


def soft_value_from_entropy(q_values: chex.Array, entropy: chex.Numeric, tau: chex.Numeric) -> chex.Array:
  """Soft value of a policy known only through samples and an entropy estimate (particle policies):

      V^π = E_π[Q] + τ H(π) ≈ (1/N) Σ_i Q(a_i) + τ Ĥ,

  with Ĥ from `wpgjax.core.entropy` (kNN, KDE, Gaussian fit, ...). q_values: [N]; entropy: scalar;
  tau: scalar > 0. Returns a scalar.
  """
  _validation.check_rank("q_values", q_values, 1, "[num_samples]")
  _validation.check_rank("entropy", entropy, 0, "[] (a scalar)")
  _validation.check_positive("tau", tau)
  return jnp.mean(jnp.asarray(q_values)) + tau * entropy


def bootstrapped_target(reward: chex.Array, terminated: chex.Array, discount: chex.Numeric,
                        next_value: chex.Array) -> chex.Array:
  """One-step target  y = r + γ (1 − terminated) V(s').

  `terminated` is 1 only when s' is a true terminal state (the value after it is zero). A time-limit
  TRUNCATION is not termination: pass terminated = 0 there so that the target still bootstraps (with Brax's
  wrappers, terminated = done · (1 − info['truncation'])). `discount` may be γ, or γ^n for n-step returns.
  All arguments are elementwise and broadcast: shapes [...] -> [...] (scalars for one transition).
  """
  _validation.check_in_range("discount", discount, 0.0, 1.0, closed="both")
  _check_terminated(terminated)
  next_value = jnp.asarray(next_value)
  not_terminated = 1.0 - jnp.asarray(terminated, next_value.dtype)
  return reward + discount * not_terminated * next_value


def soft_td_target(reward: chex.Array, terminated: chex.Array, discount: chex.Numeric,
                   next_q_values: chex.Array, next_log_prob: chex.Array, tau: chex.Numeric) -> chex.Array:
  """Soft TD target for a twin (or ensemble) critic with one next action a' ∼ π(·|s'):

      y = r + γ (1 − terminated) [ min_j Q̄_j(s', a') − τ log π(a'|s') ].

  next_q_values: [J, ...] target-critic values, the ensemble axis FIRST (min over axis 0; J = 2 for twin Q);
  reward, terminated, next_log_prob: [...] (scalars for one transition); discount: γ (or γ^n) in [0, 1];
  tau > 0. Returns [...]. `terminated` must be 0 on time-limit truncations (see `bootstrapped_target`): the
  caller never zeroes the bootstrap on a truncation. Broadcasts over a batch [...] or vmap it.
  """
  if np.ndim(next_q_values) < 1:
    raise ValueError("next_q_values must have shape [num_critics, ...] (rank >= 1, ensemble axis first), "
                     f"got shape {np.shape(next_q_values)}")
  _validation.check_positive("tau", tau)
  next_value = jnp.min(jnp.asarray(next_q_values), axis=0) - tau * next_log_prob
  return bootstrapped_target(reward, terminated, discount, next_value)


def soft_td_target_from_entropy(reward: chex.Array, terminated: chex.Array, discount: chex.Numeric,
                                next_q_values: chex.Array, next_entropy: chex.Numeric,
                                tau: chex.Numeric) -> chex.Array:
  """Soft TD target for a particle (or implicit) policy at s' known through M samples and an entropy estimate:

      y = r + γ (1 − terminated) [ (1/M) Σ_m min_j Q̄_j(s', a'_m) + τ Ĥ(π(·|s')) ].

  next_q_values: [J, M] (ensemble axis first, then next-action samples); next_entropy: scalar estimate of
  H(π(·|s')) (e.g. `knn_entropy` of the particles at s'); reward, terminated: scalars; discount in [0, 1];
  tau > 0. Returns a scalar. One transition: vmap over a batch.
  """
  _validation.check_rank("next_q_values", next_q_values, 2, "[num_critics, num_samples]")
  _validation.check_rank("next_entropy", next_entropy, 0, "[] (a scalar)")
  _validation.check_positive("tau", tau)
  next_value = jnp.mean(jnp.min(jnp.asarray(next_q_values), axis=0)) + tau * next_entropy
  return bootstrapped_target(reward, terminated, discount, next_value)
