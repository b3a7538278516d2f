"""The particle policy: the executed law is the proposal moved by K WPG steps, and every consumer uses that law.

- the critic's soft target is E[Q̄] + τĤ of the executed (refined) cloud, computed by the family itself;
- the actor's update ascends that same functional (estimated by the critic's own `next_value`);
- `make_policy(config)(policy_params(state))` draws from the executed law, refined on the critic;
- the proposal's fit to the refined cloud, with or without its own score as a control variate, has the
  maximum-likelihood gradient in expectation, and the control variate takes the proposal's noise out of it;
- the config rejects combinations whose actor carries no entropy force or whose critic evaluates another law;
- on the fast env it learns with τ tuned toward the target entropy.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from wpgjax import core
from wpgjax.rl import TrainConfig, WPGConfig, agent, make_policy, make_train, presets, with_overrides
from wpgjax.rl.normalization import init_statistics
from wpgjax.rl.policies import ParticlePolicy, PolicyParams, PolicySamples
from wpgjax.rl.policies.particle import amortized_wpgd_loss
from wpgjax.rl.train import policy_params

OBS = jnp.array([0.3, -0.2, 0.5])
TAU = 0.2


@pytest.fixture(scope="module")
def particle_setup():
  config = TrainConfig(env="fast", policy="particle", hidden_sizes=(32, 32), latent_size=2,
                       wpg=WPGConfig(projection="amortized", num_action_samples=16, refine_steps=3,
                                     refine_step_size=0.05))
  nets = agent.make_networks(config, action_size=2)
  proposal = nets.policy.init(jax.random.key(0), OBS)
  critic = _fit_critic(nets, nets.critic.init(jax.random.key(1), OBS, jnp.zeros((2,))))
  params = PolicyParams(proposal, critic, jnp.float32(TAU), jnp.float32(0.05))
  return config, nets, params


def _fit_critic(nets, critic):
  """Twin Q networks fitted at OBS to Q(a) = −2‖a − (0.5, −0.5)‖², whose Gibbs law is far from the initial
  proposal (centred near a = 0)."""
  actions = jax.random.uniform(jax.random.key(7), (512, 2), minval=-1.0, maxval=1.0)
  target = -2.0 * jnp.sum((actions - jnp.array([0.5, -0.5])) ** 2, axis=-1)
  opt = optax.adam(1e-2)
  loss = lambda c: jnp.mean((nets.critic.apply(c, jnp.broadcast_to(OBS, (512, 3)), actions) - target[:, None]) ** 2)

  def step(carry, _):
    c, s = carry
    updates, s = opt.update(jax.grad(loss)(c), s)
    return (optax.apply_updates(c, updates), s), None

  (critic, _), _ = jax.lax.scan(step, (critic, opt.init(critic)), None, length=1500)
  assert float(loss(critic)) < 0.01
  return critic


def test_next_value_is_mean_q_plus_tau_entropy_of_the_refined_cloud(particle_setup):
  config, nets, params = particle_setup
  family, key = nets.policy, jax.random.key(2)
  q_fn = agent.critic_q_fn(nets, params.critic, OBS)
  value, samples = family.next_value(params, OBS, key, q_fn, TAU)
  cloud = family.sample(params, OBS, key, config.wpg.num_action_samples).u
  np.testing.assert_array_equal(samples.u, cloud)
  proposal = family.propose(params, OBS, jax.random.split(key)[0], config.wpg.num_action_samples).u
  assert not np.allclose(cloud, proposal)  # the executed law is refined, not the proposal
  log_jac = jax.vmap(core.log_abs_det_jacobian)(cloud)
  expected = jnp.mean(q_fn(jnp.tanh(cloud))) + TAU * (core.knn_entropy(cloud) + jnp.mean(log_jac))
  np.testing.assert_allclose(value, expected, rtol=1e-6)


def _soft_values(nets, params, keys):
  """F(π) = E[Q] + τH of the executed law, as the critic's target computes it, one estimate per key."""
  q_fn = agent.critic_q_fn(nets, params.critic, OBS)
  return np.asarray(jax.vmap(lambda k: nets.policy.next_value(params, OBS, k, q_fn, params.tau)[0])(keys))


def test_actor_updates_ascend_the_functional_the_critic_evaluates(particle_setup):
  config, nets, params = particle_setup
  opt = optax.adam(3e-3)

  def step(carry, key):
    policy, opt_state = carry
    loss_fn = lambda p: agent.actor_loss_one(nets, params.replace(policy=p), OBS, key, 0.1)[0]
    updates, opt_state = opt.update(jax.grad(loss_fn)(policy), opt_state)
    return (optax.apply_updates(policy, updates), opt_state), None

  keys = jax.random.split(jax.random.key(3), 300)
  (trained, _), _ = jax.jit(lambda p: jax.lax.scan(step, (p, opt.init(p)), keys))(params.policy)
  eval_keys = jax.random.split(jax.random.key(4), 400)  # common random numbers: a paired comparison
  gain = _soft_values(nets, params.replace(policy=trained), eval_keys) - _soft_values(nets, params, eval_keys)
  assert gain.mean() > 4 * gain.std() / np.sqrt(gain.size), (gain.mean(), gain.std())


def test_the_actor_fit_on_the_target_cloud_is_the_fit_on_its_own_draws(particle_setup):
  """The trainer fits the proposal at s' to the cloud the critic's target drew there with the same key
  (`shares_target_cloud`): loss, gradient and entropy equal those of drawing the executed law afresh."""
  config, nets, params = particle_setup
  assert nets.policy.shares_target_cloud
  key = jax.random.key(6)
  q_fn = agent.critic_q_fn(nets, params.critic, OBS)
  _, target_cloud = nets.policy.next_value(params, OBS, key, q_fn, TAU)

  def loss_and_entropy(policy, executed):
    return agent.actor_loss_one(nets, params.replace(policy=policy), OBS, key, 0.1, executed)

  (own_loss, own_entropy), own_grad = jax.value_and_grad(loss_and_entropy, has_aux=True)(params.policy, None)
  (shared_loss, shared_entropy), shared_grad = jax.value_and_grad(loss_and_entropy, has_aux=True)(
      params.policy, target_cloud)
  np.testing.assert_allclose(shared_loss, own_loss, rtol=1e-6)
  np.testing.assert_allclose(shared_entropy, own_entropy, rtol=1e-6)
  for a, b in zip(jax.tree.leaves(shared_grad), jax.tree.leaves(own_grad)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  other = nets.policy.sample(params, OBS, jax.random.key(7), config.wpg.num_action_samples)
  assert not np.allclose(loss_and_entropy(params.policy, other)[0], own_loss)  # the cloud is what is fitted


def test_make_policy_draws_the_executed_law_refined_on_the_critic(particle_setup):
  config, nets, params = particle_setup
  obs = jnp.broadcast_to(OBS, (5, 3))
  stats = init_statistics(3)
  act = make_policy(dataclasses.replace(config, normalize_observations=False), action_size=2)
  actions, _ = act((stats, params))(obs, jax.random.key(5))
  keys = jax.random.split(jax.random.key(5), 5)
  expected = jax.vmap(lambda o, k: jnp.tanh(nets.policy.sample(params, o, k, 1).u[0]))(obs, keys)
  np.testing.assert_array_equal(actions, expected)
  other_critic = params.replace(critic=jax.tree.map(lambda x: 2.0 * x, params.critic))
  moved, _ = act((stats, other_critic))(obs, jax.random.key(5))
  assert not np.allclose(moved, actions)  # the critic is part of the policy
  with pytest.raises(ValueError, match=r"policy 'particle' acts on the critic too: pass wpgjax.policy_params"):
    act((stats, params.policy))


def _fit_gradients(control_variate, num_draws, eta=0.05, tau=0.1, curvature=2.0, optimum=1.0, m=-0.5, log_std=0.0):
  """Per-draw gradients in (m, log σ) of the fit of N(m, σ²) to one ULA step on Q(u) = −c(u − a)²/2 from its
  draw u_0 = m + σε: u_K = u_0 − ηc(u_0 − a) + √(2τη)ξ.  -> [num_draws, 2]."""
  eps, xi = jax.random.normal(jax.random.key(11), (2, num_draws))

  def loss(theta, e, x):
    mean, std = theta[0], jnp.exp(theta[1])
    u0 = mean + std * e
    u_k = u0 - eta * curvature * (u0 - optimum) + jnp.sqrt(2 * tau * eta) * x
    samples = PolicySamples(u0.reshape(1, 1), jnp.zeros(1), mean.reshape(1, 1), std.reshape(1, 1))
    return amortized_wpgd_loss(samples, u_k.reshape(1, 1), control_variate)

  return jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))(jnp.array([m, log_std]), eps, xi)


def test_the_control_variate_keeps_the_fits_expected_gradient_and_removes_the_proposals_noise():
  """Exact expectation for a quadratic critic: E[u_K] = m − ηc(m − a) and E[(u_K − m)²] = (1 − ηc)²σ² + 2τη +
  (ηc(m − a))², so the fit's expected gradient is (ηc(m − a)/σ², 1 − E[(u_K − m)²]/σ²). Both estimators agree with
  it within 4 standard errors. The mean's gradient is −(σε + δ)/σ² without the control variate and −δ/σ² with it
  (δ = u_K − u_0), so its standard deviation falls by the exact factor √(((1 − ηc)²σ² + 2τη) / ((ηc)²σ² + 2τη))
  (6.4 here); log σ's falls too."""
  eta, tau, c, a, m, sigma = 0.05, 0.1, 2.0, 1.0, -0.5, 1.0
  second_moment = (1 - eta * c) ** 2 * sigma ** 2 + 2 * tau * eta + (eta * c * (m - a)) ** 2
  expected = np.array([eta * c * (m - a) / sigma ** 2, 1.0 - second_moment / sigma ** 2])
  num_draws = 200_000
  standard_errors = {}
  for control_variate in (0.0, 1.0, 0.5):
    grads = np.asarray(_fit_gradients(control_variate, num_draws), np.float64)
    standard_error = grads.std(axis=0) / np.sqrt(num_draws)
    np.testing.assert_array_less(np.abs(grads.mean(axis=0) - expected), 4 * standard_error)
    standard_errors[control_variate] = standard_error
  exact_ratio = np.sqrt(((1 - eta * c) ** 2 * sigma ** 2 + 2 * tau * eta) / ((eta * c * sigma) ** 2 + 2 * tau * eta))
  np.testing.assert_allclose(standard_errors[0.0][0] / standard_errors[1.0][0], exact_ratio, rtol=0.02)
  assert standard_errors[0.0][1] > 2 * standard_errors[1.0][1], standard_errors


def test_with_the_control_variate_an_unmoved_cloud_gives_no_gradient():
  """δ = u_K − u_0 = 0: with β = 1 the fit's gradient is exactly zero; the plain fit's (β = 0) is the score of
  the draws, which is not."""
  samples_fn = lambda theta: PolicySamples(theta[0] + jnp.exp(theta[1]) * jnp.array([[0.7], [-1.3]]), jnp.zeros(2),
                                           jnp.full((2, 1), theta[0]), jnp.full((2, 1), jnp.exp(theta[1])))
  theta = jnp.array([0.2, -0.4])
  unmoved = jax.lax.stop_gradient(samples_fn(theta).u)
  grad_cv = jax.grad(lambda t: amortized_wpgd_loss(samples_fn(t), unmoved, 1.0))(theta)
  grad_plain = jax.grad(lambda t: amortized_wpgd_loss(samples_fn(t), unmoved, 0.0))(theta)
  np.testing.assert_array_equal(grad_cv, np.zeros(2))
  assert np.all(np.abs(grad_plain) > 0.05), grad_plain


@pytest.mark.parametrize("kwargs, message", [
    (dict(policy="particle", wpg=WPGConfig(projection="wpo", num_action_samples=8)),
     r"TrainConfig.wpg.projection must be 'amortized' when policy is 'particle' \(WPO needs a policy density\)"),
    (dict(policy="particle", wpg=WPGConfig(projection="amortized", num_action_samples=8, refine_steps=0)),
     r"TrainConfig.wpg.refine_steps must be an int >= 1 or None when policy is 'particle'"),
    (dict(policy="particle", wpg=WPGConfig(projection="amortized", num_action_samples=1)),
     r"TrainConfig.wpg.num_action_samples must be an int >= 2 when policy is 'particle'"),
    (dict(policy="tanh_gaussian", wpg=WPGConfig(refine_steps=2)),
     r"TrainConfig.wpg.refine_steps must be 0 or None when policy is 'tanh_gaussian' \(its critic evaluates"),
    (dict(policy="tanh_gaussian", wpg=WPGConfig(projection="amortized")),
     r"TrainConfig.wpg.projection must be 'wpo' or 'wppg' when policy is 'tanh_gaussian'"),
])
def test_inconsistent_particle_configs_are_rejected(kwargs, message):
  with pytest.raises(ValueError, match=message):
    TrainConfig(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(projection="amortized", amortized_control_variate=1.5),
     r"TrainConfig.wpg.amortized_control_variate must be in \[0, 1\], got 1.5"),
    (dict(projection="amortized", amortized_control_variate=True),
     r"TrainConfig.wpg.amortized_control_variate must be in \[0, 1\], got True"),
])
def test_bad_control_variate_weights_are_rejected(kwargs, message):
  with pytest.raises(ValueError, match=message):
    WPGConfig(**kwargs)


@pytest.mark.parametrize("tune_tau", [True, False])
def test_langevin_direction_matching_is_rejected_it_carries_no_entropy(tune_tau):
  with pytest.raises(ValueError, match=r"TrainConfig.wpg.wppg_move must be 'svgd' \('langevin' regresses onto"):
    TrainConfig(policy="pushforward", tune_tau=tune_tau,
                wpg=WPGConfig(projection="wppg", num_action_samples=8, wppg_move="langevin"))


def test_the_particle_policy_acts_on_the_training_critic_layer_norm_included():
  config = presets("fast", policy="particle", hidden_sizes=(16,), critic_layer_norm=True)
  nets = agent.make_networks(config, action_size=2)
  critic = nets.critic.init(jax.random.key(0), OBS, jnp.zeros((2,)))
  assert "layer_norm_0" in critic["params"]["q_0"]
  action = jnp.array([0.1, -0.4])
  np.testing.assert_array_equal(nets.policy.critic.apply(critic, OBS, action), nets.critic.apply(critic, OBS, action))


def test_presets_switch_the_family_defaults_with_the_policy():
  config = presets("fast", policy="particle")
  assert config.wpg.projection == "amortized" and config.refine_steps == ParticlePolicy.default_refine_steps >= 1
  assert presets("fast", policy="particle", **{"wpg.refine_steps": 4}).refine_steps == 4
  family_m = ParticlePolicy.config_defaults["wpg.num_action_samples"]
  assert config.wpg.num_action_samples == presets("halfcheetah", policy="particle").wpg.num_action_samples == family_m
  # The env's own particle settings come with the switch, by keyword or from a command line, under overrides.
  assert presets("inverted_double_pendulum", policy="particle").wpg.num_action_samples == 2 != family_m
  # inverted_double_pendulum: the Gaussian agent decays 6e-3 to a tenth; the particle agent keeps the constant 3e-3
  # it was measured with, and its own estimator
  idp, particle_idp = presets("inverted_double_pendulum"), presets("inverted_double_pendulum", policy="particle")
  assert (idp.actor_learning_rate, idp.critic_learning_rate, idp.final_learning_rate_fraction,
          idp.wpg.wpo_entropy_term) == (6e-3, 6e-3, 0.1, "expected")
  assert (particle_idp.actor_learning_rate, particle_idp.critic_learning_rate,
          particle_idp.final_learning_rate_fraction) == (3e-3, 3e-3, 1.0)
  assert (particle_idp.wpg.projection, particle_idp.wpg.wpo_entropy_term) == ("amortized", "sampled")
  assert with_overrides(presets("reacher"), {"policy": "particle"}).wpg.num_action_samples == 2
  # the fit's control variate: the family's default, off where the classic presets measured the plain fit
  for env in ("dm_control/PointMass", "halfcheetah"):
    assert presets(env, policy="particle").wpg.amortized_control_variate == 1.0, env
  for env in ("inverted_pendulum", "inverted_double_pendulum", "reacher", "multimodal_bandit"):
    assert presets(env, policy="particle").wpg.amortized_control_variate == 0.0, env
  assert presets("reacher", policy="particle", **{"wpg.num_action_samples": 6}).wpg.num_action_samples == 6
  # reacher's particle agent keeps the recipe it was measured with, not the Gaussian preset's SAC recipe
  particle_reacher = presets("reacher", policy="particle")
  assert (particle_reacher.grad_updates_per_step, particle_reacher.hidden_sizes, particle_reacher.tau,
          particle_reacher.target_entropy) == (8, (128, 128), 0.1, None)
  assert (presets("reacher").grad_updates_per_step, presets("reacher").hidden_sizes) == (16, (256, 256))
  # halfcheetah's particle agent runs the Gaussian preset as it is, with the family's own sampling settings
  particle_cheetah, gaussian_cheetah = presets("halfcheetah", policy="particle"), presets("halfcheetah")
  def differing(a, b):
    return {f.name for f in dataclasses.fields(a) if getattr(a, f.name) != getattr(b, f.name)}
  assert differing(particle_cheetah, gaussian_cheetah) == {"policy", "wpg"}
  assert differing(particle_cheetah.wpg, gaussian_cheetah.wpg) == {"projection", "num_action_samples",
                                                                   "wpo_entropy_term"}
  assert (particle_cheetah.backend, particle_cheetah.num_envs, particle_cheetah.hidden_sizes,
          particle_cheetah.grad_updates_per_step, particle_cheetah.tau,
          particle_cheetah.wpg.wpo_entropy_term) == ("generalized", 16, (64, 64), 16, 1.0, "sampled")
  assert (gaussian_cheetah.backend, gaussian_cheetah.num_envs, gaussian_cheetah.hidden_sizes,
          gaussian_cheetah.grad_updates_per_step, gaussian_cheetah.tau,
          gaussian_cheetah.wpg.wpo_entropy_term) == ("generalized", 16, (64, 64), 16, 1.0, "expected")
  # a suite's entry ("dm_control/") covers its every task: Playground's LayerNorm critic, which the Gaussian drops
  for env in ("dm_control/PointMass", "dm_control/WalkerRun"):
    assert presets(env, policy="particle").critic_layer_norm and not presets(env).critic_layer_norm, env


@pytest.fixture(scope="module")
def fast_particle_run():
  config = presets("fast", policy="particle", num_evals=2)
  state, metrics = jax.jit(make_train(config))(jax.random.key(0))
  return config, state, metrics


def test_particle_agent_learns_fast_env_with_tau_tuned(fast_particle_run):
  config, state, metrics = fast_particle_run
  assert config.tune_tau
  final = float(metrics["eval/episode_reward"][-1])
  assert final > 0.85 * 143.1, final  # FAST_MAX_RETURN in test_train.py
  tau = np.asarray(metrics["training/tau"])
  assert np.all(np.isfinite(tau)) and tau[-1] != pytest.approx(config.tau)
  for name in ("training/entropy", "wpg/ksd", "training/critic_loss"):
    assert np.all(np.isfinite(np.asarray(metrics[name]))), name
  # No density: the KL residual and the Fisher information are not estimated (not logged as 0).
  assert "wpg/kl_residual" not in metrics and "wpg/fisher" not in metrics
  obs_stats, acting = policy_params(state)
  assert isinstance(acting, PolicyParams) and float(acting.tau) == pytest.approx(float(tau[-1]))
