"""T2: entropy-regularized discounted LQR with exact answers (docs/theory.md §5 T2), computed in float64.

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

* KL residual (docs/theory.md §2.1). V^π(x) = E_π[Q^π − τ log π] = τ log Z_x − τ KL(π(·|x) ‖ p^π_x), so
  (T*V^π − V^π)(x) = τ KL(N(−Kx, Σ) ‖ N(−K_g x, Σ_g))
                   = (τ/2)[tr(Σ_g^{-1}Σ) + dᵀΣ_g^{-1}d − m + log det Σ_g − log det Σ],  d = (K − K_g)x.

* Optimum. π* is its own Gibbs policy: K* = K_g(K*), Σ* = (τ/2)(R + γBᵀPB)^{-1}, P = P_{K*} = F(P) (the
  discounted Riccati equation, τ-independent), and (1−γ)c* = γ tr(PW) − (τm/2) log(πτ) + (τ/2) log det(R+γBᵀPB)
  (the constant of T*V* = V*).

* Discrete resolvent identity (docs/theory.md §2.3), exact for ANY pair π, π' = N(−K'x, Σ'):
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
  the factor ρ(I − ηH*)² per step (`gap_contraction_factor`), down to the bias floor (`reference_floor`)
  (V* − V^{π_∞})(x) = (τ/(2(1−γ))) Σ_i [ημ_i/(1−ημ_i) + log(1−ημ_i)] ≈ τη²Σμ_i²/(4(1−γ)), μ_i = λ_i(R + γBᵀPB):
  O(η²) here, although Σ_∞ − Σ* is O(η), because Σ* minimizes c(Σ) at K*.

* Particle WPGD (`particle_wpgd`): the core `wpg_step` on Q^{π̂_k}(x_s, ·) at S states, π̂_k the linear-Gaussian
  least-squares fit to the current particles; its fitted (K̂_k, Σ̂_k) differ from `exact_wpgd` by Monte Carlo error.

Every state-dependent quantity is a quadratic form xᵀMx + b; the linear algebra giving (M, b) is jitted once per
problem shape and shared by all instances. Rewards are unbounded, so T2 sits outside the convergence theorem's
assumptions but gives exact numbers. Public methods validate their inputs eagerly (ValueError naming the argument),
compute in float64 (x64 enabled locally) and return float64 jax arrays.
"""


from __future__ import annotations

__all__ = [
    "LQPolicy",
    "LQSoftValue",
    "LQOptimum",
    "LinearQuadratic",
]

import math
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np

from wpgjax import _validation
from wpgjax._x64 import float64
from wpgjax.core import particles as particles_lib
from wpgjax.problems import base
from wpgjax.problems._lqr_math import (LQOptimum, LQPolicy, LQSoftValue, _analyze, _at_states, _diagnose,
                                       _exact_trace, _Model, _policy_kl_quadratic, _Quadratic, _resolvent,
                                       _sample_policy, _soft_q, _solve_riccati, _wpgd_exact, _wpgd_particles,
                                       _wpgd_step)
from wpgjax.problems._lqr_math import _check_symmetric_positive_definite, _host_matrix, _spectral_radius

class LinearQuadratic(base.ExactProblem):
  """Entropy-regularized discounted LQR (docs/theory.md §5 T2); see the module docstring for every formula.

      lq = LinearQuadratic(A, B, Q, R, W, gamma=0.9, tau=0.5)
      opt = lq.optimum()                        # π* = N(−opt.K x, opt.Sigma), V*(x) = −xᵀ opt.P x − opt.c
      P, c = lq.soft_value((K, Sigma))          # soft value of N(−Kx, Σ)
      lq.kl_residual((K, Sigma), x)             # (T*V^π − V^π)(x) = τ KL(π(·|x) ‖ p^π_x), x [..., n] -> [...]
      trace = lq.exact_wpgd((K0, Sigma0), step_size=eta, num_steps=k)   # trace.policy.K [k+1, m, n]

  Args:
    A: [n, n] state matrix.  B: [n, m] input matrix.
    Q: [n, n] state cost, symmetric PD.  R: [m, m] action cost, symmetric PD.  W: [n, n] noise covariance, symmetric PSD (0 allowed).
    gamma: discount in (0, 1).  tau: temperature > 0.
  The pair (sqrt(γ)A, sqrt(γ)B) must be stabilizable; this is checked when the optimum is first computed.
  Policies are LQPolicy(K [m, n], Sigma [m, m]) or any (K, Sigma) pair; K must be stabilizing
  (sqrt(γ)·ρ(A − BK) < 1), Sigma SPD. Implements `ExactProblem` with a continuous state space: state-dependent
  methods evaluate at `states` x [..., n] (default the unit vectors e_1..e_n) and return [...].
  Every method validates eagerly (ValueError naming the argument), computes in float64 with jitted JAX functions
  (compiled once per shape and shared by all instances) and returns float64 jax arrays.
  """
  name = "lqr"
  enumerable_states = False

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

  def _check_gain(self, K: Any, name: str = "K", *, stabilizing: bool = True) -> chex.Array:
    """Shape [m, n], finite, and (unless told otherwise) stabilizing: sqrt(γ)·ρ(A − BK) < 1."""
    gain = _host_matrix(name, K, (self.action_dim, self.state_dim), "[m, n]")
    if stabilizing:
      radius = math.sqrt(self.gamma) * _spectral_radius(self.A - self.B @ gain)
      if not radius < 1.0:
        raise ValueError(
            f"{name} must be a stabilizing gain, sqrt(gamma)·ρ(A − B {name}) < 1 (otherwise the discounted Lyapunov "
            f"equation has no positive definite solution and the soft value is −∞), got {radius:.6g}")
    return jnp.asarray(gain, jnp.float64)

  def _check_covariance(self, Sigma: Any, name: str = "Sigma") -> chex.Array:
    """Shape [m, m], symmetric positive definite."""
    covariance = _host_matrix(name, Sigma, (self.action_dim, self.action_dim), "[m, m]")
    _check_symmetric_positive_definite(name, covariance)
    return jnp.asarray(0.5 * (covariance + covariance.T), jnp.float64)

  def _check_policy(self, policy: Any, suffix: str = "", *, stabilizing: bool = True) -> LQPolicy:
    """A (K, Sigma) pair; error messages name K{suffix} and Sigma{suffix}."""
    gain, covariance = policy
    return LQPolicy(self._check_gain(gain, "K" + suffix, stabilizing=stabilizing),
                    self._check_covariance(covariance, "Sigma" + suffix))

  def _check_states(self, x: Any, name: str = "states") -> chex.Array:
    """x [..., n] (default: the unit vectors e_1..e_n, [n, n])."""
    if x is None:
      return jnp.eye(self.state_dim, dtype=jnp.float64)
    if np.ndim(x) < 1 or np.shape(x)[-1] != self.state_dim:
      raise ValueError(f"{name} must have shape [..., n] with n = {self.state_dim}, got shape {list(np.shape(x))}")
    states = np.asarray(x, np.float64)
    if not np.all(np.isfinite(states)):
      raise ValueError(f"{name} must be finite")
    return jnp.asarray(states, jnp.float64)

  def _check_state_set(self, x: Any) -> chex.Array:
    """A set of states [S, n] with full column rank (the particles' gain is fitted by least squares on them)."""
    states = self._check_states(x)
    if np.ndim(x) != 2:
      raise ValueError(f"states must have shape [S, n] (rank 2), got shape {list(np.shape(x))}")
    if np.linalg.matrix_rank(np.asarray(x, np.float64)) < self.state_dim:
      raise ValueError(f"states must have full column rank n = {self.state_dim} (at least n linearly independent "
                       "states) so that the gain can be fitted by least squares")
    return states

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

  def _check_initial_step(self, policy: LQPolicy, step_size: Any, where: str = "K0") -> float:
    return self._check_step_size(step_size, np.asarray(_analyze(self._model(), policy).value.P), where)

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

  @float64
  def optimum(self) -> LQOptimum:
    """π* = N(−K*x, Σ*) and V*(x) = −xᵀPx − c*: P solves the discounted Riccati equation
    P = Q + γAᵀPA − γ²AᵀPB(R + γBᵀPB)^{-1}BᵀPA, K* = γ(R + γBᵀPB)^{-1}BᵀPA, Σ* = (τ/2)(R + γBᵀPB)^{-1},
    (1−γ)c* = γ tr(PW) − (τm/2) log(πτ) + (τ/2) log det(R + γBᵀPB).  K [m, n], Sigma [m, m], P [n, n], c [].
    Computed once (doubling algorithm + Newton polish, see `_solve_riccati`) and cached.
    """
    if self._optimum is None:
      optimum = _solve_riccati(self._model())
      host = jax.tree.map(np.asarray, optimum)
      ok = all(np.all(np.isfinite(leaf)) for leaf in host)
      if ok:
        p, a, b = host.P, self.A, self.B
        cross = self.gamma * b.T @ p @ a
        riccati = self.Q + self.gamma * a.T @ p @ a - cross.T @ np.linalg.solve(self._curvature(p), cross)
        residual = float(np.max(np.abs(p - riccati)))
        radius = math.sqrt(self.gamma) * _spectral_radius(a - b @ host.K)
        ok = residual <= 1e-8 * max(1.0, float(np.max(np.abs(p)))) and radius < 1.0
      if not ok:
        raise ValueError("(A, B) must make (sqrt(gamma)·A, sqrt(gamma)·B) stabilizable: the discounted Riccati "
                         "equation has no stabilizing solution for these A, B, gamma")
      self._optimum = optimum
    return self._optimum

  @float64
  def optimal_policy(self) -> LQPolicy:
    """π* = N(−K*x, Σ*)."""
    optimum = self.optimum()
    return LQPolicy(optimum.K, optimum.Sigma)

  @float64
  def optimal_value(self, states: Any = None) -> chex.Array:
    """V*(x) = −xᵀPx − c*.  x [..., n] -> [...]."""
    optimum = self.optimum()
    return _at_states(_Quadratic(-optimum.P, -optimum.c), self._check_states(states))

  def _optimal_host(self) -> tuple[np.ndarray, np.ndarray]:
    """(Σ*, R + γBᵀPB) on the host."""
    optimum = self.optimum()
    return np.asarray(optimum.Sigma), self._curvature(np.asarray(optimum.P))

  @float64
  def stationary_sigma(self, step_size: Any) -> chex.Array:
    """Σ_∞(η) = Σ*(I − η(R + γBᵀPB))^{-1} [m, m]: the covariance exact WPGD converges to (Σ_∞(0) = Σ*).

    The unique fixed point of Σ = (I − ηH*)Σ(I − ηH*) + 2ητI, H* = 2(R + γBᵀPB) (Σ commutes with H*, so
    Σ(2ηH* − η²H*²) = 2ητI); requires η·λ_max(H*) < 2.
    """
    sigma_star, curvature = self._optimal_host()
    eta = self._check_step_size(step_size, np.asarray(self.optimum().P), "the optimum")
    sigma = sigma_star @ np.linalg.inv(np.eye(self.action_dim) - eta * curvature)
    return jnp.asarray(0.5 * (sigma + sigma.T))

  @float64
  def reference_floor(self, step_size: Any) -> chex.Array:
    """The O(η²) bias floor of exact WPGD: (V* − V^{π_∞})(x) for π_∞ = N(−K*x, Σ_∞(η)), the same at every x:

        (τ / (2(1−γ))) Σ_i [ημ_i/(1 − ημ_i) + log(1 − ημ_i)] ≈ τη² Σ_i μ_i² / (4(1−γ)),   μ_i = λ_i(R + γBᵀPB).

    (At K = K*, (1−γ)c(Σ) = tr(MΣ) − (τ/2) log det(2πeΣ) + γ tr(PW) and MΣ* = (τ/2)I.)  -> scalar.
    """
    _, curvature = self._optimal_host()
    eta = self._check_step_size(step_size, np.asarray(self.optimum().P), "the optimum")
    scaled = eta * np.linalg.eigvalsh(curvature)
    return jnp.asarray(float(0.5 * self.tau * np.sum(scaled / (1.0 - scaled) + np.log1p(-scaled)) / (1.0 - self.gamma)))

  def gap_contraction_factor(self, step_size: Any) -> float:
    """ρ(I − ηH*)² = max_i (1 − ηλ_i(H*))², H* = 2(R + γBᵀPB): the asymptotic per-step factor of
    |(V* − V^{π_k}) − (V* − V^{π_∞})|(x) along exact WPGD (module docstring, last bullet)."""
    _, curvature = self._optimal_host()
    eta = self._check_step_size(step_size, np.asarray(self.optimum().P), "the optimum")
    hessian_eigenvalues = 2.0 * np.linalg.eigvalsh(curvature)
    return float(np.max((1.0 - eta * hessian_eigenvalues) ** 2))

  # -------------------------------------------------------------------------------------------- evaluation

  @float64
  def soft_value(self, policy: Any) -> LQSoftValue:
    """Soft value of π = N(−Kx, Σ): V^π(x) = −xᵀPx − c with P = Q + KᵀRK + γ(A−BK)ᵀP(A−BK) (solved exactly by
    vectorisation) and (1−γ)c = tr(RΣ) + γ tr(P(BΣBᵀ + W)) − (τ/2) log det(2πeΣ).
    K [m, n] stabilizing, Sigma [m, m] SPD -> LQSoftValue(P [n, n], c [])."""
    return _analyze(self._model(), self._check_policy(policy)).value

  @float64
  def value(self, policy: Any, states: Any = None) -> chex.Array:
    """V^π(x) = −xᵀP_K x − c for π = N(−Kx, Σ).  x [..., n] -> [...]."""
    value = _analyze(self._model(), self._check_policy(policy)).value
    return _at_states(_Quadratic(-value.P, -value.c), self._check_states(states))

  @float64
  def soft_q(self, policy: Any, x: Any, u: Any) -> chex.Array:
    """Q^π(x,u) = −xᵀQx − uᵀRu − γ(Ax+Bu)ᵀP_K(Ax+Bu) − γ tr(P_K W) − γc for π = N(−Kx, Σ)
    = −(u + K_g x)ᵀ(R + γBᵀP_KB)(u + K_g x) + (terms in x only).  x [..., n], u [..., m] (broadcast) -> [...]."""
    policy = self._check_policy(policy)
    x = self._check_states(x, "x")
    if np.ndim(u) < 1 or np.shape(u)[-1] != self.action_dim:
      raise ValueError(f"u must have shape [..., m] with m = {self.action_dim}, got shape {list(np.shape(u))}")
    model = self._model()
    return _soft_q(model, _analyze(model, policy).value, x, jnp.asarray(u, jnp.float64))

  @float64
  def gibbs_policy(self, policy: Any) -> LQPolicy:
    """The Gibbs policy p^π(u|x) ∝ exp(Q^π(x,u)/τ) of π = N(−Kx, Σ): N(−K_g x, Σ_g) with
    K_g = γ(R + γBᵀP_KB)^{-1}BᵀP_KA [m, n], Σ_g = (τ/2)(R + γBᵀP_KB)^{-1} [m, m] (precision −∇²_uQ^π/τ).
    Independent of Σ (Σ shifts Q^π by a constant); Sigma is validated for uniformity."""
    return _analyze(self._model(), self._check_policy(policy)).gibbs

  @float64
  def policy_kl(self, policy: Any, reference: Any, states: Any = None) -> chex.Array:
    """KL(N(−Kx, Σ) ‖ N(−K_ref x, Σ_ref)) = ½[tr(Σ_ref^{-1}Σ) + dᵀΣ_ref^{-1}d − m + log det Σ_ref − log det Σ],
    d = (K_ref − K)x.  Gains need not be stabilizing here.  x [..., n] -> [...]."""
    policy = self._check_policy(policy, stabilizing=False)
    reference = self._check_policy(reference, "_ref", stabilizing=False)
    return _at_states(_policy_kl_quadratic(policy, reference), self._check_states(states))

  @float64
  def soft_bellman_optimality(self, policy: Any, states: Any = None) -> chex.Array:
    """(T*V^π)(x) = τ log ∫ exp(Q^π(x,u)/τ) du
    = −xᵀF(P_K)x − γ tr(P_K W) − γc + (τm/2) log(πτ) − (τ/2) log det(R + γBᵀP_KB),
    F(P) = Q + γAᵀPA − γ²AᵀPB(R + γBᵀPB)^{-1}BᵀPA.  x [..., n] -> [...]."""
    return _at_states(_analyze(self._model(), self._check_policy(policy)).backup, self._check_states(states))

  def _diagnostics(self, policy: Any, states: Any):
    return _diagnose(self._model(), self._check_policy(policy), self._check_states(states))

  @float64
  def kl_residual(self, policy: Any, states: Any = None) -> chex.Array:
    """(T*V^π − V^π)(x) = τ KL(π(·|x) ‖ p^π_x) for π = N(−Kx, Σ), as the closed-form Gaussian KL to the Gibbs
    policy N(−K_g x, Σ_g).  x [..., n] -> [...]; zero exactly at π*."""
    return _at_states(_analyze(self._model(), self._check_policy(policy)).residual, self._check_states(states))

  @float64
  def bellman_residual(self, policy: Any, states: Any = None) -> chex.Array:
    """(T*V^π)(x) − V^π(x) from the closed-form backup and value (compare with `kl_residual`).  x [S, n] -> [S]."""
    diagnostics = self._diagnostics(policy, states)
    return diagnostics.backup - diagnostics.value

  @float64
  def relative_fisher_information(self, policy: Any, states: Any = None) -> chex.Array:
    """I(π(·|x) ‖ p^π_x) for π = N(−Kx, Σ), p^π = N(−K_g x, Σ_g), in closed form:
    tr((Σ_g^{-1} − Σ^{-1}) Σ (Σ_g^{-1} − Σ^{-1})) + ‖Σ_g^{-1}(K_g − K)x‖².  x [S, n] -> [S]."""
    return self._diagnostics(policy, states).fisher_information

  @float64
  def gap(self, policy: Any, states: Any = None) -> chex.Array:
    """max_x |V* − V^π|(x) over the states (default e_1..e_n).  -> scalar."""
    return jnp.max(jnp.abs(self.state_gap(policy, states)))

  # --------------------------------------------------------------------------------------------- resolvent

  @float64
  def resolvent_identity(self, policy: Any, new_policy: Any, states: Any = None) -> base.ResolventIdentity:
    """Both sides of the discrete resolvent identity, exact for ANY pair π = N(−Kx, Σ), π' = N(−K'x, Σ'):

        (I − γP^{π'})(V^{π'} − V^π)(x) = g(x) = τ[KL(π(·|x) ‖ p^π_x) − KL(π'(·|x) ‖ p^π_x)]

    (p^π the Gibbs policy of the OLD policy in both KLs). lhs = ΔV(x) − γE[ΔV(x')] with ΔV = V^{π'} − V^π =
    −xᵀΔPx − Δc and x' ∼ N((A − BK')x, BΣ'Bᵀ + W) (action from π'), in closed form:
    −xᵀΔPx − Δc + γ[xᵀ(A−BK')ᵀΔP(A−BK')x + tr(ΔP(BΣ'Bᵀ + W)) + Δc].
    x [..., n] -> ResolventIdentity(lhs [...], rhs [...]).
    """
    quadratics = _resolvent(self._model(), self._check_policy(policy), self._check_policy(new_policy, "_next"))
    x = self._check_states(states)
    return base.ResolventIdentity(_at_states(quadratics.lhs, x), _at_states(quadratics.rhs, x))

  # -------------------------------------------------------------------------------------------------- WPGD

  @float64
  def wpgd_step(self, policy: Any, step_size: Any) -> tuple[LQPolicy, chex.Array]:
    """One exact WPGD step K' = K − η[HK − 2γBᵀP_KA], Σ' = (I − ηH)Σ(I − ηH)ᵀ + 2ητI, H = 2(R + γBᵀP_KB).
    -> (π', edge mass lost = 0)."""
    policy = self._check_policy(policy)
    eta = self._check_initial_step(policy, step_size, "K")
    return _wpgd_step(self._model(), policy, jnp.asarray(eta, jnp.float64)), jnp.zeros((), jnp.float64)

  @float64
  def exact_wpgd(self, policy: Any, *, step_size: Any, num_steps: int, states: Any = None) -> base.WPGDTrace:
    """Exact WPGD iterates from π_0 = N(−K0 x, Σ0) (the law of infinitely many particles under the ULA step):

        K_{k+1} = K_k − η[H_k K_k − 2γBᵀP_{K_k}A],  Σ_{k+1} = (I − ηH_k)Σ_k(I − ηH_k)ᵀ + 2ητI,
        H_k = 2(R + γBᵀP_{K_k}B).

    Fixed point: K* exactly and Σ_∞(η) (`stationary_sigma`). Requires η·λ_max(H_k) < 2 and a stabilizing K_k at
    every iterate (K0 and step_size are checked before the lax.scan, every iterate after it). Returns a WPGDTrace
    at the states x [S, n] (default e_1..e_n): policy = LQPolicy(K [K+1, m, n], Sigma [K+1, m, m]), values
    [K+1, S], ..., lsi_lower_bound 1/λ_max(Σ_g,k) [K+1] (LSI constant of the Gaussian Gibbs policy),
    aux = LQSoftValue(P [K+1, n, n], c [K+1]) (V^{π_k}(x) = −xᵀP_k x − c_k).
    """
    policy = self._check_policy(policy, "0")
    num_steps = self._check_count("num_steps", num_steps, 0)
    states = self._check_states(states)
    if states.ndim != 2:
      raise ValueError(f"states must have shape [S, n] (rank 2), got shape {list(states.shape)}")
    eta = self._check_initial_step(policy, step_size)
    model = self._model()
    iterates = _wpgd_exact(model, *policy, jnp.asarray(eta, jnp.float64), num_steps)
    self._check_trajectory(np.asarray(iterates.K), np.asarray(iterates.P), eta, "WPGD")
    return _exact_trace(model, iterates, self.optimal_value(states), states)

  @float64
  def sample_policy(self, key: chex.PRNGKey, policy: Any, states: Any, num_particles: int) -> chex.Array:
    """num_particles i.i.d. draws of π(·|x_s) = N(−K x_s, Σ) at each state x_s.  states [S, n] -> [S, N, m]."""
    policy = self._check_policy(policy)
    states = self._check_state_set(states)
    num_particles = self._check_count("num_particles", num_particles, 2)
    return _sample_policy(key, policy, states, num_particles)

  @float64
  def particle_wpgd(self, key: chex.PRNGKey, particles: Any, *, step_size: Any, num_steps: int,
                    method: str = "ula", states: Any = None) -> base.ParticleTrace:
    """Particle WPGD at a finite set of states, moved by the CORE step `wpgjax.core.particles.wpg_step`.

    At each state x_s (states [S, n], full column rank n) N particles particles[s] ∈ R^{N×m} (e.g. from
    `sample_policy`). Iteration k:
      1. fit π̂_k = N(−K̂_k x, Σ̂_k) to all particles by least squares across states: K̂_k regresses the particle
         means on x (no intercept; the same as regressing every particle, N being equal across states), Σ̂_k is the
         within-state sample covariance pooled over states, Σ_{s,i}(u_si − ū_s)(u_si − ū_s)ᵀ / (S(N − 1));
      2. evaluate π̂_k exactly and move the particles at each x_s by
         `wpg_step(key_s, u, q_fn=Q^{π̂_k}(x_s, ·), step_size=η, tau=τ, method=method)`.
    Why: WPG drives each state's particles by ∇_uQ of the CURRENT policy; the linear-Gaussian projection keeps
    Q^{π̂_k} exact and quadratic, so the only gap to `exact_wpgd` is the finite-particle error of the fit (plus,
    for "mala"/"svgd", that method's own law). With "ula" the step is the exact recursion's affine map applied to
    the particles, so ‖K̂_k − K_k‖ and ‖Σ̂_k − Σ_k‖ are O(1/sqrt(S·N)) Monte Carlo errors.
    Returns ParticleTrace: the last particles [S, N, m], the fitted policy LQPolicy(K [K+1, m, n],
    Sigma [K+1, m, m]), its values [K+1, S] and τKL residuals [K+1, S] at the states, gap [K+1]. Raises
    ValueError if a fitted gain leaves the stabilizing set or the step-size bound (too few particles or too
    large a step).
    """
    states = self._check_state_set(states)
    particles = jnp.asarray(particles, jnp.float64)
    if particles.ndim != 3 or particles.shape[0] != states.shape[0] or particles.shape[2] != self.action_dim:
      raise ValueError(f"particles must have shape [S, N, m] = [{states.shape[0]}, N, {self.action_dim}], "
                       f"got {particles.shape}")
    self._check_count("num_particles", particles.shape[1], 2)
    _validation.check_positive("step_size", step_size)
    num_steps = self._check_count("num_steps", num_steps, 0)
    _validation.check_choice("method", method, particles_lib.METHODS)
    model = self._model()
    fitted, final = _wpgd_particles(model, key, particles, states, jnp.asarray(step_size, jnp.float64), num_steps,
                                    method)
    eta = self._check_step_size(step_size, np.asarray(fitted.P[0]), "the initial fit")
    self._check_trajectory(np.asarray(fitted.K), np.asarray(fitted.P), eta, "fitted particle")
    trace = _exact_trace(model, fitted, self.optimal_value(states), states)
    return base.ParticleTrace(final, trace.policy, trace.value, trace.gap, trace.kl_residual)
