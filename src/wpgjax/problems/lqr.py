"""T2: entropy-regularized discounted LQR with exact answers (THEORY.md §5 T2), computed in float64.

Dynamics and reward (no action regularizer β: the control cost uᵀRu plays that role):

    x' = A x + B u + w,   w ∼ N(0, W),   r(x, u) = −(xᵀQx + uᵀRu),
    x ∈ R^n, u ∈ R^m, A [n, n], B [n, m], Q [n, n], R [m, m], W [n, n] (Q, R symmetric positive definite; W symmetric positive semidefinite).

Every linear-Gaussian policy π = N(−Kx, Σ) (gain K [m, n], covariance Σ [m, m]) has a quadratic soft value
V^π(x) = E[Σ_t γ^t (r − τ log π)] = −xᵀP_K x − c_K. Everything below follows from that and is exact.

Derivations (M_K := R + γBᵀP_K B, [m, m]):

* Policy evaluation. V^π(x) = E_u[r(x,u) − τ log π(u|x)] + γ E[V^π(x')], with E_u[uᵀRu] = xᵀKᵀRKx + tr(RΣ),
  E[−log π] = ½ log det(2πeΣ), x' ∼ N((A−BK)x, BΣBᵀ + W). Matching the quadratic and constant terms:

      P_K = Q + KᵀRK + γ(A−BK)ᵀ P_K (A−BK)                      (discounted Lyapunov; PD solution iff
                                                                   sqrt(γ)·ρ(A−BK) < 1),
      (1−γ) c_K = tr(RΣ) + γ tr(P_K(BΣBᵀ + W)) − (τ/2) log det(2πeΣ).

* Soft Q. Q^π(x,u) = r(x,u) + γ E[V^π(x') | x, u] = −xᵀQx − uᵀRu − γ(Ax+Bu)ᵀP_K(Ax+Bu) − γ tr(P_K W) − γ c_K.
  Completing the square in u:

      Q^π(x,u) = −(u + K_g x)ᵀ M_K (u + K_g x) − xᵀ F(P_K) x − γ tr(P_K W) − γ c_K,
      K_g = γ M_K^{-1} BᵀP_K A,   F(P) = Q + γAᵀPA − γ²AᵀPB(R + γBᵀPB)^{-1}BᵀPA   (the Riccati map).

* Gibbs policy p^π(u|x) ∝ exp(Q^π(x,u)/τ): Gaussian with precision −∇²_u Q^π/τ = 2M_K/τ and mode −K_g x, i.e.

      p^π = N(−K_g x, Σ_g),   Σ_g = (τ/2) M_K^{-1}        (depends on π only through K; Σ enters c_K alone).

* Soft optimality backup. ∫ exp(−vᵀM v/τ) dv = (πτ)^{m/2} det(M)^{-1/2}, hence

      (T*V^π)(x) = τ log ∫ exp(Q^π(x,u)/τ) du
                 = −xᵀF(P_K)x − γ tr(P_K W) − γ c_K + (τm/2) log(πτ) − (τ/2) log det M_K.

* KL residual (THEORY.md §2.1). V^π(x) = E_π[Q^π − τ log π] = τ log Z_x − τ KL(π(·|x) ‖ p^π_x), so
  (T*V^π − V^π)(x) = τ KL(N(−Kx, Σ) ‖ N(−K_g x, Σ_g))
                   = (τ/2)[tr(Σ_g^{-1}Σ) + dᵀΣ_g^{-1}d − m + log det Σ_g − log det Σ],  d = (K − K_g)x.

* Optimum. π* is its own Gibbs policy: K* = K_g(K*), Σ* = (τ/2)(R + γBᵀPB)^{-1}, P = P_{K*} = F(P) (the
  discounted Riccati equation, τ-independent), and (1−γ)c* = γ tr(PW) − (τm/2) log(πτ) + (τ/2) log det(R+γBᵀPB)
  (the constant of T*V* = V*).

* Discrete resolvent identity (THEORY.md §2.3), exact for ANY pair π, π' = N(−K'x, Σ'):
  (I − γP^{π'})V^{π'} = E_{π'}[r − τ log π'] and E_{π'}[r + γPV^π − τ log π'] = T*V^π − τKL(π'‖p^π), so

      (I − γP^{π'})(V^{π'} − V^π)(x) = τ[KL(π‖p^π) − KL(π'‖p^π)](x) =: g(x).

  With ΔP = P_{K'} − P_K, Δc = c_{K'} − c_K and x' ∼ N((A−BK')x, BΣ'Bᵀ + W) the left side is, in closed form,
      −xᵀΔP x − Δc + γ[xᵀ(A−BK')ᵀΔP(A−BK')x + tr(ΔP(BΣ'Bᵀ + W)) + Δc].

* WPGD stays linear-Gaussian. ∇_u Q^{π_k}(x,u) = −H_k(u + K_{g,k} x) with H_k = 2M_{K_k}, so the particle step
  u ← u + η∇_uQ^{π_k} + sqrt(2τη)ξ is affine and maps N(−K_k x, Σ_k) to N(−K_{k+1}x, Σ_{k+1}):

      K_{k+1} = K_k − η[H_k K_k − 2γBᵀP_{K_k}A],   Σ_{k+1} = (I − ηH_k)Σ_k(I − ηH_k)ᵀ + 2ητI.

  Fixed point: K = K_g(K), i.e. K* exactly, and Σ = (I − ηH*)Σ(I − ηH*) + 2ητI with H* = 2(R + γBᵀPB), solved by
  Σ_∞(η) = τ(H* − ηH*²/2)^{-1} = Σ*(I − η(R + γBᵀPB))^{-1}; both contract iff η·λ_max(H*) < 2.
  Near the fixed point dK_g/dK = 0 (P_K is stationary at K*), so δK_{k+1} ≈ (I − ηH*)δK_k; the gap
  V* − V^{π_k} is quadratic in δK and (at Σ_∞ ≠ Σ*) linear in δΣ, so |gap_k − gap_∞| decays asymptotically by
  the factor ρ(I − ηH*)² per step (`gap_contraction_factor`), down to the bias floor (`gap_floor`)
  (V* − V^{π_∞})(x) = (τ/(2(1−γ))) Σ_i [ημ_i/(1−ημ_i) + log(1−ημ_i)] ≈ τη²Σμ_i²/(4(1−γ)), μ_i = λ_i(R + γBᵀPB):
  O(η²) here, although Σ_∞ − Σ* is O(η), because Σ* minimizes c(Σ) at K*.

* Particle WPGD (`wpgd_particles`): the core `wpg_step` on Q^{π̂_k}(x_s, ·) at S states, π̂_k the linear-Gaussian
  least-squares fit to the current particles; its fitted (K̂_k, Σ̂_k) differ from `wpgd` by Monte Carlo error.

Every state-dependent quantity is a quadratic form xᵀMx + b; the linear algebra giving (M, b) is jitted once per
problem shape and shared by all instances. Rewards are unbounded, so T2 sits outside the convergence theorem's
assumptions but gives exact numbers. Public methods validate their inputs eagerly (ValueError naming the argument),
compute in float64 (x64 enabled locally) and return float64 NumPy arrays.
"""

from __future__ import annotations

__all__ = [
    "LQPolicy",
    "LQSoftValue",
    "LQOptimum",
    "LQTrajectory",
    "LQParticleTrajectory",
    "LQResolvent",
    "LinearQuadratic",
]

import functools
import math
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from wpgjax import _validation
from wpgjax._x64 import float64
from wpgjax.core import particles as particles_lib

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
  """Exact WPGD iterates π_k = N(−K_k x, Σ_k), k = 0..num_steps, and their soft values −xᵀP_k x − c_k.

  K: [k+1, m, n], Sigma: [k+1, m, m], P: [k+1, n, n], c: [k+1].
  """
  K: chex.Array
  Sigma: chex.Array
  P: chex.Array
  c: chex.Array


class LQParticleTrajectory(NamedTuple):
  """Particle WPGD: the Gaussian policies fitted to the particles at each iterate, and the final particles.

  K: [k+1, m, n], Sigma: [k+1, m, m], P: [k+1, n, n], c: [k+1] (soft value of each fitted policy),
  particles: [S, N, m] (the particles at every state after the last step).
  """
  K: chex.Array
  Sigma: chex.Array
  P: chex.Array
  c: chex.Array
  particles: chex.Array


class LQResolvent(NamedTuple):
  """Both sides of (I − γP^{π'})(V^{π'} − V^π)(x) = g(x) at states x.  lhs, rhs: [...]."""
  lhs: chex.Array
  rhs: chex.Array


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


@jax.jit
def _resolvent_quadratics(model: _Model, policy: LQPolicy, next_policy: LQPolicy) -> LQResolvent:
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
  return LQResolvent(lhs, rhs)


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


@functools.partial(jax.jit, static_argnames=("num_steps",))
def _wpgd_exact(model: _Model, gain: chex.Array, covariance: chex.Array, step_size: chex.Array,
                num_steps: int) -> LQTrajectory:
  """Exact WPGD iterates under lax.scan (module docstring, "WPGD stays linear-Gaussian")."""
  m = covariance.shape[-1]
  identity = jnp.eye(m, dtype=covariance.dtype)

  def step(policy, _):
    gain, covariance = policy
    value = _evaluate(model, gain, covariance)
    hessian = 2.0 * _action_curvature(model, value.P)                       # H_k = −∇²_u Q^{π_k}
    new_gain = gain - step_size * (hessian @ gain - 2.0 * model.gamma * model.B.T @ value.P @ model.A)
    contraction = identity - step_size * hessian
    new_covariance = _symmetrize(contraction @ covariance @ contraction.T + 2.0 * step_size * model.tau * identity)
    return (new_gain, new_covariance), (gain, covariance, value.P, value.c)

  (last_gain, last_covariance), (gains, covariances, value_matrices, constants) = jax.lax.scan(
      step, (gain, covariance), None, length=num_steps)
  last_value = _evaluate(model, last_gain, last_covariance)
  return LQTrajectory(jnp.concatenate([gains, last_gain[None]]), jnp.concatenate([covariances, last_covariance[None]]),
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


@functools.partial(jax.jit, static_argnames=("num_particles", "num_steps", "method"))
def _wpgd_particles(model: _Model, key: chex.PRNGKey, gain: chex.Array, covariance: chex.Array, states: chex.Array,
                    step_size: chex.Array, num_particles: int, num_steps: int, method: str) -> LQParticleTrajectory:
  """Particle WPGD with the core step on q_fn = Q^{π̂_k}(x_s, ·), π̂_k fitted to the current particles."""
  num_states = states.shape[0]
  m = covariance.shape[-1]
  init_key, steps_key = jax.random.split(key)
  noise = jax.random.normal(init_key, (num_states, num_particles, m), dtype=covariance.dtype)
  particles = -(states @ gain.T)[:, None, :] + noise @ jnp.linalg.cholesky(covariance).T

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
      step, particles, jax.random.split(steps_key, num_steps))
  last_policy = _fit_gaussian_policy(final_particles, states)
  last_value = _evaluate(model, last_policy.K, last_policy.Sigma)
  return LQParticleTrajectory(
      jnp.concatenate([gains, last_policy.K[None]]), jnp.concatenate([covariances, last_policy.Sigma[None]]),
      jnp.concatenate([value_matrices, last_value.P[None]]), jnp.append(constants, last_value.c), final_particles)


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


def _exact(method):
  """Decorator for public methods: compute under float64 (x64 enabled locally), return float64 NumPy arrays.

  NumPy outputs keep every downstream comparison in float64 whatever the caller's global x64 flag is (outside x64,
  arithmetic between a float64 jax array and a NumPy array silently runs in float32).
  """
  run = float64(method)

  @functools.wraps(method)
  def wrapper(*args, **kwargs):
    return jax.tree.map(np.asarray, run(*args, **kwargs))

  return wrapper


class LinearQuadratic:
  """Entropy-regularized discounted LQR (THEORY.md §5 T2); see the module docstring for every formula.

      lq = LinearQuadratic(A, B, Q, R, W, gamma=0.9, tau=0.5)
      opt = lq.optimal()                        # π* = N(−opt.K x, opt.Sigma), V*(x) = −xᵀ opt.P x − opt.c
      P, c = lq.evaluate(K, Sigma)              # soft value of N(−Kx, Σ)
      lq.kl_residual(K, Sigma, x)               # (T*V^π − V^π)(x) = τ KL(π(·|x) ‖ p^π_x), x [..., n] -> [...]
      traj = lq.wpgd(K0, Sigma0, step_size=eta, num_steps=k)   # exact iterates, traj.K [k+1, m, n]

  Args:
    A: [n, n] state matrix.  B: [n, m] input matrix.
    Q: [n, n] state cost, symmetric PD.  R: [m, m] action cost, symmetric PD.  W: [n, n] noise covariance, symmetric PSD (0 allowed).
    gamma: discount in (0, 1).  tau: temperature > 0.
  The pair (sqrt(γ)A, sqrt(γ)B) must be stabilizable; this is checked when the optimum is first computed.
  Policies are (K [m, n], Sigma [m, m]); K must be stabilizing (sqrt(γ)·ρ(A − BK) < 1), Sigma SPD.
  Every method validates eagerly (ValueError naming the argument), computes in float64 with jitted JAX functions
  (compiled once per shape and shared by all instances) and returns float64 NumPy arrays.
  """

  def __init__(self, A: Any, B: Any, Q: Any, R: Any, W: Any, gamma: float = 0.9, tau: float = 0.5):
    if np.ndim(B) != 2:
      raise ValueError(f"B must have shape [n, m] (rank 2), got shape {list(np.shape(B))}")
    n, m = np.shape(B)
    if n < 1 or m < 1:
      raise ValueError(f"B must have shape [n, m] with n, m >= 1, got shape {[n, m]}")
    self.A = _host_matrix("A", A, (n, n), "[n, n]")
    self.B = _host_matrix("B", B, (n, m), "[n, m]")
    self.Q = _host_matrix("Q", Q, (n, n), "[n, n]")
    self.R = _host_matrix("R", R, (m, m), "[m, m]")
    self.W = _host_matrix("W", W, (n, n), "[n, n]")
    for name in ("Q", "R", "W"):
      matrix = getattr(self, name)
      # W = 0 (deterministic dynamics) is allowed: every formula holds with a PSD noise covariance.
      _check_symmetric_positive_definite(name, matrix, semidefinite=(name == "W"))
      setattr(self, name, 0.5 * (matrix + matrix.T))
    for name in ("A", "B", "Q", "R", "W"):
      getattr(self, name).setflags(write=False)   # the cached optimum depends on them
    if np.ndim(gamma) != 0:
      raise ValueError(f"gamma must be a scalar in (0, 1), got {gamma!r}")
    if np.ndim(tau) != 0:
      raise ValueError(f"tau must be a scalar > 0, got {tau!r}")
    _validation.check_in_range("gamma", gamma, 0.0, 1.0)
    _validation.check_positive("tau", tau)
    self.gamma = float(gamma)
    self.tau = float(tau)
    self.state_dim = n
    self.action_dim = m
    self._optimum: LQOptimum | None = None

  def __repr__(self) -> str:
    return (f"LinearQuadratic(state_dim={self.state_dim}, action_dim={self.action_dim}, gamma={self.gamma}, "
            f"tau={self.tau})")

  # ------------------------------------------------------------------------------------------------ checks

  def _model(self) -> _Model:
    """The problem as a float64 pytree (call under x64)."""
    return _Model(*(jnp.asarray(x, jnp.float64) for x in (self.A, self.B, self.Q, self.R, self.W)),
                  jnp.asarray(self.gamma, jnp.float64), jnp.asarray(self.tau, jnp.float64))

  def _curvature(self, value_matrix: np.ndarray) -> np.ndarray:
    """M = R + γBᵀPB on the host."""
    curvature = self.R + self.gamma * self.B.T @ value_matrix @ self.B
    return 0.5 * (curvature + curvature.T)

  def _check_gain(self, K: Any, name: str = "K", *, stabilizing: bool = True) -> np.ndarray:
    """Shape [m, n], finite, and (unless told otherwise) stabilizing: sqrt(γ)·ρ(A − BK) < 1."""
    gain = _host_matrix(name, K, (self.action_dim, self.state_dim), "[m, n]")
    if stabilizing:
      radius = math.sqrt(self.gamma) * _spectral_radius(self.A - self.B @ gain)
      if not radius < 1.0:
        raise ValueError(
            f"{name} must be a stabilizing gain, sqrt(gamma)·ρ(A − B {name}) < 1 (otherwise the discounted Lyapunov "
            f"equation has no positive definite solution and the soft value is −∞), got {radius:.6g}")
    return jnp.asarray(gain, jnp.float64)

  def _check_covariance(self, Sigma: Any, name: str = "Sigma") -> np.ndarray:
    """Shape [m, m], symmetric positive definite."""
    covariance = _host_matrix(name, Sigma, (self.action_dim, self.action_dim), "[m, m]")
    _check_symmetric_positive_definite(name, covariance)
    return jnp.asarray(0.5 * (covariance + covariance.T), jnp.float64)

  def _check_policy(self, K: Any, Sigma: Any, suffix: str = "") -> LQPolicy:
    return LQPolicy(self._check_gain(K, "K" + suffix), self._check_covariance(Sigma, "Sigma" + suffix))

  def _check_states(self, x: Any, name: str = "x") -> np.ndarray:
    if np.ndim(x) < 1 or np.shape(x)[-1] != self.state_dim:
      raise ValueError(f"{name} must have shape [..., n] with n = {self.state_dim}, got shape {list(np.shape(x))}")
    states = np.asarray(x, np.float64)
    if not np.all(np.isfinite(states)):
      raise ValueError(f"{name} must be finite")
    return jnp.asarray(states, jnp.float64)

  def _check_step_size(self, step_size: Any, value_matrix: np.ndarray, where: str) -> float:
    """η > 0 with η·λ_max(H) < 2, H = 2(R + γBᵀP_KB) (the WPGD recursion's stability bound)."""
    if np.ndim(step_size) != 0:
      raise ValueError(f"step_size must be a positive scalar, got {step_size!r}")
    _validation.check_positive("step_size", step_size)
    largest = 2.0 * float(np.max(np.linalg.eigvalsh(self._curvature(value_matrix))))
    if not float(step_size) * largest < 2.0:
      raise ValueError(
          f"step_size must satisfy step_size·λ_max(H) < 2 with H = 2(R + γBᵀP_K B) at {where} (the stability bound "
          f"of the WPGD recursion), i.e. step_size < {2.0 / largest:.6g}; got step_size = {float(step_size):.6g}")
    return float(step_size)

  @staticmethod
  def _check_count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
      raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)

  def _check_trajectory(self, gains: np.ndarray, value_matrices: np.ndarray, step_size: float, what: str) -> None:
    """Every iterate must stay stabilizing and inside the step-size stability bound (checked after the scan)."""
    for k, (gain, value_matrix) in enumerate(zip(gains, value_matrices)):
      finite = bool(np.all(np.isfinite(gain)) and np.all(np.isfinite(value_matrix)))
      radius = math.sqrt(self.gamma) * _spectral_radius(self.A - self.B @ gain) if finite else math.inf
      if not radius < 1.0:
        raise ValueError(f"step_size = {step_size:.6g} drove the {what} gain K_{k} out of the stabilizing set "
                         f"(sqrt(gamma)·ρ(A − B K_{k}) = {radius:.6g} >= 1); use a smaller step_size")
      if k + 1 < len(gains):
        self._check_step_size(step_size, value_matrix, f"{what} iterate k = {k}")

  # ----------------------------------------------------------------------------------------------- optimum

  @_exact
  def optimal(self) -> LQOptimum:
    """π* = N(−K*x, Σ*) and V*(x) = −xᵀPx − c*: P solves the discounted Riccati equation
    P = Q + γAᵀPA − γ²AᵀPB(R + γBᵀPB)^{-1}BᵀPA, K* = γ(R + γBᵀPB)^{-1}BᵀPA, Σ* = (τ/2)(R + γBᵀPB)^{-1},
    (1−γ)c* = γ tr(PW) − (τm/2) log(πτ) + (τ/2) log det(R + γBᵀPB).  K [m, n], Sigma [m, m], P [n, n], c [].
    Computed once (doubling algorithm + Newton polish, see `_solve_riccati`) and cached.
    """
    if self._optimum is None:
      optimum = jax.tree.map(np.asarray, _solve_riccati(self._model()))
      ok = all(np.all(np.isfinite(leaf)) for leaf in optimum)
      if ok:
        p, a, b = optimum.P, self.A, self.B
        cross = self.gamma * b.T @ p @ a
        riccati = self.Q + self.gamma * a.T @ p @ a - cross.T @ np.linalg.solve(self._curvature(p), cross)
        residual = float(np.max(np.abs(p - riccati)))
        radius = math.sqrt(self.gamma) * _spectral_radius(a - b @ optimum.K)
        ok = residual <= 1e-8 * max(1.0, float(np.max(np.abs(p)))) and radius < 1.0
      if not ok:
        raise ValueError("(A, B) must make (sqrt(gamma)·A, sqrt(gamma)·B) stabilizable: the discounted Riccati "
                         "equation has no stabilizing solution for these A, B, gamma")
      for leaf in optimum:
        leaf.setflags(write=False)   # the cache is shared by every caller
      self._optimum = optimum
    return self._optimum

  @_exact
  def optimal_value(self, x: Any) -> np.ndarray:
    """V*(x) = −xᵀPx − c*.  x [..., n] -> [...]."""
    optimum = self.optimal()
    return _at_states(_Quadratic(-optimum.P, -optimum.c), self._check_states(x))

  def stationary_sigma(self, step_size: Any) -> np.ndarray:
    """Σ_∞(η) = Σ*(I − η(R + γBᵀPB))^{-1} [m, m]: the covariance exact WPGD converges to (Σ_∞(0) = Σ*).

    The unique fixed point of Σ = (I − ηH*)Σ(I − ηH*) + 2ητI, H* = 2(R + γBᵀPB) (Σ commutes with H*, so
    Σ(2ηH* − η²H*²) = 2ητI); requires η·λ_max(H*) < 2.
    """
    optimum = self.optimal()
    eta = self._check_step_size(step_size, optimum.P, "the optimum")
    sigma = optimum.Sigma @ np.linalg.inv(np.eye(self.action_dim) - eta * self._curvature(optimum.P))
    return 0.5 * (sigma + sigma.T)

  def gap_floor(self, step_size: Any) -> float:
    """The O(η²) bias floor of exact WPGD: (V* − V^{π_∞})(x) for π_∞ = N(−K*x, Σ_∞(η)), the same at every x:

        (τ / (2(1−γ))) Σ_i [ημ_i/(1 − ημ_i) + log(1 − ημ_i)] ≈ τη² Σ_i μ_i² / (4(1−γ)),   μ_i = λ_i(R + γBᵀPB).

    (At K = K*, (1−γ)c(Σ) = tr(MΣ) − (τ/2) log det(2πeΣ) + γ tr(PW) and MΣ* = (τ/2)I.)
    """
    optimum = self.optimal()
    eta = self._check_step_size(step_size, optimum.P, "the optimum")
    scaled = eta * np.linalg.eigvalsh(self._curvature(optimum.P))
    return float(0.5 * self.tau * np.sum(scaled / (1.0 - scaled) + np.log1p(-scaled)) / (1.0 - self.gamma))

  def gap_contraction_factor(self, step_size: Any) -> float:
    """ρ(I − ηH*)² = max_i (1 − ηλ_i(H*))², H* = 2(R + γBᵀPB): the asymptotic per-step factor of
    |(V* − V^{π_k}) − (V* − V^{π_∞})|(x) along exact WPGD (module docstring, last bullet)."""
    optimum = self.optimal()
    eta = self._check_step_size(step_size, optimum.P, "the optimum")
    hessian_eigenvalues = 2.0 * np.linalg.eigvalsh(self._curvature(optimum.P))
    return float(np.max((1.0 - eta * hessian_eigenvalues) ** 2))

  # -------------------------------------------------------------------------------------------- evaluation

  @_exact
  def evaluate(self, K: Any, Sigma: Any) -> LQSoftValue:
    """Soft value of π = N(−Kx, Σ): V^π(x) = −xᵀPx − c with P = Q + KᵀRK + γ(A−BK)ᵀP(A−BK) (solved exactly by
    vectorisation) and (1−γ)c = tr(RΣ) + γ tr(P(BΣBᵀ + W)) − (τ/2) log det(2πeΣ).
    K [m, n] stabilizing, Sigma [m, m] SPD -> LQSoftValue(P [n, n], c [])."""
    return _analyze(self._model(), self._check_policy(K, Sigma)).value

  @_exact
  def value(self, K: Any, Sigma: Any, x: Any) -> np.ndarray:
    """V^π(x) = −xᵀP_K x − c for π = N(−Kx, Σ).  x [..., n] -> [...]."""
    value = _analyze(self._model(), self._check_policy(K, Sigma)).value
    return _at_states(_Quadratic(-value.P, -value.c), self._check_states(x))

  @_exact
  def soft_q(self, K: Any, Sigma: Any, x: Any, u: Any) -> np.ndarray:
    """Q^π(x,u) = −xᵀQx − uᵀRu − γ(Ax+Bu)ᵀP_K(Ax+Bu) − γ tr(P_K W) − γc for π = N(−Kx, Σ)
    = −(u + K_g x)ᵀ(R + γBᵀP_KB)(u + K_g x) + (terms in x only).  x [..., n], u [..., m] (broadcast) -> [...]."""
    policy = self._check_policy(K, Sigma)
    x = self._check_states(x)
    if np.ndim(u) < 1 or np.shape(u)[-1] != self.action_dim:
      raise ValueError(f"u must have shape [..., m] with m = {self.action_dim}, got shape {list(np.shape(u))}")
    model = self._model()
    return _soft_q(model, _analyze(model, policy).value, x, jnp.asarray(u, jnp.float64))

  @_exact
  def gibbs_policy(self, K: Any, Sigma: Any) -> LQPolicy:
    """The Gibbs policy p^π(u|x) ∝ exp(Q^π(x,u)/τ) of π = N(−Kx, Σ): N(−K_g x, Σ_g) with
    K_g = γ(R + γBᵀP_KB)^{-1}BᵀP_KA [m, n], Σ_g = (τ/2)(R + γBᵀP_KB)^{-1} [m, m] (precision −∇²_uQ^π/τ).
    Independent of Σ (Σ shifts Q^π by a constant); Sigma is validated for uniformity."""
    return _analyze(self._model(), self._check_policy(K, Sigma)).gibbs

  @_exact
  def policy_kl(self, K: Any, Sigma: Any, K_ref: Any, Sigma_ref: Any, x: Any) -> np.ndarray:
    """KL(N(−Kx, Σ) ‖ N(−K_ref x, Σ_ref)) = ½[tr(Σ_ref^{-1}Σ) + dᵀΣ_ref^{-1}d − m + log det Σ_ref − log det Σ],
    d = (K_ref − K)x.  Gains need not be stabilizing here.  x [..., n] -> [...]."""
    policy = LQPolicy(self._check_gain(K, stabilizing=False), self._check_covariance(Sigma))
    reference = LQPolicy(self._check_gain(K_ref, "K_ref", stabilizing=False),
                         self._check_covariance(Sigma_ref, "Sigma_ref"))
    return _at_states(_policy_kl_quadratic(policy, reference), self._check_states(x))

  @_exact
  def soft_bellman_optimality(self, K: Any, Sigma: Any, x: Any) -> np.ndarray:
    """(T*V^π)(x) = τ log ∫ exp(Q^π(x,u)/τ) du
    = −xᵀF(P_K)x − γ tr(P_K W) − γc + (τm/2) log(πτ) − (τ/2) log det(R + γBᵀP_KB),
    F(P) = Q + γAᵀPA − γ²AᵀPB(R + γBᵀPB)^{-1}BᵀPA.  x [..., n] -> [...]."""
    return _at_states(_analyze(self._model(), self._check_policy(K, Sigma)).backup, self._check_states(x))

  @_exact
  def kl_residual(self, K: Any, Sigma: Any, x: Any) -> np.ndarray:
    """(T*V^π − V^π)(x) = τ KL(π(·|x) ‖ p^π_x) for π = N(−Kx, Σ), as the closed-form Gaussian KL to the Gibbs
    policy N(−K_g x, Σ_g).  x [..., n] -> [...]; zero exactly at π*."""
    return _at_states(_analyze(self._model(), self._check_policy(K, Sigma)).residual, self._check_states(x))

  @_exact
  def optimality_gap(self, K: Any, Sigma: Any, x: Any) -> np.ndarray:
    """(V* − V^π)(x) = xᵀ(P_K − P)x + c_K − c* >= 0.  x [..., n] -> [...]."""
    return self.optimal_value(x) - self.value(K, Sigma, x)

  # --------------------------------------------------------------------------------------------- resolvent

  @_exact
  def resolvent_identity(self, K: Any, Sigma: Any, K_next: Any, Sigma_next: Any, x: Any) -> LQResolvent:
    """Both sides of the discrete resolvent identity, exact for ANY pair π = N(−Kx, Σ), π' = N(−K'x, Σ'):

        (I − γP^{π'})(V^{π'} − V^π)(x) = g(x) = τ[KL(π(·|x) ‖ p^π_x) − KL(π'(·|x) ‖ p^π_x)]

    (p^π the Gibbs policy of the OLD policy in both KLs). lhs = ΔV(x) − γE[ΔV(x')] with ΔV = V^{π'} − V^π =
    −xᵀΔPx − Δc and x' ∼ N((A − BK')x, BΣ'Bᵀ + W) (action from π'), in closed form:
    −xᵀΔPx − Δc + γ[xᵀ(A−BK')ᵀΔP(A−BK')x + tr(ΔP(BΣ'Bᵀ + W)) + Δc].
    x [..., n] -> LQResolvent(lhs [...], rhs [...]).
    """
    quadratics = _resolvent_quadratics(self._model(), self._check_policy(K, Sigma),
                                       self._check_policy(K_next, Sigma_next, "_next"))
    x = self._check_states(x)
    return LQResolvent(_at_states(quadratics.lhs, x), _at_states(quadratics.rhs, x))

  def resolvent_gain(self, K: Any, Sigma: Any, K_next: Any, Sigma_next: Any, x: Any) -> np.ndarray:
    """g(x) = τ[KL(π(·|x) ‖ p^π_x) − KL(π'(·|x) ‖ p^π_x)] (the right side of `resolvent_identity`).  -> [...]."""
    return self.resolvent_identity(K, Sigma, K_next, Sigma_next, x).rhs

  # -------------------------------------------------------------------------------------------------- WPGD

  @_exact
  def wpgd(self, K0: Any, Sigma0: Any, step_size: Any, num_steps: int) -> LQTrajectory:
    """Exact WPGD iterates from π_0 = N(−K0 x, Σ0) (the law of infinitely many particles under the ULA step):

        K_{k+1} = K_k − η[H_k K_k − 2γBᵀP_{K_k}A],  Σ_{k+1} = (I − ηH_k)Σ_k(I − ηH_k)ᵀ + 2ητI,
        H_k = 2(R + γBᵀP_{K_k}B).

    Fixed point: K* exactly and Σ_∞(η) (`stationary_sigma`). Requires η·λ_max(H_k) < 2 and a stabilizing K_k at
    every iterate (K0 and step_size are checked before the lax.scan, every iterate after it). Returns LQTrajectory:
    K [k+1, m, n], Sigma [k+1, m, m], P [k+1, n, n], c [k+1] (iterate 0 first; V^{π_k}(x) = −xᵀP_k x − c_k).
    """
    policy = self._check_policy(K0, Sigma0, "0")
    num_steps = self._check_count("num_steps", num_steps, 0)
    model = self._model()
    eta = self._check_step_size(step_size, np.asarray(_analyze(model, policy).value.P), "K0")
    trajectory = _wpgd_exact(model, *policy, jnp.asarray(eta, jnp.float64), num_steps)
    self._check_trajectory(np.asarray(trajectory.K), np.asarray(trajectory.P), eta, "WPGD")
    return trajectory

  @_exact
  def wpgd_particles(self, key: chex.PRNGKey, K0: Any, Sigma0: Any, x_states: Any, num_particles: int,
                     step_size: Any, num_steps: int, method: str = "ula") -> LQParticleTrajectory:
    """Particle WPGD at a finite set of states, moved by the CORE step `wpgjax.core.particles.wpg_step`.

    At each state x_s (x_states [S, n], full column rank n) N particles u ∈ R^{N×m} start i.i.d. from
    π_0(·|x_s) = N(−K0 x_s, Σ0). Iteration k:
      1. fit π̂_k = N(−K̂_k x, Σ̂_k) to all particles by least squares across states: K̂_k regresses the particle
         means on x (no intercept; the same as regressing every particle, N being equal across states), Σ̂_k is the
         within-state sample covariance pooled over states, Σ_{s,i}(u_si − ū_s)(u_si − ū_s)ᵀ / (S(N − 1));
      2. evaluate π̂_k exactly and move the particles at each x_s by
         `wpg_step(key_s, u, q_fn=Q^{π̂_k}(x_s, ·), step_size=η, tau=τ, method=method)`.
    Why: WPG drives each state's particles by ∇_uQ of the CURRENT policy; the linear-Gaussian projection keeps
    Q^{π̂_k} exact and quadratic, so the only gap to `wpgd` is the finite-particle error of the fit (plus, for
    "mala"/"svgd", that method's own law). With "ula" the step is the exact recursion's affine map applied to the
    particles, so ‖K̂_k − K_k‖ and ‖Σ̂_k − Σ_k‖ are O(1/sqrt(S·N)) Monte Carlo errors.
    Returns LQParticleTrajectory: fitted K [k+1, m, n], Sigma [k+1, m, m], their soft values P [k+1, n, n],
    c [k+1], and the final particles [S, N, m]. Raises ValueError if a fitted gain leaves the stabilizing set or the
    step-size bound (too few particles or too large a step).
    """
    policy = self._check_policy(K0, Sigma0, "0")
    states = self._check_states(x_states, "x_states")
    if np.ndim(x_states) != 2:
      raise ValueError(f"x_states must have shape [S, n] (rank 2), got shape {list(np.shape(x_states))}")
    if np.linalg.matrix_rank(np.asarray(x_states, np.float64)) < self.state_dim:
      raise ValueError(f"x_states must have full column rank n = {self.state_dim} (at least n linearly independent "
                       "states) so that the gain can be fitted by least squares")
    num_particles = self._check_count("num_particles", num_particles, 2)
    num_steps = self._check_count("num_steps", num_steps, 0)
    _validation.check_choice("method", method, particles_lib.METHODS)
    model = self._model()
    eta = self._check_step_size(step_size, np.asarray(_analyze(model, policy).value.P), "K0")
    trajectory = _wpgd_particles(model, key, *policy, states, jnp.asarray(eta, jnp.float64), num_particles, num_steps,
                                 method)
    self._check_trajectory(np.asarray(trajectory.K), np.asarray(trajectory.P), eta, "fitted particle")
    return trajectory
