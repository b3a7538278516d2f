"""Issue 8, item 2: for the tanh-Gaussian policy, the natural-gradient entropy-regularized WPO actor gradient
equals SAC's reparametrised actor gradient in expectation. In (μ, σ) natural WPO moves by (E[v], E[εv]) with
v = ∇Q_u − τ∇_u log π_u = ∇Q_u + τε/σ, SAC by (E[∇Q_u], E[ε∇Q_u] + τ/σ): per sample they differ by the zero-mean
noise (τε/σ, τ(ε² − 1)/σ), so they agree in expectation, and through θ by the chain rule. Plain WPO (no inverse
Fisher) does not.
"""

from __future__ import annotations

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

from wpgjax import core
from wpgjax.rl import agent, networks
from wpgjax.rl.config import TrainConfig, WPGConfig
from wpgjax.rl.policies import PolicyParams, PolicySamples, TanhGaussianPolicy

TAU = 0.3
MEAN = np.array([0.4, -0.7])
STD = np.array([0.6, 1.5])  # σ ≠ 1 on both axes, so plain WPO differs from SAC (negative control)
NUM_EPS = 200_000


@pytest.fixture(autouse=True, scope="module")
def _x64():
  with jax.enable_x64(True):
    yield


def _q(a):
  """A smooth, non-quadratic Q on [−1, 1]²: a Gaussian bump plus a linear term.  a [2] -> scalar."""
  centre = jnp.array([0.3, -0.2])
  return 2.0 * jnp.exp(-jnp.sum((a - centre) ** 2) / (2 * 0.3**2)) + jnp.dot(jnp.array([0.5, -0.8]), a)


def _sac_loss(mean, std, eps):
  """SAC's per-sample actor loss τ log π_a(a) − Q(a), a = tanh(μ + σε) (reparametrised in (μ, σ))."""
  u = mean + std * eps
  log_prob_a = networks.gaussian_log_prob(u, mean, std) - core.log_abs_det_jacobian(u)
  return TAU * log_prob_a - _q(jnp.tanh(u))


def _per_sample_updates(eps, natural_gradient, entropy_term="sampled"):
  """(g_WPO, g_SAC): per-sample update directions −∂loss/∂(μ, σ), each [N, 4] = [∂μ (2), ∂σ (2)].
  entropy_term "expected": the training code's closed-form entropy force (wpg.wpo_entropy_term)."""
  policy = TanhGaussianPolicy(action_size=2, hidden_sizes=(8,))
  mean, std = jnp.asarray(MEAN), jnp.asarray(STD)
  q_u = core.bounded_q_fn(_q, TAU, -1.0, 1.0)

  def wpo_loss(mean, std, e):
    # As in agent.actor_loss_one: the action is held fixed and ∇Q_u is taken there.
    u_fixed = jax.lax.stop_gradient(mean + std * e)
    grad_q = jax.lax.stop_gradient(jax.grad(q_u)(u_fixed))
    samples = PolicySamples(u_fixed[None], networks.gaussian_log_prob(u_fixed, mean, std)[None], mean, std)
    log_prob_fn = policy.wpo_log_prob_fn(samples, natural_gradient)
    if entropy_term == "expected":
      return core.wpo_loss(log_prob_fn, u_fixed[None], grad_q[None]) - TAU * policy.entropy_u(samples)
    return core.entropy_regularized_wpo_loss(log_prob_fn, u_fixed[None], grad_q[None], TAU)

  def updates(e):
    g_wpo = jax.grad(wpo_loss, argnums=(0, 1))(mean, std, e)
    g_sac = jax.grad(_sac_loss, argnums=(0, 1))(mean, std, e)
    return -jnp.concatenate(g_wpo), -jnp.concatenate(g_sac)

  g_wpo, g_sac = jax.jit(jax.vmap(updates))(eps)
  return np.asarray(g_wpo), np.asarray(g_sac)


def _paired_z(g_a, g_b):
  """|mean(g_a − g_b)| / SE per component, SE = std(g_a − g_b)/√N (paired samples), and std(g_a − g_b)."""
  diff = g_a - g_b
  se = diff.std(axis=0, ddof=1) / np.sqrt(diff.shape[0])
  return np.abs(diff.mean(axis=0)) / se, diff.std(axis=0, ddof=1), se


@pytest.fixture(scope="module")
def eps():
  return jax.random.normal(jax.random.key(0), (NUM_EPS, 2), dtype=jnp.float64)


def test_natural_wpo_equals_sac_in_expectation_in_mean_std(eps):
  g_wpo, g_sac = _per_sample_updates(eps, natural_gradient=True)
  assert g_wpo.dtype == np.float64
  z, diff_std, _ = _paired_z(g_wpo, g_sac)
  print("(μ, σ) level: max |mean diff|/SE =", z.max())
  assert np.all(z <= 4.0), z
  # The per-sample estimators really differ (WPO adds noise)...
  assert np.all(diff_std > 0.01), diff_std
  # ...by exactly (τε/σ, τ(ε² − 1)/σ) per sample (update convention g = −∂loss/∂(μ, σ)).
  e = np.asarray(eps)
  expected = np.concatenate([TAU * e / STD, TAU * (e**2 - 1.0) / STD], axis=-1)
  np.testing.assert_allclose(g_wpo - g_sac, expected, rtol=1e-8, atol=1e-12)
  # And the SAC update itself is (E[∇Q_u], E[ε∇Q_u] + τ/σ): a non-trivial target, not ≈ 0.
  assert np.linalg.norm(g_sac.mean(axis=0)) > 0.1


def test_expected_entropy_term_makes_natural_wpo_sac_sample_by_sample(eps):
  """wpg.wpo_entropy_term="expected": the zero-mean noise is gone, every per-sample update is SAC's."""
  g_wpo, g_sac = _per_sample_updates(eps[:1000], natural_gradient=True, entropy_term="expected")
  np.testing.assert_allclose(g_wpo, g_sac, rtol=1e-10, atol=1e-12)


def test_plain_wpo_differs_from_sac_in_expectation(eps):
  """Negative control: without the inverse Fisher, WPO's (μ, σ) update is (E[v]/σ², 2E[εv]/σ²) ≠ SAC's."""
  g_plain, g_sac = _per_sample_updates(eps, natural_gradient=False)
  z, _, _ = _paired_z(g_plain, g_sac)
  print("(μ, σ) level, plain WPO: max |mean diff|/SE =", z.max())
  assert z.max() > 10.0, z


# ----------------------------------------------------------------------------------------------------------------
# Through the network parameters θ, with the training code's WPO actor loss.
# ----------------------------------------------------------------------------------------------------------------

NUM_KEYS = 4096
SAMPLES_PER_KEY = 64  # 4096 × 64 ≈ 2.6e5 ε-draws


def _theta_gradients(natural_gradient, entropy_term="sampled", num_keys=NUM_KEYS):
  """Per-batch flattened θ-gradients [K, P] of the training code's WPO actor loss and of SAC's loss, on the same ε.

  The WPO loss is agent.actor_loss_one's body with ε drawn here (so it does not depend on how actor_loss_one
  splits its key or wraps its params): u = μ_θ + σ_θ ε, actions held fixed, ∇Q_u from agent.potential_fn on a
  random TwinQNetwork critic, inside agent.ACTOR_LOSSES["wpo"] (the policy family's wpo_log_prob_fn with
  config.wpg.natural_gradient, entropy regularized).
  """
  config = TrainConfig(policy="tanh_gaussian", hidden_sizes=(8,),
                       wpg=WPGConfig(natural_gradient=natural_gradient, wpo_entropy_term=entropy_term))
  assert config.wpg.projection == "wpo" and config.wpg.entropy_regularized
  nets = agent.make_networks(config, action_size=2)
  network = nets.policy.network
  observation = jnp.array([0.5, -1.0, 0.3])
  key_policy, key_critic = jax.random.split(jax.random.key(1))
  to64 = lambda tree: jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float64), tree)
  policy_params = to64(network.init(key_policy, observation))
  critic_params = to64(nets.critic.init(key_critic, observation, jnp.zeros(2)))
  q_fn = agent.critic_q_fn(nets, critic_params, observation)

  def reparametrised(params, e):
    mean, std = network.apply(params, observation)
    u = mean + std * e
    return PolicySamples(u, networks.gaussian_log_prob(u, mean, std), mean, std)

  def wpo_loss(params, e):
    samples = reparametrised(params, e)
    acting = PolicyParams(params, critic_params, jnp.float64(TAU), jnp.float64(0.2))
    # The training code's loss: it holds the actions fixed and takes ∇Q_u there (agent._action_gradient).
    return agent.ACTOR_LOSSES["wpo"](nets, acting, observation, samples, samples, 0.1, jax.random.key(0))

  def sac_loss(params, e):
    samples = reparametrised(params, e)
    log_prob_a = samples.log_prob_u - jax.vmap(core.log_abs_det_jacobian)(samples.u)
    return jnp.mean(TAU * log_prob_a - q_fn(jnp.tanh(samples.u)))

  def flat_grads(e):
    g_wpo = jax.flatten_util.ravel_pytree(jax.grad(wpo_loss)(policy_params, e))[0]
    g_sac = jax.flatten_util.ravel_pytree(jax.grad(sac_loss)(policy_params, e))[0]
    return g_wpo, g_sac

  eps = jax.random.normal(jax.random.key(2), (num_keys, SAMPLES_PER_KEY, 2), dtype=jnp.float64)
  g_wpo, g_sac = jax.jit(jax.vmap(flat_grads))(eps)
  _, std = network.apply(policy_params, observation)
  return np.asarray(g_wpo), np.asarray(g_sac), np.asarray(std)


def test_natural_wpo_equals_sac_in_expectation_through_network():
  g_wpo, g_sac, std = _theta_gradients(natural_gradient=True)
  assert g_wpo.dtype == np.float64 and g_wpo.shape[1] == 3 * 8 + 8 + 8 * 4 + 4
  z, diff_std, se = _paired_z(g_wpo, g_sac)
  ratio = np.linalg.norm(se) / np.linalg.norm(g_sac.mean(axis=0))
  print("θ level: max |mean diff|/SE =", z.max(), " ‖SE‖/‖E g_SAC‖ =", ratio, " σ(s) =", std)
  # Measured ‖SE‖/‖E g_SAC‖ ≈ 0.0037 (2.6e5 draws): a 4-SE tolerance is < 2% of the gradient's norm.
  assert ratio < 0.1
  assert np.all(z <= 4.0), z
  assert diff_std.max() > 0.01  # per key the two estimators still differ
  # Negative control through θ: plain WPO (σ(s) ≠ 1) is off by many standard errors.
  assert np.all(np.abs(std - 1.0) > 0.1), std
  g_plain, g_sac_again, _ = _theta_gradients(natural_gradient=False)
  np.testing.assert_array_equal(g_sac_again, g_sac)
  z_plain, _, _ = _paired_z(g_plain, g_sac)
  print("θ level, plain WPO: max |mean diff|/SE =", z_plain.max())
  assert z_plain.max() > 10.0, z_plain


def test_expected_entropy_term_is_sac_through_network_batch_by_batch():
  g_wpo, g_sac, _ = _theta_gradients(natural_gradient=True, entropy_term="expected", num_keys=64)
  np.testing.assert_allclose(g_wpo, g_sac, rtol=1e-9, atol=1e-12)
  assert np.abs(g_sac).max() > 1e-3


def test_expected_entropy_term_needs_natural_entropy_regularized_wpo():
  for wpg in (dict(natural_gradient=False), dict(entropy_regularized=False), dict(projection="wppg")):
    with pytest.raises(ValueError, match=r"wpg\.wpo_entropy_term.*'sampled' unless wpg\.projection='wpo'"):
      WPGConfig(wpo_entropy_term="expected", **wpg)
  with pytest.raises(ValueError, match=r"wpg\.wpo_entropy_term"):
    WPGConfig(wpo_entropy_term="exact")
