"""Brax environments (and the DM Control suite through MuJoCo Playground, `wpgjax.rl.playground`) by name,
batched with episode limits and an auto-reset that keeps the true final state.

Brax's own AutoResetWrapper overwrites the observation of a finished episode with the reset observation, so a
transition that ends in a time limit cannot bootstrap from its real next state (Brax's SAC masks such
transitions out of the critic loss instead). Here `step_and_autoreset` returns the true next observation for
the transition and, separately, the state to continue from (reset with a fresh key where an episode ended),
with `termination = done ∧ ¬truncation` so that time limits bootstrap.
"""

from __future__ import annotations

import collections
import contextlib
import inspect
import io
from typing import Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp

from wpgjax.rl import playground

__all__ = ["BACKENDS", "registered_env_names", "brax_env_names", "check_env_name", "backends_for", "default_backend",
           "make_env", "TracedOnce", "EnvStep", "step_and_autoreset", "reset_envs", "viewer"]

BACKENDS = ("generalized", "spring", "positional", "mjx")  # Brax's physics pipelines


def _import_brax_envs():
  # brax prints "Failed to import warp" to stdout on first import; keep stdout clean for JSON/CLI output.
  with contextlib.redirect_stdout(io.StringIO()):
    import brax.envs as brax_envs
    from brax.envs.wrappers import training as brax_training
    import wpgjax.envs  # noqa: F401  (registers wpgjax's own envs with Brax's registry)
  return brax_envs, brax_training


def registered_env_names() -> tuple[str, ...]:
  """Every env name registered with `brax.envs.register_environment` (Brax's, wpgjax's and the user's own),
  sorted, then the DM Control tasks "dm_control/<Task>" when MuJoCo Playground is installed. Brax keeps its
  registry in the module dict `brax.envs._envs` (it has no public listing)."""
  return brax_env_names() + playground.task_names()


def brax_env_names() -> tuple[str, ...]:
  """The names registered with `brax.envs.register_environment`, sorted."""
  brax_envs, _ = _import_brax_envs()
  return tuple(sorted(brax_envs._envs))  # pylint: disable=protected-access


def check_env_name(name: str, field: str = "env") -> None:
  """Raises ValueError naming `field` and listing the registered names unless `name` is registered (a
  "dm_control/" name without MuJoCo Playground installed names the extra to install)."""
  if playground.is_playground_name(name):
    if not playground.installed():
      raise ValueError(f"{field}={name!r} needs MuJoCo Playground, which is not installed: "
                       f"{playground.INSTALL_HINT}")
    if name in playground.task_names():
      return
  elif name in brax_env_names():  # no Playground import (3 s) for a Brax name
    return
  names = registered_env_names()
  if name not in names:
    raise ValueError(f"{field} must be one of {list(names)}, got {name!r} (the names registered with "
                     "brax.envs.register_environment, and dm_control/<Task> with MuJoCo Playground)")


def backends_for(name: str) -> tuple[str, ...]:
  """The physics backends env `name` runs on: Playground's ("mjx", "warp") for "dm_control/" names, else
  Brax's BACKENDS."""
  return playground.BACKENDS if playground.is_playground_name(name) else BACKENDS


def default_backend(name: str) -> str:
  """"mjx" (MJX's JAX pipeline) for "dm_control/" names, else Brax's default "generalized"."""
  return "mjx" if playground.is_playground_name(name) else "generalized"


def _accepts_backend(env_class) -> bool:
  try:
    parameters = inspect.signature(env_class).parameters
  except (TypeError, ValueError):
    return False
  return "backend" in parameters or any(p.kind == p.VAR_KEYWORD for p in parameters.values())


def make_env(name: str, *, backend: str | None = None, episode_length: int = 1000, action_repeat: int = 1):
  """An env by name, wrapped as TracedOnce(Vmap(Episode(env))): batched reset/step, `info['truncation']` set at
  the time limit, each traced once per shape. No auto-reset wrapper: use `step_and_autoreset`.

  name: any registered name (`registered_env_names()`); backend: one of `backends_for(name)` (None: the
  default), passed to the env's constructor when it takes one (Brax's physics envs; ignored by "fast" and envs
  without a backend argument) or to Playground as its `impl`.
  """
  check_env_name(name)
  backend = default_backend(name) if backend is None else backend
  if backend not in backends_for(name):
    raise ValueError(f"backend must be one of {list(backends_for(name))} for env {name!r}, got {backend!r}")
  brax_envs, brax_training = _import_brax_envs()
  if playground.is_playground_name(name):
    env = brax_training.EpisodeWrapper(playground.load(name, backend), episode_length, action_repeat)
    return TracedOnce(brax_training.VmapWrapper(env))
  env_class = brax_envs._envs[name]  # pylint: disable=protected-access
  kwargs = {"backend": backend} if name != "fast" and _accepts_backend(env_class) else {}
  env = brax_envs.get_environment(name, **kwargs)
  env = brax_training.EpisodeWrapper(env, episode_length, action_repeat)
  return TracedOnce(brax_training.VmapWrapper(env))


class TracedOnce:
  """The batched env with its reset and step each inside one `jax.jit`. A run calls them at several places
  (every training step, the auto-reset, evaluation) in two programs; JAX traces a jitted function once per input
  type and process and reuses that trace at the other call sites, where it would otherwise trace the whole physics
  step again each time. `trace_counts` counts the traces per (function, input shapes and dtypes): the contract is
  one each. The types of the program's inputs and of the values it makes must agree for that: the reset's
  state is strongly typed, as the train state is (a weak type would make another type), and one device holds the
  run without a mesh (`sweep.run_sharding`). Every other attribute is the wrapped env's."""

  def __init__(self, env):
    self.env = env
    self.trace_counts = collections.Counter()

    def traced(name: str, fn: Callable) -> Callable:
      def counted(*args):
        self.trace_counts[(name,) + tuple((x.shape, str(x.dtype)) for x in jax.tree.leaves(args))] += 1
        return fn(*args)
      return jax.jit(counted, inline=True)

    self._reset = traced("reset", lambda rng: jax.tree.map(_strongly_typed, env.reset(rng)))
    self._step = traced("step", env.step)

  def reset(self, rng: chex.PRNGKey):
    return self._reset(rng)

  def step(self, state, action: chex.Array):
    return self._step(state, action)

  def __getattr__(self, name: str):
    if name in ("env", "trace_counts", "_reset", "_step"):  # not set yet (e.g. while unpickling): no recursion
      raise AttributeError(name)
    return getattr(self.env, name)


def _strongly_typed(x):
  """`x` without JAX's weak type (what a Python scalar in an env's reset leaves): the same values and dtype."""
  return x.astype(x.dtype) if getattr(getattr(x, "aval", None), "weak_type", False) else x


def viewer(name: str, env):
  """(system, poses) for Brax's HTML viewer of the wrapped env `env` of name `name`:
  `brax.io.html.render(system, [poses(state) for each state])`. Raises ValueError for an env with no physics
  system to draw (e.g. "fast")."""
  if playground.is_playground_name(name):
    return playground.viewer(env)
  try:
    return env.sys, lambda state: state.pipeline_state
  except AttributeError:
    raise ValueError(f"env {name!r} has no physics system to render; --render needs a physics env such as "
                     "inverted_pendulum or dm_control/CartpoleSwingup") from None


def reset_envs(env, key: chex.PRNGKey, num_envs: int):
  """Resets `num_envs` envs with independent keys; returns the batched Brax State."""
  return env.reset(jax.random.split(key, num_envs))


class EnvStep(NamedTuple):
  """One batched transition: observation [E, o], action [E, a], reward [E], next_observation [E, o] (the TRUE
  next state, also at episode ends), termination [E] (1 where the episode ended by the env, not the time
  limit), done [E] (any episode end), truncation [E]."""
  observation: chex.Array
  action: chex.Array
  reward: chex.Array
  next_observation: chex.Array
  termination: chex.Array
  done: chex.Array
  truncation: chex.Array


def step_and_autoreset(env, state, action: chex.Array, key: chex.PRNGKey):
  """Steps the batched env, returns (state to continue from, EnvStep). Finished envs restart from a fresh
  reset drawn with `key` (not a cached first state), so initial states stay diverse.

  The batch's reset runs only at steps where some env finished (`lax.cond` on any(done)); the result equals
  resetting every env at every step and selecting. Under a vmap over runs the predicate is batched and the
  cond becomes a select that runs both branches (the same cost as always resetting).
  """
  next_state = env.step(state, action)
  truncation = next_state.info["truncation"]
  done = next_state.done
  transition = EnvStep(
      observation=state.obs, action=action, reward=next_state.reward, next_observation=next_state.obs,
      termination=done * (1.0 - truncation), done=done, truncation=truncation)
  continued = jax.lax.cond(jnp.any(done > 0), lambda: _restart_finished(env, next_state, done, key),
                           lambda: next_state)
  return continued, transition


def _restart_finished(env, next_state, done: chex.Array, key: chex.PRNGKey):
  """next_state with every env where done > 0 replaced by a fresh reset (keys split from `key`)."""
  fresh = env.reset(jax.random.split(key, done.shape[0]))

  def select(reset_leaf, next_leaf):
    mask = jnp.reshape(done, done.shape + (1,) * (next_leaf.ndim - done.ndim)) > 0
    return jnp.where(mask, reset_leaf, next_leaf).astype(next_leaf.dtype)

  return jax.tree.map(select, fresh, next_state)
