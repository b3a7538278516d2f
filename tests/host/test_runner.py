"""The host runner on Brax's `fast` env (2 seeds vmapped, 3 evaluations): logs, plots, summary and Brax-style
hooks; a SIGINT leaves a loadable checkpoint; resuming ends bitwise where the uninterrupted run ends; corrupt,
partial, other-config and other-version checkpoints are refused without touching the run; the NaN guard stops
a forced divergence and keeps the last good checkpoint; each program is traced once; Brax's HTML viewer.

Every run here uses the same program-shaping config and number of runs, so the runner compiles its programs
once for the whole module (and for tests/host/test_cli.py in the same process)."""

import csv
import dataclasses
import glob
import json
import os
import shutil
import signal
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wpgjax.host import checkpoint as ckpt
from wpgjax.host import programs, runner
from wpgjax.host.checkpoint import CheckpointError
from wpgjax.host.evaluation import evaluate, load, render_episode
from wpgjax.host.metrics_log import read_metrics
from wpgjax.host.options import RunOptions
from wpgjax.host.plotting import plot_learning_curves
from wpgjax.rl.train import METRIC_NAMES
from wpgjax.rl import presets
from wpgjax._testing import directory_digest, leaves_as_numpy

CONFIG = presets("fast", num_timesteps=2048, num_evals=3, min_replay_size=256)
SEEDS = [0, 1]
QUIET = dict(progress=False, verbose=False)
STEPS_AFTER_FIRST_EVAL = 928  # (prefill 16 + 42 iterations) × 16 envs


@pytest.fixture(scope="module")
def full(tmp_path_factory):
  """An uninterrupted run, with Brax-style hooks recorded."""
  calls = {"progress": [], "params": []}

  def progress_fn(step, metrics):
    calls["progress"].append((step, metrics))

  def policy_params_fn(step, make_policy, params):
    calls["params"].append((step, make_policy, params))

  workdir = str(tmp_path_factory.mktemp("full") / "run")
  result = runner.run(CONFIG, workdir, seeds=SEEDS, progress_fn=progress_fn, policy_params_fn=policy_params_fn,
                      **QUIET)
  return result, calls


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
  """The same run, stopped by a real SIGINT during the first evaluation period's hooks."""
  if threading.current_thread() is not threading.main_thread():
    pytest.skip("signal handlers need the main thread")
  workdir = str(tmp_path_factory.mktemp("interrupted") / "run")

  def progress_fn(step, metrics):
    os.kill(os.getpid(), signal.SIGINT)

  before = signal.getsignal(signal.SIGINT)  # SIG_IGN when the parent shell ignores SIGINT (background jobs)
  result = runner.run(CONFIG, workdir, seeds=SEEDS, progress_fn=progress_fn, **QUIET)
  return result, workdir, before


def _copy(workdir, tmp_path):
  target = str(tmp_path / "copy")
  shutil.copytree(workdir, target)
  return target


def test_run_writes_metrics_plots_tensorboard_and_summary(full):
  result, _ = full
  workdir = result.workdir
  assert not result.interrupted and result.evals_done == CONFIG.num_evals
  for name in ("config.json", "metrics.jsonl", "metrics.csv", "learning_curve.png", "diagnostics.png",
               "summary.json"):
    assert os.path.getsize(os.path.join(workdir, name)) > 0, name
  with open(os.path.join(workdir, "learning_curve.png"), "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  rows = list(csv.DictReader(open(os.path.join(workdir, "metrics.csv"))))
  assert len(rows) == len(SEEDS) * CONFIG.num_evals
  for column in ("eval", "run", "seed", "env_steps", "eval/episode_reward", "eval/episode_reward_std",
                 "training/critic_loss", "training/tau", "wpg/kl_residual", "wpg/ksd", "training/sps",
                 "training/walltime"):
    assert column in rows[0], column
  assert int(rows[-1]["env_steps"]) == CONFIG.total_env_steps
  event_files = glob.glob(os.path.join(workdir, "tensorboard", "*", "events.out.tfevents.*"))
  assert len(event_files) == len(SEEDS)
  assert result.metrics["eval/episode_reward"].shape == (len(SEEDS), CONFIG.num_evals)
  assert np.all(np.isfinite(result.metrics["eval/episode_reward"]))
  summary = result.summary()
  assert "final return" in summary and "best return" in summary and str(CONFIG.total_env_steps) in summary
  saved = json.load(open(os.path.join(workdir, "summary.json")))
  assert saved["complete"] and saved["last_checkpoint"] == CONFIG.total_env_steps
  split = saved["time_this_call"]  # a fresh run: its wall time is the epochs plus the host work between them
  assert split["compile"] == pytest.approx(result.compile_seconds, abs=1e-3) and split["epochs"] > 0
  assert split["epochs"] + split["host"] == pytest.approx(saved["walltime"], rel=0.05, abs=0.5)


def test_hooks_are_brax_compatible(full):
  result, calls = full
  steps = [step for step, _ in calls["progress"]]
  assert steps == list(result.metrics["env_steps"][0])
  step, metrics = calls["progress"][-1]
  np.testing.assert_array_equal(metrics["eval/episode_reward"], result.metrics["eval/episode_reward"][:, -1])
  assert {"training/sps", "training/walltime", "eval/episode_reward"} <= set(metrics)
  step, make_policy, params = calls["params"][-1]
  one_run = jax.tree.map(lambda x: x[1], params)  # params are stacked over the runs
  policy = make_policy(one_run, deterministic=True)
  actions, _ = policy(jnp.zeros((5, 2)), jax.random.key(0))
  assert actions.shape == (5, 1) and np.all(np.abs(np.asarray(actions)) <= 1.0)
  for a, b in zip(jax.tree.leaves(one_run), jax.tree.leaves(result.run_params(1))):
    np.testing.assert_array_equal(a, b)


def test_sigint_saves_a_loadable_checkpoint_and_stops(interrupted):
  result, workdir, handler_before = interrupted
  assert result.interrupted and result.stop_reason == "signal SIGINT" and result.evals_done == 1
  assert result.last_checkpoint == STEPS_AFTER_FIRST_EVAL
  loaded = load(workdir, step=STEPS_AFTER_FIRST_EVAL)
  assert loaded.meta["evals_done"] == 1
  for a, b in zip(leaves_as_numpy(loaded.state), leaves_as_numpy(result.state)):
    np.testing.assert_array_equal(a, b)
  assert signal.getsignal(signal.SIGINT) is handler_before  # the handler installed before the run is restored


def test_resume_ends_bitwise_where_the_uninterrupted_run_ends(full, interrupted, tmp_path):
  expected, _ = full
  workdir = _copy(interrupted[1], tmp_path)
  resumed = runner.run(None, workdir, resume=True, **QUIET)
  assert not resumed.interrupted and resumed.evals_done == CONFIG.num_evals
  assert resumed.config == CONFIG and resumed.runs == expected.runs
  # Everything: parameters, optimizer states, targets, log τ, normaliser, replay buffer, env states, key, counters.
  for a, b in zip(leaves_as_numpy(resumed.state), leaves_as_numpy(expected.state)):
    np.testing.assert_array_equal(a, b)
  for name, values in expected.metrics.items():
    if name not in runner.HOST_METRICS:
      np.testing.assert_array_equal(resumed.metrics[name], values, err_msg=name)
  rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  assert [(r["eval"], r["run"]) for r in rows] == [(e, r) for e in (1, 2, 3) for r in (0, 1)]
  # One trace of the training iteration and of the evaluation for everything this module ran.
  compiled = programs.get_programs(CONFIG, jax.devices())
  assert compiled.trainer.trace_counts == {"iteration": 1, "evaluate": 1}
  assert set(compiled.trainer.env.trace_counts.values()) == {1}  # the env's reset and step: once per input type


def test_resume_refuses_another_config_or_seeds(interrupted, tmp_path):
  workdir = _copy(interrupted[1], tmp_path)
  before = directory_digest(workdir)
  other = presets("fast", num_timesteps=2048, num_evals=3, min_replay_size=256, tau=0.5)
  with pytest.raises(CheckpointError, match=r"written for a different run: config.tau: saved 0.05, requested 0.5"):
    runner.run(other, workdir, resume=True, **QUIET)
  with pytest.raises(CheckpointError, match=r"seed"):
    runner.run(None, workdir, resume=True, seeds=[0, 1, 2], **QUIET)
  assert directory_digest(workdir) == before


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_resume_refuses_corrupt_or_partial_checkpoints_without_touching_the_run(interrupted, tmp_path):
  workdir = _copy(interrupted[1], tmp_path)
  step_dir = os.path.join(workdir, "checkpoints", str(STEPS_AFTER_FIRST_EVAL))
  for path in glob.glob(os.path.join(step_dir, "state", "**", "d", "*"), recursive=True):
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(path, "wb").write(bytes(data))
  before = directory_digest(workdir)
  with pytest.raises(CheckpointError, match=r"is corrupt"):
    runner.run(None, workdir, resume=True, **QUIET)
  assert directory_digest(workdir) == before
  os.remove(os.path.join(step_dir, "meta", "metadata"))
  with pytest.raises(CheckpointError, match=r"corrupt or incomplete"):
    runner.run(None, workdir, resume=True, **QUIET)
  shutil.rmtree(os.path.join(workdir, "checkpoints"))
  with pytest.raises(CheckpointError, match=r"no checkpoint to resume"):
    runner.run(None, workdir, resume=True, **QUIET)
  with pytest.raises(CheckpointError, match=r"does not hold a wpgjax run"):
    runner.run(None, str(tmp_path / "empty"), resume=True, **QUIET)


def test_resume_refuses_another_wpgjax_version(interrupted, tmp_path):
  workdir = _copy(interrupted[1], tmp_path)
  info_file = os.path.join(workdir, "config.json")
  info = json.load(open(info_file))
  json.dump({**info, "wpgjax_version": "0.0.1"}, open(info_file, "w"))
  before = directory_digest(workdir)
  with pytest.raises(CheckpointError, match=r"written by wpgjax 0.0.1, this is wpgjax"):
    runner.run(None, workdir, resume=True, **QUIET)
  assert directory_digest(workdir) == before


def test_an_existing_run_is_never_overwritten(full):
  result, _ = full
  before = directory_digest(result.workdir)
  with pytest.raises(runner.RunExistsError, match=r"already holds a run .*--resume"):
    runner.run(CONFIG, result.workdir, seeds=SEEDS, **QUIET)
  assert directory_digest(result.workdir) == before


def test_run_options_are_validated_eagerly_and_run_accepts_them(full, tmp_path):
  for bad, message in ((dict(keep_last=0), "keep_last must be a positive int"),
                       (dict(nan_guard="maybe"), "nan_guard must be"),
                       (dict(seeds=[1, 1]), "seeds must be distinct"),
                       (dict(stop_after_evals=0), "stop_after_evals must be a positive int")):
    with pytest.raises(ValueError, match=message):
      RunOptions(**bad)
    with pytest.raises(ValueError, match=message):
      runner.run(CONFIG, str(tmp_path / "never"), **bad)
  assert not os.path.exists(tmp_path / "never")
  options = RunOptions(seeds=2, progress=False)
  assert options.seeds == (0, 1) and dataclasses.replace(options, verbose=False).seeds == (0, 1)
  result, _ = full
  with pytest.raises(runner.RunExistsError, match=r"already holds a run"):
    runner.run(CONFIG, result.workdir, options=options, verbose=False)


def test_nan_guard_stops_a_forced_divergence(tmp_path):
  # reward_scaling is a runtime hyperparameter: same compiled program, diverging critic targets.
  config = presets("fast", num_timesteps=2048, num_evals=3, min_replay_size=256, reward_scaling=1e30)
  workdir = str(tmp_path / "run")
  with pytest.raises(runner.TrainingDivergedError) as info:
    runner.run(config, workdir, seeds=SEEDS, **QUIET)
  error = info.value
  rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  first_bad = next(name for name in METRIC_NAMES if not np.isfinite(rows[0][name]))
  assert error.metric == first_bad and error.env_steps == STEPS_AFTER_FIRST_EVAL and error.evaluation == 1
  assert f"{first_bad} is not finite at env step {STEPS_AFTER_FIRST_EVAL}" in str(error)
  assert "no checkpoint had been saved yet" in str(error)
  assert not os.listdir(os.path.join(workdir, "checkpoints"))


def test_nan_guard_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
  original = programs.Programs.__call__
  epochs = []

  def poisoned(self, name, *args):
    out = original(self, name, *args)
    if name == "epoch":
      epochs.append(1)
      if len(epochs) == 3:  # the second training epoch: the first call prefills
        state, metrics, finite = out
        metrics = dict(metrics, **{"wpg/ksd": metrics["wpg/ksd"].at[1].set(jnp.inf)})
        out = (state, metrics, finite)
    return out

  monkeypatch.setattr(programs.Programs, "__call__", poisoned)
  workdir = str(tmp_path / "run")
  with pytest.raises(runner.TrainingDivergedError, match=r"wpg/ksd is not finite at env step 1600 \(evaluation 2/3; "
                                                         r"run 1 .*last good checkpoint is step 928") as info:
    runner.run(CONFIG, workdir, seeds=SEEDS, **QUIET)
  assert info.value.runs == [1] and info.value.last_checkpoint == STEPS_AFTER_FIRST_EVAL
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == [str(STEPS_AFTER_FIRST_EVAL)]
  assert load(workdir).step == STEPS_AFTER_FIRST_EVAL


def test_load_and_evaluate_the_saved_policy(full):
  result, _ = full
  loaded = load(result.workdir, step="best")
  assert loaded.step in ckpt.Checkpointer(os.path.join(result.workdir, "checkpoints"), read_only=True).steps()
  evaluation = evaluate(result.workdir, episodes=4)
  assert evaluation.step == CONFIG.total_env_steps and evaluation.mean.shape == (2,)
  assert np.all(np.isfinite(evaluation.mean)) and np.all(evaluation.mean <= 143.2)
  assert "return (mean ± std)" in evaluation.table()


def test_read_metrics_and_plot_learning_curves(full, tmp_path):
  result, _ = full
  metrics_by_run, groups, runs = read_metrics(result.workdir)
  assert runs == result.runs and len(metrics_by_run) == 2 and set(groups.values()) == {"all seeds"}
  one = next(iter(metrics_by_run.values()))
  assert one["eval/episode_reward"].shape == (CONFIG.num_evals,)
  fig = plot_learning_curves(metrics_by_run, tmp_path / "curves.png", groups=groups,
                             metrics=("eval/episode_reward", "wpg/ksd"), spread="minmax", log_scale=("wpg/ksd",))
  assert len(fig.axes) == 2 and (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
  with pytest.raises(ValueError, match=r"spread must be one of"):
    plot_learning_curves(metrics_by_run, spread="iqr")


def test_plot_learning_curves_groups_and_axes():
  from matplotlib.figure import Figure

  data = {f"r{i}": {"env_steps": [0, 10, 20], "m": [i, i + 1.0, np.nan if i == 0 else i + 2.0]} for i in range(4)}
  groups = {"r0": "a", "r1": "a", "r2": "b", "r3": "b"}
  ax = Figure().add_subplot()
  fig = plot_learning_curves(data, metrics=("m",), groups=groups, axes=ax)
  assert fig is ax.figure
  labels = [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")]
  assert labels == ["a (mean of 2)", "b (mean of 2)"]


def test_render_episode_writes_the_brax_viewer(tmp_path, quick_compiles):
  from wpgjax.rl import agent, normalization

  config = presets("inverted_pendulum", episode_length=30, backend="spring")
  nets = agent.make_networks(config, 1)
  params = (normalization.init_statistics(4), nets.policy.init(jax.random.key(0), jnp.zeros((4,))))
  path = render_episode(config, params, tmp_path / "viewer" / "rollout.html")
  page = open(path).read()
  assert path == str(tmp_path / "viewer" / "rollout.html") and "<html" in page and "brax" in page.lower()
  with pytest.raises(ValueError, match=r"no physics system to render"):
    render_episode(CONFIG, params, tmp_path / "x.html")


def test_checkpoints_without_replay_resume_by_refilling_the_buffer(tmp_path, quick_compiles):
  workdir = str(tmp_path / "run")
  first = runner.run(CONFIG, workdir, seeds=SEEDS, save_replay=False, stop_after_evals=1, plot=False,
                     tensorboard=False, **QUIET)
  loaded = load(workdir)
  assert loaded.meta["excluded"] == ["replay"] and int(loaded.state.replay.size[0]) == 0
  np.testing.assert_array_equal(loaded.state.policy_params["params"]["MLP_0"]["dense_0"]["kernel"],
                                first.state.policy_params["params"]["MLP_0"]["dense_0"]["kernel"])
  resumed = runner.run(None, workdir, resume=True, plot=False, tensorboard=False, **QUIET)
  assert resumed.evals_done == CONFIG.num_evals
  assert resumed.metrics["env_steps"][0, -1] == CONFIG.total_env_steps  # the refill does not count as training
  assert int(resumed.state.replay.size[0]) > 0


_SHARDED = """
import json, os, sys
import jax, numpy as np
from wpgjax.host import runner
from wpgjax.rl import presets
assert len(jax.devices()) == 3
cfg = presets("fast", num_timesteps=1024, num_evals=2, min_replay_size=256, grad_updates_per_step=1, batch_size=64)
full = runner.run(cfg, sys.argv[1] + "/a", seeds=2, progress=False, verbose=False)   # 2 runs padded to 3 devices
runner.run(cfg, sys.argv[1] + "/b", seeds=2, progress=False, verbose=False, stop_after_evals=1)
resumed = runner.run(None, sys.argv[1] + "/b", resume=True, progress=False, verbose=False)
same = all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in
           zip(jax.tree.leaves(full.state.policy_params), jax.tree.leaves(resumed.state.policy_params)))
print("RESULT" + json.dumps({"shape": list(full.metrics["eval/episode_reward"].shape), "same": same}))
"""


@pytest.mark.slow
def test_runs_padded_and_sharded_over_several_devices_resume_exactly(tmp_path):
  import subprocess
  import sys

  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=3")
  out = subprocess.run([sys.executable, "-c", _SHARDED, str(tmp_path)], capture_output=True, text=True, env=env,
                       timeout=900)
  assert out.returncode == 0, out.stderr[-3000:]
  result = json.loads(out.stdout.split("RESULT")[-1])
  assert result == {"shape": [2, 2], "same": True}


def test_run_options_reject_a_negative_plot_interval():
  with pytest.raises(ValueError, match="plot_interval must be a number of seconds >= 0"):
    RunOptions(plot_interval=-1)


def _keys_and_hps():
  keys = jax.random.split(jax.random.key(0), len(SEEDS))
  return keys, jax.tree.map(lambda x: jnp.stack([x] * len(SEEDS)), CONFIG.hyperparams())


def test_abstract_state_is_the_started_state_without_tracing_the_prefill(full):
  """The epoch is compiled against `abstract_state`, read from init alone; it must equal the state init and
  the prefill loop return, up to weak types, and carry the run sharding."""
  compiled = programs.get_programs(CONFIG, jax.devices())
  keys, hps = _keys_and_hps()
  abstract = compiled.abstract_state(keys, hps)
  trainer = compiled.trainer
  started = jax.eval_shape(jax.vmap(lambda k, h: trainer.prefill(trainer.init(k, h))), keys, hps)
  assert jax.tree.structure(abstract) == jax.tree.structure(started)
  for a, s in zip(jax.tree.leaves(abstract), jax.tree.leaves(started)):
    assert (a.shape, a.dtype) == (s.shape, s.dtype)
    assert a.sharding == compiled.sharding


def test_the_epoch_program_prefills_an_unfilled_buffer_and_trains_a_filled_one(full):
  """The runner's epoch program holds the env step once: called on a state whose buffers hold fewer than
  min_replay_size transitions it is the prefill (bitwise the trainer's own prefill, no gradient step, no
  evaluation), called again an epoch."""
  compiled = programs.get_programs(CONFIG, jax.devices())
  keys, hps = _keys_and_hps()
  started = compiled("start", keys, hps)
  assert np.all(np.asarray(started.replay.size) == 0)
  prefilled, metrics, finite = compiled("epoch", started, hps)
  trainer = compiled.trainer
  expected = jax.jit(jax.vmap(lambda k, h: trainer.prefill(trainer.init(k, h))))(keys, hps)
  for a, b in zip(leaves_as_numpy(prefilled), leaves_as_numpy(expected)):
    np.testing.assert_array_equal(a, b)
  transitions = CONFIG.prefill_steps * CONFIG.num_envs
  assert np.all(np.asarray(prefilled.replay.size) == transitions) and transitions >= CONFIG.min_replay_size
  assert np.all(np.asarray(prefilled.env_steps) == transitions) and np.all(np.asarray(prefilled.grad_steps) == 0)
  assert np.all(np.asarray(metrics["eval/episode_reward"]) == 0.0) and np.all(np.asarray(finite))
  trained, metrics, _ = compiled("epoch", prefilled, hps)
  assert np.all(np.asarray(trained.grad_steps) == CONFIG.steps_per_eval * CONFIG.grad_updates_per_step)
  assert np.all(np.asarray(trained.env_steps) == transitions + CONFIG.steps_per_eval * CONFIG.num_envs)
  assert np.all(np.asarray(metrics["eval/avg_episode_length"]) > 0.0)
