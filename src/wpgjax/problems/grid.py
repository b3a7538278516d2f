"""Quadrature on a uniform action grid, shared by the grid problems (`DoubleWellBandit`, `FiniteMDP`).

Conventions: a uniform grid a_i = −L + iΔa, i = 0..G−1, and ONE quadrature rule, ∫ f da ≈ Σ_i f(a_i) Δa, used for
every normalisation, expectation, KL and log-partition, so the identities of docs/theory.md §2 hold on the grid to
rounding error. Densities are stored as log-densities normalised by that rule: Σ_i exp(log π_i) Δa = 1. Every
function acts along the last axis, so leading axes (states, iterates, a batch of policies) broadcast.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np

from wpgjax import _validation


def uniform_grid(halfwidth: float, size: int) -> tuple[np.ndarray, float]:
  """Uniform grid on [−L, L] with G points and its spacing Δa = 2L/(G − 1).  -> ([G] float64, Δa)."""
  if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 3:
    raise ValueError(f"grid_size must be an int >= 3, got {size!r}")
  _validation.check_positive("grid_halfwidth", halfwidth)
  grid = np.linspace(-float(halfwidth), float(halfwidth), int(size), dtype=np.float64)
  return grid, float(grid[1] - grid[0])


def normalize_log_density(log_unnormalized: chex.Array, grid_spacing: chex.Numeric) -> chex.Array:
  """log π_i = f_i − log Σ_j exp(f_j) Δa along the last axis, so Σ_i π_i Δa = 1.  [..., G] -> [..., G]."""
  log_mass = jax.nn.logsumexp(log_unnormalized, axis=-1, keepdims=True) + jnp.log(grid_spacing)
  return log_unnormalized - log_mass


def expectation(log_density: chex.Array, values: chex.Array, grid_spacing: chex.Numeric) -> chex.Array:
  """E_π[f] = Σ_i π_i f_i Δa along the last axis.  [..., G], [..., G] -> [...]."""
  return jnp.sum(jnp.exp(log_density) * values, axis=-1) * grid_spacing


def kl(log_p: chex.Array, log_q: chex.Array, grid_spacing: chex.Numeric) -> chex.Array:
  """KL(p‖q) = Σ_i p_i (log p_i − log q_i) Δa along the last axis.  [..., G], [..., G] -> [...]."""
  return expectation(log_p, log_p - log_q, grid_spacing)


def tv(log_p: chex.Array, log_q: chex.Array, grid_spacing: chex.Numeric) -> chex.Array:
  """Total variation ½ Σ_i |p_i − q_i| Δa along the last axis.  [..., G], [..., G] -> [...]."""
  return 0.5 * jnp.sum(jnp.abs(jnp.exp(log_p) - jnp.exp(log_q)), axis=-1) * grid_spacing


def log_derivative(log_density: chex.Array, grid_spacing: chex.Numeric) -> chex.Array:
  """∂_a log π on the grid by finite differences (2nd-order central inside, 1st-order at the ends).  [..., G]."""
  return jnp.gradient(log_density, grid_spacing, axis=-1)


def relative_fisher(log_density: chex.Array, target_score: chex.Array, grid_spacing: chex.Numeric) -> chex.Array:
  """I(π‖p) = Σ_i π_i (∂_a log π_i − ∂_a log p_i)² Δa, with ∂_a log π by finite differences and the target's
  score ∂_a log p given (analytically) on the grid.  [..., G], [..., G] -> [...]."""
  score_gap = log_derivative(log_density, grid_spacing) - target_score
  return expectation(log_density, score_gap**2, grid_spacing)


def langevin_log_kernel(grid: chex.Array, drift: chex.Array, grid_spacing: chex.Numeric, step_size: chex.Numeric,
                        tau: chex.Numeric) -> tuple[chex.Array, chex.Array]:
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


def apply_log_kernel(log_density: chex.Array, log_kernel: chex.Array, row_mass_lost: chex.Array,
                     grid_spacing: chex.Numeric) -> tuple[chex.Array, chex.Array]:
  """One exact-law step with a kernel from `langevin_log_kernel`, in log space (no underflow in the tails):

      π_{k+1}(a_j) = Σ_i π_k(a_i) Δa K_ij / Δa.

  log_density [..., G], log_kernel [..., G, G], row_mass_lost [..., G] -> (log π_{k+1} [..., G], mass_lost [...])
  where mass_lost = Σ_i π_k(a_i) Δa row_mass_lost_i is the probability mass the untruncated step would have put
  off the grid (renormalised back).
  """
  log_dx = jnp.log(grid_spacing)
  log_mass = log_density + log_dx  # [..., G]
  new_log_mass = jax.nn.logsumexp(log_mass[..., :, None] + log_kernel, axis=-2)
  mass_lost = jnp.sum(jnp.exp(log_mass) * row_mass_lost, axis=-1)
  # The kernel is row-stochastic, so the new masses sum to 1 up to rounding; renormalise that rounding away.
  return normalize_log_density(new_log_mass - log_dx, grid_spacing), mass_lost


def langevin_step(log_density: chex.Array, drift: chex.Array, grid: chex.Array, grid_spacing: chex.Numeric,
                  step_size: chex.Numeric, tau: chex.Numeric) -> tuple[chex.Array, chex.Array]:
  """One exact-law WPGD step on the grid with drift ∂_aQ: `apply_log_kernel` of `langevin_log_kernel`.

  log_density, drift: [..., G] -> (log π_{k+1} [..., G], mass_lost [...]).
  """
  log_kernel, row_mass_lost = langevin_log_kernel(grid, drift, grid_spacing, step_size, tau)
  return apply_log_kernel(log_density, log_kernel, row_mass_lost, grid_spacing)


def _sample(key: chex.PRNGKey, log_density: chex.Array, grid: chex.Array, grid_spacing: chex.Numeric,
            num_samples: int) -> chex.Array:
  key_cell, key_jitter = jax.random.split(key)
  batch = log_density.shape[:-1]
  cells = jax.random.categorical(key_cell, log_density, axis=-1, shape=(num_samples,) + batch)
  cells = jnp.moveaxis(cells, 0, -1)
  jitter = jax.random.uniform(key_jitter, cells.shape, grid.dtype, -0.5, 0.5) * grid_spacing
  return grid[cells] + jitter


_sample_jit = jax.jit(_sample, static_argnames=("num_samples",))


def sample(key: chex.PRNGKey, log_density: chex.Array, grid: chex.Array, grid_spacing: chex.Numeric,
           num_samples: int) -> chex.Array:
  """Samples of the piecewise-constant law with mass π_i Δa uniform on the cell [a_i − Δa/2, a_i + Δa/2]
  (jit-compiled per num_samples).

  log_density: [..., G] -> [..., num_samples] (independent draws for each leading index).
  """
  return _sample_jit(key, log_density, grid, grid_spacing, num_samples=int(num_samples))


def check_kernel_resolved(step_size: chex.Numeric, tau: float, grid_spacing: float) -> None:
  """The Gaussian step kernel must be resolved by the grid: sqrt(2τη) >= Δa (ValueError otherwise)."""
  if _validation.is_concrete(step_size) and np.sqrt(2.0 * tau * float(step_size)) < grid_spacing * (1.0 - 1e-9):
    raise ValueError(
        f"step_size={float(step_size)!r} is too small for the grid: the step kernel's std sqrt(2*tau*step_size)="
        f"{np.sqrt(2.0 * tau * float(step_size)):.3g} must be >= the grid spacing {grid_spacing:.3g} "
        "(use a finer grid or a larger step_size)")
