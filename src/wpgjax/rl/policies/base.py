"""The policy-family interface: what the actor-critic needs from a policy, whatever its law.

A family is a small frozen object built from the config (`Family.from_config(config, action_size)`, through
`wpgjax.rl.policies.make_policy_family`). Every method works on ONE state (callers vmap) and in the unsquashed
space u ∈ R^d, a = tanh(u); `params` is a `PolicyParams` (network parameters plus what acting may need):

    init(key, observation [o]) -> network params                          (the `policy` field of PolicyParams)
    propose(params, observation [o], key, N) -> PolicySamples             (u [N, d], differentiable in θ)
    refine(params, observation [o], samples, key) -> PolicySamples        (identity unless the law is refined)
    sample(params, observation [o], key, N) -> PolicySamples              (the EXECUTED law: refine ∘ propose)
    deterministic_u(params, observation [..., o]) -> u [..., d]           (the action used for evaluation)
    entropy(samples) -> H(π_a(·|s)) estimate                              (a-space entropy, a scalar)
    next_value(params, next_observation [o], key, q_fn, tau)              (the soft value V(s') the critic
        -> (V(s'), PolicySamples)                                          bootstraps, and the draws of the
                                                                           executed law it averaged over)

plus `has_density`, `default_refine_steps`, `min_samples` (the fewest samples per state, `wpg.num_action_samples`,
its losses and entropy estimate accept), `shares_target_cloud` (True: the trainer fits the actor at s' to
the samples `next_value` drew, with the same key, instead of drawing new ones at s; see
`wpgjax.rl.agent.actor_loss_one`) and, for families with a density, `score(samples)` (∇_u log π_u at
the samples, [N, d]) and `wpo_log_prob_fn(samples, natural_gradient)` (u [d] -> log π_u(u), what the WPO
projection differentiates). A new policy is one new module implementing this, registered in
`wpgjax.rl.policies.POLICY_FAMILIES`.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Protocol

import chex
import flax.struct
import jax
import jax.numpy as jnp

from wpgjax import core

__all__ = ["PolicyParams", "PolicySamples", "PolicyFamily", "QFunction", "tanh_log_jacobian",
           "broadcast_observation"]

Params = Any
QFunction = Callable[[chex.Array], chex.Array]  # actions [N, d] in [−1, 1] -> soft Q [N] (min over the twins)


@flax.struct.dataclass
class PolicyParams:
  """What a policy family needs to act at a state: policy (its network parameters: the Gaussian, the generator
  or the proposal), critic (twin soft Q parameters: the potential a particle law is refined on; unused by
  families that do not refine), tau (τ, scalar), refine_step_size (η of the refinement steps, scalar)."""
  policy: Params
  critic: Params
  tau: chex.Array
  refine_step_size: chex.Array


class PolicySamples(NamedTuple):
  """N samples at one state: u [N, d] (unsquashed; differentiable in θ), log_prob_u [N] (log π_u(u); zeros for
  implicit policies), mean/std [d] of a Gaussian proposal (zeros/ones where there is none)."""
  u: chex.Array
  log_prob_u: chex.Array
  mean: chex.Array
  std: chex.Array


class PolicyFamily(Protocol):
  """See the module docstring."""
  name: str
  config_defaults: dict        # config overrides a switch to the family brings (`with_overrides`)
  env_config_defaults: dict    # env name or suite ("dm_control/") -> further overrides there (measured settings)
  has_density: bool
  default_refine_steps: int
  min_samples: int
  shares_target_cloud: bool

  def init(self, key: chex.PRNGKey, observation: chex.Array) -> Params: ...

  def propose(self, params: PolicyParams, observation: chex.Array, key: chex.PRNGKey,
              num_samples: int) -> PolicySamples: ...

  def refine(self, params: PolicyParams, observation: chex.Array, samples: PolicySamples,
             key: chex.PRNGKey) -> PolicySamples: ...

  def sample(self, params: PolicyParams, observation: chex.Array, key: chex.PRNGKey,
             num_samples: int) -> PolicySamples: ...

  def deterministic_u(self, params: PolicyParams, observation: chex.Array) -> chex.Array: ...

  def entropy(self, samples: PolicySamples) -> chex.Array: ...

  def next_value(self, params: PolicyParams, next_observation: chex.Array, key: chex.PRNGKey, q_fn: QFunction,
                 tau: chex.Numeric) -> tuple[chex.Array, PolicySamples]: ...


def tanh_log_jacobian(u: chex.Array) -> chex.Array:
  """log|det ∂a/∂u| of a = tanh(u) per sample: u [N, d] -> [N]."""
  return jax.vmap(core.log_abs_det_jacobian)(u)


def broadcast_observation(observation: chex.Array, num_samples: int) -> chex.Array:
  """observation [o] -> [N, o]."""
  return jnp.broadcast_to(observation, (num_samples, observation.shape[-1]))
