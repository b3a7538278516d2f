"""Train one seed of a wpgjax preset and print its learning curve (a quick per-env sanity run; no baseline).

    python benchmarks/train_preset.py ENV [FIELD=VALUE ...]      e.g. halfcheetah num_timesteps=100000
    python benchmarks/train_preset.py ENV seed=1 [FIELD=VALUE ...]  # another seed (default 0)

Trains with the library's runner, `wpgjax.run` (compile, then the epoch called num_evals times), in a temporary
workdir with its files kept to a minimum (no plots, TensorBoard or progress bar; one checkpoint at the end,
without the replay buffer). The runner reports the setup and the compile time on stderr; this script prints
one line per evaluation from its `progress_fn`: env steps, eval return, τ, policy entropy, critic loss,
wall-clock seconds since the call (compilation included), and a last line with the compile and total seconds.
"""

import sys
import tempfile
import time

import wpgjax


def main(argv: list[str]) -> None:
  env, overrides = argv[0], dict(kv.split("=", 1) for kv in argv[1:])
  seed = int(overrides.pop("seed", 0))
  config = wpgjax.with_overrides(wpgjax.presets(env), overrides)
  start = time.perf_counter()

  def progress(env_steps: int, m: dict) -> None:
    print(env_steps, round(m["eval/episode_reward"], 1), "tau", round(m["training/tau"], 4),
          "ent", round(m["training/entropy"], 2), "closs", round(m["training/critic_loss"], 3),
          round(time.perf_counter() - start, 1), flush=True)

  with tempfile.TemporaryDirectory(prefix="train_preset_") as workdir:
    result = wpgjax.run(config, workdir, seeds=[seed], progress_fn=progress, progress=False, plot=False,
                        tensorboard=False, summary=False, checkpoint_every=config.num_evals, keep_best=0,
                        save_replay=False)
  print(env, overrides, "seed", seed, "compile", round(result.compile_seconds, 1), "wall", round(time.perf_counter() - start, 1),
        flush=True)


if __name__ == "__main__":
  main(sys.argv[1:])
