"""The particle policy family: the executed policy is the law of particles moved by K WPG steps on Q(s, ·)/τ.

At state s (u-space, a = tanh u, potential Q_u(u) = min_j Q_j(s, tanh u) + τ log|det ∂a/∂u|):

    u_0 = m_θ(s, z) + σ_θ(s, z) ε,  z ∼ N(0, I_latent), ε ∼ N(0, I)   the amortised proposal
    u_{k+1} = u_k + η ∇Q_u(u_k) + √(2τη) ξ_k,  k < K                    WPGD / ULA on the critic (or its
                                                                       tamed form, or MALA: wpg.refine_method)
    a = tanh(u_K)                                                      the executed action

So the executed law is K steps of the theorem's WPGD (docs/theory.md §3) from an amortised proposal, and it
can be multimodal (the fixed point is the Gibbs policy exp(Q/τ)/Z). The same law is used everywhere:
- acting (`sample`, one particle per env) and the critic's soft target (`next_value`: M particles at s'
  refined with the same critic, τ and η; V(s') = mean_i Q̄(s', a'_i) + τ Ĥ(π_a(·|s')), Ĥ a kNN/KDE entropy of
  the refined cloud plus the mean tanh log-Jacobian);
- τ tuning and the logged entropy use Ĥ of those same refined clouds.
The proposal is trained toward the refined particles by maximum likelihood (`amortized_wpgd_loss`): each
particle's refined position u_K is fitted by the Gaussian N(m_θ(s, z), σ_θ(s, z)²) it was drawn from, with the
proposal's own score at its draw u_0 as a control variate (wpg.amortized_control_variate; mean zero, so the
expected gradient is the fit's): the mean's gradient is then −(u_K − u_0)/σ², the refinement's displacement,
not −(σε + u_K − u_0)/σ², whose σε swamps a small displacement (one step on a nearly flat critic: without it
the agent never learned PointMass, BENCHMARKS.md §14). The
trainer fits it at the batch's next states s' on the clouds `next_value` drew there (`shares_target_cloud`), so
one update refines M particles per state once. The drift η∇Q_u moves the means; the Langevin noise √(2τη)ξ
is kept in σ (a plain regression onto u_K would average it out and lose the entropy force). The fixed point of
"proposal ← fit(K WPGD steps of proposal)" is the invariant law of the WPGD kernel (for a quadratic Q exactly
ULA's stationary Gaussian), so the proposal carries the particles' progress from update to update and a small
K suffices.
"""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp

from wpgjax import core
from wpgjax.rl import networks
from wpgjax.rl.policies.base import PolicyParams, PolicySamples, QFunction, broadcast_observation
from wpgjax.rl.policies.pushforward import cloud_entropy

__all__ = ["ParticlePolicy", "amortized_wpgd_loss"]


def amortized_wpgd_loss(proposal: PolicySamples, refined_u: chex.Array, control_variate: chex.Numeric) -> chex.Array:
  """Negative log-likelihood (up to a constant) of the refined particles under the Gaussians they came from,
  less β times that of the unrefined particles (the proposal's own score, a control variate of mean zero):

      mean_i Σ_d [ ½ ((sg(u_K,i) − m_i) / σ_i)² + log σ_i − β (½ ((sg(u_0,i) − m_i) / σ_i)² + log σ_i) ],

  u_0 = proposal.u = m + σε. The β term's gradient, the score ∇_θ log N(sg(u_0); m, σ²), has expectation zero
  under the proposal for every θ, so every β gives the maximum-likelihood fit's gradient in expectation. With
  β = 1 the mean's gradient is −δ/σ² with δ = u_K − u_0 the refinement's displacement, instead of −(σε + δ)/σ²:
  the proposal's own noise σε, which dominates when the K steps move the particles little (a flat critic,
  a small η), leaves the estimate. With β = 0 (the plain fit) the variance is lower when the K steps mix
  fully (u_K nearly independent of u_0, as in the multimodal bandit's 12 MALA steps).

  proposal.u, proposal.mean, proposal.std: [N, d] (differentiable in θ); refined_u: [N, d]."""
  z = (jax.lax.stop_gradient(refined_u) - proposal.mean) / proposal.std
  z_0 = (jax.lax.stop_gradient(proposal.u) - proposal.mean) / proposal.std
  log_std = jnp.log(proposal.std)
  return jnp.mean(jnp.sum(0.5 * z * z + log_std - control_variate * (0.5 * z_0 * z_0 + log_std), axis=-1))


# The particle family's settings per env where they differ from its defaults (`env_config_defaults`). 2 particles
# per state (default 4) and the plain fit learned the 1- and 2-dimensional action spaces at 0.66x the update time
# (BENCHMARKS.md §8.1; with the fit's control variate inverted_double_pendulum ended lower, 6,326 against 9,358 in 4
# seeds, §14). inverted_double_pendulum keeps constant learning rates 3e-3 (the Gaussian preset decays 6e-3, which
# the particle agent was not measured with): all 4 seeds ended at the maximum, 2 of 4 with 1e-3 (§16). reacher
# keeps the recipe it was measured with (the Gaussian preset's before 2026-12-04), and so do the DM Control tasks
# (the LayerNorm critic of Playground's recipe, which the Gaussian preset dropped on 2026-12-05; 94.9–173 % of Brax
# SAC's return, §14). halfcheetah takes the Gaussian preset as it is (generalized, Brax SAC's update settings, 16
# envs, (64, 64)): 106 % of Brax SAC's mean return at 100k env steps over 4 seeds each (§12).
_PARTICLE_M2_PLAIN_FIT = {"wpg.num_action_samples": 2, "wpg.amortized_control_variate": 0.0}
_ENV_CONFIG_DEFAULTS = {
    "inverted_pendulum": _PARTICLE_M2_PLAIN_FIT,
    "inverted_double_pendulum": dict(_PARTICLE_M2_PLAIN_FIT, actor_learning_rate=3e-3, critic_learning_rate=3e-3,
                                     final_learning_rate_fraction=1.0),
    "reacher": dict(_PARTICLE_M2_PLAIN_FIT, min_replay_size=4096, grad_updates_per_step=8, hidden_sizes=(128, 128),
                    actor_learning_rate=1e-3, critic_learning_rate=1e-3, tau=0.1, tau_learning_rate=1e-3,
                    target_entropy=None),
    "dm_control/": dict(critic_layer_norm=True),
}


@dataclasses.dataclass(frozen=True)
class ParticlePolicy:
  """Latent-Gaussian proposal followed by `refine_steps` (K ≥ 1) ULA/MALA steps on the critic's Q_u/τ.

  num_particles (M): particles per state for the entropy estimate, the critic target and the actor's fit.
  """
  action_size: int
  hidden_sizes: tuple[int, ...]
  latent_size: int
  num_particles: int
  refine_steps: int
  critic: networks.TwinQNetwork  # the training critic's network (`networks.critic_network`), applied here to act
  refine_method: str = "ula"
  entropy_estimator: str = "knn"
  activation: str = "swish"
  name: str = "particle"
  projections = ("amortized",)
  # what `presets(env, policy=...)` implies, and per env where the family's measured settings differ:
  config_defaults = {"wpg.projection": "amortized", "wpg.num_action_samples": 4, "wpg.wpo_entropy_term": "sampled"}
  env_config_defaults = _ENV_CONFIG_DEFAULTS
  has_density: bool = False
  # The trainer fits the proposal at s' to the refined cloud the critic's target drew there (same key, so the
  # same proposal draws): one refinement per state and update instead of two (BENCHMARKS.md §8).
  shares_target_cloud = True
  # K = 1 MALA step and M = 4 particles by default; each further step or particle costs critic gradients per
  # batch state. M = 2 (1.6x the Gaussian agent's flops per update, M = 4: 2.9x) learned the 1- and
  # 2-dimensional action spaces (the presets of inverted_pendulum, inverted_double_pendulum and reacher use it:
  # env_config_defaults) but trailed on halfcheetah's 6 (BENCHMARKS.md §8.1).
  default_refine_steps = 1
  # The kNN entropy of the critic's target needs a pair; the actor's maximum-likelihood fit needs no cloud.
  min_samples = 2

  @classmethod
  def from_config(cls, config, action_size: int) -> "ParticlePolicy":
    return cls(action_size, config.hidden_sizes, config.latent_size, config.wpg.num_action_samples,
               config.refine_steps, networks.critic_network(config), config.wpg.refine_method,
               config.entropy_estimator, config.activation)

  @property
  def network(self) -> networks.LatentGaussianNetwork:
    return networks.LatentGaussianNetwork(self.action_size, self.hidden_sizes, self.activation)

  def init(self, key: chex.PRNGKey, observation: chex.Array):
    return self.network.init(key, observation, jnp.zeros((self.latent_size,)))

  def potential(self, params: PolicyParams, observation: chex.Array):
    """Q_u(u) = min_j Q_j(o, tanh u) + τ log|det ∂a/∂u|: [d] -> scalar (the critic held fixed)."""
    critic_params = jax.lax.stop_gradient(params.critic)
    q_fn = lambda action: jnp.min(self.critic.apply(critic_params, observation, action))
    return core.bounded_q_fn(q_fn, params.tau, -1.0, 1.0)

  def propose(self, params: PolicyParams, observation: chex.Array, key: chex.PRNGKey,
              num_samples: int) -> PolicySamples:
    """u_0,i = m(s, z_i) + σ(s, z_i) ε_i: u, mean, std [N, d] (differentiable in θ); log_prob_u zeros."""
    key_latent, key_noise = jax.random.split(key)
    latent = jax.random.normal(key_latent, (num_samples, self.latent_size))
    mean, std = self.network.apply(params.policy, broadcast_observation(observation, num_samples), latent)
    u = mean + std * jax.random.normal(key_noise, mean.shape)
    return PolicySamples(u, jnp.zeros((num_samples,)), mean, std)

  def refine(self, params: PolicyParams, observation: chex.Array, samples: PolicySamples,
             key: chex.PRNGKey) -> PolicySamples:
    """K WPG steps (core.wpg_flow, ULA or MALA) of every particle on Q_u/τ; no gradient to the proposal."""
    u = core.wpg_flow(key, jax.lax.stop_gradient(samples.u), self.potential(params, observation),
                      step_size=params.refine_step_size, tau=params.tau, num_steps=self.refine_steps,
                      method=self.refine_method)
    return samples._replace(u=u)

  def sample(self, params: PolicyParams, observation: chex.Array, key: chex.PRNGKey,
             num_samples: int) -> PolicySamples:
    """N independent draws of the executed law: proposal then refinement.  [N, d]."""
    key_propose, key_refine = jax.random.split(key)
    return self.refine(params, observation, self.propose(params, observation, key_propose, num_samples),
                       key_refine)

  def deterministic_u(self, params: PolicyParams, observation: chex.Array) -> chex.Array:
    """m(s, 0) moved by K noiseless steps u ← u + η∇Q_u(u) (the refinement's drift).  [..., o] -> [..., d]."""
    flat = observation.reshape(-1, observation.shape[-1])
    u0 = self.network.apply(params.policy, flat, jnp.zeros((flat.shape[0], self.latent_size)))[0]

    def ascend(o, u):
      grad = jax.grad(self.potential(params, o))
      return jax.lax.fori_loop(0, self.refine_steps, lambda _, v: v + params.refine_step_size * grad(v), u)

    return jax.vmap(ascend)(flat, u0).reshape(observation.shape[:-1] + (self.action_size,))

  def entropy(self, samples: PolicySamples) -> chex.Array:
    """Ĥ(π_a) of the (refined) cloud (`cloud_entropy`: kNN/KDE in u plus the mean tanh log-Jacobian)."""
    return cloud_entropy(samples.u, self.entropy_estimator)

  def next_value(self, params: PolicyParams, next_observation: chex.Array, key: chex.PRNGKey, q_fn: QFunction,
                 tau: chex.Numeric) -> tuple[chex.Array, PolicySamples]:
    """(V(s') ≈ mean_i Q̄(s', a'_i) + τ Ĥ over M particles of the executed law at s' (q_fn: the target critic),
    those M refined particles)."""
    samples = self.sample(params, next_observation, key, self.num_particles)
    return jnp.mean(q_fn(jnp.tanh(samples.u))) + tau * self.entropy(samples), samples
