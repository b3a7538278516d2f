"""What the particle agent's refinement does during training: one line per evaluation, from fresh draws of the
proposal at 256 replay states (8 particles each).

    python benchmarks/particle_probe.py ENV [seed=S] [FIELD=VALUE ...]   e.g. dm_control/PointMass

Trains `presets(ENV, policy="particle")` with the overrides (default 50k env steps, 5 evaluations), calling the
compiled epoch itself, and prints after the prefill and after each epoch: the evaluation return, τ and the
entropy estimate the trainer logs, then at the replay states
- accept: MALA's mean acceptance probability of one step from the proposal's draws (one MALA step whatever
  wpg.refine_method and K are: the presets' K = 1 MALA refinement);
- beta_star: Σ zε / Σ ε² over every draw and dimension, ε = (u_0 − m)/σ the draw's noise and z = (u_1 − m)/σ
  after that step: the best weight of the fit's control variate for the means' gradient
  (wpg.amortized_control_variate; 1 when the step barely moves the particles, 0 when it mixes them fully);
- drift: mean ‖η∇Q_u‖ of that step, against noise = √(2τη·d), the Langevin noise's norm;
- sigma, absmean: the proposal's mean σ and mean |m| (u-space); mean_spread: std of m over its latent draws;
- sat: the fraction of actions |tanh u| > 0.99; q, qspread: the mean of Q_u over the draws and its spread
  across them (how much the critic tells the actions apart);
- reward_mean, reward_pos: the mean reward of a replay batch and its fraction above 0.01.
"""

import sys
import time

import jax
import jax.numpy as jnp

import wpgjax
from wpgjax import core
from wpgjax.rl import normalization, replay
from wpgjax.rl import train as rl_train
from wpgjax.rl.state import acting_params

NUM_STATES, NUM_PARTICLES = 256, 8


def make_probe(config, trainer, hp):
  nets = trainer.networks

  def probe(state, key):
    key_batch, key_states = jax.random.split(key)
    batch = replay.replay_sample(state.replay, key_batch, NUM_STATES)
    obs = normalization.normalize(state.obs_stats, batch.observation, enabled=config.normalize_observations,
                                  max_abs=config.observation_clip)
    params = acting_params(state, hp)

    def at_state(o, k):
      key_propose, key_step = jax.random.split(k)
      proposal = nets.policy.propose(params, o, key_propose, NUM_PARTICLES)
      potential = nets.policy.potential(params, o)
      q, grad = jax.vmap(jax.value_and_grad(potential))(proposal.u)
      moved, info = core.mala_step_with_info(key_step, proposal.u, potential, params.refine_step_size, params.tau)
      eps, z = (proposal.u - proposal.mean) / proposal.std, (moved - proposal.mean) / proposal.std
      return dict(accept=jnp.mean(info.acceptance_probability), z_eps=jnp.mean(z * eps), eps_sq=jnp.mean(eps * eps),
                  drift=jnp.mean(jnp.linalg.norm(params.refine_step_size * grad, axis=-1)),
                  noise=jnp.sqrt(2 * params.tau * params.refine_step_size * proposal.u.shape[-1]),
                  sigma=jnp.mean(proposal.std), absmean=jnp.mean(jnp.abs(proposal.mean)),
                  mean_spread=jnp.mean(jnp.std(proposal.mean, axis=0)),
                  sat=jnp.mean(jnp.abs(jnp.tanh(proposal.u)) > 0.99), q=jnp.mean(q), qspread=jnp.mean(jnp.std(q)))

    out = jax.tree.map(jnp.mean, jax.vmap(at_state)(obs, jax.random.split(key_states, NUM_STATES)))
    out["beta_star"] = out.pop("z_eps") / out.pop("eps_sq")
    return {**out, "reward_mean": jnp.mean(batch.reward), "reward_pos": jnp.mean(batch.reward > 0.01)}

  return jax.jit(probe)


def main(argv: list[str]) -> None:
  env, overrides = argv[0], dict(kv.split("=", 1) for kv in argv[1:])
  seed = int(overrides.pop("seed", 0))
  config = wpgjax.with_overrides(wpgjax.presets(env, policy="particle"),
                                 {"num_timesteps": 50_000, "num_evals": 5, **overrides})
  print(config.wpg, "tau0", config.tau, "tau lr", config.tau_learning_rate, "target entropy", config.target_entropy,
        config.activation, flush=True)
  trainer = rl_train.make_trainer(config)
  hp = config.hyperparams()
  probe = make_probe(config, trainer, hp)
  rounded = lambda metrics: {k: round(float(v), 4) for k, v in metrics.items()}
  start = time.perf_counter()
  state = jax.jit(lambda key: trainer.prefill(trainer.init(key, hp)))(jax.random.key(seed))
  epoch = jax.jit(trainer.epoch)
  print("prefill", rounded(probe(state, jax.random.key(1))), flush=True)
  for i in range(config.num_evals):
    state, metrics = epoch(state, hp)
    print(int(metrics["env_steps"]), "ret", round(float(metrics["eval/episode_reward"]), 1),
          "tau", round(float(metrics["training/tau"]), 4), "ent", round(float(metrics["training/entropy"]), 2),
          rounded(probe(state, jax.random.key(i + 2))), round(time.perf_counter() - start), flush=True)


if __name__ == "__main__":
  main(sys.argv[1:])
