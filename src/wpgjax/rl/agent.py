"""The WPG actor-critic's per-state pieces, built from `wpgjax.core` and a policy family (users and `train`
vmap over batches).

Actions a ∈ [−1, 1]^d are tanh(u) of an unsquashed u. For one state s with (normalised) observation o:
- the u-space potential is Q_u(u) = min_j Q_j(o, tanh u) + τ log|det ∂a/∂u| (`core.bounded_q_fn`), whose Gibbs
  law exp(Q_u/τ) is the pullback of the a-space Gibbs policy exp(Q/τ);
- the policy family (`wpgjax.rl.policies`) samples u, estimates its entropy and the next-state soft value;
- the actor loss projects one particle WPG step onto the network: entropy-regularized WPO (needs a density)
  or WPPG direction matching (needs only samples);
- the critic target is the soft TD target of the family's next-state value.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp

from wpgjax import core
from wpgjax.rl import networks
from wpgjax.rl.config import TrainConfig
from wpgjax.rl.policies import PolicySamples, make_policy_family
from wpgjax.rl.policies.base import broadcast_observation

__all__ = ["PolicySamples", "AgentNetworks", "make_networks", "potential_fn", "critic_q_fn", "critic_loss_one",
           "actor_loss_one", "StateDiagnostics", "state_diagnostics", "refine_actions", "ACTOR_LOSSES"]

Params = Any


class AgentNetworks(NamedTuple):
  """policy: the policy family (`wpgjax.rl.policies`); critic: twin soft Q networks."""
  policy: Any
  critic: networks.TwinQNetwork
  config: TrainConfig
  action_size: int


def make_networks(config: TrainConfig, action_size: int) -> AgentNetworks:
  return AgentNetworks(make_policy_family(config, action_size), networks.TwinQNetwork(config.hidden_sizes),
                       config, action_size)


def potential_fn(nets: AgentNetworks, critic_params: Params, observation: chex.Array,
                 tau: chex.Numeric) -> Callable[[chex.Array], chex.Array]:
  """Q_u(u) = min_j Q_j(o, tanh u) + τ log|det ∂a/∂u| for one state: a function [d] -> scalar."""

  def q_fn(action: chex.Array) -> chex.Array:
    return jnp.min(nets.critic.apply(critic_params, observation, action))

  return core.bounded_q_fn(q_fn, tau, -1.0, 1.0)


def critic_q_fn(nets: AgentNetworks, critic_params: Params, observation: chex.Array):
  """actions [N, d] -> min_j Q_j(o, a_i) [N] at one state (the twin minimum the soft target uses)."""
  return lambda actions: jnp.min(
      nets.critic.apply(critic_params, broadcast_observation(observation, actions.shape[0]), actions), axis=-1)


def critic_loss_one(nets: AgentNetworks, critic_params: Params, target_critic_params: Params,
                    policy_params: Params, observation: chex.Array, action: chex.Array, reward: chex.Array,
                    discount_mask: chex.Array, next_observation: chex.Array, key: chex.PRNGKey,
                    tau: chex.Numeric, discount: chex.Numeric, reward_scaling: chex.Numeric) -> chex.Array:
  """½ Σ_j (Q_j(s, a) − y)² with y = c·r + γ·m·V(s'), m = 1 − termination (truncations bootstrap), and V(s')
  the policy family's next-state soft value under the target critic."""
  q_next = critic_q_fn(nets, target_critic_params, next_observation)
  next_value = nets.policy.next_value(policy_params, next_observation, key, q_next, tau)
  target = jax.lax.stop_gradient(
      core.bootstrapped_target(reward_scaling * reward, 1.0 - discount_mask, discount, next_value))
  q_values = nets.critic.apply(critic_params, observation, action)
  return 0.5 * jnp.sum((q_values - target) ** 2)


def _wpo_loss(nets, samples, u_fixed, grad_q, tau, wpg_step_size, key):
  """−mean_i ⟨∇_u log π_θ(u_i), sg(v(u_i))⟩, v = ∇Q_u − τ∇_u log π_θ (entropy-regularized) or ∇Q_u."""
  wpg = nets.config.wpg
  log_prob_fn = nets.policy.wpo_log_prob_fn(samples, wpg.natural_gradient)
  if wpg.entropy_regularized:
    return core.entropy_regularized_wpo_loss(log_prob_fn, u_fixed, grad_q, tau)
  return core.wpo_loss(log_prob_fn, u_fixed, grad_q)


def _wppg_loss(nets, samples, u_fixed, grad_q, tau, wpg_step_size, key):
  """mean_i ‖u_i − sg(u_i) − sg(Δ_i)‖², Δ = η·φ_SVGD(u_i) ("svgd": the kernel repulsion carries the entropy
  force) or one WPGD step η∇Q_u + √(2τη)ξ ("langevin", as in the WPPG paper: its noise averages out)."""
  if nets.config.wpg.wppg_move == "svgd":
    move = wpg_step_size * core.svgd_direction(u_fixed, grad_q, tau)
    return jnp.mean(jnp.sum((samples.u - u_fixed - jax.lax.stop_gradient(move)) ** 2, axis=-1))
  return core.wppg_loss(samples.u, grad_q, step_size=wpg_step_size, tau=tau, key=key)


# config.wpg.projection -> loss(nets, samples, u_fixed, grad_q, tau, wpg_step_size, key).
ACTOR_LOSSES = {"wpo": _wpo_loss, "wppg": _wppg_loss}


def actor_loss_one(nets: AgentNetworks, policy_params: Params, critic_params: Params, observation: chex.Array,
                   key: chex.PRNGKey, tau: chex.Numeric, wpg_step_size: chex.Numeric) -> tuple[chex.Array, chex.Array]:
  """The projected particle WPG step at one state (ACTOR_LOSSES[config.wpg.projection]); returns (loss,
  action entropy estimate)."""
  wpg = nets.config.wpg
  key_sample, key_noise = jax.random.split(key)
  samples = nets.policy.sample(policy_params, observation, key_sample, wpg.num_action_samples)
  entropy = nets.policy.entropy(samples)
  q_u = potential_fn(nets, critic_params, observation, tau)
  u_fixed = jax.lax.stop_gradient(samples.u)
  grad_q = jax.lax.stop_gradient(jax.vmap(jax.grad(q_u))(u_fixed))
  loss = ACTOR_LOSSES[wpg.projection](nets, samples, u_fixed, grad_q, tau, wpg_step_size, key_noise)
  return loss, entropy


def refine_actions(nets: AgentNetworks, critic_params: Params, observation: chex.Array, u: chex.Array,
                   key: chex.PRNGKey, tau: chex.Numeric, step_size: chex.Numeric) -> chex.Array:
  """K acting-time particle steps (core.wpg_flow, ULA or MALA) on Q_u(o, ·)/τ from the proposal sample u [d]
  of one state."""
  wpg = nets.config.wpg
  q_u = potential_fn(nets, critic_params, observation, tau)
  moved = core.wpg_flow(key, u[None], q_u, step_size=step_size, tau=tau, num_steps=wpg.refine_steps,
                        method=wpg.refine_method)
  return moved[0]


class StateDiagnostics(NamedTuple):
  """Critic-based WPG diagnostics at one state (u-space, where the Gibbs target is exp(Q_u/τ)):
  kl_residual = τ KL(π‖p) by self-normalised importance sampling (0 for families without a density),
  fisher = relative Fisher information I(π‖p) (exact score; 0 without a density),
  ksd = kernel Stein discrepancy² (density-free), entropy = H(π_a) estimate."""
  kl_residual: chex.Array
  fisher: chex.Array
  ksd: chex.Array
  entropy: chex.Array


def state_diagnostics(nets: AgentNetworks, policy_params: Params, critic_params: Params,
                      observation: chex.Array, key: chex.PRNGKey, tau: chex.Numeric) -> StateDiagnostics:
  """τ KL(π‖p_s) = τ log Ẑ − mean_i[Q_u(u_i) − τ log π_u(u_i)] with log Ẑ the self-normalised importance
  estimate from π itself (`core.gibbs_log_partition_importance`, `core.kl_residual_from_samples`: ≥ 0, biased
  low for few samples); Fisher = `core.relative_fisher_information` with the exact score."""
  samples = nets.policy.sample(policy_params, observation, key, nets.config.wpg.num_action_samples)
  u = jax.lax.stop_gradient(samples.u)
  q_u = potential_fn(nets, critic_params, observation, tau)
  q_values, grad_q = jax.vmap(jax.value_and_grad(q_u))(u)
  ksd = core.kernel_stein_discrepancy_squared(u, grad_q, tau)
  entropy = nets.policy.entropy(samples)
  if not nets.policy.has_density:
    return StateDiagnostics(jnp.zeros(()), jnp.zeros(()), ksd, entropy)
  log_z = core.gibbs_log_partition_importance(q_values, samples.log_prob_u, tau)
  kl_residual = core.kl_residual_from_samples(samples.log_prob_u, q_values, log_z, tau)
  fisher = core.relative_fisher_information(nets.policy.score(samples), grad_q, tau)
  return StateDiagnostics(kl_residual, fisher, ksd, entropy)
