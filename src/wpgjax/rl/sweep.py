"""Seeds × hyperparameter grids as ONE program: vmap over a leading "run" axis, sharded over devices.

A grid {"tau": [0.01, 0.1], "wpg.step_size": [0.05, 0.1]} × seeds [0, 1, 2] becomes 12 runs. The run axis is
padded up to a multiple of the device count (the padding repeats the last run and is dropped from the results,
never the other way round), placed with `run_sharding` (a NamedSharding over a 1-D mesh of all devices, or the one
device itself), and
`jax.jit(jax.vmap(train))` runs it. With `distributed=...` the mesh spans the devices of every process
(`wpgjax.rl.distributed`): each process computes the runs on its own devices and receives every run's metrics.
"""

from __future__ import annotations

import itertools
from typing import Any, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from wpgjax.rl import distributed as dist
from wpgjax.rl.config import SWEEPABLE_FIELDS, HyperParams, TrainConfig, with_overrides
from wpgjax.rl.train import make_train

__all__ = ["SweepResult", "sweep_grid", "sweep", "shard_runs", "run_sharding", "pad_runs", "seed_keys"]


class SweepResult(NamedTuple):
  """runs: one dict per run {"seed": int, <field>: value, ...}; state: final TrainStates stacked [R, ...];
  metrics: dict of arrays [R, num_evals]; num_padded: runs added to fill the devices (already removed, except
  from the global `state` of a multi-process sweep, which keeps them: [R + num_padded, ...])."""
  runs: list[dict[str, Any]]
  state: Any
  metrics: dict
  num_padded: int


def _check_grid_value(config: TrainConfig, key: str, value: Any) -> None:
  """A grid value must be a finite number that the config accepts for `key` (its message names the range)."""
  if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not np.isfinite(value):
    raise ValueError(f"grid[{key!r}] values must be finite numbers, got {value!r}")
  try:
    with_overrides(config, {key: float(value)})
  except ValueError as err:
    raise ValueError(f"grid[{key!r}] value {value!r} is not allowed: {err}") from None


def sweep_grid(config: TrainConfig, seeds: Sequence[int],
               grid: Mapping[str, Sequence[float]] | None = None) -> tuple[list[dict[str, Any]], HyperParams]:
  """The runs of a seeds × grid sweep and their stacked HyperParams [R].

  grid keys are dotted config fields among SWEEPABLE_FIELDS (an unknown or non-sweepable key raises
  ValueError naming the allowed keys); each value list must be non-empty, and each value a number the config
  accepts for its field (the config's own message says the range). Runs are ordered grid-major, seed-minor.
  """
  grid = dict(grid or {})
  for key, values in grid.items():
    if key not in SWEEPABLE_FIELDS:
      raise ValueError(f"grid key {key!r} is not a sweepable hyperparameter; allowed: {list(SWEEPABLE_FIELDS)}")
    if len(values) == 0:
      raise ValueError(f"grid[{key!r}] must list at least one value")
    for value in values:
      _check_grid_value(config, key, value)
  if len(seeds) == 0:
    raise ValueError("seeds must list at least one seed")
  base = config.hyperparams()
  runs, hps = [], []
  for combo in itertools.product(*grid.values()):
    overrides = {key: float(value) for key, value in zip(grid.keys(), combo)}
    hp = base.replace(**{SWEEPABLE_FIELDS[k]: jnp.asarray(v, jnp.float32) for k, v in overrides.items()})
    for seed in seeds:
      runs.append({"seed": int(seed), **overrides})
      hps.append(hp)
  return runs, jax.tree.map(lambda *xs: jnp.stack(xs), *hps)


def seed_keys(seeds: Sequence[int]) -> jax.Array:
  """Typed PRNG keys [R], one per seed: the run with seed s starts from jax.random.key(s)."""
  return jax.vmap(jax.random.key)(jnp.asarray(list(seeds), jnp.uint32))


def run_sharding(devices: Sequence[Any]) -> jax.sharding.Sharding:
  """Where the run axis lives: split over a 1-D mesh "runs" of `devices`, or on the one device itself.

  With one run the program is applied to it directly (`programs.over_runs`); a mesh would then be part of the
  type of the values the program receives, but not of those it makes (an evaluation's fresh env state), so JAX
  would trace the env's step once for each (`envs.TracedOnce`; 2.3 s on halfcheetah, BENCHMARKS.md §16). One
  device needs no mesh."""
  if len(devices) == 1:
    return jax.sharding.SingleDeviceSharding(devices[0])
  return NamedSharding(Mesh(np.array(devices), ("runs",)), PartitionSpec("runs"))


def shard_runs(tree: Any, devices: Sequence[Any] | None = None) -> tuple[Any, int, jax.sharding.Sharding]:
  """Pads the leading (run) axis of every leaf to a multiple of len(devices) by repeating the last run and
  places it with `run_sharding(devices)` (over the devices of all processes under jax.distributed: each process
  places only its own shards). Returns (sharded tree, number of padded runs, the sharding)."""
  devices = list(jax.devices() if devices is None else devices)
  num_runs = jax.tree.leaves(tree)[0].shape[0]
  num_padded = (-num_runs) % len(devices)
  sharding = run_sharding(devices)
  return jax.tree.map(lambda x: dist.global_put(x, sharding), pad_runs(tree, num_padded)), num_padded, sharding


def pad_runs(tree: Any, num_padded: int) -> Any:
  """Every leaf with its last run repeated `num_padded` more times along the leading (run) axis."""
  if num_padded == 0:
    return tree
  return jax.tree.map(lambda x: jnp.concatenate([x, jnp.repeat(x[-1:], num_padded, axis=0)], axis=0), tree)


def sweep(config: TrainConfig, seeds: Sequence[int], grid: Mapping[str, Sequence[float]] | None = None, *,
          devices: Sequence[Any] | None = None,
          distributed: bool | dist.DistributedSpec = False) -> SweepResult:
  """Runs every (grid point, seed) of the sweep in one jitted, vmapped, device-sharded program.

  Run i with seed s uses key jax.random.key(s), so it equals `make_train(config)(jax.random.key(s), hp_i)`.
  distributed: True (auto-detect the cluster) or a `DistributedSpec`: join jax.distributed first and shard
    over every process's devices; every process must call `sweep` with the same arguments. `metrics` are then
    whole host arrays on every process; `state` stays a global array (each process holds its own runs).
  """
  if distributed is not False:
    if devices is not None:
      raise ValueError("devices must be None with distributed (the mesh is every process's devices)")
    dist.initialize(dist.DistributedSpec() if distributed is True else distributed)
  runs, hps = sweep_grid(config, seeds, grid)
  keys = seed_keys([run["seed"] for run in runs])
  (keys, hps), num_padded, sharding = shard_runs((keys, hps), devices)
  train = make_train(config)
  state, metrics = jax.jit(jax.vmap(train), out_shardings=sharding)(keys, hps)
  num_runs = len(runs)
  if jax.process_count() > 1:  # a global array cannot be cut unevenly: only the gathered metrics lose the padding
    metrics = jax.tree.map(lambda x: x[:num_runs], dist.gather_to_host(metrics))
    return SweepResult(runs, state, metrics, num_padded)
  state, metrics = jax.tree.map(lambda x: x[:num_runs], (state, metrics))
  return SweepResult(runs, state, metrics, num_padded)
