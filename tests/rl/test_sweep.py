"""Sweeps: grid construction and validation, and a sharded sweep on 4 forced host CPU devices that equals
the unsharded (single-device) sweep and the individual runs, with padding when runs don't divide evenly."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from wpgjax._testing import QUICK_COMPILE_ENV
from wpgjax.rl import presets, sweep_grid


def test_sweep_grid_orders_runs_and_stacks_hyperparams():
  cfg = presets("fast")
  runs, hps = sweep_grid(cfg, seeds=[0, 1], grid={"tau": [0.01, 0.1], "wpg.step_size": [0.2]})
  assert runs == [{"seed": 0, "tau": 0.01, "wpg.step_size": 0.2}, {"seed": 1, "tau": 0.01, "wpg.step_size": 0.2},
                  {"seed": 0, "tau": 0.1, "wpg.step_size": 0.2}, {"seed": 1, "tau": 0.1, "wpg.step_size": 0.2}]
  assert hps.tau.shape == (4,)
  assert list(map(float, hps.tau)) == pytest.approx([0.01, 0.01, 0.1, 0.1])
  assert list(map(float, hps.critic_learning_rate)) == pytest.approx([cfg.critic_learning_rate] * 4)


@pytest.mark.parametrize("grid, message", [
    ({"num_envs": [1, 2]}, r"grid key 'num_envs' is not a sweepable hyperparameter; allowed: \[.*'tau'.*'wpg.step_size'"),
    ({"tau": []}, r"grid\['tau'\] must list at least one value"),
    ({"tau": [0.1, -1.0]}, r"grid\['tau'\] value -1.0 is not allowed: TrainConfig.tau must be a finite number > 0"),
    ({"tau": [float("nan")]}, r"grid\['tau'\] values must be finite numbers, got nan"),
    ({"tau": ["0.1"]}, r"grid\['tau'\] values must be finite numbers, got '0.1'"),
    ({"discount": [0.99, 1.0]},
     r"grid\['discount'\] value 1.0 is not allowed: TrainConfig.discount must be in \(0, 1\)"),
    ({"final_learning_rate_fraction": [1.5]},
     r"TrainConfig.final_learning_rate_fraction must be in \[0, 1\], got 1.5"),
])
def test_sweep_grid_rejects_bad_grids(grid, message):
  with pytest.raises(ValueError, match=message):
    sweep_grid(presets("fast"), seeds=[0], grid=grid)


def test_sweep_grid_takes_every_value_the_config_takes():
  """The grid checks a value against the field's own range: a learning-rate decay to 0 is allowed."""
  runs, hps = sweep_grid(presets("fast"), seeds=[0], grid={"final_learning_rate_fraction": [0.0, np.float32(0.5)]})
  assert [run["final_learning_rate_fraction"] for run in runs] == [0.0, 0.5]
  assert list(map(float, hps.final_learning_rate_fraction)) == [0.0, 0.5]


_SCRIPT = textwrap.dedent("""
    import json, jax, numpy as np
    from wpgjax.rl import presets, sweep, make_train
    assert len(jax.devices()) == 4, jax.devices()
    cfg = presets("fast", num_timesteps=1024, num_evals=1, min_replay_size=256, grad_updates_per_step=1,
                  batch_size=64)
    grid = {"tau": [0.02, 0.2]}
    sharded = sweep(cfg, seeds=[0, 1, 2], grid=grid)            # 6 runs on 4 devices -> 2 padded
    single = sweep(cfg, seeds=[0, 1, 2], grid=grid, devices=jax.devices()[:1])
    out = {
        "num_padded": sharded.num_padded,
        "runs": sharded.runs,
        "shape": list(sharded.metrics["eval/episode_reward"].shape),
        "max_rel_diff_vs_single_device": max(
            float(np.max(np.abs(np.asarray(sharded.metrics[k]) - np.asarray(single.metrics[k]))
                         / (np.abs(np.asarray(single.metrics[k])) + 1e-6)))
            for k in sharded.metrics),
        "critic_loss": np.asarray(sharded.metrics["training/critic_loss"]).tolist(),
    }
    print("RESULT" + json.dumps(out))
""")


def test_sharded_sweep_on_four_host_devices_equals_unsharded():
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu",
             **QUICK_COMPILE_ENV)
  proc = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-3000:]
  line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT")][-1]
  out = json.loads(line[len("RESULT"):])
  assert out["num_padded"] == 2
  assert out["shape"] == [6, 1]
  assert [r["seed"] for r in out["runs"]] == [0, 1, 2, 0, 1, 2]
  # Different device layouts reorder float reductions: equal to float32 rounding, not bit for bit.
  assert out["max_rel_diff_vs_single_device"] <= 1e-3
  losses = [row[0] for row in out["critic_loss"]]
  assert len(set(losses)) == 6  # every run is its own run, no padding leaked in
