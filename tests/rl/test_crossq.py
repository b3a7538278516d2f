"""CrossQ's critic (`wpgjax.rl.crossq`, TrainConfig.critic_batch_norm): the joint pass's TD loss and batch
statistics against a NumPy reference, the next-state value's decomposition it relies on, and a run that learns."""

import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wpgjax._testing import random_critic_batch
from wpgjax.rl import agent, crossq, make_train, networks, presets
from wpgjax.rl.config import TrainConfig
from wpgjax.rl.policies import PolicyParams

OBS, ACT, HIDDEN, EPS = 3, 2, (8, 8), 1e-5  # EPS: flax BatchNorm's default epsilon


def _batch_norm(x, params):
  """NumPy BatchNorm in train mode: (the normalised x by its own batch mean and biased variance, those)."""
  mean, var = x.mean(axis=0), x.var(axis=0)
  return (x - mean) / np.sqrt(var + EPS) * params["scale"] + params["bias"], {"mean": mean, "var": var}


def _reference_q(variables, observations, actions):
  """NumPy forward of the batch-normalised twin critic in train mode: (q [R, 2], batch statistics per layer)."""
  params = jax.tree.map(lambda x: np.asarray(x, np.float64), variables["params"])
  x, stats = _batch_norm(np.concatenate([observations, actions], axis=-1), params["input_batch_norm"])
  batch_stats, q = {"input_batch_norm": stats}, []
  for j in range(2):
    h, layer_stats = x, {}
    for i in range(len(HIDDEN)):
      dense = params[f"q_{j}"][f"dense_{i}"]
      h, layer_stats[f"batch_norm_{i}"] = _batch_norm(h @ dense["kernel"] + dense["bias"],
                                                      params[f"q_{j}"][f"batch_norm_{i}"])
      h = h / (1.0 + np.exp(-h))  # swish
    out = params[f"q_{j}"][f"dense_{len(HIDDEN)}"]
    q.append(h @ out["kernel"] + out["bias"])
    batch_stats[f"q_{j}"] = layer_stats
  return np.concatenate(q, axis=-1), batch_stats


@pytest.fixture(scope="module")
def problem():
  critic = networks.TwinQNetwork(HIDDEN, batch_norm=True)
  keys = jax.random.split(jax.random.key(0), 8)
  variables = critic.init(keys[0], jnp.zeros(OBS), jnp.zeros(ACT))
  # Non-trivial BatchNorm scales and offsets, so that the reference checks them too.
  variables["params"] = jax.tree_util.tree_map_with_path(
      lambda path, x: x + 0.3 * jax.random.normal(jax.random.fold_in(keys[1], zlib.crc32(str(path).encode())), x.shape)
      if "batch_norm" in str(path) else x, variables["params"])
  batch, next_actions, offset = random_critic_batch(keys[2], 6, 3, OBS, ACT, next_observation_shift=2.0)
  return critic, variables, batch, next_actions, offset


def _reference_loss(variables, batch, next_actions, offset, discount, reward_scaling):
  b, n = next_actions.shape[:2]
  observations = np.concatenate([batch.observation, np.repeat(batch.next_observation, n, axis=0)])
  actions = np.concatenate([batch.action, np.reshape(next_actions, (b * n, ACT))])
  q, stats = _reference_q(variables, np.asarray(observations, np.float64), np.asarray(actions, np.float64))
  next_value = q[b:].min(axis=-1).reshape(b, n).mean(axis=-1) + offset
  target = reward_scaling * np.asarray(batch.reward) + discount * np.asarray(batch.discount) * next_value
  return np.mean(0.5 * np.sum((q[:b] - target[:, None]) ** 2, axis=-1)), stats


def test_crossq_loss_is_the_joint_pass_td_loss(problem):
  critic, variables, batch, next_actions, offset = problem
  loss, batch_stats = crossq.crossq_loss(critic, variables, batch, next_actions, offset, 0.9, 2.0)
  expected, stats = _reference_loss(variables, batch, next_actions, offset, 0.9, 2.0)
  np.testing.assert_allclose(float(loss), expected, rtol=2e-5)
  # Running statistics move 1 − momentum of the way to the JOINT batch's (from mean 0, variance 1 at init).
  m = networks.BATCH_NORM_MOMENTUM
  for path, new in jax.tree_util.tree_leaves_with_path(batch_stats):
    names = [p.key for p in path]
    reference = stats
    for name in names:
      reference = reference[name]
    start = 1.0 if names[-1] == "var" else 0.0
    np.testing.assert_allclose(np.asarray(new), m * start + (1 - m) * reference, rtol=1e-4, atol=1e-6,
                               err_msg="/".join(names))
  # Negative control: normalising s and s' apart (what the joint pass avoids) gives other values at (s, a).
  b, n = next_actions.shape[:2]
  as64 = lambda x: np.asarray(x, np.float64)
  q_apart, _ = _reference_q(variables, as64(batch.observation), as64(batch.action))
  joint_observations = np.concatenate([batch.observation, np.repeat(batch.next_observation, n, 0)])
  joint_actions = np.concatenate([batch.action, np.reshape(next_actions, (b * n, ACT))])
  q_joint, _ = _reference_q(variables, as64(joint_observations), as64(joint_actions))
  assert np.abs(q_apart - q_joint[:b]).max() > 1e-2


def test_crossq_loss_gradient_flows_only_through_the_current_half(problem):
  """The next-state half is held fixed: the gradient equals that of the loss with those values as constants, up
  to the BatchNorm statistics (shared by both halves, so differentiated through both)."""
  critic, variables, batch, next_actions, offset = problem
  grads = jax.grad(lambda v: crossq.crossq_loss(critic, v, batch, next_actions, offset, 0.9, 2.0)[0])(variables)
  assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree.leaves(grads["batch_stats"]))
  assert float(jnp.abs(grads["params"]["q_0"]["dense_2"]["kernel"]).max()) > 0.0
  b, n = next_actions.shape[:2]

  def with_fixed_target(v):
    observations = jnp.concatenate([batch.observation, jnp.repeat(batch.next_observation, n, axis=0)])
    actions = jnp.concatenate([batch.action, next_actions.reshape(b * n, ACT)])
    q, _ = critic.apply(v, observations, actions, train=True, mutable=["batch_stats"])
    q_fixed, _ = critic.apply(variables, observations, actions, train=True, mutable=["batch_stats"])
    next_value = jnp.min(q_fixed[b:], axis=-1).reshape(b, n).mean(axis=-1) + offset
    target = 2.0 * batch.reward + 0.9 * batch.discount * next_value
    return jnp.mean(0.5 * jnp.sum((q[:b] - target[:, None]) ** 2, axis=-1))

  expected = jax.grad(with_fixed_target)(variables)["params"]
  for got, want in zip(jax.tree.leaves(grads["params"]), jax.tree.leaves(expected)):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-7)


def test_eval_mode_critic_is_row_by_row(problem):
  critic, variables, batch, _, _ = problem
  whole = critic.apply(variables, batch.observation, batch.action)
  rows = jax.vmap(lambda o, a: critic.apply(variables, o, a))(batch.observation, batch.action)
  np.testing.assert_allclose(np.asarray(whole), np.asarray(rows), rtol=1e-6)


@pytest.mark.parametrize("policy", ["tanh_gaussian", "particle", "pushforward"])
def test_next_value_is_linear_in_the_critic_over_its_samples(policy):
  """What crossq relies on: next_value(q_fn) = next_value(0) + mean_i q_fn(a'_i), on the same samples."""
  overrides = {"wpg.projection": "wppg", "wpg.num_action_samples": 4} if policy == "pushforward" else {}
  config = presets("fast", policy=policy, hidden_sizes=(8,), **overrides)
  nets = agent.make_networks(config, ACT)
  observation = jnp.array([0.3, -1.2, 0.5])
  params = PolicyParams(nets.policy.init(jax.random.key(1), observation),
                        nets.critic.init(jax.random.key(2), observation, jnp.zeros(ACT)), jnp.float32(0.3),
                        jnp.float32(0.2))
  q_fn = lambda actions: jnp.sin(3.0 * actions[:, 0]) + actions[:, 1] ** 2
  key = jax.random.key(3)
  value, samples = nets.policy.next_value(params, observation, key, q_fn, params.tau)
  offset, same = nets.policy.next_value(params, observation, key, crossq.zero_q, params.tau)
  np.testing.assert_array_equal(np.asarray(samples.u), np.asarray(same.u))
  np.testing.assert_allclose(float(value), float(offset + jnp.mean(q_fn(jnp.tanh(samples.u)))), rtol=1e-6, atol=1e-6)


@pytest.fixture(scope="module")
def crossq_run():
  config = presets("fast", num_evals=2, critic_batch_norm=True)
  state, metrics = jax.jit(make_train(config))(jax.random.key(1))
  return config, state, metrics


def test_crossq_learns_fast_env_without_a_target_network(crossq_run):
  config, state, metrics = crossq_run
  final = float(metrics["eval/episode_reward"][-1])
  assert final > 0.85 * 143.1, final  # the fast env's maximum (tests/rl/test_train.py)
  for critic, target in zip(jax.tree.leaves(state.critic_params), jax.tree.leaves(state.target_critic_params)):
    np.testing.assert_array_equal(np.asarray(critic), np.asarray(target))
  stats = state.critic_params["batch_stats"]["input_batch_norm"]
  assert float(jnp.abs(stats["mean"]).max()) > 1e-3  # the training passes moved the running statistics
  assert all(np.all(np.isfinite(np.asarray(v))) for v in metrics.values())


def test_critic_batch_norm_is_validated():
  with pytest.raises(ValueError, match=r"TrainConfig\.critic_batch_norm"):
    TrainConfig(critic_batch_norm="yes")
