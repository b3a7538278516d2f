"""wpgjax — Wasserstein Policy Gradient for entropy-regularized RL in JAX.

- `wpgjax.core`: pure, unbatched WPG mathematics for one state (particle steps, soft values, entropy
  estimators, WPO/WPPG projections, diagnostics); re-exported here.
- `wpgjax.problems`: exact test problems (bandit, LQR, finite-state MDP) in float64.
- `wpgjax.rl`: the actor-critic on Brax: `TrainConfig`, `presets`, `make_train`, `make_policy`, `policy_params`,
  `sweep` (one process, or many with `distributed=`); policy families in `wpgjax.rl.policies` (particle = the WPG particle law; tanh_gaussian = SAC's update).
- `wpgjax.envs`: environments that ship with wpgjax (registered with Brax's registry), e.g. multimodal_bandit.
- `wpgjax.host` (imported on first use): `run` (progress, logs, plots, checkpoints, resume), `RunOptions`,
  `evaluate`, `load`, `read_metrics`, `render_episode`, `plot_learning_curves`, and the `wpgjax` CLI.
"""

from wpgjax import core, problems, rl  # noqa: F401
from wpgjax.core import *  # noqa: F401,F403
from wpgjax.rl import (DistributedError, DistributedSpec, HyperParams, PolicyParams, TrainConfig, TrainState, WPGConfig, make_policy,  # noqa: F401
                       make_train, make_trainer, policy_params, presets, registered_env_names, sweep, sweep_grid,
                       with_overrides)

__version__ = "0.1.0"


def _host():
  import importlib

  return importlib.import_module("wpgjax.host")  # not `from wpgjax import host`: that would call __getattr__


def __getattr__(name: str):
  """The host-side API (`wpgjax.run`, `wpgjax.evaluate`, ...), imported on first use."""
  host = _host()
  if name in host.PUBLIC:
    value = getattr(host, name)
    globals()[name] = value
    return value
  raise AttributeError(f"module 'wpgjax' has no attribute {name!r}")


def __dir__():
  return sorted(set(globals()) | set(_host().PUBLIC))
