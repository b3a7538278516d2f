"""Policy families (one module each) and the registry that builds one from a TrainConfig.

- "tanh_gaussian" (`gaussian.TanhGaussianPolicy`): a diagonal Gaussian squashed by tanh. With the default
  entropy-regularized natural-gradient WPO projection its actor update is SAC's in expectation
  (docs/theory.md §4): a fast baseline, not the particle law of the WPG theorem.
- "pushforward" (`pushforward.PushforwardPolicy`): an implicit sampler g_θ(s, z) trained by WPPG direction
  matching with the SVGD move.
- "particle" (`particle.ParticlePolicy`): the WPG particle law: a generator proposal followed by K ULA/MALA
  steps on the critic; the critic evaluates that executed law.
"""

from __future__ import annotations

from wpgjax.rl.policies.base import *  # noqa: F401,F403
from wpgjax.rl.policies.gaussian import TanhGaussianPolicy
from wpgjax.rl.policies.particle import ParticlePolicy
from wpgjax.rl.policies.pushforward import PushforwardPolicy

__all__ = ["POLICY_FAMILIES", "make_policy_family", "TanhGaussianPolicy", "PushforwardPolicy", "ParticlePolicy",
           "PolicyParams", "PolicySamples", "PolicyFamily"]

# config.policy -> family class (with from_config, has_density, default_refine_steps). A new family is a new
# module plus one line here.
POLICY_FAMILIES = {
    "tanh_gaussian": TanhGaussianPolicy,
    "pushforward": PushforwardPolicy,
    "particle": ParticlePolicy,
}


def make_policy_family(config, action_size: int):
  """The policy family named by config.policy (a key of POLICY_FAMILIES) for `action_size` actions."""
  return POLICY_FAMILIES[config.policy].from_config(config, action_size)
