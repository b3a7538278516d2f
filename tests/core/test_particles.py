"""Particle WPG steps: exact one-step law of ULA, ULA's biased and MALA's exact stationary law on a Gaussian
Gibbs target, SVGD's fixed point, the tanh change of variables, jit/vmap over states, and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

import wpgjax
from wpgjax.core import bounded, particles

H = np.array([2.0, 0.5])     # r̃(a) = −½ Σ h_i (a_i − m_i)²: Gibbs law N(m, τ/h)
M = np.array([1.0, -0.5])
TAU = 0.5


def quadratic_q(a):
  return -0.5 * jnp.sum(H * (a - M) ** 2)


@pytest.fixture(scope="module")
def stationary_clouds():
  """4000 particles after 300 steps of each method at η = 0.4 (ηh_max = 0.8: a large ULA bias)."""
  x0 = jnp.zeros((4000, 2))
  flow = jax.jit(lambda key, method: particles.wpg_flow(key, x0, quadratic_q, step_size=0.4, tau=TAU,
                                                         num_steps=300, method=method), static_argnums=1)
  return {m: np.asarray(flow(jax.random.key(3), m)) for m in ("ula", "mala")}


def test_ula_one_step_law_is_the_euler_maruyama_gaussian():
  x = jnp.full((20000, 2), 0.3)
  eta = 0.05
  out = np.asarray(wpgjax.wpg_step(jax.random.key(0), x, quadratic_q, step_size=eta, tau=TAU, method="ula"))
  expected_mean = 0.3 + eta * (-H * (0.3 - M))
  se = np.sqrt(2 * TAU * eta / 20000)
  np.testing.assert_allclose(out.mean(0), expected_mean, atol=5 * se)
  np.testing.assert_allclose(out.var(0), 2 * TAU * eta, rtol=0.05)


def test_ula_has_the_closed_form_bias_and_mala_removes_it(stationary_clouds):
  eta = 0.4
  exact_var = TAU / H
  ula_var = TAU / H / (1 - eta * H / 2)  # docs/theory.md §5 T1: Σ_∞(η) = τH⁻¹(I − ηH/2)⁻¹
  ula, mala = stationary_clouds["ula"], stationary_clouds["mala"]
  # Sample variance of 4000 Gaussian draws has relative s.e. sqrt(2/4000) ≈ 2.2%; use 4 s.e.
  np.testing.assert_allclose(ula.var(0), ula_var, rtol=0.09)
  np.testing.assert_allclose(mala.var(0), exact_var, rtol=0.09)
  assert abs(ula.var(0)[0] / exact_var[0] - 1) > 0.5   # ULA's bias at ηh = 0.8 is +67%
  np.testing.assert_allclose(mala.mean(0), M, atol=0.06)


def test_tamed_ula_one_step_law_has_the_tamed_drift():
  x = jnp.full((20000, 2), 0.3)
  eta = 0.05
  out = np.asarray(wpgjax.wpg_step(jax.random.key(0), x, quadratic_q, step_size=eta, tau=TAU, method="tamed_ula"))
  grad = -H * (0.3 - M)
  expected_mean = 0.3 + eta * grad / (1 + eta * np.linalg.norm(grad))
  se = np.sqrt(2 * TAU * eta / 20000)
  np.testing.assert_allclose(out.mean(0), expected_mean, atol=5 * se)
  np.testing.assert_allclose(out.var(0), 2 * TAU * eta, rtol=0.05)


def test_tamed_ula_stays_bounded_where_ula_diverges_and_is_centred_on_the_mode():
  steep = lambda a: -0.5 * 400.0 * jnp.sum((a - M) ** 2)  # ηh = 80: ULA's iteration multiplies by 1 − ηh
  x0 = jnp.zeros((4000, 2))
  flow = jax.jit(lambda method: particles.wpg_flow(jax.random.key(4), x0, steep, step_size=0.2, tau=TAU,
                                                   num_steps=200, method=method), static_argnums=0)
  ula, tamed = np.asarray(flow("ula")), np.asarray(flow("tamed_ula"))
  assert not np.all(np.isfinite(ula)) or np.abs(ula).max() > 1e6
  # Reflection about M maps the tamed drift to its negative, so the stationary law is symmetric about M; the
  # cloud's spread is the noise's scale sqrt(2τη) = 0.45 (the tamed drift moves each particle by < 1 per step).
  np.testing.assert_allclose(tamed.mean(0), M, atol=5 * tamed.std(0).max() / np.sqrt(4000))
  assert np.all(tamed.std(0) < 1.0)


def test_tamed_ula_approaches_the_gibbs_law_as_the_step_shrinks():
  x0 = jnp.zeros((4000, 2))
  out = np.asarray(jax.jit(lambda x: particles.wpg_flow(jax.random.key(5), x, quadratic_q, step_size=0.02, tau=TAU,
                                                         num_steps=1500, method="tamed_ula"))(x0))
  # Sample variance of 4000 draws: relative s.e. 2.2%; the O(η) bias at ηh ≤ 0.04 is a few %.
  np.testing.assert_allclose(out.var(0), TAU / H, rtol=0.12)
  np.testing.assert_allclose(out.mean(0), M, atol=0.06)


def test_mala_acceptance_tends_to_one_as_step_shrinks():
  x = jax.random.normal(jax.random.key(1), (2000, 2))
  rates = [float(particles.mala_step_with_info(jax.random.key(2), x, quadratic_q, eta, TAU)[1]
                 .acceptance_probability.mean()) for eta in (1e-3, 1e-1, 1.5)]
  assert rates[0] > 0.99 and rates[0] > rates[1] > rates[2]


def test_mala_flow_is_k_mala_steps_with_one_q_evaluation_per_step():
  """wpg_flow(method="mala") carries Q and ∇Q of the accepted particles: the chain is exactly K single MALA
  steps (same keys), and q_fn is traced K + 1 times (once per step plus the start), not 2K."""
  with jax.enable_x64(True):
    x0 = jax.random.normal(jax.random.key(1), (64, 2), jnp.float64)
    keys = jax.random.split(jax.random.key(2), 6)
    stepped = x0
    for key in keys:
      stepped = particles.mala_step(key, stepped, quadratic_q, 0.6, TAU)
    flowed = particles.wpg_flow(jax.random.key(2), x0, quadratic_q, step_size=0.6, tau=TAU, num_steps=6,
                                method="mala")
    np.testing.assert_allclose(flowed, stepped, rtol=0, atol=1e-13)
  traces = []

  def counting_q(a):
    traces.append(1)
    return quadratic_q(a)

  jax.make_jaxpr(lambda x: particles.wpg_flow(jax.random.key(0), x, counting_q, step_size=0.1, tau=TAU,
                                              num_steps=6, method="mala"))(jnp.zeros((4, 2)))
  assert len(traces) == 2  # the start, and one step body under lax.scan (a plain MALA step traces it twice)


def test_svgd_reaches_the_gibbs_law():
  x0 = jax.random.normal(jax.random.key(0), (200, 2))
  out = np.asarray(jax.jit(lambda x: particles.wpg_flow(jax.random.key(0), x, quadratic_q, step_size=0.5, tau=TAU,
                                                         num_steps=1500, method="svgd"))(x0))
  np.testing.assert_allclose(out.mean(0), M, atol=0.05)
  np.testing.assert_allclose(out.var(0), TAU / H, rtol=0.15)


def test_svgd_direction_vanishes_in_expectation_only_for_the_target():
  # With the kernel's repulsion the velocity field averages to ~0 for a cloud from p and not for a shifted one.
  key = jax.random.key(5)
  cloud = M + jnp.sqrt(TAU / H) * jax.random.normal(key, (1000, 2))
  grad = jax.vmap(jax.grad(quadratic_q))
  at_target = np.abs(np.asarray(particles.svgd_direction(cloud, grad(cloud), TAU).mean(0)))
  shifted = cloud + 1.0
  off_target = np.abs(np.asarray(particles.svgd_direction(shifted, grad(shifted), TAU).mean(0)))
  assert at_target.max() < 0.01 and off_target.min() > 0.03


def test_bounded_potential_pulls_back_the_box_gibbs_law():
  # ∫ over u of exp(Q_u/τ) equals ∫ over the box [low, high] of exp(Q/τ) (change of variables), in float64.
  with jax.enable_x64(True):
    low, high, tau = -2.0, 3.0, 0.7
    q = lambda a: -(a[0] - 0.5) ** 2 + jnp.sin(2 * a[0])
    q_u = bounded.bounded_q_fn(q, tau, low, high)
    z_box = integrate.quad(lambda a: np.exp(float(q(jnp.array([a]))) / tau), low, high, epsabs=1e-13)[0]
    z_u = integrate.quad(lambda u: np.exp(float(q_u(jnp.array([u]))) / tau), -30, 30, epsabs=1e-13,
                         limit=200)[0]
    assert z_u == pytest.approx(z_box, rel=1e-9)
    u = jnp.array([-40.0, 0.3, 40.0])
    a = bounded.squash(u, low, high)
    assert np.all(np.isfinite(np.asarray(bounded.log_abs_det_jacobian(u, low, high))))
    np.testing.assert_allclose(bounded.unsquash(bounded.squash(u[1:2], low, high), low, high), u[1:2], rtol=1e-9)
    assert float(a.min()) >= low and float(a.max()) <= high


@pytest.mark.parametrize("method", particles.METHODS)
def test_step_under_jit_and_vmap_over_states(method):
  # One q_fn per state (a different centre per state), vmapped; jit and eager agree.
  centres = jnp.array([[0.0, 1.0], [2.0, -1.0], [0.5, 0.5]])
  clouds = jax.random.normal(jax.random.key(0), (3, 16, 2))

  def step(key, cloud, centre):
    return wpgjax.wpg_step(key, cloud, lambda a: -jnp.sum((a - centre) ** 2), step_size=0.1, tau=0.3,
                           method=method)

  keys = jax.random.split(jax.random.key(1), 3)
  eager = jax.vmap(step)(keys, clouds, centres)
  jitted = jax.jit(jax.vmap(step))(keys, clouds, centres)
  assert eager.shape == (3, 16, 2)
  np.testing.assert_allclose(eager, jitted, rtol=1e-5, atol=1e-6)
  single = step(keys[1], clouds[1], centres[1])
  np.testing.assert_allclose(eager[1], single, rtol=1e-5, atol=1e-6)


def test_hyperparameters_can_be_traced_leaves():
  x = jnp.zeros((8, 2))
  f = jax.jit(jax.vmap(lambda tau: wpgjax.wpg_step(jax.random.key(0), x, quadratic_q, step_size=0.1, tau=tau)))
  out = f(jnp.array([0.1, 1.0]))
  assert out.shape == (2, 8, 2) and float(out[1].std()) > float(out[0].std())


def test_flow_trajectory_and_float64():
  with jax.enable_x64(True):
    x = jnp.zeros((4, 2), jnp.float64)
    traj = particles.wpg_flow(jax.random.key(0), x, quadratic_q, step_size=0.1, tau=TAU, num_steps=5,
                              return_trajectory=True)
    assert traj.shape == (6, 4, 2) and traj.dtype == jnp.float64
    np.testing.assert_array_equal(traj[0], x)


@pytest.mark.parametrize("kwargs, message", [
    (dict(method="hmc"), r"method must be one of \['ula', 'tamed_ula', 'mala', 'svgd'\], got 'hmc'"),
    (dict(tau=0.0), r"tau must be finite and > 0, got 0.0"),
    (dict(tau=-1.0), r"tau must be finite and > 0"),
    (dict(step_size=0.0), r"step_size must be finite and > 0"),
    (dict(step_size=float("inf")), r"step_size must be finite and > 0"),
])
def test_bad_input_is_named(kwargs, message):
  args = dict(step_size=0.1, tau=0.5, method="ula")
  args.update(kwargs)
  with pytest.raises(ValueError, match=message):
    wpgjax.wpg_step(jax.random.key(0), jnp.zeros((4, 2)), quadratic_q, **args)


def test_particles_must_be_a_matrix():
  with pytest.raises(ValueError, match=r"particles must have shape \[num_particles, action_dim\] \(rank 2\)"):
    wpgjax.wpg_step(jax.random.key(0), jnp.zeros((4,)), quadratic_q, step_size=0.1, tau=0.5)
  with pytest.raises(ValueError, match=r"num_steps must be a non-negative int"):
    particles.wpg_flow(jax.random.key(0), jnp.zeros((4, 2)), quadratic_q, step_size=0.1, tau=0.5, num_steps=-1)
