"""Where a run's time goes, measured from the compiled pieces of `wpgjax.rl.make_trainer`.

For each env's preset (one seed, the first device):

- compile: ahead-of-time compile of start (= prefill ∘ init) and of the epoch, each timed;
- epoch: the compiled epoch's wall-clock (median of `--repeats` calls after a warm-up call);
- the pieces of one epoch, each jitted and compiled on its own and timed as the median of `--repeats` calls
  (`Trainer.pieces`): `act_and_env_step` (one draw of the executed law per env and one env step into the
  replay buffer), `update` (one whole gradient step: batch, next-state values, critic, actor and τ),
  `critic_update` (its batch, next-state values and critic step; the actor's share is update − critic_update),
  `evaluate` (the deterministic policy's episodes) and `diagnostics`. The epoch does
  steps_per_eval × (act_and_env_step + grad_updates_per_step × update) + evaluate +
  diagnostics; `pieces_sum_s` is that sum and `pieces_over_epoch` its ratio to the measured epoch (below 1 where
  the fused scan saves dispatches, above where it does not);
- host: the runner's work between epochs (metrics files, TensorBoard, plots, checkpoints), from
  `wpgjax.run(..., stop_after_evals=2)`'s `time_this_call` in summary.json, per epoch.

    python benchmarks/time_breakdown.py --envs inverted_pendulum reacher halfcheetah \\
        --out benchmarks/results/time_breakdown
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.machine import load_average, system_info  # noqa: E402


def _timed(fn, *args) -> tuple[object, float]:
  import jax

  t0 = time.perf_counter()
  out = jax.block_until_ready(fn(*args))
  return out, time.perf_counter() - t0


def _compiled(fn, *args):
  import jax

  t0 = time.perf_counter()
  compiled = jax.jit(fn).lower(*args).compile()
  return compiled, time.perf_counter() - t0


def breakdown(env: str, repeats: int, policy: str | None) -> dict:
  import jax

  import wpgjax

  config = wpgjax.presets(env) if policy is None else wpgjax.presets(env, policy=policy)
  trainer = wpgjax.make_trainer(config)
  hp, key = config.hyperparams(), jax.random.key(0)
  load_start = load_average()
  start, start_compile = _compiled(lambda k, h: trainer.prefill(trainer.init(k, h)), key, hp)
  state = start(key, hp)
  epoch, epoch_compile = _compiled(trainer.epoch, state, hp)
  (state, _), _ = _timed(epoch, state, hp)  # warm-up call
  epoch_times = []
  for _ in range(repeats):
    (state, _), seconds = _timed(epoch, state, hp)
    epoch_times.append(seconds)
  pieces = {}
  for name, piece in trainer.pieces.items():
    compiled, compile_s = _compiled(piece, state, hp, key)
    _timed(compiled, state, hp, key)
    runs = [_timed(compiled, state, hp, k)[1] for k in jax.random.split(jax.random.key(1), repeats)]
    pieces[name] = {"median_s": statistics.median(runs), "compile_s": compile_s}
  actor_s = max(pieces["update"]["median_s"] - pieces["critic_update"]["median_s"], 0.0)
  per_iteration = pieces["act_and_env_step"]["median_s"] + config.grad_updates_per_step * pieces["update"]["median_s"]
  pieces_sum = (config.steps_per_eval * per_iteration + pieces["evaluate"]["median_s"]
                + pieces["diagnostics"]["median_s"])
  epoch_s = statistics.median(epoch_times)
  share = {"env_stepping": config.steps_per_eval * pieces["act_and_env_step"]["median_s"] / pieces_sum,
           "critic_update": config.steps_per_eval * config.grad_updates_per_step
           * pieces["critic_update"]["median_s"] / pieces_sum,
           "actor_update": config.steps_per_eval * config.grad_updates_per_step * actor_s / pieces_sum,
           "evaluate": pieces["evaluate"]["median_s"] / pieces_sum,
           "diagnostics": pieces["diagnostics"]["median_s"] / pieces_sum}
  with tempfile.TemporaryDirectory() as workdir:
    wpgjax.run(config, workdir, stop_after_evals=2, progress=False, verbose=False, plot=True,
               handle_signals=False)
    split = json.load(open(os.path.join(workdir, "summary.json")))["time_this_call"]
  return {"env": env, "policy": config.policy, "backend": config.backend, "num_envs": config.num_envs,
          "steps_per_eval": config.steps_per_eval, "grad_updates_per_step": config.grad_updates_per_step,
          "batch_size": config.batch_size, "compile_s": {"start": start_compile, "epoch": epoch_compile},
          "epoch_s": epoch_s, "epoch_runs_s": epoch_times, "pieces": pieces, "pieces_sum_s": pieces_sum,
          "pieces_over_epoch": pieces_sum / epoch_s, "share_of_pieces": share,
          "host_per_epoch_s": split["host"] / 2, "runner_split_2_epochs": split,
          "load_1m": [load_start[0], load_average()[0]]}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--envs", nargs="+", default=["inverted_pendulum", "reacher", "halfcheetah"])
  parser.add_argument("--policy", default=None, help="policy family (default: each preset's)")
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--out", default="benchmarks/results/time_breakdown")
  args = parser.parse_args()
  rows = []
  for env in args.envs:
    rows.append(breakdown(env, args.repeats, args.policy))
    print(json.dumps(rows[-1]), flush=True)
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  with open(args.out + ".json", "w") as f:
    json.dump({"command": "python benchmarks/time_breakdown.py " + " ".join(sys.argv[1:]),
               "machine": system_info(), "rows": rows}, f, indent=2)


if __name__ == "__main__":
  main()
