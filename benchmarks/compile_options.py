"""Compile time against run time of a preset's two programs under XLA compiler options (one seed, one process).

    python benchmarks/compile_options.py halfcheetah [--variants opt0_noexp default noexp opt1] [--epochs 3]

The runner's programs (`wpgjax.host.programs.Programs`: start = init, and the epoch, which also prefills) are
lowered once; then, for each variant in turn, both are compiled with `Lowered.compile(compiler_options=...)` and
timed one after the other (XLA's CPU compiler already keeps two cores busy, so the runner's side-by-side compile
takes about the sum), start and the prefill are run, and the epoch is called `--epochs` times from that state
(wall-clock of each call). BENCHMARKS.md §16's figures were taken when start was init and the prefill. A variant
that compiles faster pays only if the run loses less than it saves. The last epoch's evaluation return is printed
as a check that the program computes the same thing (options that change the numerics change it). Variants: XLA's
CPU backend flags `xla_backend_optimization_level` (LLVM's optimisation level; XLA's default 2) and
`xla_llvm_disable_expensive_passes`; "opt0_noexp" is what JAX_DISABLE_MOST_OPTIMIZATIONS sets.
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks` importable as a script

from benchmarks.driver import one_seed_programs  # noqa: E402
from benchmarks.machine import load_average, system_info  # noqa: E402

VARIANTS = {
    "default": {},
    "opt1": {"xla_backend_optimization_level": 1},
    "noexp": {"xla_llvm_disable_expensive_passes": True},
    "opt0_noexp": {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True},
}


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("env")
  p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
  p.add_argument("--epochs", type=int, default=3)
  p.add_argument("--out", default=None, help="a JSON file for the results")
  args = p.parse_args()

  import jax

  import wpgjax

  config = wpgjax.presets(args.env)
  load_start = load_average()
  programs, keys, hps = one_seed_programs(config)
  t0 = time.perf_counter()
  lowered_epoch = programs.jitted("epoch").lower(programs.abstract_state(keys, hps), hps)
  lowered_start = programs.jitted("start").lower(keys, hps)
  results = {"env": args.env, "lower_s": time.perf_counter() - t0, "variants": {}}
  print("lowered both programs in", round(results["lower_s"], 1), "s", flush=True)
  for name in args.variants:
    t0 = time.perf_counter()
    start = lowered_start.compile(compiler_options=VARIANTS[name])
    start_compile_s = time.perf_counter() - t0
    epoch = lowered_epoch.compile(compiler_options=VARIANTS[name])
    epoch_compile_s = time.perf_counter() - t0 - start_compile_s
    print(name, "compiled: start", round(start_compile_s, 1), "s, epoch", round(epoch_compile_s, 1), "s", flush=True)
    state = start(keys, hps)
    state = jax.block_until_ready(epoch(state, hps)[0] if config.prefill_steps else state)  # the first call prefills
    epoch_s = []
    for _ in range(args.epochs):
      t0 = time.perf_counter()
      state, metrics, _ = jax.block_until_ready(epoch(state, hps))
      epoch_s.append(time.perf_counter() - t0)
    results["variants"][name] = dict(
        options=VARIANTS[name], start_compile_s=start_compile_s, epoch_compile_s=epoch_compile_s, epoch_s=epoch_s,
        last_eval_return=float(jax.device_get(metrics["eval/episode_reward"]).ravel()[0]))
    print(name, "epochs (s):", [round(x, 2) for x in epoch_s], "last eval return",
          round(results["variants"][name]["last_eval_return"], 1), flush=True)
  results["meta"] = dict(system=system_info(), load_start=load_start, load_end=load_average())
  if args.out:
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
  main()
