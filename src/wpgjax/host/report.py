"""Names and text for runs: run and grid-point labels, "mean ± std" cells, plain-text tables and the summary
table of a run's results."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["group_label", "seeds_label", "run_name", "pm", "format_table", "format_summary"]


def group_label(run: Mapping[str, Any]) -> str:
  """The grid point of a run ("tau=0.1 wpg.step_size=0.05"; "" without a grid)."""
  return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in run.items() if k != "seed")


def seeds_label(runs: Sequence[Mapping[str, Any]]) -> str:
  return "all seeds" if len(runs) > 1 else f"seed {runs[0]['seed']}"


def run_name(index: int, run: Mapping[str, Any]) -> str:
  """"run003_tau=0.1_seed2": the name of a run in plots, logs and TensorBoard."""
  label = group_label(run)
  return f"run{index:03d}_" + (label.replace(" ", "_") + "_" if label else "") + f"seed{run['seed']}"


def pm(values: np.ndarray) -> str:
  """"m ± s" over the values (just the value when there is one)."""
  values = np.asarray(values, dtype=float)
  if len(values) == 1:
    return f"{values[0]:.2f}"
  return f"{np.mean(values):.2f} ± {np.std(values):.2f}"


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
  """The lines of a left-aligned text table: header, a rule, then the rows."""
  widths = [max(len(h), *(len(row[j]) for row in rows)) for j, h in enumerate(header)]
  line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
  return [line(header), line(["-" * w for w in widths])] + [line(row) for row in rows]


def format_summary(runs: list[dict], metrics: Mapping[str, np.ndarray], *, walltime: float | None = None,
                   metric: str = "eval/episode_reward") -> str:
  """A table: per grid point, the final and best evaluation return (mean ± std over seeds)."""
  values = np.asarray(metrics.get(metric, np.zeros((len(runs), 0))), dtype=float)
  steps = np.asarray(metrics.get("env_steps", np.zeros((len(runs), 0))))
  if values.ndim != 2 or values.shape[1] == 0:
    return "no evaluations yet"
  labels = list(dict.fromkeys(group_label(r) or "all" for r in runs))
  header = ["grid point", "seeds", "final return", "best return", "at env step", "env steps"]
  table = []
  for label in labels:
    idx = [i for i, r in enumerate(runs) if (group_label(r) or "all") == label]
    final = values[idx, -1]
    mean_curve = np.nanmean(values[idx], axis=0) if np.isfinite(values[idx]).any() else values[idx][0]
    best = int(np.nanargmax(mean_curve)) if np.isfinite(mean_curve).any() else len(mean_curve) - 1
    table.append([label, str(len(idx)), pm(final), pm(values[idx, best]), str(int(steps[idx[0], best])),
                  str(int(steps[idx[0], -1]))])
  out = format_table(header, table)
  if walltime is not None:
    out.append(f"training wall time {walltime:.1f} s")
  return "\n".join(out)
