"""C51's categorical critic (`wpgjax.rl.distributional`, TrainConfig.critic_atoms): the projection against the
classic C51 algorithm, the target's mean against the scalar critic's target, the loss against NumPy, and a run
that learns."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wpgjax._testing import random_critic_batch
from wpgjax.rl import agent, distributional, make_train, networks, presets
from wpgjax.rl.config import TrainConfig

OBS, ACT, HIDDEN, ATOMS = 3, 2, (8, 8), 21
FAST_MAX = 143.1  # the fast env's maximum return (tests/rl/test_train.py)


def _reference_projection(positions, probs, support):
  """C51's projection as its paper writes it: floor/ceil neighbours, mass split by distance (l = u: all to l)."""
  v_min, v_max = support[0], support[-1]
  spacing = (v_max - v_min) / (len(support) - 1)
  out = np.zeros(len(support))
  for z, p in zip(positions, probs):
    b = (np.clip(z, v_min, v_max) - v_min) / spacing
    lower, upper = int(np.floor(b)), int(np.ceil(b))
    if lower == upper:
      out[lower] += p
    else:
      out[lower] += p * (upper - b)
      out[upper] += p * (b - lower)
  return out


def test_project_matches_the_c51_algorithm_and_conserves_mass_and_mean():
  support = np.linspace(-10.0, 10.0, ATOMS)
  rng = np.random.default_rng(0)
  for trial in range(20):
    positions = rng.uniform(-14.0, 14.0, 30)
    positions[:3] = support[[0, 7, ATOMS - 1]]  # exactly on atoms: the l = u case
    probs = rng.dirichlet(np.ones(30))
    got = np.asarray(distributional.project(jnp.asarray(positions, jnp.float32), jnp.asarray(probs, jnp.float32),
                                            jnp.asarray(support, jnp.float32)))
    np.testing.assert_allclose(got, _reference_projection(positions, probs, support), rtol=2e-5, atol=2e-6)
    assert abs(got.sum() - 1.0) < 1e-5
    inside = rng.uniform(-10.0, 10.0, 30)
    got = np.asarray(distributional.project(jnp.asarray(inside, jnp.float32), jnp.asarray(probs, jnp.float32),
                                            jnp.asarray(support, jnp.float32)))
    assert abs(got @ support - probs @ inside) < 1e-4, trial  # the mean, where nothing is clipped


@pytest.fixture(scope="module")
def problem():
  critic = networks.TwinQNetwork(HIDDEN, atoms=ATOMS, value_min=-20.0, value_max=20.0)
  keys = jax.random.split(jax.random.key(0), 3)
  params = critic.init(keys[0], jnp.zeros(OBS), jnp.zeros(ACT))
  target_params = critic.init(keys[1], jnp.zeros(OBS), jnp.zeros(ACT))
  batch, next_actions, offset = random_critic_batch(keys[2], 6, 3, OBS, ACT)
  return critic, params, target_params, batch, next_actions, offset


def test_critic_q_is_the_mean_of_its_categorical_law(problem):
  critic, params, _, batch, _, _ = problem
  logits = critic.apply(params, batch.observation, batch.action, logits=True)
  assert logits.shape == (6, 2, ATOMS)
  q = critic.apply(params, batch.observation, batch.action)
  np.testing.assert_allclose(np.asarray(q), np.asarray(jax.nn.softmax(logits) @ critic.support), rtol=1e-6)
  scalar = networks.TwinQNetwork(HIDDEN).init(jax.random.key(0), jnp.zeros(OBS), jnp.zeros(ACT))
  assert scalar["params"]["q_0"]["dense_2"]["kernel"].shape == (8, 1)  # atoms = 0: the scalar critic as before
  with pytest.raises(ValueError, match=r"logits=True\) needs atoms >= 2"):
    networks.TwinQNetwork(HIDDEN).apply(scalar, batch.observation, batch.action, logits=True)


def test_target_mean_is_the_scalar_critics_soft_target(problem):
  """E[Φ(y_b, p̄_b)] = c_r·r_b + γ·m_b·(mean_i min_j Q_j(s'_b, a'_bi) + c_b) when no atom leaves the support."""
  critic, _, target_params, batch, next_actions, offset = problem
  discount, reward_scaling = 0.9, 0.5
  target = distributional.categorical_target(critic, target_params, batch, next_actions, offset, discount,
                                             reward_scaling)
  np.testing.assert_allclose(np.asarray(target.sum(-1)), 1.0, rtol=1e-5)
  q_next = jax.vmap(lambda o, a: jnp.min(critic.apply(target_params, jnp.broadcast_to(o, (3, OBS)), a), axis=-1))(
      batch.next_observation, next_actions)
  expected = reward_scaling * batch.reward + discount * batch.discount * (q_next.mean(-1) + offset)
  np.testing.assert_allclose(np.asarray(target @ critic.support), np.asarray(expected), rtol=1e-4, atol=1e-4)
  # A negative control: the twin maximum instead of the minimum gives another mean.
  q_max = jax.vmap(lambda o, a: jnp.max(critic.apply(target_params, jnp.broadcast_to(o, (3, OBS)), a), axis=-1))(
      batch.next_observation, next_actions)
  assert float(jnp.max(jnp.abs(discount * batch.discount * (q_max - q_next).mean(-1)))) > 1e-3


def test_loss_is_the_cross_entropy_to_the_target(problem):
  critic, params, target_params, batch, next_actions, offset = problem
  loss = distributional.categorical_td_loss(critic, params, target_params, batch, next_actions, offset, 0.9, 0.5)
  target = np.asarray(distributional.categorical_target(critic, target_params, batch, next_actions, offset, 0.9,
                                                        0.5), np.float64)
  logits = np.asarray(critic.apply(params, batch.observation, batch.action, logits=True), np.float64)
  log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  np.testing.assert_allclose(float(loss), -np.mean(np.sum(target[:, None] * log_probs, axis=(1, 2))), rtol=1e-5)
  # The target is held fixed: the loss's gradient in the target network's parameters is zero.
  grads = jax.grad(lambda tp: distributional.categorical_td_loss(
      critic, params, tp, batch, next_actions, offset, 0.9, 0.5))(target_params)
  assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree.leaves(grads))


@pytest.fixture(scope="module")
def c51_run():
  config = presets("fast", num_evals=2, critic_atoms=51, critic_value_min=-100.0, critic_value_max=500.0)
  state, metrics = jax.jit(make_train(config))(jax.random.key(1))
  return config, state, metrics


def test_c51_learns_fast_env(c51_run):
  config, state, metrics = c51_run
  final = float(metrics["eval/episode_reward"][-1])
  assert final > 0.85 * FAST_MAX, final
  assert all(np.all(np.isfinite(np.asarray(v))) for v in metrics.values())
  kernel = state.critic_params["params"]["q_0"]["dense_2"]["kernel"]
  assert kernel.shape[-1] == 51
  # the particle family's acting critic is the same categorical network
  particle = agent.make_networks(presets("fast", policy="particle", critic_atoms=51), ACT).policy
  assert (particle.critic.atoms, particle.critic.value_max) == (51, 100.0)


@pytest.mark.parametrize("overrides, message", [
    (dict(critic_atoms=1), r"TrainConfig\.critic_atoms must be 0 \(a scalar Q\) or an int >= 2"),
    (dict(critic_atoms=-3), r"TrainConfig\.critic_atoms must be a non-negative int"),
    (dict(critic_atoms=11, critic_value_min=5.0, critic_value_max=5.0),
     r"TrainConfig\.critic_value_max must be a number > critic_value_min \(5\.0\)"),
    (dict(critic_value_min=float("nan")), r"TrainConfig\.critic_value_min must be a finite number"),
    (dict(critic_atoms=11, critic_batch_norm=True), r"TrainConfig\.critic_atoms must be 0 when critic_batch_norm"),
])
def test_critic_atoms_are_validated(overrides, message):
  with pytest.raises(ValueError, match=message):
    TrainConfig(**overrides)
