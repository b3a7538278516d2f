"""wpgjax — Wasserstein Policy Gradient for entropy-regularized RL in JAX."""

from wpgjax import core, problems  # noqa: F401
from wpgjax.core import *  # noqa: F401,F403

__version__ = "0.1.0"
