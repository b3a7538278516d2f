"""The runner's compile for one seed of a preset: `Programs.precompile` of both programs, then start (and the
prefill) and one epoch, and a digest of the policy parameters after it, to compare two commits.

    python benchmarks/precompile_time.py ENV            # num_evals=2: one epoch is half the preset's budget
    PYTHONPATH=<a worktree of another commit>/src python benchmarks/precompile_time.py ENV   # that commit's code

Prints one line: precompile seconds, start+prefill seconds, the epoch's seconds, its evaluation return and mean
critic loss, the first 12 hex digits of a SHA-256 of the policy parameters, and the 1-minute load average.
Works with the programs before 2026-12-05's change too (start then was init and the prefill).
"""

import hashlib
import sys
import time

import jax
import numpy as np

import wpgjax
from wpgjax.host.programs import Programs
from wpgjax.rl import seed_keys, shard_runs, sweep_grid


def main(env: str) -> None:
  config = wpgjax.presets(env, num_evals=2)
  devices = jax.devices()[:1]
  programs = Programs(config, devices)
  _, hps = sweep_grid(config, [0])
  (keys, hps), _, _ = shard_runs((seed_keys([0]), hps), devices)
  compile_s = programs.precompile([("epoch", (programs.abstract_state(keys, hps), hps)), ("start", (keys, hps))])
  t0 = time.perf_counter()
  state = programs("start", keys, hps)
  if hasattr(programs, "prefill"):  # since 2026-12-05 the epoch program prefills
    state = programs.prefill(state, hps)
  state = jax.block_until_ready(state)
  start_s = time.perf_counter() - t0
  t0 = time.perf_counter()
  state, metrics, _ = jax.block_until_ready(programs("epoch", state, hps))
  epoch_s = time.perf_counter() - t0
  digest = hashlib.sha256()
  for leaf in jax.tree.leaves(state.policy_params):
    digest.update(np.asarray(leaf).tobytes())
  print(f"{env} precompile {compile_s:.1f} start+prefill {start_s:.2f} epoch {epoch_s:.2f} "
        f"eval {float(metrics['eval/episode_reward'][0]):.3f} closs {float(metrics['training/critic_loss'][0]):.6f} "
        f"digest {digest.hexdigest()[:12]} load {open('/proc/loadavg').read().split()[0]}", flush=True)


if __name__ == "__main__":
  main(sys.argv[1])
