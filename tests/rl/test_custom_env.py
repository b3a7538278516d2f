"""A user's own `brax.envs.Env`, registered with `brax.envs.register_environment`, goes through every path a
built-in env does: config, training, checkpoint, resume, evaluation; an unknown name lists what is registered.
It also runs the particle policy end to end through the host runner (checkpointed PolicyParams included)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from brax import envs as brax_envs
from brax.envs.base import Env, State

from wpgjax.host.evaluation import evaluate, load
from wpgjax.host.runner import run
from wpgjax.rl import TrainConfig, make_policy, make_trainer, presets, registered_env_names


class _SmallEnv(Env):
  """A pipeline-free env of `OBSERVATION_SIZE` observations and one action."""
  OBSERVATION_SIZE = 1

  @property
  def observation_size(self):
    return self.OBSERVATION_SIZE

  @property
  def action_size(self):
    return 1

  @property
  def backend(self):
    return "none"


class DriftToTarget(_SmallEnv):
  """x ∈ R, x' = x + 0.1 a, reward −|x' − 0.5|; starts at x ∼ U(−1, 1). Observation [x, 1]."""
  OBSERVATION_SIZE = 2

  def reset(self, rng):
    x = jax.random.uniform(rng, (), minval=-1.0, maxval=1.0)
    return State(pipeline_state=None, obs=jnp.stack([x, jnp.ones(())]), reward=jnp.zeros(()),
                 done=jnp.zeros(()), metrics={}, info={})

  def step(self, state, action):
    x = state.obs[0] + 0.1 * jnp.clip(action[0], -1.0, 1.0)
    return state.replace(obs=jnp.stack([x, jnp.ones(())]), reward=-jnp.abs(x - 0.5))


brax_envs.register_environment("test_drift_to_target", DriftToTarget)

CONFIG = presets("test_drift_to_target", policy="particle", episode_length=20, num_timesteps=1280, num_envs=16,
                 num_evals=2, num_eval_envs=8, replay_size=4096, min_replay_size=128, batch_size=64,
                 grad_updates_per_step=2, hidden_sizes=(32, 32))
QUIET = dict(progress=False, verbose=False, plot=False, tensorboard=False)


def test_unknown_env_lists_the_registered_names_before_compiling():
  assert "test_drift_to_target" in registered_env_names() and "multimodal_bandit" in registered_env_names()
  with pytest.raises(ValueError, match=r"TrainConfig.env must be one of \[.*'test_drift_to_target'.*\], got "
                                       r"'test_drift' \(the names registered with brax.envs.register_environment"):
    TrainConfig(env="test_drift")


def test_own_env_trains_checkpoints_resumes_and_evaluates(tmp_path, quick_compiles):
  workdir = str(tmp_path / "run")
  full = run(CONFIG, str(tmp_path / "full"), seeds=[0], **QUIET)
  first = run(CONFIG, workdir, seeds=[0], stop_after_evals=1, **QUIET)
  assert first.evals_done == 1
  resumed = run(None, workdir, resume=True, **QUIET)
  assert resumed.evals_done == CONFIG.num_evals
  for name in ("eval/episode_reward", "training/critic_loss", "training/entropy"):
    np.testing.assert_array_equal(resumed.metrics[name], full.metrics[name], err_msg=name)
  loaded = load(workdir)
  for restored, uninterrupted in zip(jax.tree.leaves(loaded.run_params(0)), jax.tree.leaves(full.run_params(0))):
    np.testing.assert_array_equal(restored, uninterrupted)
  result = evaluate(workdir, episodes=4)
  assert result.episodes == 4 and np.isfinite(result.mean).all() and result.mean.shape == (1,)
  act = make_policy(CONFIG, action_size=1)(loaded.run_params(0))
  actions, _ = act(jnp.zeros((3, 2)), jax.random.key(0))
  assert actions.shape == (3, 1) and np.all(np.abs(np.asarray(actions)) <= 1.0)


class FallsThenBlowsUp(_SmallEnv):
  """Reward 1 per step; terminates at its 3rd step; stepped further, its state and reward are NaN (as a physics
  pipeline can be once a body has fallen)."""

  def reset(self, rng):
    return State(pipeline_state=None, obs=jnp.zeros((1,)), reward=jnp.zeros(()), done=jnp.zeros(()),
                 metrics={}, info={})

  def step(self, state, action):
    count = state.obs[0] + 1.0
    blown = state.done > 0
    return state.replace(obs=jnp.where(blown, jnp.nan, count)[None], reward=jnp.where(blown, jnp.nan, 1.0),
                         done=jnp.where(blown | (count >= 3), 1.0, 0.0))


brax_envs.register_environment("test_falls_then_blows_up", FallsThenBlowsUp)


def test_evaluation_ignores_what_a_finished_episode_does_after_its_end():
  """An episode's return stops at its first done: a NaN that the env produces when stepped past it (the eval
  envs are not reset) does not reach the return."""
  config = presets("test_falls_then_blows_up", episode_length=8, num_envs=2, num_eval_envs=2, num_evals=1,
                   replay_size=64, min_replay_size=16, batch_size=8, hidden_sizes=(8,))
  trainer = make_trainer(config)
  state = trainer.init(jax.random.key(0), config.hyperparams())
  out = jax.jit(trainer.evaluate)(state, jax.random.key(1))
  assert float(out["eval/episode_reward"]) == 3.0 and float(out["eval/avg_episode_length"]) == 3.0, out
