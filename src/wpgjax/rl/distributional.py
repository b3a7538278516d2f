"""C51's categorical soft TD loss (Bellemare et al., ICML 2017; the critic of FastTD3 / FastSAC).

Each of the twin Q networks outputs a categorical law p_j(s, a) on the fixed returns z_1 < … < z_K
(`networks.TwinQNetwork` with atoms K), and Q_j(s, a) = Σ_k p_jk z_k is what the actor, acting and the particle
steps use. The soft target of a batch state b, with the executed law's samples a'_bi at s' (i = 1..N) and the
family's value offset c_b (V(s') = mean_i Q(s', a'_bi) + c_b, as every family's next-state value is linear in
the critic over its samples: −τ log π(a'|s') for the Gaussian's one sample, τĤ for the particle families):

  p̄_b = mean_i p_{j*}(s'_b, a'_bi) under the target network, j* = argmin_j Q_j(s'_b, a'_bi)   (the twin minimum)
  y_bk = c_r·r_b + γ·m_b·(z_k + c_b)                          the atoms moved by the soft Bellman operator
  loss = mean_b Σ_j −Σ_k Φ(y_b, p̄_b)_k log p_jk(s_b, a_b),   Φ: C51's projection back onto z (`project`).

So E[Φ(y_b, p̄_b)] = c_r·r_b + γ·m_b·V(s'_b), the scalar critic's target, whenever every y_bk lies within
[z_1, z_K] (Φ preserves the mean there; outside, mass is clipped to the nearest end).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from wpgjax import core
from wpgjax.rl import networks, replay

__all__ = ["project", "categorical_target", "categorical_td_loss"]


def project(positions: chex.Array, probs: chex.Array, support: chex.Array) -> chex.Array:
  """C51's projection Φ: the law with mass probs_j at positions_j [J] onto the evenly spaced support z [K] -> [K].

  Each mass goes to its two neighbouring atoms in proportion to closeness (linear interpolation; a position
  outside [z_1, z_K] is clipped to the nearest end): Φ_k = Σ_j probs_j · max(0, 1 − |b_j − k|), where
  b_j = (clip(positions_j) − z_1)/Δz. Conserves mass, and the mean for positions within the support.
  """
  spacing = support[1] - support[0]
  index = (jnp.clip(positions, support[0], support[-1]) - support[0]) / spacing
  weights = jnp.maximum(0.0, 1.0 - jnp.abs(index[:, None] - jnp.arange(support.shape[0])[None, :]))
  return probs @ weights


def categorical_target(critic: networks.TwinQNetwork, target_critic_params, batch: replay.Transition,
                       next_actions: chex.Array, next_value_offset: chex.Array, discount: chex.Numeric,
                       reward_scaling: chex.Numeric) -> chex.Array:
  """Φ(y_b, p̄_b) [B, K] of the module docstring, for a batch [B, ...] (observations normalised), next_actions
  a' = tanh(u') [B, N, d] drawn at batch.next_observation and next_value_offset c_b [B]; no gradient."""
  num_states, num_samples = next_actions.shape[:2]
  next_logits = critic.apply(target_critic_params, jnp.repeat(batch.next_observation, num_samples, axis=0),
                             next_actions.reshape(num_states * num_samples, -1), logits=True)
  next_probs = jax.nn.softmax(next_logits, axis=-1)                         # [B·N, 2, K]
  lower = jnp.argmin(next_probs @ critic.support, axis=-1)                  # the twin with the smaller Q
  chosen = jnp.take_along_axis(next_probs, lower[:, None, None], axis=1)[:, 0]
  mixture = jnp.mean(chosen.reshape(num_states, num_samples, -1), axis=1)  # [B, K]
  positions = core.bootstrapped_target(reward_scaling * batch.reward[:, None], 1.0 - batch.discount[:, None],
                                       discount, critic.support[None, :] + next_value_offset[:, None])
  return jax.lax.stop_gradient(jax.vmap(project, in_axes=(0, 0, None))(positions, mixture, critic.support))


def categorical_td_loss(critic: networks.TwinQNetwork, critic_params, target_critic_params,
                        batch: replay.Transition, next_actions: chex.Array, next_value_offset: chex.Array,
                        discount: chex.Numeric, reward_scaling: chex.Numeric) -> chex.Array:
  """mean_b Σ_j −Σ_k Φ_bk log p_jk(s_b, a_b), with Φ = `categorical_target(...)`; gradients reach critic_params
  only."""
  target = categorical_target(critic, target_critic_params, batch, next_actions, next_value_offset, discount,
                              reward_scaling)
  log_probs = jax.nn.log_softmax(critic.apply(critic_params, batch.observation, batch.action, logits=True))
  return jnp.mean(-jnp.sum(target[:, None, :] * log_probs, axis=(-2, -1)))
