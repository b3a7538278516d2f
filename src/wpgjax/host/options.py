"""`RunOptions`: how `run` trains, saves, stops and reports — everything but the config and the workdir, in one
frozen dataclass validated when it is built (a bad value raises naming the field)."""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any, Callable, Mapping, Sequence

import numpy as np

__all__ = ["RunOptions", "NAN_GUARDS", "normalise_seeds"]

NAN_GUARDS = ("stop", "warn", "off")


@dataclasses.dataclass(frozen=True)
class RunOptions:
  """The options of `run` (each also a keyword argument of `run`).

  seeds: a number of seeds (0..n-1) or a list of seeds; None: [0] (or the saved seeds when resuming). Stored
    normalised, as a tuple of distinct ints in [0, 2**32).
  grid: {dotted hyperparameter: values} over SWEEPABLE_FIELDS, crossed with the seeds (sweep_grid order);
    None: no grid (or the saved grid when resuming). Stored as {key: [float, ...]}.
  resume: continue from the latest checkpoint in workdir; config/seeds/grid/save_replay, when given, must
    equal the saved ones (else CheckpointError listing the differences).
  overwrite: delete a previous run's files in workdir first (otherwise an existing run raises RunExistsError).
  progress_fn(env_steps, metrics): Brax-style hook after each evaluation; metrics values are floats for a
    single run and arrays [runs] for several. policy_params_fn(env_steps, make_policy, params): Brax-style
    hook with params = `wpgjax.policy_params(state)` (stacked over runs when there are several).
  keep_last, keep_best: checkpoints kept (most recent / highest mean evaluation return).
  checkpoint_every: save every this many evaluations (the last one, and any stop, always save).
  save_replay: store the replay buffer in checkpoints (None: True, or as saved when resuming). Without it a
    resumed run refills the buffer with random actions and is no longer bitwise identical to an uninterrupted one.
  nan_guard: "stop" (raise TrainingDivergedError at the first NaN/Inf metric or parameter, before saving),
    "warn" (report once and go on) or "off".
  stop_after_evals: stop (with a checkpoint) after this many evaluations in this call; time_limit: stop after
    the epoch that crosses this many seconds. Both leave a resumable run (result.interrupted is True).
  progress / plot / tensorboard / verbose / summary: the progress bar, PNG refresh, TensorBoard logs, messages
    and the final summary table (on stderr; `result.summary()` returns it).
  plot_interval: seconds between PNG refreshes during the run (after the first evaluation, then at most this
    often; the final plots are always written). Each refresh of the two PNGs cost about 1.6 s on a 2-core
    CPU (BENCHMARKS.md §11), as much as a short epoch.
  handle_signals: catch SIGINT/SIGTERM to checkpoint and stop cleanly (main thread only).
  devices: devices to shard the run axis over (None: all).
  distributed: False (this process only), True (join jax.distributed, auto-detecting the cluster) or a
    `wpgjax.DistributedSpec` (coordinator, process count and id, timeouts). Every process then calls `run` with
    the same arguments; the runs are sharded over all processes' devices; every process saves its own runs'
    shards of each checkpoint; process 0 alone writes metrics.jsonl/csv, summary.json and the plots; the
    hooks run on process 0; `result.metrics` is whole on every process.
  """
  seeds: int | Sequence[int] | None = None
  grid: Mapping[str, Sequence[float]] | None = None
  resume: bool = False
  overwrite: bool = False
  progress_fn: Callable[[int, dict], None] | None = None
  policy_params_fn: Callable[[int, Callable, Any], None] | None = None
  keep_last: int = 3
  keep_best: int = 1
  checkpoint_every: int = 1
  save_replay: bool | None = None
  nan_guard: str = "stop"
  stop_after_evals: int | None = None
  time_limit: float | None = None
  progress: bool = True
  plot: bool = True
  plot_interval: float = 30.0
  tensorboard: bool = True
  verbose: bool = True
  summary: bool = True
  handle_signals: bool = True
  devices: Sequence[Any] | None = None
  distributed: Any = False

  def __post_init__(self):
    from wpgjax.rl.distributed import DistributedSpec

    if self.distributed is True:
      object.__setattr__(self, "distributed", DistributedSpec())
    if self.distributed is not False and not isinstance(self.distributed, DistributedSpec):
      raise TypeError(f"distributed must be False, True or a DistributedSpec, got {self.distributed!r}")
    if self.distributed is not False and self.devices is not None:
      raise ValueError("devices must be None with distributed (the runs go to every process's devices)")
    if self.nan_guard not in NAN_GUARDS:
      raise ValueError(f"nan_guard must be 'stop', 'warn' or 'off', got {self.nan_guard!r}")
    for name in ("keep_last", "checkpoint_every"):
      value = getattr(self, name)
      if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not isinstance(self.keep_best, int) or self.keep_best < 0:
      raise ValueError(f"keep_best must be a non-negative int, got {self.keep_best!r}")
    if self.stop_after_evals is not None and (not isinstance(self.stop_after_evals, int) or self.stop_after_evals < 1):
      raise ValueError(f"stop_after_evals must be a positive int or None, got {self.stop_after_evals!r}")
    if not isinstance(self.plot_interval, numbers.Real) or isinstance(self.plot_interval, bool) or not (
        self.plot_interval >= 0):
      raise ValueError(f"plot_interval must be a number of seconds >= 0, got {self.plot_interval!r}")
    if self.time_limit is not None and (not isinstance(self.time_limit, numbers.Real)
                                        or isinstance(self.time_limit, bool)):
      raise TypeError(f"time_limit must be a number of seconds or None, got {self.time_limit!r}")
    for name in ("progress_fn", "policy_params_fn"):
      if getattr(self, name) is not None and not callable(getattr(self, name)):
        raise TypeError(f"{name} must be callable or None, got {getattr(self, name)!r}")
    if self.seeds is not None:
      object.__setattr__(self, "seeds", tuple(normalise_seeds(self.seeds)))
    if self.grid is not None:
      object.__setattr__(self, "grid", _normalise_grid(self.grid))
    if self.devices is not None:
      object.__setattr__(self, "devices", tuple(self.devices))


def normalise_seeds(seeds: int | Sequence[int]) -> list[int]:
  """A number of seeds n -> [0, ..., n-1]; a list of seeds -> list of ints (distinct, in [0, 2**32))."""
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


def _normalise_grid(grid: Mapping[str, Sequence[float]]) -> dict[str, list[float]]:
  if not isinstance(grid, Mapping):
    raise TypeError(f"grid must map hyperparameter names to lists of values, got {type(grid).__name__}")
  try:
    return {k: [float(v) for v in vs] for k, vs in grid.items()}
  except (TypeError, ValueError) as e:
    raise ValueError(f"grid values must be lists of numbers, got {dict(grid)!r} ({e})") from None
