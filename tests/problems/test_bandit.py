"""T1 bandit problems: closed forms of the Gaussian bandit, the quadrature double well, and particle runs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.linalg

from wpgjax.problems import DoubleWellBandit, GaussianBandit, GaussianPolicy
from wpgjax.problems import double_well as double_well_lib
from wpgjax.problems import gaussian_bandit as gaussian_bandit_lib

STEP = 0.2  # η λ_max(H) ≈ 0.44 for the fixture's H
DW_STEP = 0.05  # below the double well's grid bound 2/(4c(L² − 1) + β) ≈ 0.0615


@pytest.fixture(autouse=True, scope="module")
def _x64():
  with jax.enable_x64(True):
    yield


@pytest.fixture(scope="module")
def gaussian_bandit():
  return GaussianBandit(m=np.array([1.0, -0.5]), H=np.array([[2.0, 0.5], [0.5, 1.0]]), tau=0.3, gamma=0.9)


@pytest.fixture(scope="module")
def initial_policy():
  return GaussianPolicy(jnp.array([-1.0, 2.0]), jnp.array([[0.5, 0.1], [0.1, 0.2]]))


@pytest.fixture(scope="module")
def double_well():
  return DoubleWellBandit(c=1.0, beta=0.5, tau=0.5, gamma=0.9)


@pytest.fixture(scope="module")
def double_well_particles(double_well):
  """40k particles drawn from the Gibbs law, then 100 ULA and 100 MALA steps at the same η."""
  gibbs = double_well.gibbs_log_density()
  start = double_well.sample_grid_law(jax.random.PRNGKey(0), gibbs, 40_000)
  ula = double_well.particle_wpgd(jax.random.PRNGKey(1), start, step_size=DW_STEP, num_steps=100, method="ula").particles
  mala = double_well.particle_wpgd(jax.random.PRNGKey(1), start, step_size=DW_STEP, num_steps=100,
                                method="mala").particles
  return start, np.asarray(ula), np.asarray(mala)


def _random_spd(rng, d):
  a = rng.normal(size=(d, d))
  return a @ a.T / d + 0.1 * np.eye(d)


# ----------------------------------------------------------------------------------------------------------------
# Gaussian bandit.
# ----------------------------------------------------------------------------------------------------------------


def test_gaussian_iterates_match_closed_form(gaussian_bandit, initial_policy):
  num_steps = 60
  trace = gaussian_bandit.exact_wpgd(initial_policy, step_size=STEP, num_steps=num_steps)
  assert trace.policy.mean.shape == (num_steps + 1, 2) and trace.policy.cov.shape == (num_steps + 1, 2, 2)
  assert trace.policy.mean.dtype == jnp.float64
  contraction = np.eye(2) - STEP * gaussian_bandit.H
  for k in (0, 1, 7, 30, num_steps):
    closed = gaussian_bandit.closed_form_policy(initial_policy, step_size=STEP, k=k)
    np.testing.assert_allclose(trace.policy.mean[k], closed.mean, rtol=0, atol=1e-12)
    np.testing.assert_allclose(trace.policy.cov[k], closed.cov, rtol=0, atol=1e-12)
    # μ_k − m = (I − ηH)^k (μ_0 − m), straight from numpy.
    expected_mean = gaussian_bandit.m + np.linalg.matrix_power(contraction, k) @ (
        np.asarray(initial_policy.mean) - gaussian_bandit.m)
    np.testing.assert_allclose(trace.policy.mean[k], expected_mean, rtol=0, atol=1e-12)
  # One explicit step of the covariance recursion.
  expected_cov1 = contraction @ np.asarray(initial_policy.cov) @ contraction + 2 * STEP * 0.3 * np.eye(2)
  np.testing.assert_allclose(trace.policy.cov[1], expected_cov1, rtol=0, atol=1e-14)
  # The value gap along the iterates is the KL gap.
  np.testing.assert_allclose(trace.gap, trace.kl_residual[:, 0] / (1 - 0.9), rtol=1e-12, atol=1e-12)


def test_gaussian_stationary_covariance_is_the_fixed_point(gaussian_bandit, initial_policy):
  tau = gaussian_bandit.tau
  for step in (0.05, STEP, 0.8):
    sigma_inf = np.asarray(gaussian_bandit.stationary_cov(step))
    contraction = np.eye(2) - step * gaussian_bandit.H
    residual = contraction @ sigma_inf @ contraction + 2 * step * tau * np.eye(2) - sigma_inf
    assert np.max(np.abs(residual)) <= 1e-12
    # Independent solver: A X A − X + 2ητI = 0.
    lyapunov = scipy.linalg.solve_discrete_lyapunov(contraction, 2 * step * tau * np.eye(2))
    np.testing.assert_allclose(sigma_inf, lyapunov, rtol=1e-12, atol=1e-13)
  # The iterates converge to it; the discretization bias is ≈ η² Σλ²/16 for small η.
  far = gaussian_bandit.closed_form_policy(initial_policy, step_size=STEP, k=400)
  np.testing.assert_allclose(far.cov, gaussian_bandit.stationary_cov(STEP), rtol=0, atol=1e-12)
  small = 0.01
  predicted = small**2 * np.sum(gaussian_bandit.eigenvalues**2) / 16
  assert abs(float(gaussian_bandit.stationary_kl(small)) / predicted - 1) < 0.03


def test_gaussian_gap_identity(gaussian_bandit):
  rng = np.random.default_rng(0)
  means = rng.normal(size=(6, 2)) * 2
  covs = np.stack([_random_spd(rng, 2) for _ in range(6)])
  policies = GaussianPolicy(jnp.asarray(means), jnp.asarray(covs))
  gap = np.asarray(gaussian_bandit.gap(policies))  # V* − V^π from the two values
  kl = np.asarray(gaussian_bandit.kl_to_gibbs(policies))  # closed-form Gaussian KL
  np.testing.assert_allclose(gap, gaussian_bandit.tau * kl / (1 - gaussian_bandit.gamma), rtol=1e-12, atol=1e-12)
  np.testing.assert_allclose(gaussian_bandit.bellman_residual(policies), gaussian_bandit.kl_residual(policies),
                             rtol=1e-12, atol=1e-12)
  assert np.all(gap > 1e-3)
  assert abs(float(gaussian_bandit.gap(gaussian_bandit.optimal_policy()))) <= 1e-12


def test_gaussian_value_matches_quadrature_in_1d():
  """The closed-form V^π, V* against scipy quadrature of E_π[r̃ − τ log π] and ∫exp(r̃/τ)."""
  tau, gamma, m, h = 0.7, 0.8, 0.4, 1.7
  bandit = GaussianBandit(np.array([m]), np.array([[h]]), tau, gamma)
  mu, var = -0.3, 0.45
  log_pi = lambda a: -0.5 * (a - mu)**2 / var - 0.5 * np.log(2 * np.pi * var)
  reward = lambda a: -0.5 * h * (a - m)**2
  integrand = lambda a: np.exp(log_pi(a)) * (reward(a) - tau * log_pi(a))
  expected_value = scipy.integrate.quad(integrand, -np.inf, np.inf, epsabs=1e-13, epsrel=1e-13)[0] / (1 - gamma)
  value = float(bandit.value(GaussianPolicy(jnp.array([mu]), jnp.array([[var]]))))
  assert abs(value - expected_value) <= 1e-10
  log_z = np.log(scipy.integrate.quad(lambda a: np.exp(reward(a) / tau), -np.inf, np.inf, epsabs=1e-14)[0])
  assert abs(float(bandit.optimal_value()) - tau * log_z / (1 - gamma)) <= 1e-10


def test_gaussian_fisher_is_the_kl_dissipation_and_satisfies_lsi(gaussian_bandit, initial_policy):
  """d/dt τKL(π_t‖p) = −τ² I(π_t‖p) along the flow: the one-step KL decrease / η → τ² I with an O(η) error;
  and the Gibbs law N(m, τH^{-1}) satisfies LSI(α = λ_min(H)/τ): I >= 2α KL."""
  tau = gaussian_bandit.tau
  deviations = []
  for step in (1e-3, 1e-4):
    trace = gaussian_bandit.exact_wpgd(initial_policy, step_size=step, num_steps=60)
    dissipation = (trace.kl_residual[0, 0] - trace.kl_residual[1, 0]) / step
    deviations.append(abs(float(dissipation / (tau**2 * trace.fisher_information[0, 0])) - 1))
  assert deviations[1] < 2e-4 and deviations[1] < 0.2 * deviations[0], deviations
  rng = np.random.default_rng(1)
  policies = GaussianPolicy(jnp.asarray(rng.normal(size=(8, 2))), jnp.stack([_random_spd(rng, 2) for _ in range(8)]))
  fisher = np.asarray(gaussian_bandit.relative_fisher_information(policies))
  kl = np.asarray(gaussian_bandit.kl_to_gibbs(policies))
  assert np.all(fisher >= 2 * gaussian_bandit.log_sobolev_constant * kl)
  optimum = gaussian_bandit.optimal_policy()
  assert abs(float(gaussian_bandit.relative_fisher_information(optimum))) <= 1e-10


def test_particle_ula_matches_exact_gaussian_law(gaussian_bandit, initial_policy):
  """Gaussian particles under ULA stay exactly N(μ_k, Σ_k): sample moments agree within Monte Carlo error."""
  num_particles, num_steps = 20_000, 10
  start = gaussian_bandit.sample(jax.random.PRNGKey(3), initial_policy, num_particles)
  final = np.asarray(gaussian_bandit.particle_wpgd(jax.random.PRNGKey(4), start, step_size=STEP,
                                                   num_steps=num_steps, method="ula").particles)
  exact = gaussian_bandit.closed_form_policy(initial_policy, step_size=STEP, k=num_steps)
  mean, cov = np.asarray(exact.mean), np.asarray(exact.cov)
  mean_z = (final.mean(0) - mean) / np.sqrt(np.diag(cov) / num_particles)
  assert np.all(np.abs(mean_z) < 5), mean_z
  cov_se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / num_particles)
  cov_z = (np.cov(final.T) - cov) / cov_se
  assert np.all(np.abs(cov_z) < 5), cov_z
  # The law actually moved: the initial mean is hundreds of standard errors away.
  start_z = (np.asarray(initial_policy.mean) - mean) / np.sqrt(np.diag(cov) / num_particles)
  assert np.all(np.abs(start_z) > 100)


def test_gaussian_bandit_rejects_bad_input(gaussian_bandit, initial_policy):
  good_h = np.eye(2)
  with pytest.raises(ValueError, match="H must have shape"):
    GaussianBandit(np.zeros(2), np.eye(3), 1.0, 0.9)
  with pytest.raises(ValueError, match="positive definite"):
    GaussianBandit(np.zeros(2), np.diag([1.0, -1.0]), 1.0, 0.9)
  with pytest.raises(ValueError, match="symmetric"):
    GaussianBandit(np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), 1.0, 0.9)
  with pytest.raises(ValueError, match="m must have shape"):
    GaussianBandit(np.zeros((2, 1)), good_h, 1.0, 0.9)
  with pytest.raises(ValueError, match="tau"):
    GaussianBandit(np.zeros(2), good_h, 0.0, 0.9)
  for gamma in (0.0, 1.0, 1.5):
    with pytest.raises(ValueError, match="gamma"):
      GaussianBandit(np.zeros(2), good_h, 1.0, gamma)
  limit = gaussian_bandit.max_stable_step_size
  with pytest.raises(ValueError, match=r"step_size \* lambda_max\(H\) < 2"):
    gaussian_bandit.exact_wpgd(initial_policy, step_size=limit, num_steps=3)
  with pytest.raises(ValueError, match="step_size"):
    gaussian_bandit.stationary_cov(-0.1)
  with pytest.raises(ValueError, match=r"lambda_max"):
    gaussian_bandit.particle_wpgd(jax.random.PRNGKey(0), jnp.zeros((4, 2)), step_size=1.01 * limit, num_steps=1)
  with pytest.raises(ValueError, match="method"):
    gaussian_bandit.particle_wpgd(jax.random.PRNGKey(0), jnp.zeros((4, 2)), step_size=0.1, num_steps=1,
                                  method="langevin")
  with pytest.raises(ValueError, match="particles must have shape"):
    gaussian_bandit.particle_wpgd(jax.random.PRNGKey(0), jnp.zeros((4, 3)), step_size=0.1, num_steps=1)
  with pytest.raises(ValueError, match="policy must have"):
    gaussian_bandit.value(GaussianPolicy(jnp.zeros(3), jnp.eye(3)))
  with pytest.raises(ValueError, match="num_steps"):
    gaussian_bandit.exact_wpgd(initial_policy, step_size=0.1, num_steps=-1)


# ----------------------------------------------------------------------------------------------------------------
# Double well.
# ----------------------------------------------------------------------------------------------------------------


def test_double_well_quadrature_reference_and_identities(double_well):
  tau, gamma, dx = double_well.tau, double_well.gamma, double_well.grid_spacing
  gibbs = np.asarray(double_well.gibbs_log_density())
  assert abs(np.sum(np.exp(gibbs)) * dx - 1) <= 1e-13
  # log Z by the grid rule against adaptive quadrature on R.
  reward = lambda a: -(a**2 - 1)**2 - 0.25 * a**2
  z = scipy.integrate.quad(lambda a: np.exp(reward(a) / tau), -np.inf, np.inf, epsabs=1e-14, epsrel=1e-13)[0]
  assert abs(float(double_well.log_partition()) - np.log(z)) <= 1e-10
  # Gap and residual identities for grid policies (an off-centre Gaussian and a one-well law).
  policies = jnp.stack([double_well.gaussian_log_density(0.3, 0.7),
                        double_well.normalize(jnp.asarray(gibbs) + 3.0 * jnp.tanh(5 * double_well.grid))])
  gap = np.asarray(double_well.gap(policies))
  np.testing.assert_allclose(gap, tau * np.asarray(double_well.kl_to_gibbs(policies)) / (1 - gamma), rtol=1e-12,
                             atol=1e-12)
  np.testing.assert_allclose(double_well.bellman_residual(policies), double_well.kl_residual(policies),
                             rtol=1e-12, atol=1e-12)
  assert np.all(gap > 1e-2)
  assert abs(float(double_well.gap(jnp.asarray(gibbs)))) <= 1e-12


def test_double_well_exact_law_reaches_the_ula_stationary_law(double_well):
  gibbs = double_well.gibbs_log_density()
  stationary = double_well.ula_stationary_log_density(DW_STEP)
  # A fixed point of the grid kernel: 100 exact-law steps leave it where it is.
  still = double_well.exact_wpgd(stationary, step_size=DW_STEP, num_steps=100)
  assert float(double_well.tv_distance(still.policy[-1], stationary)) <= 1e-12
  assert np.ptp(np.asarray(still.value)) <= 1e-12
  trace = double_well.exact_wpgd(gibbs, step_size=DW_STEP, num_steps=100)
  assert float(double_well.tv_distance(trace.policy[-1], stationary)) <= 1e-9
  assert np.all(np.abs(trace.edge_mass_lost) <= 1e-12)
  # ULA's stationary law is biased away from Gibbs, by O(η) in total variation.
  bias = float(double_well.tv_distance(stationary, gibbs))
  half_bias = float(double_well.tv_distance(double_well.ula_stationary_log_density(DW_STEP / 2), gibbs))
  assert 0.02 < bias and 1.6 <= bias / half_bias <= 2.8, (bias, half_bias)
  np.testing.assert_allclose(trace.aux["tv_to_gibbs"][-1], bias, rtol=1e-6)
  np.testing.assert_allclose(trace.gap[-1], trace.kl_residual[-1, 0] / (1 - double_well.gamma), rtol=1e-10)


def test_double_well_kl_dissipation_matches_fisher(double_well):
  """On the grid: the first exact-law step's KL decrease / η → τ² I (finite-difference scores), error O(η)."""
  start = double_well.gaussian_log_density(0.3, 0.7)
  deviations = []
  for step in (4e-3, 1e-3):
    trace = double_well.exact_wpgd(start, step_size=step, num_steps=100)
    ratio = ((trace.kl_residual[0, 0] - trace.kl_residual[1, 0])
             / (step * double_well.tau**2 * trace.fisher_information[0, 0]))
    deviations.append(abs(float(ratio) - 1))
  assert deviations[1] < 0.05 and deviations[1] < 0.4 * deviations[0], deviations
  np.testing.assert_allclose(trace.fisher_information[0, 0], double_well.relative_fisher_information(start),
                             rtol=1e-12)
  # Finite-difference scores: I(p‖p) is zero up to O(Δa⁴) (here ~1e-5, against I ≈ 80 at the start).
  assert float(double_well.relative_fisher_information(double_well.gibbs_log_density())) <= 1e-4


def test_mala_matches_the_double_well_reference_better_than_ula(double_well, double_well_particles):
  _, ula, mala = double_well_particles
  gibbs = double_well.gibbs_log_density()
  stationary = double_well.ula_stationary_log_density(DW_STEP)
  num = ula.shape[0]
  tv_ula = float(double_well.histogram_tv(ula, gibbs))
  tv_mala = float(double_well.histogram_tv(mala, gibbs))
  # Monte Carlo floor of the histogram TV for this N: ≈ ½ Σ_b sqrt(2 p_b / (π N)) ≈ 0.01.
  assert tv_mala < 0.02 and tv_mala + 0.03 < tv_ula, (tv_mala, tv_ula)
  # ULA particles follow the exact law of the grid ULA kernel instead.
  assert float(double_well.histogram_tv(ula, stationary)) < 0.02
  # Second moments: MALA ≈ Gibbs, ULA ≈ ULA-stationary, and the two references differ by many standard errors.
  second = lambda log_density: float(np.sum(np.exp(log_density) * double_well.grid**2) * double_well.grid_spacing)
  se = np.std(ula[:, 0]**2) / np.sqrt(num)
  assert abs(np.mean(mala**2) - second(gibbs)) < 4 * se
  assert abs(np.mean(ula**2) - second(stationary)) < 4 * se
  assert abs(second(gibbs) - second(stationary)) > 8 * se


def test_double_well_rejects_bad_input(double_well):
  gibbs = double_well.gibbs_log_density()
  with pytest.raises(ValueError, match="too large for this grid"):
    double_well.exact_wpgd(gibbs, step_size=1.05 * double_well.max_stable_step_size, num_steps=2)
  with pytest.raises(ValueError, match="too small for the grid"):
    double_well.wpgd_step(gibbs, 1e-6)
  with pytest.raises(ValueError, match="log_density must have shape"):
    double_well.value(jnp.zeros(10))
  with pytest.raises(ValueError, match="c must be"):
    DoubleWellBandit(0.0, 0.5, 0.5, 0.9)
  with pytest.raises(ValueError, match="beta"):
    DoubleWellBandit(1.0, -0.5, 0.5, 0.9)
  with pytest.raises(ValueError, match="tau"):
    DoubleWellBandit(1.0, 0.5, -1.0, 0.9)
  with pytest.raises(ValueError, match="gamma"):
    DoubleWellBandit(1.0, 0.5, 0.5, 1.0)
  with pytest.raises(ValueError, match="grid_size"):
    DoubleWellBandit(1.0, 0.5, 0.5, 0.9, grid_size=2)
  with pytest.raises(ValueError, match="particles must have shape"):
    double_well.particle_wpgd(jax.random.PRNGKey(0), jnp.zeros((5, 2)), step_size=0.01, num_steps=1)
  for module in (double_well_lib, gaussian_bandit_lib):
    assert set(module.__all__) <= set(dir(module))
