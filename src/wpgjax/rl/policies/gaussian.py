"""The tanh-Gaussian policy family: u ∼ N(μ_θ(s), diag σ_θ(s)²), a = tanh(u).

What it is: with the entropy-regularized, natural-gradient WPO projection this family's actor update equals
SAC's reparametrised actor gradient in expectation (docs/theory.md §4: on diagonal Gaussians the W2 metric in
(μ, σ) is Euclidean, so WPG restricted to them is SAC's flow; WPO's per-sample estimator only adds zero-mean
noise). It is the fast baseline inside wpgjax, not the particle law of the WPG theorem (see `particle.py`).
"""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp

from wpgjax import core
from wpgjax.rl import networks
from wpgjax.rl.policies.base import PolicyParams, PolicySamples, QFunction, tanh_log_jacobian

__all__ = ["TanhGaussianPolicy"]


@dataclasses.dataclass(frozen=True)
class TanhGaussianPolicy:
  """Diagonal Gaussian on u with an exact density; the next-state value uses one sample and exact log π (SAC)."""
  action_size: int
  hidden_sizes: tuple[int, ...]
  activation: str = "swish"
  name: str = "tanh_gaussian"
  projections = ("wpo", "wppg")
  # what `presets(env, policy=...)` implies (no per-env settings):
  config_defaults = {"wpg.projection": "wpo", "wpg.refine_steps": None, "wpg.num_action_samples": 2}
  env_config_defaults = {}
  has_density: bool = True
  shares_target_cloud = False  # its actor draws its own samples at s (see rl/policies/base.py)
  default_refine_steps = 0
  min_samples = 1  # its entropy and score are exact

  @classmethod
  def from_config(cls, config, action_size: int) -> "TanhGaussianPolicy":
    return cls(action_size, config.hidden_sizes, config.activation)

  @property
  def network(self) -> networks.GaussianPolicyNetwork:
    return networks.GaussianPolicyNetwork(self.action_size, self.hidden_sizes, self.activation)

  def init(self, key: chex.PRNGKey, observation: chex.Array):
    return self.network.init(key, observation)

  def propose(self, params: PolicyParams, observation: chex.Array, key: chex.PRNGKey,
              num_samples: int) -> PolicySamples:
    """u_i = μ + σ ε_i, ε_i ∼ N(0, I): [N, d] with log π_u(u_i) [N]."""
    mean, std = self.network.apply(params.policy, observation)
    eps = jax.random.normal(key, (num_samples, self.action_size))
    u = mean + std * eps
    return PolicySamples(u, networks.gaussian_log_prob(u, mean, std), mean, std)

  def refine(self, params: PolicyParams, observation: chex.Array, samples: PolicySamples,
             key: chex.PRNGKey) -> PolicySamples:
    """No refinement: the executed law is the Gaussian itself."""
    return samples

  sample = propose

  def deterministic_u(self, params: PolicyParams, observation: chex.Array) -> chex.Array:
    """The mean μ_θ(s): [..., o] -> [..., d]."""
    return self.network.apply(params.policy, observation)[0]

  def entropy(self, samples: PolicySamples) -> chex.Array:
    """H(π_a) ≈ mean_i[−log π_u(u_i) + log|det ∂a/∂u|(u_i)] (exact density, Monte Carlo over the samples)."""
    log_jac = tanh_log_jacobian(samples.u)
    return jnp.mean(-samples.log_prob_u + log_jac)

  def entropy_u(self, samples: PolicySamples) -> chex.Array:
    """H(π_u) = Σ_d log σ_d + (d/2)·log(2πe) in closed form, differentiable in σ (the WPO entropy force of
    wpg.wpo_entropy_term="expected"): scalar."""
    return jnp.sum(jnp.log(samples.std)) + 0.5 * self.action_size * jnp.log(2.0 * jnp.pi * jnp.e)

  def score(self, samples: PolicySamples) -> chex.Array:
    """∇_u log π_u(u_i) = −(u_i − μ)/σ²: [N, d]."""
    return -(samples.u - samples.mean) / samples.std**2

  def wpo_log_prob_fn(self, samples: PolicySamples, natural_gradient: bool):
    """u [d] -> log π_u(u) through (μ, σ), rescaled by the inverse Fisher (σ², σ²/2) when natural_gradient."""
    mean, std = samples.mean, samples.std
    if natural_gradient:
      mean, std = core.natural_gradient_gaussian(mean, std)
    return lambda u: networks.gaussian_log_prob(u, mean, std)

  def next_value(self, params: PolicyParams, next_observation: chex.Array, key: chex.PRNGKey, q_fn: QFunction,
                 tau: chex.Numeric) -> tuple[chex.Array, PolicySamples]:
    """(V(s') ≈ Q̄(s', a') − τ log π_a(a'|s') with ONE sample a' = tanh(u') (SAC's target), that sample)."""
    samples = self.sample(params, next_observation, key, 1)
    q_value = q_fn(jnp.tanh(samples.u))[0]
    log_prob_a = samples.log_prob_u[0] - core.log_abs_det_jacobian(samples.u[0])
    return q_value - tau * log_prob_a, samples
