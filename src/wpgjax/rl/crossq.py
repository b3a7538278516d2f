"""CrossQ's soft TD loss (Bhatt et al., ICLR 2024): batch-normalised twin Q networks and no target network.

The critic's one train-mode pass takes the replay batch (s_b, a_b) and the next-state samples (s'_b, a'_bi) of
the executed law (i = 1..N) as ONE batch of B(1 + N) rows, so that BatchNorm normalises both with the same
statistics, and the next-state values come from that pass (held fixed) instead of a target copy:

  [q(s_b, a_b); q(s'_b, a'_bi)] = Q_ω([s; s'], [a; a'])   (train mode: the statistics of all B(1 + N) rows)
  V_b = mean_i min_j sg(q_j(s'_b, a'_bi)) + c_b,   y_b = sg(c_r·r_b + γ·m_b·V_b),
  loss = mean_b ½ Σ_j (q_j(s_b, a_b) − y_b)².

c_b is the family's next-state value at q = 0: every family's value is linear in the critic over its samples
(V = mean_i Q(s', a'_i) + c: −τ log π_a(a'|s') for the Gaussian's one sample, τĤ for the particle families), so
c_b = `next_value(..., q_fn=0)`. Everywhere else (the actor, acting, evaluation, diagnostics) the critic runs on
its running statistics (`networks.TwinQNetwork`), row by row.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from wpgjax import core
from wpgjax.rl import networks, replay

__all__ = ["zero_q", "crossq_loss"]


def zero_q(actions: chex.Array) -> chex.Array:
  """actions [N, d] -> zeros [N]: the critic a family's `next_value` gets to return c_b alone."""
  return jnp.zeros(actions.shape[:1], actions.dtype)


def crossq_loss(critic: networks.TwinQNetwork, critic_variables, batch: replay.Transition, next_actions: chex.Array,
                next_value_offset: chex.Array, discount: chex.Numeric,
                reward_scaling: chex.Numeric) -> tuple[chex.Array, dict]:
  """(loss, the critic's batch statistics after the pass) for a batch [B, ...] (observations normalised),
  next_actions a' = tanh(u') [B, N, d] drawn at batch.next_observation and next_value_offset c_b [B]
  (module docstring). critic_variables: {"params", "batch_stats"} of a batch_norm critic."""
  num_states, num_samples = next_actions.shape[:2]
  observations = jnp.concatenate([batch.observation, jnp.repeat(batch.next_observation, num_samples, axis=0)])
  actions = jnp.concatenate([batch.action, next_actions.reshape(num_states * num_samples, -1)])
  q_values, updates = critic.apply(critic_variables, observations, actions, train=True, mutable=["batch_stats"])
  q_now, q_next = q_values[:num_states], jax.lax.stop_gradient(q_values[num_states:])
  next_value = jnp.mean(jnp.min(q_next, axis=-1).reshape(num_states, num_samples), axis=-1) + next_value_offset
  target = jax.lax.stop_gradient(
      core.bootstrapped_target(reward_scaling * batch.reward, 1.0 - batch.discount, discount, next_value))
  return jnp.mean(0.5 * jnp.sum((q_now - target[:, None]) ** 2, axis=-1)), updates["batch_stats"]
