"""The host runner: drives the pure training step in jitted chunks, with progress, logs, plots and checkpoints.

`run(config, workdir, seeds=..., grid=...)` runs every (grid point, seed) of a sweep as ONE vmapped program
(the runs of `wpgjax.rl.sweep_grid`, placed with `shard_runs`, so `--seeds 8` and `sweep --grid` share this
code path). The pure pieces of `wpgjax.rl.make_trainer` are compiled once each, ahead of time (init, prefill,
epoch); the epoch (a scan of training iterations, then evaluation and WPG diagnostics) is called
`config.num_evals` times from Python. Between epochs, on the host:

- metrics go to workdir/metrics.jsonl and metrics.csv (one row per run and evaluation) and TensorBoard
  (workdir/tensorboard/<run>), with Brax's names plus the host-side training/sps and training/walltime;
- workdir/learning_curve.png (mean ± std over seeds per grid point) and diagnostics.png are refreshed;
- a progress bar shows env steps, steps/s, the last evaluation return and the ETA;
- Brax-compatible hooks run: progress_fn(step, metrics) and policy_params_fn(step, make_policy, params);
- the NaN/Inf guard stops a diverging run before its state is saved, naming the first bad metric and step;
- the whole train state (parameters, optimizer states, targets, τ, normaliser, replay buffer, env states,
  PRNG key, counters) is checkpointed with orbax (keep-last-k and keep-best), config.json beside it.

Ctrl-C (SIGINT) or SIGTERM lets the current step finish (a compile, or one epoch), saves a checkpoint and
returns cleanly with `result.interrupted` set (a second Ctrl-C aborts at once, without saving).
`run(..., resume=True)` restores the latest checkpoint and ends bitwise where the uninterrupted run ends (on
CPU, with the same device count).
"""

from __future__ import annotations

import collections
import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import shutil
import signal
import sys
import threading
import time
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from wpgjax import checkpoint as ckpt
from wpgjax.rl.config import SWEEPABLE_FIELDS, TrainConfig, config_from_dict, config_to_dict
from wpgjax.rl.sweep import shard_runs, sweep_grid
from wpgjax.rl.train import METRIC_NAMES, make_policy, make_trainer

__all__ = [
    "run", "RunResult", "TrainingDivergedError", "RunExistsError", "load", "LoadedRun", "evaluate",
    "EvalResult", "render_episode", "read_metrics", "format_summary", "CheckpointError",
]

CheckpointError = ckpt.CheckpointError

HOST_METRICS = ("training/sps", "training/walltime")
DIAGNOSTIC_METRICS = ("training/tau", "training/entropy", "wpg/kl_residual", "wpg/fisher", "wpg/ksd",
                      "training/critic_loss")
# Files a run owns in its workdir (removed by overwrite=True, never touched otherwise).
RUN_FILES = ("config.json", "checkpoints", "metrics.jsonl", "metrics.csv", "tensorboard", "learning_curve.png",
             "diagnostics.png", "summary.json")


class TrainingDivergedError(RuntimeError):
  """Training produced NaN/Inf. Attributes: metric, env_steps, evaluation, runs (indices), last_checkpoint."""

  def __init__(self, message: str, *, metric: str, env_steps: int, evaluation: int, runs: list[int],
               last_checkpoint: int | None):
    super().__init__(message)
    self.metric, self.env_steps, self.evaluation = metric, env_steps, evaluation
    self.runs, self.last_checkpoint = runs, last_checkpoint


class RunExistsError(FileExistsError):
  """The workdir already holds a run and neither resume nor overwrite was asked for."""


# --------------------------------------------------------------------------------------------------------
# Compiled programs, shared by every run with the same program-shaping config (hyperparameters are inputs)


def _static_key(config: TrainConfig) -> str:
  data = config_to_dict(config)
  for field in SWEEPABLE_FIELDS:
    node = data
    *parents, leaf = field.split(".")
    for part in parents:
      node = node[part]
    node.pop(leaf, None)
  return json.dumps(data, sort_keys=True)


def _params_finite(state) -> jax.Array:
  leaves = jax.tree.leaves((state.policy_params, state.critic_params, state.target_critic_params,
                            state.log_tau, state.obs_stats))
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


class _Programs:
  """The vmapped pieces of one config's trainer, jitted with the run-axis sharding and compiled ahead of time
  per input signature (so compile time is measured apart from run time and each piece is traced once):
  start = prefill ∘ init, prefill (only to refill a buffer that was not checkpointed), and epoch (the
  trainer's epoch, plus a finiteness check of the parameters for the NaN guard)."""

  def __init__(self, config: TrainConfig, devices: Sequence[Any]):
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    self.trainer = t = make_trainer(config)
    self.devices = list(devices)
    self.sharding = NamedSharding(Mesh(np.array(self.devices), ("runs",)), PartitionSpec("runs"))

    def start(key, hp):
      return t.prefill(t.init(key, hp))

    def epoch(state, hp):
      state, metrics = t.epoch(state, hp)
      return state, metrics, _params_finite(state)

    self._start = start
    self._jitted = {
        "start": jax.jit(jax.vmap(start), out_shardings=self.sharding),
        "prefill": jax.jit(jax.vmap(t.prefill), out_shardings=self.sharding),
        "epoch": jax.jit(jax.vmap(epoch), out_shardings=self.sharding),
    }
    self._compiled: dict[Any, Any] = {}

  def abstract_state(self, keys, hps):
    """The avals of the state `start` returns, placed with the run sharding. Weak types are dropped so that
    a fresh run and a run restored from a checkpoint compile the very same epoch program."""
    shapes = jax.eval_shape(jax.vmap(self._start), keys, hps)
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=self.sharding), shapes)

  @staticmethod
  def _signature(name: str, args) -> Any:
    leaves, treedef = jax.tree.flatten(args)
    return (name, treedef, tuple((np.shape(x), str(x.dtype)) for x in leaves))

  def precompile(self, jobs: Sequence[tuple[str, tuple]]) -> float:
    """Compiles the (name, args) jobs not compiled yet, concurrently; returns the wall time spent."""
    todo = {}
    for name, args in jobs:
      signature = self._signature(name, args)
      if signature not in self._compiled:
        todo[signature] = (name, args)
    if not todo:
      return 0.0
    started = time.perf_counter()
    if len(todo) == 1:
      (signature, (name, args)), = todo.items()
      self._compiled[signature] = self._jitted[name].lower(*args).compile()
    else:
      from concurrent.futures import ThreadPoolExecutor

      with ThreadPoolExecutor(max_workers=len(todo)) as pool:
        futures = {sig: pool.submit(lambda n, a: self._jitted[n].lower(*a).compile(), name, args)
                   for sig, (name, args) in todo.items()}
      for signature, future in futures.items():
        self._compiled[signature] = future.result()
    return time.perf_counter() - started

  def __call__(self, name: str, *args):
    signature = self._signature(name, args)
    if signature not in self._compiled:
      self.precompile([(name, args)])
    return self._compiled[signature](*args)


_PROGRAMS: "collections.OrderedDict[Any, _Programs]" = collections.OrderedDict()
_PROGRAMS_MAX = 4


def _programs(config: TrainConfig, devices: Sequence[Any]) -> _Programs:
  key = (_static_key(config), tuple(d.id for d in devices), tuple(d.platform for d in devices))
  if key in _PROGRAMS:
    _PROGRAMS.move_to_end(key)
  else:
    _PROGRAMS[key] = _Programs(config, devices)
    while len(_PROGRAMS) > _PROGRAMS_MAX:
      _PROGRAMS.popitem(last=False)
  return _PROGRAMS[key]


_EVALUATORS: "collections.OrderedDict[Any, tuple[Any, Callable]]" = collections.OrderedDict()


def _evaluator(config: TrainConfig) -> tuple[Any, Callable]:
  """(trainer, jitted evaluate vmapped over runs) for `config`, cached like the training programs."""
  key = _static_key(config)
  if key in _EVALUATORS:
    _EVALUATORS.move_to_end(key)
  else:
    trainer = make_trainer(config)
    _EVALUATORS[key] = (trainer, jax.jit(jax.vmap(trainer.evaluate, in_axes=(0, None))))
    while len(_EVALUATORS) > _PROGRAMS_MAX:
      _EVALUATORS.popitem(last=False)
  return _EVALUATORS[key]


# --------------------------------------------------------------------------------------------------------
# Runs, names, groups


def _normalise_seeds(seeds: int | Sequence[int]) -> list[int]:
  if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
    if seeds < 1:
      raise ValueError(f"seeds must be a positive number of seeds or a list of seeds, got {seeds}")
    return list(range(int(seeds)))
  seeds = [int(s) for s in seeds]
  if not seeds:
    raise ValueError("seeds must list at least one seed")
  if any(s < 0 or s >= 2**32 for s in seeds):
    raise ValueError(f"seeds must be in [0, 2**32), got {seeds}")
  if len(set(seeds)) != len(seeds):
    raise ValueError(f"seeds must be distinct, got {seeds}")
  return seeds


def _group_label(run: Mapping[str, Any]) -> str:
  return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in run.items() if k != "seed")


def _seeds_label(runs: Sequence[Mapping[str, Any]]) -> str:
  return "all seeds" if len(runs) > 1 else f"seed {runs[0]['seed']}"


def _run_name(index: int, run: Mapping[str, Any]) -> str:
  label = _group_label(run)
  return f"run{index:03d}_" + (label.replace(" ", "_") + "_" if label else "") + f"seed{run['seed']}"


# --------------------------------------------------------------------------------------------------------
# Metrics logs


class _MetricsLog:
  """metrics.jsonl (the source of truth), metrics.csv and TensorBoard, one row per (evaluation, run)."""

  def __init__(self, workdir: str, runs: list[dict], *, tensorboard: bool, keep_evals: int | None,
               resume_env_steps: int = 0):
    self.jsonl = os.path.join(workdir, "metrics.jsonl")
    self.csv = os.path.join(workdir, "metrics.csv")
    self.runs = runs
    self.rows: list[dict] = []
    if keep_evals is not None and os.path.exists(self.jsonl):
      # Resuming: drop rows logged after the checkpoint we resume from (they will be recomputed).
      self.rows = [r for r in _read_jsonl(self.jsonl) if r.get("eval", 0) <= keep_evals]
    with open(self.jsonl, "w") as f:
      for row in self.rows:
        f.write(json.dumps(row) + "\n")
    self._columns: list[str] | None = None
    self._rewrite_csv()
    self._writers = None
    if tensorboard:
      try:
        from tensorboardX import SummaryWriter
      except ImportError:  # pragma: no cover
        print("wpgjax: tensorboardX is not installed; TensorBoard logging is off", file=sys.stderr)
      else:
        purge = resume_env_steps + 1 if keep_evals is not None else None
        self._writers = [SummaryWriter(os.path.join(workdir, "tensorboard", _run_name(i, run)),
                                       purge_step=purge, flush_secs=30) for i, run in enumerate(runs)]

  def _rewrite_csv(self) -> None:
    if not self.rows:
      if os.path.exists(self.csv):
        os.remove(self.csv)
      return
    self._columns = list(dict.fromkeys(k for row in self.rows for k in row))
    with open(self.csv, "w", newline="") as f:
      writer = csv.DictWriter(f, fieldnames=self._columns, extrasaction="ignore")
      writer.writeheader()
      writer.writerows(self.rows)

  def append(self, evaluation: int, metrics: Mapping[str, np.ndarray]) -> None:
    new_rows = []
    for i, run in enumerate(self.runs):
      row = {"eval": evaluation, "run": i, **run}
      for name, values in metrics.items():
        value = values[i].item()
        row[name] = int(value) if name == "env_steps" else float(value)
      new_rows.append(row)
    self.rows.extend(new_rows)
    with open(self.jsonl, "a") as f:
      for row in new_rows:
        f.write(json.dumps(row) + "\n")
    if self._columns is None or any(k not in self._columns for row in new_rows for k in row):
      self._rewrite_csv()
    else:
      with open(self.csv, "a", newline="") as f:
        csv.DictWriter(f, fieldnames=self._columns, extrasaction="ignore").writerows(new_rows)
    if self._writers:
      for writer, row in zip(self._writers, new_rows):
        for name, value in row.items():
          if "/" in name and math.isfinite(value):
            writer.add_scalar(name, value, row["env_steps"])

  def close(self) -> None:
    for writer in self._writers or []:
      writer.close()


def _read_jsonl(path: str) -> list[dict]:
  rows = []
  with open(path) as f:
    for line in f:
      line = line.strip()
      if line:
        try:
          rows.append(json.loads(line))
        except ValueError:
          break  # a partial last line from a crash
  return rows


def read_metrics(workdir: str | os.PathLike) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, str], list[dict]]:
  """Reads workdir/metrics.jsonl into (metrics_by_run {run name: {metric: array over evaluations}},
  groups {run name: grid-point label}, runs) — the input of `plot_learning_curves`."""
  path = os.path.join(os.path.abspath(os.fspath(workdir)), "metrics.jsonl")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: no metrics logged in {workdir}")
  rows = _read_jsonl(path)
  info_runs = None
  try:
    info_runs = ckpt.read_run_info(workdir, check_version=False).get("runs")
  except ckpt.CheckpointError:
    pass
  by_run: dict[int, list[dict]] = collections.defaultdict(list)
  for row in rows:
    by_run[int(row["run"])].append(row)
  runs = info_runs or [{k: v for k, v in by_run[i][0].items()
                        if k == "seed" or k in SWEEPABLE_FIELDS} for i in sorted(by_run)]
  metrics_by_run, groups = {}, {}
  for i in sorted(by_run):
    name = _run_name(i, runs[i])
    run_rows = sorted(by_run[i], key=lambda r: r["eval"])
    keys = [k for k in run_rows[0] if "/" in k or k == "env_steps"]
    metrics_by_run[name] = {k: np.asarray([r.get(k, np.nan) for r in run_rows], dtype=float) for k in keys}
    groups[name] = _group_label(runs[i]) or _seeds_label(runs)
  return metrics_by_run, groups, runs


def _refresh_plots(workdir: str, rows: list[dict], runs: list[dict], title: str) -> None:
  from wpgjax.plotting import plot_learning_curves

  by_run: dict[str, dict[str, list]] = {}
  groups = {}
  for i, run in enumerate(runs):
    name = _run_name(i, run)
    run_rows = [r for r in rows if r["run"] == i]
    if not run_rows:
      continue
    by_run[name] = {k: [r.get(k, np.nan) for r in run_rows] for k in run_rows[0] if "/" in k or k == "env_steps"}
    groups[name] = _group_label(run) or _seeds_label(runs)
  if not by_run:
    return
  plot_learning_curves(by_run, os.path.join(workdir, "learning_curve.png"), groups=groups, title=title)
  plot_learning_curves(by_run, os.path.join(workdir, "diagnostics.png"), metrics=DIAGNOSTIC_METRICS,
                       groups=groups, title=title + " — WPG diagnostics",
                       log_scale=("wpg/kl_residual", "wpg/fisher", "wpg/ksd", "training/critic_loss"))


# --------------------------------------------------------------------------------------------------------
# Results and summary


@dataclasses.dataclass
class RunResult:
  """What `run` returns.

  config, workdir, runs (one dict per run: seed and grid values), state (the final TrainState of all runs,
  stacked on a leading run axis), metrics ({name: array [runs, evaluations]}, Brax names + training/sps and
  training/walltime), make_policy (Brax-style factory: make_policy(params, deterministic)), params
  ((obs_stats, policy_params) stacked over runs; `run_params(i)` gives one run's), evals_done, interrupted
  (stopped early by a signal, stop_after_evals or time_limit: resume it with resume=True), stop_reason (why,
  e.g. "signal SIGINT"), walltime (seconds of training, over all sessions), compile_seconds (this call),
  last_checkpoint (its step = env steps, or None).
  """
  config: TrainConfig
  workdir: str
  runs: list[dict]
  state: Any
  metrics: dict[str, np.ndarray]
  make_policy: Callable
  evals_done: int
  interrupted: bool
  walltime: float
  compile_seconds: float
  last_checkpoint: int | None
  stop_reason: str | None = None

  @property
  def params(self):
    return (self.state.obs_stats, self.state.policy_params)

  def run_params(self, index: int):
    """(obs_stats, policy_params) of run `index`, for make_policy."""
    return jax.tree.map(lambda x: x[index], self.params)

  def summary(self) -> str:
    return format_summary(self.runs, self.metrics, walltime=self.walltime)


def format_summary(runs: list[dict], metrics: Mapping[str, np.ndarray], *, walltime: float | None = None,
                   metric: str = "eval/episode_reward") -> str:
  """A table: per grid point, the final and best evaluation return (mean ± std over seeds)."""
  values = np.asarray(metrics.get(metric, np.zeros((len(runs), 0))), dtype=float)
  steps = np.asarray(metrics.get("env_steps", np.zeros((len(runs), 0))))
  if values.ndim != 2 or values.shape[1] == 0:
    return "no evaluations yet"
  labels = list(dict.fromkeys(_group_label(r) or "all" for r in runs))
  header = ["grid point", "seeds", "final return", "best return", "at env step", "env steps"]
  table = []
  for label in labels:
    idx = [i for i, r in enumerate(runs) if (_group_label(r) or "all") == label]
    final = values[idx, -1]
    mean_curve = np.nanmean(values[idx], axis=0) if np.isfinite(values[idx]).any() else values[idx][0]
    best = int(np.nanargmax(mean_curve)) if np.isfinite(mean_curve).any() else len(mean_curve) - 1
    table.append([label, str(len(idx)), _pm(final), _pm(values[idx, best]), str(int(steps[idx[0], best])),
                  str(int(steps[idx[0], -1]))])
  widths = [max(len(h), *(len(row[j]) for row in table)) for j, h in enumerate(header)]
  line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
  out = [line(header), line(["-" * w for w in widths])] + [line(row) for row in table]
  if walltime is not None:
    out.append(f"training wall time {walltime:.1f} s")
  return "\n".join(out)


def _pm(values: np.ndarray) -> str:
  values = np.asarray(values, dtype=float)
  if len(values) == 1:
    return f"{values[0]:.2f}"
  return f"{np.mean(values):.2f} ± {np.std(values):.2f}"


# --------------------------------------------------------------------------------------------------------
# Signals


class _StopFlag:
  """Turns the first SIGINT/SIGTERM into a flag checked between epochs; a second SIGINT aborts at once."""

  def __init__(self, enabled: bool, say: Callable[[str], None]):
    self.enabled = enabled and threading.current_thread() is threading.main_thread()
    self.say = say
    self.signal: str | None = None
    self._previous: dict[int, Any] = {}

  def __enter__(self) -> "_StopFlag":
    if self.enabled:
      for sig in (signal.SIGINT, signal.SIGTERM):
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame) -> None:
    if self.signal is not None and signum == signal.SIGINT:
      signal.signal(signal.SIGINT, signal.default_int_handler)
      raise KeyboardInterrupt
    self.signal = signal.Signals(signum).name
    self.say(f"{self.signal} received: stopping with a checkpoint once the current step (compile, or epoch of "
             "training) is done; press Ctrl-C again to abort without saving")

  def __exit__(self, *exc) -> None:
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


# --------------------------------------------------------------------------------------------------------
# run()


def run(config: TrainConfig | None, workdir: str | os.PathLike, *, seeds: int | Sequence[int] | None = None,
        grid: Mapping[str, Sequence[float]] | None = None, resume: bool = False, overwrite: bool = False,
        progress_fn: Callable[[int, dict], None] | None = None,
        policy_params_fn: Callable[[int, Callable, Any], None] | None = None,
        keep_last: int = 3, keep_best: int = 1, checkpoint_every: int = 1, save_replay: bool | None = None,
        nan_guard: str = "stop", stop_after_evals: int | None = None, time_limit: float | None = None,
        progress: bool = True, plot: bool = True, tensorboard: bool = True, verbose: bool = True,
        summary: bool = True, handle_signals: bool = True, devices: Sequence[Any] | None = None) -> RunResult:
  """Trains `config` for every seed (and grid point) as one vmapped program, logging into `workdir`.

  config: a TrainConfig (see `wpgjax.rl.presets`); may be None with resume=True (read from workdir).
  workdir: the run's folder (made absolute); holds config.json, checkpoints/, metrics.jsonl/csv,
    tensorboard/, learning_curve.png, diagnostics.png, summary.json.
  seeds: a number of seeds (0..n-1) or a list of seeds; default [0] (or the saved seeds when resuming).
  grid: {dotted hyperparameter: values} over SWEEPABLE_FIELDS, crossed with the seeds (sweep_grid order).
  resume: continue from the latest checkpoint in workdir; config/seeds/grid/save_replay, when given, must
    equal the saved ones (else CheckpointError listing the differences).
  overwrite: delete a previous run's files in workdir first (otherwise an existing run raises RunExistsError).
  progress_fn(env_steps, metrics): Brax-style hook after each evaluation; metrics values are floats for a
    single run and arrays [runs] for several. policy_params_fn(env_steps, make_policy, params): Brax-style
    hook with params = (obs_stats, policy_params) (stacked over runs when there are several).
  keep_last, keep_best: checkpoints kept (most recent / highest mean evaluation return).
  checkpoint_every: save every this many evaluations (the last one, and any stop, always save).
  save_replay: store the replay buffer in checkpoints (default True). Without it a resumed run refills the
    buffer with random actions and is no longer bitwise identical to an uninterrupted one.
  nan_guard: "stop" (raise TrainingDivergedError at the first NaN/Inf metric or parameter, before saving),
    "warn" (report once and go on) or "off".
  stop_after_evals: stop (with a checkpoint) after this many evaluations in this call; time_limit: stop after
    the epoch that crosses this many seconds. Both leave a resumable run (result.interrupted is True).
  progress / plot / tensorboard / verbose / summary: the progress bar, PNG refresh, TensorBoard logs, messages
    and the final summary table (on stderr; `result.summary()` returns it).
  handle_signals: catch SIGINT/SIGTERM to checkpoint and stop cleanly (main thread only).
  devices: devices to shard the run axis over (default: all).
  """
  if nan_guard not in ("stop", "warn", "off"):
    raise ValueError(f"nan_guard must be 'stop', 'warn' or 'off', got {nan_guard!r}")
  for name, value in (("keep_last", keep_last), ("checkpoint_every", checkpoint_every)):
    if not isinstance(value, int) or value < 1:
      raise ValueError(f"{name} must be a positive int, got {value!r}")
  if not isinstance(keep_best, int) or keep_best < 0:
    raise ValueError(f"keep_best must be a non-negative int, got {keep_best!r}")
  if stop_after_evals is not None and (not isinstance(stop_after_evals, int) or stop_after_evals < 1):
    raise ValueError(f"stop_after_evals must be a positive int or None, got {stop_after_evals!r}")
  workdir = os.path.abspath(os.fspath(workdir))
  ckpt_dir = os.path.join(workdir, "checkpoints")
  say = _Say(verbose)
  with _StopFlag(handle_signals, say) as stop:  # from here on, Ctrl-C/SIGTERM only set a flag
    return _run(stop=stop, config=config, workdir=workdir, ckpt_dir=ckpt_dir, seeds=seeds, grid=grid,
                resume=resume, overwrite=overwrite, progress_fn=progress_fn, policy_params_fn=policy_params_fn,
                keep_last=keep_last, keep_best=keep_best, checkpoint_every=checkpoint_every,
                save_replay=save_replay, nan_guard=nan_guard, stop_after_evals=stop_after_evals,
                time_limit=time_limit, progress=progress, plot=plot, tensorboard=tensorboard, verbose=verbose,
                summary=summary, devices=devices, say=say)


def _run(*, stop: "_StopFlag", config, workdir, ckpt_dir, seeds, grid, resume, overwrite, progress_fn,
         policy_params_fn, keep_last, keep_best, checkpoint_every, save_replay, nan_guard, stop_after_evals,
         time_limit, progress, plot, tensorboard, verbose, summary, devices, say):
  """The body of `run` (signal handling already installed)."""

  # ---- what to run, and the run info (config.json)
  if resume:
    info = ckpt.read_run_info(workdir)
    saved_config = config_from_dict(info["config"])
    config = saved_config if config is None else config
    seeds_list = [int(r) for r in info["seeds"]] if seeds is None else _normalise_seeds(seeds)
    grid = (info.get("grid") or None) if grid is None else grid
    save_replay = bool(info["save_replay"]) if save_replay is None else save_replay
  else:
    if config is None:
      raise ValueError("config is required unless resume=True")
    seeds_list = [0] if seeds is None else _normalise_seeds(seeds)
    save_replay = True if save_replay is None else save_replay
  if not isinstance(config, TrainConfig):
    raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
  grid = {k: [float(v) for v in vs] for k, vs in (grid or {}).items()}
  runs, hps = sweep_grid(config, seeds_list, grid)
  requested = {"config": config_to_dict(config), "seeds": seeds_list, "grid": grid, "runs": runs,
               "save_replay": bool(save_replay)}
  if resume:
    ckpt.check_run_info(info, requested, os.path.join(workdir, ckpt.RUN_INFO_FILE))
  else:
    _prepare_new_workdir(workdir, overwrite)

  devices = list(jax.devices() if devices is None else devices)
  num_runs = len(runs)
  programs = _programs(config, devices)
  if not resume:
    ckpt.write_run_info(workdir, requested)
  trainer = programs.trainer
  policy_factory = make_policy(config, action_size=trainer.action_size)
  keys = jax.vmap(jax.random.key)(jnp.asarray([r["seed"] for r in runs], jnp.uint32))
  (keys, hps), num_padded, _ = shard_runs((keys, hps), devices)
  unpad = (lambda tree: tree) if num_padded == 0 else (lambda tree: jax.tree.map(lambda x: x[:num_runs], tree))
  steps_per_epoch = config.steps_per_eval * config.num_envs * config.action_repeat

  say(f"{config.env} ({config.backend}): {num_runs} run(s) "
      f"[seeds {seeds_list}{', grid ' + json.dumps(grid) if grid else ''}] on {len(devices)} "
      f"{devices[0].platform} device(s); {config.num_evals} evaluations of {steps_per_epoch} env steps; "
      f"replay {config.replay_memory_bytes(trainer.observation_size, trainer.action_size) / 2**20:.1f} MiB/run; "
      f"workdir {workdir}")

  checkpointer = ckpt.Checkpointer(ckpt_dir, keep_last=keep_last, keep_best=keep_best)
  log = None
  bar = None
  try:
    start = time.perf_counter()
    compile_seconds = 0.0
    if resume:
      step = checkpointer.latest_step()
      if step is None:
        raise ckpt.CheckpointError(f"no checkpoint to resume in {ckpt_dir} (the run stopped before its first "
                                   "evaluation); start it again with overwrite=True (--overwrite)")
      template = jax.eval_shape(jax.vmap(trainer.init), *unpad((keys, hps)))
      if not save_replay:
        template = template.replace(replay=jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), template.replay))
      say(f"resuming from checkpoint {step} ({os.path.join(ckpt_dir, str(step))})")
      state, meta = checkpointer.restore(step, template, expected=requested)
      evals_done, walltime_before = int(meta["evals_done"]), float(meta.get("walltime", 0.0))
      state = shard_runs(state, devices)[0]
      jobs = [("epoch", (state, hps))] + ([] if save_replay else [("prefill", (state,))])
      if any(programs._signature(n, a) not in programs._compiled for n, a in jobs):
        say("compiling the training epoch...")
      compile_seconds = programs.precompile(jobs)
      if not save_replay:
        env_steps = state.env_steps
        state = programs("prefill", state).replace(env_steps=env_steps)
    else:
      jobs = [("start", (keys, hps)), ("epoch", (programs.abstract_state(keys, hps), hps))]
      if any(programs._signature(n, a) not in programs._compiled for n, a in jobs):
        say("compiling init+prefill and the training epoch (once each, concurrently)...")
      compile_seconds = programs.precompile(jobs)
      state = programs("start", keys, hps)
      evals_done, walltime_before = 0, 0.0
    if compile_seconds > 0:
      say(f"compiled in {compile_seconds:.1f} s")
    env_steps_now = int(np.asarray(jax.device_get(state.env_steps))[0])
    log = _MetricsLog(workdir, runs, tensorboard=tensorboard, keep_evals=evals_done if resume else None,
                      resume_env_steps=env_steps_now)
    last_checkpoint = checkpointer.latest_step() if resume else None
    interrupted, stop_reason = False, None
    title = f"WPG on {config.env}" + (f" ({num_runs} runs)" if num_runs > 1 else "")

    if evals_done >= config.num_evals:
      say(f"the run in {workdir} is already complete ({evals_done}/{config.num_evals} evaluations)")
    bar = _make_bar(progress and evals_done < config.num_evals, config, env_steps_now)
    if bar is not None:
      say.bar = bar
    run_start = time.perf_counter()
    warned_runs: set[int] = set()
    stops_here = 0
    if stop.signal is not None and evals_done < config.num_evals:
      # Interrupted while compiling or restoring: save the started state (a fresh run) so that a resume skips
      # the prefill; a resumed run's latest checkpoint is already that state.
      interrupted, stop_reason = True, f"signal {stop.signal}"
      if not resume:
        checkpointer.save(env_steps_now, unpad(state), score=None, exclude=() if save_replay else ("replay",),
                          meta={**requested, "evals_done": 0, "env_steps": env_steps_now, "walltime": 0.0,
                                "metrics": {}})
        last_checkpoint = env_steps_now
      say(f"stopped ({stop_reason}) before the first evaluation: checkpoint {last_checkpoint} holds the state; "
          "continue with resume=True")
    for evaluation in ([] if interrupted else range(evals_done + 1, config.num_evals + 1)):
      t0 = time.perf_counter()
      new_state, metrics, finite = programs("epoch", state, hps)
      metrics, finite = jax.device_get((metrics, finite))
      metrics = {k: np.asarray(v)[:num_runs] for k, v in metrics.items()}
      finite = np.asarray(finite)[:num_runs]
      epoch_seconds = time.perf_counter() - t0
      walltime = walltime_before + time.perf_counter() - run_start
      metrics["training/sps"] = np.full(num_runs, steps_per_epoch / max(epoch_seconds, 1e-9))
      metrics["training/walltime"] = np.full(num_runs, walltime)
      env_steps = int(metrics["env_steps"][0])
      bad = _first_bad(metrics, finite)
      log.append(evaluation, metrics)
      if bad is not None and nan_guard != "off":
        metric, bad_runs = bad
        if nan_guard == "stop":
          checkpointer.wait()
          last = checkpointer.latest_step()
          values = ", ".join(f"run {i} ({_run_name(i, runs[i])}): {_fmt(metrics, metric, i)}"
                             for i in bad_runs[:4])
          kept = (f"the last good checkpoint is step {last} in {ckpt_dir} (resume from it with --resume)"
                  if last is not None else "no checkpoint had been saved yet")
          raise TrainingDivergedError(
              f"training diverged: {metric} is not finite at env step {env_steps} (evaluation {evaluation}/"
              f"{config.num_evals}; {values}). This state was not saved; {kept}. Lower the learning rates, "
              "reward_scaling or wpg.step_size, or use nan_guard='warn' to keep going.",
              metric=metric, env_steps=env_steps, evaluation=evaluation, runs=bad_runs, last_checkpoint=last)
        new_bad = [i for i in bad_runs if i not in warned_runs]
        if new_bad:
          warned_runs.update(new_bad)
          say(f"warning: {metric} is not finite at env step {env_steps} in run(s) {new_bad}")
      state = new_state
      evals_done = evaluation
      stops_here += 1
      reward = metrics["eval/episode_reward"]
      if bar is not None:
        bar.set_postfix_str(f"return {_pm(reward)}, {metrics['training/sps'][0]:,.0f} steps/s", refresh=False)
        bar.update(env_steps - bar.n)
      if progress_fn is not None:
        progress_fn(env_steps, {k: (float(v[0]) if num_runs == 1 else v.copy()) for k, v in metrics.items()})
      if policy_params_fn is not None:
        params = unpad((state.obs_stats, state.policy_params))
        if num_runs == 1:
          params = jax.tree.map(lambda x: x[0], params)
        policy_params_fn(env_steps, policy_factory, params)

      stopping = None
      if stop.signal is not None:
        stopping = f"signal {stop.signal}"
      elif stop_after_evals is not None and stops_here >= stop_after_evals:
        stopping = f"stop_after_evals={stop_after_evals}"
      elif time_limit is not None and time.perf_counter() - start >= time_limit:
        stopping = f"time_limit={time_limit:g}s"
      if evaluation % checkpoint_every == 0 or evaluation == config.num_evals or stopping:
        score = float(np.nanmean(reward)) if np.isfinite(reward).any() else None
        checkpointer.save(env_steps, unpad(state), score=score, exclude=() if save_replay else ("replay",),
                          meta={**requested, "evals_done": evaluation, "env_steps": env_steps,
                                "walltime": walltime,
                                "metrics": {k: [float(x) for x in v] for k, v in metrics.items()}})
        last_checkpoint = env_steps
      if plot:
        _refresh_plots(workdir, log.rows, runs, title)
      if stopping and evaluation < config.num_evals:
        interrupted, stop_reason = True, stopping
        say(f"stopped ({stopping}) after evaluation {evaluation}/{config.num_evals}: checkpoint {env_steps} "
            "saved; continue with resume=True")
        break
    checkpointer.wait()
    if bar is not None:
      bar.close()
      say.bar = bar = None
    all_metrics = _metrics_from_rows(log.rows, num_runs)
    walltime = walltime_before + time.perf_counter() - run_start
    result = RunResult(config=config, workdir=workdir, runs=runs, state=unpad(state), metrics=all_metrics,
                       make_policy=policy_factory, evals_done=evals_done, interrupted=interrupted,
                       walltime=walltime, compile_seconds=compile_seconds, last_checkpoint=last_checkpoint,
                       stop_reason=stop_reason)
    ckpt.write_json_atomic(os.path.join(workdir, "summary.json"), {
        "env": config.env, "runs": runs, "evals_done": evals_done, "num_evals": config.num_evals,
        "complete": evals_done >= config.num_evals, "walltime": walltime,
        "final": {k: [float(x) for x in v[:, -1]] for k, v in all_metrics.items() if v.shape[1]},
        "last_checkpoint": last_checkpoint, "best_checkpoint": checkpointer.best_step()})
    if plot and log.rows:
      _refresh_plots(workdir, log.rows, runs, title)
    if verbose and summary and all_metrics:
      say(result.summary())
    return result
  finally:
    if bar is not None:
      bar.close()
    with contextlib.suppress(Exception):
      checkpointer.wait()
    with contextlib.suppress(Exception):
      checkpointer.close()
    if log is not None:
      log.close()


def _metrics_from_rows(rows: list[dict], num_runs: int) -> dict[str, np.ndarray]:
  """{metric: array [runs, evaluations]} from logged rows (env_steps as int64)."""
  evaluations = sorted({r["eval"] for r in rows})
  if not evaluations:
    return {}
  index = {(r["eval"], r["run"]): r for r in rows}
  names = list(dict.fromkeys(k for r in rows for k in r if "/" in k or k == "env_steps"))
  out = {}
  for name in names:
    values = np.array([[index.get((e, i), {}).get(name, np.nan) for e in evaluations] for i in range(num_runs)],
                      dtype=float)
    out[name] = values.astype(np.int64) if name == "env_steps" else values
  return out


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


def _prepare_new_workdir(workdir: str, overwrite: bool) -> None:
  existing = [name for name in RUN_FILES if os.path.exists(os.path.join(workdir, name))]
  if existing and not overwrite:
    raise RunExistsError(f"{workdir} already holds a run ({', '.join(existing)}); continue it with resume=True "
                         "(--resume), choose another workdir, or delete it with overwrite=True (--overwrite)")
  for name in existing:
    path = os.path.join(workdir, name)
    if os.path.isdir(path) and not os.path.islink(path):
      shutil.rmtree(path)
    else:
      os.remove(path)
  os.makedirs(workdir, exist_ok=True)


class _Say:
  """Messages to stderr (through the progress bar when one is shown)."""

  def __init__(self, verbose: bool):
    self.verbose = verbose
    self.bar = None

  def __call__(self, message: str) -> None:
    if not self.verbose:
      return
    if self.bar is not None:
      self.bar.write(message, file=sys.stderr)
    else:
      print(message, file=sys.stderr, flush=True)


def _make_bar(enabled: bool, config: TrainConfig, initial: int):
  if not enabled:
    return None
  try:  # a notebook widget when ipywidgets is there, plain text otherwise (tqdm.auto would warn)
    import ipywidgets  # noqa: F401
    from tqdm.auto import tqdm
  except ImportError:
    from tqdm import tqdm

  return tqdm(total=config.total_env_steps, initial=initial, unit="step", unit_scale=True, dynamic_ncols=True,
              desc=f"{config.env}", file=sys.stderr, smoothing=0.3, mininterval=0.5)


# --------------------------------------------------------------------------------------------------------
# Loading and evaluating a saved run


@dataclasses.dataclass
class LoadedRun:
  """A checkpoint loaded from a workdir: config, runs, state (stacked over runs), meta (the checkpoint's JSON),
  step (env steps), make_policy; params / run_params(i) as in RunResult."""
  config: TrainConfig
  runs: list[dict]
  state: Any
  meta: dict
  step: int
  make_policy: Callable

  @property
  def params(self):
    return (self.state.obs_stats, self.state.policy_params)

  def run_params(self, index: int):
    return jax.tree.map(lambda x: x[index], self.params)


def load(workdir: str | os.PathLike, *, step: int | str = "latest") -> LoadedRun:
  """Loads a checkpoint of the run in `workdir` (read-only). step: "latest", "best" (highest mean evaluation
  return among the kept checkpoints) or an env-step number listed in workdir/checkpoints."""
  workdir = os.path.abspath(os.fspath(workdir))
  info = ckpt.read_run_info(workdir)
  config = config_from_dict(info["config"])
  runs = info["runs"]
  checkpointer = ckpt.Checkpointer(os.path.join(workdir, "checkpoints"), read_only=True)
  try:
    available = checkpointer.steps()
    if step == "latest":
      chosen = checkpointer.latest_step()
    elif step == "best":
      chosen = checkpointer.best_step()
    else:
      try:
        chosen = int(step)
      except (TypeError, ValueError):
        raise ValueError(f"step must be 'latest', 'best' or an int, got {step!r}") from None
    if chosen is None:
      raise ckpt.CheckpointError(f"no checkpoint in {checkpointer.directory} (available: {available or 'none'})")
    trainer, _ = _evaluator(config)
    _, hps = sweep_grid(config, info["seeds"], info.get("grid") or None)
    keys = jax.vmap(jax.random.key)(jnp.asarray([r["seed"] for r in runs], jnp.uint32))
    template = jax.eval_shape(jax.vmap(trainer.init), keys, hps)
    if not info["save_replay"]:
      template = template.replace(replay=jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), template.replay))
    state, meta = checkpointer.restore(chosen, template, expected=info)
  finally:
    checkpointer.close()
  return LoadedRun(config=config, runs=runs, state=state, meta=meta, step=chosen,
                   make_policy=make_policy(config, action_size=trainer.action_size))


@dataclasses.dataclass
class EvalResult:
  """Per run: mean and std of the episode return over `episodes` episodes, mean episode length."""
  runs: list[dict]
  step: int
  episodes: int
  mean: np.ndarray
  std: np.ndarray
  length: np.ndarray
  render_path: str | None = None

  def table(self) -> str:
    header = ["run", "seed", "grid point", "return (mean ± std)", "episode length"]
    rows = [[str(i), str(r["seed"]), _group_label(r) or "-", f"{self.mean[i]:.2f} ± {self.std[i]:.2f}",
             f"{self.length[i]:.1f}"] for i, r in enumerate(self.runs)]
    widths = [max(len(h), *(len(row[j]) for row in rows)) for j, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(row) for row in rows])

  def to_dict(self) -> dict:
    return {"step": self.step, "episodes": self.episodes, "runs": self.runs, "mean": self.mean.tolist(),
            "std": self.std.tolist(), "length": self.length.tolist(), "render": self.render_path}


def evaluate(workdir: str | os.PathLike, *, step: int | str = "latest", episodes: int = 16, seed: int = 0,
             render: str | os.PathLike | None = None, render_run: int = 0, loaded: LoadedRun | None = None
             ) -> EvalResult:
  """Loads the saved policy of every run in `workdir` and runs `episodes` deterministic evaluation episodes
  (fresh resets drawn from `seed`); optionally writes Brax's HTML viewer of one episode of run `render_run`."""
  if not isinstance(episodes, int) or episodes < 1:
    raise ValueError(f"episodes must be a positive int, got {episodes!r}")
  loaded = loaded or load(workdir, step=step)
  if not 0 <= render_run < len(loaded.runs):
    raise ValueError(f"render_run must be in [0, {len(loaded.runs) - 1}], got {render_run}")
  _, evaluate_runs = _evaluator(dataclasses.replace(loaded.config, num_eval_envs=episodes))
  out = evaluate_runs(loaded.state, jax.random.key(seed))
  out = {k: np.asarray(v) for k, v in jax.device_get(out).items()}
  path = None
  if render is not None:
    path = render_episode(loaded.config, loaded.run_params(render_run), render, seed=seed)
  return EvalResult(runs=loaded.runs, step=loaded.step, episodes=episodes, mean=out["eval/episode_reward"],
                    std=out["eval/episode_reward_std"], length=out["eval/avg_episode_length"], render_path=path)


def render_episode(config: TrainConfig, params, path: str | os.PathLike, *, seed: int = 0,
                   deterministic: bool = True, max_steps: int | None = None, height: int = 480) -> str:
  """Rolls out one episode of the policy `params` = (obs_stats, policy_params) and writes Brax's HTML viewer
  (brax.io.html.render) to `path`. Needs a physics env (not "fast"). Returns the absolute path."""
  from wpgjax.rl import envs

  env = envs.make_env(config.env, backend=config.backend, episode_length=config.episode_length,
                      action_repeat=config.action_repeat)
  try:
    sys_ = env.sys
  except AttributeError:
    raise ValueError(f"env {config.env!r} has no physics system to render; --render needs a Brax physics env "
                     "such as inverted_pendulum") from None
  with contextlib.redirect_stdout(io.StringIO()):
    from brax.io import html
  policy = make_policy(config, action_size=env.action_size)(params, deterministic=deterministic)
  num_steps = -(-config.episode_length // config.action_repeat) if max_steps is None else int(max_steps)

  @jax.jit
  def rollout(key):
    key_reset, key_policy = jax.random.split(key)
    state = env.reset(key_reset[None])

    def body(carry, key_t):
      state = carry
      action, _ = policy(state.obs, key_t)
      state = env.step(state, action)
      return state, (state.pipeline_state, state.done)

    _, (pipeline_states, done) = jax.lax.scan(body, state, jax.random.split(key_policy, num_steps))
    return state.pipeline_state, pipeline_states, done

  first, pipeline_states, done = jax.device_get(rollout(jax.random.key(seed)))
  done = np.asarray(done)[:, 0]
  length = int(np.argmax(done > 0)) + 1 if np.any(done > 0) else num_steps
  states = [jax.tree.map(lambda x: x[0], first)]
  states += [jax.tree.map(lambda x, t=t: x[t, 0], pipeline_states) for t in range(length)]
  page = html.render(sys_, states, height=height, colab=False)
  path = os.path.abspath(os.fspath(path))
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    f.write(page)
  return path
