"""T1: single-state (bandit) test problems with exact answers (THEORY.md §5), computed in float64.

With one state, Q^π(a) = r̃(a) + γV^π differs from the reward by a constant, so the Gibbs policy of every π is
the same law p ∝ exp(r̃/τ) (which is also the optimum π*), WPGD is exactly the unadjusted Langevin algorithm
(ULA) on the potential −r̃/τ, and

    V^π = (E_π[r̃] + τ H(π)) / (1 − γ),     V* = τ log Z / (1 − γ),  Z = ∫ exp(r̃/τ) da,
    V* − V^π = τ KL(π‖p) / (1 − γ),         (T*V^π − V^π) = τ log Z − (1 − γ)V^π = τ KL(π‖p).

`GaussianBandit` — r̃(a) = −½(a − m)ᵀH(a − m) on R^d: everything in closed form, including the exact law of
WPGD started from a Gaussian (it stays Gaussian):
    μ_k − m = (I − ηH)^k (μ_0 − m),   Σ_{k+1} = (I − ηH) Σ_k (I − ηH) + 2ητ I,
    Σ_∞(η) = τ H^{-1} (I − ηH/2)^{-1}   (stable iff η λ_max(H) < 2).

`DoubleWellBandit` — r̃(a) = −c(a² − 1)² − βa²/2 on R: the Gibbs law by quadrature on a wide uniform grid, the
exact law of WPGD on that grid (a Gaussian-kernel Markov matrix whose rows are renormalised: the mass a step would
put off the grid is returned along the same kernel and reported), its stationary law (the ULA bias), and particle
ULA / MALA runs with the core steps.

Grid conventions (shared with `finite_mdp`): a uniform grid a_i = −L + iΔa, i = 0..G−1, and ONE quadrature rule,
∫ f da ≈ Σ_i f(a_i) Δa, used for every normalisation, expectation, KL and log-partition, so the identities above
hold on the grid to rounding error. Densities are stored as log-densities normalised by that rule:
Σ_i exp(log π_i) Δa = 1.
"""

from __future__ import annotations

__all__ = [
    'GaussianPolicy',
    'GaussianWPGDTrace',
    'GaussianBandit',
    'GridWPGDTrace',
    'DoubleWellBandit',
]

import functools
from typing import Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from wpgjax import _validation
from wpgjax._x64 import float64
from wpgjax.core import particles as particle_steps

# ----------------------------------------------------------------------------------------------------------------
# Grid quadrature helpers (module-private; `finite_mdp` reuses them so both problems use the same rule).
# ----------------------------------------------------------------------------------------------------------------


def _uniform_grid(halfwidth: float, size: int) -> tuple[np.ndarray, float]:
  """Uniform grid on [−L, L] with G points and its spacing Δa = 2L/(G − 1).  -> ([G] float64, Δa)."""
  if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 3:
    raise ValueError(f"grid_size must be an int >= 3, got {size!r}")
  _validation.check_positive("grid_halfwidth", halfwidth)
  grid = np.linspace(-float(halfwidth), float(halfwidth), int(size), dtype=np.float64)
  return grid, float(grid[1] - grid[0])


def _normalize_log_density(log_unnormalized: chex.Array, grid_spacing: chex.Numeric) -> chex.Array:
  """log π_i = f_i − log Σ_j exp(f_j) Δa along the last axis, so Σ_i π_i Δa = 1.  [..., G] -> [..., G]."""
  log_mass = jax.nn.logsumexp(log_unnormalized, axis=-1, keepdims=True) + jnp.log(grid_spacing)
  return log_unnormalized - log_mass


def _grid_expectation(log_density: chex.Array, values: chex.Array, grid_spacing: chex.Numeric) -> chex.Array:
  """E_π[f] = Σ_i π_i f_i Δa along the last axis.  [..., G], [..., G] -> [...]."""
  return jnp.sum(jnp.exp(log_density) * values, axis=-1) * grid_spacing


def _grid_kl(log_p: chex.Array, log_q: chex.Array, grid_spacing: chex.Numeric) -> chex.Array:
  """KL(p‖q) = Σ_i p_i (log p_i − log q_i) Δa along the last axis.  [..., G], [..., G] -> [...]."""
  return _grid_expectation(log_p, log_p - log_q, grid_spacing)


def _grid_tv(log_p: chex.Array, log_q: chex.Array, grid_spacing: chex.Numeric) -> chex.Array:
  """Total variation ½ Σ_i |p_i − q_i| Δa along the last axis.  [..., G], [..., G] -> [...]."""
  return 0.5 * jnp.sum(jnp.abs(jnp.exp(log_p) - jnp.exp(log_q)), axis=-1) * grid_spacing


def _grid_log_derivative(log_density: chex.Array, grid_spacing: chex.Numeric) -> chex.Array:
  """∂_a log π on the grid by finite differences (2nd-order central inside, 1st-order at the ends).  [..., G]."""
  return jnp.gradient(log_density, grid_spacing, axis=-1)


def _grid_relative_fisher(log_density: chex.Array, target_score: chex.Array,
                          grid_spacing: chex.Numeric) -> chex.Array:
  """I(π‖p) = Σ_i π_i (∂_a log π_i − ∂_a log p_i)² Δa, with ∂_a log π by finite differences and the target's
  score ∂_a log p given (analytically) on the grid.  [..., G], [..., G] -> [...]."""
  score_gap = _grid_log_derivative(log_density, grid_spacing) - target_score
  return _grid_expectation(log_density, score_gap**2, grid_spacing)


def _langevin_log_kernel(grid: chex.Array, drift: chex.Array, grid_spacing: chex.Numeric,
                         step_size: chex.Numeric, tau: chex.Numeric) -> tuple[chex.Array, chex.Array]:
  """The exact-law WPGD (ULA) transition on the grid, as a row-stochastic matrix of cell masses.

      K_ij ∝ N(a_j; a_i + η drift_i, 2τη) Δa,   normalised over j,

  drift: [..., G] (∂_a Q on the grid) -> (log K [..., G, G], mass_lost [..., G]) where
  mass_lost_i = 1 − Σ_j N(a_j; a_i + η drift_i, 2τη) Δa is the mass the untruncated Gaussian step from a_i puts
  off the grid (plus its quadrature error); the row normalisation returns it to the grid along the same kernel.
  """
  means = grid + step_size * drift  # [..., G]
  four_tau_eta = 4.0 * tau * step_size
  log_gauss = (-(grid[None, :] - means[..., :, None])**2 / four_tau_eta
               - 0.5 * jnp.log(jnp.pi * four_tau_eta))  # [..., G(from), G(to)]
  log_cell = log_gauss + jnp.log(grid_spacing)
  log_row_mass = jax.nn.logsumexp(log_cell, axis=-1, keepdims=True)
  return log_cell - log_row_mass, -jnp.expm1(log_row_mass[..., 0])


def _langevin_grid_step(log_density: chex.Array, drift: chex.Array, grid: chex.Array, grid_spacing: chex.Numeric,
                        step_size: chex.Numeric, tau: chex.Numeric) -> tuple[chex.Array, chex.Array]:
  """One exact-law WPGD step on the grid, in log space (no underflow in the tails):

      π_{k+1}(a_j) = Σ_i π_k(a_i) Δa K_ij / Δa,   K from `_langevin_log_kernel`.

  log_density, drift: [..., G] -> (log π_{k+1} [..., G], mass_lost [...]) where mass_lost = Σ_i π_k(a_i) Δa
  mass_lost_i is the probability mass the untruncated step would have put off the grid (renormalised back).
  """
  log_kernel, row_mass_lost = _langevin_log_kernel(grid, drift, grid_spacing, step_size, tau)
  log_mass = log_density + jnp.log(grid_spacing)  # [..., G]
  new_log_mass = jax.nn.logsumexp(log_mass[..., :, None] + log_kernel, axis=-2)
  mass_lost = jnp.sum(jnp.exp(log_mass) * row_mass_lost, axis=-1)
  # The kernel is row-stochastic, so the new masses sum to 1 up to rounding; renormalise that rounding away.
  return _normalize_log_density(new_log_mass - jnp.log(grid_spacing), grid_spacing), mass_lost


def _sample_grid_law(key: chex.PRNGKey, log_density: chex.Array, grid: chex.Array, grid_spacing: chex.Numeric,
                     num_samples: int) -> chex.Array:
  """Samples of the piecewise-constant law with mass π_i Δa uniform on the cell [a_i − Δa/2, a_i + Δa/2].

  log_density: [..., G] -> [..., num_samples] (independent draws for each leading index).
  """
  key_cell, key_jitter = jax.random.split(key)
  batch = log_density.shape[:-1]
  cells = jax.random.categorical(key_cell, log_density, axis=-1, shape=(num_samples,) + batch)
  cells = jnp.moveaxis(cells, 0, -1)
  jitter = jax.random.uniform(key_jitter, cells.shape, grid.dtype, -0.5, 0.5) * grid_spacing
  return grid[cells] + jitter


_sample_grid_law_jit = jax.jit(_sample_grid_law, static_argnames=("num_samples",))


def _check_num_steps(num_steps: int) -> None:
  if not isinstance(num_steps, (int, np.integer)) or isinstance(num_steps, bool) or num_steps < 0:
    raise ValueError(f"num_steps must be a non-negative int, got {num_steps!r}")


def _check_grid_resolves_kernel(step_size: chex.Numeric, tau: float, grid_spacing: float) -> None:
  """The Gaussian step kernel must be resolved by the grid: sqrt(2τη) >= Δa."""
  if _validation.is_concrete(step_size) and np.sqrt(2.0 * tau * float(step_size)) < grid_spacing * (1.0 - 1e-9):
    raise ValueError(
        f"step_size={float(step_size)!r} is too small for the grid: the step kernel's std sqrt(2*tau*step_size)="
        f"{np.sqrt(2.0 * tau * float(step_size)):.3g} must be >= the grid spacing {grid_spacing:.3g} "
        "(use a finer grid or a larger step_size)")


def _check_discount(gamma: float) -> None:
  _validation.check_in_range("gamma", gamma, 0.0, 1.0)


# ----------------------------------------------------------------------------------------------------------------
# Gaussian bandit.
# ----------------------------------------------------------------------------------------------------------------


class GaussianPolicy(NamedTuple):
  """A Gaussian policy N(mean, cov): mean [..., d], cov [..., d, d]."""
  mean: chex.Array
  cov: chex.Array


class GaussianWPGDTrace(NamedTuple):
  """Exact-law WPGD iterates k = 0..K of the Gaussian bandit.

  mean [K+1, d], cov [K+1, d, d]: the law N(μ_k, Σ_k) of the iterate;
  value [K+1]: V^{π_k};  gap [K+1]: V* − V^{π_k};  kl_residual [K+1]: τ KL(π_k‖p) = (T*V^{π_k} − V^{π_k});
  fisher_information [K+1]: I(π_k‖p) (τ² I is the flow's dissipation).
  """
  mean: chex.Array
  cov: chex.Array
  value: chex.Array
  gap: chex.Array
  kl_residual: chex.Array
  fisher_information: chex.Array


class _GaussianArrays(NamedTuple):
  m: chex.Array
  H: chex.Array
  tau: chex.Array
  gamma: chex.Array


def _gaussian_logdet(cov: chex.Array) -> chex.Array:
  """log det Σ via Cholesky.  [..., d, d] -> [...]."""
  chol = jnp.linalg.cholesky(cov)
  return 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)


@jax.jit
def _gaussian_log_partition(p: _GaussianArrays) -> chex.Array:
  return 0.5 * p.m.shape[0] * jnp.log(2.0 * jnp.pi * p.tau) - 0.5 * _gaussian_logdet(p.H)


@jax.jit
def _gaussian_value(p: _GaussianArrays, mean: chex.Array, cov: chex.Array) -> chex.Array:
  diff = mean - p.m
  expected_reward = -0.5 * (jnp.einsum('...i,ij,...j->...', diff, p.H, diff) + jnp.einsum('ij,...ji->...', p.H, cov))
  entropy = 0.5 * (p.m.shape[0] * jnp.log(2.0 * jnp.pi * jnp.e) + _gaussian_logdet(cov))
  return (expected_reward + p.tau * entropy) / (1.0 - p.gamma)


@jax.jit
def _gaussian_kl(p: _GaussianArrays, mean: chex.Array, cov: chex.Array) -> chex.Array:
  d = p.m.shape[0]
  diff = mean - p.m
  trace_term = jnp.einsum('ij,...ji->...', p.H, cov) / p.tau
  quad_term = jnp.einsum('...i,ij,...j->...', diff, p.H, diff) / p.tau
  logdet_target = d * jnp.log(p.tau) - _gaussian_logdet(p.H)
  return 0.5 * (trace_term + quad_term - d + logdet_target - _gaussian_logdet(cov))


@jax.jit
def _gaussian_fisher(p: _GaussianArrays, mean: chex.Array, cov: chex.Array) -> chex.Array:
  """I(N(μ,Σ)‖N(m,τH^{-1})) = tr((H/τ − Σ^{-1}) Σ (H/τ − Σ^{-1})) + ‖H(μ − m)/τ‖²."""
  precision_gap = p.H / p.tau - jnp.linalg.inv(cov)
  drift = (mean - p.m) @ p.H / p.tau
  return jnp.einsum('...ij,...jk,...ki->...', precision_gap, cov, precision_gap) + jnp.sum(drift**2, axis=-1)


@jax.jit
def _gaussian_step(p: _GaussianArrays, mean: chex.Array, cov: chex.Array,
                   step_size: chex.Array) -> tuple[chex.Array, chex.Array]:
  eye = jnp.eye(p.m.shape[0], dtype=p.H.dtype)
  contraction = eye - step_size * p.H
  return p.m + (mean - p.m) @ contraction, contraction @ cov @ contraction + 2.0 * step_size * p.tau * eye


@functools.partial(jax.jit, static_argnames=("num_steps",))
def _gaussian_wpgd_scan(p: _GaussianArrays, mean0: chex.Array, cov0: chex.Array, step_size: chex.Array,
                        num_steps: int) -> GaussianWPGDTrace:
  """The exact-law recursion under lax.scan, iterates k = 0..K with their values."""

  def body(carry, _):
    new = _gaussian_step(p, *carry, step_size)
    return new, new

  _, (means, covs) = jax.lax.scan(body, (mean0, cov0), None, length=num_steps)
  means = jnp.concatenate([mean0[None], means])
  covs = jnp.concatenate([cov0[None], covs])
  values = _gaussian_value(p, means, covs)
  optimal_value = p.tau * _gaussian_log_partition(p) / (1.0 - p.gamma)
  return GaussianWPGDTrace(means, covs, values, optimal_value - values, p.tau * _gaussian_kl(p, means, covs),
                           _gaussian_fisher(p, means, covs))


@jax.jit
def _gaussian_stationary_cov(p: _GaussianArrays, step_size: chex.Array) -> chex.Array:
  eye = jnp.eye(p.m.shape[0], dtype=p.H.dtype)
  return p.tau * jnp.linalg.inv(p.H @ (eye - 0.5 * step_size * p.H))


@jax.jit
def _gaussian_closed_form(p: _GaussianArrays, mean0: chex.Array, cov0: chex.Array, step_size: chex.Array,
                          k: chex.Array) -> GaussianPolicy:
  eigenvalues, eigenvectors = jnp.linalg.eigh(p.H)
  factors = 1.0 - step_size * eigenvalues
  a_pow_k = (eigenvectors * factors**k) @ eigenvectors.T
  a_pow_2k = (eigenvectors * factors**(2 * k)) @ eigenvectors.T
  eye = jnp.eye(p.m.shape[0], dtype=p.H.dtype)
  mean_k = p.m + a_pow_k @ (mean0 - p.m)
  cov_k = a_pow_k @ cov0 @ a_pow_k + (eye - a_pow_2k) @ _gaussian_stationary_cov(p, step_size)
  return GaussianPolicy(mean_k, cov_k)


class GaussianBandit:
  """Single-state problem with quadratic reward r̃(a) = −½(a − m)ᵀH(a − m), a ∈ R^d, H symmetric positive definite.

  Gibbs (= optimal) policy p = π* = N(m, τH^{-1}); log Z = (d/2) log(2πτ) − ½ log det H.
  All methods compute in float64 (x64 enabled locally) and return float64 arrays.

  Args:
    m: [d] reward maximiser.
    H: [d, d] symmetric positive-definite curvature.
    tau: temperature τ > 0.
    gamma: discount γ ∈ (0, 1).
  """

  def __init__(self, m: chex.Array, H: chex.Array, tau: float, gamma: float):
    m = np.asarray(m, dtype=np.float64)
    H = np.asarray(H, dtype=np.float64)
    _validation.check_rank("m", m, 1, "[action_dim]")
    d = m.shape[0]
    if H.shape != (d, d):
      raise ValueError(f"H must have shape [action_dim, action_dim] = {(d, d)} to match m, got {H.shape}")
    if not np.all(np.isfinite(H)) or not np.allclose(H, H.T, rtol=1e-12, atol=1e-12):
      raise ValueError("H must be a finite symmetric matrix")
    eigenvalues = np.linalg.eigvalsh(H)
    if eigenvalues[0] <= 0:
      raise ValueError(f"H must be positive definite, got smallest eigenvalue {eigenvalues[0]!r}")
    _validation.check_positive("tau", tau)
    _check_discount(gamma)
    self.m = m
    self.H = 0.5 * (H + H.T)
    self.tau = float(tau)
    self.gamma = float(gamma)
    self.action_dim = d
    self.eigenvalues = eigenvalues

  @property
  def _arrays(self) -> _GaussianArrays:
    return _GaussianArrays(*(jnp.asarray(x, jnp.float64) for x in (self.m, self.H, self.tau, self.gamma)))

  # -- stability and input checks ----------------------------------------------------------------------------------

  @property
  def max_stable_step_size(self) -> float:
    """2 / λ_max(H): WPGD (ULA) on this bandit is stable iff η < this."""
    return 2.0 / float(self.eigenvalues[-1])

  def _check_step_size(self, step_size: chex.Numeric) -> None:
    _validation.check_positive("step_size", step_size)
    if _validation.is_concrete(step_size) and float(step_size) * self.eigenvalues[-1] >= 2.0:
      raise ValueError(
          f"step_size must satisfy step_size * lambda_max(H) < 2 for WPGD to be stable, i.e. step_size < "
          f"{self.max_stable_step_size:.6g}; got step_size={float(step_size)!r}")

  def _check_policy(self, policy: GaussianPolicy) -> GaussianPolicy:
    mean = jnp.asarray(policy.mean, jnp.float64)
    cov = jnp.asarray(policy.cov, jnp.float64)
    d = self.action_dim
    if mean.shape[-1:] != (d,) or cov.shape[-2:] != (d, d) or cov.shape[:-2] != mean.shape[:-1]:
      raise ValueError(f"policy must have mean [..., {d}] and cov [..., {d}, {d}] with matching batch shape, "
                       f"got mean {mean.shape} and cov {cov.shape}")
    return GaussianPolicy(mean, cov)

  def _check_single_policy(self, policy: GaussianPolicy) -> GaussianPolicy:
    policy = self._check_policy(policy)
    if policy.mean.ndim != 1:
      raise ValueError(f"policy must be a single Gaussian (mean [d]), got mean shape {policy.mean.shape}")
    return policy

  # -- reward and Q ------------------------------------------------------------------------------------------------

  @float64
  def reward(self, actions: chex.Array) -> chex.Array:
    """r̃(a) = −½(a − m)ᵀH(a − m).  actions [..., d] -> [...]."""
    diff = jnp.asarray(actions, jnp.float64) - self.m
    return -0.5 * jnp.einsum('...i,ij,...j->...', diff, self.H, diff)

  @float64
  def reward_grad(self, actions: chex.Array) -> chex.Array:
    """∇r̃(a) = −H(a − m) (= ∇_a Q^π for every π).  actions [..., d] -> [..., d]."""
    return -(jnp.asarray(actions, jnp.float64) - self.m) @ self.H

  def q_function(self, value: chex.Numeric = 0.0) -> Callable[[chex.Array], chex.Array]:
    """Q^π as a function [d] -> scalar for the core particle steps: a ↦ r̃(a) + γ V^π, with V^π = `value`.

    The constant γV^π moves no particle (ULA and SVGD use ∇Q; MALA's acceptance uses Q differences), so the
    particle runs use value = 0.
    """
    quadratic = _quadratic_q(self.m, self.H)
    return lambda action: quadratic(action) + self.gamma * value

  # -- exact soft values -------------------------------------------------------------------------------------------

  @float64
  def log_partition(self) -> chex.Array:
    """log Z = log ∫ exp(r̃/τ) da = (d/2) log(2πτ) − ½ log det H.  -> scalar."""
    return _gaussian_log_partition(self._arrays)

  @float64
  def optimal_policy(self) -> GaussianPolicy:
    """π* = p = N(m, τH^{-1}), the Gibbs policy of every π (Q^π − r̃ is a constant)."""
    return GaussianPolicy(jnp.asarray(self.m), jnp.asarray(self.tau * np.linalg.inv(self.H)))

  @float64
  def optimal_value(self) -> chex.Array:
    """V* = τ log Z / (1 − γ).  -> scalar."""
    return self.tau * self.log_partition() / (1.0 - self.gamma)

  @float64
  def value(self, policy: GaussianPolicy) -> chex.Array:
    """V^π = (E_π r̃ + τ H(π)) / (1 − γ) for π = N(μ, Σ):
    E_π r̃ = −½[(μ − m)ᵀH(μ − m) + tr(HΣ)],  H(π) = ½ log det(2πeΣ).  -> [...] (batch of policies)."""
    return _gaussian_value(self._arrays, *self._check_policy(policy))

  @float64
  def kl_to_gibbs(self, policy: GaussianPolicy) -> chex.Array:
    """KL(N(μ, Σ) ‖ N(m, τH^{-1})) = ½[tr(HΣ)/τ + (μ − m)ᵀH(μ − m)/τ − d + d log τ − log det H − log det Σ].

    -> [...] (batch of policies).
    """
    return _gaussian_kl(self._arrays, *self._check_policy(policy))

  @float64
  def relative_fisher_information(self, policy: GaussianPolicy) -> chex.Array:
    """I(π‖p) = E_π‖∇log π − ∇log p‖² = tr((H/τ − Σ^{-1}) Σ (H/τ − Σ^{-1})) + ‖H(μ − m)/τ‖².  -> [...].

    p = N(m, τH^{-1}) satisfies LSI with α = λ_min(H)/τ: KL(π‖p) <= I(π‖p)/(2α).
    """
    return _gaussian_fisher(self._arrays, *self._check_policy(policy))

  @property
  def log_sobolev_constant(self) -> float:
    """α = λ_min(H)/τ, the LSI constant of the Gibbs policy N(m, τH^{-1})."""
    return float(self.eigenvalues[0]) / self.tau

  @float64
  def kl_residual(self, policy: GaussianPolicy) -> chex.Array:
    """The statewise residual τ KL(π‖p) (closed-form KL).  -> [...]."""
    return self.tau * self.kl_to_gibbs(policy)

  @float64
  def bellman_residual(self, policy: GaussianPolicy) -> chex.Array:
    """T*V^π − V^π computed from values, not from the KL: T*V = τ log Z + γV, so it is τ log Z − (1 − γ)V^π."""
    return self.tau * self.log_partition() - (1.0 - self.gamma) * self.value(policy)

  @float64
  def gap(self, policy: GaussianPolicy) -> chex.Array:
    """V* − V^π computed from the two values (compare with τ KL(π‖p) / (1 − γ)).  -> [...]."""
    return self.optimal_value() - self.value(policy)

  # -- exact-law WPGD ----------------------------------------------------------------------------------------------

  @float64
  def wpgd_step(self, policy: GaussianPolicy, step_size: chex.Numeric) -> GaussianPolicy:
    """One exact-law WPGD step: μ' = μ + η∇r̃(μ), Σ' = (I − ηH)Σ(I − ηH) + 2ητI."""
    self._check_step_size(step_size)
    mean, cov = self._check_single_policy(policy)
    return GaussianPolicy(*_gaussian_step(self._arrays, mean, cov, jnp.asarray(step_size, jnp.float64)))

  @float64
  def exact_wpgd(self, policy: GaussianPolicy, *, step_size: chex.Numeric, num_steps: int) -> GaussianWPGDTrace:
    """`num_steps` exact-law WPGD steps from π_0 = N(μ_0, Σ_0) under one `lax.scan` (the recursion, not the
    closed form, so that comparing with `closed_form_policy` checks both).  -> GaussianWPGDTrace with K+1 rows."""
    self._check_step_size(step_size)
    _check_num_steps(num_steps)
    mean0, cov0 = self._check_single_policy(policy)
    return _gaussian_wpgd_scan(self._arrays, mean0, cov0, jnp.asarray(step_size, jnp.float64),
                               num_steps=int(num_steps))

  @float64
  def closed_form_policy(self, policy: GaussianPolicy, *, step_size: chex.Numeric, k: int) -> GaussianPolicy:
    """The k-th exact-law WPGD iterate in closed form, with A = I − ηH = U diag(1 − ηλ) Uᵀ:

        μ_k = m + A^k (μ_0 − m),   Σ_k = A^k Σ_0 A^k + (I − A^{2k}) Σ_∞(η).
    """
    self._check_step_size(step_size)
    _check_num_steps(k)
    mean0, cov0 = self._check_single_policy(policy)
    return _gaussian_closed_form(self._arrays, mean0, cov0, jnp.asarray(step_size, jnp.float64), jnp.asarray(k))

  @float64
  def stationary_cov(self, step_size: chex.Numeric) -> chex.Array:
    """Σ_∞(η) = τH^{-1}(I − ηH/2)^{-1}, the fixed point of Σ ↦ (I − ηH)Σ(I − ηH) + 2ητI.  -> [d, d]."""
    self._check_step_size(step_size)
    return _gaussian_stationary_cov(self._arrays, jnp.asarray(step_size, jnp.float64))

  @float64
  def stationary_kl(self, step_size: chex.Numeric) -> chex.Array:
    """KL(N(m, Σ_∞(η)) ‖ p), the discretization bias of WPGD (≈ η² Σ_i λ_i² / 16 for small η).  -> scalar."""
    return self.kl_to_gibbs(GaussianPolicy(jnp.asarray(self.m), self.stationary_cov(step_size)))

  # -- particles ---------------------------------------------------------------------------------------------------

  @float64
  def sample(self, key: chex.PRNGKey, policy: GaussianPolicy, num_particles: int) -> chex.Array:
    """num_particles i.i.d. draws of N(μ, Σ).  -> [num_particles, d]."""
    mean, cov = self._check_single_policy(policy)
    return _sample_gaussian(key, mean, cov, num_particles=int(num_particles))

  @float64
  def particle_wpgd(self, key: chex.PRNGKey, particles: chex.Array, *, step_size: chex.Numeric, num_steps: int,
                    method: str = "ula", return_trajectory: bool = False) -> chex.Array:
    """`num_steps` core particle WPG steps (`wpgjax.core.wpg_flow`) on q_fn = Q^π = r̃ + const.

    With method="ula" and Gaussian initial particles the particle law at step k is exactly N(μ_k, Σ_k) of
    `exact_wpgd`; "mala" targets p exactly; "svgd" is the deterministic kernelized flow.
    particles [N, d] -> [N, d] (or [num_steps + 1, N, d] with return_trajectory).
    Raises ValueError for method="ula" when step_size * lambda_max(H) >= 2.
    """
    _validation.check_choice("method", method, particle_steps.METHODS)
    if method == "ula":
      self._check_step_size(step_size)
    particles = jnp.asarray(particles, jnp.float64)
    if particles.ndim != 2 or particles.shape[1] != self.action_dim:
      raise ValueError(f"particles must have shape [num_particles, {self.action_dim}], got {particles.shape}")
    _check_num_steps(num_steps)
    return _particle_flow(key, particles, (jnp.asarray(self.m), jnp.asarray(self.H)),
                          jnp.asarray(step_size, jnp.float64), jnp.asarray(self.tau), family="quadratic",
                          num_steps=int(num_steps), method=method, return_trajectory=bool(return_trajectory))


@functools.partial(jax.jit, static_argnames=("num_particles",))
def _sample_gaussian(key, mean, cov, num_particles):
  return jax.random.multivariate_normal(key, mean, cov, (num_particles,), method='eigh')


def _quadratic_q(m: chex.Array, H: chex.Array) -> Callable[[chex.Array], chex.Array]:
  """a ↦ −½(a − m)ᵀH(a − m), [d] -> scalar."""

  def q_fn(action: chex.Array) -> chex.Array:
    diff = action - m
    return -0.5 * diff @ (H @ diff)

  return q_fn


def _double_well_q(c: chex.Array, beta: chex.Array) -> Callable[[chex.Array], chex.Array]:
  """a ↦ −c(a² − 1)² − βa²/2, [1] -> scalar."""

  def q_fn(action: chex.Array) -> chex.Array:
    return _double_well_reward(c, beta, action[0])

  return q_fn


_Q_FAMILIES = {"quadratic": _quadratic_q, "double_well": _double_well_q}


@functools.partial(jax.jit, static_argnames=("family", "num_steps", "method", "return_trajectory"))
def _particle_flow(key, particles, q_params, step_size, tau, *, family, num_steps, method, return_trajectory):
  """jit-compiled `wpg_flow` on the reward family's q_fn (parameters, step_size and tau traced, so instances
  and sweeps of the same shapes share one compilation)."""
  q_fn = _Q_FAMILIES[family](*q_params)
  return particle_steps.wpg_flow(key, particles, q_fn, step_size=step_size, tau=tau, num_steps=num_steps,
                                 method=method, return_trajectory=return_trajectory)


# ----------------------------------------------------------------------------------------------------------------
# Double-well bandit.
# ----------------------------------------------------------------------------------------------------------------


class GridWPGDTrace(NamedTuple):
  """Exact-law WPGD on a grid for one state, iterates k = 0..K.

  log_density [G]: the final iterate log π_K;  value [K+1]: V^{π_k};  gap [K+1]: V* − V^{π_k};
  kl_residual [K+1]: τ KL(π_k‖p);  fisher_information [K+1]: I(π_k‖p) (finite-difference scores);
  tv_to_gibbs [K+1]: ½‖π_k − p‖₁;  edge_mass_lost [K]: mass the k-th untruncated step put off the grid
  (renormalised back).
  """
  log_density: chex.Array
  value: chex.Array
  gap: chex.Array
  kl_residual: chex.Array
  fisher_information: chex.Array
  tv_to_gibbs: chex.Array
  edge_mass_lost: chex.Array


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
  return _grid_expectation(log_density, integrand, p.grid_spacing) / (1.0 - p.gamma)


@jax.jit
def _dw_kl(p: _DoubleWellArrays, log_density: chex.Array) -> chex.Array:
  return _grid_kl(log_density, _dw_gibbs(p)[0], p.grid_spacing)


@jax.jit
def _dw_fisher(p: _DoubleWellArrays, log_density: chex.Array) -> chex.Array:
  score = _double_well_reward_grad(p.c, p.beta, p.grid) / p.tau
  return _grid_relative_fisher(log_density, score, p.grid_spacing)


def _dw_log_kernel(p: _DoubleWellArrays, step_size: chex.Array) -> tuple[chex.Array, chex.Array]:
  drift = _double_well_reward_grad(p.c, p.beta, p.grid)
  return _langevin_log_kernel(p.grid, drift, p.grid_spacing, step_size, p.tau)


@jax.jit
def _dw_kernel(p: _DoubleWellArrays, step_size: chex.Array) -> tuple[chex.Array, chex.Array]:
  log_kernel, mass_lost = _dw_log_kernel(p, step_size)
  return jnp.exp(log_kernel), mass_lost


@jax.jit
def _dw_step(p: _DoubleWellArrays, log_density: chex.Array, step_size: chex.Array) -> tuple[chex.Array, chex.Array]:
  drift = _double_well_reward_grad(p.c, p.beta, p.grid)
  return _langevin_grid_step(log_density, drift, p.grid, p.grid_spacing, step_size, p.tau)


def _dw_iterate(p: _DoubleWellArrays, log_density0: chex.Array, step_size: chex.Array,
                num_steps: int) -> tuple[chex.Array, chex.Array, chex.Array]:
  """Exact-law WPGD with the FIXED drift r̃' (single state: ∂_aQ^π = r̃' for every π), kernel built once.

  -> (final log density [G], iterates [K+1, G], mass lost per step [K]).
  """
  log_kernel, row_mass_lost = _dw_log_kernel(p, step_size)
  log_dx = jnp.log(p.grid_spacing)

  def body(log_density, _):
    log_mass = log_density + log_dx
    new_log_mass = jax.nn.logsumexp(log_mass[:, None] + log_kernel, axis=0)
    new = _normalize_log_density(new_log_mass - log_dx, p.grid_spacing)
    return new, (new, jnp.sum(jnp.exp(log_mass) * row_mass_lost))

  final, (densities, mass_lost) = jax.lax.scan(body, log_density0, None, length=num_steps)
  return final, jnp.concatenate([log_density0[None], densities]), mass_lost


@functools.partial(jax.jit, static_argnames=("num_steps",))
def _dw_wpgd_scan(p: _DoubleWellArrays, log_density0: chex.Array, step_size: chex.Array,
                  num_steps: int) -> GridWPGDTrace:
  final, densities, mass_lost = _dw_iterate(p, log_density0, step_size, num_steps)
  gibbs, log_z = _dw_gibbs(p)
  values = _dw_value(p, densities)
  optimal_value = p.tau * log_z / (1.0 - p.gamma)
  return GridWPGDTrace(final, values, optimal_value - values, p.tau * _grid_kl(densities, gibbs, p.grid_spacing),
                       _dw_fisher(p, densities), _grid_tv(densities, gibbs, p.grid_spacing), mass_lost)


@functools.partial(jax.jit, static_argnames=("num_polish_steps",))
def _dw_stationary(p: _DoubleWellArrays, step_size: chex.Array, num_polish_steps: int) -> chex.Array:
  log_kernel, _ = _dw_log_kernel(p, step_size)
  size = p.grid.shape[0]
  system = (jnp.exp(log_kernel).T - jnp.eye(size, dtype=p.grid.dtype)).at[0].set(1.0)
  rhs = jnp.zeros(size, p.grid.dtype).at[0].set(1.0)
  masses = jnp.linalg.solve(system, rhs)
  log_density = _normalize_log_density(jnp.log(jnp.maximum(masses, 1e-300)), p.grid_spacing)
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


class DoubleWellBandit:
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
  """

  def __init__(self, c: float, beta: float, tau: float, gamma: float, *, grid_size: int = 301,
               grid_halfwidth: float = 3.0):
    _validation.check_positive("c", c)
    _validation.check_in_range("beta", beta, 0.0, np.inf, closed="low")
    _validation.check_positive("tau", tau)
    _check_discount(gamma)
    self.c = float(c)
    self.beta = float(beta)
    self.tau = float(tau)
    self.gamma = float(gamma)
    self.grid, self.grid_spacing = _uniform_grid(grid_halfwidth, grid_size)

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
    return _normalize_log_density(self._check_log_density(log_unnormalized, "log_unnormalized"), self.grid_spacing)

  @float64
  def gaussian_log_density(self, mean: chex.Numeric, std: chex.Numeric) -> chex.Array:
    """N(mean, std²) restricted to the grid and normalised there.  -> [G]."""
    _validation.check_positive("std", std)
    return _normalize_log_density(jnp.asarray(-0.5 * ((self.grid - mean) / std)**2), self.grid_spacing)

  @float64
  def optimal_value(self) -> chex.Array:
    """V* = τ log Z / (1 − γ).  -> scalar."""
    return self.tau * self.log_partition() / (1.0 - self.gamma)

  @float64
  def value(self, log_density: chex.Array) -> chex.Array:
    """V^π = Σ_i π_i Δa [r̃(a_i) − τ log π_i] / (1 − γ).  [..., G] -> [...]."""
    return _dw_value(self._arrays, self._check_log_density(log_density))

  @float64
  def kl_to_gibbs(self, log_density: chex.Array) -> chex.Array:
    """KL(π‖p) by quadrature.  [..., G] -> [...]."""
    return _dw_kl(self._arrays, self._check_log_density(log_density))

  @float64
  def kl_residual(self, log_density: chex.Array) -> chex.Array:
    """τ KL(π‖p).  [..., G] -> [...]."""
    return self.tau * self.kl_to_gibbs(log_density)

  @float64
  def bellman_residual(self, log_density: chex.Array) -> chex.Array:
    """T*V^π − V^π = τ log Z − (1 − γ)V^π, from values (compare with `kl_residual`).  [..., G] -> [...]."""
    return self.tau * self.log_partition() - (1.0 - self.gamma) * self.value(log_density)

  @float64
  def gap(self, log_density: chex.Array) -> chex.Array:
    """V* − V^π from the two values (compare with τ KL(π‖p)/(1 − γ)).  [..., G] -> [...]."""
    return self.optimal_value() - self.value(log_density)

  @float64
  def relative_fisher_information(self, log_density: chex.Array) -> chex.Array:
    """I(π‖p) = Σ_i π_i (∂_a log π_i − r̃'(a_i)/τ)² Δa (∂_a log π by finite differences).  [..., G] -> [...]."""
    return _dw_fisher(self._arrays, self._check_log_density(log_density))

  @float64
  def tv_distance(self, log_p: chex.Array, log_q: chex.Array) -> chex.Array:
    """½ Σ_i |p_i − q_i| Δa.  [..., G], [..., G] -> [...]."""
    return _grid_tv(self._check_log_density(log_p, "log_p"), self._check_log_density(log_q, "log_q"),
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
    _check_grid_resolves_kernel(step_size, self.tau, self.grid_spacing)
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
  def exact_wpgd(self, log_density: chex.Array, *, step_size: chex.Numeric, num_steps: int) -> GridWPGDTrace:
    """`num_steps` exact-law WPGD steps on the grid from π_0 (log-density [G]) under one `lax.scan`."""
    self._check_step_size(step_size)
    _check_num_steps(num_steps)
    return _dw_wpgd_scan(self._arrays, self._check_single_log_density(log_density),
                         jnp.asarray(step_size, jnp.float64), num_steps=int(num_steps))

  @float64
  def ula_stationary_log_density(self, step_size: chex.Numeric, *, num_polish_steps: int = 20) -> chex.Array:
    """The fixed point π_∞(η) of the exact-law WPGD (ULA) kernel on the grid: the stationary law of the
    row-stochastic matrix K (solve (Kᵀ − I)x = 0 with Σx = 1), then `num_polish_steps` log-space steps so that
    the far tails (below rounding in the solve) get accurate log-densities.  -> [G]."""
    self._check_step_size(step_size)
    _check_num_steps(num_polish_steps)
    return _dw_stationary(self._arrays, jnp.asarray(step_size, jnp.float64),
                          num_polish_steps=int(num_polish_steps))

  # -- particles ---------------------------------------------------------------------------------------------------

  @float64
  def sample_grid_law(self, key: chex.PRNGKey, log_density: chex.Array, num_particles: int) -> chex.Array:
    """Draws from the grid law (cell i with mass π_i Δa, uniform within the cell).  [G] -> [num_particles, 1]."""
    samples = _sample_grid_law_jit(key, self._check_single_log_density(log_density), jnp.asarray(self.grid),
                                   jnp.asarray(self.grid_spacing), num_samples=int(num_particles))
    return samples[:, None]

  @float64
  def particle_wpgd(self, key: chex.PRNGKey, particles: chex.Array, *, step_size: chex.Numeric, num_steps: int,
                    method: str = "ula", return_trajectory: bool = False) -> chex.Array:
    """`num_steps` core particle steps (`wpgjax.core.wpg_flow`, method "ula" | "mala" | "svgd") on q_fn = r̃.

    particles [N, 1] -> [N, 1] (or [num_steps + 1, N, 1] with return_trajectory). Only step_size > 0 is checked
    (ULA on the quartic is stable for particles inside |a|² < 1 + (2 − ηβ)/(4cη)).
    """
    _validation.check_choice("method", method, particle_steps.METHODS)
    _validation.check_positive("step_size", step_size)
    particles = jnp.asarray(particles, jnp.float64)
    if particles.ndim != 2 or particles.shape[1] != 1:
      raise ValueError(f"particles must have shape [num_particles, 1], got {particles.shape}")
    _check_num_steps(num_steps)
    return _particle_flow(key, particles, (jnp.asarray(self.c), jnp.asarray(self.beta)),
                          jnp.asarray(step_size, jnp.float64), jnp.asarray(self.tau), family="double_well",
                          num_steps=int(num_steps), method=method, return_trajectory=bool(return_trajectory))

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
