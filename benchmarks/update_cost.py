"""Cost per gradient update of each agent on one env's preset, all agents in one process, interleaved.

Per round, one fresh Python process builds, for every agent, `presets(env, policy=...)` with the agent's
overrides, runs prefill and one epoch (a replay buffer past prefill; `--epoch-repeats` further epochs are timed
and reported per gradient update: they add the env steps, evaluation and diagnostics), and compiles one whole
gradient step (`Trainer.pieces["update"]`: batch, next-state values, critic, actor, τ) chained `--calls` times.
Then it times them interleaved: `--repeats` passes, each calling every agent once (A B C, C B A, ...), so that
load drifts and the process's own state fall on every side alike; `update_ms` is the median per agent. Each
round is a new process (agents in reversed order every other round); the 1-minute load is recorded.
`update_flops` is XLA's own count of one compiled gradient step's floating-point operations
(`Compiled.cost_analysis()`): the arithmetic an agent asks for, whatever the machine's overheads.

    python benchmarks/update_cost.py --env inverted_double_pendulum \\
        --agents gaussian particle "particle:wpg.refine_method=ula" --rounds 2 \\
        --out benchmarks/results/update_cost

An agent is `gaussian` (the env's preset) or `particle` (`presets(env, policy="particle")`), optionally followed
by `:field=value,...` overrides (dotted wpg fields; values parsed as Python literals where possible).
With `--src DIR` the worker imports wpgjax from DIR (e.g. an older checkout's src/) to compare code versions.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.machine import load_average, system_info  # noqa: E402


def _parse_agent(spec: str) -> tuple[str, dict]:
  name, _, rest = spec.partition(":")
  overrides = {}
  for item in filter(None, rest.split(",")):
    key, _, value = item.partition("=")
    try:
      overrides[key] = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      overrides[key] = value
  if name not in ("gaussian", "particle"):
    raise SystemExit(f"--agents: {name!r} must be 'gaussian' or 'particle' (optionally ':field=value,...')")
  return name, overrides


def update_flops(update, state, hp, key) -> float | None:
  """XLA's flop count of one compiled call of update(state, hp, key); None where the backend reports none."""
  import jax

  analysis = jax.jit(lambda s, k: update(s, hp, k)).lower(state, key).compile().cost_analysis()
  analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
  return float(analysis["flops"]) if analysis and "flops" in analysis else None


def build(env: str, spec: str, calls: int, epoch_repeats: int) -> dict:
  """Compiles `spec`'s gradient step chained `calls` times on a replay buffer past prefill and one epoch."""
  import jax

  import wpgjax

  name, overrides = _parse_agent(spec)
  if name == "particle":
    overrides = {"policy": "particle", **overrides}
  config = wpgjax.presets(env, **overrides)
  trainer = wpgjax.make_trainer(config)
  hp, key = config.hyperparams(), jax.random.key(0)
  state = jax.jit(lambda k: trainer.prefill(trainer.init(k, hp)))(key)
  epoch = jax.jit(trainer.epoch)
  state, _ = jax.block_until_ready(epoch(state, hp))  # compile, and a replay buffer past prefill
  epoch_s = []
  for _ in range(epoch_repeats):
    t0 = time.perf_counter()
    state, _ = jax.block_until_ready(epoch(state, hp))
    epoch_s.append(time.perf_counter() - t0)
  pieces = trainer.pieces
  if "update" in pieces:  # carry the state through `calls` chained gradient steps
    chained = jax.jit(lambda s, k: jax.lax.scan(lambda c, kk: (pieces["update"](c, hp, kk), None), s,
                                                jax.random.split(k, calls))[0])
  else:  # older checkouts (--src) had the two halves apart, each from the same state; sum their outputs
    def halves(s, k):
      out = (pieces["critic_update"](s, hp, k), pieces["actor_update"](s, hp, k))
      return sum(jax.numpy.sum(leaf) for leaf in jax.tree.leaves(out))
    chained = jax.jit(lambda s, k: jax.lax.scan(lambda c, kk: (c + halves(s, kk), None), 0.0,
                                                jax.random.split(k, calls))[0])
  jax.block_until_ready(chained(state, key))
  updates_per_epoch = config.steps_per_eval * config.grad_updates_per_step
  return {"run": lambda k: jax.block_until_ready(chained(state, k)), "row": {
      "agent": spec, "policy": config.policy, "num_action_samples": config.wpg.num_action_samples,
      "refine_steps": config.refine_steps, "refine_method": config.wpg.refine_method,
      "batch_size": config.batch_size, "hidden_sizes": list(config.hidden_sizes),
      "epoch_ms_per_update": 1e3 * statistics.median(epoch_s) / updates_per_epoch if epoch_s else None,
      "update_flops": update_flops(pieces["update"], state, hp, key) if "update" in pieces else None,
      "wpgjax_file": wpgjax.__file__, "update_runs_ms": []}}


def measure(env: str, specs: list[str], repeats: int, calls: int, epoch_repeats: int) -> list[dict]:
  """Builds every agent in this process, then times them interleaved: `repeats` rounds, each timing every
  agent once (order reversed every other round)."""
  import jax

  agents = [build(env, spec, calls, epoch_repeats) for spec in specs]
  load_start = load_average()[0]
  for index, key in enumerate(jax.random.split(jax.random.key(1), repeats)):
    for agent in (agents if index % 2 == 0 else agents[::-1]):
      t0 = time.perf_counter()
      agent["run"](key)
      agent["row"]["update_runs_ms"].append(1e3 * (time.perf_counter() - t0) / calls)
  rows = [agent["row"] for agent in agents]
  for row in rows:
    row["update_ms"] = statistics.median(row["update_runs_ms"])
    row["load_1m"] = [load_start, load_average()[0]]
  return rows


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--env", default="inverted_double_pendulum")
  parser.add_argument("--agents", nargs="+", default=["gaussian", "particle"])
  parser.add_argument("--rounds", type=int, default=2)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--calls", type=int, default=50, help="chained updates per timed call")
  parser.add_argument("--epoch-repeats", type=int, default=1, help="timed epochs after the first (0: none)")
  parser.add_argument("--src", default=None, help="import wpgjax from this src/ folder instead")
  parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
  parser.add_argument("--out", default="benchmarks/results/update_cost")
  args = parser.parse_args()
  if args.worker is not None:
    print(json.dumps(measure(args.env, args.worker.split(";"), args.repeats, args.calls, args.epoch_repeats)),
          flush=True)
    return
  for spec in args.agents:
    _parse_agent(spec)
  env = dict(os.environ)
  if args.src:
    env["PYTHONPATH"] = os.path.abspath(args.src) + os.pathsep + env.get("PYTHONPATH", "")
  rows = []
  for round_index in range(args.rounds):  # a fresh process per round, all agents interleaved inside it
    order = args.agents if round_index % 2 == 0 else args.agents[::-1]
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--env", args.env, "--worker", ";".join(order),
                          "--repeats", str(args.repeats), "--calls", str(args.calls),
                          "--epoch-repeats", str(args.epoch_repeats)],
                         capture_output=True, text=True, env=env, check=True)
    for row in json.loads(out.stdout.strip().splitlines()[-1]):
      rows.append({"round": round_index, **row})
      print(json.dumps(rows[-1]), flush=True)
  summary = {}
  for spec in args.agents:
    mine = [r for r in rows if r["agent"] == spec]
    summary[spec] = {"update_ms": statistics.median(r["update_ms"] for r in mine),
                     "epoch_ms_per_update": statistics.median(r["epoch_ms_per_update"] or float("nan")
                                                              for r in mine),
                     "update_flops": mine[0].get("update_flops")}
  base = summary[args.agents[0]]["update_ms"]
  base_flops = summary[args.agents[0]]["update_flops"]
  for spec in args.agents:
    summary[spec]["update_ratio_to_first"] = summary[spec]["update_ms"] / base
    flops = summary[spec]["update_flops"]
    summary[spec]["flops_ratio_to_first"] = flops / base_flops if flops and base_flops else None
    summary[spec]["update_ratio_to_first_per_round"] = [  # paired within each process
        next(r["update_ms"] for r in rows if r["round"] == i and r["agent"] == spec)
        / next(r["update_ms"] for r in rows if r["round"] == i and r["agent"] == args.agents[0])
        for i in range(args.rounds)]
  print(json.dumps(summary, indent=1))
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  with open(args.out + ".json", "w") as f:
    json.dump({"command": "python benchmarks/update_cost.py " + " ".join(sys.argv[1:]), "env": args.env,
               "machine": system_info(), "summary": summary, "rows": rows}, f, indent=2)


if __name__ == "__main__":
  main()
