"""The metrics of a run on disk: one row per (evaluation, run), written to sinks (metrics.jsonl, the source of
truth; metrics.csv; TensorBoard), and read back as arrays per run (`read_metrics`, `metrics_from_rows`).

A new logger is one more sink: a class with `append(new_rows, all_rows)` and `close()`.
"""

from __future__ import annotations

import collections
import csv
import json
import math
import os
import sys
from typing import Any, Mapping, Sequence

import numpy as np

from wpgjax.host import checkpoint as ckpt
from wpgjax.host.files import read_jsonl
from wpgjax.host.report import group_label, run_name, seeds_label
from wpgjax.rl.config import SWEEPABLE_FIELDS

__all__ = ["MetricsLog", "read_metrics", "metrics_from_rows", "metrics_by_run"]


class _JsonlSink:
  """workdir/metrics.jsonl, rewritten with the kept rows at the start, then appended to."""

  def __init__(self, path: str, rows: list[dict]):
    self.path = path
    with open(path, "w") as f:
      for row in rows:
        f.write(json.dumps(row) + "\n")

  def append(self, new_rows: list[dict], all_rows: list[dict]) -> None:
    with open(self.path, "a") as f:
      for row in new_rows:
        f.write(json.dumps(row) + "\n")

  def close(self) -> None:
    pass


class _CsvSink:
  """workdir/metrics.csv, appended to (rewritten whole when a new column appears)."""

  def __init__(self, path: str, rows: list[dict]):
    self.path = path
    self._columns: list[str] | None = None
    self._rewrite(rows)

  def _rewrite(self, rows: list[dict]) -> None:
    if not rows:
      if os.path.exists(self.path):
        os.remove(self.path)
      return
    self._columns = list(dict.fromkeys(k for row in rows for k in row))
    with open(self.path, "w", newline="") as f:
      writer = csv.DictWriter(f, fieldnames=self._columns, extrasaction="ignore")
      writer.writeheader()
      writer.writerows(rows)

  def append(self, new_rows: list[dict], all_rows: list[dict]) -> None:
    if self._columns is None or any(k not in self._columns for row in new_rows for k in row):
      self._rewrite(all_rows)
    else:
      with open(self.path, "a", newline="") as f:
        csv.DictWriter(f, fieldnames=self._columns, extrasaction="ignore").writerows(new_rows)

  def close(self) -> None:
    pass


class _TensorBoardSink:
  """workdir/tensorboard/<run name>: the finite "group/name" metrics of each run against env steps."""

  def __init__(self, workdir: str, runs: list[dict], purge_step: int | None, own_runs: Sequence[int]):
    from tensorboardX import SummaryWriter

    self._writers = {i: SummaryWriter(os.path.join(workdir, "tensorboard", run_name(i, runs[i])),
                                      purge_step=purge_step, flush_secs=30) for i in own_runs}

  def append(self, new_rows: list[dict], all_rows: list[dict]) -> None:
    for row in new_rows:
      writer = self._writers.get(row["run"])
      if writer is None:
        continue
      for name, value in row.items():
        if "/" in name and math.isfinite(value):
          writer.add_scalar(name, value, row["env_steps"])

  def close(self) -> None:
    for writer in self._writers.values():
      writer.close()


class MetricsLog:
  """The rows of a run (`rows`), written to metrics.jsonl, metrics.csv and (optionally) TensorBoard.

  keep_evals: resuming, keep the rows up to this evaluation (later ones will be recomputed); None: a new run.
  combined: write metrics.jsonl and metrics.csv (all runs); own_runs: the runs whose TensorBoard logs this
  process writes (None: all). A multi-process run: process 0 writes the combined files, each process its own
  runs' TensorBoard logs; every process keeps all `rows`.
  """

  def __init__(self, workdir: str, runs: list[dict], *, tensorboard: bool, keep_evals: int | None,
               resume_env_steps: int = 0, combined: bool = True, own_runs: Sequence[int] | None = None):
    jsonl = os.path.join(workdir, "metrics.jsonl")
    self.runs = runs
    self.rows: list[dict] = []
    if keep_evals is not None and os.path.exists(jsonl):
      self.rows = [r for r in read_jsonl(jsonl) if r.get("eval", 0) <= keep_evals]
    self._sinks: list[Any] = []
    if combined:
      self._sinks += [_JsonlSink(jsonl, self.rows), _CsvSink(os.path.join(workdir, "metrics.csv"), self.rows)]
    if tensorboard:
      try:
        purge = resume_env_steps + 1 if keep_evals is not None else None
        own = range(len(runs)) if own_runs is None else own_runs
        self._sinks.append(_TensorBoardSink(workdir, runs, purge, own))
      except ImportError:  # pragma: no cover
        print("wpgjax: tensorboardX is not installed; TensorBoard logging is off", file=sys.stderr)

  def append(self, evaluation: int, metrics: Mapping[str, np.ndarray]) -> None:
    """Logs one evaluation: metrics {name: array [runs]}."""
    new_rows = []
    for i, run in enumerate(self.runs):
      row = {"eval": evaluation, "run": i, **run}
      for name, values in metrics.items():
        value = values[i].item()
        row[name] = int(value) if name == "env_steps" else float(value)
      new_rows.append(row)
    self.rows.extend(new_rows)
    for sink in self._sinks:
      sink.append(new_rows, self.rows)

  def close(self) -> None:
    for sink in self._sinks:
      sink.close()


def metrics_from_rows(rows: list[dict], num_runs: int) -> dict[str, np.ndarray]:
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


def metrics_by_run(rows: Sequence[Mapping[str, Any]], runs: Sequence[Mapping[str, Any]]
                   ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, str]]:
  """({run name: {metric: array over evaluations}}, {run name: grid-point label}) of the runs with rows."""
  by_run: dict[int, list] = collections.defaultdict(list)
  for row in rows:
    by_run[int(row["run"])].append(row)
  metrics, groups = {}, {}
  for i in sorted(by_run):
    name = run_name(i, runs[i])
    run_rows = sorted(by_run[i], key=lambda r: r["eval"])
    keys = [k for k in run_rows[0] if "/" in k or k == "env_steps"]
    metrics[name] = {k: np.asarray([r.get(k, np.nan) for r in run_rows], dtype=float) for k in keys}
    groups[name] = group_label(runs[i]) or seeds_label(runs)
  return metrics, groups


def read_metrics(workdir: str | os.PathLike) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, str], list[dict]]:
  """Reads workdir/metrics.jsonl into (metrics_by_run {run name: {metric: array over evaluations}},
  groups {run name: grid-point label}, runs) — the input of `plot_learning_curves`."""
  path = os.path.join(os.path.abspath(os.fspath(workdir)), "metrics.jsonl")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: no metrics logged in {workdir}")
  rows = read_jsonl(path)
  info_runs = None
  try:
    info_runs = ckpt.read_run_info(workdir, check_version=False).get("runs")
  except ckpt.CheckpointError:
    pass
  by_run: dict[int, dict] = {}
  for row in rows:
    by_run.setdefault(int(row["run"]), row)
  runs = info_runs or [{k: v for k, v in by_run[i].items() if k == "seed" or k in SWEEPABLE_FIELDS}
                       for i in sorted(by_run)]
  metrics, groups = metrics_by_run(rows, runs)
  return metrics, groups, runs
