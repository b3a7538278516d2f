"""Train one seed of a wpgjax preset and print its learning curve (a quick per-env sanity run; no baseline).

    python benchmarks/train_preset.py ENV [FIELD=VALUE ...]      e.g. halfcheetah num_timesteps=100000

Drives `make_trainer` like the host runner (jit(prefill ∘ init), then jit(epoch) called num_evals times) and prints
one line per evaluation: env steps, eval return, τ, policy entropy, critic loss, wall-clock seconds incl. compile.
"""

import sys
import time

import jax

from wpgjax.rl import make_trainer, presets, with_overrides


def main(argv: list[str]) -> None:
  env, overrides = argv[0], dict(kv.split("=", 1) for kv in argv[1:])
  config = with_overrides(presets(env), overrides)
  trainer = make_trainer(config)
  hp = config.hyperparams()
  start = time.time()
  state = jax.jit(lambda key: trainer.prefill(trainer.init(key, hp)))(jax.random.key(0))
  epoch = jax.jit(trainer.epoch).lower(state, hp).compile()
  print(env, overrides, "compile", round(time.time() - start, 1), flush=True)
  for _ in range(config.num_evals):
    state, m = epoch(state, hp)
    print(int(m["env_steps"]), round(float(m["eval/episode_reward"]), 1), "tau", round(float(m["training/tau"]), 4),
          "ent", round(float(m["training/entropy"]), 2), "closs", round(float(m["training/critic_loss"]), 3),
          round(time.time() - start, 1), flush=True)


if __name__ == "__main__":
  main(sys.argv[1:])
