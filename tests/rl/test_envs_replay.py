"""Environments by name, auto-reset that keeps the true final state, the ring-buffer replay and the running
observation statistics."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wpgjax._testing import reset_every_env_then_select, reset_two_envs, step_across_time_limit
from wpgjax.rl import envs, normalization, replay

CLASSIC = ["ant", "halfcheetah", "hopper", "humanoid", "inverted_pendulum", "inverted_double_pendulum", "pusher",
           "reacher", "walker2d"]


def test_every_classic_env_is_accepted_and_registered_in_brax():
  brax_envs, _ = envs._import_brax_envs()
  for name in CLASSIC:
    assert name in envs.registered_env_names() and name in brax_envs._envs, name


@pytest.mark.slow
@pytest.mark.parametrize("name", CLASSIC)
def test_every_classic_env_builds_by_name(name):  # ~5-20 s each (model loading): slow tier
  env = envs.make_env(name, backend="spring", episode_length=10)
  assert env.observation_size > 0 and env.action_size > 0


def test_unknown_env_and_backend_are_named():
  with pytest.raises(ValueError, match=r"env must be one of \[.*'hopper'.*\], got 'hoper'"):
    envs.make_env("hoper")
  with pytest.raises(ValueError, match=r"backend must be one of \['generalized', 'spring', 'positional', 'mjx'\]"):
    envs.make_env("hopper", backend="bullet")


def test_time_limit_truncates_bootstraps_and_resets_with_true_final_observation(quick_compiles):
  env = envs.make_env("inverted_pendulum", backend="spring", episode_length=3)
  state, transitions = step_across_time_limit(env, jnp.zeros((2, 1)))
  last = transitions[-1]
  np.testing.assert_array_equal(last.done, [1.0, 1.0])
  np.testing.assert_array_equal(last.truncation, [1.0, 1.0])
  np.testing.assert_array_equal(last.termination, [0.0, 0.0])      # a time limit is not a termination
  # The stored next observation is the true one (continuing the dynamics), not the reset observation.
  assert not np.allclose(last.next_observation, state.obs)
  np.testing.assert_array_equal(transitions[1].next_observation, last.observation)
  np.testing.assert_array_equal(state.info["steps"], [0.0, 0.0])     # continued from a fresh reset


def test_autoreset_only_when_an_env_finished_equals_resetting_every_step():  # bitwise: the default compiler
  env = envs.make_env("inverted_pendulum", backend="spring", episode_length=3)
  state = reset_two_envs(env, 1)
  action = jnp.full((2, 1), 0.3)

  def both(steps, key):  # steps [2]: how far each env is into its 3-step episode
    s = state.replace(info={**state.info, "steps": steps})
    return envs.step_and_autoreset(env, s, action, key)[0], reset_every_env_then_select(env, s, action, key)

  both = jax.jit(both)
  keys = jax.random.split(jax.random.key(2), 2)
  for steps in ([2.0, 0.0], [0.0, 1.0], [2.0, 2.0]):  # one env finishes, none does, both do
    ours, reference = both(jnp.asarray(steps), keys[0])
    chex.assert_trees_all_equal(ours, reference)
  # Vmapped over two runs (batched predicate: one run has a finished env, the other none).
  steps = jnp.asarray([[2.0, 0.0], [0.0, 1.0]])
  ours, reference = jax.jit(jax.vmap(both))(steps, keys)
  chex.assert_trees_all_equal(ours, reference)
  np.testing.assert_array_equal(ours.info["steps"], [[0.0, 1.0], [1.0, 2.0]])


def test_traced_once_traces_the_physics_once_and_computes_the_same():
  inner = envs.make_env("fast", episode_length=8).env  # the batched env without the wrapper
  traces = {"step": 0}

  class CountingEnv:
    action_size = inner.action_size

    def reset(self, rng):
      return inner.reset(rng)

    def step(self, state, action):
      traces["step"] += 1
      return inner.step(state, action)

  env = envs.TracedOnce(CountingEnv())
  state, action = inner.reset(jax.random.split(jax.random.key(0), 4)), jnp.full((4, 1), 0.5)
  stepped = jax.jit(lambda s, a: env.step(s, a))(state, action)
  jax.jit(lambda s, a: env.step(s, 2.0 * a).obs)(state, action)  # another program, the same input types
  assert traces["step"] == 1
  expected = jax.jit(lambda s, a: inner.step(s, a))(state, action)
  for got, want in zip(jax.tree.leaves(stepped), jax.tree.leaves(expected)):
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
  assert env.action_size == 1  # every other attribute is the wrapped env's


def test_replay_ring_buffer_wraps_and_samples_only_stored_items():
  buf = replay.replay_init(5, observation_size=1, action_size=1)

  def batch(values):
    v = jnp.asarray(values, jnp.float32)
    return replay.Transition(v[:, None], v[:, None], v, jnp.ones_like(v), v[:, None])

  buf = replay.replay_add(buf, batch([1, 2, 3]))
  assert int(buf.size) == 3 and int(buf.insert_position) == 3
  sample = replay.replay_sample(buf, jax.random.key(0), 200)
  assert set(np.asarray(sample.reward).tolist()) == {1.0, 2.0, 3.0}
  buf = replay.replay_add(buf, batch([4, 5, 6, 7]))
  assert int(buf.size) == 5 and int(buf.insert_position) == 2
  np.testing.assert_array_equal(buf.data.reward, [6, 7, 3, 4, 5])   # oldest (1, 2) overwritten
  with pytest.raises(ValueError, match="cannot add 6 transitions to a replay buffer of capacity 5"):
    replay.replay_add(buf, batch([1, 2, 3, 4, 5, 6]))


def test_running_statistics_match_numpy():
  data = np.random.default_rng(0).normal(3.0, 2.0, size=(300, 4)).astype(np.float32)
  stats = normalization.init_statistics(4)
  for chunk in np.split(data, [7, 100, 250]):
    stats = normalization.update_statistics(stats, jnp.asarray(chunk))
  np.testing.assert_allclose(stats.mean, data.mean(0), rtol=1e-5)
  np.testing.assert_allclose(stats.sum_sq / stats.count, data.var(0), rtol=1e-4)
  z = normalization.normalize(stats, jnp.asarray(data))
  np.testing.assert_allclose(np.asarray(z).mean(0), 0.0, atol=1e-4)
  np.testing.assert_array_equal(normalization.normalize(stats, jnp.asarray(data), enabled=False), data)
  far = stats.mean + 8.0 * jnp.sqrt(stats.sum_sq / stats.count)  # 8 standard deviations out
  np.testing.assert_allclose(normalization.normalize(stats, far), 5.0)  # the default clip
  np.testing.assert_allclose(normalization.normalize(stats, far, max_abs=None), 8.0, rtol=1e-5)

