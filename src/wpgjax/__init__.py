"""wpgjax — Wasserstein Policy Gradient for entropy-regularized RL in JAX.

- `wpgjax.core`: pure, unbatched WPG mathematics for one state (particle steps, soft values, entropy
  estimators, WPO/WPPG projections, diagnostics); re-exported here.
- `wpgjax.problems`: exact test problems (bandit, LQR, finite-state MDP) in float64.
- `wpgjax.rl`: the WPG actor-critic on Brax: `TrainConfig`, `presets`, `make_train`, `make_policy`, `sweep`.
- host side: `run` (progress, logs, plots, checkpoints, resume), `evaluate`, `load`, and the `wpgjax` CLI.
"""

from wpgjax import core, problems, rl  # noqa: F401
from wpgjax.core import *  # noqa: F401,F403
from wpgjax.rl import (HyperParams, TrainConfig, TrainState, WPGConfig, make_policy, make_train,  # noqa: F401
                       make_trainer, presets, sweep, sweep_grid, with_overrides)

from wpgjax.checkpoint import CheckpointError  # noqa: E402,F401
from wpgjax.plotting import plot_learning_curves  # noqa: E402,F401
from wpgjax.runner import (RunResult, TrainingDivergedError, evaluate, load, read_metrics,  # noqa: E402,F401
                           render_episode, run)

__version__ = "0.1.0"
