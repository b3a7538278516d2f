"""Smoke test of the Brax baseline harness (benchmarks/brax_baselines.py): Brax's own SAC, tiny budget.

Slow (~70 s on an idle 2-core CPU, ~3 min on a loaded one; almost all compilation): excluded from the
default run; run it with `pytest -m slow tests/benchmarks`.
"""

import importlib.util
import json
import math
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "brax_baselines.py"


def _load():
  spec = importlib.util.spec_from_file_location("brax_baselines", _PATH)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod


@pytest.mark.slow
def test_brax_sac_smoke_returns_complete_jsonable_result():
  bb = _load()
  r = bb.run_brax_sac("inverted_pendulum", num_timesteps=2000, seed=0, num_evals=3, episode_length=100,
                      min_replay_size=256, num_eval_envs=8)
  json.dumps(r, allow_nan=False)  # JSON-able, no NaN/inf
  for key in ("env", "algo", "seed", "num_timesteps", "curve", "final_eval_return", "total_wall_s",
              "compile_estimate_s", "env_steps_per_s", "recipe", "system"):
    assert key in r, key
  assert (r["env"], r["algo"], r["seed"], r["num_timesteps"]) == ("inverted_pendulum", "sac", 0, 2000)
  curve = r["curve"]
  assert len(curve) == 3  # the untrained policy, then one eval per epoch
  steps = [p[0] for p in curve]
  walls = [p[2] for p in curve]
  assert steps[0] == 0 and steps == sorted(steps) and steps[-1] >= 2000
  assert walls == sorted(walls) and walls[-1] <= r["total_wall_s"]
  assert all(math.isfinite(p[1]) for p in curve)
  assert r["final_eval_return"] == curve[-1][1]
  assert 0 < r["compile_estimate_s"] < r["total_wall_s"]
  assert r["env_steps_per_s"] > 0
  assert r["recipe"]["num_envs"] == 16 and r["recipe"]["network"]["hidden_layer_sizes"] == [64, 64]
  assert r["recipe"]["min_replay_size"] == 256  # the override won
  assert r["seconds_per_update"] > 0
  system = r["system"]
  assert len(system["load_avg_start"]) == 3 and len(system["load_avg_end"]) == 3
  assert system["compilation_cache_start"]["state"] in ("cold", "warm")
  # Bad input fails before any compilation.
  with pytest.raises(ValueError, match="known"):
    bb.run_brax_sac("no_such_env", num_timesteps=1000, seed=0)
  with pytest.raises(ValueError, match="unknown sac.train arguments"):
    bb.run_brax_sac("inverted_pendulum", num_timesteps=1000, seed=0, no_such_argument=1)


def test_dm_control_tasks_get_playgrounds_recipes():
  bb = _load()
  sac = bb.get_recipe("sac", "dm_control/CartpoleSwingup")
  assert (sac["num_envs"], sac["batch_size"], sac["grad_updates_per_step"]) == (16, 256, 16)
  assert sac["network"] == {"q_network_layer_norm": True, "hidden_layer_sizes": (64, 64)}
  # wpgjax's DM Control presets run the same recipe, so the two sides compare on equal terms; the Gaussian agent's
  # drops the critic's LayerNorm (an update at 0.57x the time, BENCHMARKS.md §14), the particle agent's keeps it.
  pytest.importorskip("mujoco_playground")
  from wpgjax.rl import presets

  ours = presets("dm_control/CartpoleSwingup")
  assert (ours.num_envs, ours.batch_size, ours.grad_updates_per_step) == (
      sac["num_envs"], sac["batch_size"], sac["grad_updates_per_step"])
  assert ours.hidden_sizes == sac["network"]["hidden_layer_sizes"] and not ours.critic_layer_norm
  assert presets("dm_control/CartpoleSwingup", policy="particle").critic_layer_norm
  assert (ours.actor_learning_rate, ours.critic_learning_rate, ours.discount) == (sac["learning_rate"],) * 2 + (
      sac["discounting"],)
  assert (ours.min_replay_size, ours.reward_scaling) == (sac["min_replay_size"], sac["reward_scaling"])
  assert bb.get_recipe("ppo", "dm_control/BallInCup")["discounting"] == 0.95  # Playground's per-task setting
  assert bb.get_recipe("ppo", "dm_control/CartpoleSwingup")["discounting"] == 0.995


# Action sizes of Brax's classic envs (their MJCF actuators); Brax SAC's target entropy is −|A|/2.
_SAC_RECIPE_ENVS = {"hopper": 3, "walker2d": 6, "swimmer": 2, "pusher": 7, "ant": 8, "humanoid": 17, "reacher": 2}


@pytest.mark.parametrize("env", sorted(_SAC_RECIPE_ENVS))
def test_classic_sac_recipe_presets_match_brax_sac(env):
  """The presets built on Brax SAC's CPU recipes run Brax SAC's settings, its temperature's included: τ0 = 1
  (log α = 0), target entropy −|A|/2, and the Adam learning rate `sac.train` hard-codes for α."""
  import inspect
  import re

  from brax.training.agents.sac import train as brax_sac_train

  from wpgjax.rl import presets

  sac, ours = _load().get_recipe("sac", env), presets(env)
  assert (ours.num_envs, ours.batch_size, ours.grad_updates_per_step, ours.hidden_sizes) == (
      sac["num_envs"], sac["batch_size"], sac["grad_updates_per_step"], sac["network"]["hidden_layer_sizes"])
  assert (ours.actor_learning_rate, ours.critic_learning_rate, ours.discount, ours.reward_scaling) == (
      sac["learning_rate"], sac["learning_rate"], sac["discounting"], sac["reward_scaling"])
  alpha_lr = re.search(r"alpha_optimizer = optax\.adam\(learning_rate=([0-9.e-]+)\)",
                       inspect.getsource(brax_sac_train))
  assert alpha_lr, "Brax SAC's temperature optimiser moved; re-read brax/training/agents/sac/train.py"
  assert (ours.tau, ours.tau_learning_rate) == (1.0, float(alpha_lr.group(1)))
  assert ours.target_entropy == -0.5 * _SAC_RECIPE_ENVS[env]
  assert sac["min_replay_size"] <= ours.min_replay_size <= 1.03 * sac["min_replay_size"]  # 1,024 for SAC's 1,000
  assert (ours.wpg.num_action_samples, ours.wpg.wpo_entropy_term) == (1, "expected")  # SAC's per-sample estimator


@pytest.mark.slow
def test_brax_sac_smoke_on_a_dm_control_task():
  pytest.importorskip("mujoco_playground")
  r = _load().run_brax_sac("dm_control/CartpoleSwingup", num_timesteps=4096, seed=0, num_evals=2,
                           episode_length=100, min_replay_size=512, num_envs=16, num_eval_envs=4)
  assert r["backend"] == "mjx" and len(r["curve"]) == 2 and math.isfinite(r["final_eval_return"])
