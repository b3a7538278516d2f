"""Policy families (one module each) and the registry that builds one from a TrainConfig.

- "tanh_gaussian" (`gaussian.TanhGaussianPolicy`): a diagonal Gaussian squashed by tanh; with the default WPO
  projection it is SAC's actor update in expectation (docs/theory.md §4).
- "pushforward" (`pushforward.PushforwardPolicy`): an implicit sampler g_θ(s, z) trained by WPPG.
"""

from __future__ import annotations

from typing import Any, Callable

from wpgjax.rl.policies.base import *  # noqa: F401,F403
from wpgjax.rl.policies.gaussian import TanhGaussianPolicy
from wpgjax.rl.policies.pushforward import PushforwardPolicy

__all__ = ["POLICY_FAMILIES", "make_policy_family", "TanhGaussianPolicy", "PushforwardPolicy", "PolicySamples",
           "PolicyFamily"]

# config.policy -> factory(config, action_size). A new family is a new module plus one line here.
POLICY_FAMILIES: dict[str, Callable[[Any, int], Any]] = {
    "tanh_gaussian": lambda config, action_size: TanhGaussianPolicy(action_size, config.hidden_sizes),
    "pushforward": lambda config, action_size: PushforwardPolicy(
        action_size, config.hidden_sizes, config.latent_size, config.wpg.num_action_samples,
        config.entropy_estimator),
}


def make_policy_family(config: Any, action_size: int):
  """The policy family named by config.policy (one of POLICY_FAMILIES) for `action_size` actions."""
  return POLICY_FAMILIES[config.policy](config, action_size)
