"""`make_train(config) -> train(key, hyperparams=None)`: the whole WPG actor-critic run as one pure program.

Read top to bottom: one iteration (act in all envs, store, `grad_updates_per_step` gradient steps of critic, actor
and τ from `wpgjax.rl.learner`; during the prefill, the prefill's actions and no gradient step); one period, the
prefill or an epoch (a loop of iterations, then for an epoch the evaluation and diagnostics); the run (init, then
one scan of periods: the prefill, then the epochs). The state is `wpgjax.rl.state.TrainState`. `make_trainer`
exposes the same pieces (init, prefill, epoch, period) so that a host runner can drive the identical computation in
chunks and checkpoint between them.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp

from wpgjax.rl import agent, envs, normalization, replay
from wpgjax.rl.config import HyperParams, TrainConfig
from wpgjax.rl.learner import ADAM, UPDATE_METRIC_NAMES, make_learner
from wpgjax.rl.policies import PolicyParams
from wpgjax.rl.state import TrainState, acting_params, policy_params

__all__ = ["TrainState", "Trainer", "make_trainer", "make_train", "make_policy", "policy_params", "METRIC_NAMES"]

EVAL_METRIC_NAMES = ("eval/episode_reward", "eval/episode_reward_std", "eval/avg_episode_length")
METRIC_NAMES = EVAL_METRIC_NAMES + (
    "env_steps", "training/critic_loss", "training/actor_loss", "training/tau", "training/entropy",
    "wpg/kl_residual", "wpg/fisher", "wpg/ksd",
)


class Trainer(NamedTuple):
  """Pure pieces of a run. init(key, hp) -> state; prefill(state) -> state; epoch(state, hp) -> (state, metrics of one
  evaluation); period(state, hp, prefilling) -> (state, metrics): the prefill or an epoch, as a bool scalar that may
  be traced says (prefill and epoch are its two cases); evaluate(state, key) -> eval metrics; networks; env;
  replay_bytes_per_seed (the replay buffer's memory, explicit in the config); trace_counts (how often each piece was
  traced: the contract is once per compiled program); pieces: {name: (state, hp, key) -> result} for the parts of an
  epoch (act_and_env_step, critic_update, update, evaluate, diagnostics), to time them apart."""
  init: Callable[[chex.PRNGKey, HyperParams], TrainState]
  prefill: Callable[[TrainState], TrainState]
  epoch: Callable[[TrainState, HyperParams], tuple[TrainState, dict]]
  period: Callable[[TrainState, HyperParams, Any], tuple[TrainState, dict]]
  evaluate: Callable[[TrainState, chex.PRNGKey], dict]
  networks: agent.AgentNetworks
  env: Any
  observation_size: int
  action_size: int
  replay_bytes_per_seed: int
  trace_counts: dict
  pieces: dict


def make_trainer(config: TrainConfig) -> Trainer:
  """Builds the env and networks and returns the pure pieces of a run (see Trainer)."""
  env = envs.make_env(config.env, backend=config.backend, episode_length=config.episode_length,
                      action_repeat=config.action_repeat)
  # Brax's observation_size property runs an eager reset (12-16 s of small compiles); a shape-only trace is free.
  reset_shapes = jax.eval_shape(lambda key: env.reset(jax.random.split(key, 1)), jax.random.key(0))
  if not hasattr(reset_shapes.obs, "shape"):
    raise ValueError(f"env {config.env!r} has dictionary observations; only flat observations are supported")
  observation_size, action_size = int(reset_shapes.obs.shape[-1]), int(env.action_size)
  nets = agent.make_networks(config, action_size)
  normalize = lambda stats, obs: normalization.normalize(stats, obs, enabled=config.normalize_observations,
                                                         max_abs=config.observation_clip)
  learner = make_learner(config, nets, normalize)
  trace_counts = {"iteration": 0, "evaluate": 0}
  init = _make_init(config, env, nets, observation_size, action_size)
  env_step = _make_env_step(config, env)

  act = _make_act(config, nets, normalize)
  iteration = _make_iteration(config, act, env_step, learner, action_size, trace_counts)
  evaluate = _make_evaluate(config, env, nets, normalize, trace_counts)
  diagnostics = _make_diagnostics(config, nets, normalize)
  period = _make_period(config, iteration, evaluate, diagnostics, EVAL_METRIC_NAMES + diagnostic_metric_names(nets))

  def prefill(state: TrainState) -> TrainState:
    """min_replay_size transitions acted by config.prefill_policy: uniform actions, or the initial policy."""
    return period(state, state.hyperparams, True)[0]

  def epoch(state: TrainState, hp: HyperParams) -> tuple[TrainState, dict]:
    return period(state, hp, False)

  pieces = _timing_pieces(act, env_step, learner, evaluate, diagnostics)
  return Trainer(init, prefill, epoch, period, evaluate, nets, env, observation_size, action_size,
                 config.replay_memory_bytes(observation_size, action_size), trace_counts, pieces)


def _zeros(names) -> dict:
  return {name: jnp.zeros((), jnp.float32) for name in names}


def _make_act(config: TrainConfig, nets: agent.AgentNetworks, normalize):
  """act(state, hp, key) -> actions [num_envs, |A|]: one draw of the executed law per env (for the particle
  policy: proposal + K refinement steps)."""

  def act(state: TrainState, hp: HyperParams, key: chex.PRNGKey) -> chex.Array:
    key_sample, _ = jax.random.split(key)  # split as before refinement moved into the family: same Gaussian runs
    obs = normalize(state.obs_stats, state.env_state.obs)
    params = acting_params(state, hp)
    return agent.executed_actions(nets, params, obs, jax.random.split(key_sample, config.num_envs))
  return act


def _make_iteration(config: TrainConfig, act, env_step, learner, action_size: int, trace_counts: dict):
  """iteration(state, hp, prefilling, sums) -> (state, sums): one step of every env, then grad_updates_per_step
  gradient steps (their metrics added to `sums`); while prefilling (a bool scalar), a prefill step:
  prefill_policy's actions and no gradient step. Each kind splits the state's key as it did on its own."""

  def prefill_inputs(state: TrainState, hp: HyperParams):
    """(state key, actions, reset key, unused updates key) of a prefill step."""
    key, key_action, key_reset = jax.random.split(state.key, 3)
    if config.prefill_policy == "initial":
      actions = act(state, state.hyperparams, key_action)
    else:
      actions = jax.random.uniform(key_action, (config.num_envs, action_size), minval=-1.0, maxval=1.0)
    return key, actions, key_reset, key

  def training_inputs(state: TrainState, hp: HyperParams):
    """(state key, actions, reset key, updates key) of a training step."""
    key, key_act, key_reset, key_updates = jax.random.split(state.key, 4)
    return key, act(state, hp, key_act), key_reset, key_updates

  def iteration(state: TrainState, hp: HyperParams, prefilling: chex.Array, sums: dict) -> tuple[TrainState, dict]:
    trace_counts["iteration"] += 1
    acting = state.replace(replay=None)  # the branches only act: the buffer stays out of the conditional
    key, actions, key_reset, key_updates = jax.lax.cond(prefilling, prefill_inputs, training_inputs, acting, hp)
    state = env_step(state.replace(key=key), actions, key_reset)
    update_keys = jax.random.split(key_updates, config.grad_updates_per_step)

    def update(i, carry):
      state, sums = carry
      state, metrics = learner.update(state, hp, update_keys[i])
      return state, jax.tree.map(jnp.add, sums, metrics)

    num_updates = jnp.where(prefilling, 0, config.grad_updates_per_step)
    return jax.lax.fori_loop(0, num_updates, update, (state, sums))
  return iteration


def _make_period(config: TrainConfig, iteration, evaluate, diagnostics, end_metric_names: tuple[str, ...]):
  """period(state, hp, prefilling) -> (state, metrics). With prefilling (a bool scalar, traced or not) false,
  one epoch: steps_per_eval training iterations, then the evaluation and diagnostics (metrics: the iterations'
  means and the evaluation's); true, the prefill: prefill_steps prefill iterations (metrics: zeros). One loop
  serves both, so a compiled program that holds it holds the env step once."""

  def evaluate_and_diagnose(state: TrainState, hp: HyperParams) -> tuple[chex.PRNGKey, dict]:
    key, key_eval, key_diag = jax.random.split(state.key, 3)
    state = state.replace(key=key)
    return key, {**evaluate(state, key_eval), **diagnostics(state, hp, key_diag)}

  def period(state: TrainState, hp: HyperParams, prefilling: chex.Array | bool) -> tuple[TrainState, dict]:
    prefilling = jnp.asarray(prefilling)
    num_iterations = jnp.where(prefilling, config.prefill_steps, config.steps_per_eval)
    state, sums = jax.lax.fori_loop(0, num_iterations, lambda _, c: iteration(c[0], hp, prefilling, c[1]),
                                    (state, _zeros(UPDATE_METRIC_NAMES)))
    metrics = jax.tree.map(lambda x: x / jnp.maximum(num_iterations * config.grad_updates_per_step, 1), sums)
    key, end_metrics = jax.lax.cond(prefilling, lambda s, h: (s.key, _zeros(end_metric_names)),
                                    evaluate_and_diagnose, state, hp)
    metrics.update(end_metrics)
    metrics["env_steps"] = state.env_steps
    return state.replace(key=key), metrics
  return period


def _make_init(config: TrainConfig, env, nets: agent.AgentNetworks, observation_size: int, action_size: int):
  """init(key, hp) -> the TrainState of a run's start: fresh networks, optimisers, empty replay, reset envs."""

  def init(key: chex.PRNGKey, hp: HyperParams) -> TrainState:
    key_policy, key_critic, key_env, key_state = jax.random.split(key, 4)
    dummy_obs = jnp.zeros((observation_size,))
    policy_params = nets.policy.init(key_policy, dummy_obs)
    critic_params = nets.critic.init(key_critic, dummy_obs, jnp.zeros((action_size,)))
    log_tau = jnp.log(jnp.asarray(hp.tau, jnp.float32))
    return TrainState(
        policy_params=policy_params, critic_params=critic_params, target_critic_params=critic_params,
        log_tau=log_tau, policy_opt_state=ADAM.init(policy_params), critic_opt_state=ADAM.init(critic_params),
        tau_opt_state=ADAM.init(log_tau), obs_stats=normalization.init_statistics(observation_size),
        replay=replay.replay_init(config.replay_size, observation_size, action_size),
        env_state=envs.reset_envs(env, key_env, config.num_envs), key=key_state,
        env_steps=jnp.zeros((), jnp.int32), grad_steps=jnp.zeros((), jnp.int32), hyperparams=hp,
        tune_tau=config.tune_tau)
  return init


def _make_env_step(config: TrainConfig, env):
  """env_step(state, actions, key) -> state after one step of every env: stored, statistics and counts updated."""

  def env_step(state: TrainState, actions: chex.Array, key: chex.PRNGKey) -> TrainState:
    env_state, step = envs.step_and_autoreset(env, state.env_state, actions, key)
    transition = replay.Transition(step.observation, step.action, step.reward, 1.0 - step.termination,
                                   step.next_observation)
    return state.replace(
        env_state=env_state, replay=replay.replay_add(state.replay, transition),
        obs_stats=normalization.update_statistics(state.obs_stats, step.observation) if
        config.normalize_observations else state.obs_stats,
        env_steps=state.env_steps + config.num_envs * config.action_repeat)
  return env_step


def _timing_pieces(act, env_step, learner, evaluate, diagnostics) -> dict:
  """What one epoch is made of, each (state, hp, key) -> result, for timing (benchmarks/time_breakdown.py)."""

  def act_and_env_step(state: TrainState, hp: HyperParams, key: chex.PRNGKey) -> TrainState:
    key_act, key_reset = jax.random.split(key)
    return env_step(state, act(state, hp, key_act), key_reset)

  return {
      "act_and_env_step": act_and_env_step,
      "critic_update": learner.critic_update,  # batch, next-state values and the critic's step
      "update": lambda state, hp, key: learner.update(state, hp, key)[0],  # one whole gradient step (actor: the rest)
      "evaluate": lambda state, hp, key: evaluate(state, key),
      "diagnostics": diagnostics,
  }

def _make_evaluate(config: TrainConfig, env, nets: agent.AgentNetworks, normalize, trace_counts: dict):
  """evaluate(state, key) -> eval metrics of `config` (see the returned function); counts its traces."""

  def evaluate(state: TrainState, key: chex.PRNGKey) -> dict:
    """num_eval_envs full episodes from fresh resets of the family's deterministic policy (tanh of the Gaussian
    mean, of g(o, 0), or of g(o, 0) moved by K noiseless WPG steps), or with deterministic_eval=False of one
    draw of the executed law per step (Brax's default evaluation)."""
    params = policy_params(state)[1]
    trace_counts["evaluate"] += 1
    num_steps = -(-config.episode_length // config.action_repeat)
    step_keys = None
    if not config.deterministic_eval:  # the resets keep `key` itself only on the deterministic path
      key, key_actions = jax.random.split(key)
      step_keys = jax.random.split(key_actions, num_steps)
    env_state = envs.reset_envs(env, key, config.num_eval_envs)

    def policy(obs: chex.Array, step_key: chex.PRNGKey | None) -> chex.Array:
      if step_key is None:
        return jnp.tanh(nets.policy.deterministic_u(params, obs))
      return agent.executed_actions(nets, params, obs, jax.random.split(step_key, config.num_eval_envs))

    def body(carry, step_key):
      env_state, returns, lengths, alive = carry
      obs = normalize(state.obs_stats, env_state.obs)
      actions = policy(obs, step_key)
      env_state = env.step(env_state, actions)
      returns = returns + jnp.where(alive > 0, env_state.reward, 0.0)  # a finished env's NaN stays out
      lengths = lengths + alive * config.action_repeat
      alive = alive * (1.0 - env_state.done)
      return (env_state, returns, lengths, alive), None

    zeros = jnp.zeros((config.num_eval_envs,))
    (_, returns, lengths, _), _ = jax.lax.scan(body, (env_state, zeros, zeros, zeros + 1.0), step_keys,
                                               length=num_steps)
    return dict(zip(EVAL_METRIC_NAMES, (jnp.mean(returns), jnp.std(returns), jnp.mean(lengths))))

  return evaluate


def diagnostic_metric_names(nets: agent.AgentNetworks) -> tuple[str, ...]:
  """The diagnostics' metrics: the KL residual and Fisher information only for families with a density."""
  return ("wpg/ksd", "training/tau") + (("wpg/kl_residual", "wpg/fisher") if nets.policy.has_density else ())


def _make_diagnostics(config: TrainConfig, nets: agent.AgentNetworks, normalize):
  """diagnostics(state, hp, key) -> the wpg/* metrics (`agent.state_diagnostics`, averaged over up to 64
  replay states) and the current τ."""

  def diagnostics(state: TrainState, hp: HyperParams, key: chex.PRNGKey) -> dict:
    key_batch, key_diag = jax.random.split(key)
    num_states = min(64, config.batch_size)
    batch = replay.replay_sample(state.replay, key_batch, num_states)
    obs = normalize(state.obs_stats, batch.observation)
    params = acting_params(state, hp)
    diag = jax.vmap(lambda o, k: agent.state_diagnostics(nets, params, o, k))(
        obs, jax.random.split(key_diag, num_states))
    values = (jnp.mean(diag.ksd), params.tau) + ((jnp.mean(diag.kl_residual), jnp.mean(diag.fisher))
                                                 if nets.policy.has_density else ())
    return dict(zip(diagnostic_metric_names(nets), values))

  return diagnostics


def make_train(config: TrainConfig) -> Callable[..., tuple[TrainState, dict]]:
  """Returns the pure `train(key, hyperparams=None) -> (final TrainState, metrics)`.

  metrics: a dict of arrays [num_evals] (one entry per evaluation, after each epoch) under METRIC_NAMES.
  hyperparams defaults to config.hyperparams(); pass a (batched) HyperParams to vmap a sweep over them.
  Jit it yourself: `jax.jit(train)(key)`, `jax.jit(jax.vmap(train))(keys)`.
  """
  trainer = make_trainer(config)

  def train(key: chex.PRNGKey, hyperparams: HyperParams | None = None) -> tuple[TrainState, dict]:
    hp = config.hyperparams() if hyperparams is None else hyperparams
    # The prefill and the epochs as one scan of periods, so that the program holds the env step once.
    prefilling = jnp.arange(config.num_evals + 1) == 0
    state, metrics = jax.lax.scan(lambda s, p: trainer.period(s, hp, p), trainer.init(key, hp), prefilling)
    return state, jax.tree.map(lambda x: x[1:], metrics)

  train.trainer = trainer  # type: ignore[attr-defined]
  return train


def make_policy(config: TrainConfig, action_size: int | None = None):
  """Brax-style policy factory: make_policy(params, deterministic=False) -> policy(obs, key) -> (action, {}).

  params = `policy_params(state)` = (obs_stats, PolicyParams) (normaliser first, as in Brax). The stochastic
  policy draws from the same executed law as training (for the particle policy: proposal + K refinement steps
  on the critic in params); deterministic=True is the law evaluation uses. Actions are in [−1, 1]. For the
  families that do not refine, (obs_stats, policy network params) is accepted too.
  """
  if action_size is None:
    action_size = envs.make_env(config.env, backend=config.backend).action_size
  nets = agent.make_networks(config, action_size)

  def make(params, deterministic: bool = False):
    obs_stats, acting = params
    if not isinstance(acting, PolicyParams):
      if config.refine_steps > 0:
        raise ValueError(f"policy {config.policy!r} acts on the critic too: pass wpgjax.policy_params(state), "
                         "not (obs_stats, policy network params)")
      acting = PolicyParams(acting, None, jnp.asarray(config.tau, jnp.float32),
                            jnp.asarray(config.wpg.refine_step_size, jnp.float32))

    def policy(observation: chex.Array, key: chex.PRNGKey):
      obs = normalization.normalize(obs_stats, observation, enabled=config.normalize_observations,
                                    max_abs=config.observation_clip)
      if deterministic:
        return jnp.tanh(nets.policy.deterministic_u(acting, obs)), {}
      flat = obs.reshape(-1, obs.shape[-1])
      keys = jax.random.split(key, flat.shape[0])
      return agent.executed_actions(nets, acting, flat, keys).reshape(obs.shape[:-1] + (action_size,)), {}

    return policy

  return make
