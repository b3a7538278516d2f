"""The WPG actor-critic's per-state pieces, built from `wpgjax.core` and a policy family (users and `train`
vmap over batches).

Actions a ∈ [−1, 1]^d are tanh(u) of an unsquashed u. For one state s with (normalised) observation o:
- the u-space potential is Q_u(u) = min_j Q_j(o, tanh u) + τ log|det ∂a/∂u| (`core.bounded_q_fn`), whose Gibbs
  law exp(Q_u/τ) is the pullback of the a-space Gibbs policy exp(Q/τ);
- the policy family (`wpgjax.rl.policies`) samples u, estimates its entropy and the next-state soft value;
- the actor loss projects one particle WPG step onto the network: entropy-regularized WPO (needs a density)
  or WPPG direction matching (needs only samples);
- the critic target is the soft TD target of the family's next-state value (`next_value_one`).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp

from wpgjax import core
from wpgjax.rl import networks
from wpgjax.rl.config import TrainConfig
from wpgjax.rl.policies import PolicyParams, PolicySamples, make_policy_family
from wpgjax.rl.policies.base import broadcast_observation
from wpgjax.rl.policies.particle import amortized_wpgd_loss

__all__ = ["PolicyParams", "PolicySamples", "AgentNetworks", "make_networks", "potential_fn", "critic_q_fn",
           "next_value_one", "executed_actions", "critic_loss_one", "actor_loss_one", "StateDiagnostics",
           "state_diagnostics", "ACTOR_LOSSES"]

Params = Any


class AgentNetworks(NamedTuple):
  """policy: the policy family (`wpgjax.rl.policies`); critic: twin soft Q networks."""
  policy: Any
  critic: networks.TwinQNetwork
  config: TrainConfig
  action_size: int


def make_networks(config: TrainConfig, action_size: int) -> AgentNetworks:
  return AgentNetworks(make_policy_family(config, action_size), networks.critic_network(config),
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


def next_value_one(nets: AgentNetworks, policy_params: PolicyParams, target_critic_params: Params,
                   next_observation: chex.Array, key: chex.PRNGKey,
                   tau: chex.Numeric) -> tuple[chex.Array, PolicySamples]:
  """(V(s'), the samples it averaged over): the policy family's next-state soft value of its EXECUTED law under
  the target critic (`next_value` of the family), at one state."""
  q_next = critic_q_fn(nets, target_critic_params, next_observation)
  return nets.policy.next_value(policy_params, next_observation, key, q_next, tau)


def executed_actions(nets: AgentNetworks, params: PolicyParams, observations: chex.Array,
                     keys: chex.PRNGKey) -> chex.Array:
  """One draw a = tanh(u) of the executed law per state: observations [N, o], keys [N] -> actions [N, d] (for
  the particle family, its proposal moved by the K refinement steps on params.critic)."""
  return jnp.tanh(jax.vmap(lambda o, k: nets.policy.sample(params, o, k, 1).u[0])(observations, keys))


def critic_loss_one(nets: AgentNetworks, critic_params: Params, observation: chex.Array, action: chex.Array,
                    reward: chex.Array, discount_mask: chex.Array, next_value: chex.Array,
                    discount: chex.Numeric, reward_scaling: chex.Numeric) -> chex.Array:
  """½ Σ_j (Q_j(s, a) − y)² with y = sg(c·r + γ·m·V(s')), m = 1 − termination (truncations bootstrap), and
  V(s') from `next_value_one`."""
  target = jax.lax.stop_gradient(
      core.bootstrapped_target(reward_scaling * reward, 1.0 - discount_mask, discount, next_value))
  q_values = nets.critic.apply(critic_params, observation, action)
  return 0.5 * jnp.sum((q_values - target) ** 2)


def _action_gradient(nets: AgentNetworks, params: PolicyParams, observation: chex.Array,
                     u: chex.Array) -> tuple[chex.Array, chex.Array]:
  """(sg(u), sg(∇Q_u(u))) for samples u [N, d] at one state."""
  q_u = potential_fn(nets, params.critic, observation, params.tau)
  u_fixed = jax.lax.stop_gradient(u)
  return u_fixed, jax.lax.stop_gradient(jax.vmap(jax.grad(q_u))(u_fixed))


def _wpo_loss(nets, params, observation, samples, refined, wpg_step_size, key):
  """−mean_i ⟨∇_u log π_θ(u_i), sg(v(u_i))⟩, v = ∇Q_u − τ∇_u log π_θ (entropy-regularized) or ∇Q_u.
  With wpg.wpo_entropy_term="expected" the τ∇_u log π_θ part is replaced by its expectation under the
  Gaussian, the gradient of −τ·H(π_u) (the family's `entropy_u`): SAC's per-sample estimator."""
  wpg = nets.config.wpg
  u_fixed, grad_q = _action_gradient(nets, params, observation, samples.u)
  log_prob_fn = nets.policy.wpo_log_prob_fn(samples, wpg.natural_gradient)
  if wpg.wpo_entropy_term == "expected":  # the config allows it only with entropy_regularized
    return core.wpo_loss(log_prob_fn, u_fixed, grad_q) - params.tau * nets.policy.entropy_u(samples)
  if wpg.entropy_regularized:
    return core.entropy_regularized_wpo_loss(log_prob_fn, u_fixed, grad_q, params.tau)
  return core.wpo_loss(log_prob_fn, u_fixed, grad_q)


def _wppg_loss(nets, params, observation, samples, refined, wpg_step_size, key):
  """mean_i ‖u_i − sg(u_i) − sg(η·φ_SVGD(u_i))‖²: direction matching onto the SVGD move, whose kernel
  repulsion carries the entropy force (the paper's Langevin move does not: the config rejects it)."""
  u_fixed, grad_q = _action_gradient(nets, params, observation, samples.u)
  move = wpg_step_size * core.svgd_direction(u_fixed, grad_q, params.tau)
  return jnp.mean(jnp.sum((samples.u - u_fixed - jax.lax.stop_gradient(move)) ** 2, axis=-1))


def _amortized_loss(nets, params, observation, samples, refined, wpg_step_size, key):
  """The proposal's negative log-likelihood of its own particles after K WPG steps, less
  wpg.amortized_control_variate times that of the unrefined ones (`policies.particle.amortized_wpgd_loss`)."""
  return amortized_wpgd_loss(samples, refined.u, nets.config.wpg.amortized_control_variate)


# config.wpg.projection -> loss(nets, params, observation, proposal samples, refined samples, η, key).
ACTOR_LOSSES = {"wpo": _wpo_loss, "wppg": _wppg_loss, "amortized": _amortized_loss}


def actor_loss_one(nets: AgentNetworks, params: PolicyParams, observation: chex.Array, key: chex.PRNGKey,
                   wpg_step_size: chex.Numeric,
                   executed: PolicySamples | None = None) -> tuple[chex.Array, chex.Array]:
  """The policy update at one state (ACTOR_LOSSES[config.wpg.projection]) on the family's trainable samples
  (`propose` with split(key)[0], differentiable in params.policy); returns (loss, entropy estimate of the
  EXECUTED law: those proposals refined by `refine` with split(key)[1], i.e. `sample(params, observation,
  key, M)`, which is the identity except for the particle family).

  executed: that executed-law cloud when it was already drawn with this key (the critic target's, for a family
  with `shares_target_cloud`), so its refinement is not repeated; the loss and entropy are then the same as
  without it, up to the critic the refinement used."""
  wpg = nets.config.wpg
  key_sample, key_noise = jax.random.split(key)
  samples = nets.policy.propose(params, observation, key_sample, wpg.num_action_samples)
  refined = nets.policy.refine(params, observation, samples, key_noise) if executed is None else executed
  loss = ACTOR_LOSSES[wpg.projection](nets, params, observation, samples, refined, wpg_step_size, key_noise)
  return loss, nets.policy.entropy(refined)


class StateDiagnostics(NamedTuple):
  """Critic-based WPG diagnostics at one state, in u-space where the Gibbs target is p ∝ exp(Q_u/τ), on
  `wpg.diagnostic_samples` draws of the executed law. kl_residual: τ KL(π‖p) (NaN without a density);
  fisher: relative Fisher information I(π‖p) (NaN without a density); ksd: kernel Stein discrepancy² of the
  cloud to p (density-free); entropy: H(π_a) estimate."""
  kl_residual: chex.Array
  fisher: chex.Array
  ksd: chex.Array
  entropy: chex.Array


def state_diagnostics(nets: AgentNetworks, params: PolicyParams, observation: chex.Array,
                      key: chex.PRNGKey) -> StateDiagnostics:
  """Estimators and their bias (N = wpg.diagnostic_samples draws of the executed law at s):
  - kl_residual = τ log Ẑ − mean_i[Q_u(u_i) − τ log π_u(u_i)] (`core.kl_residual_from_samples`) with the
    bias-corrected importance estimate of log Z (`core.gibbs_log_partition_importance_corrected`): plain self-normalised
    importance sampling reads low by ≈ τVar(w)/(2N E[w]²); the corrected one is unbiased to O(1/N²);
  - fisher = mean_i ‖∇log π_u(u_i) − ∇Q_u(u_i)/τ‖² (`core.relative_fisher_information`, exact score):
    unbiased;
  - ksd = the U-statistic KSD² (`core.kernel_stein_discrepancy_squared`): unbiased for a fixed kernel (the
    median-heuristic bandwidth is set from the same cloud), density-free, 0 in expectation iff π = p;
  - entropy = the family's estimate (exact-density Monte Carlo for the Gaussian, kNN/KDE otherwise).
  """
  samples = nets.policy.sample(params, observation, key, nets.config.wpg.diagnostic_samples)
  u = jax.lax.stop_gradient(samples.u)
  q_u = potential_fn(nets, params.critic, observation, params.tau)
  q_values, grad_q = jax.vmap(jax.value_and_grad(q_u))(u)
  ksd = core.kernel_stein_discrepancy_squared(u, grad_q, params.tau)
  entropy = nets.policy.entropy(samples)
  if not nets.policy.has_density:
    return StateDiagnostics(jnp.full((), jnp.nan), jnp.full((), jnp.nan), ksd, entropy)
  log_z = core.gibbs_log_partition_importance_corrected(q_values, samples.log_prob_u, params.tau)
  kl_residual = core.kl_residual_from_samples(samples.log_prob_u, q_values, log_z, params.tau)
  fisher = core.relative_fisher_information(nets.policy.score(samples), grad_q, params.tau)
  return StateDiagnostics(kl_residual, fisher, ksd, entropy)
