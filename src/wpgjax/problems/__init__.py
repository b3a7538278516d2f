"""wpgjax.problems — test problems with exact answers (THEORY.md §5), computed in float64.

T1 bandit (Gaussian closed form, double well by quadrature), T2 entropy-regularized LQR, T3 finite-state
continuous-action MDP on a quadrature grid.
"""

from wpgjax.problems.bandit import *  # noqa: F401,F403
from wpgjax.problems.finite_mdp import *  # noqa: F401,F403
from wpgjax.problems.lqr import *  # noqa: F401,F403
