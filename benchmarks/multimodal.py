"""The multimodal bandit: total-variation distance of the executed policy to the exact Gibbs law, per seed.

For each seed, `presets("multimodal_bandit")` (the particle agent; `--policy tanh_gaussian` for the Gaussian
one) is trained by `jax.jit(make_train(config))` from a fresh trace (wall-clock includes the compile), then
8192 actions of the executed law (`make_policy(config)(policy_params(state))`) are histogrammed on the env's
10 × 10 grid: TV to the exact law `multimodal.gibbs_grid(env, τ)` and each peak's share of mass.

    python benchmarks/multimodal.py --seeds 0 1 2 --out benchmarks/results/multimodal
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.machine import load_average, system_info  # noqa: E402

NUM_SAMPLES = 8192


def run(seed: int, overrides: dict) -> dict:
  import jax
  import jax.numpy as jnp
  import numpy as np

  from wpgjax.envs import multimodal as mm
  from wpgjax.rl import make_policy, make_train, policy_params, presets

  config = presets("multimodal_bandit", **overrides)
  load_start = load_average()[0]
  start = time.perf_counter()
  state, _ = jax.block_until_ready(jax.jit(make_train(config))(jax.random.key(seed)))
  wall = time.perf_counter() - start
  act = make_policy(config, action_size=2)(policy_params(state))
  actions = np.asarray(jax.jit(act)(jnp.zeros((NUM_SAMPLES, 1)), jax.random.key(123))[0])
  env = mm.MultimodalBandit()
  law = mm.gibbs_grid(env, config.tau)
  return {"seed": seed, "policy": config.policy, "overrides": overrides, "env_steps": config.num_timesteps,
          "refine_steps": config.refine_steps, "refine_method": config.wpg.refine_method,
          "tv": float(mm.histogram_tv(law, actions)), "shares": [float(x) for x in mm.sample_shares(env, actions)],
          "exact_shares": [float(x) for x in mm.peak_shares(env, law)], "wall_incl_compile_s": wall,
          "load_1m": [load_start, load_average()[0]]}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
  parser.add_argument("--policy", default=None, help="another policy family (default: the preset's particle)")
  parser.add_argument("--out", default="benchmarks/results/multimodal")
  args = parser.parse_args()
  overrides = {} if args.policy is None else {"policy": args.policy}
  rows = []
  for seed in args.seeds:
    rows.append(run(seed, overrides))
    print(json.dumps(rows[-1]), flush=True)
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  with open(args.out + ".json", "w") as f:
    json.dump({"command": "python benchmarks/multimodal.py " + " ".join(sys.argv[1:]), "machine": system_info(),
               "rows": rows}, f, indent=2)


if __name__ == "__main__":
  main()
