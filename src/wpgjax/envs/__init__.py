"""Environments that ship with wpgjax, registered with Brax's registry on import (so every wpgjax path —
TrainConfig(env=NAME), the runner, the CLI — finds them like Brax's own):

- "multimodal_bandit" (`multimodal.MultimodalBandit`): one step, a 2-D action, a reward with several
  separated peaks, and the exact optimal (Gibbs) policy on a grid: where a particle policy and a Gaussian one
  part ways.
"""

from wpgjax.envs.multimodal import *  # noqa: F401,F403
