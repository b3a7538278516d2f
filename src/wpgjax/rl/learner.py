"""One gradient step of the actor-critic: the critic's soft TD step (SAC's with a target network, CrossQ's or C51's),
the policy family's projection step and SAC's temperature step, in `config.update_order`.
`make_learner(config, nets, normalize)` returns them as pure closures over the config (Brax style);
`wpgjax.rl.train` scans them.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from wpgjax.rl import agent, crossq, distributional, replay
from wpgjax.rl.config import HyperParams, TrainConfig
from wpgjax.rl.policies import PolicyParams, PolicySamples
from wpgjax.rl.state import TrainState, acting_params

__all__ = ["ADAM", "UPDATE_METRIC_NAMES", "sgd_step", "linear_decay", "decayed_learning_rates", "sample_batch",
           "tau_step", "actor_inputs", "executed_entropy", "make_critic_step", "Learner", "make_learner"]

Params = Any
ADAM = optax.scale_by_adam()
UPDATE_METRIC_NAMES = ("training/critic_loss", "training/actor_loss", "training/entropy")


def sgd_step(params: Params, grads: Params, opt_state: optax.OptState, learning_rate: chex.Numeric):
  """Adam with a learning rate that may be a traced hyperparameter leaf: θ ← θ − lr · adam(g)."""
  updates, opt_state = ADAM.update(grads, opt_state, params)
  params = jax.tree.map(lambda p, u: p - learning_rate * u, params, updates)
  return params, opt_state


def linear_decay(step: chex.Numeric, total_steps: int, end_fraction: chex.Numeric) -> chex.Array:
  """The learning-rate factor at gradient step t of T: max(f, 1 − (1 − f)·t/T), 1 at t = 0, f from t = T on
  (f = 1: exactly 1 at every step)."""
  return jnp.maximum(end_fraction, 1.0 - (1.0 - end_fraction) * (step / total_steps))


def decayed_learning_rates(config: TrainConfig, hp: HyperParams, grad_steps: chex.Numeric) -> HyperParams:
  """hp with the actor's and critic's learning rates at gradient step grad_steps of config.total_grad_steps,
  decayed linearly to hp.final_learning_rate_fraction of their values (τ's unchanged)."""
  factor = linear_decay(grad_steps, config.total_grad_steps, hp.final_learning_rate_fraction)
  return hp.replace(actor_learning_rate=hp.actor_learning_rate * factor,
                    critic_learning_rate=hp.critic_learning_rate * factor)


def sample_batch(config: TrainConfig, normalize, state: TrainState, key: chex.PRNGKey) -> replay.Transition:
  """config.batch_size transitions from the replay buffer, observations normalised."""
  batch = replay.replay_sample(state.replay, key, config.batch_size)
  return batch.replace(observation=normalize(state.obs_stats, batch.observation),
                       next_observation=normalize(state.obs_stats, batch.next_observation))


def tau_step(config: TrainConfig, target_entropy: float, state: TrainState, hp: HyperParams, entropy: chex.Array):
  """SAC's temperature step, minimising τ·sg(H − target_entropy) over log τ: (log τ, τ optimizer state); without
  τ tuning (config.tune_tau False), the state's own."""
  if not config.tune_tau:
    return state.log_tau, state.tau_opt_state
  tau_grad = jax.grad(lambda lt: jnp.exp(lt) * jax.lax.stop_gradient(entropy - target_entropy))(state.log_tau)
  return sgd_step(state.log_tau, tau_grad, state.tau_opt_state, hp.tau_learning_rate)


def actor_inputs(config: TrainConfig, nets: agent.AgentNetworks, batch: replay.Transition,
                 target_keys: chex.PRNGKey, target_samples: PolicySamples, key: chex.PRNGKey):
  """(states, keys, executed clouds) the actor trains on: a family that `shares_target_cloud` is fitted at s'
  to the clouds the target drew (drawn with the pre-update critic and τ, as Brax SAC's actor loss uses the
  pre-update critic); the others draw their own samples at s."""
  if nets.policy.shares_target_cloud:
    return batch.next_observation, target_keys, target_samples
  return batch.observation, jax.random.split(key, config.batch_size), None


def executed_entropy(config: TrainConfig, nets: agent.AgentNetworks, state: TrainState, hp: HyperParams,
                     obs: chex.Array, key: chex.PRNGKey) -> chex.Array:
  """Mean entropy estimate of the executed law at states obs [B, o] (num_action_samples draws each)."""
  params = acting_params(state, hp)
  return jnp.mean(jax.vmap(lambda o, k: nets.policy.entropy(
      nets.policy.sample(params, o, k, config.wpg.num_action_samples)))(obs, jax.random.split(key, obs.shape[0])))


def _target_network_critic_step(config: TrainConfig, nets: agent.AgentNetworks, state: TrainState, hp: HyperParams,
                                batch: replay.Transition, keys: chex.PRNGKey):
  """SAC's critic step: V(s') of the executed law under the target critic (`agent.next_value_one`, per-state keys
  [B]), one Adam step on mean_b ½ Σ_j (Q_j(s, a) − y)², then the target's Polyak step."""
  params = acting_params(state, hp)
  next_value, target_samples = jax.vmap(lambda o2, k: agent.next_value_one(
      nets, params, state.target_critic_params, o2, k, params.tau))(batch.next_observation, keys)

  def critic_loss(critic_params):
    return jnp.mean(jax.vmap(lambda o, a, r, m, v: agent.critic_loss_one(
        nets, critic_params, o, a, r, m, v, hp.discount, hp.reward_scaling))(
            batch.observation, batch.action, batch.reward, batch.discount, next_value))

  loss, grads = jax.value_and_grad(critic_loss)(state.critic_params)
  critic_params, opt_state = sgd_step(state.critic_params, grads, state.critic_opt_state, hp.critic_learning_rate)
  target = optax.incremental_update(critic_params, state.target_critic_params, hp.polyak)
  return critic_params, opt_state, target, loss, target_samples


def _next_samples_and_offset(nets: agent.AgentNetworks, params, next_observations: chex.Array, keys: chex.PRNGKey):
  """(a' = tanh(u') [B, N, d], c [B], the samples): the executed law's draws at s' (per-state keys [B]) and the
  family's next-state value at q = 0, so that V(s') = mean_i Q(s', a'_i) + c for any critic (`crossq.zero_q`)."""
  offset, samples = jax.vmap(lambda o2, k: nets.policy.next_value(
      params, o2, k, crossq.zero_q, params.tau))(next_observations, keys)
  return jnp.tanh(jax.lax.stop_gradient(samples.u)), offset, samples


def _crossq_critic_step(config: TrainConfig, nets: agent.AgentNetworks, state: TrainState, hp: HyperParams,
                        batch: replay.Transition, keys: chex.PRNGKey):
  """CrossQ's critic step (`wpgjax.rl.crossq`): the executed law's samples at s' and the family's value offset,
  one Adam step on the joint pass's TD loss, the pass's batch statistics kept; no target network (the returned
  target is the critic itself)."""
  next_actions, offset, target_samples = _next_samples_and_offset(
      nets, acting_params(state, hp), batch.next_observation, keys)
  (loss, batch_stats), grads = jax.value_and_grad(
      lambda variables: crossq.crossq_loss(nets.critic, variables, batch, next_actions, offset, hp.discount,
                                           hp.reward_scaling), has_aux=True)(state.critic_params)
  critic_params, opt_state = sgd_step(state.critic_params, grads, state.critic_opt_state, hp.critic_learning_rate)
  critic_params = {**critic_params, "batch_stats": batch_stats}  # Adam left them: their gradient is zero
  return critic_params, opt_state, critic_params, loss, target_samples


def _categorical_critic_step(config: TrainConfig, nets: agent.AgentNetworks, state: TrainState, hp: HyperParams,
                             batch: replay.Transition, keys: chex.PRNGKey):
  """C51's critic step (`wpgjax.rl.distributional`): the executed law's samples at s' and the family's value
  offset, one Adam step on the categorical TD loss against the target critic, then the target's Polyak step."""
  next_actions, offset, target_samples = _next_samples_and_offset(
      nets, acting_params(state, hp), batch.next_observation, keys)
  loss, grads = jax.value_and_grad(lambda critic_params: distributional.categorical_td_loss(
      nets.critic, critic_params, state.target_critic_params, batch, next_actions, offset, hp.discount,
      hp.reward_scaling))(state.critic_params)
  critic_params, opt_state = sgd_step(state.critic_params, grads, state.critic_opt_state, hp.critic_learning_rate)
  target = optax.incremental_update(critic_params, state.target_critic_params, hp.polyak)
  return critic_params, opt_state, target, loss, target_samples


def make_critic_step(config: TrainConfig, nets: agent.AgentNetworks) -> Callable:
  """critic_step(state, hp, batch, keys) -> (critic params, optimizer state, target critic params, loss, the
  executed-law samples drawn at s' with keys [B]): SAC's target-network step, CrossQ's with
  config.critic_batch_norm, or C51's with config.critic_atoms."""
  step = (_crossq_critic_step if config.critic_batch_norm else
          _categorical_critic_step if config.critic_atoms else _target_network_critic_step)
  return lambda state, hp, batch, keys: step(config, nets, state, hp, batch, keys)


class Learner(NamedTuple):
  """update(state, hp, key) -> (state, metrics): one gradient step of critic, actor and τ (and the target
  critic's Polyak step). critic_update(state, hp, key) -> (critic params, optimizer state, loss): the critic's
  part alone (batch, next-state values, step), for timing it apart."""
  update: Callable[[TrainState, HyperParams, chex.PRNGKey], tuple[TrainState, dict]]
  critic_update: Callable[[TrainState, HyperParams, chex.PRNGKey], tuple]


def make_learner(config: TrainConfig, nets: agent.AgentNetworks,
                 normalize: Callable[[Any, chex.Array], chex.Array]) -> Learner:
  """The gradient step of `config` for the networks `nets`; normalize(obs_stats, obs) is the run's observation
  normaliser. τ's target entropy is config.target_entropy, or −|A| when None."""
  target_entropy = -float(nets.action_size) if config.target_entropy is None else float(config.target_entropy)
  critic_step = make_critic_step(config, nets)

  def actor_step(state: TrainState, hp: HyperParams, critic_params: Params, obs: chex.Array, keys: chex.PRNGKey,
                 executed: PolicySamples | None = None):
    """One Adam step of the family's projection against `critic_params` at states obs [B, o] (per-state keys
    [B]; `executed`: the executed-law clouds already drawn there with those keys, or None): (policy params,
    optimizer state, loss, entropy of the executed law)."""
    tau = acting_params(state, hp).tau

    def actor_loss(policy_params):
      params = PolicyParams(policy_params, critic_params, tau, hp.refine_step_size)
      losses, entropies = jax.vmap(lambda o, k, e: agent.actor_loss_one(nets, params, o, k, hp.wpg_step_size, e))(
          obs, keys, executed)
      return jnp.mean(losses), jnp.mean(entropies)

    (loss, entropy), grads = jax.value_and_grad(actor_loss, has_aux=True)(state.policy_params)
    policy_params, policy_opt_state = sgd_step(state.policy_params, grads, state.policy_opt_state,
                                               hp.actor_learning_rate)
    return policy_params, policy_opt_state, loss, entropy

  def update(state: TrainState, hp: HyperParams, key: chex.PRNGKey) -> tuple[TrainState, dict]:
    """One gradient step of critic, actor and τ, in config.update_order."""
    hp = decayed_learning_rates(config, hp, state.grad_steps)
    key_batch, key_critic, key_actor = jax.random.split(key, 3)
    batch = sample_batch(config, normalize, state, key_batch)
    if config.update_order == "brax_sac":  # all three from the step's start: τ on its own draw at s, old τ
      key_actor, key_tau = jax.random.split(key_actor)
      log_tau, tau_opt_state = tau_step(config, target_entropy, state, hp, executed_entropy(
          config, nets, state, hp, batch.observation, key_tau))
    target_keys = jax.random.split(key_critic, config.batch_size)
    critic_params, critic_opt_state, target_critic_params, critic_loss, target_samples = critic_step(
        state, hp, batch, target_keys)
    actor_critic = state.critic_params if config.update_order == "brax_sac" else critic_params
    policy_params, policy_opt_state, actor_loss, entropy = actor_step(
        state, hp, actor_critic, *actor_inputs(config, nets, batch, target_keys, target_samples, key_actor))
    if config.update_order != "brax_sac":
      log_tau, tau_opt_state = tau_step(config, target_entropy, state, hp, entropy)
    state = state.replace(policy_params=policy_params, critic_params=critic_params,
                          target_critic_params=target_critic_params, log_tau=log_tau,
                          policy_opt_state=policy_opt_state, critic_opt_state=critic_opt_state,
                          tau_opt_state=tau_opt_state, grad_steps=state.grad_steps + 1)
    return state, dict(zip(UPDATE_METRIC_NAMES, (critic_loss, actor_loss, entropy)))

  def critic_update(state: TrainState, hp: HyperParams, key: chex.PRNGKey):
    hp = decayed_learning_rates(config, hp, state.grad_steps)
    batch = sample_batch(config, normalize, state, key)
    critic_params, opt_state, _, loss, _ = critic_step(state, hp, batch, jax.random.split(key, config.batch_size))
    return critic_params, opt_state, loss

  return Learner(update, critic_update)
