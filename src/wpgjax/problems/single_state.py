"""T1: what every single-state (bandit) problem shares (docs/theory.md §5), computed in float64.

With one state, Q^π(a) = r̃(a) + γV^π differs from the reward by a constant, so the Gibbs policy of every π is
the same law p ∝ exp(r̃/τ) (which is also the optimum π*), WPGD is exactly the unadjusted Langevin algorithm
(ULA) on the potential −r̃/τ, and

    V^π = (E_π[r̃] + τ H(π)) / (1 − γ),     V* = τ log Z / (1 − γ),  Z = ∫ exp(r̃/τ) da,
    V* − V^π = τ KL(π‖p) / (1 − γ),         (T*V^π − V^π) = τ log Z − (1 − γ)V^π = τ KL(π‖p),

and, P^π = 1 and p^π = p for every π, the resolvent identity reads (1 − γ)(V^{π'} − V^π) = τKL(π‖p) − τKL(π'‖p).
A subclass supplies log Z, V^π, KL(π‖p), I(π‖p), the exact-law step and the trace (see `single_state_trace`).
"""

from __future__ import annotations

import abc
import functools
from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp

from wpgjax._x64 import float64
from wpgjax.core import particles as particle_steps
from wpgjax.problems import base


class SingleStateProblem(base.ExactProblem):
  """A bandit: the `ExactProblem` methods that follow from one state (identities in the module docstring).

  Per-state methods return [...] for a batch [...] of policies (no state axis); traces have a state axis of 1.
  Actions are vectors of length `action_dim`.
  """
  action_dim: int

  @abc.abstractmethod
  def log_partition(self) -> chex.Array:
    """log Z = log ∫ exp(r̃/τ) da.  -> scalar."""

  @abc.abstractmethod
  def kl_to_gibbs(self, policy: Any) -> chex.Array:
    """KL(π‖p).  -> [...]."""

  @float64
  def optimal_value(self, states: Any = None) -> chex.Array:
    """V* = τ log Z / (1 − γ).  -> scalar."""
    base.check_no_states(self, states)
    return self.tau * self.log_partition() / (1.0 - self.gamma)

  @float64
  def kl_residual(self, policy: Any, states: Any = None) -> chex.Array:
    """The statewise residual τ KL(π‖p).  -> [...]."""
    base.check_no_states(self, states)
    return self.tau * self.kl_to_gibbs(policy)

  @float64
  def bellman_residual(self, policy: Any, states: Any = None) -> chex.Array:
    """T*V^π − V^π computed from values, not from the KL: T*V = τ log Z + γV, so it is τ log Z − (1 − γ)V^π."""
    base.check_no_states(self, states)
    return self.tau * self.log_partition() - (1.0 - self.gamma) * self.value(policy)

  @float64
  def state_gap(self, policy: Any, states: Any = None) -> chex.Array:
    """V* − V^π computed from the two values (compare with τ KL(π‖p) / (1 − γ)).  -> [...]."""
    base.check_no_states(self, states)
    return self.optimal_value() - self.value(policy)

  @float64
  def gap(self, policy: Any, states: Any = None) -> chex.Array:
    """|V* − V^π| (one state, so the sup-norm is the absolute value).  -> [...]."""
    return jnp.abs(self.state_gap(policy, states))

  def _particle_flow(self, key: chex.PRNGKey, particles: chex.Array, q_family: Callable[..., Callable],
                     q_params: tuple[Any, ...], *, step_size: chex.Numeric, num_steps: int, method: str,
                     return_trajectory: bool) -> base.ParticleTrace:
    """`particle_flow` on particles [N, d] (d = `action_dim`) after the shared checks; method and step size are
    checked by the caller."""
    particles = jnp.asarray(particles, jnp.float64)
    if particles.ndim != 2 or particles.shape[1] != self.action_dim:
      raise ValueError(f"particles must have shape [num_particles, {self.action_dim}], got {particles.shape}")
    moved = particle_flow(key, particles, tuple(jnp.asarray(x, jnp.float64) for x in q_params),
                          jnp.asarray(step_size, jnp.float64), jnp.asarray(self.tau, jnp.float64), q_family=q_family,
                          num_steps=base.check_num_steps(num_steps), method=method,
                          return_trajectory=bool(return_trajectory))
    return base.ParticleTrace(moved)

  @float64
  def resolvent_identity(self, policy: Any, new_policy: Any, states: Any = None) -> base.ResolventIdentity:
    """lhs = (1 − γ)(V^{π'} − V^π), rhs = τKL(π‖p) − τKL(π'‖p) (one state: P^π = 1, p^π = p).  Each [...]."""
    base.check_no_states(self, states)
    lhs = (1.0 - self.gamma) * (self.value(new_policy) - self.value(policy))
    return base.ResolventIdentity(lhs, self.kl_residual(policy) - self.kl_residual(new_policy))


def single_state_trace(policies: Any, values: chex.Array, optimal_value: chex.Array, log_partition: chex.Array,
                       kl_residual: chex.Array, fisher: chex.Array, edge_mass_lost: chex.Array,
                       lsi_lower_bound: chex.Numeric, tau: chex.Array, gamma: chex.Array,
                       aux: Any = None) -> base.WPGDTrace:
  """The WPGDTrace of a bandit run from its per-iterate values [K+1], τKL [K+1], I [K+1] and edge losses [K]
  (jit-able): V* − V^π, T*V − V = τ log Z − (1 − γ)V, g_k = τKL_k − τKL_{k+1}, lhs_k = (1 − γ)(V_{k+1} − V_k),
  each with a state axis of length 1."""
  state_gap = optimal_value - values
  column = lambda x: x[:, None]  # noqa: E731
  return base.WPGDTrace(
      policy=policies, value=column(values), state_gap=column(state_gap), gap=jnp.abs(state_gap),
      kl_residual=column(kl_residual), bellman_residual=column(tau * log_partition - (1.0 - gamma) * values),
      fisher_information=column(fisher), improvement=column(kl_residual[:-1] - kl_residual[1:]),
      resolvent_lhs=column((1.0 - gamma) * jnp.diff(values)), edge_mass_lost=column(edge_mass_lost),
      lsi_lower_bound=jnp.full(values.shape, lsi_lower_bound, values.dtype), aux=aux)


@functools.partial(jax.jit, static_argnames=("q_family", "num_steps", "method", "return_trajectory"))
def particle_flow(key: chex.PRNGKey, particles: chex.Array, q_params: tuple[chex.Array, ...],
                  step_size: chex.Array, tau: chex.Array, *, q_family: Callable[..., Callable[[chex.Array], chex.Array]],
                  num_steps: int, method: str, return_trajectory: bool) -> chex.Array:
  """jit-compiled `wpg_flow` on q_fn = q_family(*q_params) (parameters, step_size and tau traced, so instances
  and sweeps of the same shapes share one compilation)."""
  q_fn = q_family(*q_params)
  return particle_steps.wpg_flow(key, particles, q_fn, step_size=step_size, tau=tau, num_steps=num_steps,
                                 method=method, return_trajectory=return_trajectory)
