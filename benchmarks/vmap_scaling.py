"""Seeds vmapped in one program vs sequential single-seed runs, wpgjax WPG on a small budget.

    python benchmarks/vmap_scaling.py --env inverted_pendulum --timesteps 4000 --num-evals 2 --ns 1 2 4 8 \
        --out benchmarks/results/vmap_scaling_inverted_pendulum

Programs (both from ``wpgjax.rl.make_train(config)``, the pure ``train(key, hp)``):
- single: ``jax.jit(train)`` compiled once ahead of time (``.lower(key, hp).compile()``), then called once per
  seed. "N sequential single-seed runs" = that one compile + the sum of the first N run times (one process,
  the compiled program reused, as a user would run seeds in a loop). A derived column also gives N separate
  processes (N × (compile + mean run)).
- vmapped(N): ``jax.jit(jax.vmap(train, in_axes=(0, None)))`` over N keys, compiled ahead of time and run once.

Each measurement records compile seconds (timed ``.lower().compile()``; ``brax_baselines.CompileTimer`` spans as
a cross-check), run seconds (call + ``block_until_ready``: ``benchmarks.driver.timed``), the final eval returns
per seed, and the load average at its start and end (``benchmarks.machine.load_average``: 1, 5, 15 min).
Measurements are interleaved (single compile + seed 0; then for each N: vmapped(N), then the single-seed runs
that bring the sequential count up to N) so that both sides see similar load. The env build (``make_train``)
happens once, outside the timings. The persistent compilation cache is off (cold) unless
JAX_COMPILATION_CACHE_DIR is set (``system.compilation_cache`` says which).

This script measures ``make_train`` (the whole run as one pure program) on purpose: vmapping it over seeds is
the subject. Training a config the way the host runner does is ``benchmarks.driver.train``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import brax_baselines as bb  # noqa: E402
from benchmarks.driver import timed  # noqa: E402
from benchmarks.machine import load_average, system_info  # noqa: E402


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--env", default="inverted_pendulum")
  p.add_argument("--timesteps", type=int, default=4000, help="wpgjax num_timesteps (prefill excluded)")
  p.add_argument("--num-evals", type=int, default=2)
  p.add_argument("--ns", type=int, nargs="+", default=[1, 2, 4, 8])
  p.add_argument("--max-sequential", type=int, default=None,
                 help="run at most this many single-seed runs (default: the largest N); the sequential totals "
                      "for larger N are then derived as 1 compile + N × the mean single run (marked 'derived')")
  p.add_argument("--out", required=True, help="output prefix: writes <out>.json and <out>.md")
  a = p.parse_args(argv)
  if a.max_sequential is not None and a.max_sequential < 1:
    p.error(f"--max-sequential must be a positive int, got {a.max_sequential}")

  import jax
  import numpy as np

  from wpgjax.rl import config_to_dict, make_train, presets

  config = presets(a.env, num_timesteps=a.timesteps, num_evals=a.num_evals)
  t0 = time.perf_counter()
  train = make_train(config)
  build_s = time.perf_counter() - t0
  hp = config.hyperparams()
  ns = sorted(a.ns)
  max_n = ns[-1]
  keys = [jax.random.PRNGKey(s) for s in range(max_n)]

  def final_returns(out) -> list[float]:
    _, metrics = out
    r = np.asarray(metrics["eval/episode_reward"])
    return np.atleast_2d(r)[:, -1].tolist()

  records: list[dict[str, Any]] = []
  out_path = Path(a.out)
  out_path.parent.mkdir(parents=True, exist_ok=True)

  def log(rec: dict[str, Any]) -> None:
    records.append(rec)
    print(json.dumps(rec), file=sys.stderr, flush=True)

  # Single-seed program: compile once, then seed 0.
  load0 = load_average()
  with bb.CompileTimer() as timer:
    t0 = time.perf_counter()
    single = jax.jit(train).lower(keys[0], hp).compile()
    c1 = time.perf_counter() - t0
  log(dict(kind="single_compile", compile_s=c1, compile_spans_s=timer.seconds, load_start=load0,
           load_end=load_average()))
  single_runs: list[dict[str, Any]] = []

  def run_single(seed: int) -> None:
    load = load_average()
    out, t = timed(single, keys[seed], hp)
    rec = dict(kind="single_run", seed=seed, run_s=t, final_returns=final_returns(out), load_start=load,
               load_end=load_average())
    single_runs.append(rec)
    log(rec)

  run_single(0)
  vmapped: dict[int, dict[str, Any]] = {}
  for n in ns:
    load = load_average()
    batched = jax.numpy.stack(keys[:n])
    with bb.CompileTimer() as timer:
      t0 = time.perf_counter()
      prog = jax.jit(jax.vmap(train, in_axes=(0, None))).lower(batched, hp).compile()
      cn = time.perf_counter() - t0
    out, t = timed(prog, batched, hp)
    rec = dict(kind="vmapped", n=n, compile_s=cn, compile_spans_s=timer.seconds, run_s=t,
               final_returns=final_returns(out), load_start=load, load_end=load_average())
    vmapped[n] = rec
    log(rec)
    del prog, out
    while len(single_runs) < min(n, a.max_sequential or n):
      run_single(len(single_runs))

  # Summary.
  s1_run = single_runs[0]["run_s"]
  s1_total = c1 + s1_run
  mean_single_run = float(np.mean([r["run_s"] for r in single_runs]))
  rows = []
  for n in ns:
    v = vmapped[n]
    derived = n > len(single_runs)
    seq_run = n * mean_single_run if derived else sum(r["run_s"] for r in single_runs[:n])
    rows.append(dict(
        n=n,
        vmapped_total_s=v["compile_s"] + v["run_s"], vmapped_compile_s=v["compile_s"], vmapped_run_s=v["run_s"],
        sequential_total_s=c1 + seq_run, sequential_run_s=seq_run, sequential_derived=derived,
        separate_processes_total_s=n * (c1 + mean_single_run),
        ratio_vmapped_to_single1_incl_compile=(v["compile_s"] + v["run_s"]) / s1_total,
        ratio_vmapped_to_single1_excl_compile=v["run_s"] / s1_run,
        ratio_vmapped_to_sequential_incl_compile=(v["compile_s"] + v["run_s"]) / (c1 + seq_run),
        vmapped_final_returns=v["final_returns"],
        single_final_returns=[r["final_returns"][0] for r in single_runs[:n]],
        load_vmapped=(v["load_start"], v["load_end"]),
    ))
  meta = dict(env=a.env, num_timesteps=a.timesteps, total_env_steps_per_seed=config.total_env_steps,
              num_evals=a.num_evals, ns=ns, build_s=build_s, single_compile_s=c1, single_run_s=s1_run,
              config=config_to_dict(config),
              command="python " + " ".join([sys.argv[0]] + (argv if argv is not None else sys.argv[1:])),
              system=system_info(),
              timestamp=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
  out_path.with_suffix(".json").write_text(json.dumps(bb.jsonable(dict(meta=meta, rows=rows,
                                                                        records=records)), indent=1) + "\n")
  lines = [
      f"### vmap scaling: {a.env}, wpgjax default preset, num_timesteps={a.timesteps} "
      f"({config.total_env_steps:,} env steps per seed incl. prefill), num_evals={a.num_evals}",
      "",
      f"Single-seed program: compile {c1:.1f} s, run {s1_run:.1f} s (seed 0); mean single run "
      f"{mean_single_run:.1f} s over {len(single_runs)} seeds. Env build (once, untimed in the rows): "
      f"{build_s:.1f} s.",
      "",
      "| N | vmapped: compile (s) | vmapped: run (s) | vmapped: total (s) | N sequential (1 compile + N runs) "
      "total (s) | N separate processes total (s, derived) | vmapped(N)/single(1) incl. compile | "
      "vmapped(N)/single(1) excl. compile | vmapped(N)/sequential(N) incl. compile | load 1m start→end "
      "(vmapped) |",
      "|---|---|---|---|---|---|---|---|---|---|",
  ]
  for r in rows:
    ls, le = r["load_vmapped"]
    lines.append(
        f"| {r['n']} | {r['vmapped_compile_s']:.1f} | {r['vmapped_run_s']:.1f} | {r['vmapped_total_s']:.1f} | "
        f"{r['sequential_total_s']:.1f}{' (derived)' if r['sequential_derived'] else ''} | "
        f"{r['separate_processes_total_s']:.1f} | "
        f"{r['ratio_vmapped_to_single1_incl_compile']:.2f}x | {r['ratio_vmapped_to_single1_excl_compile']:.2f}x | "
        f"{r['ratio_vmapped_to_sequential_incl_compile']:.2f}x | "
        f"{ls[0] if ls else '?'}→{le[0] if le else '?'} |")
  lines += ["", "Single-seed runs (run s, load 1m start→end): " + ", ".join(
      f"seed {r['seed']}: {r['run_s']:.1f} s ({r['load_start'][0]}→{r['load_end'][0]})" for r in single_runs),
      "", "Final eval returns, vmapped(max N) vs single: "
      f"{[round(x, 1) for x in rows[-1]['vmapped_final_returns']]} vs "
      f"{[round(x, 1) for x in rows[-1]['single_final_returns']]}", ""]
  out_path.with_suffix(".md").write_text("\n".join(lines))
  print("\n".join(lines))
  return 0


if __name__ == "__main__":
  sys.exit(main())
