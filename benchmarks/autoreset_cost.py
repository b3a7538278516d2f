"""What the auto-reset costs per env step: `step_and_autoreset` (resets the batch only at steps where an env
finished) against resetting every env at every step and selecting (wpgjax before 2026-12-02), and against a
bare `env.step` (no reset at all, the floor).

    python benchmarks/autoreset_cost.py --out benchmarks/results/autoreset_cost.json

Per env (its backend, `--num-envs` envs, uniform random actions in [-1, 1]): each variant is one jitted
`lax.scan` of `--steps` env steps, compiled first (not timed); then the variants are timed in turn, `--repeats`
rounds, interleaved so that they share the machine's load. Reported: the median seconds per batched step, the
microseconds per env step, and the fraction of steps at which some env finished (where the reset runs).
Random actions end hopper's episodes within tens of steps, so its fraction is an upper bound for a trained
policy; halfcheetah never terminates (only its 1000-step limit ends an episode).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks` importable as a script
from benchmarks.machine import compilation_cache, load_average, system_info  # noqa: E402
from wpgjax._testing import reset_every_env_then_select  # noqa: E402
from wpgjax.rl import envs  # noqa: E402

DEFAULT_ENVS = (("hopper", "generalized"), ("halfcheetah", "spring"), ("inverted_double_pendulum", "generalized"))


def make_rollout(env, variant: str, steps: int, num_envs: int):
  def one(carry, key):
    state, any_done = carry
    k_action, k_reset = jax.random.split(key)
    action = jax.random.uniform(k_action, (num_envs, env.action_size), minval=-1.0, maxval=1.0)
    if variant == "reset_when_done":
      state, transition = envs.step_and_autoreset(env, state, action, k_reset)
      done = transition.done
    elif variant == "reset_every_step":
      state = reset_every_env_then_select(env, state, action, k_reset)
      done = jnp.zeros(())  # the any-done fraction is read from the reset_when_done rollout
    else:
      state = env.step(state, action)
      done = state.done
    return (state, any_done + jnp.any(done > 0)), None

  def rollout(state, key):
    (state, any_done), _ = jax.lax.scan(one, (state, jnp.zeros((), jnp.int32)), jax.random.split(key, steps))
    return state, any_done

  return jax.jit(rollout)


def measure(name: str, backend: str, num_envs: int, steps: int, repeats: int) -> dict:
  env = envs.make_env(name, backend=backend)
  state = envs.reset_envs(env, jax.random.key(0), num_envs)
  variants = ("reset_when_done", "reset_every_step", "step_only")
  rollouts = {v: make_rollout(env, v, steps, num_envs) for v in variants}
  compile_s, any_done = {}, {}
  for v, f in rollouts.items():
    t = time.perf_counter()
    _, count = jax.block_until_ready(f(state, jax.random.key(1)))
    compile_s[v] = time.perf_counter() - t
    any_done[v] = int(count)
  seconds = {v: [] for v in variants}
  for r in range(repeats):
    for v, f in rollouts.items():
      t = time.perf_counter()
      jax.block_until_ready(f(state, jax.random.key(2 + r)))
      seconds[v].append(time.perf_counter() - t)
  out = dict(env=name, backend=backend, num_envs=num_envs, steps=steps, repeats=repeats,
             any_done_fraction=any_done["reset_when_done"] / steps, first_call_s=compile_s, variants={})
  for v in variants:
    per_step = statistics.median(seconds[v]) / steps
    out["variants"][v] = dict(seconds=seconds[v], median_s_per_batched_step=per_step,
                              us_per_env_step=1e6 * per_step / num_envs)
  base = out["variants"]["reset_every_step"]["median_s_per_batched_step"]
  for v in variants:
    out["variants"][v]["relative_to_reset_every_step"] = out["variants"][v]["median_s_per_batched_step"] / base
  return out


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--envs", nargs="+", default=[f"{e}:{b}" for e, b in DEFAULT_ENVS], metavar="ENV:BACKEND")
  p.add_argument("--num-envs", type=int, default=16)
  p.add_argument("--steps", type=int, default=500)
  p.add_argument("--repeats", type=int, default=5)
  p.add_argument("--out", default=None)
  a = p.parse_args()
  result = dict(system=system_info(), compilation_cache=compilation_cache(), load_start=load_average(), runs=[])
  for spec in a.envs:
    name, backend = spec.split(":")
    r = measure(name, backend, a.num_envs, a.steps, a.repeats)
    result["runs"].append(r)
    print(f"{name} ({backend}, {a.num_envs} envs): any-done at {r['any_done_fraction']:.1%} of steps; " + ", ".join(
        f"{v} {d['us_per_env_step']:.1f} us/env-step ({d['relative_to_reset_every_step']:.2f}x)"
        for v, d in r["variants"].items()), flush=True)
  result["load_end"] = load_average()
  if a.out:
    Path(a.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
  main()
