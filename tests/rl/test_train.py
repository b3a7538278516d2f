"""Training contracts on Brax's `fast` env: learning, bitwise reproducibility, vmap = single runs, one trace,
stable extreme temperatures, the Brax-style policy, and the particle (pushforward + WPPG) variant."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wpgjax._testing import leaves_as_numpy
from wpgjax.rl import make_policy, make_train, presets

# The fast env's return is Σ_t pos_t over 128 steps: always accelerating gives 143.1, a uniformly random
# policy about half of that (71.5).
FAST_MAX_RETURN = 143.1
FAST_RANDOM_RETURN = 71.5


@pytest.fixture(scope="module")
def fast_config():
  return presets("fast", num_evals=2)


@pytest.fixture(scope="module")
def fast_run(fast_config):
  train = make_train(fast_config)
  jitted = jax.jit(train)
  state, metrics = jitted(jax.random.key(1))
  traces_after_first_call = dict(train.trainer.trace_counts)
  jitted(jax.random.key(2))  # a second call with a new key must reuse the compiled program
  assert train.trainer.trace_counts == traces_after_first_call
  return train, jitted, state, metrics, traces_after_first_call


@pytest.fixture(scope="module")
def fast_seeds_run(fast_run):
  train = fast_run[0]
  keys = jnp.stack([jax.random.key(0), jax.random.key(1)])
  return jax.jit(jax.vmap(train))(keys)


def test_learns_fast_env(fast_seeds_run):
  _, metrics = fast_seeds_run
  final = np.asarray(metrics["eval/episode_reward"][:, -1])
  assert final.mean() > 0.85 * FAST_MAX_RETURN, final
  assert final.min() > FAST_RANDOM_RETURN, final


def test_metrics_have_brax_names_and_one_entry_per_eval(fast_run, fast_config):
  metrics = fast_run[3]
  for name in ("eval/episode_reward", "eval/episode_reward_std", "eval/avg_episode_length",
               "training/critic_loss", "training/actor_loss", "training/tau", "training/entropy",
               "wpg/kl_residual", "wpg/fisher", "wpg/ksd", "env_steps"):
    assert metrics[name].shape == (fast_config.num_evals,), name
    assert np.all(np.isfinite(np.asarray(metrics[name]))), name
  assert int(metrics["env_steps"][-1]) == fast_config.total_env_steps


def test_same_key_is_bitwise_identical_and_traced_once(fast_run):
  train, jitted, state, metrics, traces = fast_run
  state2, metrics2 = jitted(jax.random.key(1))
  for a, b in zip(leaves_as_numpy((state, metrics)), leaves_as_numpy((state2, metrics2))):
    np.testing.assert_array_equal(a, b)
  assert traces == {"iteration": 1, "evaluate": 1}


def test_vmapped_seed_equals_single_run(fast_run, fast_seeds_run):
  state, metrics = fast_run[2], fast_run[3]
  states, batched = fast_seeds_run
  # vmap reorders float reductions inside XLA, so runs agree to float32 rounding (amplified by ~2k chaotic
  # updates), not bit for bit; a different seed differs by orders of magnitude more.
  for name in ("eval/episode_reward", "training/critic_loss", "training/tau"):
    np.testing.assert_allclose(batched[name][1], metrics[name], rtol=1e-3, atol=1e-6, err_msg=name)
  same_seed = max(float(np.max(np.abs(a[1] - b))) for a, b in zip(jax.tree.leaves(states.policy_params),
                                                                   jax.tree.leaves(state.policy_params)))
  other_seed = max(float(np.max(np.abs(a[0] - b))) for a, b in zip(jax.tree.leaves(states.policy_params),
                                                                    jax.tree.leaves(state.policy_params)))
  assert same_seed < 0.05 and other_seed > 50 * same_seed, (same_seed, other_seed)


def test_extreme_fixed_temperatures_stay_finite():
  # Both temperatures in one program: τ is a hyperparameter leaf, so they vmap (one compile instead of two).
  cfg = presets("fast", num_timesteps=4096, num_evals=2, tune_tau=False)
  taus = jnp.asarray([1e-4, 10.0], jnp.float32)
  hps = jax.tree.map(lambda x: jnp.broadcast_to(x, taus.shape), cfg.hyperparams()).replace(tau=taus)
  states, metrics = jax.jit(jax.vmap(make_train(cfg), in_axes=(None, 0)))(jax.random.key(0), hps)
  np.testing.assert_array_equal(np.asarray(states.tau), np.asarray(taus))
  for name, values in metrics.items():
    assert np.all(np.isfinite(np.asarray(values))), name
  assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(states.policy_params))


def test_pushforward_policy_with_wppg_learns():
  cfg = presets("fast", num_evals=2, policy="pushforward",
                **{"wpg.projection": "wppg", "wpg.num_action_samples": 8})
  _, metrics = jax.jit(make_train(cfg))(jax.random.key(0))
  assert np.all(np.isfinite(np.asarray(metrics["wpg/ksd"])))
  assert float(metrics["eval/episode_reward"][-1]) > 0.85 * FAST_MAX_RETURN


def test_make_policy_is_brax_compatible(fast_run, fast_config):
  state = fast_run[2]
  make = make_policy(fast_config)
  obs = jnp.zeros((5, 2))
  for deterministic in (True, False):
    actions, extras = make((state.obs_stats, state.policy_params), deterministic)(obs, jax.random.key(0))
    assert actions.shape == (5, 1) and extras == {}
    assert np.all(np.abs(np.asarray(actions)) <= 1.0)


# Slow tier: the default method (MALA) trains in tests/rl/test_particle.py and tests/envs/test_multimodal.py, and
# each method's step law is tested in tests/core/test_particles.py.
@pytest.mark.slow
@pytest.mark.parametrize("method", ["ula", "tamed_ula", "mala"])
def test_particle_policy_with_langevin_refinement_runs_finite(method):
  # Refinement belongs to the particle policy (whose critic evaluates the refined law); the Gaussian rejects it.
  cfg = presets("fast", num_timesteps=2048, num_evals=1, policy="particle",
                **{"wpg.refine_steps": 2, "wpg.refine_method": method, "wpg.refine_step_size": 0.01})
  train = make_train(cfg)
  state, metrics = jax.jit(train)(jax.random.key(0))
  assert all(np.all(np.isfinite(np.asarray(v))) for v in metrics.values())
  assert train.trainer.replay_bytes_per_seed == cfg.replay_memory_bytes(2, 1)


def test_trainer_pieces_are_the_parts_of_an_iteration(fast_run, fast_config):
  """`Trainer.pieces` (timed apart by benchmarks/time_breakdown.py) act on a real state as the epoch does."""
  train, _, state, _, _ = fast_run
  pieces, hp, key = train.trainer.pieces, fast_config.hyperparams(), jax.random.key(3)
  assert set(pieces) == {"act_and_env_step", "critic_update", "update", "evaluate", "diagnostics"}
  stepped = jax.jit(pieces["act_and_env_step"])(state, hp, key)
  assert int(stepped.env_steps) == int(state.env_steps) + fast_config.num_envs * fast_config.action_repeat
  critic_params, _, loss = jax.jit(pieces["critic_update"])(state, hp, key)
  assert np.isfinite(float(loss))
  assert any(not np.array_equal(a, b) for a, b in zip(leaves_as_numpy(critic_params),
                                                      leaves_as_numpy(state.critic_params)))
