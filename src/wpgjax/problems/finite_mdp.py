"""T3: finite states, continuous 1-D actions on a quadrature grid (docs/theory.md §5), computed in float64.

States S = {0..n−1}, actions a ∈ R, discount γ, temperature τ, and

    r(s, a)     = c_s sin(ωa + φ_s) − βa²/2,
    p(s'|s, a)  = softmax_{s'}(w_{ss'} a + b_{ss'}),
    ∂_a r       = c_s ω cos(ωa + φ_s) − βa,
    ∂_a p(s'|s,a) = p(s'|s,a) (w_{ss'} − Σ_{s''} p(s''|s,a) w_{ss''}).

Quadrature. Actions live on the uniform grid a_i = −L + iΔa, i = 0..G−1 (L = 8 is wide for β = 1, τ <= 1), and
EVERY integral is the same rule ∫ f da ≈ Σ_i f(a_i) Δa: policy normalisation, r^π, P^π, entropies, KLs and the
log-partition in T*. With one rule the three identities of docs/theory.md §2 hold on the grid to rounding error
(the grid problem is itself an MDP with n states and G actions weighted by Δa), so tests can ask for 1e-10:

    V^π = (I − γP^π)^{-1} r^π,  r^π(s) = Σ_i π(a_i|s)Δa [r(s,a_i) − τ log π(a_i|s)],  P^π(s,s') = Σ_i π Δa p(s'|s,a_i),
    Q_V(s, a) = r(s, a) + γ Σ_{s'} p(s'|s, a) V(s'),   T*V(s) = τ log Σ_i exp(Q_V(s,a_i)/τ) Δa,
    p_s^π(a) = exp(Q^π(s,a)/τ) / Z_s,   (T*V^π − V^π)(s) = τ KL(π(·|s) ‖ p_s^π),
    (I − γP^{π'})(V^{π'} − V^π) = τ[KL(π‖p^π) − KL(π'‖p^π)]   for ANY pair π, π'.

Policies are log-densities on the grid, shape [n, G], normalised by the rule: Σ_i exp(log π(a_i|s)) Δa = 1.
Q_V(s, ·) is analytic in a for a given V (r and p are), so it can be evaluated at off-grid particles.

Exact-law WPGD on the grid (the algorithm with infinitely many particles):
    π_{k+1}(a_j|s) = Σ_i π_k(a_i|s) Δa N(a_j; a_i + η ∂_aQ^{π_k}(s, a_i), 2τη),
a Gaussian-kernel Markov matrix per state (rows renormalised: the mass a step puts off the grid is returned
along the same kernel and reported as `edge_mass_lost`).

Particle WPGD: N particles per state are moved by the core `wpg_step` on q_fn = Q^{π̂_k}(s, ·), where π̂_k is the
Gaussian KDE of the current particles on the grid and Q^{π̂_k} its EXACT soft Q. This makes the particle
algorithm's only approximation the finite-particle (KDE) estimate of the policy, so its distance to the exact
law shrinks as N grows (KDE bias O(h²) and variance O(1/(Nh)), Silverman bandwidth h ∝ N^{−1/5}).
"""

from __future__ import annotations

from __future__ import annotations

__all__ = [
    'FiniteMDPParams',
    'SoftValueIterationResult',
    'FiniteMDP',
]

from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np

from wpgjax import _validation
from wpgjax._x64 import float64
from wpgjax.core import particles as particle_steps
from wpgjax.problems import base, grid as grid_lib
from wpgjax.problems._finite_mdp_math import (FiniteMDPParams, SoftValueIterationResult, _diagnostics,
                                              _evaluate, _exact_wpgd_scan, _gibbs_log_policy, _grid_actions,
                                              _kde_log_policy, _particle_wpgd_scan, _policy_reward_and_transition,
                                              _q_at, _q_grad_at, _random_log_policy, _resolvent_identity,
                                              _reward_at, _reward_grad_at, _silverman_bandwidth, _soft_bellman,
                                              _soft_value_iteration, _state_q_fn, _transition_at, _wpgd_step)


class FiniteMDP(base.ExactProblem):
  """A T3 instance: n states, 1-D actions on a uniform quadrature grid (see the module docstring).

  All methods compute in float64 (x64 enabled locally) and return float64 arrays; heavy loops are jit-compiled
  functions of `params` (a FiniteMDPParams pytree), so instances of the same shapes share compilations.

  Args:
    reward_amplitude: c [n].
    reward_phase: φ [n].
    transition_weight: w [n, n] (row s: the logit slopes of p(·|s, a)).
    transition_bias: b [n, n].
    tau: temperature τ > 0.
    gamma: discount γ ∈ (0, 1).
    omega: reward frequency ω (default 1).
    beta: action penalty β > 0 (default 1); makes the Gibbs policies integrable and LSI.
    grid_size: G (default 161).
    grid_halfwidth: L (default 8.0: for β = 1, τ <= 1 the Gibbs tails at |a| = L are below e^{−30}).

  Policies are log-densities log π(a_i|s) on the grid, [n, G]. Implements `ExactProblem` (all n states are
  evaluated: `states` must be None).
  """
  name = "finite_mdp"

  def __init__(self, reward_amplitude: chex.Array, reward_phase: chex.Array, transition_weight: chex.Array,
               transition_bias: chex.Array, *, tau: float, gamma: float, omega: float = 1.0, beta: float = 1.0,
               grid_size: int = 161, grid_halfwidth: float = 8.0):
    amplitude = np.asarray(reward_amplitude, np.float64)
    phase = np.asarray(reward_phase, np.float64)
    weight = np.asarray(transition_weight, np.float64)
    bias = np.asarray(transition_bias, np.float64)
    _validation.check_rank("reward_amplitude", amplitude, 1, "[num_states]")
    n = amplitude.shape[0]
    if n < 1:
      raise ValueError("reward_amplitude must have at least one state")
    if phase.shape != (n,):
      raise ValueError(f"reward_phase must have shape [num_states] = {(n,)}, got {phase.shape}")
    if weight.shape != (n, n):
      raise ValueError(f"transition_weight must have shape [num_states, num_states] = {(n, n)}, got {weight.shape}")
    if bias.shape != (n, n):
      raise ValueError(f"transition_bias must have shape [num_states, num_states] = {(n, n)}, got {bias.shape}")
    for name, arr in (("reward_amplitude", amplitude), ("reward_phase", phase), ("transition_weight", weight),
                      ("transition_bias", bias)):
      if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    _validation.check_positive("tau", tau)
    base.check_discount(gamma)
    _validation.check_positive("beta", beta)
    if not np.isfinite(omega):
      raise ValueError(f"omega must be finite, got {omega!r}")
    grid, spacing = grid_lib.uniform_grid(grid_halfwidth, grid_size)
    self.num_states = n
    self.tau = float(tau)
    self.gamma = float(gamma)
    self.beta = float(beta)
    self.omega = float(omega)
    self.grid = grid
    self.grid_spacing = spacing
    self._arrays = dict(reward_amplitude=amplitude, reward_phase=phase, omega=np.float64(omega),
                        beta=np.float64(beta), transition_weight=weight, transition_bias=bias, tau=np.float64(tau),
                        gamma=np.float64(gamma), grid=grid, grid_spacing=np.float64(spacing))
    self._optimum: SoftValueIterationResult | None = None

  @classmethod
  def random(cls, key: chex.PRNGKey, num_states: int, *, tau: float = 0.5, gamma: float = 0.9, omega: float = 1.0,
             beta: float = 1.0, amplitude: float = 1.0, transition_scale: float = 1.0, grid_size: int = 161,
             grid_halfwidth: float = 8.0) -> FiniteMDP:
    """A random instance: c_s ∼ U(0, amplitude), φ_s ∼ U(0, 2π), w_{ss'} ∼ N(0, transition_scale²),
    b_{ss'} ∼ N(0, 1). Same key, same instance."""
    if not isinstance(num_states, (int, np.integer)) or isinstance(num_states, bool) or num_states < 1:
      raise ValueError(f"num_states must be a positive int, got {num_states!r}")
    _validation.check_in_range("amplitude", amplitude, 0.0, np.inf, closed="low")
    _validation.check_in_range("transition_scale", transition_scale, 0.0, np.inf, closed="low")
    k_amp, k_phase, k_weight, k_bias = jax.random.split(key, 4)
    with jax.enable_x64(True):
      amp = amplitude * jax.random.uniform(k_amp, (num_states,), jnp.float64)
      phase = 2.0 * jnp.pi * jax.random.uniform(k_phase, (num_states,), jnp.float64)
      weight = transition_scale * jax.random.normal(k_weight, (num_states, num_states), jnp.float64)
      bias = jax.random.normal(k_bias, (num_states, num_states), jnp.float64)
      arrays = [np.asarray(x) for x in (amp, phase, weight, bias)]
    return cls(*arrays, tau=tau, gamma=gamma, omega=omega, beta=beta, grid_size=grid_size,
               grid_halfwidth=grid_halfwidth)

  @property
  def params(self) -> FiniteMDPParams:
    """The instance as a FiniteMDPParams of float64 jax arrays (for the module's jit-compiled pure functions;
    operate on them under `jax.enable_x64(True)`)."""
    with jax.enable_x64(True):
      return FiniteMDPParams(**{k: jnp.asarray(v, jnp.float64) for k, v in self._arrays.items()})

  # -- input checks ------------------------------------------------------------------------------------------------

  def _check_log_policy(self, log_policy: chex.Array, name: str = "log_policy") -> chex.Array:
    log_policy = jnp.asarray(log_policy, jnp.float64)
    expected = (self.num_states, self.grid.shape[0])
    if log_policy.shape != expected:
      raise ValueError(f"{name} must have shape [num_states, grid_size] = {expected}, got {log_policy.shape}")
    return log_policy

  def _check_value(self, value: chex.Array) -> chex.Array:
    value = jnp.asarray(value, jnp.float64)
    if value.shape != (self.num_states,):
      raise ValueError(f"value must have shape [num_states] = {(self.num_states,)}, got {value.shape}")
    return value

  def _check_actions(self, actions: chex.Array) -> chex.Array:
    actions = jnp.asarray(actions, jnp.float64)
    if actions.ndim != 2 or actions.shape[0] != self.num_states:
      raise ValueError(f"actions must have shape [num_states={self.num_states}, num_actions], got {actions.shape}")
    return actions

  @property
  def max_stable_step_size(self) -> float:
    """2/β: WPGD diverges beyond it (the drift −βa of the action penalty makes a ↦ (1 − ηβ)a expanding)."""
    return 2.0 / self.beta

  def _check_step_size(self, step_size: chex.Numeric) -> None:
    _validation.check_positive("step_size", step_size)
    if _validation.is_concrete(step_size) and float(step_size) * self.beta >= 2.0:
      raise ValueError(f"step_size must satisfy step_size * beta < 2 for WPGD to be stable, i.e. step_size < "
                       f"{self.max_stable_step_size:.6g}; got step_size={float(step_size)!r}")

  # -- model -------------------------------------------------------------------------------------------------------

  @float64
  def reward(self, actions: chex.Array) -> chex.Array:
    """r(s, a).  actions [n, M] (a row per state) -> [n, M]."""
    return _reward_at(self.params, self._check_actions(actions))

  @float64
  def reward_grad(self, actions: chex.Array) -> chex.Array:
    """∂_a r(s, a) (analytic).  [n, M] -> [n, M]."""
    return _reward_grad_at(self.params, self._check_actions(actions))

  @float64
  def transition_probs(self, actions: chex.Array) -> chex.Array:
    """p(s'|s, a).  [n, M] -> [n, M, n]."""
    return _transition_at(self.params, self._check_actions(actions))

  @float64
  def q_at(self, value: chex.Array, actions: chex.Array) -> chex.Array:
    """Q_V(s, a) = r(s, a) + γ Σ_{s'} p(s'|s, a) V(s') at arbitrary actions.  [n], [n, M] -> [n, M]."""
    return _q_at(self.params, self._check_value(value), self._check_actions(actions))

  @float64
  def q_grad_at(self, value: chex.Array, actions: chex.Array) -> chex.Array:
    """∂_a Q_V(s, a) (analytic, with ∂_a p = p(w − Σ p w)).  [n], [n, M] -> [n, M]."""
    return _q_grad_at(self.params, self._check_value(value), self._check_actions(actions))

  @float64
  def q_values(self, value: chex.Array) -> chex.Array:
    """Q_V on the grid.  [n] -> [n, G]."""
    params = self.params
    return _q_at(params, self._check_value(value), _grid_actions(params))

  @float64
  def q_grad(self, value: chex.Array) -> chex.Array:
    """∂_a Q_V on the grid.  [n] -> [n, G]."""
    params = self.params
    return _q_grad_at(params, self._check_value(value), _grid_actions(params))

  def q_function(self, state: int, value: chex.Array) -> Callable[[chex.Array], chex.Array]:
    """Q_V(state, ·) as a function [1] -> scalar, for the core particle steps (call it under x64)."""
    if not isinstance(state, (int, np.integer)) or not 0 <= state < self.num_states:
      raise ValueError(f"state must be an int in [0, {self.num_states}), got {state!r}")
    with jax.enable_x64(True):
      params = self.params
      value = self._check_value(value)
    return _state_q_fn(params, value, params.reward_amplitude[state], params.reward_phase[state],
                       params.transition_weight[state], params.transition_bias[state])

  # -- policies on the grid ----------------------------------------------------------------------------------------

  @float64
  def normalize(self, log_unnormalized: chex.Array) -> chex.Array:
    """Normalises log-densities with the grid rule.  [n, G] -> [n, G]."""
    return grid_lib.normalize_log_density(self._check_log_policy(log_unnormalized, "log_unnormalized"), self.grid_spacing)

  @float64
  def gaussian_log_policy(self, mean: chex.Array, std: chex.Array) -> chex.Array:
    """π(·|s) = N(mean_s, std_s²) on the grid (normalised there); mean, std scalars or [n].  -> [n, G]."""
    _validation.check_positive("std", std)
    mean = jnp.broadcast_to(jnp.asarray(mean, jnp.float64), (self.num_states,))
    std = jnp.broadcast_to(jnp.asarray(std, jnp.float64), (self.num_states,))
    grid = jnp.asarray(self.grid)
    return grid_lib.normalize_log_density(-0.5 * ((grid[None] - mean[:, None]) / std[:, None])**2, self.grid_spacing)

  @float64
  def random_log_policy(self, key: chex.PRNGKey, *, num_features: int = 4, roughness: float = 1.0) -> chex.Array:
    """A random smooth, multimodal policy: log π(a|s) ∝ −(a − μ_s)²/(2σ_s²) + roughness Σ_k u_sk sin(ν_k a + θ_sk)
    with μ_s ∼ N(0, 1), σ_s ∼ U(0.4, 1.5), u ∼ N(0, 1), ν_k ∼ U(0.5, 3), θ ∼ U(0, 2π).  -> [n, G]."""
    return _random_log_policy(key, jnp.asarray(self.grid), jnp.asarray(self.grid_spacing),
                              jnp.asarray(roughness, jnp.float64), num_states=self.num_states,
                              num_features=int(num_features))

  @float64
  def sample_policy(self, key: chex.PRNGKey, log_policy: chex.Array, num_particles: int) -> chex.Array:
    """num_particles draws per state from the grid law (cell mass π Δa, uniform in the cell).  -> [n, N]."""
    return grid_lib.sample(key, self._check_log_policy(log_policy), jnp.asarray(self.grid),
                           jnp.asarray(self.grid_spacing), int(num_particles))

  @float64
  def kde_log_policy(self, particles: chex.Array, bandwidth: chex.Numeric | None = None) -> chex.Array:
    """The Gaussian KDE of per-state particles on the grid (normalised by the rule). bandwidth: scalar or [n];
    default Silverman's h_s = max(1.06 σ̂_s N^{−1/5}, Δa).  particles [n, N] -> [n, G]."""
    particles = self._check_particles(particles)
    params = self.params
    h = self._bandwidth(particles, bandwidth)
    return _kde_log_policy(params, particles, h)

  def _check_particles(self, particles: chex.Array) -> chex.Array:
    particles = jnp.asarray(particles, jnp.float64)
    if particles.ndim != 2 or particles.shape[0] != self.num_states or particles.shape[1] < 2:
      raise ValueError(f"particles must have shape [num_states={self.num_states}, num_particles >= 2], "
                       f"got {particles.shape}")
    return particles

  def _bandwidth(self, particles: chex.Array, bandwidth: chex.Numeric | None) -> chex.Array:
    if bandwidth is None:
      return _silverman_bandwidth(particles, self.grid_spacing)
    _validation.check_positive("bandwidth", bandwidth)
    return jnp.broadcast_to(jnp.asarray(bandwidth, jnp.float64), (self.num_states,))

  # -- exact evaluation and the identities -------------------------------------------------------------------------

  @float64
  def policy_reward(self, log_policy: chex.Array) -> chex.Array:
    """r^π(s) = Σ_i π(a_i|s)Δa [r(s,a_i) − τ log π(a_i|s)].  [n, G] -> [n]."""
    return _policy_reward_and_transition(self.params, self._check_log_policy(log_policy))[0]

  @float64
  def policy_transition(self, log_policy: chex.Array) -> chex.Array:
    """P^π(s, s') = Σ_i π(a_i|s)Δa p(s'|s, a_i).  [n, G] -> [n, n]."""
    return _policy_reward_and_transition(self.params, self._check_log_policy(log_policy))[1]

  @float64
  def value(self, log_policy: chex.Array, states: Any = None) -> chex.Array:
    """V^π = (I − γP^π)^{-1} r^π (float64 linear solve).  [n, G] -> [n]."""
    base.check_no_states(self, states)
    return _evaluate(self.params, self._check_log_policy(log_policy))

  @float64
  def soft_bellman_optimality(self, value: chex.Array) -> chex.Array:
    """T*V(s) = τ log Σ_i exp(Q_V(s, a_i)/τ) Δa.  [n] -> [n]."""
    return _soft_bellman(self.params, self._check_value(value))

  @float64
  def gibbs_log_policy(self, value: chex.Array) -> chex.Array:
    """log p_s(a) = Q_V(s, a)/τ − log Z_s on the grid; with V = V^π this is the Gibbs policy p_s^π.  [n] -> [n, G]."""
    return _gibbs_log_policy(self.params, self._check_value(value))

  @float64
  def policy_gibbs_log_policy(self, log_policy: chex.Array) -> chex.Array:
    """The Gibbs policy p_s^π ∝ exp(Q^π(s, ·)/τ) of π.  [n, G] -> [n, G]."""
    params = self.params
    return _gibbs_log_policy(params, _evaluate(params, self._check_log_policy(log_policy)))

  @float64
  def kl(self, log_p: chex.Array, log_q: chex.Array) -> chex.Array:
    """Statewise KL(p(·|s) ‖ q(·|s)) by quadrature.  [n, G], [n, G] -> [n]."""
    return grid_lib.kl(self._check_log_policy(log_p, "log_p"), self._check_log_policy(log_q, "log_q"),
                    self.grid_spacing)

  @float64
  def tv_distance(self, log_p: chex.Array, log_q: chex.Array) -> chex.Array:
    """Statewise total variation ½ Σ_i |p_i − q_i| Δa.  [n, G], [n, G] -> [n]."""
    return grid_lib.tv(self._check_log_policy(log_p, "log_p"), self._check_log_policy(log_q, "log_q"),
                    self.grid_spacing)

  @float64
  def kl_residual(self, log_policy: chex.Array, states: Any = None) -> chex.Array:
    """τ KL(π(·|s) ‖ p_s^π) by quadrature.  [n, G] -> [n]."""
    base.check_no_states(self, states)
    return self.tau * _diagnostics(self.params, self._check_log_policy(log_policy)).kl

  @float64
  def bellman_residual(self, log_policy: chex.Array, states: Any = None) -> chex.Array:
    """(T*V^π − V^π)(s), from values only (compare with `kl_residual`).  [n, G] -> [n]."""
    base.check_no_states(self, states)
    params = self.params
    value = _evaluate(params, self._check_log_policy(log_policy))
    return _soft_bellman(params, value) - value

  @float64
  def relative_fisher_information(self, log_policy: chex.Array, states: Any = None) -> chex.Array:
    """I(π(·|s) ‖ p_s^π) = Σ_i π (∂_a log π − ∂_aQ^π/τ)² Δa (∂_a log π by finite differences on the grid,
    ∂_aQ^π analytic).  [n, G] -> [n]."""
    base.check_no_states(self, states)
    return _diagnostics(self.params, self._check_log_policy(log_policy)).fisher_information

  @float64
  def resolvent_identity(self, log_policy: chex.Array, new_log_policy: chex.Array,
                         states: Any = None) -> base.ResolventIdentity:
    """Both sides of the discrete resolvent identity for π = log_policy, π' = new_log_policy (any pair):
    lhs = (I − γP^{π'})(V^{π'} − V^π), rhs = τ[KL(π‖p^π) − KL(π'‖p^π)]; each [n]."""
    base.check_no_states(self, states)
    return _resolvent_identity(self.params, self._check_log_policy(log_policy),
                               self._check_log_policy(new_log_policy, "new_log_policy"))

  # -- the optimum -------------------------------------------------------------------------------------------------

  @float64
  def soft_value_iteration(self, *, tol: float = 1e-13, max_iterations: int = 100_000) -> SoftValueIterationResult:
    """V* by V ← T*V from 0 until ‖T*V − V‖_∞ <= tol·max(1, ‖V‖_∞) (a γ-contraction: ~log(tol)/log γ sweeps);
    π* = Gibbs(V*). The returned `residual` is ‖T*V* − V*‖_∞."""
    _validation.check_positive("tol", tol)
    if not isinstance(max_iterations, (int, np.integer)) or max_iterations < 1:
      raise ValueError(f"max_iterations must be a positive int, got {max_iterations!r}")
    return _soft_value_iteration(self.params, jnp.asarray(tol, jnp.float64), max_iterations=int(max_iterations))

  def optimum(self) -> SoftValueIterationResult:
    """The cached `soft_value_iteration()` result (computed on first use): V* [n], log π* [n, G], Q* [n, G]."""
    if self._optimum is None:
      self._optimum = self.soft_value_iteration()
    return self._optimum

  @float64
  def optimal_policy(self) -> chex.Array:
    """log π* = Gibbs(V*) on the grid.  -> [n, G]."""
    return self.optimum().log_policy

  @float64
  def optimal_value(self, states: Any = None) -> chex.Array:
    """V* by soft value iteration.  -> [n]."""
    base.check_no_states(self, states)
    return self.optimum().value

  @float64
  def gap(self, log_policy: chex.Array, states: Any = None) -> chex.Array:
    """‖V* − V^π‖_∞.  [n, G] -> scalar."""
    return jnp.max(jnp.abs(self.state_gap(log_policy, states)))

  @float64
  def contraction_lower_bound(self, log_policy: chex.Array) -> chex.Array:
    """(V* − V^π)(s) − γ‖V* − V^π‖_∞, the Bellman-contraction lower bound on (T*V^π − V^π)(s).  [n, G] -> [n]."""
    value_gap = self.state_gap(log_policy)
    return value_gap - self.gamma * jnp.max(jnp.abs(value_gap))

  def reference_floor(self, step_size: chex.Numeric) -> chex.Array:
    """NaN: T3 knows no closed-form stationary gap (the fitted plateau of E_k is the measurement)."""
    return jnp.asarray(np.nan)

  # -- WPGD --------------------------------------------------------------------------------------------------------

  @float64
  def wpgd_step(self, log_policy: chex.Array, step_size: chex.Numeric) -> tuple[chex.Array, chex.Array]:
    """One exact-law WPGD step on the grid, π_{k+1}(·|s) = Σ_i π_k(a_i|s)Δa N(a_i + η∂_aQ^{π_k}(s,a_i), 2τη).

    [n, G] -> (log π_{k+1} [n, G], edge_mass_lost [n]).
    """
    self._check_step_size(step_size)
    grid_lib.check_kernel_resolved(step_size, self.tau, self.grid_spacing)
    return _wpgd_step(self.params, self._check_log_policy(log_policy), jnp.asarray(step_size, jnp.float64))

  @float64
  def exact_wpgd(self, log_policy: chex.Array, *, step_size: chex.Numeric, num_steps: int,
                 states: Any = None) -> base.WPGDTrace:
    """`num_steps` exact-law WPGD steps from π_0 = log_policy [n, G], one `lax.scan`; see WPGDTrace (policy:
    log π_k [K+1, n, G]; lsi_lower_bound: Holley–Stroock (β/τ) exp(−osc_k/τ), osc_k = max_s 2c_s +
    γ(max V^{π_k} − min V^{π_k}) the oscillation of Q^{π_k} + βa²/2).

    Raises ValueError unless step_size * beta < 2 and sqrt(2 τ step_size) >= grid spacing.
    """
    base.check_no_states(self, states)
    self._check_step_size(step_size)
    grid_lib.check_kernel_resolved(step_size, self.tau, self.grid_spacing)
    num_steps = base.check_num_steps(num_steps)
    log_policy = self._check_log_policy(log_policy)
    return _exact_wpgd_scan(self.params, log_policy, jnp.asarray(step_size, jnp.float64), self.optimal_value(),
                            num_steps=num_steps)

  @float64
  def particle_wpgd(self, key: chex.PRNGKey, particles: chex.Array, *, step_size: chex.Numeric, num_steps: int,
                    method: str = "ula", bandwidth: chex.Numeric | None = None) -> base.ParticleTrace:
    """`num_steps` particle WPGD steps: per state, the core `wpg_step(method)` on q_fn = Q^{π̂_k}(s, ·), where π̂_k
    is the Gaussian KDE of the current particles on the grid (bandwidth: scalar or [n]; default Silverman) and
    Q^{π̂_k} its exact soft Q. particles [n, N] -> ParticleTrace: particles [n, N] (the last), policy log π̂_k
    [K+1, n, G], value [K+1, n], gap [K+1], kl_residual [K+1, n].

    Raises ValueError unless step_size * beta < 2 (for method "ula"; any step_size > 0 for "mala"/"svgd").
    """
    _validation.check_choice("method", method, particle_steps.METHODS)
    if method == "ula":
      self._check_step_size(step_size)
    else:
      _validation.check_positive("step_size", step_size)
    num_steps = base.check_num_steps(num_steps)
    particles = self._check_particles(particles)
    auto = bandwidth is None
    h = jnp.zeros(self.num_states) if auto else self._bandwidth(particles, bandwidth)
    return _particle_wpgd_scan(self.params, key, particles, jnp.asarray(step_size, jnp.float64), h,
                               self.optimal_value(), num_steps=num_steps, method=method, auto_bandwidth=auto)
