"""What a run returns (`RunResult`) and the errors a run raises (`TrainingDivergedError`, `RunExistsError`)."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import numpy as np

from wpgjax.host.report import format_summary
from wpgjax.rl.config import TrainConfig
from wpgjax.rl.train import policy_params

__all__ = ["RunResult", "TrainingDivergedError", "RunExistsError", "HasPolicyParams"]


class TrainingDivergedError(RuntimeError):
  """Training produced NaN/Inf. Attributes: metric, env_steps, evaluation, runs (indices), last_checkpoint."""

  def __init__(self, message: str, *, metric: str, env_steps: int, evaluation: int, runs: list[int],
               last_checkpoint: int | None):
    super().__init__(message)
    self.metric, self.env_steps, self.evaluation = metric, env_steps, evaluation
    self.runs, self.last_checkpoint = runs, last_checkpoint


class RunExistsError(FileExistsError):
  """The workdir already holds a run and neither resume nor overwrite was asked for."""


class HasPolicyParams:
  """`params` / `run_params(i)` of a result holding a train state stacked over runs (in `self.state`)."""

  @property
  def params(self):
    """`wpgjax.policy_params(state)` = (obs_stats, PolicyParams) stacked over runs, for make_policy."""
    return policy_params(self.state)

  def run_params(self, index: int):
    """(obs_stats, PolicyParams) of run `index`, for make_policy."""
    return jax.tree.map(lambda x: x[index], self.params)


@dataclasses.dataclass
class RunResult(HasPolicyParams):
  """What `run` returns.

  config, workdir, runs (one dict per run: seed and grid values), state (the final TrainState of all runs,
  stacked on a leading run axis), metrics ({name: array [runs, evaluations]}, Brax names + training/sps and
  training/walltime), make_policy (Brax-style factory: make_policy(params, deterministic)), params
  (`wpgjax.policy_params(state)`: (obs_stats, PolicyParams) stacked over runs; `run_params(i)` gives one run's), evals_done, interrupted
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

  def summary(self) -> str:
    return format_summary(self.runs, self.metrics, walltime=self.walltime)
