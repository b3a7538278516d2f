"""The one wpgjax training driver of the benchmarks: the host runner's compiled programs, timed piece by piece.

    from benchmarks.driver import train
    result = train(wpgjax.presets("inverted_pendulum"), seed=0)

`wpgjax.run` trains through `wpgjax.host.programs.Programs`: start (init) and the epoch (a loop of training
iterations, then an evaluation; while the replay buffer holds fewer than min_replay_size transitions, the
prefill), mapped over runs and compiled ahead of time, the epoch then called once to prefill and
`config.num_evals` times to train from Python. A benchmark needs the same programs with two timings the runner
does not give: each program's compile time on its own, and each epoch's wall-clock without the host's per-epoch work
(checkpoints, metrics files, plots). `train` therefore drives `Programs` itself, as the runner does, for one
seed (keys and hyperparameters from `wpgjax.rl.seed_keys` / `sweep_grid` / `shard_runs`, so seed s is the
run `wpgjax.run(config, workdir, seeds=[s])` trains):

1. `Programs(config, devices)`: builds the env and networks (`env_build_s`). A fresh `Programs` per call, not
   the runner's cache (`get_programs`), so that every run pays its own compile, as each Brax run does.
2. `precompile` of the epoch and start together, as the runner does (`aot_compile_s`; until 2026-12-05 each
   was compiled and timed on its own, `start_compile_s` and `epoch_compile_s`; until a later change the same
   day, start was init and the prefill, compiled as a program of its own); start and the prefill are then run
   (`prefill_run_s`).
3. The compiled epoch is called `config.num_evals` times; after each call the metrics are fetched (which
   waits for the device) and `time.perf_counter` read: `curve` [(env_steps, eval return, seconds since the
   start of step 1)] and `epochs` [{epoch_s, metrics}].

Also recorded: `compile_estimate_s`, the union of JAX's trace/lower/compile time spans over the whole run
(`brax_baselines.CompileTimer`, the method used for Brax's trainers too; `aot_compile_s` cross-checks it);
the steady epoch time (median of the epochs after the first), `seconds_per_update` = steady epoch time /
(steps_per_eval × grad_updates_per_step) (the epoch's env steps and its evaluation included, compilation
excluded); the load average at start and end and the compilation cache state (`benchmarks.machine`).
"""

from __future__ import annotations

import datetime
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks` importable as a script

from benchmarks.brax_baselines import CompileTimer, jsonable  # noqa: E402
from benchmarks.machine import compilation_cache, load_average, system_info  # noqa: E402


def timed(fn: Callable, *args: Any) -> tuple[Any, float]:
  """(fn(*args) with its result ready, wall seconds)."""
  import jax

  t0 = time.perf_counter()
  out = jax.block_until_ready(fn(*args))
  return out, time.perf_counter() - t0


def one_seed_programs(config, seed: int = 0):
  """(`Programs` of `config` on the first device, keys, hyperparameters) for seed `seed`, placed as the runner
  places one run: seed s is the run `wpgjax.run(config, workdir, seeds=[s])` trains."""
  import jax

  from wpgjax.host.programs import Programs
  from wpgjax.rl import seed_keys, shard_runs, sweep_grid

  devices = jax.devices()[:1]
  programs = Programs(config, devices)  # builds the env and networks (make_trainer)
  _, hps = sweep_grid(config, [seed])
  (keys, hps), _, _ = shard_runs((seed_keys([seed]), hps), devices)
  return programs, keys, hps


def train(config, seed: int, *, label: str = "wpgjax", verbose: bool = True) -> dict[str, Any]:
  """Trains `config` with seed `seed` on the first device; returns a JSON-able record (see the module doc)."""
  import jax
  import numpy as np

  from wpgjax.rl import config_to_dict

  load_start, cache_start = load_average(), compilation_cache()
  curve: list[list[float]] = []
  epochs: list[dict[str, float]] = []
  t_start = time.perf_counter()
  with CompileTimer() as timer:
    programs, keys, hps = one_seed_programs(config, seed)
    env_build_s = time.perf_counter() - t_start
    # As the runner does: both programs, the epoch (the longer compile) lowered first and compiled beside the start.
    jobs = [("epoch", (programs.abstract_state(keys, hps), hps)), ("start", (keys, hps))]
    aot_compile_s = programs.precompile(jobs)
    state, prefill_s = timed(lambda: programs.prefill(programs("start", keys, hps), hps))
    for _ in range(config.num_evals):
      t0 = time.perf_counter()
      state, metrics, finite = programs("epoch", state, hps)
      metrics, finite = jax.device_get((metrics, finite))
      t = time.perf_counter()
      metrics = {k: float(np.asarray(v)[0]) for k, v in metrics.items()}
      reward = metrics["eval/episode_reward"]
      curve.append([int(metrics["env_steps"]), reward, t - t_start])
      epochs.append(dict(epoch_s=t - t0, params_finite=bool(np.asarray(finite)[0]), **metrics))
      if verbose:
        print(f"[{label} {config.env} seed={seed}] step {int(metrics['env_steps']):>8d}  eval {reward:9.2f}  "
              f"t {t - t_start:7.1f}s  (epoch {t - t0:.2f}s)", file=sys.stderr, flush=True)
    total_wall_s = time.perf_counter() - t_start
  compile_s = timer.seconds if timer.seconds is not None else aot_compile_s
  env_steps = curve[-1][0]
  run_s = total_wall_s - compile_s
  # Steady epoch time: the epochs after the first (the first may pay one-off costs such as page faults).
  steady = statistics.median([e["epoch_s"] for e in epochs[1:]]) if len(epochs) > 1 else epochs[0]["epoch_s"]
  updates_per_epoch = config.steps_per_eval * config.grad_updates_per_step
  steps_per_epoch = config.steps_per_eval * config.num_envs * config.action_repeat
  return jsonable(dict(
      env=config.env, seed=int(seed), backend=config.backend, env_steps=int(env_steps),
      episode_length=config.episode_length, num_evals=config.num_evals, curve=curve,
      final_eval_return=curve[-1][1], final_eval_return_std=epochs[-1]["eval/episode_reward_std"],
      total_wall_s=total_wall_s, compile_estimate_s=compile_s,
      compile_method="union of jax.monitoring trace/lower/compile time spans during the run "
                     "(brax_baselines.CompileTimer); aot_compile_s = timed precompile of start and epoch",
      jax_compile_spans=timer.counts, aot_compile_s=aot_compile_s, prefill_run_s=prefill_s, env_build_s=env_build_s,
      env_steps_per_s=env_steps / run_s if run_s > 0 else None,
      epoch_s_steady=steady, train_sps_steady=steps_per_epoch / steady,
      updates_per_epoch=updates_per_epoch, seconds_per_update=steady / updates_per_epoch,
      grad_updates_per_s_steady=updates_per_epoch / steady, trace_counts=dict(programs.trainer.trace_counts),
      epochs=epochs, config=config_to_dict(config),
      system=dict(system_info(), load_avg_start=load_start, load_avg_end=load_average(),
                  compilation_cache_start=cache_start, compilation_cache_end=compilation_cache()),
      timestamp=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
  ))
