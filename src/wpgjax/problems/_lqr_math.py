"""T2 pure float64 mathematics (`LinearQuadratic`'s closed forms, docs/theory.md §5 T2); callers enable x64.

The derivations are in the docstring of `wpgjax.problems.lqr`. Every state-dependent quantity is a quadratic form
xᵀMx + b; the linear algebra giving (M, b) is jitted once per problem shape and shared by all instances.
Shapes: n states dims, m action dims, K+1 iterates, S evaluation states.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from wpgjax.core import particles as particles_lib
from wpgjax.problems import base

# ------------------------------------------------------------------------------------------------------------------
# Result containers.


class LQPolicy(NamedTuple):
  """A linear-Gaussian policy π(u|x) = N(−K x, Σ).  K: [m, n], Sigma: [m, m]."""
  K: chex.Array
  Sigma: chex.Array


class LQSoftValue(NamedTuple):
  """Soft value V(x) = −xᵀ P x − c.  P: [n, n], c: [] (unpacks as `P, c = ...`)."""
  P: chex.Array
  c: chex.Array


class LQOptimum(NamedTuple):
  """The optimal policy π*(u|x) = N(−K x, Σ) and its soft value V*(x) = −xᵀ P x − c."""
  K: chex.Array
  Sigma: chex.Array
  P: chex.Array
  c: chex.Array


class LQTrajectory(NamedTuple):
  """WPGD iterates π_k = N(−K_k x, Σ_k), k = 0..num_steps, and their soft values −xᵀP_k x − c_k (the exact
  recursion's, or the policies fitted to particles).

  K: [k+1, m, n], Sigma: [k+1, m, m], P: [k+1, n, n], c: [k+1].
  """
  K: chex.Array
  Sigma: chex.Array
  P: chex.Array
  c: chex.Array


# ------------------------------------------------------------------------------------------------------------------
# Pure float64 mathematics (jit-able; callers enable x64).


class _Model(NamedTuple):
  """The problem data as a pytree, so jitted functions are shared by every instance of the same shapes."""
  A: chex.Array
  B: chex.Array
  Q: chex.Array
  R: chex.Array
  W: chex.Array
  gamma: chex.Array
  tau: chex.Array


def _symmetrize(matrix: chex.Array) -> chex.Array:
  return 0.5 * (matrix + jnp.swapaxes(matrix, -1, -2))


def _quadratic_form(x: chex.Array, matrix: chex.Array) -> chex.Array:
  """xᵀ M x over leading dimensions.  x: [..., n], M: [n, n] -> [...]."""
  return jnp.einsum("...i,ij,...j->...", x, matrix, x)


def _logdet(matrix: chex.Array) -> chex.Array:
  return jnp.linalg.slogdet(matrix)[1]


def _discounted_lyapunov(closed_loop: chex.Array, cost: chex.Array, gamma: chex.Array) -> chex.Array:
  """Solves P = cost + γ LᵀPL by vectorisation: (I − γ Lᵀ⊗Lᵀ) vec(P) = vec(cost) (row-major vec).

  closed_loop L: [n, n], cost: [n, n] -> P: [n, n]. Exact up to the linear solve; O(n⁶) work, meant for small n.
  """
  n = cost.shape[-1]
  system = jnp.eye(n * n, dtype=cost.dtype) - gamma * jnp.kron(closed_loop.T, closed_loop.T)
  return _symmetrize(jnp.linalg.solve(system, cost.reshape(n * n)).reshape(n, n))


def _value_matrix(model: _Model, gain: chex.Array) -> chex.Array:
  """P_K = Q + KᵀRK + γ(A−BK)ᵀP_K(A−BK).  gain K: [m, n] -> [n, n]."""
  return _discounted_lyapunov(model.A - model.B @ gain, model.Q + gain.T @ model.R @ gain, model.gamma)


def _evaluate(model: _Model, gain: chex.Array, covariance: chex.Array) -> LQSoftValue:
  """Soft value (P_K, c) of N(−Kx, Σ) (module docstring, "Policy evaluation")."""
  value_matrix = _value_matrix(model, gain)
  m = covariance.shape[-1]
  next_state_covariance = model.B @ covariance @ model.B.T + model.W
  entropy = 0.5 * (m * jnp.log(2.0 * jnp.pi * jnp.e) + _logdet(covariance))
  constant = (jnp.trace(model.R @ covariance) + model.gamma * jnp.trace(value_matrix @ next_state_covariance)
              - model.tau * entropy) / (1.0 - model.gamma)
  return LQSoftValue(value_matrix, constant)


def _action_curvature(model: _Model, value_matrix: chex.Array) -> chex.Array:
  """M = R + γBᵀPB [m, m]: −Q^π is uᵀMu + (terms linear in u)."""
  return _symmetrize(model.R + model.gamma * model.B.T @ value_matrix @ model.B)


def _greedy_gain(model: _Model, value_matrix: chex.Array) -> chex.Array:
  """K_g = γ(R + γBᵀPB)^{-1}BᵀPA [m, n]."""
  return model.gamma * jnp.linalg.solve(_action_curvature(model, value_matrix), model.B.T @ value_matrix @ model.A)


def _riccati_map(model: _Model, value_matrix: chex.Array) -> chex.Array:
  """F(P) = Q + γAᵀPA − γ²AᵀPB(R + γBᵀPB)^{-1}BᵀPA."""
  a, b, p = model.A, model.B, value_matrix
  cross = model.gamma * b.T @ p @ a
  return _symmetrize(model.Q + model.gamma * a.T @ p @ a
                     - cross.T @ jnp.linalg.solve(_action_curvature(model, p), cross))


@jax.jit
def _soft_q(model: _Model, value: LQSoftValue, x: chex.Array, u: chex.Array) -> chex.Array:
  """Q^π(x,u) = −xᵀQx − uᵀRu − γ(Ax+Bu)ᵀP(Ax+Bu) − γ tr(PW) − γc.  x [..., n], u [..., m] -> [...]."""
  mean_next = x @ model.A.T + u @ model.B.T
  return (-_quadratic_form(x, model.Q) - _quadratic_form(u, model.R)
          - model.gamma * (_quadratic_form(mean_next, value.P) + jnp.trace(value.P @ model.W) + value.c))


# Every state-dependent quantity of T2 is a quadratic form f(x) = xᵀMx + b: the heavy linear algebra computes
# (M, b) once per policy (compiled once per problem shape) and `_at_states` evaluates it at any batch of states.


class _Quadratic(NamedTuple):
  """f(x) = xᵀ M x + b.  M: [n, n], b: []."""
  M: chex.Array
  b: chex.Array


@jax.jit
def _at_states(quadratic: _Quadratic, x: chex.Array) -> chex.Array:
  """f(x) at states x [..., n] -> [...]."""
  return _quadratic_form(x, quadratic.M) + quadratic.b


def _kl_quadratic(policy: LQPolicy, reference: LQPolicy) -> _Quadratic:
  """KL(N(−Kx, Σ) ‖ N(−K_ref x, Σ_ref)) = ½[tr(Σ_ref^{-1}Σ) − m + log det Σ_ref − log det Σ] + ½ xᵀDᵀΣ_ref^{-1}Dx,
  D = K − K_ref."""
  m = policy.Sigma.shape[-1]
  reference_precision = jnp.linalg.inv(reference.Sigma)
  gain_difference = policy.K - reference.K
  constant = 0.5 * (jnp.trace(reference_precision @ policy.Sigma) - m + _logdet(reference.Sigma)
                    - _logdet(policy.Sigma))
  return _Quadratic(_symmetrize(0.5 * gain_difference.T @ reference_precision @ gain_difference), constant)


_policy_kl_quadratic = jax.jit(_kl_quadratic)


class _PolicyAnalysis(NamedTuple):
  """Everything about π = N(−Kx, Σ) that does not depend on the state."""
  value: LQSoftValue          # V^π(x) = −xᵀPx − c
  gibbs: LQPolicy             # p^π = N(−K_g x, Σ_g), K_g = γM^{-1}BᵀPA, Σ_g = (τ/2)M^{-1}
  backup: _Quadratic          # (T*V^π)(x) = −xᵀF(P)x − γ tr(PW) − γc + (τm/2) log(πτ) − (τ/2) log det M
  residual: _Quadratic        # τ KL(π(·|x) ‖ p^π_x)


def _analysis(model: _Model, policy: LQPolicy) -> _PolicyAnalysis:
  value = _evaluate(model, policy.K, policy.Sigma)
  m = policy.Sigma.shape[-1]
  curvature = _action_curvature(model, value.P)
  gibbs = LQPolicy(model.gamma * jnp.linalg.solve(curvature, model.B.T @ value.P @ model.A),
                   _symmetrize(0.5 * model.tau * jnp.linalg.inv(curvature)))
  # τ log ∫ exp(−vᵀMv/τ) dv = (τm/2) log(πτ) − (τ/2) log det M.
  backup_constant = (-model.gamma * (jnp.trace(value.P @ model.W) + value.c)
                     + 0.5 * model.tau * m * jnp.log(jnp.pi * model.tau) - 0.5 * model.tau * _logdet(curvature))
  backup = _Quadratic(-_riccati_map(model, value.P), backup_constant)
  kl = _kl_quadratic(policy, gibbs)
  return _PolicyAnalysis(value, gibbs, backup, _Quadratic(model.tau * kl.M, model.tau * kl.b))


_analyze = jax.jit(_analysis)


def _resolvent_quadratics(model: _Model, policy: LQPolicy, next_policy: LQPolicy) -> base.ResolventIdentity:
  """Both sides of (I − γP^{π'})(V^{π'} − V^π)(x) = τ[KL(π‖p^π) − KL(π'‖p^π)](x) as quadratics in x.

  lhs: ΔV(x) − γE[ΔV(x')], x' ∼ N(L'x, N'), L' = A − BK', N' = BΣ'Bᵀ + W, ΔV = −xᵀΔPx − Δc:
       M = −ΔP + γL'ᵀΔPL',  b = −(1−γ)Δc + γ tr(ΔP N').
  rhs: τKL(π‖p^π) − τKL(π'‖p^π), both KLs to the Gibbs policy of the OLD policy π.
  """
  analysis = _analysis(model, policy)
  next_value = _evaluate(model, next_policy.K, next_policy.Sigma)
  delta_p, delta_c = next_value.P - analysis.value.P, next_value.c - analysis.value.c
  closed_loop = model.A - model.B @ next_policy.K
  next_state_covariance = model.B @ next_policy.Sigma @ model.B.T + model.W
  lhs = _Quadratic(_symmetrize(-delta_p + model.gamma * closed_loop.T @ delta_p @ closed_loop),
                   -(1.0 - model.gamma) * delta_c + model.gamma * jnp.trace(delta_p @ next_state_covariance))
  next_kl = _kl_quadratic(next_policy, analysis.gibbs)
  rhs = _Quadratic(analysis.residual.M - model.tau * next_kl.M, analysis.residual.b - model.tau * next_kl.b)
  return base.ResolventIdentity(lhs, rhs)


_resolvent = jax.jit(_resolvent_quadratics)


@jax.jit
def _solve_riccati(model: _Model) -> LQOptimum:
  """Stabilizing solution of P = F(P) by the structure-preserving doubling algorithm, polished by Newton steps.

  SDA (Chu, Fan, Lin 2005) for X = ÃᵀX(I + GX)^{-1}Ã + Q with Ã = sqrt(γ)A, G = γBR^{-1}Bᵀ:
      A_{k+1} = A_k(I + G_kH_k)^{-1}A_k,  G_{k+1} = G_k + A_k(I + G_kH_k)^{-1}G_kA_kᵀ,
      H_{k+1} = H_k + A_kᵀH_k(I + G_kH_k)^{-1}A_k,  H_0 = Q → P quadratically (A_k ~ closed loop^{2^k} → 0).
  Then Newton/Hewer steps K ← K_g(P), P ← P_K make P = P_{K*} to machine precision.
  """
  n = model.A.shape[0]
  identity = jnp.eye(n, dtype=model.A.dtype)

  def doubling(carry, _):
    a, g, h = carry
    solved = jnp.linalg.solve(identity + g @ h, jnp.concatenate([a, g], axis=1))   # (I + GH)^{-1}[A, G]
    resolvent_a, resolvent_g = solved[:, :n], solved[:, n:]
    return (a @ resolvent_a, _symmetrize(g + a @ resolvent_g @ a.T), _symmetrize(h + a.T @ h @ resolvent_a)), None

  g0 = model.gamma * model.B @ jnp.linalg.solve(model.R, model.B.T)
  (_, _, value_matrix), _ = jax.lax.scan(doubling, (jnp.sqrt(model.gamma) * model.A, _symmetrize(g0), model.Q), None,
                                         length=64)

  def newton(value_matrix, _):
    return _value_matrix(model, _greedy_gain(model, value_matrix)), None

  value_matrix, _ = jax.lax.scan(newton, value_matrix, None, length=2)
  gain = _greedy_gain(model, value_matrix)
  curvature = _action_curvature(model, value_matrix)
  m = model.B.shape[1]
  constant = (model.gamma * jnp.trace(value_matrix @ model.W) - 0.5 * model.tau * m * jnp.log(jnp.pi * model.tau)
              + 0.5 * model.tau * _logdet(curvature)) / (1.0 - model.gamma)
  return LQOptimum(gain, _symmetrize(0.5 * model.tau * jnp.linalg.inv(curvature)), value_matrix, constant)



def _wpgd_update(model: _Model, policy: LQPolicy, value: LQSoftValue, step_size: chex.Array) -> LQPolicy:
  """One exact WPGD step (module docstring of `lqr`, "WPGD stays linear-Gaussian"), given V^{π_k} = (P, c)."""
  gain, covariance = policy
  identity = jnp.eye(covariance.shape[-1], dtype=covariance.dtype)
  hessian = 2.0 * _action_curvature(model, value.P)                       # H_k = −∇²_u Q^{π_k}
  new_gain = gain - step_size * (hessian @ gain - 2.0 * model.gamma * model.B.T @ value.P @ model.A)
  contraction = identity - step_size * hessian
  new_covariance = _symmetrize(contraction @ covariance @ contraction.T + 2.0 * step_size * model.tau * identity)
  return LQPolicy(new_gain, new_covariance)


@jax.jit
def _wpgd_step(model: _Model, policy: LQPolicy, step_size: chex.Array) -> LQPolicy:
  return _wpgd_update(model, policy, _evaluate(model, *policy), step_size)


@functools.partial(jax.jit, static_argnames=("num_steps",))
def _wpgd_exact(model: _Model, gain: chex.Array, covariance: chex.Array, step_size: chex.Array,
                num_steps: int) -> LQTrajectory:
  """Exact WPGD iterates under lax.scan."""

  def step(policy, _):
    value = _evaluate(model, *policy)
    return _wpgd_update(model, policy, value, step_size), (*policy, value.P, value.c)

  last, (gains, covariances, value_matrices, constants) = jax.lax.scan(
      step, LQPolicy(gain, covariance), None, length=num_steps)
  last_value = _evaluate(model, *last)
  return LQTrajectory(jnp.concatenate([gains, last.K[None]]), jnp.concatenate([covariances, last.Sigma[None]]),
                      jnp.concatenate([value_matrices, last_value.P[None]]), jnp.append(constants, last_value.c))


def _fit_gaussian_policy(particles: chex.Array, states: chex.Array) -> LQPolicy:
  """Least-squares fit of N(−Kx, Σ) to particles [S, N, m] at states [S, n].

  K: the particle means m_s regressed on x_s without intercept, K = −(Σ_s m_s x_sᵀ)(Σ_s x_s x_sᵀ)^{-1} (the same as
  regressing every particle on its state, since N is equal across states). Σ: within-state sample covariance pooled
  over states, Σ = Σ_{s,i}(u_si − m_s)(u_si − m_s)ᵀ / (S(N − 1)) (unbiased).
  """
  num_states, num_particles, _ = particles.shape
  means = jnp.mean(particles, axis=1)                                      # [S, m]
  gain = -jnp.linalg.solve(states.T @ states, states.T @ means).T           # [m, n]
  deviations = particles - means[:, None, :]
  covariance = jnp.einsum("sia,sib->ab", deviations, deviations) / (num_states * (num_particles - 1))
  return LQPolicy(gain, _symmetrize(covariance))



@functools.partial(jax.jit, static_argnames=("num_particles",))
def _sample_policy(key: chex.PRNGKey, policy: LQPolicy, states: chex.Array, num_particles: int) -> chex.Array:
  """num_particles draws of π(·|x_s) = N(−K x_s, Σ) at each state.  states [S, n] -> [S, N, m]."""
  noise = jax.random.normal(key, (states.shape[0], num_particles, policy.Sigma.shape[-1]), policy.Sigma.dtype)
  return -(states @ policy.K.T)[:, None, :] + noise @ jnp.linalg.cholesky(policy.Sigma).T


@functools.partial(jax.jit, static_argnames=("num_steps", "method"))
def _wpgd_particles(model: _Model, key: chex.PRNGKey, particles: chex.Array, states: chex.Array,
                    step_size: chex.Array, num_steps: int, method: str) -> tuple[LQTrajectory, chex.Array]:
  """Particle WPGD with the core step on q_fn = Q^{π̂_k}(x_s, ·), π̂_k fitted to the current particles.

  -> (fitted policies and their soft values, iterates 0..K; the last particles [S, N, m]).
  """
  num_states = states.shape[0]

  def move_one_state(step_key, state_particles, state, value):
    return particles_lib.wpg_step(step_key, state_particles, lambda u: _soft_q(model, value, state, u),
                                  step_size=step_size, tau=model.tau, method=method)

  def step(particles, step_key):
    policy = _fit_gaussian_policy(particles, states)
    value = _evaluate(model, policy.K, policy.Sigma)
    new_particles = jax.vmap(move_one_state, in_axes=(0, 0, 0, None))(
        jax.random.split(step_key, num_states), particles, states, value)
    return new_particles, (policy.K, policy.Sigma, value.P, value.c)

  final_particles, (gains, covariances, value_matrices, constants) = jax.lax.scan(
      step, particles, jax.random.split(key, num_steps))
  last_policy = _fit_gaussian_policy(final_particles, states)
  last_value = _evaluate(model, last_policy.K, last_policy.Sigma)
  fitted = LQTrajectory(
      jnp.concatenate([gains, last_policy.K[None]]), jnp.concatenate([covariances, last_policy.Sigma[None]]),
      jnp.concatenate([value_matrices, last_value.P[None]]), jnp.append(constants, last_value.c))
  return fitted, final_particles


def _gaussian_relative_fisher(mean: chex.Array, cov: chex.Array, target_mean: chex.Array,
                              target_cov: chex.Array) -> chex.Array:
  """I(N(μ, Σ) ‖ N(μ_g, Σ_g)) = tr((Σ_g^{-1} − Σ^{-1}) Σ (Σ_g^{-1} − Σ^{-1})) + ‖Σ_g^{-1}(μ − μ_g)‖².

  mean, target_mean: [S, m]; cov, target_cov: [m, m] -> [S]."""
  target_precision = jnp.linalg.inv(target_cov)
  precision_gap = target_precision - jnp.linalg.inv(cov)
  trace_term = jnp.trace(precision_gap @ cov @ precision_gap)
  drift = (mean - target_mean) @ target_precision.T
  return trace_term + jnp.sum(drift**2, axis=-1)


class _StateDiagnostics(NamedTuple):
  """One policy at states x [S, n]: V^π(x), τKL(π‖p^π)(x), (T*V^π)(x), I(π‖p^π)(x) [S], 1/λ_max(Σ_g) []."""
  value: chex.Array
  kl_residual: chex.Array
  backup: chex.Array
  fisher_information: chex.Array
  lsi_lower_bound: chex.Array


def _state_diagnostics(model: _Model, policy: LQPolicy, states: chex.Array) -> _StateDiagnostics:
  analysis = _analysis(model, policy)
  value = _at_states(_Quadratic(-analysis.value.P, -analysis.value.c), states)
  fisher = _gaussian_relative_fisher(-states @ policy.K.T, policy.Sigma, -states @ analysis.gibbs.K.T,
                                     analysis.gibbs.Sigma)
  return _StateDiagnostics(value, _at_states(analysis.residual, states), _at_states(analysis.backup, states),
                           fisher, 1.0 / jnp.max(jnp.linalg.eigvalsh(analysis.gibbs.Sigma)))


_diagnose = jax.jit(_state_diagnostics)


@jax.jit
def _exact_trace(model: _Model, iterates: LQTrajectory, optimal_value: chex.Array,
                 states: chex.Array) -> base.WPGDTrace:
  """The WPGDTrace of exact iterates at states [S, n] (`lqr.LinearQuadratic.exact_wpgd`)."""
  policies = LQPolicy(iterates.K, iterates.Sigma)
  values = -jnp.einsum('si,kij,sj->ks', states, iterates.P, states) - iterates.c[:, None]
  diagnostics = jax.vmap(_state_diagnostics, in_axes=(None, 0, None))(model, policies, states)
  now, later = jax.tree.map(lambda x: x[:-1], policies), jax.tree.map(lambda x: x[1:], policies)
  sides = jax.vmap(_resolvent_quadratics, in_axes=(None, 0, 0))(model, now, later)
  at_states = jax.vmap(_at_states, in_axes=(0, None))
  state_gap = optimal_value[None] - values
  return base.WPGDTrace(
      policy=policies, value=values, state_gap=state_gap, gap=jnp.max(jnp.abs(state_gap), axis=1),
      kl_residual=diagnostics.kl_residual, bellman_residual=diagnostics.backup - values,
      fisher_information=diagnostics.fisher_information, improvement=at_states(sides.rhs, states),
      resolvent_lhs=at_states(sides.lhs, states), edge_mass_lost=jnp.zeros_like(state_gap[1:]),
      lsi_lower_bound=diagnostics.lsi_lower_bound, aux=LQSoftValue(iterates.P, iterates.c))


# ------------------------------------------------------------------------------------------------------------------
# Eager input checks (host side: the public methods take concrete arrays).


def _host_matrix(name: str, value: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
  array = np.array(value, dtype=np.float64)   # a copy: never alias (or freeze) the caller's array
  if array.shape != shape:
    raise ValueError(f"{name} must have shape {what} = {list(shape)}, got shape {list(array.shape)}")
  if not np.all(np.isfinite(array)):
    raise ValueError(f"{name} must be finite, got {value!r}")
  return array


def _check_symmetric_positive_definite(name: str, matrix: np.ndarray, *, semidefinite: bool = False) -> None:
  kind = "positive semidefinite" if semidefinite else "positive definite"
  scale = max(1.0, float(np.max(np.abs(matrix))))
  if np.max(np.abs(matrix - matrix.T)) > 1e-9 * scale:
    raise ValueError(f"{name} must be symmetric {kind}, got a non-symmetric matrix "
                     f"(max |{name} − {name}ᵀ| = {np.max(np.abs(matrix - matrix.T)):.3g})")
  min_eigenvalue = float(np.min(np.linalg.eigvalsh(0.5 * (matrix + matrix.T))))
  ok = min_eigenvalue >= -1e-12 * scale if semidefinite else min_eigenvalue > 0.0
  if not ok:
    raise ValueError(f"{name} must be symmetric {kind}, got minimum eigenvalue {min_eigenvalue:.6g}")


def _spectral_radius(matrix: np.ndarray) -> float:
  return float(np.max(np.abs(np.linalg.eigvals(matrix))))
