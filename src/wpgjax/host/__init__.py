"""wpgjax.host — everything around the pure trainer that runs on the host, imported on first use.

- `options`: `RunOptions`, the options of a run in one frozen, validated dataclass.
- `runner`: `run` — resolve (new or resumed), compile and start, the epoch loop, finish.
- `programs`: the compiled programs of a config (cached), and the restore template of a train state.
- `metrics_log`: metrics sinks (metrics.jsonl, metrics.csv, TensorBoard) and `read_metrics`.
- `checkpoint`: `Checkpointer` and the run info; codec, validation, integrity and version parts.
- `evaluation`: `load`, `evaluate`, `render_episode` of a saved run.
- `plotting`: `plot_learning_curves`; `console`: messages, progress bar, signals; `report`: names and tables;
  `results`: `RunResult` and the run's errors; `files`: atomic writes; `cli`: the `wpgjax` command.

The host package may import `wpgjax.rl` (and through it `core`); nothing outside `host` imports `host`, except
the lazy attributes of `wpgjax` itself (`wpgjax.run`, ...), listed in `PUBLIC`.
"""

import importlib

# Public name -> module of wpgjax.host that defines it (`wpgjax.<name>` and `wpgjax.host.<name>` load it lazily).
PUBLIC = {
    "run": "runner", "RunOptions": "options", "RunResult": "results", "TrainingDivergedError": "results",
    "RunExistsError": "results", "CheckpointError": "checkpoint", "load": "evaluation", "LoadedRun": "evaluation",
    "evaluate": "evaluation", "EvalResult": "evaluation", "render_episode": "evaluation",
    "read_metrics": "metrics_log", "format_summary": "report", "plot_learning_curves": "plotting",
}


def __getattr__(name: str):
  if name in PUBLIC:
    return getattr(importlib.import_module(f"wpgjax.host.{PUBLIC[name]}"), name)
  raise AttributeError(f"module 'wpgjax.host' has no attribute {name!r}")


def __dir__():
  return sorted(set(globals()) | set(PUBLIC))
