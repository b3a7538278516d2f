"""The actor's and critic's learning-rate decay (`final_learning_rate_fraction`): the factor's formula, and one
gradient step at a chosen point of the decay equal, bitwise, to a step with the learning rates scaled by hand.

One gradient step of the fast env's preset is compiled once with the hyperparameters as traced leaves, so each
comparison runs one program on other leaf values.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wpgjax._testing import prefilled_trainer, quick_compile_mode, trees_bitwise_equal
from wpgjax.rl import presets
from wpgjax.rl.learner import linear_decay


@pytest.mark.parametrize("step, end, expected", [
    (0, 0.1, 1.0), (250, 0.1, 1.0 - 0.9 * 0.25), (1000, 0.1, 0.1), (5000, 0.1, 0.1), (500, 0.0, 0.5),
])
def test_linear_decay_falls_from_one_to_the_end_fraction_and_stays(step, end, expected):
  np.testing.assert_allclose(float(linear_decay(jnp.int32(step), 1000, jnp.float32(end))), expected, rtol=1e-6)


def test_no_decay_is_exactly_one_at_every_step():
  steps = jnp.arange(0, 3000, 7, dtype=jnp.int32)
  assert np.all(np.asarray(linear_decay(steps, 1000, jnp.float32(1.0))) == 1.0)


@pytest.fixture(scope="module")
def one_update():
  """(config, state after init and prefill, jitted one-update piece), XLA's optimizations mostly off."""
  with quick_compile_mode():
    config = presets("fast", num_evals=1)
    trainer, state = prefilled_trainer(config)
    yield config, state, jax.jit(trainer.pieces["update"])


def _updated(one_update, grad_steps, **hyperparams):
  config, state, update = one_update
  hp = config.hyperparams().replace(**{k: jnp.float32(v) for k, v in hyperparams.items()})
  return update(state.replace(grad_steps=jnp.int32(grad_steps)), hp, jax.random.key(5))


def test_a_step_at_the_end_of_the_decay_takes_the_end_fraction_of_the_learning_rates(one_update):
  config = one_update[0]
  total = config.total_grad_steps
  assert total == config.steps_per_eval * config.num_evals * config.grad_updates_per_step
  lr_actor, lr_critic = config.actor_learning_rate, config.critic_learning_rate
  decayed = _updated(one_update, total, final_learning_rate_fraction=0.5)
  by_hand = _updated(one_update, total, actor_learning_rate=lr_actor / 2, critic_learning_rate=lr_critic / 2)
  full = _updated(one_update, total)
  assert trees_bitwise_equal(decayed, by_hand)
  assert not trees_bitwise_equal(decayed.policy_params, full.policy_params)
  assert not trees_bitwise_equal(decayed.critic_params, full.critic_params)
  assert float(decayed.log_tau) == float(full.log_tau)  # τ's learning rate does not decay


def test_the_first_step_takes_the_full_learning_rates(one_update):
  assert trees_bitwise_equal(_updated(one_update, 0, final_learning_rate_fraction=0.1), _updated(one_update, 0))


def test_a_zero_end_fraction_stops_the_actor_and_critic_at_the_end(one_update):
  config, state, _ = one_update
  stopped = _updated(one_update, 2 * config.total_grad_steps, final_learning_rate_fraction=0.0)
  assert trees_bitwise_equal(stopped.policy_params, state.policy_params)
  assert trees_bitwise_equal(stopped.critic_params, state.critic_params)
  assert float(stopped.log_tau) != float(state.log_tau)
