"""T1: the double-well bandit, r̃(a) = −c(a² − 1)² − βa²/2 on R (docs/theory.md §5), computed in float64.

The Gibbs law by quadrature on a wide uniform grid (`grid`), the exact law of WPGD on that grid (a Gaussian-kernel
Markov matrix whose rows are renormalised: the mass a step would put off the grid is returned along the same
kernel and reported), its stationary law (the ULA bias), and particle ULA / MALA runs with the core steps. The
single-state identities are in `single_state`.
"""

from __future__ import annotations

__all__ = [
    'DoubleWellBandit',
]

import functools
from typing import Any, Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from wpgjax import _validation
from wpgjax._x64 import float64
from wpgjax.core import particles as particle_steps
from wpgjax.problems import base, grid as grid_lib
from wpgjax.problems.single_state import SingleStateProblem, single_state_trace

class _DoubleWellArrays(NamedTuple):
  c: chex.Array
  beta: chex.Array
  tau: chex.Array
  gamma: chex.Array
  grid: chex.Array
  grid_spacing: chex.Array


def _double_well_reward(c, beta, a):
  """r̃(a) = −c(a² − 1)² − βa²/2 (numpy or jax, elementwise)."""
  return -c * (a**2 - 1.0)**2 - 0.5 * beta * a**2


def _double_well_reward_grad(c, beta, a):
  """r̃'(a) = −4ca(a² − 1) − βa (numpy or jax, elementwise)."""
  return -4.0 * c * a * (a**2 - 1.0) - beta * a


@jax.jit
def _dw_gibbs(p: _DoubleWellArrays) -> tuple[chex.Array, chex.Array]:
  """(log p on the grid [G], log Z)."""
  scaled = _double_well_reward(p.c, p.beta, p.grid) / p.tau
  log_z = jax.nn.logsumexp(scaled) + jnp.log(p.grid_spacing)
  return scaled - log_z, log_z


@jax.jit
def _dw_value(p: _DoubleWellArrays, log_density: chex.Array) -> chex.Array:
  integrand = _double_well_reward(p.c, p.beta, p.grid) - p.tau * log_density
  return grid_lib.expectation(log_density, integrand, p.grid_spacing) / (1.0 - p.gamma)


@jax.jit
def _dw_kl(p: _DoubleWellArrays, log_density: chex.Array) -> chex.Array:
  return grid_lib.kl(log_density, _dw_gibbs(p)[0], p.grid_spacing)


@jax.jit
def _dw_fisher(p: _DoubleWellArrays, log_density: chex.Array) -> chex.Array:
  score = _double_well_reward_grad(p.c, p.beta, p.grid) / p.tau
  return grid_lib.relative_fisher(log_density, score, p.grid_spacing)


def _dw_log_kernel(p: _DoubleWellArrays, step_size: chex.Array) -> tuple[chex.Array, chex.Array]:
  drift = _double_well_reward_grad(p.c, p.beta, p.grid)
  return grid_lib.langevin_log_kernel(p.grid, drift, p.grid_spacing, step_size, p.tau)


@jax.jit
def _dw_kernel(p: _DoubleWellArrays, step_size: chex.Array) -> tuple[chex.Array, chex.Array]:
  log_kernel, mass_lost = _dw_log_kernel(p, step_size)
  return jnp.exp(log_kernel), mass_lost


@jax.jit
def _dw_step(p: _DoubleWellArrays, log_density: chex.Array, step_size: chex.Array) -> tuple[chex.Array, chex.Array]:
  drift = _double_well_reward_grad(p.c, p.beta, p.grid)
  return grid_lib.langevin_step(log_density, drift, p.grid, p.grid_spacing, step_size, p.tau)


def _dw_iterate(p: _DoubleWellArrays, log_density0: chex.Array, step_size: chex.Array,
                num_steps: int) -> tuple[chex.Array, chex.Array, chex.Array]:
  """Exact-law WPGD with the FIXED drift r̃' (single state: ∂_aQ^π = r̃' for every π), kernel built once.

  -> (final log density [G], iterates [K+1, G], mass lost per step [K]).
  """
  log_kernel, row_mass_lost = _dw_log_kernel(p, step_size)

  def body(log_density, _):
    new, mass_lost = grid_lib.apply_log_kernel(log_density, log_kernel, row_mass_lost, p.grid_spacing)
    return new, (new, mass_lost)

  final, (densities, mass_lost) = jax.lax.scan(body, log_density0, None, length=num_steps)
  return final, jnp.concatenate([log_density0[None], densities]), mass_lost


@functools.partial(jax.jit, static_argnames=("num_steps",))
def _dw_wpgd_scan(p: _DoubleWellArrays, log_density0: chex.Array, step_size: chex.Array,
                  num_steps: int) -> base.WPGDTrace:
  _, densities, mass_lost = _dw_iterate(p, log_density0, step_size, num_steps)
  gibbs, log_z = _dw_gibbs(p)
  values = _dw_value(p, densities)
  optimal_value = p.tau * log_z / (1.0 - p.gamma)
  aux = dict(tv_to_gibbs=grid_lib.tv(densities, gibbs, p.grid_spacing))
  return single_state_trace(densities, values, optimal_value, log_z, p.tau * grid_lib.kl(densities, gibbs,
                                                                                         p.grid_spacing),
                            _dw_fisher(p, densities), mass_lost, jnp.nan, p.tau, p.gamma, aux)


@functools.partial(jax.jit, static_argnames=("num_polish_steps",))
def _dw_stationary(p: _DoubleWellArrays, step_size: chex.Array, num_polish_steps: int) -> chex.Array:
  log_kernel, _ = _dw_log_kernel(p, step_size)
  size = p.grid.shape[0]
  system = (jnp.exp(log_kernel).T - jnp.eye(size, dtype=p.grid.dtype)).at[0].set(1.0)
  rhs = jnp.zeros(size, p.grid.dtype).at[0].set(1.0)
  masses = jnp.linalg.solve(system, rhs)
  log_density = grid_lib.normalize_log_density(jnp.log(jnp.maximum(masses, 1e-300)), p.grid_spacing)
  return _dw_iterate(p, log_density, step_size, num_polish_steps)[0]


@functools.partial(jax.jit, static_argnames=("cells_per_bin",))
def _histogram_tv(grid: chex.Array, grid_spacing: chex.Array, samples: chex.Array, log_density: chex.Array,
                  cells_per_bin: int) -> chex.Array:
  size = grid.shape[0]
  num_bins = -(-size // cells_per_bin)
  cell = jnp.round((samples - grid[0]) / grid_spacing).astype(jnp.int32)
  inside = (cell >= 0) & (cell < size)
  bins = jnp.where(inside, cell // cells_per_bin, num_bins)
  empirical = jnp.zeros(num_bins + 1, grid.dtype).at[bins].add(1.0) / samples.shape[0]
  cell_mass = jnp.exp(log_density) * grid_spacing
  reference = jnp.zeros(num_bins + 1, grid.dtype).at[jnp.arange(size) // cells_per_bin].add(cell_mass)
  return 0.5 * jnp.sum(jnp.abs(empirical - reference))


def _double_well_q(c: chex.Array, beta: chex.Array) -> Callable[[chex.Array], chex.Array]:
  """a ↦ −c(a² − 1)² − βa²/2, [1] -> scalar."""

  def q_fn(action: chex.Array) -> chex.Array:
    return _double_well_reward(c, beta, action[0])

  return q_fn


class DoubleWellBandit(SingleStateProblem):
  """Single-state problem on R with r̃(a) = −c(a² − 1)² − βa²/2 (two wells at a ≈ ±1, barrier at 0).

  The Gibbs law p ∝ exp(r̃/τ) has a tiny log-Sobolev constant when c/τ is large (slow mixing between wells);
  it is computed by quadrature on the uniform grid a ∈ [−L, L] with G points (see the module docstring).
  r̃ is even, so every law below is symmetric. ULA on a quartic is not globally stable (the 2-cycle a ↔ −a of
  the drift map at a² = 1 + (2 − ηβ)/(4cη) repels), so the grid must lie inside that cycle: the exact-law methods
  raise ValueError unless the drift map sends every grid point back into [−L, L] and the step kernel is
  resolved by the grid (sqrt(2τη) >= Δa). Particle runs should start inside the wells (`sample_grid_law`).

  Args:
    c: well depth c > 0 (for β < 4c the wells sit at a² = 1 − β/(4c) and the barrier is c(1 − β/(4c))²).
    beta: confinement β >= 0.
    tau: temperature τ > 0.
    gamma: discount γ ∈ (0, 1).
    grid_size: G (default 301, Δa = 0.02 with the default L).
    grid_halfwidth: L (default 3.0; the Gibbs tails there are ∝ exp(−64c/τ)). The exact-law step needs the drift
      map a ↦ a + η r̃'(a) to keep the grid inside [−L, L], i.e. η <= 2/(4c(L² − 1) + β) (`max_stable_step_size`,
      0.0615 for c = 1, β = 0.5, L = 3); beyond it the quartic ULA expels mass to the grid edges.

  Policies are log-densities on the grid, [G] (a batch [..., G] where the method says so). Implements
  `ExactProblem`; every method computes in float64 and returns float64 jax arrays.
  """
  name = "double_well_bandit"

  def __init__(self, c: float, beta: float, tau: float, gamma: float, *, grid_size: int = 301,
               grid_halfwidth: float = 3.0):
    _validation.check_positive("c", c)
    _validation.check_in_range("beta", beta, 0.0, np.inf, closed="low")
    _validation.check_positive("tau", tau)
    base.check_discount(gamma)
    self.c = float(c)
    self.beta = float(beta)
    self.tau = float(tau)
    self.gamma = float(gamma)
    self.grid, self.grid_spacing = grid_lib.uniform_grid(grid_halfwidth, grid_size)
    self.action_dim = 1

  @property
  def _arrays(self) -> _DoubleWellArrays:
    values = (self.c, self.beta, self.tau, self.gamma, self.grid, self.grid_spacing)
    return _DoubleWellArrays(*(jnp.asarray(x, jnp.float64) for x in values))

  # -- reward ------------------------------------------------------------------------------------------------------

  @float64
  def reward(self, actions: chex.Array) -> chex.Array:
    """r̃(a) = −c(a² − 1)² − βa²/2, elementwise on scalar actions.  [...] -> [...]."""
    return _double_well_reward(self.c, self.beta, jnp.asarray(actions, jnp.float64))

  @float64
  def reward_grad(self, actions: chex.Array) -> chex.Array:
    """r̃'(a) = −4ca(a² − 1) − βa (= ∂_a Q^π for every π).  [...] -> [...]."""
    return _double_well_reward_grad(self.c, self.beta, jnp.asarray(actions, jnp.float64))

  def q_function(self, value: chex.Numeric = 0.0) -> Callable[[chex.Array], chex.Array]:
    """Q^π as a function [1] -> scalar for the core particle steps: a ↦ r̃(a) + γV^π (the constant moves no
    particle; the particle runs use value = 0)."""
    double_well = _double_well_q(self.c, self.beta)
    return lambda action: double_well(action) + self.gamma * value

  # -- quadrature reference ----------------------------------------------------------------------------------------

  def _check_log_density(self, log_density: chex.Array, name: str = "log_density") -> chex.Array:
    log_density = jnp.asarray(log_density, jnp.float64)
    if log_density.shape[-1:] != self.grid.shape:
      raise ValueError(f"{name} must have shape [..., grid_size={self.grid.shape[0]}], got {log_density.shape}")
    return log_density

  def _check_single_log_density(self, log_density: chex.Array) -> chex.Array:
    log_density = self._check_log_density(log_density)
    if log_density.ndim != 1:
      raise ValueError(f"log_density must have shape [grid_size={self.grid.shape[0]}], got {log_density.shape}")
    return log_density

  @float64
  def log_partition(self) -> chex.Array:
    """log Z = log Σ_i exp(r̃(a_i)/τ) Δa.  -> scalar."""
    return _dw_gibbs(self._arrays)[1]

  @float64
  def gibbs_log_density(self) -> chex.Array:
    """log p(a_i) = r̃(a_i)/τ − log Z on the grid (the optimal policy; the Gibbs policy of every π).  -> [G]."""
    return _dw_gibbs(self._arrays)[0]

  @float64
  def normalize(self, log_unnormalized: chex.Array) -> chex.Array:
    """Normalises a log-density on the grid with the quadrature rule.  [..., G] -> [..., G]."""
    log_unnormalized = self._check_log_density(log_unnormalized, "log_unnormalized")
    return grid_lib.normalize_log_density(log_unnormalized, self.grid_spacing)

  @float64
  def gaussian_log_density(self, mean: chex.Numeric, std: chex.Numeric) -> chex.Array:
    """N(mean, std²) restricted to the grid and normalised there.  -> [G]."""
    _validation.check_positive("std", std)
    return grid_lib.normalize_log_density(jnp.asarray(-0.5 * ((self.grid - mean) / std)**2), self.grid_spacing)

  @float64
  def optimal_policy(self) -> chex.Array:
    """π* = p, the Gibbs law on the grid (`gibbs_log_density`).  -> [G]."""
    return self.gibbs_log_density()

  @float64
  def value(self, log_density: chex.Array, states: Any = None) -> chex.Array:
    """V^π = Σ_i π_i Δa [r̃(a_i) − τ log π_i] / (1 − γ).  [..., G] -> [...]."""
    base.check_no_states(self, states)
    return _dw_value(self._arrays, self._check_log_density(log_density))

  @float64
  def kl_to_gibbs(self, log_density: chex.Array) -> chex.Array:
    """KL(π‖p) by quadrature.  [..., G] -> [...]."""
    return _dw_kl(self._arrays, self._check_log_density(log_density))

  @float64
  def relative_fisher_information(self, log_density: chex.Array, states: Any = None) -> chex.Array:
    """I(π‖p) = Σ_i π_i (∂_a log π_i − r̃'(a_i)/τ)² Δa (∂_a log π by finite differences).  [..., G] -> [...]."""
    base.check_no_states(self, states)
    return _dw_fisher(self._arrays, self._check_log_density(log_density))

  @float64
  def tv_distance(self, log_p: chex.Array, log_q: chex.Array) -> chex.Array:
    """½ Σ_i |p_i − q_i| Δa.  [..., G], [..., G] -> [...]."""
    return grid_lib.tv(self._check_log_density(log_p, "log_p"), self._check_log_density(log_q, "log_q"),
                       self.grid_spacing)

  # -- exact-law WPGD on the grid ----------------------------------------------------------------------------------

  @property
  def max_stable_step_size(self) -> float:
    """The largest η for which the drift map a ↦ a + η r̃'(a) keeps the grid inside [−L, L].

    At a = L the map is L − η(4cL(L² − 1) + βL) >= −L iff η <= 2 / (4c(L² − 1) + β); points inside the grid
    map closer to the wells (the methods check the map pointwise on the grid).
    """
    half = float(self.grid[-1])
    return 2.0 / (4.0 * self.c * (half**2 - 1.0) + self.beta)

  def _check_step_size(self, step_size: chex.Numeric) -> None:
    _validation.check_positive("step_size", step_size)
    grid_lib.check_kernel_resolved(step_size, self.tau, self.grid_spacing)
    if _validation.is_concrete(step_size):
      drift_map = self.grid + float(step_size) * _double_well_reward_grad(self.c, self.beta, self.grid)
      if np.max(np.abs(drift_map)) > self.grid[-1] * (1.0 + 1e-12):
        raise ValueError(
            f"step_size={float(step_size)!r} is too large for this grid: the drift map a + step_size * r'(a) "
            f"leaves [-{self.grid[-1]:g}, {self.grid[-1]:g}] (ULA on the quartic diverges there); use step_size <= "
            f"{self.max_stable_step_size:.6g} or a smaller grid_halfwidth")

  @float64
  def transition_matrix(self, step_size: chex.Numeric) -> tuple[chex.Array, chex.Array]:
    """The exact-law WPGD step as a row-stochastic matrix of cell masses on the grid,
    K_ij ∝ N(a_j; a_i + η r̃'(a_i), 2τη) Δa.  -> (K [G, G], mass_lost_per_row [G])."""
    self._check_step_size(step_size)
    return _dw_kernel(self._arrays, jnp.asarray(step_size, jnp.float64))

  @float64
  def wpgd_step(self, log_density: chex.Array, step_size: chex.Numeric) -> tuple[chex.Array, chex.Array]:
    """π_{k+1}(a') = Σ_i π_k(a_i) Δa N(a'; a_i + η r̃'(a_i), 2τη) on the grid (edge losses renormalised).

    [G] -> (log π_{k+1} [G], mass_lost scalar).
    """
    self._check_step_size(step_size)
    return _dw_step(self._arrays, self._check_single_log_density(log_density), jnp.asarray(step_size, jnp.float64))

  @float64
  def exact_wpgd(self, log_density: chex.Array, *, step_size: chex.Numeric, num_steps: int,
                 states: Any = None) -> base.WPGDTrace:
    """`num_steps` exact-law WPGD steps on the grid from π_0 (log-density [G]) under one `lax.scan`.

    -> WPGDTrace (one state): policy = the log-densities [K+1, G]; lsi_lower_bound NaN (none is certified);
    aux = {"tv_to_gibbs": [K+1] ½‖π_k − p‖₁}.
    """
    base.check_no_states(self, states)
    self._check_step_size(step_size)
    num_steps = base.check_num_steps(num_steps)
    return _dw_wpgd_scan(self._arrays, self._check_single_log_density(log_density),
                         jnp.asarray(step_size, jnp.float64), num_steps=num_steps)

  @float64
  def ula_stationary_log_density(self, step_size: chex.Numeric, *, num_polish_steps: int = 20) -> chex.Array:
    """The fixed point π_∞(η) of the exact-law WPGD (ULA) kernel on the grid: the stationary law of the
    row-stochastic matrix K (solve (Kᵀ − I)x = 0 with Σx = 1), then `num_polish_steps` log-space steps so that
    the far tails (below rounding in the solve) get accurate log-densities.  -> [G]."""
    self._check_step_size(step_size)
    base.check_num_steps(num_polish_steps, "num_polish_steps")
    return _dw_stationary(self._arrays, jnp.asarray(step_size, jnp.float64),
                          num_polish_steps=int(num_polish_steps))

  @float64
  def reference_floor(self, step_size: chex.Numeric) -> chex.Array:
    """V* − V^{π_∞(η)} on the grid, π_∞(η) = `ula_stationary_log_density(η)`.  -> scalar."""
    return self.state_gap(self.ula_stationary_log_density(step_size))

  # -- particles ---------------------------------------------------------------------------------------------------

  @float64
  def sample_grid_law(self, key: chex.PRNGKey, log_density: chex.Array, num_particles: int) -> chex.Array:
    """Draws from the grid law (cell i with mass π_i Δa, uniform within the cell).  [G] -> [num_particles, 1]."""
    samples = grid_lib.sample(key, self._check_single_log_density(log_density), jnp.asarray(self.grid),
                              jnp.asarray(self.grid_spacing), int(num_particles))
    return samples[:, None]

  @float64
  def particle_wpgd(self, key: chex.PRNGKey, particles: chex.Array, *, step_size: chex.Numeric, num_steps: int,
                    method: str = "ula", return_trajectory: bool = False) -> base.ParticleTrace:
    """`num_steps` core particle steps (`wpgjax.core.wpg_flow`, method "ula" | "mala" | "svgd") on q_fn = r̃.

    particles [N, 1] -> ParticleTrace with particles [N, 1] (or [num_steps + 1, N, 1] with return_trajectory)
    and no estimated policy. Only step_size > 0 is checked (ULA on the quartic is stable for particles inside
    |a|² < 1 + (2 − ηβ)/(4cη)).
    """
    _validation.check_choice("method", method, particle_steps.METHODS)
    _validation.check_positive("step_size", step_size)
    return self._particle_flow(key, particles, _double_well_q, (self.c, self.beta), step_size=step_size, num_steps=num_steps,
                               method=method, return_trajectory=return_trajectory)

  @float64
  def histogram_tv(self, samples: chex.Array, log_density: chex.Array, *, cells_per_bin: int = 5) -> chex.Array:
    """Total variation between the empirical law of `samples` and a grid law, on a histogram whose bins are
    groups of `cells_per_bin` consecutive grid cells [a_i ± Δa/2] (samples off the grid count as mismatch).

    samples [N] or [N, 1], log_density [G] -> scalar. Its Monte Carlo floor is ≈ ½ Σ_b sqrt(2 p_b/(πN)).
    """
    if not isinstance(cells_per_bin, (int, np.integer)) or cells_per_bin < 1:
      raise ValueError(f"cells_per_bin must be a positive int, got {cells_per_bin!r}")
    samples = jnp.asarray(samples, jnp.float64).reshape(-1)
    return _histogram_tv(jnp.asarray(self.grid), jnp.asarray(self.grid_spacing), samples,
                         self._check_single_log_density(log_density), cells_per_bin=int(cells_per_bin))
