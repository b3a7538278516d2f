"""wpgjax — Wasserstein Policy Gradient for entropy-regularized RL in JAX.

- `wpgjax.core`: pure, unbatched WPG mathematics for one state (particle steps, soft values, entropy
  estimators, WPO/WPPG projections, diagnostics); re-exported here.
- `wpgjax.problems`: exact test problems (bandit, LQR, finite-state MDP) in float64.
- `wpgjax.rl`: the WPG actor-critic on Brax: `TrainConfig`, `presets`, `make_train`, `make_policy`, `sweep`.
"""

from wpgjax import core, problems, rl  # noqa: F401
from wpgjax.core import *  # noqa: F401,F403
from wpgjax.rl import (HyperParams, TrainConfig, TrainState, WPGConfig, make_policy, make_train,  # noqa: F401
                       make_trainer, presets, sweep, sweep_grid, with_overrides)

__version__ = "0.1.0"
