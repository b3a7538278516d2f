"""Tests for T2, entropy-regularized discounted LQR (wpgjax.problems.lqr; docs/theory.md §5 T2).

References are computed independently in NumPy/SciPy (solve_discrete_are, solve_discrete_lyapunov, trapezoid
quadrature of exp(Q/τ), Gauss–Hermite expectations), never through the library's own closed forms. Compiled
functions are shared per problem shape, so every test reuses a handful of compiles.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
import scipy.linalg

from wpgjax.problems import LinearQuadratic

TOL = 1e-10


@pytest.fixture(autouse=True, scope="module")
def _x64():
  with jax.enable_x64(True):
    yield

# (n, m, gamma, tau, seed): a 1-D problem, a 2-state/2-action problem, and a non-square one (n=3, m=2).
PROBLEM_SPECS = {
    "1d": (1, 1, 0.9, 0.5, 0),
    "2x2": (2, 2, 0.9, 0.5, 0),
    "3x2": (3, 2, 0.95, 0.2, 2),
}


def _random_spd(rng: np.random.Generator, dim: int, floor: float, scale: float = 1.0) -> np.ndarray:
  x = rng.normal(size=(dim, dim))
  return scale * x @ x.T / dim + floor * np.eye(dim)


def _make_problem(n: int, m: int, gamma: float, tau: float, seed: int) -> LinearQuadratic:
  """Random problem with an open-loop UNSTABLE A (spectral radius 1.1), so control matters."""
  rng = np.random.default_rng(seed)
  a = rng.normal(size=(n, n))
  a *= 1.1 / np.max(np.abs(np.linalg.eigvals(a)))
  b = rng.normal(size=(n, m)) / np.sqrt(n)
  q, r = _random_spd(rng, n, 0.5), _random_spd(rng, m, 0.5)
  w = _random_spd(rng, n, 0.1, 0.2)
  return LinearQuadratic(a, b, q, r, w, gamma=gamma, tau=tau)


def _radius(lq: LinearQuadratic, gain: np.ndarray) -> float:
  return np.sqrt(lq.gamma) * np.max(np.abs(np.linalg.eigvals(lq.A - lq.B @ gain)))


def _random_policy(lq: LinearQuadratic, rng: np.random.Generator, scale: float = 0.5):
  """A random stabilizing gain (K* + noise, halved until sqrt(γ)ρ(A − BK) is halfway to 1) and a random SPD Σ."""
  gain_opt = lq.optimum().K
  limit = 0.5 * (1.0 + _radius(lq, gain_opt))
  direction = rng.normal(size=gain_opt.shape)
  while _radius(lq, gain_opt + scale * direction) >= limit:
    scale /= 2
  return gain_opt + scale * direction, _random_spd(rng, lq.action_dim, 0.2, 0.5)


def _reference_value_matrix(lq: LinearQuadratic, gain: np.ndarray) -> np.ndarray:
  """P_K by SciPy: P = γLᵀPL + Q + KᵀRK, L = A − BK."""
  closed_loop = lq.A - lq.B @ gain
  return scipy.linalg.solve_discrete_lyapunov(np.sqrt(lq.gamma) * closed_loop.T, lq.Q + gain.T @ lq.R @ gain)


def _reference_gibbs(lq: LinearQuadratic, gain: np.ndarray):
  """(K_g, Σ_g) from the SciPy value matrix: Q^π = −(u + K_g x)ᵀM(u + K_g x) + ...,  Σ_g = (τ/2)M^{-1}."""
  value_matrix = _reference_value_matrix(lq, gain)
  curvature = lq.R + lq.gamma * lq.B.T @ value_matrix @ lq.B
  return (lq.gamma * np.linalg.solve(curvature, lq.B.T @ value_matrix @ lq.A),
          0.5 * lq.tau * np.linalg.inv(curvature))


def _gaussian_kl(mean_p, cov_p, mean_q, cov_q):
  """KL(N(mean_p, cov_p) ‖ N(mean_q, cov_q)) for means [S, m]."""
  precision_q = np.linalg.inv(cov_q)
  diff = mean_q - mean_p
  return 0.5 * (np.trace(precision_q @ cov_p) + np.einsum("si,ij,sj->s", diff, precision_q, diff) - len(cov_p)
                + np.linalg.slogdet(cov_q)[1] - np.linalg.slogdet(cov_p)[1])


def _log_integral_exp_q(lq: LinearQuadratic, gain, covariance, states, center_gain, center_cov, half_width=10.0,
                        spacing=0.25):
  """τ log ∫ exp(Q^π(x,u)/τ) du at each state by the trapezoid rule on the library's soft_q.

  The grid is an affine image (center −K_c x, axes scaled by center_cov^{1/2}) of a uniform grid on
  [−half_width, half_width]^m; for a Gaussian-shaped integrand the rule is exact to round-off once the grid
  roughly matches its scale, so a wrong Gibbs formula cannot make this reference agree with it.
  """
  m = lq.action_dim
  axis = np.arange(-half_width, half_width + spacing / 2, spacing)
  unit = np.stack(np.meshgrid(*([axis] * m), indexing="ij"), axis=-1).reshape(-1, m)   # [G, m]
  eigenvalues, eigenvectors = np.linalg.eigh(center_cov)
  transform = eigenvectors * np.sqrt(eigenvalues)                                     # u = c + T z
  actions = -(states @ center_gain.T)[:, None, :] + unit @ transform.T                # [S, G, m]
  q_values = lq.soft_q((gain, covariance), states[:, None, :], actions)                 # [S, G]
  q_max = q_values.max(axis=1, keepdims=True)
  log_sum = np.log(np.sum(np.exp((q_values - q_max) / lq.tau), axis=1))
  log_volume = m * np.log(spacing) + np.log(np.prod(np.sqrt(eigenvalues)))
  return q_max[:, 0] + lq.tau * (log_sum + log_volume)


def _hermite_expectation(fn, means, covariance, order=4):
  """E[fn(y)] for y ∼ N(mean_s, covariance) at each of S means [S, d] (Gauss–Hermite, exact for quadratics)."""
  nodes, weights = np.polynomial.hermite_e.hermegauss(order)
  d = means.shape[-1]
  grid = np.stack(np.meshgrid(*([nodes] * d), indexing="ij"), axis=-1).reshape(-1, d)
  grid_weights = np.prod(np.stack(np.meshgrid(*([weights] * d), indexing="ij"), axis=-1).reshape(-1, d), axis=1)
  grid_weights /= np.sqrt(2 * np.pi) ** d
  points = means[:, None, :] + grid @ np.linalg.cholesky(covariance).T              # [S, G, d]
  return np.sum(fn(points) * grid_weights, axis=1)


@pytest.fixture(scope="module", params=list(PROBLEM_SPECS))
def problem(request):
  return _make_problem(*PROBLEM_SPECS[request.param])


@pytest.fixture(scope="module")
def problem_2x2():
  return _make_problem(*PROBLEM_SPECS["2x2"])


def _states(lq: LinearQuadratic, seed: int, count: int = 6) -> np.ndarray:
  return 1.5 * np.random.default_rng(seed).normal(size=(count, lq.state_dim))


# ------------------------------------------------------------------------------------------------------ optimum


def test_import_from_problems_package():
  import wpgjax.problems as problems
  assert problems.LinearQuadratic is LinearQuadratic


def test_riccati_solution_matches_scipy(problem):
  lq = problem
  opt = lq.optimum()
  p_ref = scipy.linalg.solve_discrete_are(np.sqrt(lq.gamma) * lq.A, np.sqrt(lq.gamma) * lq.B, lq.Q, lq.R)
  np.testing.assert_allclose(opt.P, p_ref, rtol=TOL, atol=TOL)
  assert opt.P.dtype == np.float64
  curvature = lq.R + lq.gamma * lq.B.T @ p_ref @ lq.B
  np.testing.assert_allclose(opt.K, lq.gamma * np.linalg.solve(curvature, lq.B.T @ p_ref @ lq.A), rtol=TOL, atol=TOL)
  np.testing.assert_allclose(opt.Sigma, 0.5 * lq.tau * np.linalg.inv(curvature), rtol=TOL, atol=TOL)
  m = lq.action_dim
  c_ref = (lq.gamma * np.trace(p_ref @ lq.W) - 0.5 * lq.tau * m * np.log(np.pi * lq.tau)
           + 0.5 * lq.tau * np.linalg.slogdet(curvature)[1]) / (1 - lq.gamma)
  np.testing.assert_allclose(opt.c, c_ref, rtol=TOL, atol=TOL)
  assert _radius(lq, opt.K) < 1.0


def test_optimum_is_fixed_point_of_soft_bellman_optimality(problem):
  lq = problem
  opt = lq.optimum()
  x = _states(lq, 1)
  backup = _log_integral_exp_q(lq, opt.K, opt.Sigma, x, opt.K, opt.Sigma)   # T*V* by quadrature
  v_star = -np.einsum("si,ij,sj->s", x, opt.P, x) - opt.c
  np.testing.assert_allclose(backup, v_star, rtol=TOL, atol=TOL)
  np.testing.assert_allclose(lq.optimal_value(x), v_star, rtol=TOL, atol=TOL)
  np.testing.assert_allclose(lq.soft_bellman_optimality((opt.K, opt.Sigma), x), v_star, rtol=TOL, atol=TOL)
  np.testing.assert_allclose(lq.kl_residual((opt.K, opt.Sigma), x), 0.0, atol=1e-12)
  gibbs = lq.gibbs_policy((opt.K, opt.Sigma))
  np.testing.assert_allclose(gibbs.K, opt.K, rtol=TOL, atol=TOL)
  np.testing.assert_allclose(gibbs.Sigma, opt.Sigma, rtol=TOL, atol=TOL)


def test_evaluate_at_optimum_reproduces_optimal(problem):
  lq = problem
  opt = lq.optimum()
  value_matrix, constant = lq.soft_value((opt.K, opt.Sigma))
  np.testing.assert_allclose(value_matrix, opt.P, rtol=TOL, atol=TOL)
  np.testing.assert_allclose(constant, opt.c, rtol=TOL, atol=TOL)


def test_optimum_dominates_random_policies(problem):
  lq = problem
  rng = np.random.default_rng(5)
  x = _states(lq, 2)
  for _ in range(3):
    gain, covariance = _random_policy(lq, rng)
    gap = lq.state_gap((gain, covariance), x)
    assert np.all(gap > 0.0)
    np.testing.assert_allclose(gap, lq.optimal_value(x) - lq.value((gain, covariance), x), rtol=TOL, atol=TOL)


# --------------------------------------------------------------------------------------------------- evaluation


def test_evaluate_matches_lyapunov_and_soft_bellman_equation(problem):
  lq = problem
  rng = np.random.default_rng(7)
  gain, covariance = _random_policy(lq, rng)
  value_matrix, constant = lq.soft_value((gain, covariance))
  p_ref = _reference_value_matrix(lq, gain)
  np.testing.assert_allclose(value_matrix, p_ref, rtol=TOL, atol=TOL)
  m = lq.action_dim
  c_ref = (np.trace(lq.R @ covariance) + lq.gamma * np.trace(p_ref @ (lq.B @ covariance @ lq.B.T + lq.W))
           - 0.5 * lq.tau * (m * np.log(2 * np.pi * np.e) + np.linalg.slogdet(covariance)[1])) / (1 - lq.gamma)
  np.testing.assert_allclose(constant, c_ref, rtol=TOL, atol=TOL)

  # Soft Q against its definition r + γE[V(x')] (NumPy, SciPy P), and V^π = E_π[Q^π] + τH(π) (Gauss–Hermite).
  x = _states(lq, 3)
  u = rng.normal(size=(len(x), m))
  mean_next = x @ lq.A.T + u @ lq.B.T
  q_ref = (-np.einsum("si,ij,sj->s", x, lq.Q, x) - np.einsum("si,ij,sj->s", u, lq.R, u)
           - lq.gamma * (np.einsum("si,ij,sj->s", mean_next, p_ref, mean_next) + np.trace(p_ref @ lq.W) + c_ref))
  np.testing.assert_allclose(lq.soft_q((gain, covariance), x, u), q_ref, rtol=TOL, atol=TOL)
  expected_q = _hermite_expectation(lambda actions: lq.soft_q((gain, covariance), x[:, None, :], actions),
                                    -x @ gain.T, covariance)
  entropy = 0.5 * (m * np.log(2 * np.pi * np.e) + np.linalg.slogdet(covariance)[1])
  np.testing.assert_allclose(lq.value((gain, covariance), x), expected_q + lq.tau * entropy, rtol=TOL, atol=TOL)


def test_gibbs_policy_is_normalized_exp_soft_q(problem):
  lq = problem
  rng = np.random.default_rng(11)
  gain, covariance = _random_policy(lq, rng)
  gibbs = lq.gibbs_policy((gain, covariance))
  gain_ref, cov_ref = _reference_gibbs(lq, gain)
  np.testing.assert_allclose(gibbs.K, gain_ref, rtol=TOL, atol=TOL)
  np.testing.assert_allclose(gibbs.Sigma, cov_ref, rtol=TOL, atol=TOL)
  # Mode and curvature straight from the library's soft Q: ∇_uQ(x, −K_g x) = 0 and −∇²_uQ/τ = Σ_g^{-1}.
  x = _states(lq, 4)[0]
  q_of_u = lambda u: lq.soft_q((gain, covariance), x, u)  # noqa: E731
  mode = -gibbs.K @ x
  step = 1e-3
  m = lq.action_dim
  grad = np.array([(q_of_u(mode + step * e) - q_of_u(mode - step * e)) / (2 * step) for e in np.eye(m)])
  hess = np.array([[(q_of_u(mode + step * (ei + ej)) - q_of_u(mode + step * (ei - ej))
                     - q_of_u(mode - step * (ei - ej)) + q_of_u(mode - step * (ei + ej))) / (4 * step**2)
                    for ej in np.eye(m)] for ei in np.eye(m)])
  scale = max(1.0, np.max(np.abs(hess)))
  np.testing.assert_allclose(grad, 0.0, atol=1e-7 * scale)
  np.testing.assert_allclose(-hess / lq.tau, np.linalg.inv(gibbs.Sigma), rtol=1e-6)


def test_kl_residual_two_ways(problem):
  """τKL(π‖p^π) (closed form) = T*V^π − V^π with T*V^π by quadrature of the library's soft Q."""
  lq = problem
  rng = np.random.default_rng(13)
  x = _states(lq, 5)
  for _ in range(3):
    gain, covariance = _random_policy(lq, rng)
    residual = lq.kl_residual((gain, covariance), x)
    gain_g, cov_g = _reference_gibbs(lq, gain)
    kl_ref = lq.tau * _gaussian_kl(-x @ gain.T, covariance, -x @ gain_g.T, cov_g)
    np.testing.assert_allclose(residual, kl_ref, rtol=TOL, atol=TOL)
    gibbs = lq.gibbs_policy((gain, covariance))
    np.testing.assert_allclose(residual, lq.tau * lq.policy_kl((gain, covariance), gibbs, x),
                               rtol=TOL, atol=TOL)
    backup = _log_integral_exp_q(lq, gain, covariance, x, gain_g, cov_g)
    np.testing.assert_allclose(lq.soft_bellman_optimality((gain, covariance), x), backup, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(residual, backup - lq.value((gain, covariance), x), rtol=TOL, atol=TOL)
    assert np.all(residual > 0)


def test_resolvent_identity_for_arbitrary_pairs(problem):
  lq = problem
  rng = np.random.default_rng(17)
  x = _states(lq, 6)
  for _ in range(3):
    gain, covariance = _random_policy(lq, rng)
    next_gain, next_covariance = _random_policy(lq, rng)
    sides = lq.resolvent_identity((gain, covariance), (next_gain, next_covariance), x)
    np.testing.assert_allclose(sides.lhs, sides.rhs, rtol=TOL, atol=TOL)
    # lhs directly: ΔV(x) − γE[ΔV(x')], x' ∼ N((A − BK')x, BΣ'Bᵀ + W), by Gauss–Hermite on the library's values.
    delta = lambda y: lq.value((next_gain, next_covariance), y) - lq.value((gain, covariance), y)  # noqa: E731
    next_cov = lq.B @ next_covariance @ lq.B.T + lq.W
    lhs_direct = delta(x) - lq.gamma * _hermite_expectation(delta, x @ (lq.A - lq.B @ next_gain).T, next_cov)
    np.testing.assert_allclose(sides.lhs, lhs_direct, rtol=TOL, atol=TOL)
    # rhs directly: τ[KL(π‖p^π) − KL(π'‖p^π)] from the SciPy Gibbs policy.
    gain_g, cov_g = _reference_gibbs(lq, gain)
    rhs_direct = lq.tau * (_gaussian_kl(-x @ gain.T, covariance, -x @ gain_g.T, cov_g)
                           - _gaussian_kl(-x @ next_gain.T, next_covariance, -x @ gain_g.T, cov_g))
    np.testing.assert_allclose(sides.rhs, rhs_direct, rtol=TOL, atol=TOL)


# --------------------------------------------------------------------------------------------------------- WPGD

NUM_WPGD_STEPS = 600


@pytest.fixture(scope="module")
def wpgd_run(problem):
  """One exact WPGD trajectory per problem: K0 a random stabilizing gain, Σ0 = 2I, η = 1/λ_max(H_0)."""
  lq = problem
  gain, _ = _random_policy(lq, np.random.default_rng(19))
  covariance = 2.0 * np.eye(lq.action_dim)
  value_matrix, _ = lq.soft_value((gain, covariance))
  hessian = 2.0 * (lq.R + lq.gamma * lq.B.T @ value_matrix @ lq.B)
  step_size = 1.0 / np.max(np.linalg.eigvalsh(hessian))
  trace = lq.exact_wpgd((gain, covariance), step_size=step_size, num_steps=NUM_WPGD_STEPS)
  return lq, gain, covariance, step_size, trace


def test_wpgd_first_step_and_shapes(wpgd_run):
  lq, gain, covariance, eta, traj = wpgd_run
  n, m = lq.state_dim, lq.action_dim
  assert traj.policy.K.shape == (NUM_WPGD_STEPS + 1, m, n) and traj.policy.Sigma.shape == (NUM_WPGD_STEPS + 1, m, m)
  assert traj.aux.P.shape == (NUM_WPGD_STEPS + 1, n, n) and traj.aux.c.shape == (NUM_WPGD_STEPS + 1,)
  np.testing.assert_array_equal(traj.policy.K[0], gain)
  p0 = _reference_value_matrix(lq, gain)
  hessian = 2.0 * (lq.R + lq.gamma * lq.B.T @ p0 @ lq.B)
  contraction = np.eye(m) - eta * hessian
  np.testing.assert_allclose(traj.policy.K[1], gain - eta * (hessian @ gain - 2 * lq.gamma * lq.B.T @ p0 @ lq.A),
                             rtol=TOL, atol=TOL)
  np.testing.assert_allclose(traj.policy.Sigma[1], contraction @ covariance @ contraction.T + 2 * eta * lq.tau * np.eye(m),
                             rtol=TOL, atol=TOL)
  for k in (0, 1, NUM_WPGD_STEPS // 2):
    value_matrix, constant = lq.soft_value((traj.policy.K[k], traj.policy.Sigma[k]))
    np.testing.assert_allclose(traj.aux.P[k], value_matrix, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(traj.aux.c[k], constant, rtol=TOL, atol=TOL)


def test_wpgd_converges_to_optimal_gain_and_stationary_sigma(wpgd_run):
  lq, _, _, eta, traj = wpgd_run
  opt = lq.optimum()
  np.testing.assert_allclose(traj.policy.K[-1], opt.K, rtol=0, atol=TOL)
  curvature = lq.R + lq.gamma * lq.B.T @ opt.P @ lq.B
  sigma_inf = opt.Sigma @ np.linalg.inv(np.eye(lq.action_dim) - eta * curvature)
  np.testing.assert_allclose(lq.stationary_sigma(eta), sigma_inf, rtol=TOL, atol=TOL)
  np.testing.assert_allclose(traj.policy.Sigma[-1], sigma_inf, rtol=TOL, atol=TOL)
  # Σ_∞ is the fixed point of the covariance recursion at H* (and it is NOT Σ*: the O(η) bias).
  contraction = np.eye(lq.action_dim) - 2 * eta * curvature
  np.testing.assert_allclose(contraction @ sigma_inf @ contraction.T + 2 * eta * lq.tau * np.eye(lq.action_dim),
                             sigma_inf, rtol=TOL, atol=TOL)
  assert np.min(np.linalg.eigvalsh(sigma_inf - opt.Sigma)) > 0


def test_wpgd_gap_decays_geometrically_to_the_bias_floor(wpgd_run):
  lq, _, _, eta, traj = wpgd_run
  opt = lq.optimum()
  x = _states(lq, 23, count=3)
  floor = lq.reference_floor(eta)
  np.testing.assert_allclose(lq.state_gap((opt.K, lq.stationary_sigma(eta)), x), floor, rtol=TOL, atol=TOL)
  mu = np.linalg.eigvalsh(lq.R + lq.gamma * lq.B.T @ opt.P @ lq.B)
  assert floor > 0
  small = eta / 100   # the floor is O(η²) (not the O(η) of the general bound): τη²Σμ²/(4(1−γ)) + O(η³)
  np.testing.assert_allclose(lq.reference_floor(small), lq.tau * small**2 * np.sum(mu**2) / (4 * (1 - lq.gamma)), rtol=0.02)
  # gap_k(x) from the trajectory's (P_k, c_k); excess over the floor.
  v_star = lq.optimal_value(x)
  gaps = v_star[None] + np.einsum("si,kij,sj->ks", x, traj.aux.P, x) + traj.aux.c[:, None]        # [k+1, S]
  excess = np.abs(gaps - floor).max(axis=1)
  assert excess[-1] < 1e-10
  resolved = np.nonzero(excess > 1e-8 * excess[0])[0]
  window = resolved[resolved >= 1]
  ratios = excess[window] / excess[window - 1]
  assert np.all(ratios < 1.0)
  predicted = lq.gap_contraction_factor(eta)
  if len(window) >= 20:   # enough iterates above round-off to see the asymptotic factor
    np.testing.assert_allclose(ratios[-5:], predicted, rtol=0.01)
  # Envelope: geometric with the predicted factor, up to a constant (a polynomial prefactor allowed).
  k = np.arange(len(excess))
  assert np.all(excess[: window[-1] + 1] <= excess[0] * (len(k) * predicted ** k[: window[-1] + 1] + 1e-12))


def test_resolvent_identity_along_wpgd(wpgd_run):
  lq, _, _, _, traj = wpgd_run
  x = _states(lq, 29)
  for k in (0, 1, 5):
    sides = lq.resolvent_identity((traj.policy.K[k], traj.policy.Sigma[k]), (traj.policy.K[k + 1], traj.policy.Sigma[k + 1]), x)
    np.testing.assert_allclose(sides.lhs, sides.rhs, rtol=TOL, atol=TOL)


def test_particle_wpgd_approaches_exact_iterates(problem_2x2):
  """Fitted (K̂_k, Σ̂_k) error shrinks like 1/sqrt(N): at N=4000 about 4x below N=250.

  Margin: the RMS error over 4 seeds × 11 iterates × (mn + m²) entries estimates its expectation to ~±25%
  (≥ 16 roughly independent squared Gaussian errors per seed set), so the expected ratio 4 exceeds the asserted
  ratio 2 by many standard deviations; the initial fit is also checked against its exact standard error.
  """
  lq = problem_2x2
  rng = np.random.default_rng(31)
  gain, _ = _random_policy(lq, rng)
  covariance = 2.0 * np.eye(2)
  value_matrix, _ = lq.soft_value((gain, covariance))
  eta = 0.5 / np.max(np.linalg.eigvalsh(2.0 * (lq.R + lq.gamma * lq.B.T @ value_matrix @ lq.B)))
  num_steps = 10
  exact = lq.exact_wpgd((gain, covariance), step_size=eta, num_steps=NUM_WPGD_STEPS)   # same compile as `wpgd_run`
  exact = jax.tree.map(lambda leaf: leaf[: num_steps + 1], exact.policy)
  states = 1.5 * rng.normal(size=(8, 2))
  rms = {}
  for num_particles in (250, 4000):
    errors_k, errors_sigma, errors_k0 = [], [], []
    for seed in range(4):
      init_key, steps_key = jax.random.split(jax.random.key(seed))
      particles = lq.sample_policy(init_key, (gain, covariance), states, num_particles)
      traj = lq.particle_wpgd(steps_key, particles, step_size=eta, num_steps=num_steps, states=states)
      assert traj.policy.K.shape == exact.K.shape and traj.particles.shape == (8, num_particles, 2)
      errors_k.append(np.sum((traj.policy.K - exact.K) ** 2, axis=(1, 2)))
      errors_sigma.append(np.sum((traj.policy.Sigma - exact.Sigma) ** 2, axis=(1, 2)))
      errors_k0.append(errors_k[-1][0])
    rms[num_particles] = (np.sqrt(np.mean(errors_k)), np.sqrt(np.mean(errors_sigma)), np.sqrt(np.mean(errors_k0)))
    # Initial fit: K̂_0 − K0 = −E Xᵀ(XᵀX)^{-1}/..., E[‖·‖²] = tr(Σ0) tr((XᵀX)^{-1}) / N.
    standard_error = np.sqrt(np.trace(covariance) * np.trace(np.linalg.inv(states.T @ states)) / num_particles)
    assert standard_error / 3 < rms[num_particles][2] < 3 * standard_error
  assert rms[4000][0] < rms[250][0] / 2
  assert rms[4000][1] < rms[250][1] / 2


# --------------------------------------------------------------------------------------------------- bad input


def _bad_input_cases():
  a, b, q, r, w = np.eye(2) * 0.5, np.eye(2), np.eye(2), np.eye(2), np.eye(2) * 0.1
  good = dict(A=a, B=b, Q=q, R=r, W=w)
  lq = LinearQuadratic(**good, gamma=0.9, tau=0.5)
  k_ok, s_ok, x_ok = np.zeros((2, 2)), np.eye(2), np.ones((3, 2))
  nonsym = np.array([[1.0, 0.5], [0.0, 1.0]])
  indefinite = np.array([[1.0, 0.0], [0.0, -1.0]])
  return [
      (lambda: LinearQuadratic(np.eye(3), b, q, r, w), r"A must have shape \[n, n\]"),
      (lambda: LinearQuadratic(a, np.ones(2), q, r, w), r"B must have shape \[n, m\]"),
      (lambda: LinearQuadratic(a, b, np.eye(3), r, w), r"Q must have shape \[n, n\]"),
      (lambda: LinearQuadratic(a, b, q, np.eye(3), w), r"R must have shape \[m, m\]"),
      (lambda: LinearQuadratic(a, b, nonsym, r, w), "Q must be symmetric positive definite.*non-symmetric"),
      (lambda: LinearQuadratic(a, b, q, indefinite, w), "R must be symmetric positive definite.*eigenvalue"),
      (lambda: LinearQuadratic(a, b, q, r, -np.eye(2)), "W must be symmetric positive semidefinite"),
      (lambda: LinearQuadratic(a, b, q, r, w, gamma=1.0), r"gamma must lie in \(0.0, 1.0\)"),
      (lambda: LinearQuadratic(a, b, q, r, w, gamma=0.0), r"gamma must lie in \(0.0, 1.0\)"),
      (lambda: LinearQuadratic(a, b, q, r, w, tau=0.0), "tau must be finite and > 0"),
      (lambda: LinearQuadratic(a, b, q, r, w, tau=-1.0), "tau must be finite and > 0"),
      (lambda: LinearQuadratic(np.diag([2.0, 0.5]), np.array([[0.0], [1.0]]), q, np.eye(1), w).optimum(),
       "stabilizable"),
      (lambda: lq.soft_value((np.zeros((2, 3)), s_ok)), r"K must have shape \[m, n\]"),
      (lambda: lq.soft_value((-5.0 * np.eye(2), s_ok)), r"K must be a stabilizing gain, sqrt\(gamma\)"),
      (lambda: lq.soft_value((k_ok, nonsym)), "Sigma must be symmetric positive definite"),
      (lambda: lq.soft_value((k_ok, indefinite)), "Sigma must be symmetric positive definite"),
      (lambda: lq.soft_value((k_ok, np.eye(3))), r"Sigma must have shape \[m, m\]"),
      (lambda: lq.kl_residual((k_ok, s_ok), np.ones((3, 3))), r"states must have shape \[\.\.\., n\]"),
      (lambda: lq.soft_q((k_ok, s_ok), x_ok, np.ones((3, 1))), r"u must have shape \[\.\.\., m\]"),
      (lambda: lq.resolvent_identity((k_ok, s_ok), (5.0 * np.eye(2), s_ok), x_ok), "K_next must be a stabilizing"),
      (lambda: lq.exact_wpgd((k_ok, s_ok), step_size=10.0, num_steps=3), r"step_size must satisfy step_size·λ_max\(H\) < 2"),
      (lambda: lq.exact_wpgd((k_ok, s_ok), step_size=0.0, num_steps=3), "step_size must be finite and > 0"),
      (lambda: lq.exact_wpgd((k_ok, s_ok), step_size=0.1, num_steps=-1), "num_steps must be an int >= 0"),
      (lambda: lq.exact_wpgd((k_ok, s_ok), step_size=0.1, num_steps=2.5), "num_steps must be an int >= 0"),
      (lambda: lq.exact_wpgd((-5.0 * np.eye(2), s_ok), step_size=0.1, num_steps=3), "K0 must be a stabilizing gain"),
      (lambda: lq.exact_wpgd((k_ok, indefinite), step_size=0.1, num_steps=3), "Sigma0 must be symmetric positive definite"),
      (lambda: lq.stationary_sigma(10.0), r"step_size must satisfy step_size·λ_max\(H\) < 2"),
      (lambda: lq.particle_wpgd(jax.random.key(0), np.zeros((4, 10, 2)), step_size=0.1, num_steps=2,
                                states=np.ones((4, 2))), "states must have full column rank"),
      (lambda: lq.particle_wpgd(jax.random.key(0), np.zeros((1, 10, 2)), step_size=0.1, num_steps=2,
                                states=np.ones(2)), r"states must have shape \[S, n\]"),
      (lambda: lq.sample_policy(jax.random.key(0), (k_ok, s_ok), np.eye(2), 1), "num_particles must be an int >= 2"),
      (lambda: lq.particle_wpgd(jax.random.key(0), np.zeros((2, 10, 2)), step_size=0.1, num_steps=2,
                                states=np.eye(2), method="euler"), "method must be one of"),
  ]


_CASES = _bad_input_cases()


@pytest.mark.parametrize("case", range(len(_CASES)))
def test_bad_input_raises_value_error(case):
  fn, match = _CASES[case]
  with pytest.raises(ValueError, match=match):
    fn()


def test_deterministic_dynamics_w_zero_is_allowed():
  # W = 0 is a valid (noise-free) problem: the optimum is still a fixed point with zero residual.
  lq = LinearQuadratic(np.array([[0.9, 0.2], [0.0, 0.8]]), np.eye(2), np.eye(2), np.eye(2), np.zeros((2, 2)),
                       gamma=0.9, tau=0.5)
  opt = lq.optimum()
  x = np.array([[0.3, -1.2], [2.0, 0.5]])
  np.testing.assert_allclose(lq.kl_residual((opt.K, opt.Sigma), x), 0.0, atol=1e-10)
  P, c = lq.soft_value((opt.K, opt.Sigma))
  np.testing.assert_allclose(P, opt.P, atol=1e-10)
  np.testing.assert_allclose(c, opt.c, atol=1e-10)
