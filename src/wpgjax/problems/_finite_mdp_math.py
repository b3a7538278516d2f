"""T3 pure functions (`FiniteMDP`'s mathematics, docs/theory.md §5): float64 jax functions of a FiniteMDPParams pytree.

See `wpgjax.problems.finite_mdp` for the model and the quadrature. Shapes: n states, G grid points, actions
[n, M] (a row of actions per state), policies log π [n, G]. jit-compiled per shape, shared by all instances.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp

from wpgjax.core import particles as particle_steps
from wpgjax.problems import base, grid as grid_lib

class FiniteMDPParams(NamedTuple):
  """The arrays defining a T3 instance (a pytree, so jit-compiled functions take it as an argument).

  reward_amplitude c [n], reward_phase φ [n], omega ω [], beta β [], transition_weight w [n, n],
  transition_bias b [n, n], tau τ [], gamma γ [], grid [G], grid_spacing Δa [].
  """
  reward_amplitude: chex.Array
  reward_phase: chex.Array
  omega: chex.Array
  beta: chex.Array
  transition_weight: chex.Array
  transition_bias: chex.Array
  tau: chex.Array
  gamma: chex.Array
  grid: chex.Array
  grid_spacing: chex.Array


class SoftValueIterationResult(NamedTuple):
  """The reference optimum: value V* [n], log_policy log π* [n, G] (the Gibbs policy of V*), q_value Q* [n, G],
  num_iterations (int scalar), residual ‖T*V* − V*‖_∞ (scalar)."""
  value: chex.Array
  log_policy: chex.Array
  q_value: chex.Array
  num_iterations: chex.Array
  residual: chex.Array


# ----------------------------------------------------------------------------------------------------------------
# Pure functions of FiniteMDPParams (float64 arrays). actions: [n, M] (a row of actions per state).
# ----------------------------------------------------------------------------------------------------------------


def _grid_actions(params: FiniteMDPParams) -> chex.Array:
  return jnp.broadcast_to(params.grid, (params.reward_amplitude.shape[0], params.grid.shape[0]))


@jax.jit
def _reward_at(params: FiniteMDPParams, actions: chex.Array) -> chex.Array:
  """r(s, a) = c_s sin(ωa + φ_s) − βa²/2.  actions [n, M] -> [n, M]."""
  c, phi = params.reward_amplitude[:, None], params.reward_phase[:, None]
  return c * jnp.sin(params.omega * actions + phi) - 0.5 * params.beta * actions**2


@jax.jit
def _reward_grad_at(params: FiniteMDPParams, actions: chex.Array) -> chex.Array:
  """∂_a r(s, a) = c_s ω cos(ωa + φ_s) − βa.  [n, M] -> [n, M]."""
  c, phi = params.reward_amplitude[:, None], params.reward_phase[:, None]
  return c * params.omega * jnp.cos(params.omega * actions + phi) - params.beta * actions


@jax.jit
def _transition_at(params: FiniteMDPParams, actions: chex.Array) -> chex.Array:
  """p(s'|s, a) = softmax_{s'}(w_{ss'} a + b_{ss'}).  [n, M] -> [n, M, n]."""
  logits = params.transition_weight[:, None, :] * actions[..., None] + params.transition_bias[:, None, :]
  return jax.nn.softmax(logits, axis=-1)


@jax.jit
def _q_at(params: FiniteMDPParams, value: chex.Array, actions: chex.Array) -> chex.Array:
  """Q_V(s, a) = r(s, a) + γ Σ_{s'} p(s'|s, a) V(s').  value [n], actions [n, M] -> [n, M]."""
  return _reward_at(params, actions) + params.gamma * _transition_at(params, actions) @ value


@jax.jit
def _q_grad_at(params: FiniteMDPParams, value: chex.Array, actions: chex.Array) -> chex.Array:
  """∂_a Q_V(s, a) = ∂_a r + γ Σ_{s'} p(s'|s,a)(w_{ss'} − Σ_{s''} p w_{ss''}) V(s').  [n, M] -> [n, M]."""
  probs = _transition_at(params, actions)  # [n, M, n]
  weight = params.transition_weight[:, None, :]
  mean_weight = jnp.sum(probs * weight, axis=-1, keepdims=True)
  dprobs = probs * (weight - mean_weight)
  return _reward_grad_at(params, actions) + params.gamma * dprobs @ value


@jax.jit
def _policy_reward_and_transition(params: FiniteMDPParams, log_policy: chex.Array) -> tuple[chex.Array, chex.Array]:
  """r^π [n] (with the entropy term) and P^π [n, n] by quadrature."""
  actions = _grid_actions(params)
  mass = jnp.exp(log_policy) * params.grid_spacing  # [n, G]
  reward = jnp.sum(mass * (_reward_at(params, actions) - params.tau * log_policy), axis=-1)
  transition = jnp.einsum('sg,sgt->st', mass, _transition_at(params, actions))
  return reward, transition


@jax.jit
def _evaluate(params: FiniteMDPParams, log_policy: chex.Array) -> chex.Array:
  """V^π = (I − γP^π)^{-1} r^π.  [n, G] -> [n]."""
  reward, transition = _policy_reward_and_transition(params, log_policy)
  n = reward.shape[0]
  return jnp.linalg.solve(jnp.eye(n, dtype=reward.dtype) - params.gamma * transition, reward)


def _log_partition(params: FiniteMDPParams, q_grid: chex.Array) -> chex.Array:
  """log Z_s = log Σ_i exp(Q(s,a_i)/τ) Δa.  [n, G] -> [n]."""
  return jax.nn.logsumexp(q_grid / params.tau, axis=-1) + jnp.log(params.grid_spacing)


@jax.jit
def _soft_bellman(params: FiniteMDPParams, value: chex.Array) -> chex.Array:
  """T*V(s) = τ log Σ_i exp(Q_V(s,a_i)/τ) Δa.  [n] -> [n]."""
  return params.tau * _log_partition(params, _q_at(params, value, _grid_actions(params)))


@jax.jit
def _gibbs_log_policy(params: FiniteMDPParams, value: chex.Array) -> chex.Array:
  """log p_s(a_i) = Q_V(s,a_i)/τ − log Z_s.  [n] -> [n, G]."""
  q_grid = _q_at(params, value, _grid_actions(params))
  return q_grid / params.tau - _log_partition(params, q_grid)[:, None]


class _Diagnostics(NamedTuple):
  value: chex.Array
  gibbs_log_policy: chex.Array
  q_grad: chex.Array
  kl: chex.Array
  bellman_residual: chex.Array
  fisher_information: chex.Array


@jax.jit
def _diagnostics(params: FiniteMDPParams, log_policy: chex.Array) -> _Diagnostics:
  """Everything the proof uses about one policy: V^π, log p^π, ∂_aQ^π on the grid, KL(π‖p^π), T*V^π − V^π and
  I(π‖p^π)."""
  value = _evaluate(params, log_policy)
  actions = _grid_actions(params)
  q_grid = _q_at(params, value, actions)
  log_z = _log_partition(params, q_grid)
  gibbs = q_grid / params.tau - log_z[:, None]
  q_grad = _q_grad_at(params, value, actions)
  kl = grid_lib.kl(log_policy, gibbs, params.grid_spacing)
  bellman_residual = params.tau * log_z - value
  fisher = grid_lib.relative_fisher(log_policy, q_grad / params.tau, params.grid_spacing)
  return _Diagnostics(value, gibbs, q_grad, kl, bellman_residual, fisher)



@jax.jit
def _resolvent_identity(params: FiniteMDPParams, log_old: chex.Array, log_new: chex.Array) -> base.ResolventIdentity:
  value_old = _evaluate(params, log_old)
  gibbs_old = _gibbs_log_policy(params, value_old)
  reward_new, transition_new = _policy_reward_and_transition(params, log_new)
  value_new = jnp.linalg.solve(jnp.eye(reward_new.shape[0]) - params.gamma * transition_new, reward_new)
  lhs = (value_new - value_old) - params.gamma * transition_new @ (value_new - value_old)
  rhs = params.tau * (grid_lib.kl(log_old, gibbs_old, params.grid_spacing)
                      - grid_lib.kl(log_new, gibbs_old, params.grid_spacing))
  return base.ResolventIdentity(lhs, rhs)


@functools.partial(jax.jit, static_argnames=("max_iterations",))
def _soft_value_iteration(params: FiniteMDPParams, tol: chex.Array, max_iterations: int) -> SoftValueIterationResult:
  """V ← T*V from V = 0 until ‖T*V − V‖_∞ <= tol·max(1, ‖V‖_∞) (γ-contraction), at most max_iterations sweeps."""
  n = params.reward_amplitude.shape[0]

  def cond(carry):
    value, residual, iteration = carry
    return (residual > tol * jnp.maximum(1.0, jnp.max(jnp.abs(value)))) & (iteration < max_iterations)

  def body(carry):
    value, _, iteration = carry
    new = _soft_bellman(params, value)
    return new, jnp.max(jnp.abs(new - value)), iteration + 1

  init = (jnp.zeros(n, params.grid.dtype), jnp.asarray(jnp.inf, params.grid.dtype), jnp.asarray(0))
  value, _, iterations = jax.lax.while_loop(cond, body, init)
  residual = jnp.max(jnp.abs(_soft_bellman(params, value) - value))
  q_grid = _q_at(params, value, _grid_actions(params))
  return SoftValueIterationResult(value, _gibbs_log_policy(params, value), q_grid, iterations, residual)


@jax.jit
def _wpgd_step(params: FiniteMDPParams, log_policy: chex.Array, step_size: chex.Array) -> tuple[chex.Array, chex.Array]:
  """One exact-law WPGD step with the drift ∂_aQ^π of the current policy.  -> (log π' [n, G], mass lost [n])."""
  drift = _q_grad_at(params, _evaluate(params, log_policy), _grid_actions(params))
  return grid_lib.langevin_step(log_policy, drift, params.grid, params.grid_spacing, step_size, params.tau)


@functools.partial(jax.jit, static_argnames=("num_states", "num_features"))
def _random_log_policy(key: chex.PRNGKey, grid: chex.Array, grid_spacing: chex.Array, roughness: chex.Array,
                       num_states: int, num_features: int) -> chex.Array:
  n, f, dtype = num_states, num_features, grid.dtype
  key_normal, key_uniform = jax.random.split(key)
  normal = jax.random.normal(key_normal, (n, 1 + f), dtype)  # one draw each (threefry is slow to compile)
  uniform = jax.random.uniform(key_uniform, (n, 1 + 2 * f), dtype)
  mu, u = normal[:, :1], normal[:, None, 1:]
  sigma = 0.4 + 1.1 * uniform[:, :1]
  nu = 0.5 + 2.5 * uniform[:1, None, 1:1 + f]
  theta = 2.0 * jnp.pi * uniform[:, None, 1 + f:]
  log_unnormalized = (-0.5 * ((grid[None, :] - mu) / sigma)**2
                      + roughness * jnp.sum(u * jnp.sin(nu * grid[None, :, None] + theta), axis=-1))
  return grid_lib.normalize_log_density(log_unnormalized, grid_spacing)



def _silverman_bandwidth(particles: chex.Array, grid_spacing: chex.Array) -> chex.Array:
  """h_s = max(1.06 σ̂_s N^{−1/5}, Δa) per state (floored at the grid spacing so the KDE is resolved).

  particles [n, N] -> [n].
  """
  num = particles.shape[-1]
  return jnp.maximum(1.06 * jnp.std(particles, axis=-1) * num**(-0.2), grid_spacing)


@jax.jit
def _kde_log_policy(params: FiniteMDPParams, particles: chex.Array, bandwidth: chex.Array) -> chex.Array:
  """log π̂(a_i|s) ∝ log Σ_j N(a_i; A_sj, h_s²), normalised by the grid rule.  [n, N], [n] -> [n, G]."""
  h = bandwidth[:, None, None]
  log_kernel = -0.5 * ((params.grid[None, :, None] - particles[:, None, :]) / h)**2  # [n, G, N]
  return grid_lib.normalize_log_density(jax.nn.logsumexp(log_kernel, axis=-1), params.grid_spacing)


def _state_q_fn(params: FiniteMDPParams, value: chex.Array, c: chex.Array, phi: chex.Array, weight: chex.Array,
                bias: chex.Array) -> Callable[[chex.Array], chex.Array]:
  """Q_V(s, ·) of one state as a function [1] -> scalar (the core particle steps' q_fn)."""

  def q_fn(action: chex.Array) -> chex.Array:
    a = action[0]
    reward = c * jnp.sin(params.omega * a + phi) - 0.5 * params.beta * a**2
    return reward + params.gamma * jax.nn.softmax(weight * a + bias) @ value

  return q_fn




def _append(xs: chex.Array, x: chex.Array) -> chex.Array:
  """Iterates 0..K−1 from a scan and the last one K.  [K, ...], [...] -> [K+1, ...]."""
  return jnp.concatenate([xs, x[None]], axis=0)


def _holley_stroock(params: FiniteMDPParams, values: chex.Array) -> chex.Array:
  """A certified LSI constant of the Gibbs policies p_s^π ∝ exp(Q^π(s, ·)/τ), min over states, per iterate.

  Holley–Stroock: Q^π(s,a)/τ = −βa²/(2τ) + U_s(a)/τ with U_s = c_s sin(ωa + φ_s) + γΣ_{s'} p(s'|s,a)V^π(s'), whose
  oscillation over R is at most 2c_s + γ(max V − min V); the reference N(0, τ/β) has LSI constant β/τ, so
  α >= (β/τ) exp(−osc/τ).  values [K+1, n] -> [K+1].
  """
  amplitude = jnp.abs(params.reward_amplitude)
  oscillation = 2.0 * jnp.max(amplitude) + params.gamma * (values.max(axis=-1) - values.min(axis=-1))
  return params.beta / params.tau * jnp.exp(-oscillation / params.tau)


@functools.partial(jax.jit, static_argnames=("num_steps",))
def _exact_wpgd_scan(params: FiniteMDPParams, log_policy0: chex.Array, step_size: chex.Array,
                     optimal_value: chex.Array, num_steps: int) -> base.WPGDTrace:
  tau, spacing = params.tau, params.grid_spacing

  def body(log_policy, _):
    diag = _diagnostics(params, log_policy)
    new, mass_lost = grid_lib.langevin_step(log_policy, diag.q_grad, params.grid, spacing, step_size, tau)
    reward_new, transition_new = _policy_reward_and_transition(params, new)
    value_new = jnp.linalg.solve(jnp.eye(reward_new.shape[0]) - params.gamma * transition_new, reward_new)
    delta = value_new - diag.value
    resolvent_lhs = delta - params.gamma * transition_new @ delta
    improvement = tau * (diag.kl - grid_lib.kl(new, diag.gibbs_log_policy, spacing))
    out = (log_policy, diag.value, tau * diag.kl, diag.bellman_residual, diag.fisher_information, improvement,
           resolvent_lhs, mass_lost)
    return new, out

  final, (policies, values, kl_res, bellman_res, fisher, improvement, lhs, mass_lost) = jax.lax.scan(
      body, log_policy0, None, length=num_steps)
  last = _diagnostics(params, final)
  values = _append(values, last.value)
  state_gap = optimal_value - values
  return base.WPGDTrace(
      policy=_append(policies, final), value=values, state_gap=state_gap, gap=jnp.max(jnp.abs(state_gap), axis=-1),
      kl_residual=_append(kl_res, tau * last.kl), bellman_residual=_append(bellman_res, last.bellman_residual),
      fisher_information=_append(fisher, last.fisher_information), improvement=improvement, resolvent_lhs=lhs,
      edge_mass_lost=mass_lost, lsi_lower_bound=_holley_stroock(params, values))


@functools.partial(jax.jit, static_argnames=("num_steps", "method", "auto_bandwidth"))
def _particle_wpgd_scan(params: FiniteMDPParams, key: chex.PRNGKey, particles0: chex.Array, step_size: chex.Array,
                        bandwidth: chex.Array, optimal_value: chex.Array, num_steps: int, method: str,
                        auto_bandwidth: bool) -> base.ParticleTrace:
  num_states = particles0.shape[0]

  def move_state(step_key, state_particles, value, c, phi, weight, bias):
    q_fn = _state_q_fn(params, value, c, phi, weight, bias)
    moved = particle_steps.wpg_step(step_key, state_particles[:, None], q_fn, step_size=step_size, tau=params.tau,
                                    method=method)
    return moved[:, 0]

  def policy_stats(particles):
    h = _silverman_bandwidth(particles, params.grid_spacing) if auto_bandwidth else bandwidth
    log_policy = _kde_log_policy(params, particles, h)
    value = _evaluate(params, log_policy)
    kl = grid_lib.kl(log_policy, _gibbs_log_policy(params, value), params.grid_spacing)
    return log_policy, value, kl

  def body(particles, step_key):
    log_policy, value, kl = policy_stats(particles)
    state_keys = jax.random.split(step_key, num_states)
    new = jax.vmap(move_state, in_axes=(0, 0, None, 0, 0, 0, 0))(
        state_keys, particles, value, params.reward_amplitude, params.reward_phase, params.transition_weight,
        params.transition_bias)
    return new, (log_policy, value, params.tau * kl)

  final, (policies, values, kl_res) = jax.lax.scan(body, particles0, jax.random.split(key, num_steps))
  log_policy, last_value, last_kl = policy_stats(final)
  values = _append(values, last_value)
  gap = jnp.max(jnp.abs(optimal_value - values), axis=-1)
  return base.ParticleTrace(final, _append(policies, log_policy), values, gap, _append(kl_res, params.tau * last_kl))
