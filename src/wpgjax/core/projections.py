"""Parametric projections of the WPG particle step onto a policy network, for ONE state (docs/theory.md §4).

The WPG flow moves each action along v(a) = ∇_a Q(a) − τ ∇_a log π(a) (the noise of WPGD implements the second
term). A parametric policy cannot follow v exactly; these losses give parameter updates that follow it in the
least-squares sense:

- WPO (Pfau et al., 2025): Δθ ∝ E_{a∼π_θ}[∇_θ(∇_a log π_θ(a))ᵀ ∇_a Q(a)], via the surrogate `wpo_loss`, with the
  diagonal-Gaussian inverse Fisher applied by the reparametrisation `natural_gradient_gaussian`; and its
  entropy-regularized form `entropy_regularized_wpo_loss` (∇_aQ replaced by ∇_aQ − τ∇_a log π_θ).
- WPPG direction matching (arXiv 2603.02576) for pushforward policies a = g_θ(s, z): `wppg_loss` regresses the
  actions onto one WPGD step, needing no density or score of the policy.

Every loss is for one state and averages over its N action samples; vmap over states and average (with a mask
for terminal states if wanted). Conventions: the inner product over the action dimension d is SUMMED (it is
⟨·,·⟩ / ‖·‖² in R^d, which makes the gradient exactly the WPO / WPPG direction for any d) and samples are
AVERAGED (so the loss scale, hence the learning rate, does not depend on N). Acme's WPO also sums over d.
"""

from __future__ import annotations

__all__ = [
    'action_score',
    'wpo_loss',
    'entropy_regularized_wpo_loss',
    'GaussianParams',
    'natural_gradient_gaussian',
    'wppg_loss',
]

from typing import Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from wpgjax import _validation

LogProbFunction = Callable[[chex.Array], chex.Array]


def _check_actions_and_gradient(actions: chex.Array, action_gradient: chex.Array) -> None:
  _validation.check_rank("actions", actions, 2, "[num_samples, action_dim]")
  if np.shape(action_gradient) != np.shape(actions):
    raise ValueError(f"action_gradient must have the shape of actions {np.shape(actions)}, got shape "
                     f"{np.shape(action_gradient)}")


def action_score(log_prob_fn: LogProbFunction, actions: chex.Array) -> chex.Array:
  """∇_a log π_θ(a_i) at the FIXED actions a_i (stop-gradiented), still differentiable in θ.

  Computed with `jax.vjp` of the batched log_prob with respect to the actions (cotangent 1 per sample), as in
  Acme's WPO. log_prob_fn: [d] -> scalar, closing over θ; actions: [N, d] -> [N, d].
  """
  _validation.check_rank("actions", actions, 2, "[num_samples, action_dim]")
  fixed_actions = jax.lax.stop_gradient(actions)
  log_probs, vjp_fn = jax.vjp(jax.vmap(log_prob_fn), fixed_actions)
  if log_probs.shape != (fixed_actions.shape[0],):
    raise ValueError("log_prob_fn must map one action [action_dim] to a scalar log-density; on actions of shape "
                     f"{fixed_actions.shape} it gave shape {log_probs.shape[1:]} per action")
  (score,) = vjp_fn(jnp.ones_like(log_probs))
  return score


def wpo_loss(log_prob_fn: LogProbFunction, actions: chex.Array, action_gradient: chex.Array) -> chex.Array:
  """Wasserstein Policy Optimization surrogate loss for one state:

      L(θ) = −(1/N) Σ_i ⟨ ∇_a log π_θ(a_i), sg(∇_a Q(a_i)) ⟩,     a_i ∼ π_θ held fixed (stop-gradient),

  so that −∇_θ L = (1/N) Σ_i ∇_θ(∇_a log π_θ(a_i))ᵀ ∇_a Q(a_i), the WPO direction (before the inverse Fisher;
  for a diagonal Gaussian build the distribution from `natural_gradient_gaussian(mean, std)` inside
  log_prob_fn). Only the gradient is meaningful; the value is not an objective.
  log_prob_fn: [d] -> scalar log π_θ(a), closing over θ (differentiate the loss w.r.t. θ);
  actions: [N, d] samples; action_gradient: [N, d] ∇_a Q(a_i) (e.g. from the critic). Returns a scalar.
  """
  _check_actions_and_gradient(actions, action_gradient)
  score = action_score(log_prob_fn, actions)
  direction = jax.lax.stop_gradient(action_gradient)
  return -jnp.mean(jnp.sum(score * direction, axis=-1))


def entropy_regularized_wpo_loss(log_prob_fn: LogProbFunction, actions: chex.Array, action_gradient: chex.Array,
                                 tau: chex.Numeric) -> chex.Array:
  """Entropy-regularized WPO loss: `wpo_loss` with ∇_aQ replaced by the WPG velocity ∇_aQ − τ∇_a log π_θ:

      L(θ) = −(1/N) Σ_i ⟨ ∇_a log π_θ(a_i), sg(∇_a Q(a_i) − τ ∇_a log π_θ(a_i)) ⟩.

  Its gradient vanishes sample by sample when π_θ is the Gibbs policy p ∝ exp(Q/τ) (then ∇_aQ = τ∇_a log π_θ).
  log_prob_fn: [d] -> scalar (closing over θ); actions, action_gradient: [N, d]; tau > 0. Returns a scalar.
  """
  _check_actions_and_gradient(actions, action_gradient)
  _validation.check_positive("tau", tau)
  score = action_score(log_prob_fn, actions)
  direction = jax.lax.stop_gradient(action_gradient - tau * score)
  return -jnp.mean(jnp.sum(score * direction, axis=-1))


class GaussianParams(NamedTuple):
  """Mean and standard deviation of a diagonal Gaussian, each [..., d]."""
  mean: chex.Array
  std: chex.Array


def natural_gradient_gaussian(mean: chex.Array, std: chex.Array) -> GaussianParams:
  """Reparametrise a diagonal Gaussian so that gradients flowing into (mean, std) are premultiplied by the inverse
  Fisher information F^{-1} = diag(σ², σ²/2) of N(μ, σ²) in the (μ, σ) coordinates, without a Fisher solve:

      mean' = sg(σ²) μ + sg((1 − σ²) μ),        std' = sg(σ²/2) σ + sg((1 − σ²/2) σ).

  Values are unchanged (mean' = μ, std' = σ); ∂mean'/∂μ = σ² and ∂std'/∂σ = σ²/2. Build the policy distribution
  from (mean', std') inside the loss. mean, std: [..., d] (broadcastable, e.g. a state-independent std [d]
  with means [B, d]) -> GaussianParams(mean', std') with the input shapes.
  """
  try:
    np.broadcast_shapes(np.shape(mean), np.shape(std))
  except ValueError:
    raise ValueError(f"mean and std must have broadcastable shapes, got {np.shape(mean)} and {np.shape(std)}") \
        from None
  _validation.check_positive("std", std)
  sg = jax.lax.stop_gradient
  variance = sg(std) ** 2
  new_mean = variance * mean + sg((1.0 - variance) * mean)
  new_std = (variance / 2.0) * std + sg((1.0 - variance / 2.0) * std)
  return GaussianParams(new_mean, new_std)


def wppg_loss(actions: chex.Array, action_gradient: chex.Array, *, step_size: chex.Numeric, tau: chex.Numeric,
              key: chex.PRNGKey | None = None, noise: chex.Array | None = None) -> chex.Array:
  """WPPG direction-matching loss for a pushforward policy a_i = g_θ(s, z_i), one state:

      L(θ) = (1/N) Σ_i ‖ a_i − sg(a_i) − sg(δ_i) ‖²,   δ_i = η ∇_aQ(a_i) + ξ_i,   ξ_i = sqrt(2τη) ε_i,  ε_i ∼ N(0, I),

  i.e. one regression step of g_θ toward its particles moved by one WPGD step (docs/theory.md §3). The value is the
  constant (1/N) Σ‖δ_i‖²; the gradient is ∇_θ L = −(2/N) Σ_i (∂a_i/∂θ)ᵀ δ_i. No density or score is needed.
  actions: [N, d] from g_θ (differentiable in θ); action_gradient: [N, d] ∇_aQ(a_i); step_size η > 0;
  tau ≥ 0 (τ = 0 gives the deterministic move); exactly one of `key` (PRNG key, ε drawn here) or `noise`
  (the standard-normal ε, [N, d], e.g. to share it across calls). Returns a scalar.
  """
  _check_actions_and_gradient(actions, action_gradient)
  _validation.check_positive("step_size", step_size)
  _validation.check_in_range("tau", tau, 0.0, np.inf, closed="low")
  if (key is None) == (noise is None):
    raise ValueError("pass exactly one of key (a PRNG key) or noise (standard normal, shape [num_samples, "
                     "action_dim])")
  actions = jnp.asarray(actions)
  if noise is None:
    noise = jax.random.normal(key, actions.shape, actions.dtype)
  elif np.shape(noise) != np.shape(actions):
    raise ValueError(f"noise must have the shape of actions {np.shape(actions)}, got shape {np.shape(noise)}")
  sg = jax.lax.stop_gradient
  displacement = sg(step_size * action_gradient + jnp.sqrt(2.0 * tau * step_size) * noise)
  residual = actions - sg(actions) - displacement
  return jnp.mean(jnp.sum(residual * residual, axis=-1))
