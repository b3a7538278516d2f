"""One wpgjax gradient step against one Brax SAC gradient step, in one process, on the same env's sizes.

wpgjax: `presets(env)` with `--set` overrides, its whole gradient step (`Trainer.pieces["update"]`: batch,
next-state values, critic, actor, τ, target) on a replay buffer past prefill. Brax SAC: the step of
`brax.training.agents.sac.train` (τ's, the critic's and the actor's Adam steps, the Polyak step) rebuilt from
Brax's public pieces (`sac.networks`, `sac.losses`, `gradients.gradient_update_fn`, `UniformSamplingQueue`)
with the wpgjax config's networks, batch, learning rate, discount and reward scaling, its transitions sampled
once per call as Brax's training step does. Each side runs `grad_updates_per_step` steps per compiled call;
the calls alternate (A B, B A, ...) and the medians are reported per step, with XLA's flop and byte counts of
one call (`Compiled.cost_analysis`). No env steps and no evaluation: the gradient step alone.

    python benchmarks/update_vs_brax.py --env hopper
    python benchmarks/update_vs_brax.py --env inverted_double_pendulum --set critic_batch_norm=true
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.machine import load_average, system_info  # noqa: E402


def wpgjax_step(config, steps: int):
  """(jitted (state, key) -> state running `steps` wpgjax gradient steps, a state past prefill)."""
  import jax

  import wpgjax

  trainer = wpgjax.make_trainer(config)
  hp = config.hyperparams()
  state = jax.jit(lambda k: trainer.prefill(trainer.init(k, hp)))(jax.random.key(0))
  update = trainer.pieces["update"]
  many = lambda s, key: jax.lax.scan(lambda s, k: (update(s, hp, k), None), s, jax.random.split(key, steps))[0]
  return jax.jit(many), state, trainer.observation_size, trainer.action_size


def brax_sac_step(config, observation_size: int, action_size: int, steps: int):
  """(jitted (state, buffer, key) -> (state, buffer) running `steps` Brax SAC gradient steps, state, buffer)."""
  import jax
  import jax.numpy as jnp
  import optax
  from brax.training import gradients, replay_buffers, types
  from brax.training.acme import running_statistics
  from brax.training.agents.sac import losses, networks

  net = networks.make_sac_networks(observation_size, action_size, hidden_layer_sizes=config.hidden_sizes,
                                   preprocess_observations_fn=running_statistics.normalize)
  alpha_loss, critic_loss, actor_loss = losses.make_losses(net, config.reward_scaling, config.discount, action_size)
  lr = config.critic_learning_rate
  alpha_update = gradients.gradient_update_fn(alpha_loss, optax.adam(3e-4), pmap_axis_name=None)
  critic_update = gradients.gradient_update_fn(critic_loss, optax.adam(lr), pmap_axis_name=None)
  actor_update = gradients.gradient_update_fn(actor_loss, optax.adam(lr), pmap_axis_name=None)
  key_policy, key_q = jax.random.split(jax.random.PRNGKey(0))
  policy, q = net.policy_network.init(key_policy), net.q_network.init(key_q)
  normalizer = running_statistics.init_state(jax.ShapeDtypeStruct((observation_size,), jnp.float32))
  state = dict(policy=policy, q=q, target_q=q, log_alpha=jnp.zeros(()), policy_opt=optax.adam(lr).init(policy),
               q_opt=optax.adam(lr).init(q), alpha_opt=optax.adam(3e-4).init(jnp.zeros(())))
  dummy = types.Transition(observation=jnp.zeros(observation_size), action=jnp.zeros(action_size), reward=0.0,
                           discount=0.0, next_observation=jnp.zeros(observation_size),
                           extras={"state_extras": {"truncation": 0.0}, "policy_extras": {}})
  queue = replay_buffers.UniformSamplingQueue(config.replay_size, dummy, config.batch_size * steps)
  data = jax.tree.map(lambda x: jax.random.normal(jax.random.PRNGKey(1), (config.min_replay_size, *jnp.shape(x))),
                      dummy)
  buffer = jax.jit(queue.insert)(queue.init(jax.random.PRNGKey(2)), data)

  def sgd_step(carry, transitions):
    s, key = carry
    key, key_alpha, key_critic, key_actor = jax.random.split(key, 4)
    _, log_alpha, alpha_opt = alpha_update(s["log_alpha"], s["policy"], normalizer, transitions, key_alpha,
                                           optimizer_state=s["alpha_opt"])
    alpha = jnp.exp(s["log_alpha"])
    _, q, q_opt = critic_update(s["q"], s["policy"], normalizer, s["target_q"], alpha, transitions, key_critic,
                                optimizer_state=s["q_opt"])
    _, policy, policy_opt = actor_update(s["policy"], normalizer, s["q"], alpha, transitions, key_actor,
                                         optimizer_state=s["policy_opt"])
    target_q = optax.incremental_update(q, s["target_q"], config.polyak)
    return (dict(policy=policy, q=q, target_q=target_q, log_alpha=log_alpha, policy_opt=policy_opt, q_opt=q_opt,
                 alpha_opt=alpha_opt), key), None

  def many(s, buffer, key):
    buffer, transitions = queue.sample(buffer)
    transitions = jax.tree.map(lambda x: x.reshape((steps, -1) + x.shape[1:]), transitions)
    return jax.lax.scan(sgd_step, (s, key), transitions)[0][0], buffer

  return jax.jit(many), state, buffer


def cost(jitted, *args) -> dict:
  analysis = jitted.lower(*args).compile().cost_analysis()
  analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
  return {"flops": analysis.get("flops"), "bytes_accessed": analysis.get("bytes accessed")}


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--env", default="hopper")
  p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="wpgjax config override")
  p.add_argument("--calls", type=int, default=40, help="timed calls per side")
  a = p.parse_args(argv)
  import jax

  import wpgjax

  overrides = {}
  for item in a.set:
    key, _, value = item.partition("=")
    overrides[key] = value
  config = wpgjax.presets(a.env, **overrides)
  steps = config.grad_updates_per_step
  w_fn, w_state, obs, act = wpgjax_step(config, steps)
  b_fn, b_state, buffer = brax_sac_step(config, obs, act, steps)
  w_key, b_key = jax.random.key(1), jax.random.PRNGKey(3)
  flops = {"wpgjax": cost(w_fn, w_state, w_key), "brax_sac": cost(b_fn, b_state, buffer, b_key)}
  w_state = jax.block_until_ready(w_fn(w_state, w_key))
  b_state, buffer = jax.block_until_ready(b_fn(b_state, buffer, b_key))
  times = {"wpgjax": [], "brax_sac": []}
  load_start = load_average()
  for call in range(a.calls):
    for side in (("wpgjax", "brax_sac") if call % 2 == 0 else ("brax_sac", "wpgjax")):
      t0 = time.perf_counter()
      if side == "wpgjax":
        w_key = jax.random.fold_in(w_key, call)
        w_state = jax.block_until_ready(w_fn(w_state, w_key))
      else:
        b_key = jax.random.fold_in(b_key, call)
        b_state, buffer = jax.block_until_ready(b_fn(b_state, buffer, b_key))
      times[side].append((time.perf_counter() - t0) / steps)
  ms = {side: 1e3 * statistics.median(t) for side, t in times.items()}
  print(json.dumps(dict(env=a.env, overrides=overrides, steps_per_call=steps, calls=a.calls,
                        ms_per_update=ms, ratio=ms["wpgjax"] / ms["brax_sac"], xla_cost_per_call=flops,
                        load_avg=[load_start, load_average()], system=system_info()), default=str))
  return 0


if __name__ == "__main__":
  sys.exit(main())
