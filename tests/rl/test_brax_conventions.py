"""Brax SAC's conventions as options, on Brax's `fast` env: `update_order` (which parameters each step of an
update reads), `prefill_policy` (which law acts during the prefill) and `deterministic_eval`.

One gradient step is compiled per order with the learning rates as traced leaves, so "the actor steps against
the critic of the step's start" is a bitwise statement: the new policy does not depend on the critic's learning
rate at all.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wpgjax._testing import prefilled_trainer, quick_compile_mode, trees_bitwise_equal
from wpgjax.rl import make_trainer, presets
from wpgjax.rl.config import UPDATE_ORDERS


@pytest.fixture(scope="module")
def one_update():
  """{order: (config, state after init and prefill, jitted one-update piece)}, compiled with XLA's
  optimizations mostly off (the comparisons are within one program)."""
  with quick_compile_mode():
    out = {}
    for order in UPDATE_ORDERS:
      config = presets("fast", num_evals=1, update_order=order)
      trainer, state = prefilled_trainer(config)
      out[order] = (config, state, jax.jit(trainer.pieces["update"]))
    yield out


def _updated(one_update, order, **hyperparams):
  config, state, update = one_update[order]
  hp = config.hyperparams().replace(**{k: jnp.float32(v) for k, v in hyperparams.items()})
  return update(state, hp, jax.random.key(5)), state


def test_brax_sac_order_actor_steps_against_the_critic_of_the_step_start(one_update):
  low, start = _updated(one_update, "brax_sac", critic_learning_rate=1e-3)
  high, _ = _updated(one_update, "brax_sac", critic_learning_rate=1e-1)
  assert not trees_bitwise_equal(low.critic_params, high.critic_params)
  assert trees_bitwise_equal(low.policy_params, high.policy_params)
  assert not trees_bitwise_equal(low.policy_params, start.policy_params)


def test_critic_first_order_actor_steps_against_the_updated_critic(one_update):
  low, _ = _updated(one_update, "critic_first", critic_learning_rate=1e-3)
  high, _ = _updated(one_update, "critic_first", critic_learning_rate=1e-1)
  assert not trees_bitwise_equal(low.policy_params, high.policy_params)


@pytest.mark.parametrize("order", UPDATE_ORDERS)
def test_one_step_reads_the_temperature_of_its_start(one_update, order):
  """In both orders (as in Brax's SAC) τ's step does not feed the critic's or the actor's step, and neither of
  those feeds τ's: each learning rate moves only its own parameters."""
  slow, start = _updated(one_update, order, tau_learning_rate=1e-4)
  fast, _ = _updated(one_update, order, tau_learning_rate=1e-1)
  assert float(slow.log_tau) != float(fast.log_tau) and float(slow.log_tau) != float(start.log_tau)
  assert trees_bitwise_equal(slow.critic_params, fast.critic_params)
  assert trees_bitwise_equal(slow.policy_params, fast.policy_params)
  default, _ = _updated(one_update, order)
  other, _ = _updated(one_update, order, critic_learning_rate=1e-1, actor_learning_rate=1e-1)
  assert float(other.log_tau) == float(default.log_tau)
  assert not trees_bitwise_equal(other.policy_params, default.policy_params)


def test_prefill_with_the_initial_policy_draws_from_it():
  """With prefill_policy="initial" the stored actions are tanh(u), u ~ N(μ_θ0(o), σ_θ0(o)²) of the initial
  policy at the stored observation: z = (atanh(a) − μ)/σ has mean 0 and mean square 1 (4 standard errors over
  the n stored draws). Uniform actions give mean z² ≈ (π²/12)/σ², far from 1 here."""
  mean_square = {}
  for prefill_policy in ("initial", "uniform"):
    config = presets("fast", num_evals=1, normalize_observations=False, prefill_policy=prefill_policy)
    trainer, state = prefilled_trainer(config)
    n = int(state.replay.size)
    data = jax.tree.map(lambda x: x[:n], state.replay.data)
    mean, std = trainer.networks.policy.network.apply(state.policy_params, data.observation)
    z = np.asarray((jnp.arctanh(jnp.clip(data.action, -1 + 1e-6, 1 - 1e-6)) - mean) / std).ravel()
    mean_square[prefill_policy] = float(np.mean(z**2))
    if prefill_policy == "initial":
      assert n == config.min_replay_size and abs(np.mean(z)) < 4 / np.sqrt(z.size), np.mean(z)
      assert abs(mean_square["initial"] - 1.0) < 4 * np.sqrt(2.0 / z.size), mean_square
  assert mean_square["uniform"] > 1.0 + 4 * np.sqrt(2.0 / z.size), mean_square


def _with_std_at_its_floor(policy_params):
  """The Gaussian's σ head set to weights 0 and bias −30: σ(o) = MIN_STD + softplus(−30) ≈ 1e-3 everywhere."""
  params = jax.tree.map(lambda x: x, policy_params)  # a copy of the nested dicts
  head = params["params"]["MLP_0"]["dense_2"]
  size = head["bias"].shape[0] // 2
  head["bias"] = head["bias"].at[size:].set(-30.0)
  head["kernel"] = head["kernel"].at[:, size:].set(0.0)
  return params


def test_stochastic_evaluation_draws_from_the_policy(one_update):
  """deterministic_eval=False acts with one draw of the executed law per step: a return different from the
  mode's, the same for the same key, different for another key. With σ pinned at its floor (1e-3) the draws
  are tanh(μ + 1e-3·ε), so the stochastic return is the mode's up to that noise (here equal: the fast env reads
  only the action's sign), far closer to it than with the policy's own σ."""
  _, state, _ = one_update["critic_first"]
  evaluate = {deterministic: jax.jit(make_trainer(
      presets("fast", num_evals=1, deterministic_eval=deterministic)).evaluate) for deterministic in (True, False)}
  reward = lambda deterministic, state, k: float(
      evaluate[deterministic](state, jax.random.key(k))["eval/episode_reward"])
  stochastic = [reward(False, state, k) for k in (0, 0, 1)]
  mode = reward(True, state, 0)
  assert stochastic[0] == stochastic[1] and stochastic[0] != stochastic[2], stochastic
  assert stochastic[0] != mode and np.all(np.isfinite(stochastic)), (stochastic, mode)
  pinned = state.replace(policy_params=_with_std_at_its_floor(state.policy_params))
  assert reward(True, pinned, 0) == mode  # σ does not enter the mode
  assert abs(reward(False, pinned, 0) - mode) < abs(stochastic[0] - mode) / 20, (reward(False, pinned, 0), mode,
                                                                               stochastic)
