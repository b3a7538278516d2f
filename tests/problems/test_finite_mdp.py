"""T3 finite-state, continuous-action MDP: the identities of docs/theory.md §2 on the grid, exact-law and particle WPGD."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wpgjax.problems import finite_mdp as finite_mdp_lib
from wpgjax.problems.finite_mdp import FiniteMDP

STEP_SIZES = (0.2, 0.1, 0.05)
NUM_STEPS = 800  # one compilation shared by all step sizes


@pytest.fixture(autouse=True, scope="module")
def _x64():
  with jax.enable_x64(True):
    yield


@pytest.fixture(scope="module")
def mdp():
  return FiniteMDP.random(jax.random.PRNGKey(0), 3, tau=0.5, gamma=0.9)


@pytest.fixture(scope="module")
def initial_policy(mdp):
  return mdp.gaussian_log_policy(0.0, 1.0)


@pytest.fixture(scope="module")
def random_policies(mdp):
  return [mdp.random_log_policy(jax.random.PRNGKey(i)) for i in range(1, 5)]


@pytest.fixture(scope="module")
def exact_traces(mdp, initial_policy):
  return {eta: mdp.exact_wpgd(initial_policy, step_size=eta, num_steps=NUM_STEPS) for eta in STEP_SIZES}


def test_soft_value_iteration_reaches_a_fixed_point_of_t_star(mdp):
  optimal = mdp.optimum()
  value = np.asarray(optimal.value)
  assert float(optimal.residual) <= 1e-12
  assert np.max(np.abs(np.asarray(mdp.soft_bellman_optimality(optimal.value)) - value)) <= 1e-12
  # π* is the Gibbs policy of itself: its exact value is V*, its residual is 0.
  np.testing.assert_allclose(mdp.value(optimal.log_policy), value, rtol=0, atol=1e-10)
  assert np.max(np.abs(mdp.kl_residual(optimal.log_policy))) <= 1e-10
  assert abs(np.sum(np.exp(np.asarray(optimal.log_policy[0]))) * mdp.grid_spacing - 1) <= 1e-13


def test_model_derivatives_and_evaluation(mdp, random_policies):
  """∂_aQ (analytic, ∂p = p(w − Σpw)) against autodiff; V^π solves its Bellman equation."""
  value = mdp.optimal_value()
  actions = jnp.asarray(np.random.default_rng(0).normal(size=(3, 7)) * 2)
  # Q(s, a_sj) depends on a_sj only, so the gradient of the sum is the matrix of partial derivatives.
  autodiff = jax.grad(lambda a: jnp.sum(mdp.q_at(value, a)))(actions)
  np.testing.assert_allclose(mdp.q_grad_at(value, actions), autodiff, rtol=0, atol=1e-12)
  probs = np.asarray(mdp.transition_probs(actions))
  np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=0, atol=1e-14)
  for log_policy in random_policies[:2]:
    v = np.asarray(mdp.value(log_policy))
    bellman = np.asarray(mdp.policy_reward(log_policy)) + mdp.gamma * np.asarray(mdp.policy_transition(log_policy)) @ v
    np.testing.assert_allclose(v, bellman, rtol=0, atol=1e-12)


def test_statewise_kl_identity_for_random_policies(mdp, random_policies):
  for log_policy in random_policies:
    residual = np.asarray(mdp.bellman_residual(log_policy))  # T*V^π − V^π from values
    kl_residual = np.asarray(mdp.kl_residual(log_policy))  # τ KL(π‖p^π) by quadrature
    assert np.max(np.abs(residual - kl_residual)) <= 1e-10
    assert np.all(kl_residual > 1e-3)  # not trivially zero


def test_discrete_resolvent_identity_for_arbitrary_pairs(mdp, random_policies, initial_policy):
  pairs = list(zip(random_policies, random_policies[1:] + random_policies[:1])) + [(initial_policy,
                                                                                   random_policies[0])]
  for old, new in pairs:
    identity = mdp.resolvent_identity(old, new)
    lhs, rhs = np.asarray(identity.lhs), np.asarray(identity.rhs)
    assert np.max(np.abs(lhs - rhs)) <= 1e-10
    assert np.max(np.abs(lhs)) > 1e-2


def test_discrete_resolvent_identity_along_wpgd(mdp, initial_policy, exact_traces):
  trace = exact_traces[0.1]
  assert np.max(np.abs(np.asarray(trace.resolvent_lhs) - np.asarray(trace.improvement))) <= 1e-10
  # The same identity from the public method on two consecutive iterates.
  first, _ = mdp.wpgd_step(initial_policy, 0.1)
  identity = mdp.resolvent_identity(initial_policy, first)
  np.testing.assert_allclose(identity.lhs, identity.rhs, rtol=0, atol=1e-10)
  np.testing.assert_allclose(identity.rhs, trace.improvement[0], rtol=0, atol=1e-10)
  assert np.all(np.asarray(identity.rhs) > 0)  # far from the optimum, one step improves every state
  # The statewise KL identity along the iterates, and the edges of the grid lose (almost) nothing.
  np.testing.assert_allclose(trace.bellman_residual, trace.kl_residual, rtol=0, atol=1e-10)
  assert np.max(np.abs(np.asarray(trace.edge_mass_lost))) <= 1e-10


def test_bellman_contraction_inequality(mdp, random_policies, exact_traces):
  optimal_value = np.asarray(mdp.optimal_value())
  for log_policy in random_policies:
    residual = np.asarray(mdp.bellman_residual(log_policy))
    gap = optimal_value - np.asarray(mdp.value(log_policy))
    bound = gap - mdp.gamma * np.max(np.abs(gap))
    np.testing.assert_allclose(mdp.contraction_lower_bound(log_policy), bound, rtol=0, atol=1e-12)
    assert np.all(residual >= bound - 1e-12)
    assert np.max(residual) >= (1 - mdp.gamma) * np.max(np.abs(gap)) - 1e-12
  trace = exact_traces[0.1]
  gaps = optimal_value - np.asarray(trace.value)
  bounds = gaps - mdp.gamma * np.max(np.abs(gaps), axis=1, keepdims=True)
  assert np.all(np.asarray(trace.bellman_residual) >= bounds - 1e-12)


def _decay_rate(gap: np.ndarray, step_size: float) -> float:
  """Fitted exponential rate per unit time kη of the excess gap − floor while it falls from 1e-3 to 1e-9."""
  excess = gap - gap[-1]
  window = np.nonzero((excess < 1e-3) & (excess > 1e-9))[0]
  assert window.size > 10 and np.all(np.diff(window) == 1), "the excess gap must pass through [1e-9, 1e-3]"
  assert np.all(np.diff(excess[window[0]:window[-1] + 2]) < 0)  # strictly decreasing
  slope = np.polyfit(window * step_size, np.log(excess[window]), 1)[0]
  return -slope


def test_exact_wpgd_decays_geometrically_to_an_eta_squared_floor(exact_traces):
  floors, rates = [], []
  for eta in STEP_SIZES:
    gap = np.asarray(exact_traces[eta].gap)
    assert gap[0] > 1.0
    floor = gap[-1]
    # Plateau: flat over the last 100 iterates, and strictly positive (the discretization bias).
    assert floor > 1e-5 and np.max(np.abs(gap[-100:] - floor)) <= 1e-7 * floor
    floors.append(floor)
    rates.append(_decay_rate(gap, eta))
  floors, rates = np.array(floors), np.array(rates)
  # Geometric decay with a contraction factor exp(−c η) per step: the rate per unit time does not depend on η.
  assert np.all(rates > 0.1) and rates.max() / rates.min() < 1.5, rates
  # The floor shrinks at least linearly with η (docs/theory.md §3: O(η); here it is O(η²)).
  slack = 0.1
  assert np.all(floors[1:] <= 0.5 * floors[:-1] * (1 + slack)), floors
  slope = np.polyfit(np.log(STEP_SIZES), np.log(floors), 1)[0]
  assert slope >= 1.0, slope


def test_improvement_approaches_the_fisher_dissipation(mdp, exact_traces):
  """g_k / η → τ² I(π_k‖p^{π_k}) as η → 0 (the continuous resolvent identity), with an O(η) error."""
  deviations = []
  for eta in STEP_SIZES:
    trace = exact_traces[eta]
    ratio = np.asarray(trace.improvement[:5]) / (eta * mdp.tau**2 * np.asarray(trace.fisher_information[:5]))
    deviations.append(np.max(np.abs(ratio - 1)))
  deviations = np.array(deviations)
  assert deviations[-1] < 0.2 and np.all(deviations[1:] <= 0.65 * deviations[:-1]), deviations


def test_particle_wpgd_approaches_the_exact_law(mdp, initial_policy, exact_traces):
  """Particle WPGD (core ULA steps on the exact Q of the particles' KDE) vs the exact law, for N = 100 and 3000."""
  num_steps, eta = 20, 0.1
  exact_values = np.asarray(exact_traces[eta].value[:num_steps + 1])
  exact_policy = initial_policy
  for _ in range(num_steps):
    exact_policy, _ = mdp.wpgd_step(exact_policy, eta)
  errors = {}
  for seed in range(2):
    pool = mdp.sample_policy(jax.random.PRNGKey(seed), initial_policy, 3000)
    for num_particles in (100, 3000):
      trace = mdp.particle_wpgd(jax.random.PRNGKey(100 + seed), pool[:, :num_particles], step_size=eta,
                                num_steps=num_steps)
      assert trace.value.shape == (num_steps + 1, 3) and trace.particles.shape == (3, num_particles)
      value_error = np.max(np.abs(np.asarray(trace.value) - exact_values))
      policy_error = np.max(np.asarray(mdp.tv_distance(trace.policy[-1], exact_policy)))
      errors.setdefault(num_particles, []).append((value_error, policy_error))
  small, large = np.mean(errors[100], axis=0), np.mean(errors[3000], axis=0)
  assert np.all(large < 0.5 * small), errors
  assert large[0] < 0.1 and large[1] < 0.05, errors


def test_finite_mdp_rejects_bad_input(mdp, initial_policy):
  n = 3
  good = dict(reward_amplitude=np.ones(n), reward_phase=np.zeros(n), transition_weight=np.zeros((n, n)),
              transition_bias=np.zeros((n, n)))
  with pytest.raises(ValueError, match="reward_phase must have shape"):
    FiniteMDP(**{**good, "reward_phase": np.zeros(n + 1)}, tau=0.5, gamma=0.9)
  with pytest.raises(ValueError, match="transition_weight must have shape"):
    FiniteMDP(**{**good, "transition_weight": np.zeros((n, n + 1))}, tau=0.5, gamma=0.9)
  with pytest.raises(ValueError, match="transition_bias must have shape"):
    FiniteMDP(**{**good, "transition_bias": np.zeros(n)}, tau=0.5, gamma=0.9)
  with pytest.raises(ValueError, match="tau"):
    FiniteMDP(**good, tau=0.0, gamma=0.9)
  for gamma in (0.0, 1.0, -0.3):
    with pytest.raises(ValueError, match="gamma"):
      FiniteMDP(**good, tau=0.5, gamma=gamma)
  with pytest.raises(ValueError, match="beta"):
    FiniteMDP(**good, tau=0.5, gamma=0.9, beta=0.0)
  with pytest.raises(ValueError, match="grid_size"):
    FiniteMDP(**good, tau=0.5, gamma=0.9, grid_size=1)
  with pytest.raises(ValueError, match="num_states"):
    FiniteMDP.random(jax.random.PRNGKey(0), 0)
  with pytest.raises(ValueError, match=r"step_size \* beta < 2"):
    mdp.exact_wpgd(initial_policy, step_size=2.0, num_steps=1)
  with pytest.raises(ValueError, match="too small for the grid"):
    mdp.wpgd_step(initial_policy, 1e-4)
  with pytest.raises(ValueError, match="step_size"):
    mdp.particle_wpgd(jax.random.PRNGKey(0), jnp.zeros((n, 8)), step_size=-0.1, num_steps=1, method="mala")
  with pytest.raises(ValueError, match="log_policy must have shape"):
    mdp.value(initial_policy[:, :-1])
  with pytest.raises(ValueError, match="new_log_policy must have shape"):
    mdp.resolvent_identity(initial_policy, initial_policy[:2])
  with pytest.raises(ValueError, match="value must have shape"):
    mdp.soft_bellman_optimality(jnp.zeros(n + 1))
  with pytest.raises(ValueError, match="particles must have shape"):
    mdp.particle_wpgd(jax.random.PRNGKey(0), jnp.zeros((n + 1, 8)), step_size=0.1, num_steps=1)
  with pytest.raises(ValueError, match="method"):
    mdp.particle_wpgd(jax.random.PRNGKey(0), jnp.zeros((n, 8)), step_size=0.1, num_steps=1, method="euler")
  with pytest.raises(ValueError, match="num_steps"):
    mdp.exact_wpgd(initial_policy, step_size=0.1, num_steps=2.5)
  with pytest.raises(ValueError, match="state must be"):
    mdp.q_function(n, jnp.zeros(n))
  assert set(finite_mdp_lib.__all__) <= set(dir(finite_mdp_lib))
