"""The train state of a run (one flax.struct pytree) and the acting parameters read from it."""

from __future__ import annotations

from typing import Any

import chex
import flax.struct
import jax.numpy as jnp
import optax

from wpgjax.rl import normalization, replay
from wpgjax.rl.config import HyperParams
from wpgjax.rl.policies import PolicyParams

__all__ = ["TrainState", "policy_params", "acting_params"]

Params = Any


@flax.struct.dataclass
class TrainState:
  """Everything a run needs to continue exactly: networks, targets, optimizer states, log τ, observation
  statistics, the replay buffer, the envs' states, the PRNG key, the counters and the run's HyperParams
  (so that `policy_params(state)` knows τ and the refinement step size). tune_tau (static): whether τ is
  exp(log_tau) (tuned) or hyperparams.tau (fixed)."""
  policy_params: Params
  critic_params: Params
  target_critic_params: Params
  log_tau: chex.Array
  policy_opt_state: optax.OptState
  critic_opt_state: optax.OptState
  tau_opt_state: optax.OptState
  obs_stats: normalization.RunningStatistics
  replay: replay.ReplayBuffer
  env_state: Any
  key: chex.PRNGKey
  env_steps: chex.Array
  grad_steps: chex.Array
  hyperparams: HyperParams
  tune_tau: bool = flax.struct.field(pytree_node=False, default=True)

  @property
  def tau(self) -> chex.Array:
    """The current temperature τ."""
    return jnp.exp(self.log_tau) if self.tune_tau else self.hyperparams.tau


def policy_params(state: TrainState) -> tuple[normalization.RunningStatistics, PolicyParams]:
  """What acting needs, in Brax's (normaliser, policy) shape: (obs_stats, PolicyParams(policy network, critic,
  τ, refinement step size)). Use with `make_policy(config)(policy_params(state), deterministic)`; the critic is
  part of it because the particle policy's executed law is refined on it. Works on stacked (vmapped) states."""
  return state.obs_stats, PolicyParams(state.policy_params, state.critic_params, state.tau,
                                       state.hyperparams.refine_step_size)


def acting_params(state: TrainState, hp: HyperParams) -> PolicyParams:
  """PolicyParams inside a program whose hyperparameters are `hp` (a traced leaf set, possibly vmapped): τ is
  exp(log τ) when tuned, else hp.tau; the refinement step size is hp's."""
  tau = jnp.exp(state.log_tau) if state.tune_tau else hp.tau
  return PolicyParams(state.policy_params, state.critic_params, tau, hp.refine_step_size)
