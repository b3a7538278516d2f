"""Differential entropy H(π) = −E_π[log π] of ONE state's action law, exact or estimated from particles.

The critic target of a particle policy needs the entropy of the particle law (docs/theory.md §4): for Gaussians it is
exact; for a cloud A ∈ R^{N×d} of samples it is estimated by Kozachenko–Leonenko nearest neighbours, a
leave-one-out Gaussian KDE, a Gaussian fit (an upper bound: the Gaussian has maximal entropy for a given
covariance) or the plug-in entropy of a Gaussian mixture. All estimators take particles [N, d] and return a
scalar in nats; vmap them over states.
"""

from __future__ import annotations

__all__ = [
    'gaussian_entropy',
    'diagonal_gaussian_entropy',
    'gaussian_fit_entropy',
    'log_unit_ball_volume',
    'knn_entropy',
    'BANDWIDTH_RULES',
    'kde_bandwidth',
    'kde_entropy',
    'gaussian_mixture_log_prob',
    'gaussian_mixture_entropy',
]

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import digamma, logsumexp

from wpgjax import _validation

BANDWIDTH_RULES = ("silverman", "scott")
_LOG_2PI = math.log(2.0 * math.pi)


def _check_particles(particles: chex.Array, min_particles: int = 2) -> None:
  _validation.check_rank("particles", particles, 2, "[num_particles, action_dim]")
  if np.shape(particles)[0] < min_particles:
    raise ValueError(f"particles must hold at least {min_particles} particles, got shape {np.shape(particles)}")


def _floating(x: chex.Array) -> chex.Array:
  x = jnp.asarray(x)
  return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.result_type(float))


def gaussian_entropy(covariance: chex.Array) -> chex.Array:
  """Exact entropy of N(μ, Σ):  H = ½ log det(2πe Σ) = ½ d (1 + log 2π) + Σ_i log L_ii,  Σ = L Lᵀ.

  covariance: [d, d] symmetric positive definite -> scalar (NaN if Σ is not positive definite).
  """
  _validation.check_rank("covariance", covariance, 2, "[action_dim, action_dim]")
  if np.shape(covariance)[0] != np.shape(covariance)[1]:
    raise ValueError(f"covariance must be square [action_dim, action_dim], got shape {np.shape(covariance)}")
  covariance = _floating(covariance)
  d = covariance.shape[0]
  chol = jnp.linalg.cholesky(covariance)
  return 0.5 * d * (1.0 + _LOG_2PI) + jnp.sum(jnp.log(jnp.diagonal(chol)))


def diagonal_gaussian_entropy(log_std: chex.Array) -> chex.Array:
  """Exact entropy of N(μ, diag σ²) from log σ:  H = Σ_i [log σ_i + ½ (1 + log 2π)].

  log_std: [d] -> scalar. (For a tanh-squashed Gaussian add E[log|det ∂a/∂u|], which needs samples.)
  """
  _validation.check_rank("log_std", log_std, 1, "[action_dim]")
  log_std = _floating(log_std)
  return jnp.sum(log_std + 0.5 * (1.0 + _LOG_2PI))


def gaussian_fit_entropy(particles: chex.Array) -> chex.Array:
  """Entropy of the Gaussian fitted to the particles:  ½ log det(2πe Σ̂),  Σ̂ the unbiased sample covariance.

  Exact in the limit for Gaussian clouds and an upper bound in the limit for any other law (maximum entropy).
  particles: [N, d] with N > d -> scalar.
  """
  _check_particles(particles)
  particles = _floating(particles)
  n = particles.shape[0]
  centred = particles - jnp.mean(particles, axis=0)
  covariance = centred.T @ centred / (n - 1)
  return gaussian_entropy(covariance)


def log_unit_ball_volume(dim: int) -> float:
  """log V_d with V_d = π^{d/2} / Γ(d/2 + 1), the volume of the Euclidean unit ball in R^d (a Python float)."""
  if not isinstance(dim, (int, np.integer)) or dim < 1:
    raise ValueError(f"dim must be a positive int, got {dim!r}")
  return 0.5 * dim * math.log(math.pi) - math.lgamma(0.5 * dim + 1.0)


def _pairwise_sq_distances_no_self(particles: chex.Array) -> chex.Array:
  """‖a_i − a_j‖² via differences (no cancellation), +inf on the diagonal.  [N, d] -> [N, N]."""
  diff = particles[:, None, :] - particles[None, :, :]
  sq = jnp.sum(diff * diff, axis=-1)
  n = particles.shape[0]
  return jnp.where(jnp.eye(n, dtype=bool), jnp.inf, sq)


def knn_entropy(particles: chex.Array, k: int = 1) -> chex.Array:
  """Kozachenko–Leonenko k-nearest-neighbour entropy estimate:

      Ĥ = ψ(N) − ψ(k) + log V_d + (d/N) Σ_i log ε_i,

  ε_i = Euclidean distance from a_i to its k-th nearest other particle, V_d the unit-ball volume, ψ the digamma
  function. Asymptotically unbiased and consistent for any density; for small N and large d it is biased
  (typically low in high dimension). Distances are floored at the smallest normal float so that duplicated
  particles give a very negative but finite estimate. particles: [N, d]; k: static int in [1, N) -> scalar.
  Memory O(N²).
  """
  _check_particles(particles)
  n, d = np.shape(particles)
  if not isinstance(k, (int, np.integer)) or not 1 <= k < n:
    raise ValueError(f"k must be an int in [1, num_particles) = [1, {n}), got {k!r}")
  particles = _floating(particles)
  sq = _pairwise_sq_distances_no_self(particles)
  kth_sq = -jax.lax.top_k(-sq, k)[0][:, k - 1]  # k-th smallest squared distance per row
  kth_sq = jnp.maximum(kth_sq, jnp.finfo(particles.dtype).tiny)
  mean_log_eps = 0.5 * jnp.mean(jnp.log(kth_sq))
  return (digamma(jnp.asarray(n, particles.dtype)) - digamma(jnp.asarray(k, particles.dtype))
          + log_unit_ball_volume(d) + d * mean_log_eps)


def kde_bandwidth(particles: chex.Array, rule: str = "silverman") -> chex.Array:
  """Per-dimension Gaussian-KDE bandwidth h_i = c(N, d) · σ̂_i from a normal-reference rule:

      silverman: c = (4 / (d + 2))^{1/(d+4)} N^{−1/(d+4)},    scott: c = N^{−1/(d+4)},

  σ̂_i the sample standard deviation of coordinate i (floored at the smallest normal float). The gradient is
  stopped (a tuning choice, not a variable). particles: [N, d] -> [d].
  """
  _check_particles(particles)
  _validation.check_choice("rule", rule, BANDWIDTH_RULES)
  particles = _floating(particles)
  n, d = particles.shape
  factor = n ** (-1.0 / (d + 4))
  if rule == "silverman":
    factor *= (4.0 / (d + 2)) ** (1.0 / (d + 4))
  std = jnp.maximum(jnp.std(particles, axis=0, ddof=1), jnp.finfo(particles.dtype).tiny)
  return jax.lax.stop_gradient(factor * std)


def kde_entropy(particles: chex.Array, bandwidth: chex.Array | None = None, rule: str = "silverman") -> chex.Array:
  """Leave-one-out Gaussian-KDE entropy estimate:

      Ĥ = −(1/N) Σ_i log[ (1/(N−1)) Σ_{j≠i} N(a_i; a_j, diag h²) ].

  bandwidth: scalar or [d] kernel standard deviations h; None uses `kde_bandwidth(particles, rule)`
  (rule "silverman" or "scott"). Leaving a_i out of its own density removes the resubstitution bias; what
  remains is the smoothing bias, ≈ +(d/4)(h/σ)⁴ for a Gaussian law, and an O(1/(N h^d)) variance bias.
  particles: [N, d] -> scalar. Memory O(N²).
  """
  _check_particles(particles)
  particles = _floating(particles)
  n, d = particles.shape
  if bandwidth is None:
    bandwidth = kde_bandwidth(particles, rule)
  else:
    if np.ndim(bandwidth) > 1 or (np.ndim(bandwidth) == 1 and np.shape(bandwidth)[0] != d):
      raise ValueError(f"bandwidth must be a scalar or have shape [action_dim] = [{d}], got shape "
                       f"{np.shape(bandwidth)}")
    _validation.check_positive("bandwidth", bandwidth)
  bandwidth = jnp.broadcast_to(jnp.asarray(bandwidth, particles.dtype), (d,))
  scaled = particles / bandwidth
  diff = scaled[:, None, :] - scaled[None, :, :]
  log_kernel = -0.5 * jnp.sum(diff * diff, axis=-1)
  log_kernel = jnp.where(jnp.eye(n, dtype=bool), -jnp.inf, log_kernel)
  log_norm = -jnp.sum(jnp.log(bandwidth)) - 0.5 * d * _LOG_2PI
  log_density = logsumexp(log_kernel, axis=1) + log_norm - jnp.log(n - 1.0)
  return -jnp.mean(log_density)


def gaussian_mixture_log_prob(action: chex.Array, means: chex.Array, stds: chex.Array,
                              log_weights: chex.Array | None = None) -> chex.Array:
  """log q(a) for the diagonal Gaussian mixture q = Σ_k w_k N(μ_k, diag σ_k²):

      log q(a) = logsumexp_k[ log w_k − Σ_i (log σ_ki + ½ log 2π + ½ ((a_i − μ_ki)/σ_ki)²) ].

  action: [d]; means: [K, d]; stds: scalar, [d] or [K, d] (broadcast against means); log_weights: [K]
  (normalised or not: they are normalised here), None for uniform weights. Returns a scalar.
  """
  _validation.check_rank("action", action, 1, "[action_dim]")
  _validation.check_rank("means", means, 2, "[num_components, action_dim]")
  _validation.check_positive("stds", stds)
  means = _floating(means)
  num_components = means.shape[0]
  stds = jnp.broadcast_to(jnp.asarray(stds, means.dtype), means.shape)
  if log_weights is None:
    log_weights = jnp.zeros((num_components,), means.dtype)
  else:
    _validation.check_rank("log_weights", log_weights, 1, "[num_components]")
  log_weights = log_weights - logsumexp(log_weights)
  z = (action - means) / stds
  log_components = -jnp.sum(jnp.log(stds) + 0.5 * _LOG_2PI + 0.5 * z * z, axis=-1)
  return logsumexp(log_weights + log_components)


def gaussian_mixture_entropy(samples: chex.Array, means: chex.Array, stds: chex.Array,
                             log_weights: chex.Array | None = None) -> chex.Array:
  """Plug-in (Monte Carlo) entropy of a Gaussian mixture q evaluated at samples x_i:

      Ĥ = −(1/N) Σ_i log q(x_i)      (see `gaussian_mixture_log_prob` for q).

  Unbiased for H(q) when x_i ∼ q. With means = samples = the particles and a common std h it is WPPG's
  Gaussian-mixture plug-in entropy of a particle cloud (the resubstitution KDE, biased low by including each
  particle's own kernel; `kde_entropy` is the leave-one-out version).
  samples: [N, d]; means: [K, d]; stds: scalar, [d] or [K, d]; log_weights: [K] or None -> scalar.
  """
  _validation.check_rank("samples", samples, 2, "[num_samples, action_dim]")
  _validation.check_rank("means", means, 2, "[num_components, action_dim]")
  if np.shape(samples)[1] != np.shape(means)[1]:
    raise ValueError(f"samples and means must share action_dim, got shapes {np.shape(samples)} and "
                     f"{np.shape(means)}")
  log_probs = jax.vmap(lambda x: gaussian_mixture_log_prob(x, means, stds, log_weights))(_floating(samples))
  return -jnp.mean(log_probs)
