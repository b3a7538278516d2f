"""The interface every exact problem implements (docs/theory.md §2, §5), and the trace of exact-law WPGD.

An exact problem knows, for every policy π in its own representation (a Gaussian, a log-density on a grid, a
linear-Gaussian gain and covariance), the quantities of the convergence proof in float64:

    V^π(s),  V*(s),  (V* − V^π)(s),  E = ‖V* − V^π‖_∞,
    τ KL(π(·|s) ‖ p_s^π) = (T*V^π − V^π)(s)                          (identity 1, two ways),
    (I − γP^{π'})(V^{π'} − V^π)(s) = τ[KL(π‖p^π) − KL(π'‖p^π)](s)     (identity 3, any pair π, π'),
    I(π(·|s) ‖ p_s^π)                                                 (relative Fisher information),

and runs exact-law WPGD (the law of infinitely many particles) from any π_0, returning a `WPGDTrace`.

Conventions shared by every problem (so `wpgjax.theory` needs no per-problem code):
  * every method computes in float64 (x64 enabled locally) and returns float64 jax arrays;
  * "states": the states at which state-dependent quantities are evaluated. Problems with finitely many states
    (`enumerable_states = True`: the bandits, one state; `FiniteMDP`, n states) evaluate at all of them and take
    `states=None` only; `LinearQuadratic` has R^n as state space and evaluates at given states x [..., n]
    (default the unit vectors e_1..e_n), so its sup-norms are maxima over those states;
  * per-state methods return [..., *S] for a batch [...] of policies (where the problem allows one) and the state
    shape *S: () for the bandits, (n,) for `FiniteMDP`, x.shape[:-1] for `LinearQuadratic`;
  * a `WPGDTrace` always has an explicit state axis: [K+1, n] with n = 1 for the bandits.
"""

from __future__ import annotations

__all__ = [
    'ExactProblem',
    'WPGDTrace',
    'ParticleTrace',
    'ResolventIdentity',
]

import abc
from typing import Any, ClassVar, NamedTuple

import chex
import numpy as np

from wpgjax import _validation


class ResolventIdentity(NamedTuple):
  """The two sides of (I − γP^{π'})(V^{π'} − V^π) = g, g(s) = τ[KL(π‖p_s^π) − KL(π'‖p_s^π)]; each [*S]."""
  lhs: chex.Array
  rhs: chex.Array


class WPGDTrace(NamedTuple):
  """Exact-law WPGD iterates k = 0..K (K = num_steps) and every per-iterate quantity of the proof, at n states.

  policy: the iterates π_0..π_K in the problem's representation, each leaf with a leading axis K+1
    (GaussianPolicy(mean [K+1, d], cov [K+1, d, d]); log-densities [K+1, G] or [K+1, n, G];
    LQPolicy(K [K+1, m, n], Sigma [K+1, m, m])).
  value [K+1, n]: V^{π_k}(s);  state_gap [K+1, n]: (V* − V^{π_k})(s);  gap [K+1]: E_k = max_s |V* − V^{π_k}|(s);
  kl_residual [K+1, n]: τ KL(π_k(·|s) ‖ p_s^{π_k});
  bellman_residual [K+1, n]: (T*V^{π_k} − V^{π_k})(s), from values only (identity 1: equals kl_residual);
  fisher_information [K+1, n]: I(π_k(·|s) ‖ p_s^{π_k}) (τ² I is the flow's dissipation);
  improvement [K, n]: g_k(s) = τ[KL(π_k‖p^{π_k}) − KL(π_{k+1}‖p^{π_k})];
  resolvent_lhs [K, n]: (I − γP^{π_{k+1}})(V^{π_{k+1}} − V^{π_k}) (identity 3: equals improvement);
  edge_mass_lost [K, n]: mass the k-th untruncated grid step put off the grid (renormalised back; 0 in closed form);
  lsi_lower_bound [K+1]: a certified log-Sobolev constant of the Gibbs policies p_s^{π_k}, min over states
    (NaN where the problem knows none);
  aux: problem-specific per-iterate extras (None, or a pytree documented by the problem).
  """
  policy: Any
  value: chex.Array
  state_gap: chex.Array
  gap: chex.Array
  kl_residual: chex.Array
  bellman_residual: chex.Array
  fisher_information: chex.Array
  improvement: chex.Array
  resolvent_lhs: chex.Array
  edge_mass_lost: chex.Array
  lsi_lower_bound: chex.Array
  aux: Any = None


class ParticleTrace(NamedTuple):
  """Particle WPGD (core particle steps, `wpgjax.core.particles`), iterates k = 0..K.

  particles: the last particles (shape as passed in), or all of them [K+1, ...] where the problem offers
    `return_trajectory`;
  policy: the policies π̂_k the problem estimates from the particles at each iterate (leading axis K+1), or None
    where it estimates none (the bandits: their exact law is known, compare the particles with it directly);
  value [K+1, n]: V^{π̂_k}(s), exact evaluation of the estimated policies (None without them);
  gap [K+1]: max_s |V* − V^{π̂_k}|(s) (None without them);
  kl_residual [K+1, n]: τ KL(π̂_k ‖ p^{π̂_k}) (None without them).
  """
  particles: chex.Array
  policy: Any = None
  value: chex.Array | None = None
  gap: chex.Array | None = None
  kl_residual: chex.Array | None = None


class ExactProblem(abc.ABC):
  """An entropy-regularized problem with exact answers: the interface `wpgjax.theory` works through.

  Attributes:
    name: a short identifier ("gaussian_bandit", "double_well_bandit", "lqr", "finite_mdp").
    enumerable_states: True if the problem evaluates at ALL its states, so that maxima over them are sup-norms
      (Bellman-contraction checks need that); False for `LinearQuadratic`.
    tau: temperature τ > 0.  gamma: discount γ ∈ (0, 1).
  """
  name: ClassVar[str]
  enumerable_states: ClassVar[bool] = True
  tau: float
  gamma: float

  # -- the optimum -------------------------------------------------------------------------------------------------

  @abc.abstractmethod
  def optimal_policy(self) -> Any:
    """π*, the fixed point of the Gibbs map (in the problem's policy representation)."""

  @abc.abstractmethod
  def optimal_value(self, states: Any = None) -> chex.Array:
    """V*(s) at the states.  -> [*S]."""

  # -- one policy --------------------------------------------------------------------------------------------------

  @abc.abstractmethod
  def value(self, policy: Any, states: Any = None) -> chex.Array:
    """V^π(s), the exact soft value.  -> [..., *S]."""

  def state_gap(self, policy: Any, states: Any = None) -> chex.Array:
    """(V* − V^π)(s) from the two values.  -> [..., *S]."""
    return self.optimal_value(states) - self.value(policy, states)

  @abc.abstractmethod
  def gap(self, policy: Any, states: Any = None) -> chex.Array:
    """E = max_s |V* − V^π|(s) (the sup-norm where `enumerable_states`).  -> [...]."""

  @abc.abstractmethod
  def kl_residual(self, policy: Any, states: Any = None) -> chex.Array:
    """τ KL(π(·|s) ‖ p_s^π), p^π ∝ exp(Q^π/τ) the Gibbs policy of π.  -> [..., *S]."""

  @abc.abstractmethod
  def bellman_residual(self, policy: Any, states: Any = None) -> chex.Array:
    """(T*V^π − V^π)(s), from values only (identity 1: equals `kl_residual`).  -> [..., *S]."""

  @abc.abstractmethod
  def relative_fisher_information(self, policy: Any, states: Any = None) -> chex.Array:
    """I(π(·|s) ‖ p_s^π) = E_π‖∇_a log π − ∇_a Q^π/τ‖².  -> [..., *S]."""

  @abc.abstractmethod
  def resolvent_identity(self, policy: Any, new_policy: Any, states: Any = None) -> ResolventIdentity:
    """Both sides of (I − γP^{π'})(V^{π'} − V^π) = τ[KL(π‖p^π) − KL(π'‖p^π)] for ANY pair π, π' = new_policy."""

  # -- WPGD --------------------------------------------------------------------------------------------------------

  @abc.abstractmethod
  def wpgd_step(self, policy: Any, step_size: chex.Numeric) -> tuple[Any, chex.Array]:
    """One exact-law WPGD step.  -> (π_{k+1}, edge_mass_lost (0 for closed-form problems))."""

  @abc.abstractmethod
  def exact_wpgd(self, policy: Any, *, step_size: chex.Numeric, num_steps: int, states: Any = None) -> WPGDTrace:
    """`num_steps` exact-law WPGD steps from π_0 = policy (the problem checks its stability bounds, ValueError)."""

  @abc.abstractmethod
  def particle_wpgd(self, key: chex.PRNGKey, particles: chex.Array, *, step_size: chex.Numeric, num_steps: int,
                    method: str = "ula", **options: Any) -> ParticleTrace:
    """`num_steps` core particle steps (method "ula" | "mala" | "svgd") from the given particles."""

  @abc.abstractmethod
  def reference_floor(self, step_size: chex.Numeric) -> chex.Array:
    """The exact stationary gap E_∞(η) of exact-law WPGD at this step size, NaN where the problem knows none."""


# ------------------------------------------------------------------------------------------------ shared checks


def check_num_steps(num_steps: Any, name: str = "num_steps") -> int:
  """A non-negative int (ValueError otherwise)."""
  if not isinstance(num_steps, (int, np.integer)) or isinstance(num_steps, bool) or num_steps < 0:
    raise ValueError(f"{name} must be a non-negative int, got {num_steps!r}")
  return int(num_steps)


def check_discount(gamma: float) -> None:
  _validation.check_in_range("gamma", gamma, 0.0, 1.0)


def check_no_states(problem: ExactProblem, states: Any) -> None:
  """Problems with enumerable states evaluate at all of them: `states` must be None."""
  if states is not None:
    raise ValueError(f"states is only used with problems whose state space is continuous (LinearQuadratic); "
                     f"{type(problem).__name__} evaluates at all of its states (pass states=None)")
