"""The WPG actor-critic's per-state pieces, built from `wpgjax.core` (users and `train` vmap over batches).

Actions a ∈ [−1, 1]^d are tanh(u) of an unsquashed u. For one state s with (normalised) observation o:
- the u-space potential is Q_u(u) = min_j Q_j(o, tanh u) + τ log|det ∂a/∂u| (`core.bounded_q_fn`), whose Gibbs
  law exp(Q_u/τ) is the pullback of the a-space Gibbs policy exp(Q/τ);
- the proposal is N(μ_θ(o), σ_θ(o)²) on u (tanh-Gaussian) or an implicit u = g_θ(o, z);
- the actor loss projects one particle WPG step onto the network: entropy-regularized WPO (needs log π) or
  WPPG direction matching (needs only samples);
- the critic target is the soft TD target with exact log π (Gaussian) or a particle entropy estimate.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp

from wpgjax import core
from wpgjax.rl import networks
from wpgjax.rl.config import TrainConfig

__all__ = ["PolicySamples", "AgentNetworks", "make_networks", "sample_policy", "potential_fn",
           "critic_loss_one", "actor_loss_one", "state_diagnostics", "refine_actions", "deterministic_u"]

Params = Any


class AgentNetworks(NamedTuple):
  policy: Any  # GaussianPolicyNetwork or PushforwardPolicyNetwork
  critic: networks.TwinQNetwork
  config: TrainConfig
  action_size: int


def make_networks(config: TrainConfig, action_size: int) -> AgentNetworks:
  if config.policy == "tanh_gaussian":
    policy = networks.GaussianPolicyNetwork(action_size, config.hidden_sizes)
  else:
    policy = networks.PushforwardPolicyNetwork(action_size, config.hidden_sizes)
  return AgentNetworks(policy, networks.TwinQNetwork(config.hidden_sizes), config, action_size)


class PolicySamples(NamedTuple):
  """N samples at one state: u [N, a] (unsquashed; differentiable in θ), log_prob_u [N] (log π_u(u); zeros for
  implicit policies), mean/std [a] of the Gaussian (zeros/ones for implicit policies)."""
  u: chex.Array
  log_prob_u: chex.Array
  mean: chex.Array
  std: chex.Array


def sample_policy(nets: AgentNetworks, policy_params: Params, observation: chex.Array, key: chex.PRNGKey,
                  num_samples: int) -> PolicySamples:
  """N reparametrised samples of the proposal at one state (observation [o])."""
  if nets.config.policy == "tanh_gaussian":
    mean, std = nets.policy.apply(policy_params, observation)
    eps = jax.random.normal(key, (num_samples, nets.action_size))
    u = mean + std * eps
    return PolicySamples(u, networks.gaussian_log_prob(u, mean, std), mean, std)
  latent = jax.random.normal(key, (num_samples, nets.config.latent_size))
  u = nets.policy.apply(policy_params, jnp.broadcast_to(observation, (num_samples, observation.shape[-1])), latent)
  return PolicySamples(u, jnp.zeros((num_samples,)), jnp.zeros((nets.action_size,)),
                       jnp.ones((nets.action_size,)))


def deterministic_u(nets: AgentNetworks, policy_params: Params, observation: chex.Array) -> chex.Array:
  """The mode-like action in u: the Gaussian mean, or g_θ(o, 0) for implicit policies.  [..., o] -> [..., a]."""
  if nets.config.policy == "tanh_gaussian":
    return nets.policy.apply(policy_params, observation)[0]
  latent = jnp.zeros(observation.shape[:-1] + (nets.config.latent_size,))
  return nets.policy.apply(policy_params, observation, latent)


def potential_fn(nets: AgentNetworks, critic_params: Params, observation: chex.Array,
                 tau: chex.Numeric) -> Callable[[chex.Array], chex.Array]:
  """Q_u(u) = min_j Q_j(o, tanh u) + τ log|det ∂a/∂u| for one state: a function [a] -> scalar."""

  def q_fn(action: chex.Array) -> chex.Array:
    return jnp.min(nets.critic.apply(critic_params, observation, action))

  return core.bounded_q_fn(q_fn, tau, -1.0, 1.0)


def _entropy_u(nets: AgentNetworks, u: chex.Array) -> chex.Array:
  if nets.config.entropy_estimator == "knn":
    return core.knn_entropy(u)
  return core.kde_entropy(u)


def action_entropy(nets: AgentNetworks, samples: PolicySamples) -> chex.Array:
  """H(π_a(·|s)) estimate: E[−log π_u(u) + log|det ∂a/∂u|] exactly for the Gaussian, or a particle entropy of u
  (kNN/KDE) plus the mean log-Jacobian for implicit policies."""
  log_jac = jax.vmap(core.log_abs_det_jacobian)(samples.u)
  if nets.config.policy == "tanh_gaussian":
    return jnp.mean(-samples.log_prob_u + log_jac)
  return _entropy_u(nets, samples.u) + jnp.mean(log_jac)


def soft_next_value(nets: AgentNetworks, policy_params: Params, target_critic_params: Params,
                    next_observation: chex.Array, key: chex.PRNGKey, tau: chex.Numeric) -> chex.Array:
  """V(s') ≈ E[min_j Q̄_j(s', a')] + τ H(π(·|s')): one sample and exact log π for the Gaussian (as SAC), or
  num_action_samples particles and a particle entropy estimate for implicit policies."""
  num = 1 if nets.config.policy == "tanh_gaussian" else nets.config.wpg.num_action_samples
  samples = sample_policy(nets, policy_params, next_observation, key, num)
  actions = jnp.tanh(samples.u)
  q_values = nets.critic.apply(target_critic_params, jnp.broadcast_to(next_observation, (num, next_observation.shape[-1])),
                               actions)  # [num, 2]
  if nets.config.policy == "tanh_gaussian":
    log_prob_a = samples.log_prob_u[0] - core.log_abs_det_jacobian(samples.u[0])
    return jnp.min(q_values[0]) - tau * log_prob_a
  return jnp.mean(jnp.min(q_values, axis=-1)) + tau * action_entropy(nets, samples)


def critic_loss_one(nets: AgentNetworks, critic_params: Params, target_critic_params: Params,
                    policy_params: Params, observation: chex.Array, action: chex.Array, reward: chex.Array,
                    discount_mask: chex.Array, next_observation: chex.Array, key: chex.PRNGKey,
                    tau: chex.Numeric, discount: chex.Numeric, reward_scaling: chex.Numeric) -> chex.Array:
  """½ Σ_j (Q_j(s, a) − y)² with y = c·r + γ·m·V(s'), m = 1 − termination (truncations bootstrap)."""
  next_value = soft_next_value(nets, policy_params, target_critic_params, next_observation, key, tau)
  target = jax.lax.stop_gradient(
      core.bootstrapped_target(reward_scaling * reward, 1.0 - discount_mask, discount, next_value))
  q_values = nets.critic.apply(critic_params, observation, action)
  return 0.5 * jnp.sum((q_values - target) ** 2)


def actor_loss_one(nets: AgentNetworks, policy_params: Params, critic_params: Params, observation: chex.Array,
                   key: chex.PRNGKey, tau: chex.Numeric, wpg_step_size: chex.Numeric) -> tuple[chex.Array, chex.Array]:
  """The projected particle WPG step at one state; returns (loss, action entropy estimate).

  WPO: −mean_i ⟨∇_u log π_θ(u_i), sg(v(u_i))⟩ with v = ∇Q_u − τ∇_u log π_θ (entropy-regularized) or ∇Q_u,
    and the diagonal-Gaussian natural-gradient scaling when enabled.
  WPPG: mean_i ‖u_i − sg(u_i) − sg(Δ_i)‖² with Δ a particle move: one WPGD step η∇Q_u + sqrt(2τη)ξ
    ("langevin", as in the paper) or the SVGD move η·φ(u_i) whose kernel repulsion carries the entropy term.
  """
  wpg = nets.config.wpg
  key_sample, key_noise = jax.random.split(key)
  samples = sample_policy(nets, policy_params, observation, key_sample, wpg.num_action_samples)
  entropy = action_entropy(nets, samples)
  q_u = potential_fn(nets, critic_params, observation, tau)
  u_fixed = jax.lax.stop_gradient(samples.u)
  grad_q = jax.lax.stop_gradient(jax.vmap(jax.grad(q_u))(u_fixed))
  if wpg.projection == "wpo":
    mean, std = samples.mean, samples.std
    if wpg.natural_gradient:
      mean, std = core.natural_gradient_gaussian(mean, std)
    log_prob_fn = lambda u: networks.gaussian_log_prob(u, mean, std)
    if wpg.entropy_regularized:
      loss = core.entropy_regularized_wpo_loss(log_prob_fn, u_fixed, grad_q, tau)
    else:
      loss = core.wpo_loss(log_prob_fn, u_fixed, grad_q)
  else:
    if wpg.wppg_move == "svgd":
      move = wpg_step_size * core.svgd_direction(u_fixed, grad_q, tau)
      loss = jnp.mean(jnp.sum((samples.u - u_fixed - jax.lax.stop_gradient(move)) ** 2, axis=-1))
    else:
      loss = core.wppg_loss(samples.u, grad_q, step_size=wpg_step_size, tau=tau, key=key_noise)
  return loss, entropy


def refine_actions(nets: AgentNetworks, critic_params: Params, observation: chex.Array, u: chex.Array,
                   key: chex.PRNGKey, tau: chex.Numeric, step_size: chex.Numeric) -> chex.Array:
  """K acting-time particle steps (core.wpg_flow, ULA or MALA) on Q_u(o, ·)/τ from the proposal sample u [a]
  of one state: the executed policy becomes the particle law the theorem is about."""
  wpg = nets.config.wpg
  q_u = potential_fn(nets, critic_params, observation, tau)
  moved = core.wpg_flow(key, u[None], q_u, step_size=step_size, tau=tau, num_steps=wpg.refine_steps,
                        method=wpg.refine_method)
  return moved[0]


class StateDiagnostics(NamedTuple):
  """Critic-based WPG diagnostics at one state (u-space, where the Gibbs target is exp(Q_u/τ)):
  kl_residual = τ KL(π‖p) by self-normalised importance sampling (0 for implicit policies: no density),
  fisher = relative Fisher information I(π‖p) (Gaussian score; 0 for implicit policies),
  ksd = kernel Stein discrepancy² (density-free), entropy = H(π_a) estimate."""
  kl_residual: chex.Array
  fisher: chex.Array
  ksd: chex.Array
  entropy: chex.Array


def state_diagnostics(nets: AgentNetworks, policy_params: Params, critic_params: Params,
                      observation: chex.Array, key: chex.PRNGKey, tau: chex.Numeric) -> StateDiagnostics:
  """τ KL(π‖p_s) ≈ τ[log mean_i exp(w_i) − mean_i w_i], w_i = Q_u(u_i)/τ − log π_u(u_i) (importance sampling
  from π itself; a Jensen-gap estimate, ≥ 0, biased low for few samples); Fisher = mean‖∇log π − ∇Q_u/τ‖²."""
  samples = sample_policy(nets, policy_params, observation, key, nets.config.wpg.num_action_samples)
  u = jax.lax.stop_gradient(samples.u)
  q_u = potential_fn(nets, critic_params, observation, tau)
  q_values, grad_q = jax.vmap(jax.value_and_grad(q_u))(u)
  ksd = core.kernel_stein_discrepancy_squared(u, grad_q, tau)
  entropy = action_entropy(nets, samples)
  if nets.config.policy == "tanh_gaussian":
    log_w = q_values / tau - samples.log_prob_u
    kl_residual = tau * (jax.nn.logsumexp(log_w) - jnp.log(log_w.shape[0]) - jnp.mean(log_w))
    score = -(u - samples.mean) / samples.std**2
    fisher = jnp.mean(jnp.sum((score - grad_q / tau) ** 2, axis=-1))
  else:
    kl_residual = jnp.zeros(())
    fisher = jnp.zeros(())
  return StateDiagnostics(kl_residual, fisher, ksd, entropy)
