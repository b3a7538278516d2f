"""Compiled programs, shared by every run with the same program-shaping config (hyperparameters are inputs).

`get_programs(config, devices)` returns the `Programs` of a config (init, and the prefill or an epoch; mapped over
runs by `over_runs`, sharded, compiled ahead of time once per input signature); `get_evaluator(config)` the
jitted evaluation used by `evaluate`. Both caches keep the few most recently used configs.
"""

from __future__ import annotations

import collections
import json
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from wpgjax.rl.config import SWEEPABLE_FIELDS, TrainConfig, config_to_dict
from wpgjax.rl.sweep import run_sharding
from wpgjax.rl.train import make_trainer

__all__ = ["Programs", "get_programs", "get_evaluator", "over_runs", "state_template"]

_CACHE_SIZE = 4


def _static_key(config: TrainConfig) -> str:
  """The config without its sweepable hyperparameters: what shapes the compiled programs."""
  data = config_to_dict(config)
  for field in SWEEPABLE_FIELDS:
    node = data
    *parents, leaf = field.split(".")
    for part in parents:
      node = node[part]
    node.pop(leaf, None)
  return json.dumps(data, sort_keys=True)


def _params_finite(state) -> jax.Array:
  leaves = jax.tree.leaves((state.policy_params, state.critic_params, state.target_critic_params,
                            state.log_tau, state.obs_stats))
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def over_runs(fn: Callable) -> Callable:
  """`fn` mapped over the leading run axis of all its arguments: vmapped, or, when that axis has one run, applied to
  the run with the axis put back. The second is the same computation without vmap's batching rules, which trace a
  scan's body again until its carry's batching is settled: with one run on CPU it lowers in about half the time
  and compiles a little faster (BENCHMARKS.md §14). Its results equal the vmapped program's up to float rounding
  (XLA may order a reduction differently without the run axis); runs and resumes stay bitwise reproducible."""

  def mapped(*args):
    if jax.tree.leaves(args)[0].shape[0] != 1:
      return jax.vmap(fn)(*args)
    out = fn(*jax.tree.map(lambda x: x[0], args))
    return jax.tree.map(lambda x: x[None], out)

  return mapped


class Programs:
  """The pieces of one config's trainer mapped over runs (`over_runs`), jitted with the run-axis sharding and
  compiled ahead of time per input signature (so compile time is measured apart from run time and each piece is
  traced once): start (init) and epoch (the trainer's period, plus a finiteness check of the parameters for the
  NaN guard): the prefill while the replay buffers hold fewer than min_replay_size transitions (after start, or
  after restoring a checkpoint saved without them), an epoch after. One program holding the env step for both
  compiles it once; a prefill program of its own compiled about as long as the epoch (BENCHMARKS.md §11, §16)."""

  def __init__(self, config: TrainConfig, devices: Sequence[Any]):
    self.trainer = t = make_trainer(config)
    self.config = config
    self.devices = list(devices)
    self.sharding = run_sharding(self.devices)

    def epoch(state, hp):
      prefilling = jnp.min(state.replay.size) < config.min_replay_size  # one flag for all runs: not vmapped

      def period(state, hp):
        state, metrics = t.period(state, hp, prefilling)
        return state, metrics, _params_finite(state)
      return over_runs(period)(state, hp)

    self._jitted = {
        "start": jax.jit(over_runs(t.init), out_shardings=self.sharding),
        "epoch": jax.jit(epoch, out_shardings=self.sharding),
    }
    self._compiled: dict[Any, Any] = {}

  def abstract_state(self, keys, hps):
    """The avals of the state `start` returns, placed with the run sharding. Weak types are dropped so that
    a fresh run and a run restored from a checkpoint compile the very same epoch program. Read from `init`
    alone: the prefill is a loop whose carry is the state, so it keeps every shape and dtype, and tracing it
    here would cost seconds (4.7 s against 0.7 s on inverted_pendulum)."""
    shapes = jax.eval_shape(jax.vmap(self.trainer.init), keys, hps)
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=self.sharding), shapes)

  def jitted(self, name: str):
    """The jitted program `name` ("start" or "epoch"), not compiled: for `.lower(...)` with other
    compiler options (`benchmarks/compile_options.py`)."""
    return self._jitted[name]

  @staticmethod
  def _signature(name: str, args) -> Any:
    leaves, treedef = jax.tree.flatten(args)
    return (name, treedef, tuple((np.shape(x), str(x.dtype)) for x in leaves))

  def needs_compile(self, jobs: Sequence[tuple[str, tuple]]) -> bool:
    """Whether any of the (name, args) jobs is not compiled yet."""
    return any(self._signature(name, args) not in self._compiled for name, args in jobs)

  def precompile(self, jobs: Sequence[tuple[str, tuple]]) -> float:
    """Compiles the (name, args) jobs not compiled yet; returns the wall time spent. Tracing and lowering hold
    the GIL, so the jobs are lowered one after another, in the order given, and each is compiled in a thread
    while the next one lowers (give the longest compile first)."""
    from concurrent.futures import ThreadPoolExecutor

    todo = {}
    for name, args in jobs:
      signature = self._signature(name, args)
      if signature not in self._compiled:
        todo[signature] = (name, args)
    if not todo:
      return 0.0
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(todo)) as pool:
      futures = {sig: pool.submit(self._jitted[name].lower(*args).compile) for sig, (name, args) in todo.items()}
    for signature, future in futures.items():
      self._compiled[signature] = future.result()
    return time.perf_counter() - started

  def prefill(self, state, hps):
    """The epoch program called on a state whose replay buffers hold fewer than min_replay_size transitions (a
    fresh start, or a checkpoint restored without them): the state, prefilled. With min_replay_size 0, the
    state itself."""
    return self("epoch", state, hps)[0] if self.config.prefill_steps else state

  def __call__(self, name: str, *args):
    signature = self._signature(name, args)
    if signature not in self._compiled:
      self.precompile([(name, args)])
    return self._compiled[signature](*args)


def state_template(trainer, keys, hps, *, save_replay: bool):
  """The abstract train state a checkpoint is restored into; without a saved replay buffer, the buffer is a
  concrete empty one (the checkpoint does not hold it)."""
  template = jax.eval_shape(jax.vmap(trainer.init), keys, hps)
  if not save_replay:
    template = template.replace(replay=jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), template.replay))
  return template


_PROGRAMS: "collections.OrderedDict[Any, Programs]" = collections.OrderedDict()
_EVALUATORS: "collections.OrderedDict[Any, tuple[Any, Callable]]" = collections.OrderedDict()


def _cached(cache: collections.OrderedDict, key: Any, build: Callable[[], Any]) -> Any:
  """cache[key], built on a miss; the least recently used entries beyond _CACHE_SIZE are dropped."""
  if key in cache:
    cache.move_to_end(key)
  else:
    cache[key] = build()
    while len(cache) > _CACHE_SIZE:
      cache.popitem(last=False)
  return cache[key]


def get_programs(config: TrainConfig, devices: Sequence[Any]) -> Programs:
  """The (cached) compiled programs of `config` on `devices`."""
  key = (_static_key(config), tuple(d.id for d in devices), tuple(d.platform for d in devices))
  return _cached(_PROGRAMS, key, lambda: Programs(config, devices))


def get_evaluator(config: TrainConfig) -> tuple[Any, Callable]:
  """(trainer, jitted evaluate vmapped over runs) for `config`, cached like the training programs."""
  def build():
    trainer = make_trainer(config)
    return trainer, jax.jit(jax.vmap(trainer.evaluate, in_axes=(0, None)))

  return _cached(_EVALUATORS, _static_key(config), build)
