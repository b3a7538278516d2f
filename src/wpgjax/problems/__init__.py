"""wpgjax.problems — test problems with exact answers (docs/theory.md §5), computed in float64.

One interface (`base.ExactProblem`, its `WPGDTrace`, `ParticleTrace`, `ResolventIdentity`) and four problems:
T1 bandits (`GaussianBandit` closed form, `DoubleWellBandit` by quadrature; shared single-state identities in
`single_state`), T2 entropy-regularized LQR (`LinearQuadratic`), T3 finite-state continuous-action MDP on a
quadrature grid (`FiniteMDP`). `grid` holds the quadrature shared by the grid problems.
"""

from wpgjax.problems.base import *  # noqa: F401,F403
from wpgjax.problems.double_well import *  # noqa: F401,F403
from wpgjax.problems.finite_mdp import *  # noqa: F401,F403
from wpgjax.problems.gaussian_bandit import *  # noqa: F401,F403
from wpgjax.problems.lqr import *  # noqa: F401,F403

EXACT_PROBLEMS = (GaussianBandit, DoubleWellBandit, LinearQuadratic, FiniteMDP)  # noqa: F405
