"""The host runner: drives the pure training step in jitted chunks, with progress, logs, plots and checkpoints.

`run(config, workdir, seeds=..., grid=...)` runs every (grid point, seed) of a sweep as ONE vmapped program
(the runs of `wpgjax.rl.sweep_grid`, placed with `shard_runs`, so `--seeds 8` and `sweep --grid` share this
code path). The pure pieces of `wpgjax.rl.make_trainer` are compiled once each, ahead of time (init, and the
epoch, which also prefills; see `wpgjax.host.programs`); the epoch (a loop of training iterations, then
evaluation and WPG diagnostics) is called once to prefill and `config.num_evals` times to train from Python.
Between epochs, on the host:

- metrics go to workdir/metrics.jsonl and metrics.csv (one row per run and evaluation) and TensorBoard
  (workdir/tensorboard/<run>), with Brax's names plus the host-side training/sps and training/walltime;
- workdir/learning_curve.png (mean ± std over seeds per grid point) and diagnostics.png are refreshed (at most
  every `plot_interval` seconds, and at the end);
- a progress bar shows env steps, steps/s, the last evaluation return and the ETA;
- Brax-compatible hooks run: progress_fn(step, metrics) and policy_params_fn(step, make_policy, params);
- the NaN/Inf guard stops a diverging run before its state is saved, naming the first bad metric and step;
- the whole train state (parameters, optimizer states, targets, τ, normaliser, replay buffer, env states,
  PRNG key, counters) is checkpointed with orbax (keep-last-k and keep-best), config.json beside it.

Ctrl-C (SIGINT) or SIGTERM lets the current step finish (a compile, or one epoch), saves a checkpoint and
returns cleanly with `result.interrupted` set (a second Ctrl-C aborts at once, without saving).
`run(..., resume=True)` restores the latest checkpoint and ends bitwise where the uninterrupted run ends (on
CPU, with the same device count).

`run(..., distributed=True)` (or a `DistributedSpec`) is the same run on many processes under `jax.distributed`
(see `wpgjax.host.processes`): every process calls it with the same arguments; the runs are sharded over all
processes' devices; each process writes its own runs' shards of every checkpoint (orbax commits a step once
all have written, so the latest step is one every process completed) and its own runs' TensorBoard logs;
process 0 writes the combined metrics, summary and plots. A checkpoint of a multi-process run keeps the padded
runs (a global array cannot be cut unevenly); restoring it elsewhere drops them.

The steps of one call: `_resolve` (what to run: new or resumed, the run info), `_Session._restore` or
`_Session._start_fresh` (compile, then the first state), `_Session._epoch_loop` (train, guard, log, report,
checkpoint, stop) and `_Session._finish` (result, summary.json, final plots).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import time
from typing import Any, Mapping

import jax
import numpy as np

from wpgjax.host import checkpoint as ckpt
from wpgjax.host.console import Say, StopFlag, make_bar
from wpgjax.host.files import write_json_atomic
from wpgjax.host.metrics_log import MetricsLog, metrics_from_rows
from wpgjax.host.options import RunOptions
from wpgjax.host.plotting import write_run_plots
from wpgjax.host.processes import ProcessGroup
from wpgjax.host.programs import Programs, get_programs, state_template
from wpgjax.host.report import pm, run_name
from wpgjax.host.results import RunExistsError, RunResult, TrainingDivergedError
from wpgjax.rl import distributed as dist
from wpgjax.rl.config import TrainConfig, config_from_dict, config_to_dict
from wpgjax.rl.sweep import pad_runs, seed_keys, shard_runs, sweep_grid
from wpgjax.rl.train import METRIC_NAMES, make_policy, policy_params

__all__ = ["run", "RunOptions", "RunResult", "TrainingDivergedError", "RunExistsError", "HOST_METRICS",
           "RUN_FILES"]

HOST_METRICS = ("training/sps", "training/walltime")
# Files a run owns in its workdir (removed by overwrite=True, never touched otherwise).
RUN_FILES = ("config.json", "checkpoints", "metrics.jsonl", "metrics.csv", "tensorboard", "learning_curve.png",
             "diagnostics.png", "summary.json")


def run(config: TrainConfig | None, workdir: str | os.PathLike, *, options: RunOptions | None = None,
        **kwargs: Any) -> RunResult:
  """Trains `config` for every seed (and grid point) as one vmapped program, logging into `workdir`.

  config: a TrainConfig (see `wpgjax.rl.presets`); may be None with resume=True (read from workdir).
  workdir: the run's folder (made absolute); holds config.json, checkpoints/, metrics.jsonl/csv,
    tensorboard/, learning_curve.png, diagnostics.png, summary.json.
  options: a `RunOptions` (seeds, grid, resume, overwrite, hooks, checkpointing, NaN guard, stopping, output;
    see its docstring). Keyword arguments named like its fields build one (run(config, workdir, seeds=4,
    resume=True)) or override the fields of the one given.
  """
  options = RunOptions(**kwargs) if options is None else dataclasses.replace(options, **kwargs)
  workdir = os.path.abspath(os.fspath(workdir))
  if options.distributed is not False:
    dist.initialize(options.distributed)
  group = ProcessGroup(options.distributed.init_timeout if options.distributed is not False else 300)
  say = Say(options.verbose and group.primary)
  with StopFlag(options.handle_signals, say) as stop:  # from here on, Ctrl-C/SIGTERM only set a flag
    plan = _resolve(config, workdir, options, group)
    devices = list(jax.devices() if options.devices is None else options.devices)
    programs = get_programs(plan.config, devices)
    if not options.resume and group.primary:
      ckpt.write_run_info(workdir, plan.requested)
    group.barrier("run info written")
    return _Session(plan, options, programs, devices, say, stop, group).execute()


# --------------------------------------------------------------------------------------------------------
# Step 1: what to run (new or resumed) and the run info


@dataclasses.dataclass(frozen=True)
class _Plan:
  """What one call runs: the config, seeds, grid and replay choice (given, or saved when resuming), the runs
  with their stacked hyperparameters, and `requested` (the run info a checkpoint must match)."""
  config: TrainConfig
  workdir: str
  seeds: list[int]
  grid: dict[str, list[float]]
  save_replay: bool
  runs: list[dict]
  hps: Any
  requested: dict
  resume: bool

  @property
  def ckpt_dir(self) -> str:
    return os.path.join(self.workdir, "checkpoints")


def _resolve(config: TrainConfig | None, workdir: str, options: RunOptions, group: ProcessGroup) -> _Plan:
  """Resolves the run against the workdir: a resume reads and checks the saved run info; a new run prepares
  the workdir (refusing an existing run unless overwrite)."""
  seeds, grid, save_replay = options.seeds, options.grid, options.save_replay
  if options.resume:
    info = ckpt.read_run_info(workdir)
    saved_config = config_from_dict(info["config"])
    config = saved_config if config is None else config
    seeds = info["seeds"] if seeds is None else seeds
    grid = (info.get("grid") or None) if grid is None else grid
    save_replay = bool(info["save_replay"]) if save_replay is None else save_replay
  else:
    if config is None:
      raise ValueError("config is required unless resume=True")
    seeds = [0] if seeds is None else seeds
    save_replay = True if save_replay is None else save_replay
  if not isinstance(config, TrainConfig):
    raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
  seeds = [int(s) for s in seeds]
  grid = {k: [float(v) for v in vs] for k, vs in (grid or {}).items()}
  runs, hps = sweep_grid(config, seeds, grid)
  requested = {"config": config_to_dict(config), "seeds": seeds, "grid": grid, "runs": runs,
               "save_replay": bool(save_replay)}
  if options.resume:
    ckpt.check_run_info(info, requested, os.path.join(workdir, ckpt.RUN_INFO_FILE))
  else:
    _prepare_new_workdir(workdir, options.overwrite, group)
  return _Plan(config=config, workdir=workdir, seeds=seeds, grid=grid, save_replay=bool(save_replay), runs=runs,
               hps=hps, requested=requested, resume=options.resume)


def _prepare_new_workdir(workdir: str, overwrite: bool, group: ProcessGroup) -> None:
  """Refuses (every process) or clears (process 0) a previous run's files; all processes look before any
  deletes."""
  existing = [name for name in RUN_FILES if os.path.exists(os.path.join(workdir, name))]
  group.barrier("workdir checked")
  if existing and not overwrite:
    raise RunExistsError(f"{workdir} already holds a run ({', '.join(existing)}); continue it with resume=True "
                         "(--resume), choose another workdir, or delete it with overwrite=True (--overwrite)")
  if not group.primary:
    return
  for name in existing:
    path = os.path.join(workdir, name)
    if os.path.isdir(path) and not os.path.islink(path):
      shutil.rmtree(path)
    else:
      os.remove(path)
  os.makedirs(workdir, exist_ok=True)


# --------------------------------------------------------------------------------------------------------
# Steps 2-4: compile and start (or restore), the epoch loop, finish


class _Session:
  """One call of `run` once the plan is known: the compiled programs, the checkpointer, the metrics log and
  the progress bar, and the state that the steps below advance."""

  def __init__(self, plan: _Plan, options: RunOptions, programs: Programs, devices: list, say: Say,
               stop: StopFlag, group: ProcessGroup):
    self.plan, self.options, self.programs = plan, options, programs
    self.devices, self.say, self.stop, self.group = devices, say, stop, group
    self.config = config = plan.config
    self.num_runs = len(plan.runs)
    trainer = programs.trainer
    self.policy_factory = make_policy(config, action_size=trainer.action_size)
    (self.keys, self.hps), self.num_padded, self.sharding = shard_runs(
        (seed_keys([r["seed"] for r in plan.runs]), plan.hps), devices)
    self.steps_per_epoch = config.steps_per_eval * config.num_envs * config.action_repeat
    self.exclude = () if plan.save_replay else ("replay",)
    say(f"{config.env} ({config.backend}): {self.num_runs} run(s) "
        f"[seeds {plan.seeds}{', grid ' + json.dumps(plan.grid) if plan.grid else ''}] on {len(devices)} "
        f"{devices[0].platform} device(s){f' of {group.count} processes' if group.multi else ''}; "
        f"{config.num_evals} evaluations of {self.steps_per_epoch} env steps; "
        f"replay {config.replay_memory_bytes(trainer.observation_size, trainer.action_size) / 2**20:.1f} MiB/run;"
        f" workdir {plan.workdir}")
    self.checkpointer = ckpt.Checkpointer(plan.ckpt_dir, keep_last=options.keep_last, keep_best=options.keep_best)
    self.log: MetricsLog | None = None
    self.bar = None
    self.last_checkpoint: int | None = None
    self.interrupted, self.stop_reason = False, None
    self.warned_runs: set[int] = set()
    self.stops_here = 0
    self.epoch_seconds = 0.0  # in this call: the compiled epochs (training, evaluation, diagnostics), gathered
    self.last_plot = -float("inf")  # when the PNGs were last refreshed (options.plot_interval)
    # Set by execute() and the steps it calls: wall-clock marks, the state and its progress.
    self.start = self.run_start = 0.0
    self.state: Any = None
    self.evals_done, self.walltime_before, self.compile_seconds, self.env_steps_now = 0, 0.0, 0.0, 0
    self.title = ""

  def _unpad(self, tree):
    """The tree without the runs padded to fill the devices (kept by a multi-process run: a global array
    cannot be cut unevenly)."""
    if self.num_padded == 0 or self.group.multi:
      return tree
    return jax.tree.map(lambda x: x[:self.num_runs], tree)

  def execute(self) -> RunResult:
    try:
      self.start = time.perf_counter()
      self.state, self.evals_done, self.walltime_before, self.compile_seconds = (
          self._restore() if self.plan.resume else self._start_fresh())
      if self.compile_seconds > 0:
        self.say(f"compiled in {self.compile_seconds:.1f} s")
      self._open_outputs()
      signalled = self.group.any_over_processes([self.stop.signal is not None])[0]
      if signalled and self.evals_done < self.config.num_evals:
        self._stop_before_first_evaluation()
      else:
        self._epoch_loop()
      return self._finish()
    finally:
      if self.bar is not None:
        self.bar.close()
      with contextlib.suppress(Exception):
        self.checkpointer.wait()
      with contextlib.suppress(Exception):
        self.checkpointer.close()
      if self.log is not None:
        self.log.close()

  # ---- step 2: compile, then the first state
  def _start_fresh(self) -> tuple[Any, int, float, float]:
    """Compiles init and the epoch (which also prefills), inits and prefills; returns (started state, evals
    done, walltime before, compile s)."""
    programs, keys, hps = self.programs, self.keys, self.hps
    jobs = [("epoch", (programs.abstract_state(keys, hps), hps)), ("start", (keys, hps))]  # the longer first
    if programs.needs_compile(jobs):
      self.say("compiling init and the training epoch (which also prefills)...")
    compile_seconds = programs.precompile(jobs)
    return programs.prefill(programs("start", keys, hps), hps), 0, 0.0, compile_seconds

  def _restore(self) -> tuple[Any, int, float, float]:
    """Restores the latest checkpoint and compiles the epoch (which also refills a replay buffer that was not
    saved); returns (state, evals done, walltime before, compile seconds)."""
    plan, programs = self.plan, self.programs
    step = self.checkpointer.latest_step()
    if step is None:
      raise ckpt.CheckpointError(f"no checkpoint to resume in {plan.ckpt_dir} (the run stopped before its first "
                                 "evaluation); start it again with overwrite=True (--overwrite)")
    saved_padding = int(self.checkpointer.read_meta(step).get("num_padded", 0))
    self.say(f"resuming from checkpoint {step} ({os.path.join(plan.ckpt_dir, str(step))})")
    state, meta = self.checkpointer.restore(step, self._saved_template(saved_padding), expected=plan.requested)
    if not self.group.multi:  # restored on one process: drop a multi-process run's padding, pad for these devices
      state = shard_runs(jax.tree.map(lambda x: x[:self.num_runs], state), self.devices)[0]
    jobs = [("epoch", (state, self.hps))]
    if programs.needs_compile(jobs):
      self.say("compiling the training epoch...")
    compile_seconds = programs.precompile(jobs)
    if not plan.save_replay:
      state = programs.prefill(state, self.hps).replace(env_steps=state.env_steps)
    return state, int(meta["evals_done"]), float(meta.get("walltime", 0.0)), compile_seconds

  def _saved_template(self, saved_padding: int) -> Any:
    """The abstract state as a checkpoint holds it: the runs and the padding saved with them; in a
    multi-process run placed with the run sharding, so that each process reads only its own shards."""
    plan = self.plan
    keys, hps = pad_runs((seed_keys([r["seed"] for r in plan.runs]), plan.hps), saved_padding)
    template = state_template(self.programs.trainer, keys, hps, save_replay=plan.save_replay)
    if not self.group.multi:
      return template
    if saved_padding != self.num_padded:
      raise ckpt.CheckpointError(
          f"the checkpoints in {plan.ckpt_dir} hold {self.num_runs + saved_padding} runs (with padding) but "
          f"{len(self.devices)} devices pad {self.num_runs} runs to {self.num_runs + self.num_padded}; resume on "
          "the same number of devices")

    def place(leaf):
      if isinstance(leaf, jax.ShapeDtypeStruct):
        return jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=self.sharding)
      return dist.global_put(leaf, self.sharding)

    return jax.tree.map(place, template)

  def _open_outputs(self) -> None:
    """The metrics log and the progress bar, from the state the run starts from."""
    config, plan = self.config, self.plan
    self.env_steps_now = int(self.group.gather(self.state.env_steps)[0])
    group = self.group
    open_log = lambda: MetricsLog(  # noqa: E731
        plan.workdir, plan.runs, tensorboard=self.options.tensorboard,
        keep_evals=self.evals_done if plan.resume else None, resume_env_steps=self.env_steps_now,
        combined=group.primary, own_runs=group.own_runs(self.state.env_steps, self.num_runs))
    if not group.primary:  # the others read the logged rows before process 0 rewrites the files
      self.log = open_log()
    group.barrier("metrics read")
    if group.primary:
      self.log = open_log()
    self.last_checkpoint = self.checkpointer.latest_step() if plan.resume else None
    self.title = f"WPG on {config.env}" + (f" ({self.num_runs} runs)" if self.num_runs > 1 else "")
    if self.evals_done >= config.num_evals:
      self.say(f"the run in {plan.workdir} is already complete ({self.evals_done}/{config.num_evals} evaluations)")
    self.bar = make_bar(self.options.progress and self.evals_done < config.num_evals, config, self.env_steps_now)
    if self.bar is not None:
      self.say.bar = self.bar
    self.run_start = time.perf_counter()

  def _stop_before_first_evaluation(self) -> None:
    """Interrupted while compiling or restoring: save the started state (a fresh run) so that a resume skips
    the prefill; a resumed run's latest checkpoint is already that state."""
    self.interrupted, self.stop_reason = True, f"signal {self.stop.signal or '(on another process)'}"
    if not self.plan.resume:
      self._save(self.env_steps_now, evals_done=0, walltime=0.0, metrics={}, score=None)
    self.say(f"stopped ({self.stop_reason}) before the first evaluation: checkpoint {self.last_checkpoint} holds "
             "the state; continue with resume=True")

  def _save(self, env_steps: int, *, evals_done: int, walltime: float, metrics: dict, score: float | None) -> None:
    self.checkpointer.save(env_steps, self._unpad(self.state), score=score, exclude=self.exclude,
                           meta={**self.plan.requested, "evals_done": evals_done, "env_steps": env_steps,
                                 "num_padded": self.num_padded if self.group.multi else 0,
                                 "walltime": walltime, "metrics": metrics})
    self.last_checkpoint = env_steps

  # ---- step 3: the epoch loop
  def _epoch_loop(self) -> None:
    config, options = self.config, self.options
    for evaluation in range(self.evals_done + 1, config.num_evals + 1):
      metrics, walltime = self._train_epoch(evaluation)
      env_steps = int(metrics["env_steps"][0])
      self._report(metrics, env_steps)
      stopping = self._stop_requested()
      if evaluation % options.checkpoint_every == 0 or evaluation == config.num_evals or stopping:
        reward = metrics["eval/episode_reward"]
        score = float(np.nanmean(reward)) if np.isfinite(reward).any() else None
        self._save(env_steps, evals_done=evaluation, walltime=walltime, score=score,
                   metrics={k: [float(x) for x in v] for k, v in metrics.items()})
      if options.plot and self.group.primary and time.perf_counter() - self.last_plot >= options.plot_interval:
        write_run_plots(self.plan.workdir, self.log.rows, self.plan.runs, self.title)
        self.last_plot = time.perf_counter()
      if stopping and evaluation < config.num_evals:
        self.interrupted, self.stop_reason = True, stopping
        self.say(f"stopped ({stopping}) after evaluation {evaluation}/{config.num_evals}: checkpoint {env_steps} "
                 "saved; continue with resume=True")
        break

  def _train_epoch(self, evaluation: int) -> tuple[dict[str, np.ndarray], float]:
    """One epoch: trains, adds the host metrics, logs them and guards against NaN/Inf; returns (metrics
    {name: array [runs]}, walltime so far)."""
    num_runs = self.num_runs
    t0 = time.perf_counter()
    new_state, metrics, finite = self.programs("epoch", self.state, self.hps)
    metrics, finite = self.group.gather((metrics, finite))
    metrics = {k: np.asarray(v)[:num_runs] for k, v in metrics.items()}
    finite = np.asarray(finite)[:num_runs]
    epoch_seconds = time.perf_counter() - t0
    self.epoch_seconds += epoch_seconds
    walltime = self.walltime_before + time.perf_counter() - self.run_start
    metrics["training/sps"] = np.full(num_runs, self.steps_per_epoch / max(epoch_seconds, 1e-9))
    metrics["training/walltime"] = np.full(num_runs, walltime)
    bad = _first_bad(metrics, finite)
    self.log.append(evaluation, metrics)
    if bad is not None and self.options.nan_guard != "off":
      self._guard(evaluation, metrics, *bad)
    self.state, self.evals_done = new_state, evaluation
    self.stops_here += 1
    return metrics, walltime

  def _guard(self, evaluation: int, metrics: Mapping[str, np.ndarray], metric: str, bad_runs: list[int]) -> None:
    """NaN/Inf in `metric` of `bad_runs`: raise before the state is saved (nan_guard="stop"), or warn once per
    run ("warn")."""
    env_steps = int(metrics["env_steps"][0])
    if self.options.nan_guard == "stop":
      self.checkpointer.wait()
      last = self.checkpointer.latest_step()
      values = ", ".join(f"run {i} ({run_name(i, self.plan.runs[i])}): {_fmt(metrics, metric, i)}"
                         for i in bad_runs[:4])
      kept = (f"the last good checkpoint is step {last} in {self.plan.ckpt_dir} (resume from it with --resume)"
              if last is not None else "no checkpoint had been saved yet")
      raise TrainingDivergedError(
          f"training diverged: {metric} is not finite at env step {env_steps} (evaluation {evaluation}/"
          f"{self.config.num_evals}; {values}). This state was not saved; {kept}. Lower the learning rates, "
          "reward_scaling or wpg.step_size, or use nan_guard='warn' to keep going.",
          metric=metric, env_steps=env_steps, evaluation=evaluation, runs=bad_runs, last_checkpoint=last)
    new_bad = [i for i in bad_runs if i not in self.warned_runs]
    if new_bad:
      self.warned_runs.update(new_bad)
      self.say(f"warning: {metric} is not finite at env step {env_steps} in run(s) {new_bad}")

  def _report(self, metrics: dict[str, np.ndarray], env_steps: int) -> None:
    """The progress bar and the Brax-style hooks after an evaluation."""
    options, num_runs = self.options, self.num_runs
    if self.bar is not None:
      self.bar.set_postfix_str(f"return {pm(metrics['eval/episode_reward'])}, "
                               f"{metrics['training/sps'][0]:,.0f} steps/s", refresh=False)
      self.bar.update(env_steps - self.bar.n)
    if options.progress_fn is not None and self.group.primary:
      options.progress_fn(env_steps, {k: (float(v[0]) if num_runs == 1 else v.copy()) for k, v in metrics.items()})
    if options.policy_params_fn is not None:
      params = policy_params(self.state)
      params = (jax.tree.map(lambda x: x[:num_runs], self.group.gather(params)) if self.group.multi
                else self._unpad(params))
      if num_runs == 1:
        params = jax.tree.map(lambda x: x[0], params)
      if self.group.primary:
        options.policy_params_fn(env_steps, self.policy_factory, params)

  def _stop_requested(self) -> str | None:
    """Why to stop after this evaluation (a signal, stop_after_evals, time_limit), or None; with several
    processes, any process's reason stops all of them."""
    options = self.options
    reasons = [f"signal {self.stop.signal}" if self.stop.signal else "signal (on another process)",
               f"stop_after_evals={options.stop_after_evals}", f"time_limit={options.time_limit or 0:g}s"]
    flags = self.group.any_over_processes([
        self.stop.signal is not None,
        options.stop_after_evals is not None and self.stops_here >= options.stop_after_evals,
        options.time_limit is not None and time.perf_counter() - self.start >= options.time_limit])
    return next((reason for reason, flag in zip(reasons, flags) if flag), None)

  # ---- step 4: finish
  def _time_split(self) -> dict[str, float]:
    """Seconds of this call: compile, the compiled epochs (training + evaluation + diagnostics, one program),
    and the host between epochs (metrics files, TensorBoard, plots, checkpoints, hooks, progress)."""
    since_start = time.perf_counter() - self.run_start
    return {"compile": round(self.compile_seconds, 3), "epochs": round(self.epoch_seconds, 3),
            "host": round(max(since_start - self.epoch_seconds, 0.0), 3)}

  def _finish(self) -> RunResult:
    """Waits for the last save; returns the RunResult and writes summary.json, the plots and the summary."""
    plan, options = self.plan, self.options
    self.checkpointer.wait()
    if self.bar is not None:
      self.bar.close()
      self.say.bar = self.bar = None
    all_metrics = metrics_from_rows(self.log.rows, self.num_runs)
    walltime = self.walltime_before + time.perf_counter() - self.run_start
    result = RunResult(config=self.config, workdir=plan.workdir, runs=plan.runs, state=self._unpad(self.state),
                       metrics=all_metrics, make_policy=self.policy_factory, evals_done=self.evals_done,
                       interrupted=self.interrupted, walltime=walltime, compile_seconds=self.compile_seconds,
                       last_checkpoint=self.last_checkpoint, stop_reason=self.stop_reason)
    best_checkpoint = self.checkpointer.best_step()  # orbax reads in step on every process
    if not self.group.primary:
      return result
    write_json_atomic(os.path.join(plan.workdir, "summary.json"), {
        "env": self.config.env, "runs": plan.runs, "evals_done": self.evals_done,
        "num_evals": self.config.num_evals, "complete": self.evals_done >= self.config.num_evals,
        "walltime": walltime, "compile_seconds": self.compile_seconds, "time_this_call": self._time_split(),
        "processes": self.group.count,
        "devices": len(self.devices),
        "final": {k: [float(x) for x in v[:, -1]] for k, v in all_metrics.items() if v.shape[1]},
        "last_checkpoint": self.last_checkpoint, "best_checkpoint": best_checkpoint})
    if options.plot and self.log.rows:
      write_run_plots(plan.workdir, self.log.rows, plan.runs, self.title)
    if options.verbose and options.summary and all_metrics:
      self.say(result.summary())
    return result


def _fmt(metrics: Mapping[str, np.ndarray], metric: str, i: int) -> str:
  if metric in metrics:
    return str(metrics[metric][i])
  return "non-finite parameters"


def _first_bad(metrics: Mapping[str, np.ndarray], params_finite: np.ndarray) -> tuple[str, list[int]] | None:
  """The first metric (in METRIC_NAMES order, then the rest) with a non-finite value, and the runs affected;
  "state/parameters" if only the parameters are non-finite."""
  order = [m for m in METRIC_NAMES if m in metrics] + sorted(m for m in metrics if m not in METRIC_NAMES)
  for name in order:
    bad = np.flatnonzero(~np.isfinite(np.asarray(metrics[name], dtype=float)))
    if bad.size:
      return name, [int(i) for i in bad]
  bad = np.flatnonzero(~np.asarray(params_finite, dtype=bool))
  if bad.size:
    return "state/parameters", [int(i) for i in bad]
  return None
