"""Diagnostics of the WPG convergence proof for ONE state (docs/theory.md §2, §6), plus host-side rate fits.

Jittable, unbatched functions (vmap over states):
- the statewise KL residual (T*V^π − V^π)(s) = τ KL(π ‖ p), p ∝ exp(Q/τ), on a quadrature grid or from samples;
- the relative Fisher information I(π ‖ p) = E_π‖∇ log π − ∇Q/τ‖² and the Fisher dissipation g = τ² I;
- the kernel Stein discrepancy KSD²(π, p), which needs only particles and ∇_aQ (no density of π);
- the empirical PL ratio g / (τ KL), which is ≥ 2ατ under LSI(α) (so its minimum along a run bounds the certified
  constant from above: a contraction predicted from it is optimistic); the predicted per-step contraction factor.
Host-side numpy helpers (not jittable): `fit_geometric_decay` and `loglog_slope`.
"""

from __future__ import annotations

__all__ = [
    'kl_residual_quadrature',
    'kl_residual_from_samples',
    'relative_fisher_information',
    'relative_fisher_information_grid',
    'fisher_dissipation',
    'kernel_stein_discrepancy_squared',
    'empirical_pl_ratio',
    'predicted_contraction_factor',
    'contraction_factor_bound',
    'GeometricDecayFit',
    'fit_geometric_decay',
    'LogLogFit',
    'loglog_slope',
]

import math
from typing import NamedTuple, Sequence

import chex
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from wpgjax import _validation
from wpgjax.core import kernels


def _floating(x: chex.Array) -> chex.Array:
  x = jnp.asarray(x)
  return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.result_type(float))


# ----------------------------------------------------------------------------------------------- KL residual


def kl_residual_quadrature(log_policy: chex.Array, q_values: chex.Array, cell_volume: chex.Numeric,
                           tau: chex.Numeric) -> chex.Array:
  """Statewise soft Bellman residual on a quadrature grid (docs/theory.md §2, identity 1):

      τ KL(π ‖ p) = τ Σ_g w_g π_g [log π_g − Q_g/τ + log Z] = τ log Z − E_π[Q − τ log π],
      log Z = logsumexp_g(Q_g/τ + log w_g),

  with π renormalised on the grid (π_g ← π_g / Σ_g w_g π_g), so the result is the KL between the two
  grid-discretised laws: ≥ 0, and 0 iff π ∝ exp(Q/τ) on the grid. Grid points with π_g = 0 (log π_g = −inf)
  contribute 0. log_policy: [G] log π(a_g); q_values: [G]; cell_volume: scalar or [G] quadrature weights w_g;
  tau > 0. Returns a scalar.
  """
  _validation.check_rank("log_policy", log_policy, 1, "[num_grid_points]")
  _validation.check_same_shape("log_policy", log_policy, "q_values", q_values)
  _validation.check_positive("cell_volume", cell_volume)
  _validation.check_positive("tau", tau)
  log_policy = _floating(log_policy)
  log_weights = jnp.broadcast_to(jnp.log(jnp.asarray(cell_volume, log_policy.dtype)), log_policy.shape)
  log_mass = log_policy + log_weights
  log_mass = log_mass - logsumexp(log_mass)  # log of the normalised grid probabilities π_g w_g
  log_target_mass = q_values / tau + log_weights
  log_target_mass = log_target_mass - logsumexp(log_target_mass)
  mass = jnp.exp(log_mass)
  positive = mass > 0
  safe_log_ratio = jnp.where(positive, log_mass - log_target_mass, 0.0)
  return tau * jnp.sum(jnp.where(positive, mass * safe_log_ratio, 0.0))


def kl_residual_from_samples(log_probs: chex.Array, q_values: chex.Array, log_partition: chex.Numeric,
                             tau: chex.Numeric) -> chex.Array:
  """Statewise residual from samples a_i ∼ π and a log-partition estimate log Ẑ:

      τ KL(π ‖ p) ≈ τ log Ẑ − (1/N) Σ_i [Q(a_i) − τ log π(a_i)].

  Unbiased given the exact log Z; with an estimate (`gibbs_log_partition_quadrature` or
  `gibbs_log_partition_importance`) it inherits its error and may be slightly negative.
  log_probs: [N] log π(a_i); q_values: [N]; log_partition: scalar; tau > 0. Returns a scalar.
  """
  _validation.check_rank("log_probs", log_probs, 1, "[num_samples]")
  _validation.check_same_shape("log_probs", log_probs, "q_values", q_values)
  _validation.check_rank("log_partition", log_partition, 0, "[] (a scalar)")
  _validation.check_positive("tau", tau)
  return tau * log_partition - jnp.mean(q_values - tau * _floating(log_probs))


# ------------------------------------------------------------------------------------------ Fisher information


def relative_fisher_information(policy_scores: chex.Array, q_gradients: chex.Array, tau: chex.Numeric,
                                weights: chex.Array | None = None) -> chex.Array:
  """Relative Fisher information of π to p ∝ exp(Q/τ) from per-point scores:

      I(π ‖ p) = E_π ‖∇_a log π(a) − ∇_a Q(a)/τ‖²  ≈  Σ_i ŵ_i ‖s_i − ∇Q_i/τ‖²,

  ŵ_i = 1/N for samples a_i ∼ π (weights None), or ŵ_i = w_i / Σ_j w_j for given weights [N] (e.g. π(a_g)·cell
  volume on a grid with known gradients). policy_scores: [N, d] ∇_a log π(a_i); q_gradients: [N, d];
  tau > 0. Returns a scalar ≥ 0.
  """
  _validation.check_rank("policy_scores", policy_scores, 2, "[num_points, action_dim]")
  _validation.check_same_shape("policy_scores", policy_scores, "q_gradients", q_gradients)
  _validation.check_positive("tau", tau)
  policy_scores = _floating(policy_scores)
  diff = policy_scores - q_gradients / tau
  sq_norm = jnp.sum(diff * diff, axis=-1)
  if weights is None:
    return jnp.mean(sq_norm)
  _validation.check_rank("weights", weights, 1, "[num_points]")
  if np.shape(weights)[0] != np.shape(policy_scores)[0]:
    raise ValueError(f"weights must have shape [num_points] = [{np.shape(policy_scores)[0]}], got shape "
                     f"{np.shape(weights)}")
  return jnp.sum(weights * sq_norm) / jnp.sum(weights)


def relative_fisher_information_grid(log_policy: chex.Array, q_values: chex.Array,
                                     grid_spacing: chex.Numeric | Sequence[float], tau: chex.Numeric) -> chex.Array:
  """Relative Fisher information on a uniform product grid, gradients by finite differences:

      I(π ‖ p) ≈ Σ_g ŵ_g ‖∇_h(log π − Q/τ)(a_g)‖²,   ŵ_g = π_g / Σ π,

  ∇_h the second-order central difference in the interior and second-order one-sided differences at the edges
  (`jnp.gradient`); error O(h²) for smooth log π − Q/τ. Only log π − Q/τ is differenced, so π need not be
  normalised. log_policy, q_values: [G_1, ..., G_D] values on the grid (D = action dimension, each G_i ≥ 3);
  grid_spacing: a scalar (same spacing on every axis) or a sequence of D spacings, > 0; tau > 0.
  Returns a scalar. With gradients known exactly use `relative_fisher_information(..., weights=π_g)`.
  """
  rank = np.ndim(log_policy)
  if rank < 1:
    raise ValueError(f"log_policy must have shape [G_1, ..., G_D] (rank >= 1), got shape {np.shape(log_policy)}")
  _validation.check_same_shape("log_policy", log_policy, "q_values", q_values)
  if min(np.shape(log_policy)) < 3:
    raise ValueError(f"log_policy must have at least 3 grid points per axis, got shape {np.shape(log_policy)}")
  spacings = [grid_spacing] * rank if np.ndim(grid_spacing) == 0 else list(grid_spacing)
  if len(spacings) != rank:
    raise ValueError(f"grid_spacing must be a scalar or have {rank} entries (one per grid axis), got "
                     f"{grid_spacing!r}")
  for spacing in spacings:
    _validation.check_positive("grid_spacing", spacing)
  _validation.check_positive("tau", tau)
  log_policy = _floating(log_policy)
  log_ratio = log_policy - q_values / tau
  grads = jnp.gradient(log_ratio, *spacings)
  grads = [grads] if rank == 1 else list(grads)
  sq_norm = sum(g * g for g in grads)
  weights = jnp.exp(log_policy - jnp.max(log_policy))
  return jnp.sum(weights * sq_norm) / jnp.sum(weights)


def fisher_dissipation(fisher_information: chex.Array, tau: chex.Numeric) -> chex.Array:
  """Fisher dissipation g = τ² I(π ‖ p), the rate of statewise value improvement along the WPG flow
  (docs/theory.md §2, identity 3).  fisher_information: [...] -> [...]; tau > 0."""
  _validation.check_positive("tau", tau)
  return tau**2 * fisher_information


# --------------------------------------------------------------------------------------------------------- KSD


def kernel_stein_discrepancy_squared(particles: chex.Array, q_gradients: chex.Array, tau: chex.Numeric,
                                     lengthscale: chex.Numeric | None = None) -> chex.Array:
  """Squared kernel Stein discrepancy of the particle law to p ∝ exp(Q/τ) (U-statistic, RBF kernel):

      KSD² = 1/(N(N−1)) Σ_{i≠j} u(a_i, a_j),   s = ∇_a Q/τ (the score of p; no density of π is needed),
      u(x, y) = s(x)ᵀs(y) k + s(x)ᵀ∇_y k + s(y)ᵀ∇_x k + tr(∇_x∇_y k),
      k = exp(−r²/(2ℓ²)), r = x − y:  ∇_x k = −r k/ℓ²,  ∇_y k = r k/ℓ²,  tr(∇_x∇_y k) = k (d/ℓ² − ‖r‖²/ℓ⁴).

  The U-statistic is unbiased for KSD² (so it can be slightly negative): it fluctuates around 0 with
  O(1/N) spread for particles drawn from p and converges to a positive value otherwise.
  lengthscale None: the median heuristic ℓ² = median_{i<j} ‖a_i − a_j‖² (kernels.median_lengthscale rescaled by
  sqrt(2 log(N+1)) to undo its SVGD-specific N-dependence, so the population KSD² does not change with N).
  particles: [N, d] (N ≥ 2); q_gradients: [N, d] ∇_a Q(a_i); tau > 0. Returns a scalar.
  """
  _validation.check_rank("particles", particles, 2, "[num_particles, action_dim]")
  _validation.check_same_shape("particles", particles, "q_gradients", q_gradients)
  _validation.check_positive("tau", tau)
  n, d = np.shape(particles)
  if n < 2:
    raise ValueError(f"particles must hold at least 2 particles, got shape {np.shape(particles)}")
  particles = _floating(particles)
  if lengthscale is None:
    lengthscale = kernels.median_lengthscale(particles) * jnp.sqrt(2.0 * jnp.log(n + 1.0))
  else:
    _validation.check_positive("lengthscale", lengthscale)
  inv_ell_sq = 1.0 / lengthscale**2
  score = q_gradients / tau
  sq_dist = kernels.pairwise_sq_distances(particles, particles)
  kernel = jnp.exp(-0.5 * sq_dist * inv_ell_sq)
  # s(x_i)ᵀ(x_i − x_j) and s(x_j)ᵀ(x_i − x_j) without forming [N, N, d].
  score_dot_self = jnp.sum(score * particles, axis=-1)
  score_i_dot_r = score_dot_self[:, None] - score @ particles.T
  score_j_dot_r = particles @ score.T - score_dot_self[None, :]
  u = kernel * (score @ score.T + (score_i_dot_r - score_j_dot_r) * inv_ell_sq
                + d * inv_ell_sq - sq_dist * inv_ell_sq**2)
  off_diagonal_sum = jnp.sum(u) - jnp.sum(jnp.diagonal(u))
  return off_diagonal_sum / (n * (n - 1))


# ------------------------------------------------------------------------------------------ rates and ratios


def empirical_pl_ratio(dissipation: chex.Array, residual: chex.Array,
                       min_residual: chex.Numeric = 0.0) -> chex.Array:
  """Empirical Polyak–Łojasiewicz ratio  g / (τ KL) = τ² I / (τ KL) = τ I / KL  (docs/theory.md §2, §6).

  Under LSI(α) every value is ≥ 2ατ (τ² I ≥ 2ατ · τ KL). Its minimum over the states and iterates of a run is
  the PL constant that run actually enjoys: the quantity that sets its contraction rate. It is ≥ 2α_LSI τ (so an
  upper bound on the worst-case LSI constant, and usually far larger than Holley–Stroock's certified one).

  dissipation: [...] g = τ² I; residual: [...] τ KL. Where residual ≤ min_residual (default 0; both vanish at the
  optimum, and sample estimates of the residual can be ≤ 0) the ratio is undefined and NaN is returned
  (gradient-safe): aggregate over states with jnp.nanmin / jnp.nanmean. Returns [...].
  """
  residual = _floating(residual)
  defined = residual > min_residual
  safe_residual = jnp.where(defined, residual, 1.0)
  return jnp.where(defined, dissipation / safe_residual, jnp.nan)


def _check_rate_inputs(lsi_constant, tau, step_size, discount) -> None:
  _validation.check_positive("lsi_constant", lsi_constant)
  _validation.check_positive("tau", tau)
  _validation.check_positive("step_size", step_size)
  _validation.check_in_range("discount", discount, 0.0, 1.0, closed="low")


def predicted_contraction_factor(lsi_constant: chex.Numeric, tau: chex.Numeric, step_size: chex.Numeric,
                                 discount: chex.Numeric) -> chex.Array:
  """Per-step contraction factor of the WPGD sup-gap recursion (docs/theory.md §3):

      ρ = 1 − (1 − γ)(1 − exp(−ᾱ τ η)),   E_{k+1} ≤ ρ E_k + τ δ_η/(1 − γ).

  lsi_constant ᾱ > 0, tau > 0, step_size η > 0, discount γ ∈ [0, 1); scalars or broadcastable arrays.
  """
  _check_rate_inputs(lsi_constant, tau, step_size, discount)
  return 1.0 - (1.0 - discount) * (-jnp.expm1(-lsi_constant * tau * step_size))


def contraction_factor_bound(lsi_constant: chex.Numeric, tau: chex.Numeric, step_size: chex.Numeric,
                             discount: chex.Numeric) -> chex.Array:
  """The theorem's bound on the contraction factor, exp(−½ ᾱ τ (1 − γ) η) ≥ `predicted_contraction_factor`
  whenever ᾱτη ≤ 1 (since 1 − e^{−x} ≥ x/2 there). Same arguments; returns the broadcast shape."""
  _check_rate_inputs(lsi_constant, tau, step_size, discount)
  return jnp.exp(-0.5 * lsi_constant * tau * (1.0 - discount) * step_size)


# --------------------------------------------------------------------------------------- host-side fits (numpy)


class GeometricDecayFit(NamedTuple):
  """E_k ≈ floor + amplitude · rate^k, fitted on the transient indices start ≤ k < stop."""
  rate: float
  floor: float
  amplitude: float
  start: int
  stop: int


def fit_geometric_decay(gaps: Sequence[float] | np.ndarray, *, start: int = 0, tail_fraction: float = 0.25,
                        noise_multiplier: float = 10.0, relative_threshold: float = 1e-6,
                        max_refinements: int = 100) -> GeometricDecayFit:
  """Fit E_k ≈ floor + C ρ^k to a decaying sequence (host side, numpy; not jittable).

  1. floor: the median of the last `tail_fraction` of the sequence (robust to noise on the plateau);
  2. transient: indices k ≥ `start` up to (excluding) the first k where E_k − floor ≤ threshold, with
     threshold = max(noise_multiplier · tail spread, relative_threshold · max_k (E_k − floor), 100 ε |floor|),
     tail spread = 1.4826 · median absolute deviation of the tail (≈ its standard deviation for Gaussian noise).
     Only points well above the floor are used, since log(E_k − floor) is dominated by noise near it;
  3. least-squares line log(E_k − floor) = log C + k log ρ on the transient: ρ = exp(slope);
  4. re-estimate the floor as the tail median of E_k − C ρ^k (removing what is left of the transient in the
     tail) and refit 2-3; repeat this fixed-point iteration until the floor stops changing (at most
     `max_refinements` times; skipped if ρ ≥ 1). On exact sequences floor + C ρ^k it recovers (ρ, floor, C)
     to ~1e-12 even when the tail is still half transient (e.g. ρ = 0.99, floor 0.1, C = 1, 300 points).
  gaps: [K] finite values (e.g. the sup-gap E_k); start: first index of the fit. Raises ValueError if fewer
  than 3 transient points remain. Returns GeometricDecayFit(rate, floor, amplitude, start, stop).
  """
  values = np.asarray(gaps, dtype=np.float64)
  if values.ndim != 1:
    raise ValueError(f"gaps must be a 1-D sequence [num_iterations], got shape {values.shape}")
  if not np.all(np.isfinite(values)):
    raise ValueError("gaps must be finite")
  if not 0.0 < tail_fraction < 1.0:
    raise ValueError(f"tail_fraction must lie in (0, 1), got {tail_fraction!r}")
  if not isinstance(start, (int, np.integer)) or not 0 <= start < values.size:
    raise ValueError(f"start must be an int in [0, {values.size}), got {start!r}")
  num_tail = max(1, int(round(tail_fraction * values.size)))
  tail_index = np.arange(values.size - num_tail, values.size)
  steps = np.arange(values.size, dtype=np.float64)

  def transient_fit(floor: float) -> tuple[float, float, int]:
    excess = values - floor
    tail = values[tail_index] - floor
    spread = 1.4826 * np.median(np.abs(tail - np.median(tail)))
    threshold = max(noise_multiplier * spread, relative_threshold * np.max(excess[start:]),
                    100.0 * np.finfo(np.float64).eps * abs(floor))
    below = np.nonzero(excess[start:] <= threshold)[0]
    stop = start + (int(below[0]) if below.size else values.size - start)
    if stop - start < 3:
      raise ValueError(f"fit_geometric_decay needs at least 3 points well above the floor after start={start}; "
                       f"found {stop - start} (floor ≈ {floor:.3g}, threshold {threshold:.3g})")
    slope, intercept = np.polyfit(steps[start:stop], np.log(excess[start:stop]), 1)
    return float(np.exp(slope)), float(np.exp(intercept)), stop

  floor = float(np.median(values[tail_index]))
  rate, amplitude, stop = transient_fit(floor)
  for _ in range(max_refinements):
    if not rate < 1.0:  # not decaying: the tail correction C ρ^k would blow up
      break
    new_floor = float(np.median(values[tail_index] - amplitude * rate ** steps[tail_index]))
    rate, amplitude, stop = transient_fit(new_floor)
    converged = abs(new_floor - floor) <= 1e-15 * max(abs(new_floor), amplitude)
    floor = new_floor
    if converged:
      break
  return GeometricDecayFit(rate, floor, amplitude, start, stop)


class LogLogFit(NamedTuple):
  """y ≈ prefactor · x^slope (least squares in log-log coordinates)."""
  slope: float
  prefactor: float


def loglog_slope(xs: Sequence[float] | np.ndarray, ys: Sequence[float] | np.ndarray) -> LogLogFit:
  """Least-squares slope of log y against log x (host side, numpy), e.g. the bias floor against the step size η
  (slope ≈ 1 for an O(η) floor).  xs, ys: [M] positive, M ≥ 2 -> LogLogFit(slope, prefactor)."""
  x = np.asarray(xs, dtype=np.float64)
  y = np.asarray(ys, dtype=np.float64)
  if x.ndim != 1 or x.shape != y.shape or x.size < 2:
    raise ValueError(f"xs and ys must be 1-D of the same length >= 2, got shapes {x.shape} and {y.shape}")
  if not (np.all(np.isfinite(x)) and np.all(x > 0) and np.all(np.isfinite(y)) and np.all(y > 0)):
    raise ValueError("xs and ys must be finite and > 0 (they are compared on log scales)")
  if np.ptp(x) == 0:
    raise ValueError("xs must not all be equal")
  slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
  return LogLogFit(float(slope), float(math.exp(intercept)))
