"""Particle WPG steps for ONE state (users vmap over states): ULA/WPGD, MALA, SVGD, and a scan-based flow.

Notation (docs/theory.md §3): particles A ∈ R^{N×d} represent π(·|s); q_fn: R^d -> R is the soft Q of that state;
τ > 0 the temperature; η > 0 the step size. The Gibbs target is p(a) ∝ exp(Q(a)/τ).
"""

from __future__ import annotations

__all__ = ['ula_step', 'tamed_ula_step', 'MALAInfo', 'mala_step_with_info', 'mala_step', 'svgd_direction',
           'svgd_step', 'wpg_step', 'wpg_flow', 'METHODS']

from typing import Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp

from wpgjax import _validation
from wpgjax.core import kernels

QFunction = Callable[[chex.Array], chex.Array]
METHODS = ("ula", "tamed_ula", "mala", "svgd")


def _q_and_grad(q_fn: QFunction, particles: chex.Array) -> tuple[chex.Array, chex.Array]:
  """Q(a_i) and ∇_a Q(a_i) for each particle.  particles: [N, d] -> ([N], [N, d])."""
  return jax.vmap(jax.value_and_grad(q_fn))(particles)


def _check_step_inputs(particles: chex.Array, step_size: chex.Numeric, tau: chex.Numeric) -> None:
  _validation.check_rank("particles", particles, 2, "[num_particles, action_dim]")
  _validation.check_positive("step_size", step_size)
  _validation.check_positive("tau", tau)


def ula_step(key: chex.PRNGKey, particles: chex.Array, q_fn: QFunction, step_size: chex.Numeric,
             tau: chex.Numeric) -> chex.Array:
  """One WPGD step (Euler–Maruyama of dA = ∇_aQ dt + sqrt(2τ) dB; the unadjusted Langevin algorithm):

      A_{k+1} = A_k + η ∇_a Q(A_k) + sqrt(2τη) ξ,   ξ ∼ N(0, I_d) independently per particle.

  particles: [N, d] -> [N, d]. Its stationary law is p ∝ exp(Q/τ) only up to an O(η) bias.
  """
  _check_step_inputs(particles, step_size, tau)
  _, grad_q = _q_and_grad(q_fn, particles)
  noise = jax.random.normal(key, particles.shape, particles.dtype)
  return particles + step_size * grad_q + jnp.sqrt(2.0 * tau * step_size) * noise


def tamed_ula_step(key: chex.PRNGKey, particles: chex.Array, q_fn: QFunction, step_size: chex.Numeric,
                   tau: chex.Numeric) -> chex.Array:
  """One tamed WPGD step (TULA, Brosse, Durmus, Moulines & Sabanis 2019): ULA with the drift divided by
  1 + η‖∇Q‖ per particle,

      A_{k+1} = A_k + η ∇_a Q(A_k) / (1 + η‖∇_a Q(A_k)‖) + sqrt(2τη) ξ,   ξ ∼ N(0, I_d),

  so a drift step is shorter than 1 however steep Q is (plain ULA diverges there), and equals ULA's to
  O(η²‖∇Q‖²) where Q is flat. One q_fn gradient per step, like ULA (MALA takes two). Its stationary law tends
  to p ∝ exp(Q/τ) as η → 0, with an O(η) bias like ULA's.  particles: [N, d] -> [N, d].
  """
  _check_step_inputs(particles, step_size, tau)
  _, grad_q = _q_and_grad(q_fn, particles)
  drift = step_size * grad_q / (1.0 + step_size * jnp.linalg.norm(grad_q, axis=-1, keepdims=True))
  noise = jax.random.normal(key, particles.shape, particles.dtype)
  return particles + drift + jnp.sqrt(2.0 * tau * step_size) * noise


class MALAInfo(NamedTuple):
  """Per-particle acceptance probabilities [N] and the accept decisions [N] of a MALA step."""
  acceptance_probability: chex.Array
  accepted: chex.Array


def mala_step_with_info(key: chex.PRNGKey, particles: chex.Array, q_fn: QFunction, step_size: chex.Numeric,
                        tau: chex.Numeric) -> tuple[chex.Array, MALAInfo]:
  """Metropolis-adjusted Langevin step: a ULA proposal accepted with the Metropolis–Hastings probability

      y = x + η ∇Q(x) + sqrt(2τη) ξ,
      log α = [Q(y) − Q(x)]/τ + log q(x|y) − log q(y|x),   q(y|x) = N(y; x + η∇Q(x), 2τη I),

  so p ∝ exp(Q/τ) is exactly invariant for a fixed Q (no discretization bias).
  particles: [N, d] -> ([N, d], MALAInfo).
  """
  _check_step_inputs(particles, step_size, tau)
  new_particles, _, _, info = _mala_transition(key, particles, *_q_and_grad(q_fn, particles), q_fn, step_size, tau)
  return new_particles, info


def _mala_transition(key, particles, q_x, grad_x, q_fn, step_size, tau):
  """One MALA step from particles [N, d] whose Q [N] and ∇Q [N, d] are given: returns the new particles with
  their Q and ∇Q (the proposal's where accepted, the old ones where not) and the MALAInfo, so a chain evaluates
  q_fn once per step instead of twice."""
  key_noise, key_accept = jax.random.split(key)
  noise = jax.random.normal(key_noise, particles.shape, particles.dtype)
  proposal = particles + step_size * grad_x + jnp.sqrt(2.0 * tau * step_size) * noise
  q_y, grad_y = _q_and_grad(q_fn, proposal)
  four_tau_eta = 4.0 * tau * step_size
  log_q_y_given_x = -jnp.sum((proposal - particles - step_size * grad_x) ** 2, axis=-1) / four_tau_eta
  log_q_x_given_y = -jnp.sum((particles - proposal - step_size * grad_y) ** 2, axis=-1) / four_tau_eta
  log_alpha = (q_y - q_x) / tau + log_q_x_given_y - log_q_y_given_x
  log_alpha = jnp.where(jnp.isnan(log_alpha), -jnp.inf, log_alpha)
  acceptance_probability = jnp.exp(jnp.minimum(log_alpha, 0.0))
  uniform = jax.random.uniform(key_accept, log_alpha.shape, particles.dtype)
  accepted = jnp.log(uniform) < log_alpha
  keep = lambda new, old: jnp.where(accepted.reshape(accepted.shape + (1,) * (new.ndim - 1)), new, old)
  return (keep(proposal, particles), keep(q_y, q_x), keep(grad_y, grad_x),
          MALAInfo(acceptance_probability, accepted))


def mala_step(key: chex.PRNGKey, particles: chex.Array, q_fn: QFunction, step_size: chex.Numeric,
              tau: chex.Numeric) -> chex.Array:
  """MALA step (see `mala_step_with_info`) returning only the new particles [N, d]."""
  return mala_step_with_info(key, particles, q_fn, step_size, tau)[0]


def svgd_direction(particles: chex.Array, grad_q: chex.Array, tau: chex.Numeric,
                   lengthscale: chex.Numeric | None = None) -> chex.Array:
  """The SVGD velocity scaled to WPG time (docs/theory.md §4, soft Q-learning):

      φ(a_i) = (1/N) Σ_j [ k(a_j, a_i) ∇_a Q(a_j) + τ ∇_{a_j} k(a_j, a_i) ],

  i.e. τ times the Stein direction for log p = Q/τ; the repulsive term stands in for −τ∇ log π.
  RBF kernel, median-heuristic lengthscale unless given. particles, grad_q: [N, d] -> [N, d].
  """
  if lengthscale is None:
    lengthscale = kernels.median_lengthscale(particles)
  k = kernels.rbf_kernel_matrix(particles, particles, lengthscale)  # k[j, i] = k(a_j, a_i)
  # ∇_{a_j} k(a_j, a_i) = −(a_j − a_i) k_ji / ℓ²; summed over j: (a_i Σ_j k_ji − Σ_j k_ji a_j) / ℓ².
  repulsion = (particles * jnp.sum(k, axis=0)[:, None] - k.T @ particles) / lengthscale**2
  attraction = k.T @ grad_q
  return (attraction + tau * repulsion) / particles.shape[0]


def svgd_step(key: chex.PRNGKey, particles: chex.Array, q_fn: QFunction, step_size: chex.Numeric,
              tau: chex.Numeric, lengthscale: chex.Numeric | None = None) -> chex.Array:
  """Deterministic SVGD step A_{k+1} = A_k + η φ(A_k) (see `svgd_direction`); `key` is unused.

  particles: [N, d] -> [N, d].
  """
  del key
  _check_step_inputs(particles, step_size, tau)
  _, grad_q = _q_and_grad(q_fn, particles)
  return particles + step_size * svgd_direction(particles, grad_q, tau, lengthscale)


_STEPS = {"ula": ula_step, "tamed_ula": tamed_ula_step, "mala": mala_step, "svgd": svgd_step}


def wpg_step(key: chex.PRNGKey, particles: chex.Array, q_fn: QFunction, *, step_size: chex.Numeric,
             tau: chex.Numeric, method: str = "ula") -> chex.Array:
  """One particle WPG step for one state, moving π(·|s) toward the Gibbs policy p ∝ exp(Q/τ).

  method: "ula" (WPGD, A + η∇Q + sqrt(2τη)ξ — the algorithm the convergence theorem covers),
          "tamed_ula" (WPGD with the drift η∇Q/(1 + η‖∇Q‖): bounded steps on steep Q),
          "mala" (Metropolis-adjusted ULA: exact invariance for fixed Q), or
          "svgd" (deterministic kernelized flow with the same time scale).
  key: PRNG key; particles: [N, d]; q_fn: [d] -> scalar soft Q. Returns [N, d].
  """
  _validation.check_choice("method", method, METHODS)
  return _STEPS[method](key, particles, q_fn, step_size, tau)


def wpg_flow(key: chex.PRNGKey, particles: chex.Array, q_fn: QFunction, *, step_size: chex.Numeric,
             tau: chex.Numeric, num_steps: int, method: str = "ula",
             return_trajectory: bool = False) -> chex.Array:
  """`num_steps` WPG steps for a fixed q_fn under `lax.scan` (one trace whatever num_steps is).

  Returns the final particles [N, d], or the trajectory [num_steps + 1, N, d] (initial particles first)
  when `return_trajectory` is True.
  """
  _validation.check_choice("method", method, METHODS)
  if not isinstance(num_steps, int) or num_steps < 0:
    raise ValueError(f"num_steps must be a non-negative int, got {num_steps!r}")
  _check_step_inputs(particles, step_size, tau)
  if method == "mala":  # carry Q and ∇Q of the current particles: one q_fn evaluation per step, not two
    def body(carry, step_key):
      particles, q_x, grad_x = _mala_transition(step_key, *carry, q_fn, step_size, tau)[:3]
      return (particles, q_x, grad_x), (particles if return_trajectory else None)

    (final, _, _), trajectory = jax.lax.scan(body, (particles, *_q_and_grad(q_fn, particles)),
                                             jax.random.split(key, num_steps))
  else:
    step_fn = _STEPS[method]

    def body(carry, step_key):
      new = step_fn(step_key, carry, q_fn, step_size, tau)
      return new, (new if return_trajectory else None)

    final, trajectory = jax.lax.scan(body, particles, jax.random.split(key, num_steps))
  if return_trajectory:
    return jnp.concatenate([particles[None], trajectory], axis=0)
  return final
