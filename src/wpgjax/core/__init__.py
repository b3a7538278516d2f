"""wpgjax.core — pure, unbatched WPG mathematics for ONE state (users vmap over states).

Modules: particles (WPGD/ULA, MALA, SVGD steps and flows), bounded (tanh change of variables), kernels,
soft_values (Gibbs log-partitions, soft values, soft TD targets), entropy (particle-cloud entropy estimators),
projections (WPO and WPPG losses), diagnostics (KL residual, Fisher information, KSD, PL ratio, rate fits).
"""

from wpgjax.core.bounded import *  # noqa: F401,F403
from wpgjax.core.diagnostics import *  # noqa: F401,F403
from wpgjax.core.entropy import *  # noqa: F401,F403
from wpgjax.core.kernels import *  # noqa: F401,F403
from wpgjax.core.particles import *  # noqa: F401,F403
from wpgjax.core.projections import *  # noqa: F401,F403
from wpgjax.core.soft_values import *  # noqa: F401,F403
