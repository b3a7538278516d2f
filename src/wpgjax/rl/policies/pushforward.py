"""The implicit (pushforward) policy family: u = g_θ(s, z), z ∼ N(0, I_latent), a = tanh(u).

No density: its entropy is a particle estimate (kNN or leave-one-out KDE in u, plus the mean tanh
log-Jacobian), so it trains only with the density-free WPPG projection.
"""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp

from wpgjax import core
from wpgjax.rl import networks
from wpgjax.rl.policies.base import (PolicyParams, PolicySamples, QFunction, broadcast_observation,
                                     tanh_log_jacobian)

__all__ = ["PushforwardPolicy", "cloud_entropy"]


def cloud_entropy(u: chex.Array, estimator: str) -> chex.Array:
  """Ĥ(π_a) of a cloud u [N, d] with a = tanh(u): the u-space entropy ("knn": Kozachenko–Leonenko, k = 1, or
  "kde": leave-one-out) plus the mean log|det ∂a/∂u| (biased for small N; kNN/KDE converge as N grows)."""
  entropy_u = core.knn_entropy(u) if estimator == "knn" else core.kde_entropy(u)
  return entropy_u + jnp.mean(tanh_log_jacobian(u))


@dataclasses.dataclass(frozen=True)
class PushforwardPolicy:
  """Implicit sampler; entropy and the next-state value use `num_samples` particles and a particle entropy."""
  action_size: int
  hidden_sizes: tuple[int, ...]
  latent_size: int
  num_samples: int
  entropy_estimator: str = "knn"
  activation: str = "swish"
  name: str = "pushforward"
  projections = ("wppg",)
  # what `presets(env, policy=...)` implies (no per-env settings):
  config_defaults = {"wpg.projection": "wppg", "wpg.refine_steps": None, "wpg.num_action_samples": 8,
                     "wpg.wpo_entropy_term": "sampled"}
  env_config_defaults = {}
  has_density: bool = False
  shares_target_cloud = False  # its actor draws its own samples at s (see rl/policies/base.py)
  default_refine_steps = 0
  min_samples = 4  # its actor follows the gradient of a particle entropy estimate, which needs a cloud

  @classmethod
  def from_config(cls, config, action_size: int) -> "PushforwardPolicy":
    return cls(action_size, config.hidden_sizes, config.latent_size, config.wpg.num_action_samples,
               config.entropy_estimator, config.activation)

  @property
  def network(self) -> networks.PushforwardPolicyNetwork:
    return networks.PushforwardPolicyNetwork(self.action_size, self.hidden_sizes, self.activation)

  def init(self, key: chex.PRNGKey, observation: chex.Array):
    return self.network.init(key, observation, jnp.zeros((self.latent_size,)))

  def propose(self, params: PolicyParams, observation: chex.Array, key: chex.PRNGKey,
              num_samples: int) -> PolicySamples:
    """u_i = g_θ(s, z_i): [N, d]; log_prob_u is zeros (no density)."""
    latent = jax.random.normal(key, (num_samples, self.latent_size))
    u = self.network.apply(params.policy, broadcast_observation(observation, num_samples), latent)
    return PolicySamples(u, jnp.zeros((num_samples,)), jnp.zeros((self.action_size,)),
                         jnp.ones((self.action_size,)))

  def refine(self, params: PolicyParams, observation: chex.Array, samples: PolicySamples,
             key: chex.PRNGKey) -> PolicySamples:
    """No refinement: the executed law is the generator's."""
    return samples

  sample = propose

  def deterministic_u(self, params: PolicyParams, observation: chex.Array) -> chex.Array:
    """g_θ(s, 0): [..., o] -> [..., d]."""
    latent = jnp.zeros(observation.shape[:-1] + (self.latent_size,))
    return self.network.apply(params.policy, observation, latent)

  def entropy(self, samples: PolicySamples) -> chex.Array:
    """`cloud_entropy` of the samples."""
    return cloud_entropy(samples.u, self.entropy_estimator)

  def next_value(self, params: PolicyParams, next_observation: chex.Array, key: chex.PRNGKey, q_fn: QFunction,
                 tau: chex.Numeric) -> tuple[chex.Array, PolicySamples]:
    """(V(s') ≈ mean_i Q̄(s', a'_i) + τ Ĥ(π_a(·|s')) over num_samples particles, those particles)."""
    samples = self.sample(params, next_observation, key, self.num_samples)
    return jnp.mean(q_fn(jnp.tanh(samples.u))) + tau * self.entropy(samples), samples
