"""The runner's compile for one seed of a preset: `Programs.precompile` of both programs, then start (and the
prefill) and one epoch, and a digest of the policy parameters after it, to compare two commits.

    python benchmarks/precompile_time.py ENV            # num_evals=2: one epoch is half the preset's budget
    python benchmarks/precompile_time.py ENV --compile-only                # the compile's line alone
    PYTHONPATH=<a worktree of another commit>/src python benchmarks/precompile_time.py ENV   # that commit's code

Prints one line: precompile seconds, start+prefill seconds, the epoch's seconds, its evaluation return and mean
critic loss, the first 12 hex digits of a SHA-256 of the policy parameters, and the 1-minute load average.
Works with the programs before 2026-12-05's change too (start then was init and the prefill).
"""

import hashlib
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks` importable as a script

import wpgjax  # noqa: E402
from benchmarks.driver import one_seed_programs  # noqa: E402


def main(env: str, compile_only: bool = False) -> None:
  config = wpgjax.presets(env, num_evals=2)
  programs, keys, hps = one_seed_programs(config)
  compile_s = programs.precompile([("epoch", (programs.abstract_state(keys, hps), hps)), ("start", (keys, hps))])
  if compile_only:
    print(f"{env} precompile {compile_s:.1f} load {open('/proc/loadavg').read().split()[0]}", flush=True)
    return
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
  main(sys.argv[1], compile_only="--compile-only" in sys.argv[2:])
