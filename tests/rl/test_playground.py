"""The DeepMind Control suite through MuJoCo Playground: every task by name "dm_control/<Task>", with its own time
limit and action repeat, the true final observation at a time limit, training/checkpoint/resume/eval/render
through the same paths as Brax envs, and a clear error without the extra."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wpgjax._testing import reset_two_envs, step_across_time_limit
from wpgjax.rl import TrainConfig, envs, playground, presets

# The test extra installs the playground extra: no skip here, so a broken install fails loudly.
NUM_TASKS = 25  # mujoco_playground 0.2.0's DM Control suite
TASKS = list(playground.task_names())


def test_every_task_is_registered_with_its_own_time_limit_on_mjx():
  assert len(TASKS) == NUM_TASKS and "dm_control/CartpoleSwingup" in TASKS
  assert set(TASKS) <= set(envs.registered_env_names())
  from mujoco_playground import dm_control_suite

  for name in TASKS:
    config = presets(name)
    own = dm_control_suite.get_default_config(name[len(playground.PREFIX):])
    assert (config.episode_length, config.action_repeat) == (own.episode_length, own.action_repeat), name
    assert config.backend == "mjx" and not config.critic_layer_norm, name
    particle = presets(name, policy="particle")  # the preset is valid for either agent
    assert particle.policy == "particle" and particle.critic_layer_norm, name
  assert TrainConfig(env="dm_control/CartpoleSwingup").backend == "mjx"
  assert TrainConfig(env="hopper").backend == "generalized"


def test_bad_task_and_backend_are_named():
  with pytest.raises(ValueError, match=r"TrainConfig.env must be one of \[.*'dm_control/CartpoleSwingup'.*\], "
                                       r"got 'dm_control/CartPoleSwingup'"):
    TrainConfig(env="dm_control/CartPoleSwingup")
  with pytest.raises(ValueError, match=r"TrainConfig.backend must be one of \['mjx', 'warp'\], got 'generalized'"):
    TrainConfig(env="dm_control/CartpoleSwingup", backend="generalized")
  with pytest.raises(ValueError, match=r"backend must be one of \['mjx', 'warp'\] for env 'dm_control/PointMass'"):
    envs.make_env("dm_control/PointMass", backend="spring")


def test_every_task_loads_with_its_sizes():
  for name in TASKS:
    env = playground.load(name)
    assert env.action_size > 0 and env.mj_model.nq > 0 and env.dt > 0, name  # (observation_size traces reset)


@pytest.mark.slow
@pytest.mark.parametrize("name", TASKS)
def test_every_task_steps_with_finite_rewards(name):  # 10-60 s of compile per task: slow tier
  env = envs.make_env(name, episode_length=4)
  state = reset_two_envs(env, 0)
  step = jax.jit(lambda s, a, k: envs.step_and_autoreset(env, s, a, k))
  for i in range(5):  # crosses the time limit once
    state, transition = step(state, jnp.full((2, env.action_size), 0.5), jax.random.key(i))
    assert np.isfinite(transition.reward).all() and np.isfinite(transition.next_observation).all(), name
  np.testing.assert_array_equal(state.info["steps"], [1.0, 1.0])


def test_time_limit_keeps_the_true_final_observation(quick_compiles):
  env = envs.make_env("dm_control/CartpoleSwingup", episode_length=3)
  state, transitions = step_across_time_limit(env, jnp.ones((2, 1)))
  last = transitions[-1]
  np.testing.assert_array_equal(last.truncation, [1.0, 1.0])
  np.testing.assert_array_equal(last.termination, [0.0, 0.0])
  np.testing.assert_array_equal(transitions[1].next_observation, last.observation)
  # The stored next observation continues the dynamics (the cart moved under a = 1); the state to continue
  # from is a fresh reset.
  assert not np.allclose(last.next_observation, state.obs)
  np.testing.assert_array_equal(state.info["steps"], [0.0, 0.0])


def test_without_the_extra_a_dm_control_name_fails_early_naming_it():
  code = ("import sys; sys.modules['mujoco_playground'] = None\n"
          "from wpgjax.rl import TrainConfig\n"
          "try:\n  TrainConfig(env='dm_control/CartpoleSwingup')\n"
          "except ValueError as e:\n  print(e)\n"
          "TrainConfig(env='hopper')\n"
          "from wpgjax.host import cli\n"
          "sys.exit(cli.main(['train', '--env', 'dm_control/CartpoleSwingup', '--workdir', 'unused']))\n")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
  hint = 'needs MuJoCo Playground, which is not installed: pip install -c constraints.txt -e ".[playground]"'
  assert f"TrainConfig.env='dm_control/CartpoleSwingup' {hint}" in out.stdout, out.stdout + out.stderr
  assert out.returncode == 2 and f"--env='dm_control/CartpoleSwingup' {hint}" in out.stderr, out.stderr


TINY = ["--env", "dm_control/CartpoleSwingup", "--set", "num_timesteps=2048", "--set", "num_evals=2",
        "--set", "min_replay_size=256", "--set", "num_eval_envs=2", "--set", "episode_length=64",
        "--set", "critic_layer_norm=true", "--set", "grad_updates_per_step=2", "--seeds", "2", "--no-progress",
        "--quiet"]


def test_an_env_state_with_empty_contact_arrays_checkpoints_exactly(tmp_path, quick_compiles):
  from wpgjax._testing import leaves_as_numpy
  from wpgjax.host.checkpoint import Checkpointer

  env = envs.make_env("dm_control/CartpoleSwingup", episode_length=3)
  state = jax.jit(lambda key: envs.reset_envs(env, key, 2))(jax.random.key(0))
  assert any(leaf.size == 0 for leaf in jax.tree.leaves(state))  # MJX keeps zero-size contact arrays
  with Checkpointer(tmp_path / "ck") as c:
    c.save(1, {"env_state": state}, wait=True)
    restored, _ = c.restore(1, jax.eval_shape(lambda: {"env_state": state}))
  assert jax.tree.structure(restored["env_state"]) == jax.tree.structure(state)
  for a, b in zip(leaves_as_numpy(restored["env_state"]), leaves_as_numpy(state)):
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)


@pytest.fixture
def compile_cache_in(tmp_path):
  """JAX's persistent compilation cache in a fresh folder for this test only (as the CLI sets it up), so that
  the commands it runs one after another load the programs the first one compiled."""
  from jax._src import compilation_cache as jax_compilation_cache

  from wpgjax.host import compile_cache

  assert compile_cache.enable(str(tmp_path / "xla"))
  yield
  jax.config.update("jax_compilation_cache_dir", None)
  jax_compilation_cache.reset_cache()


@pytest.mark.slow  # about 4 minutes of MJX compiling on 2 cores, even with the cache and quick compiles
def test_a_task_trains_checkpoints_resumes_evaluates_and_renders_through_the_cli(tmp_path, capsys, quick_compiles,
                                                                                   compile_cache_in):
  # Resume equal to the uninterrupted run is tested on Brax envs (tests/host, tests/rl/test_custom_env.py); the
  # Playground-specific parts are in the default tier above: registration, each task's time limit and action
  # repeat, the true final observation at a time limit, and the env state's exact checkpoint round trip. The
  # commands share one compilation cache, as a user's runs do: resume and eval load what train compiled.
  from wpgjax.host import cli

  workdir = str(tmp_path / "run")
  assert cli.main(["train", *TINY, "--workdir", workdir, "--no-tensorboard", "--stop-after-evals", "1"]) == 0
  assert cli.main(["train", "--workdir", workdir, "--resume", "--no-progress", "--quiet"]) == 0
  capsys.readouterr()
  rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  assert len(rows) == 4 and rows[0]["env_steps"] < rows[-1]["env_steps"]  # 2 seeds × 2 evaluations
  assert all(np.isfinite(r["eval/episode_reward"]) and np.isfinite(r["training/critic_loss"]) for r in rows)
  assert cli.main(["eval", "--workdir", workdir, "--episodes", "2", "--json",
                   "--render", str(tmp_path / "cartpole.html")]) == 0
  result = json.loads(capsys.readouterr().out)
  assert result["episodes"] == 2 and len(result["mean"]) == 2  # one row per seed (vmapped in one program)
  assert all(0.0 <= m <= 64.0 for m in result["mean"])  # rewards are in [0, 1] per step
  system = _viewer_json(open(tmp_path / "cartpole.html").read())
  frames = system["states"]["x"]
  assert len(frames) == 65  # the reset state and 64 steps (the episode's time limit)
  assert np.asarray(frames[0]["pos"]).shape == (2, 3)  # cart and pole; the world body dropped
  assert not np.allclose(frames[0]["pos"], frames[-1]["pos"])  # the bodies move


def _viewer_json(page: str) -> dict:
  """The system and trajectory JSON embedded in Brax's HTML viewer (base64 of zlib-compressed JSON)."""
  import base64
  import re
  import zlib

  encoded = re.search(r'var system = "([^"]+)"', page).group(1)
  return json.loads(zlib.decompress(base64.b64decode(encoded)))
