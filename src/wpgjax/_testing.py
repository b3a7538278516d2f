"""Small helpers shared by the test suite (kept in the package so every test module can import them)."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


# Tests of plumbing (CLI, checkpoints, processes, sharding) run a few steps of programs that take up to minutes to
# compile on 2 cores, so they compile with XLA's optimizations mostly off (`jax_disable_most_optimizations`;
# the Playground CLI test went from 233 s to 173 s). Learning and numerical tests keep the default compiler:
# their programs run long enough that optimizing pays. The `quick_compiles` fixture (tests/conftest.py) does it
# in-process; tests that start their own processes add this to the environment.
QUICK_COMPILE_ENV = {"JAX_DISABLE_MOST_OPTIMIZATIONS": "1"}


def leaves_as_numpy(tree: Any) -> list[np.ndarray]:
  """The leaves of `tree` as numpy arrays, typed PRNG keys as their raw key data (so they compare bitwise)."""
  return [np.asarray(jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x)
          for x in jax.tree.leaves(tree)]


def trees_bitwise_equal(a: Any, b: Any) -> bool:
  """Whether two pytrees hold as many leaves, bitwise equal in order (`leaves_as_numpy`; dtypes too)."""
  left, right = leaves_as_numpy(a), leaves_as_numpy(b)
  return len(left) == len(right) and all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(left, right))


@contextlib.contextmanager
def quick_compile_mode():
  """XLA's optimizations mostly off for the programs compiled inside (`QUICK_COMPILE_ENV`, in-process), restored
  afterwards. The `quick_compiles` fixture wraps it; a module-scoped fixture can use it directly."""
  before = jax.config.values["jax_disable_most_optimizations"]
  jax.config.update("jax_disable_most_optimizations", True)
  try:
    yield
  finally:
    jax.config.update("jax_disable_most_optimizations", before)


def prefilled_trainer(config, seed: int = 0):
  """(make_trainer(config), the state after init and prefill at key(seed), jitted)."""
  from wpgjax.rl import make_trainer

  trainer = make_trainer(config)
  init_and_prefill = jax.jit(lambda key: trainer.prefill(trainer.init(key, config.hyperparams())))
  return trainer, init_and_prefill(jax.random.key(seed))


def directory_digest(directory: str) -> dict[str, str]:
  """{relative path: sha256} of every file below `directory` (to assert that nothing was touched)."""
  out = {}
  for path in sorted(glob.glob(os.path.join(directory, "**"), recursive=True)):
    if os.path.isfile(path):
      with open(path, "rb") as f:
        out[os.path.relpath(path, directory)] = hashlib.sha256(f.read()).hexdigest()
  return out


def reset_every_env_then_select(env, state, action, key):
  """The reference auto-reset (wpgjax before 2026-12-02): step the batch, reset the WHOLE batch with keys
  split from `key`, keep the reset where an env finished. `envs.step_and_autoreset` must equal it."""
  next_state = env.step(state, action)
  fresh = env.reset(jax.random.split(key, action.shape[0]))
  done = next_state.done
  return jax.tree.map(lambda r, n: jnp.where(jnp.reshape(done, done.shape + (1,) * (n.ndim - 1)) > 0, r, n),
                      fresh, next_state)


def reset_two_envs(env, seed: int = 0):
  """`envs.reset_envs(env, key(seed), 2)`, jitted: eager MJX resets take minutes of small compiles."""
  from wpgjax.rl import envs

  return jax.jit(lambda k: envs.reset_envs(env, k, 2))(jax.random.key(seed))


def step_across_time_limit(env, action, num_steps: int = 3, seed: int = 0):
  """Resets 2 envs of the wrapped `env` and takes `num_steps` jitted `step_and_autoreset` steps with the fixed
  `action` [2, a]: (the state to continue from, the list of EnvSteps)."""
  from wpgjax.rl import envs

  state = reset_two_envs(env, seed)
  step = jax.jit(lambda s, k: envs.step_and_autoreset(env, s, action, k))
  transitions = []
  for i in range(num_steps):
    state, transition = step(state, jax.random.key(10 + i))
    transitions.append(transition)
  return state, transitions


def random_critic_batch(key, num_states: int, num_samples: int, observation_size: int, action_size: int,
                        next_observation_shift: float = 0.0):
  """(a replay.Transition batch [num_states, ...], next actions tanh(N(0, I)) [num_states, num_samples, a], value
  offsets N(0, 1) [num_states]) for critic-loss tests: discount (1 − termination) 1, 0, 1, 1, 0, 1, ... so that
  both kinds of state occur, and s' ~ N(next_observation_shift, I)."""
  from wpgjax.rl import replay

  keys = jax.random.split(key, 6)
  batch = replay.Transition(
      observation=jax.random.normal(keys[0], (num_states, observation_size)),
      action=jax.random.uniform(keys[1], (num_states, action_size), minval=-1, maxval=1),
      reward=jax.random.normal(keys[2], (num_states,)),
      discount=jnp.resize(jnp.array([1.0, 0.0, 1.0]), (num_states,)),
      next_observation=next_observation_shift + jax.random.normal(keys[3], (num_states, observation_size)))
  next_actions = jnp.tanh(jax.random.normal(keys[4], (num_states, num_samples, action_size)))
  return batch, next_actions, jax.random.normal(keys[5], (num_states,))

