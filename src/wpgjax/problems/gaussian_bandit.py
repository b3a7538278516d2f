"""T1: the Gaussian bandit, r̃(a) = −½(a − m)ᵀH(a − m) on R^d (docs/theory.md §5), computed in float64.

Everything is in closed form (the single-state identities are in `single_state`), including the exact law of
WPGD started from a Gaussian (it stays Gaussian):
    μ_k − m = (I − ηH)^k (μ_0 − m),   Σ_{k+1} = (I − ηH) Σ_k (I − ηH) + 2ητ I,
    Σ_∞(η) = τ H^{-1} (I − ηH/2)^{-1}   (stable iff η λ_max(H) < 2).
"""

from __future__ import annotations

__all__ = [
    'GaussianPolicy',
    'GaussianBandit',
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
from wpgjax.problems import base
from wpgjax.problems.single_state import SingleStateProblem, single_state_trace

class GaussianPolicy(NamedTuple):
  """A Gaussian policy N(mean, cov): mean [..., d], cov [..., d, d]."""
  mean: chex.Array
  cov: chex.Array


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
                        lsi_lower_bound: chex.Array, num_steps: int) -> base.WPGDTrace:
  """The exact-law recursion under lax.scan, iterates k = 0..K with their values."""

  def body(carry, _):
    new = _gaussian_step(p, *carry, step_size)
    return new, new

  _, (means, covs) = jax.lax.scan(body, (mean0, cov0), None, length=num_steps)
  means = jnp.concatenate([mean0[None], means])
  covs = jnp.concatenate([cov0[None], covs])
  values = _gaussian_value(p, means, covs)
  log_partition = _gaussian_log_partition(p)
  optimal_value = p.tau * log_partition / (1.0 - p.gamma)
  return single_state_trace(GaussianPolicy(means, covs), values, optimal_value, log_partition,
                            p.tau * _gaussian_kl(p, means, covs), _gaussian_fisher(p, means, covs),
                            jnp.zeros(num_steps, values.dtype), lsi_lower_bound, p.tau, p.gamma)


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


@functools.partial(jax.jit, static_argnames=("num_particles",))
def _sample_gaussian(key, mean, cov, num_particles):
  return jax.random.multivariate_normal(key, mean, cov, (num_particles,), method='eigh')


def _quadratic_q(m: chex.Array, H: chex.Array) -> Callable[[chex.Array], chex.Array]:
  """a ↦ −½(a − m)ᵀH(a − m), [d] -> scalar."""

  def q_fn(action: chex.Array) -> chex.Array:
    diff = action - m
    return -0.5 * diff @ (H @ diff)

  return q_fn


class GaussianBandit(SingleStateProblem):
  """Single-state problem with quadratic reward r̃(a) = −½(a − m)ᵀH(a − m), a ∈ R^d, H symmetric positive definite.

  Gibbs (= optimal) policy p = π* = N(m, τH^{-1}); log Z = (d/2) log(2πτ) − ½ log det H. Policies are
  `GaussianPolicy(mean [..., d], cov [..., d, d])` (a batch where the method says so). Implements `ExactProblem`;
  all methods compute in float64 (x64 enabled locally) and return float64 jax arrays.

  Args:
    m: [d] reward maximiser.
    H: [d, d] symmetric positive-definite curvature.
    tau: temperature τ > 0.
    gamma: discount γ ∈ (0, 1).
  """
  name = "gaussian_bandit"

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
    base.check_discount(gamma)
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
    mean = jnp.asarray(policy[0], jnp.float64)
    cov = jnp.asarray(policy[1], jnp.float64)
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
  def value(self, policy: GaussianPolicy, states: Any = None) -> chex.Array:
    """V^π = (E_π r̃ + τ H(π)) / (1 − γ) for π = N(μ, Σ):
    E_π r̃ = −½[(μ − m)ᵀH(μ − m) + tr(HΣ)],  H(π) = ½ log det(2πeΣ).  -> [...] (batch of policies)."""
    base.check_no_states(self, states)
    return _gaussian_value(self._arrays, *self._check_policy(policy))

  @float64
  def kl_to_gibbs(self, policy: GaussianPolicy) -> chex.Array:
    """KL(N(μ, Σ) ‖ N(m, τH^{-1})) = ½[tr(HΣ)/τ + (μ − m)ᵀH(μ − m)/τ − d + d log τ − log det H − log det Σ].

    -> [...] (batch of policies).
    """
    return _gaussian_kl(self._arrays, *self._check_policy(policy))

  @float64
  def relative_fisher_information(self, policy: GaussianPolicy, states: Any = None) -> chex.Array:
    """I(π‖p) = E_π‖∇log π − ∇log p‖² = tr((H/τ − Σ^{-1}) Σ (H/τ − Σ^{-1})) + ‖H(μ − m)/τ‖².  -> [...].

    p = N(m, τH^{-1}) satisfies LSI with α = λ_min(H)/τ: KL(π‖p) <= I(π‖p)/(2α).
    """
    base.check_no_states(self, states)
    return _gaussian_fisher(self._arrays, *self._check_policy(policy))

  @property
  def log_sobolev_constant(self) -> float:
    """α = λ_min(H)/τ, the LSI constant of the Gibbs policy N(m, τH^{-1})."""
    return float(self.eigenvalues[0]) / self.tau

  # -- exact-law WPGD ----------------------------------------------------------------------------------------------

  @float64
  def wpgd_step(self, policy: GaussianPolicy, step_size: chex.Numeric) -> tuple[GaussianPolicy, chex.Array]:
    """One exact-law WPGD step: μ' = μ + η∇r̃(μ), Σ' = (I − ηH)Σ(I − ηH) + 2ητI.  -> (π', edge mass lost = 0)."""
    self._check_step_size(step_size)
    mean, cov = self._check_single_policy(policy)
    new = GaussianPolicy(*_gaussian_step(self._arrays, mean, cov, jnp.asarray(step_size, jnp.float64)))
    return new, jnp.zeros((), jnp.float64)

  @float64
  def exact_wpgd(self, policy: GaussianPolicy, *, step_size: chex.Numeric, num_steps: int,
                 states: Any = None) -> base.WPGDTrace:
    """`num_steps` exact-law WPGD steps from π_0 = N(μ_0, Σ_0) under one `lax.scan` (the recursion, not the
    closed form, so that comparing with `closed_form_policy` checks both).  -> WPGDTrace with K+1 rows, one
    state; policy = GaussianPolicy(mean [K+1, d], cov [K+1, d, d]); lsi_lower_bound = λ_min(H)/τ."""
    base.check_no_states(self, states)
    self._check_step_size(step_size)
    num_steps = base.check_num_steps(num_steps)
    mean0, cov0 = self._check_single_policy(policy)
    return _gaussian_wpgd_scan(self._arrays, mean0, cov0, jnp.asarray(step_size, jnp.float64),
                               jnp.asarray(self.log_sobolev_constant, jnp.float64), num_steps=num_steps)

  @float64
  def closed_form_policy(self, policy: GaussianPolicy, *, step_size: chex.Numeric, k: int) -> GaussianPolicy:
    """The k-th exact-law WPGD iterate in closed form, with A = I − ηH = U diag(1 − ηλ) Uᵀ:

        μ_k = m + A^k (μ_0 − m),   Σ_k = A^k Σ_0 A^k + (I − A^{2k}) Σ_∞(η).
    """
    self._check_step_size(step_size)
    base.check_num_steps(k, "k")
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

  @float64
  def reference_floor(self, step_size: chex.Numeric) -> chex.Array:
    """The exact stationary gap τ KL(N(m, Σ_∞(η)) ‖ p) / (1 − γ).  -> scalar."""
    return self.tau * self.stationary_kl(step_size) / (1.0 - self.gamma)

  # -- particles ---------------------------------------------------------------------------------------------------

  @float64
  def sample(self, key: chex.PRNGKey, policy: GaussianPolicy, num_particles: int) -> chex.Array:
    """num_particles i.i.d. draws of N(μ, Σ).  -> [num_particles, d]."""
    mean, cov = self._check_single_policy(policy)
    return _sample_gaussian(key, mean, cov, num_particles=int(num_particles))

  @float64
  def particle_wpgd(self, key: chex.PRNGKey, particles: chex.Array, *, step_size: chex.Numeric, num_steps: int,
                    method: str = "ula", return_trajectory: bool = False) -> base.ParticleTrace:
    """`num_steps` core particle WPG steps (`wpgjax.core.wpg_flow`) on q_fn = Q^π = r̃ + const.

    With method="ula" and Gaussian initial particles the particle law at step k is exactly N(μ_k, Σ_k) of
    `exact_wpgd`; "mala" targets p exactly; "svgd" is the deterministic kernelized flow.
    particles [N, d] -> ParticleTrace with particles [N, d] (or [num_steps + 1, N, d] with return_trajectory)
    and no estimated policy. Raises ValueError for method="ula" when step_size * lambda_max(H) >= 2.
    """
    _validation.check_choice("method", method, particle_steps.METHODS)
    if method == "ula":
      self._check_step_size(step_size)
    return self._particle_flow(key, particles, _quadratic_q, (self.m, self.H), step_size=step_size, num_steps=num_steps,
                               method=method, return_trajectory=return_trajectory)
