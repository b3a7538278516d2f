"""Env throughput of every DM Control task (MuJoCo Playground, MJX's JAX pipeline) through wpgjax's own env
path: `envs.make_env` + `envs.step_and_autoreset` under jit, random actions, on this machine.

For each task: construction time, compile time of reset and of a scan of steps, and env steps per second
(all envs together) over `--steps` batched steps, timed after compilation. One process for all tasks.

    python benchmarks/playground_throughput.py --num-envs 16 --steps 200 --out benchmarks/results/playground_throughput.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import jax
import jax.numpy as jnp

from wpgjax.rl import envs, playground


def measure(name: str, num_envs: int, steps: int) -> dict:
  t0 = time.perf_counter()
  env = envs.make_env(name)
  built = time.perf_counter() - t0
  reset = jax.jit(lambda key: envs.reset_envs(env, key, num_envs))

  @jax.jit
  def rollout(state, key):
    def body(state, key_t):
      key_action, key_reset = jax.random.split(key_t)
      action = jax.random.uniform(key_action, (num_envs, env.action_size), minval=-1.0, maxval=1.0)
      state, transition = envs.step_and_autoreset(env, state, action, key_reset)
      return state, transition.reward
    return jax.lax.scan(body, state, jax.random.split(key, steps))

  t0 = time.perf_counter()
  state = jax.block_until_ready(reset(jax.random.key(0)))
  reset_compile = time.perf_counter() - t0
  t0 = time.perf_counter()
  compiled = rollout.lower(state, jax.random.key(1)).compile()
  step_compile = time.perf_counter() - t0
  state, rewards = jax.block_until_ready(compiled(state, jax.random.key(1)))  # warm
  t0 = time.perf_counter()
  state, rewards = jax.block_until_ready(compiled(state, jax.random.key(2)))
  elapsed = time.perf_counter() - t0
  mjx_model = env.unwrapped.mjx_model
  return dict(task=name, build_s=round(built, 2), reset_compile_s=round(reset_compile, 1),
              step_compile_s=round(step_compile, 1), env_steps_per_s=round(num_envs * steps / elapsed, 1),
              observation_size=int(state.obs.shape[-1]), action_size=int(env.action_size),
              finite=bool(jnp.all(jnp.isfinite(rewards))), nq=int(mjx_model.nq), ngeom=int(mjx_model.ngeom),
              n_substeps=int(env.unwrapped.n_substeps), dt=float(env.unwrapped.dt))


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--tasks", nargs="*", default=None, help="default: every dm_control/ task")
  parser.add_argument("--num-envs", type=int, default=16)
  parser.add_argument("--steps", type=int, default=200)
  parser.add_argument("--out", default=None)
  args = parser.parse_args(argv)
  tasks = args.tasks or list(playground.task_names())
  rows = []
  for name in tasks:
    try:
      row = measure(name, args.num_envs, args.steps)
    except Exception as e:  # a task that fails is reported, not dropped
      row = dict(task=name, error=f"{type(e).__name__}: {e}"[:400])
    row["load_1min"] = round(os.getloadavg()[0], 2)
    rows.append(row)
    print(json.dumps(row), flush=True)
  if args.out:
    meta = dict(machine=platform.processor() or platform.machine(), cpus=os.cpu_count(), jax=jax.__version__,
                device=str(jax.devices()[0]), num_envs=args.num_envs, steps=args.steps)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
      json.dump(dict(meta=meta, rows=rows), f, indent=1)
  return 0


if __name__ == "__main__":
  sys.exit(main())
