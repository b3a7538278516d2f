"""Gradient tests for wpgjax.core.projections: WPO, entropy-regularized WPO, natural gradient, WPPG.

Setting: a diagonal Gaussian policy π_θ = N(μ, diag σ²), θ = (μ, σ), and a quadratic soft Q(a) = −½ Σ h_i (a_i − m_i)²,
so ∇_aQ(a) = −h ⊙ (a − m), ∇_a log π_θ(a) = −(a − μ)/σ², and every gradient has a per-sample closed form.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wpgjax.core import projections as proj

H = np.array([2.0, 0.5])
M = np.array([0.3, -1.0])
MU = np.array([0.1, 0.4])
SIGMA = np.array([0.8, 1.3])


def _log_prob(params, action):
  mean, std = params
  z = (action - mean) / std
  return jnp.sum(-0.5 * z * z - jnp.log(std) - 0.5 * math.log(2 * math.pi))


def _natural_log_prob(params, action):
  return _log_prob(proj.natural_gradient_gaussian(*params), action)


def _q_gradient(actions):
  return -H * (actions - M)


def _samples(n=16, seed=0, mu=MU, sigma=SIGMA):
  z = np.random.default_rng(seed).normal(size=(n, 2))
  return mu + sigma * z, z


@jax.jit
def _wpo_grads(params, actions, action_gradient):
  return jax.grad(lambda p: proj.wpo_loss(lambda a: _log_prob(p, a), actions, action_gradient))(params)


@jax.jit
def _natural_wpo_grads(params, actions, action_gradient):
  return jax.grad(lambda p: proj.wpo_loss(lambda a: _natural_log_prob(p, a), actions, action_gradient))(params)


@jax.jit
def _soft_wpo_grads(params, actions, action_gradient, tau):
  return jax.grad(lambda p: proj.entropy_regularized_wpo_loss(lambda a: _log_prob(p, a), actions, action_gradient,
                                                               tau))(params)


@jax.jit
def _wppg_grads(params, z, action_gradient, noise, step_size, tau):
  def loss(p):
    actions = p[0] + p[1] * z  # pushforward g_θ(z) = μ + σ z
    return proj.wppg_loss(actions, action_gradient, step_size=step_size, tau=tau, noise=noise)

  return jax.value_and_grad(loss)(params)


# ------------------------------------------------------------------------------------------------------- WPO


def test_action_score_is_the_gaussian_score_and_blocks_action_gradients():
  with jax.enable_x64(True):
    actions, _ = _samples(5)
    params = (jnp.asarray(MU), jnp.asarray(SIGMA))
    score = proj.action_score(lambda a: _log_prob(params, a), jnp.asarray(actions))
    np.testing.assert_allclose(score, -(actions - MU) / SIGMA**2, rtol=1e-12)
    # The actions are held fixed: no gradient flows back into them.
    grad_actions = jax.grad(lambda x: proj.wpo_loss(lambda a: _log_prob(params, a), x, jnp.ones_like(x)))(
        jnp.asarray(actions))
    np.testing.assert_array_equal(grad_actions, 0.0)


def test_wpo_gradient_matches_closed_form():
  # L = −(1/N) Σ_i ⟨−(a_i − μ)/σ², g_i⟩  ⇒  ∂L/∂μ = −(1/N) Σ g_i/σ²,  ∂L/∂σ = −(1/N) Σ 2 (a_i − μ) g_i / σ³.
  with jax.enable_x64(True):
    actions, _ = _samples()
    g = _q_gradient(actions)
    grad_mu, grad_sigma = _wpo_grads((jnp.asarray(MU), jnp.asarray(SIGMA)), jnp.asarray(actions), jnp.asarray(g))
    np.testing.assert_allclose(grad_mu, -np.mean(g, 0) / SIGMA**2, rtol=1e-12)
    np.testing.assert_allclose(grad_sigma, -np.mean(2 * (actions - MU) * g, 0) / SIGMA**3, rtol=1e-12)
    # In expectation over a ∼ π: −∂L/∂μ = E[∇_aQ]/σ² = −h(μ − m)/σ² (the WPG mean velocity over σ²).
    many, _ = _samples(n=20000, seed=1)
    grad_mu_many, _ = _wpo_grads((jnp.asarray(MU), jnp.asarray(SIGMA)), jnp.asarray(many),
                                 jnp.asarray(_q_gradient(many)))
    # Per-coordinate Monte Carlo standard error h/(σ sqrt N) ≤ 0.018; tolerance 0.08 (> 4 standard errors).
    np.testing.assert_allclose(-grad_mu_many, -H * (MU - M) / SIGMA**2, atol=0.08)


def test_natural_gradient_reparametrisation_scales_by_inverse_fisher():
  with jax.enable_x64(True):
    mean, std = jnp.asarray(MU), jnp.asarray(SIGMA)
    new_mean, new_std = proj.natural_gradient_gaussian(mean, std)
    np.testing.assert_allclose(new_mean, MU, rtol=1e-15)
    np.testing.assert_allclose(new_std, SIGMA, rtol=1e-15)
    actions, _ = _samples()
    g = jnp.asarray(_q_gradient(actions))
    plain_mu, plain_sigma = _wpo_grads((mean, std), jnp.asarray(actions), g)
    nat_mu, nat_sigma = _natural_wpo_grads((mean, std), jnp.asarray(actions), g)
    np.testing.assert_allclose(nat_mu, SIGMA**2 * plain_mu, rtol=1e-12)
    np.testing.assert_allclose(nat_sigma, SIGMA**2 / 2 * plain_sigma, rtol=1e-12)
    # Natural WPO mean step is −mean_i ∇_aQ(a_i): the particle velocity itself, independent of σ.
    np.testing.assert_allclose(nat_mu, -np.mean(np.asarray(g), 0), rtol=1e-12)


def test_natural_gradient_equals_inverse_fisher_times_gradient_of_any_function():
  # For f(mean', std') the gradient w.r.t. (μ, σ) is F^{-1} ∇f with F^{-1} = diag(σ², σ²/2).
  def f(mean, std):
    return jnp.sum(jnp.sin(mean) * std**3)

  mean, std = jnp.array([0.3, -0.2]), jnp.array([0.5, 2.0])
  plain = jax.grad(f, argnums=(0, 1))(mean, std)
  natural = jax.grad(lambda m, s: f(*proj.natural_gradient_gaussian(m, s)), argnums=(0, 1))(mean, std)
  np.testing.assert_allclose(natural[0], std**2 * plain[0], rtol=1e-6)
  np.testing.assert_allclose(natural[1], std**2 / 2 * plain[1], rtol=1e-6)
  # A shared (state-independent) std broadcasts against per-state means; its gradient sums over states.
  means = jnp.array([[0.3, -0.2], [1.0, 0.5], [-0.4, 0.0]])
  plain = jax.grad(f, argnums=(0, 1))(means, std)
  natural = jax.grad(lambda m, s: f(*proj.natural_gradient_gaussian(m, s)), argnums=(0, 1))(means, std)
  np.testing.assert_allclose(natural[0], std**2 * plain[0], rtol=1e-6)
  np.testing.assert_allclose(natural[1], std**2 / 2 * plain[1], rtol=1e-6)


def test_entropy_regularized_wpo_gradient_is_zero_at_the_gibbs_policy():
  # p ∝ exp(Q/τ) = N(m, τ/h): with π_θ = p, ∇_aQ − τ∇_a log π_θ = 0 for every sample.
  with jax.enable_x64(True):
    tau = 0.3
    sigma_star = np.sqrt(tau / H)
    actions, _ = _samples(mu=M, sigma=sigma_star)
    grad_mu, grad_sigma = _soft_wpo_grads((jnp.asarray(M), jnp.asarray(sigma_star)), jnp.asarray(actions),
                                          jnp.asarray(_q_gradient(actions)), tau)
    np.testing.assert_allclose(grad_mu, 0.0, atol=1e-12)
    np.testing.assert_allclose(grad_sigma, 0.0, atol=1e-12)


def test_entropy_regularized_wpo_gradient_matches_closed_form():
  # Direction v_i = g_i − τ s_i with s_i = −(a_i − μ)/σ² held fixed.
  with jax.enable_x64(True):
    tau = 0.3
    actions, _ = _samples()
    g = _q_gradient(actions)
    v = g + tau * (actions - MU) / SIGMA**2
    grad_mu, grad_sigma = _soft_wpo_grads((jnp.asarray(MU), jnp.asarray(SIGMA)), jnp.asarray(actions),
                                          jnp.asarray(g), tau)
    np.testing.assert_allclose(grad_mu, -np.mean(v, 0) / SIGMA**2, rtol=1e-12)
    np.testing.assert_allclose(grad_sigma, -np.mean(2 * (actions - MU) * v, 0) / SIGMA**3, rtol=1e-12)


# ------------------------------------------------------------------------------------------------------ WPPG


def test_wppg_gradient_is_minus_twice_the_mean_particle_move():
  # a_i = μ + σ z_i: ∂L/∂μ = −2 mean_i δ_i, ∂L/∂σ = −2 mean_i δ_i z_i, δ_i = η ∇Q(a_i) + sqrt(2τη) ε_i.
  with jax.enable_x64(True):
    eta, tau = 0.1, 0.4
    actions, z = _samples()
    g = _q_gradient(actions)
    noise = np.random.default_rng(3).normal(size=actions.shape)
    delta = eta * g + math.sqrt(2 * tau * eta) * noise
    value, (grad_mu, grad_sigma) = _wppg_grads((jnp.asarray(MU), jnp.asarray(SIGMA)), jnp.asarray(z),
                                               jnp.asarray(g), jnp.asarray(noise), eta, tau)
    np.testing.assert_allclose(value, np.mean(np.sum(delta**2, -1)), rtol=1e-12)
    np.testing.assert_allclose(grad_mu, -2 * np.mean(delta, 0), rtol=1e-12)
    np.testing.assert_allclose(grad_sigma, -2 * np.mean(delta * z, 0), rtol=1e-12)


def test_wppg_key_draws_standard_normal_noise():
  key = jax.random.key(11)
  actions, _ = _samples()
  actions = jnp.asarray(actions, jnp.float32)
  g = jnp.asarray(_q_gradient(np.asarray(actions)), jnp.float32)
  with_key = proj.wppg_loss(actions, g, step_size=0.1, tau=0.4, key=key)
  noise = jax.random.normal(key, actions.shape, actions.dtype)
  with_noise = proj.wppg_loss(actions, g, step_size=0.1, tau=0.4, noise=noise)
  np.testing.assert_allclose(with_key, with_noise, rtol=1e-6)
  # τ = 0 is allowed: the deterministic move, value mean‖η∇Q‖².
  np.testing.assert_allclose(proj.wppg_loss(actions, g, step_size=0.1, tau=0.0, key=key),
                             np.mean(np.sum((0.1 * np.asarray(g)) ** 2, -1)), rtol=1e-5)


# ---------------------------------------------------------------------------------------------- jit and vmap


def test_losses_and_gradients_under_jit_and_vmap_over_states():
  rng = np.random.default_rng(4)
  means = rng.normal(size=(3, 2)).astype(np.float32)  # 3 states, one policy mean per state
  stds = np.exp(0.3 * rng.normal(size=(3, 2))).astype(np.float32)
  actions = (means[:, None] + stds[:, None] * rng.normal(size=(3, 8, 2))).astype(np.float32)
  grads = rng.normal(size=(3, 8, 2)).astype(np.float32)
  noise = rng.normal(size=(3, 8, 2)).astype(np.float32)

  def losses(p, mean, std, a, g, xi):
    lp = lambda x: _natural_log_prob(p, x)  # noqa: E731
    return jnp.stack([
        proj.wpo_loss(lp, a, g),
        proj.entropy_regularized_wpo_loss(lp, a, g, 0.2),
        proj.wppg_loss(p[0] + p[1] * (a - mean) / std, g, step_size=0.1, tau=0.2, noise=xi),
    ])

  def per_state(mean, std, a, g, xi):
    return jax.jacrev(losses)((mean, std), mean, std, a, g, xi)

  def close(x, y):
    return jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-5), x, y)

  jitted_fn = jax.jit(per_state)
  # Eager (no jit) check of the values only: eager reverse-mode Jacobians cost seconds of op-by-op dispatch.
  args = [jnp.asarray(x[1]) for x in (means, stds, actions, grads, noise)]
  close(jax.jit(losses)((args[0], args[1]), *args), losses((args[0], args[1]), *args))
  close(jitted_fn(*args), jax.jacfwd(lambda p: jax.jit(losses)(p, *args))((args[0], args[1])))
  batched = jax.jit(jax.vmap(per_state))(means, stds, actions, grads, noise)
  for i in range(3):
    close(jax.tree.map(lambda b: b[i], batched), jitted_fn(means[i], stds[i], actions[i], grads[i], noise[i]))


# -------------------------------------------------------------------------------------------------- bad input


_LP = lambda a: -0.5 * jnp.sum(a**2)  # noqa: E731


@pytest.mark.parametrize("call, match", [
    (lambda: proj.wpo_loss(_LP, jnp.ones(3), jnp.ones(3)), "actions"),
    (lambda: proj.wpo_loss(_LP, jnp.ones((4, 2)), jnp.ones((4, 3))), "action_gradient"),
    (lambda: proj.entropy_regularized_wpo_loss(_LP, jnp.ones((4, 2)), jnp.ones((4, 2)), 0.0), "tau"),
    (lambda: proj.entropy_regularized_wpo_loss(_LP, jnp.ones((4, 2)), jnp.ones((4, 2)), -1.0), "tau"),
    (lambda: proj.natural_gradient_gaussian(jnp.ones(2), jnp.ones(3)), "mean and std"),
    (lambda: proj.wpo_loss(lambda a: a, jnp.ones((4, 2)), jnp.ones((4, 2))), "log_prob_fn"),
    (lambda: proj.natural_gradient_gaussian(jnp.ones(2), -jnp.ones(2)), "std"),
    (lambda: proj.wppg_loss(jnp.ones((4, 2)), jnp.ones((4, 2)), step_size=0.1, tau=-0.1, key=jax.random.key(0)),
     "tau"),
    (lambda: proj.wppg_loss(jnp.ones((4, 2)), jnp.ones((4, 2)), step_size=0.0, tau=0.1, key=jax.random.key(0)),
     "step_size"),
    (lambda: proj.wppg_loss(jnp.ones((4, 2)), jnp.ones((4, 2)), step_size=0.1, tau=0.1), "key"),
    (lambda: proj.wppg_loss(jnp.ones((4, 2)), jnp.ones((4, 2)), step_size=0.1, tau=0.1, key=jax.random.key(0),
                            noise=jnp.ones((4, 2))), "key"),
    (lambda: proj.wppg_loss(jnp.ones((4, 2)), jnp.ones((4, 2)), step_size=0.1, tau=0.1, noise=jnp.ones((4, 3))),
     "noise"),
])
def test_bad_input_raises_value_error_naming_the_argument(call, match):
  with pytest.raises(ValueError, match=match):
    call()
