"""`programs.over_runs`: a function mapped over the leading run axis, vmapped for several runs and applied
directly to a single run (the runner's programs for one seed), with the same results and shapes; the programs of
one seed trace the env's step and reset once per input type."""

import jax
import jax.numpy as jnp
import numpy as np

from wpgjax._testing import leaves_as_numpy
from wpgjax.host.programs import Programs, over_runs
from wpgjax.rl import presets, seed_keys, shard_runs, sweep_grid


def _rollout(key, hp):
  """A scan whose carry mixes a key, a float state and a hyperparameter: what vmap's scan rule batches."""
  def step(carry, _):
    key, x = carry
    key, sub = jax.random.split(key)
    x = jnp.tanh(hp["gain"] * x + jax.random.normal(sub, x.shape))
    return (key, x), jnp.sum(x)
  (key, x), sums = jax.lax.scan(step, (key, jnp.zeros(3)), length=5)
  return {"x": x, "sums": sums, "key": key}


def test_one_run_is_applied_directly_with_the_run_axis_kept():
  keys, hps = jax.random.split(jax.random.key(0), 1), {"gain": jnp.array([0.7])}
  direct = jax.jit(over_runs(_rollout))(keys, hps)
  vmapped = jax.jit(jax.vmap(_rollout))(keys, hps)
  assert jax.tree.structure(direct) == jax.tree.structure(vmapped)
  for a, b in zip(jax.tree.leaves(direct), jax.tree.leaves(vmapped)):
    assert a.shape == b.shape and a.shape[0] == 1
  np.testing.assert_allclose(direct["x"], vmapped["x"], rtol=1e-6)
  np.testing.assert_allclose(direct["sums"], vmapped["sums"], rtol=1e-6)
  np.testing.assert_array_equal(jax.random.key_data(direct["key"]), jax.random.key_data(vmapped["key"]))
  # applied directly: no batched scan in the program
  jaxpr = jax.make_jaxpr(over_runs(_rollout))(keys, hps)
  assert "scan" in str(jaxpr) and jaxpr.eqns[0].primitive.name == "squeeze"


def test_several_runs_are_vmapped():
  keys, hps = jax.random.split(jax.random.key(0), 3), {"gain": jnp.array([0.7, 1.0, 1.3])}
  mapped = jax.jit(over_runs(_rollout))(keys, hps)
  vmapped = jax.jit(jax.vmap(_rollout))(keys, hps)
  for a, b in zip(leaves_as_numpy(mapped), leaves_as_numpy(vmapped)):
    np.testing.assert_array_equal(a, b)
  assert not np.allclose(mapped["x"][0], mapped["x"][2])  # the runs differ: each got its own key and gain


def test_one_seeds_programs_trace_the_env_once_per_input_type():
  """The epoch steps the env in training and in evaluation (and resets it in both, and in start): every call
  site with the same input types shares one trace. With the run placed on a one-device mesh the evaluation's
  fresh env state had another type than the training state's, and the physics step was traced twice."""
  config = presets("fast", num_eval_envs=16)  # evaluation and training step the same number of envs
  devices = jax.devices()[:1]
  programs = Programs(config, devices)
  _, hps = sweep_grid(config, [0])
  (keys, hps), _, _ = shard_runs((seed_keys([0]), hps), devices)
  programs.jitted("start").trace(keys, hps)
  programs.jitted("epoch").trace(programs.abstract_state(keys, hps), hps)
  counts = programs.trainer.env.trace_counts
  assert sorted(name for name, *_ in counts) == ["reset", "reset", "step"]  # reset: 1 key (the obs size), 16
  assert set(counts.values()) == {1}
