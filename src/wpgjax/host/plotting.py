"""Learning curves (mean and spread over seeds) from logged metrics, as a PNG or into given axes.

Host code only. Uses matplotlib's object API with the Agg canvas (no pyplot, no GUI backend, safe in scripts,
threads and CI); pass `axes=` from `plt.subplots` to draw into a notebook figure instead. `write_run_plots`
refreshes a run's learning_curve.png and diagnostics.png from its logged rows.
"""

from __future__ import annotations

import math
import os
from typing import Any, Mapping, Sequence

import numpy as np

from wpgjax.host.files import atomic_path

__all__ = ["plot_learning_curves", "write_run_plots", "METRIC_LABELS", "DIAGNOSTIC_METRICS"]

METRIC_LABELS = {
    "eval/episode_reward": "evaluation return",
    "eval/avg_episode_length": "episode length",
    "training/critic_loss": "critic loss",
    "training/actor_loss": "actor loss",
    "training/tau": "temperature τ",
    "training/entropy": "policy entropy",
    "training/sps": "env steps / s",
    "wpg/kl_residual": "KL residual (critic-based)",
    "wpg/fisher": "relative Fisher information",
    "wpg/ksd": "kernel Stein discrepancy² (unbiased)",
}
DIAGNOSTIC_METRICS = ("training/tau", "training/entropy", "wpg/kl_residual", "wpg/fisher", "wpg/ksd",
                      "training/critic_loss")

_SPREADS = ("std", "sem", "minmax", "none")


def plot_learning_curves(metrics_by_run: Mapping[str, Mapping[str, Sequence[float]]],
                         path: str | os.PathLike | None = None, *,
                         metrics: Sequence[str] = ("eval/episode_reward",), x: str = "env_steps",
                         groups: Mapping[str, str] | None = None, spread: str = "std",
                         individual: bool = True, title: str | None = None, log_scale: Sequence[str] = (),
                         axes: Any = None, ncols: int = 3, dpi: int = 110):
  """Plots `metrics` against `x`, one panel per metric, one curve (mean over its runs ± spread) per group.

  metrics_by_run: run name -> {metric name -> values per evaluation} (each run must have `x`).
  groups: run name -> group label (runs with the same label, e.g. the seeds of one grid point, are averaged);
    default: all runs form one group.
  spread: "std" (mean ± one standard deviation over runs), "sem" (± standard error), "minmax" (range) or
    "none". individual: also draw each run as a thin line. log_scale: metrics drawn on a log y-axis.
  path: if given, the figure is written there as PNG atomically (a viewer never sees a partial file).
  axes: a matplotlib Axes (or a sequence, one per metric) to draw into instead of a new figure.
  Returns the matplotlib Figure.
  """
  if spread not in _SPREADS:
    raise ValueError(f"spread must be one of {list(_SPREADS)}, got {spread!r}")
  if not metrics:
    raise ValueError("metrics must name at least one metric")
  runs = list(metrics_by_run)
  groups = {run: (groups or {}).get(run, "all runs") for run in runs} if groups else {run: "" for run in runs}
  group_order = list(dict.fromkeys(groups[r] for r in runs))
  fig, axes_list = _figure(axes, len(metrics), ncols, dpi)
  for ax, metric in zip(axes_list, metrics):
    for index, group in enumerate(group_order):
      members = [r for r in runs if groups[r] == group and metric in metrics_by_run[r]
                 and x in metrics_by_run[r]]
      _plot_group(ax, metrics_by_run, members, metric, x, group, f"C{index % 10}", spread, individual)
    _decorate(ax, metrics_by_run, runs, metric, x, log_scale)
  if title and axes is None:
    fig.suptitle(title, fontsize=10)
  if path is not None:
    with atomic_path(path, ".png") as tmp:
      fig.savefig(tmp, format="png")
  return fig


def _figure(axes: Any, num_metrics: int, ncols: int, dpi: int):
  """(figure, one Axes per metric): a new Agg figure, or the figure of the given axes."""
  if axes is None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ncols = max(1, min(ncols, num_metrics))
    nrows = math.ceil(num_metrics / ncols)
    fig = Figure(figsize=(4.6 * ncols, 3.4 * nrows), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, [fig.add_subplot(nrows, ncols, i + 1) for i in range(num_metrics)]
  axes_list = list(axes) if isinstance(axes, (list, tuple, np.ndarray)) else [axes]
  axes_list = list(np.ravel(np.asarray(axes_list, dtype=object)))
  if len(axes_list) < num_metrics:
    raise ValueError(f"got {len(axes_list)} axes for {num_metrics} metrics")
  return axes_list[0].figure, axes_list


def _plot_group(ax, metrics_by_run, members: list[str], metric: str, x: str, group: str, color: str,
                spread: str, individual: bool) -> None:
  """One group's curve: its runs' mean, the spread band and (optionally) each run as a thin line."""
  if not members:
    return
  length = min(len(metrics_by_run[r][metric]) for r in members)
  if length == 0:
    return
  xs = np.asarray(metrics_by_run[members[0]][x], dtype=float)[:length]
  ys = np.stack([np.asarray(metrics_by_run[r][metric], dtype=float)[:length] for r in members])
  if individual and len(members) > 1:
    for row in ys:
      ax.plot(xs, row, color=color, alpha=0.25, linewidth=0.8)
  with np.errstate(invalid="ignore"):
    mean = np.nanmean(ys, axis=0) if np.isfinite(ys).any() else ys[0]
    if len(members) > 1 and spread != "none":
      if spread == "minmax":
        low, high = np.nanmin(ys, axis=0), np.nanmax(ys, axis=0)
      else:
        half = np.nanstd(ys, axis=0) / (np.sqrt(len(members)) if spread == "sem" else 1.0)
        low, high = mean - half, mean + half
      ax.fill_between(xs, low, high, color=color, alpha=0.2, linewidth=0)
  label = group or None
  if len(members) > 1:
    label = f"{group + ' ' if group else ''}(mean of {len(members)})"
  ax.plot(xs, mean, color=color, linewidth=1.8, marker="o" if length <= 12 else None, markersize=3, label=label)


def _decorate(ax, metrics_by_run, runs: list[str], metric: str, x: str, log_scale: Sequence[str]) -> None:
  """Labels, title, scale, grid and legend of one metric's panel."""
  ax.set_xlabel("env steps" if x == "env_steps" else x)
  ax.set_ylabel(METRIC_LABELS.get(metric, metric))
  ax.set_title(metric, fontsize=9)
  if metric in log_scale:
    _log_scale(ax, [np.asarray(metrics_by_run[r][metric], dtype=float) for r in runs if metric in metrics_by_run[r]])
  ax.grid(alpha=0.3)
  if any(line.get_label() and not line.get_label().startswith("_") for line in ax.get_lines()):
    ax.legend(fontsize=7)


def _log_scale(ax, series: list[np.ndarray]) -> None:
  """A log y-axis, or a symmetric-log one when some values are <= 0 (e.g. an unbiased KSD² estimate)."""
  values = np.concatenate([v[np.isfinite(v)] for v in series]) if series else np.zeros(0)
  if values.size == 0 or np.all(values > 0):
    ax.set_yscale("log")
  else:
    nonzero = np.abs(values[values != 0])
    ax.set_yscale("symlog", linthresh=float(np.min(nonzero)) if nonzero.size else 1.0)


def write_run_plots(workdir: str, rows: list[dict], runs: list[dict], title: str) -> None:
  """Refreshes workdir/learning_curve.png and workdir/diagnostics.png from a run's logged rows."""
  from wpgjax.host.metrics_log import metrics_by_run

  by_run, groups = metrics_by_run(rows, runs)
  if not by_run:
    return
  plot_learning_curves(by_run, os.path.join(workdir, "learning_curve.png"), groups=groups, title=title)
  plot_learning_curves(by_run, os.path.join(workdir, "diagnostics.png"), metrics=DIAGNOSTIC_METRICS,
                       groups=groups, title=title + " — WPG diagnostics",
                       log_scale=("wpg/kl_residual", "wpg/fisher", "wpg/ksd", "training/critic_loss"))
