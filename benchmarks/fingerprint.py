"""A bitwise fingerprint of a fixed-key CPU training run: SHA-256 of every metric and every final-state leaf.

Used to show that a refactor changes no behaviour: run it before and after, the digests must be equal.

    python benchmarks/fingerprint.py                 # fast preset, both policy families, seed 0
"""

import argparse
import hashlib
import json

import jax
import numpy as np

import wpgjax


def digest(tree) -> str:
  h = hashlib.sha256()
  for leaf in jax.tree.leaves(tree):
    if jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key):
      leaf = jax.random.key_data(leaf)
    arr = np.asarray(leaf)
    h.update(str(arr.dtype).encode() + str(arr.shape).encode() + arr.tobytes())
  return h.hexdigest()


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--policies", default="tanh_gaussian,pushforward")
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  out = {}
  for policy in args.policies.split(","):
    overrides = {"policy": policy, "num_timesteps": 2048, "num_evals": 2}
    if policy == "pushforward":
      overrides.update({"wpg.projection": "wppg", "wpg.num_action_samples": 4})
    config = wpgjax.presets("fast", **overrides)
    state, metrics = jax.jit(wpgjax.make_train(config))(jax.random.key(args.seed))
    out[policy] = {"metrics": digest(dict(sorted(metrics.items()))), "state": digest(state),
                   "per_metric": {name: digest(value)[:16] for name, value in sorted(metrics.items())},
                   "final_return": float(metrics["eval/episode_reward"][-1])}
  print(json.dumps(out, indent=1))


if __name__ == "__main__":
  main()
