"""Brax's own SAC and PPO trainers as baselines, run in the same Python environment as wpgjax.

A later benchmark puts these next to wpgjax's WPG trainer on the same environment, env-step budget and seeds.

    from benchmarks.brax_baselines import run_brax_sac, run_brax_ppo
    result = run_brax_sac("inverted_pendulum", num_timesteps=20_000, seed=0)

    python benchmarks/brax_baselines.py --env inverted_pendulum --algo sac --timesteps 20000 --seeds 0 1 \
        --out benchmarks/results/brax_sac_ip.json

Each run returns a JSON-able dict (see ``_run``): the eval curve ``[(env_steps, eval/episode_reward,
walltime_s)]``, the final eval return, the total wall-clock time INCLUDING compilation, a compile-time estimate
and env steps/s excluding compilation, plus the full recipe, versions and cache state, so a result file says
how it was made.

Evaluation: Brax's trainers evaluate the stochastic policy by default (``deterministic_eval=False``). Here they
evaluate its mode (``deterministic_eval=True``), as wpgjax evaluates tanh of the Gaussian mean; an override
``deterministic_eval=False`` restores Brax's default. Result files written before 2026-12-03 were evaluated with
the stochastic policy (their ``recipe`` has no ``deterministic_eval`` entry; BENCHMARKS.md §15).

Timing methods
--------------
- ``total_wall_s``: ``time.perf_counter`` from just before the environment is built to just after Brax's
  ``train`` returns (importing jax/brax is excluded: it happens once per process).
- ``curve[i][2]``: seconds since that same start when Brax called ``progress_fn`` (after each evaluation; the
  first point, at step 0, is the evaluation of the untrained policy and so includes its compilation).
- ``compile_estimate_s`` (primary): measured, not inferred. JAX reports every trace, lowering and XLA compile as
  a time span through ``jax.monitoring`` (events ``/jax/core/compile/jaxpr_trace_duration``,
  ``.../jaxpr_to_mlir_module_duration``, ``.../backend_compile_duration``); the harness records the spans that
  occur during the run and reports the length of their union (nested spans are not double-counted). A
  persistent-cache hit shows up as a short backend-compile span, so warm caches give a smaller number;
  ``compilation_cache_dir`` in the result says whether a cache was on. ``CompileTimer`` is public so the WPG
  side of a benchmark can be timed the same way.
- ``overhead_estimate_s`` (cross-check): ``total_wall_s`` minus what the run would have cost at steady state,
  i.e. each epoch's env steps at a steady Brax ``training/sps`` plus one steady ``eval/epoch_eval_time`` per
  evaluation (steady values: see ``_steady``; ``evals`` in the result lists the raw per-evaluation timings).
  It counts all one-time costs (compilation, env construction, initialisation); ``None`` when there are
  fewer than two training epochs.
- ``env_steps_per_s``: ``env_steps / (total_wall_s - compile_estimate_s)``: end-to-end throughput without
  compilation, evaluation time included. ``train_sps_steady``: steady Brax ``training/sps`` (training only,
  no evaluation; Brax's first-epoch value includes compilation, so it is left out).
- ``seconds_per_update`` (SAC): steady wall-clock between consecutive evaluations (training and evaluation)
  over the gradient updates in between: the cost per update that ``benchmarks/compare_agents.py`` puts next
  to wpgjax's (epoch wall / (steps_per_eval × grad_updates_per_step)).
- ``system``: versions, CPU, and the load average and JAX compilation cache state (cold or warm) at the start
  and end of the run, from ``benchmarks.machine``.

Recipes
-------
``SAC_RECIPES`` / ``PPO_RECIPES`` hold one CPU-sized recipe per environment; ``RECIPE_SOURCES`` says where each
came from. "Published" means the hyperparameters the Brax team published in google/brax
``notebooks/training.ipynb`` ("We determined some reasonable hyperparameters offline"): PPO for
inverted_pendulum, inverted_double_pendulum, reacher, halfcheetah; SAC for hopper (and walker2d). Those target
2048 envs on an accelerator; the CPU versions keep the algorithmic settings (discount, learning rate, entropy
cost, reward scaling, unroll length, updates per batch, update-to-data ratio) and shrink the parallelism
(``num_envs``, ``batch_size``, ``num_minibatches``) and the step budget. Only the inverted_pendulum recipes have
been run on this machine; the others are starting points.

Compatibility: Brax 0.14.2's trainers call ``jax.device_put_replicated``, removed in jax 0.10. When it is
missing the harness (and only the harness) restores it from ``jax._src.api`` (a private API; brax issue #671).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import functools
import inspect
import json
import math
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks` importable as a script
from benchmarks.machine import compilation_cache, load_average, system_info  # noqa: E402

# --------------------------------------------------------------------------------------------------------------
# Recipes
# --------------------------------------------------------------------------------------------------------------

# Keys are ``{sac,ppo}.train`` keyword arguments, except ``network``: keyword arguments for the network factory
# (``sac_networks.make_sac_networks`` / ``ppo_networks.make_ppo_networks``); ``num_timesteps`` here is only the
# CLI's default budget.
# The inverted_pendulum recipe with a 100k-step default budget (it learns hopper on generalized: BENCHMARKS.md §12).
_SMALL_CPU_SAC = dict(
    num_timesteps=100_000, num_evals=11, num_envs=16, batch_size=256, learning_rate=1e-3,
    grad_updates_per_step=16, discounting=0.99, reward_scaling=1.0, normalize_observations=True,
    min_replay_size=1000, max_replay_size=100_000, num_eval_envs=32, action_repeat=1,
    network=dict(hidden_layer_sizes=(64, 64)),
)
SAC_RECIPES: dict[str, dict[str, Any]] = {
    "inverted_pendulum": dict(
        num_timesteps=20_000, num_evals=5, num_envs=16, batch_size=256, learning_rate=1e-3,
        grad_updates_per_step=16, discounting=0.99, reward_scaling=1.0, normalize_observations=True,
        min_replay_size=1000, max_replay_size=100_000, num_eval_envs=128, action_repeat=1,
        network=dict(hidden_layer_sizes=(64, 64)),
    ),
    "inverted_double_pendulum": dict(
        num_timesteps=60_000, num_evals=7, num_envs=16, batch_size=256, learning_rate=1e-3,
        grad_updates_per_step=16, discounting=0.99, reward_scaling=1.0, normalize_observations=True,
        min_replay_size=1000, max_replay_size=100_000, num_eval_envs=128, action_repeat=1,
        network=dict(hidden_layer_sizes=(64, 64)),
    ),
    "reacher": dict(
        num_timesteps=200_000, num_evals=11, num_envs=32, batch_size=256, learning_rate=6e-4,
        grad_updates_per_step=16, discounting=0.95, reward_scaling=5.0, normalize_observations=True,
        min_replay_size=8192, max_replay_size=1_048_576, num_eval_envs=128, action_repeat=1,
        network=dict(hidden_layer_sizes=(256, 256)),
    ),
    "halfcheetah": dict(
        num_timesteps=300_000, num_evals=11, num_envs=32, batch_size=256, learning_rate=6e-4,
        grad_updates_per_step=16, discounting=0.99, reward_scaling=1.0, normalize_observations=True,
        min_replay_size=8192, max_replay_size=1_048_576, num_eval_envs=32, action_repeat=1,
        network=dict(hidden_layer_sizes=(256, 256)),
    ),
    "hopper": _SMALL_CPU_SAC,
    "walker2d": _SMALL_CPU_SAC,
    "swimmer": _SMALL_CPU_SAC,
    "pusher": _SMALL_CPU_SAC,
    "ant": _SMALL_CPU_SAC,
    "humanoid": _SMALL_CPU_SAC,
}

PPO_RECIPES: dict[str, dict[str, Any]] = {
    "inverted_pendulum": dict(
        num_timesteps=1_000_000, num_evals=11, num_envs=256, batch_size=256, num_minibatches=16,
        unroll_length=5, num_updates_per_batch=4, discounting=0.97, learning_rate=3e-4, entropy_cost=1e-2,
        reward_scaling=10.0, normalize_observations=True, num_eval_envs=128, action_repeat=1, network={},
    ),
    "inverted_double_pendulum": dict(
        num_timesteps=3_000_000, num_evals=11, num_envs=256, batch_size=256, num_minibatches=16,
        unroll_length=5, num_updates_per_batch=4, discounting=0.97, learning_rate=3e-4, entropy_cost=1e-2,
        reward_scaling=10.0, normalize_observations=True, num_eval_envs=128, action_repeat=1, network={},
    ),
    "reacher": dict(
        num_timesteps=5_000_000, num_evals=11, num_envs=128, batch_size=128, num_minibatches=8,
        unroll_length=50, num_updates_per_batch=8, discounting=0.95, learning_rate=3e-4, entropy_cost=1e-3,
        reward_scaling=5.0, normalize_observations=True, num_eval_envs=128, action_repeat=4, network={},
    ),
    "halfcheetah": dict(
        num_timesteps=5_000_000, num_evals=11, num_envs=128, batch_size=128, num_minibatches=16,
        unroll_length=20, num_updates_per_batch=8, discounting=0.95, learning_rate=3e-4, entropy_cost=1e-3,
        reward_scaling=1.0, normalize_observations=True, num_eval_envs=32, action_repeat=1, network={},
    ),
    "hopper": dict(
        num_timesteps=5_000_000, num_evals=11, num_envs=128, batch_size=128, num_minibatches=16,
        unroll_length=5, num_updates_per_batch=4, discounting=0.97, learning_rate=3e-4, entropy_cost=1e-2,
        reward_scaling=10.0, normalize_observations=True, num_eval_envs=32, action_repeat=1, network={},
    ),
}

_PUBLISHED = "google/brax notebooks/training.ipynb (hyperparameters published by the Brax team)"
RECIPE_SOURCES: dict[str, dict[str, str]] = {
    "sac": {
        "inverted_pendulum": (
            "Measured on this 2-core CPU (shared/reference/FIELD-NOTES.md): 16 envs, batch 256, lr 1e-3, 16 grad "
            "updates per env step (update-to-data ratio 1), (64, 64) nets, normalised observations; reported "
            "eval 406/932/1000/1000 at 5.8k/10.5k/15.3k/20k steps. Discount 0.99 and reward scaling 1 are "
            "this harness's choice (FIELD-NOTES does not state them); min_replay_size 1000 reproduces the "
            "FIELD-NOTES eval steps. This harness, seed 0, 20k steps (2026-11-27, 2-core CPU, loaded): eval "
            "470/1000/1000/1000 at 5.8k/10.5k/15.3k/20k steps, 155 s wall of which 111 s compilation."),
        "inverted_double_pendulum": (
            "FIELD-NOTES: the inverted_pendulum recipe unchanged reaches ~9357 (the maximum) from ~45k of 60k "
            "steps."),
        "reacher": (
            "Derived, untested: no published Brax SAC recipe for reacher. Structure of the published hopper SAC "
            "recipe (" + _PUBLISHED + ": lr 6e-4, min_replay 8192, replay 2^20, update-to-data ratio 0.5) with "
            "reacher's published PPO discount 0.95 and reward scaling 5."),
        "halfcheetah": (
            "Derived, untested: no published Brax SAC recipe for halfcheetah. Structure of the published hopper "
            "SAC recipe (" + _PUBLISHED + ") with the usual SAC discount 0.99 and reward scaling 1 (halfcheetah "
            "has no termination and large per-step rewards)."),
        "hopper": (
            "The inverted_pendulum recipe (16 envs, batch 256, lr 1e-3, 16 grad updates per env step, (64, 64) "
            "nets, normalised observations, discount 0.99, reward scaling 1), 100k steps. This harness on the "
            "generalized backend, seeds 0 and 1 (BENCHMARKS.md §12, §15): final 2,599 and 3,091 with the "
            "deterministic evaluation (1,605 and 1,976 with the stochastic one, in 290 s and 270 s on the AMD "
            "EPYC); "
            "issue 12 measured 414 on spring (seed 0). The published recipe ("
            + _PUBLISHED + ": 6.55M steps, 128 envs, batch 512, 64 updates per step, lr 6e-4, discount 0.997, "
            "reward scaling 30, (256, 256)) is far beyond a CPU budget."),
        "walker2d": "The hopper recipe unchanged (derived; no published Brax SAC recipe for walker2d).",
        "swimmer": "The hopper recipe unchanged (derived; no published Brax SAC recipe for swimmer).",
        "pusher": "The hopper recipe unchanged (derived; no published Brax SAC recipe for pusher).",
        "ant": "The hopper recipe unchanged (derived; Brax publishes PPO, not SAC, for ant).",
        "humanoid": "The hopper recipe unchanged (derived; Brax publishes PPO, not SAC, for humanoid).",
    },
    "ppo": {
        "inverted_pendulum": (
            "Published PPO recipe (" + _PUBLISHED + ": 2048 envs, batch 1024, 32 minibatches, 2M steps, unroll "
            "5, 4 updates per batch, discount 0.97, lr 3e-4, entropy 1e-2, reward scaling 10, default networks) "
            "scaled for CPU: 256 envs, batch 256, 16 minibatches (20,480 env steps per update instead of "
            "163,840), 1M steps. This harness, seed 0 (2026-11-27, 2-core CPU, loaded): eval 1000 first at 205k "
            "steps (195 s wall), dips to 921/486 at 307k/410k, 1000 from 512k on; 1M steps in 423 s of which "
            "146 s compilation."),
        "inverted_double_pendulum": (
            "Published PPO recipe (" + _PUBLISHED + ", same settings as inverted_pendulum, 20M steps) scaled as "
            "for inverted_pendulum, 3M steps. Untested here."),
        "reacher": (
            "Published PPO recipe (" + _PUBLISHED + ": 2048 envs, batch 256, 32 minibatches, 50M steps, "
            "action_repeat 4, unroll 50, 8 updates per batch, discount 0.95, lr 3e-4, entropy 1e-3, reward "
            "scaling 5) scaled for CPU: 128 envs, batch 128, 8 minibatches, 5M steps. Untested here."),
        "halfcheetah": (
            "Published PPO recipe (" + _PUBLISHED + ": 2048 envs, batch 512, 32 minibatches, 50M steps, unroll "
            "20, 8 updates per batch, discount 0.95, lr 3e-4, entropy 1e-3, reward scaling 1) scaled for CPU: "
            "128 envs, batch 128, 16 minibatches, 5M steps. Untested here."),
        "hopper": (
            "Derived, untested: Brax publishes SAC, not PPO, for hopper. Uses the published inverted_pendulum / "
            "ant PPO settings (unroll 5, 4 updates per batch, discount 0.97, lr 3e-4, entropy 1e-2, reward "
            "scaling 10) with 128 envs, batch 128, 16 minibatches, 5M steps."),
    },
}

# MuJoCo Playground's DM Control recipes (mujoco_playground/config/dm_control_suite_params.py, playground 0.2.0),
# for every "dm_control/<Task>" env. SAC: Playground's recipe scaled for a CPU as Brax's small CPU recipe is (16
# envs, batch 256, 16 updates per env step, (64, 64) networks; Playground: 128 envs, batch 512, 8 updates per env
# step, (256, 256)), 100k env steps (Playground: 5M-10M); the rest is Playground's. At Playground's own scale and a
# CPU budget both agents were still at the start of learning (BENCHMARKS.md §14); pass num_envs=128,
# batch_size=512, grad_updates_per_step=8 and network={"hidden_layer_sizes": [256, 256], "q_network_layer_norm":
# true} for it. PPO: Playground's recipe with only the budget cut (Playground: 60M-100M env steps). Playground's
# PendulumSwingup setting (action_repeat 4) is keyed "PendulumSwingUp" there, so Playground itself never applies
# it; it is not applied here either.
_PLAYGROUND_SAC = dict(
    num_timesteps=100_000, num_evals=11, num_envs=16, batch_size=256, learning_rate=1e-3,
    grad_updates_per_step=16, discounting=0.99, reward_scaling=1.0, normalize_observations=True,
    min_replay_size=8192, max_replay_size=1_048_576, num_eval_envs=128, action_repeat=1,
    network=dict(q_network_layer_norm=True, hidden_layer_sizes=(64, 64)),
)
_PLAYGROUND_PPO = dict(
    num_timesteps=5_000_000, num_evals=11, num_envs=2048, batch_size=1024, num_minibatches=32,
    unroll_length=30, num_updates_per_batch=16, discounting=0.995, learning_rate=1e-3, entropy_cost=1e-2,
    reward_scaling=10.0, normalize_observations=True, num_eval_envs=128, action_repeat=1, network={},
)
_PLAYGROUND_SOURCE = {
    "sac": ("Playground's DM Control SAC recipe (dm_control_suite_params.brax_sac_config: lr 1e-3, discount "
            "0.99, LayerNorm Q networks, min replay 8192, normalised observations) scaled for a CPU as Brax's small "
            "CPU recipe is: 16 envs, batch 256, 16 updates per env step, (64, 64) networks (Playground: 128 envs, "
            "batch 512, 8 updates per env step, (256, 256)); the budget cut from 5M-10M env steps to this run's."),
    "ppo": ("Playground's DM Control PPO recipe (dm_control_suite_params.brax_ppo_config: 2048 envs, batch 1024, "
            "32 minibatches, unroll 30, 16 updates per batch, discount 0.995, lr 1e-3, entropy 1e-2, reward "
            "scaling 10) with the budget cut from 60M-100M env steps to this run's."),
}
PLAYGROUND_PREFIX = "dm_control/"

_RECIPES = {"sac": SAC_RECIPES, "ppo": PPO_RECIPES}
_PLAYGROUND_RECIPES = {"sac": _PLAYGROUND_SAC, "ppo": _PLAYGROUND_PPO}

# --------------------------------------------------------------------------------------------------------------
# Imports (quiet) and the jax >= 0.10 compatibility shim
# --------------------------------------------------------------------------------------------------------------


def _apply_jax_compat() -> bool:
  """Restore ``jax.device_put_replicated`` (removed in jax 0.10) for Brax's trainers. True if patched."""
  import jax

  with warnings.catch_warnings():  # jax 0.9 deprecates it: looking it up warns
    warnings.simplefilter("ignore", DeprecationWarning)
    present = hasattr(jax, "device_put_replicated")
  if present:
    return False
  from jax._src import api as _api  # private API: for this baseline harness only

  jax.device_put_replicated = _api.device_put_replicated
  return True


@functools.lru_cache(maxsize=None)
def _brax():
  """Import Brax with its stdout chatter ("Failed to import warp") sent to stderr; apply the jax shim."""
  with contextlib.redirect_stdout(sys.stderr):
    import brax
    import brax.envs
    from brax.training.agents.ppo import networks as ppo_networks
    from brax.training.agents.ppo import train as ppo_train
    from brax.training.agents.sac import networks as sac_networks
    from brax.training.agents.sac import train as sac_train
  patched = _apply_jax_compat()
  return dict(brax=brax, envs=brax.envs, sac=sac_train, ppo=ppo_train, sac_networks=sac_networks,
              ppo_networks=ppo_networks, patched=patched)


# --------------------------------------------------------------------------------------------------------------
# Compile timing
# --------------------------------------------------------------------------------------------------------------

_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)


class CompileTimer:
  """Context manager: wall time spent tracing, lowering and compiling with JAX inside the block.

  Listens to ``jax.monitoring`` time spans and reports the length of their union (nested spans count once),
  plus the number of spans of each kind. ``seconds`` is None where this JAX has no time-span listeners.
  """

  def __init__(self) -> None:
    self.spans: list[tuple[float, float]] = []
    self.counts: dict[str, int] = {e.rsplit("/", 1)[-1]: 0 for e in _COMPILE_EVENTS}
    self.available = False

  def _listener(self, event: str, start: float, end: float, **_: Any) -> None:
    if event in _COMPILE_EVENTS:
      self.spans.append((start, end))
      self.counts[event.rsplit("/", 1)[-1]] += 1

  def __enter__(self) -> "CompileTimer":
    import jax.monitoring as monitoring

    if hasattr(monitoring, "register_event_time_span_listener"):
      monitoring.register_event_time_span_listener(self._listener)
      self.available = True
    return self

  def __exit__(self, *exc: Any) -> None:
    import jax.monitoring as monitoring

    if self.available and hasattr(monitoring, "unregister_event_time_span_listener"):
      with contextlib.suppress(Exception):
        monitoring.unregister_event_time_span_listener(self._listener)

  @property
  def seconds(self) -> float | None:
    if not self.available:
      return None
    total, cur_start, cur_end = 0.0, None, None
    for start, end in sorted(self.spans):
      if cur_end is None or start > cur_end:
        if cur_end is not None:
          total += cur_end - cur_start
        cur_start, cur_end = start, end
      else:
        cur_end = max(cur_end, end)
    if cur_end is not None:
      total += cur_end - cur_start
    return total


# --------------------------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------------------------


def _to_float(x: Any) -> float:
  try:
    return float(x)
  except (TypeError, ValueError):
    return float("nan")


def jsonable(x: Any) -> Any:
  """`x` with tuples as lists, non-finite floats as None, array scalars as floats: what json.dumps accepts."""
  if isinstance(x, dict):
    return {str(k): jsonable(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [jsonable(v) for v in x]
  if isinstance(x, (str, bool, int)) or x is None:
    return x
  if isinstance(x, float):
    return x if math.isfinite(x) else None
  if callable(x):
    return getattr(x, "__name__", repr(x))
  try:
    return jsonable(float(x))
  except (TypeError, ValueError):
    return repr(x)


def _steady(xs: list[float], high: bool = False) -> float | None:
  """Steady-state value of a per-epoch timing series whose first entries include compilation.

  Brax compiles in the first epoch and evaluation, and (measured) often once more in the second: drop the
  first two entries and take the median when at least two remain; otherwise drop only the first and take the
  best (min time / max rate), since interference only makes timings worse.
  """
  xs = [x for x in xs if x is not None and math.isfinite(x) and x > 0]
  if len(xs) >= 4:
    return statistics.median(xs[2:])
  if len(xs) >= 2:
    return max(xs[1:]) if high else min(xs[1:])
  return None


def _seconds_per_update(curve: list[list[float]], recipe: dict[str, Any]) -> float | None:
  """SAC's steady wall seconds per gradient update: the wall-clock between consecutive evaluations (training
  and evaluation, as in a wpgjax epoch) over the updates in between (env steps / (num_envs × action_repeat)
  × grad_updates_per_step); steady as in `_steady` (the first intervals hold the prefill and compilation)."""
  per_env_step = recipe["grad_updates_per_step"] / (recipe["num_envs"] * recipe.get("action_repeat", 1))
  costs = [(t1 - t0) / ((s1 - s0) * per_env_step)
           for (s0, _, t0), (s1, _, t1) in zip(curve, curve[1:]) if s1 > s0]
  return _steady(costs)


def get_recipe(algo: str, env_name: str) -> dict[str, Any]:
  """A deep copy of the CPU recipe for ``algo`` ('sac' or 'ppo') on ``env_name``."""
  if algo not in _RECIPES:
    raise ValueError(f"algo must be one of {sorted(_RECIPES)}, got {algo!r}")
  recipes = _RECIPES[algo]
  if env_name.startswith(PLAYGROUND_PREFIX):
    recipe = copy.deepcopy(_PLAYGROUND_RECIPES[algo])
    task = env_name[len(PLAYGROUND_PREFIX):]
    if algo == "ppo" and task in ("BallInCup", "FingerSpin"):  # Playground's per-task PPO settings
      recipe["discounting"] = 0.95
    return recipe
  if env_name not in recipes:
    raise ValueError(f"no Brax {algo.upper()} recipe for env {env_name!r}; known: {sorted(recipes)}")
  return copy.deepcopy(recipes[env_name])


def _environment(env_name: str, backend: str) -> tuple[Any, dict[str, Any]]:
  """(env, extra trainer kwargs): a Brax env by name, or a Playground DM Control task with Playground's own
  Brax wrapper (as Playground's training notebooks do: Brax's default wrapper expects Brax pipeline states)."""
  if env_name.startswith(PLAYGROUND_PREFIX):
    from mujoco_playground import wrapper

    from wpgjax.rl import playground

    return playground.load(env_name, backend), dict(wrap_env_fn=wrapper.wrap_for_brax_training)
  return _brax()["envs"].get_environment(env_name, backend=backend), {}


def _run(algo: str, env_name: str, *, num_timesteps: int, seed: int, backend: str, num_envs: int | None,
         episode_length: int, num_evals: int | None, verbose: bool,
         overrides: dict[str, Any]) -> dict[str, Any]:
  mods = _brax()
  if backend is None:
    backend = "mjx" if env_name.startswith(PLAYGROUND_PREFIX) else "generalized"
  recipe = get_recipe(algo, env_name)
  recipe.pop("num_timesteps")  # the recipe's default budget; the caller's budget is authoritative
  network_kwargs = dict(recipe.pop("network"))
  network_kwargs.update(overrides.pop("network", None) or {})
  if num_envs is not None:
    recipe["num_envs"] = num_envs
  if num_evals is not None:
    recipe["num_evals"] = num_evals
  # Brax's trainers evaluate the stochastic policy unless told otherwise; wpgjax evaluates tanh of the mean.
  recipe["deterministic_eval"] = True
  recipe.update(overrides)

  trainer = mods[algo].train
  factory = mods[f"{algo}_networks"].make_sac_networks if algo == "sac" else \
      mods[f"{algo}_networks"].make_ppo_networks
  reserved = {"environment", "num_timesteps", "seed", "episode_length", "progress_fn", "network_factory"}
  allowed = set(inspect.signature(trainer).parameters) - reserved
  unknown = sorted(set(recipe) - allowed)
  if unknown:
    raise ValueError(f"unknown {algo}.train arguments {unknown}; allowed: {sorted(allowed)}")
  allowed_net = set(inspect.signature(factory).parameters) - {
      "observation_size", "action_size", "preprocess_observations_fn"}
  unknown_net = sorted(set(network_kwargs) - allowed_net)
  if unknown_net:
    raise ValueError(f"unknown network arguments {unknown_net}; allowed: {sorted(allowed_net)}")
  if int(num_timesteps) <= 0:
    raise ValueError(f"num_timesteps must be positive, got {num_timesteps}")

  curve: list[list[float]] = []
  records: list[dict[str, float]] = []

  load_start, cache_start = load_average(), compilation_cache()
  t_start = time.perf_counter()

  def progress_fn(step: int, metrics: dict[str, Any]) -> None:
    t = time.perf_counter() - t_start
    reward = _to_float(metrics.get("eval/episode_reward", float("nan")))
    curve.append([int(step), reward, t])
    records.append(dict(
        step=int(step), t=t, reward=reward,
        reward_std=_to_float(metrics.get("eval/episode_reward_std", float("nan"))),
        eval_time=_to_float(metrics.get("eval/epoch_eval_time", float("nan"))),
        sps=_to_float(metrics["training/sps"]) if "training/sps" in metrics else None,
    ))
    if verbose:
      print(f"[brax {algo} {env_name} seed={seed}] step {int(step):>9d}  eval {reward:9.2f}  "
            f"t {t:7.1f}s", file=sys.stderr, flush=True)

  with CompileTimer() as timer:
    with contextlib.redirect_stdout(sys.stderr):
      env, wrap = _environment(env_name, backend)
    env_build_s = time.perf_counter() - t_start
    _, _, final_metrics = trainer(
        environment=env,
        **wrap,
        num_timesteps=int(num_timesteps),
        seed=int(seed),
        episode_length=int(episode_length),
        network_factory=functools.partial(factory, **network_kwargs),
        progress_fn=progress_fn,
        **recipe,
    )
    total_wall_s = time.perf_counter() - t_start

  compile_s = timer.seconds
  env_steps = curve[-1][0] if curve else 0
  final_reward = _to_float(final_metrics.get("eval/episode_reward", curve[-1][1] if curve else float("nan")))

  # Steady-state cross-check (see module docstring).
  steady_sps = _steady([r["sps"] for r in records if r["sps"] is not None], high=True)
  steady_eval = _steady([r["eval_time"] for r in records])
  overhead_s = None
  if steady_sps is not None and steady_eval is not None:
    prev_step, steady_cost = 0, 0.0
    for r in records:
      steady_cost += (r["step"] - prev_step) / steady_sps + steady_eval
      prev_step = r["step"]
    overhead_s = total_wall_s - steady_cost

  compile_estimate_s = compile_s if compile_s is not None else overhead_s
  run_s = total_wall_s - compile_estimate_s if compile_estimate_s is not None else None
  steps_per_s = env_steps / run_s if run_s and run_s > 0 else None

  recipe_out = dict(recipe, network=network_kwargs)
  seconds_per_update = _seconds_per_update(curve, recipe) if algo == "sac" else None
  return jsonable(dict(
      env=env_name, algo=algo, seed=int(seed), backend=backend, num_timesteps=int(num_timesteps),
      env_steps=int(env_steps), episode_length=int(episode_length),
      curve=curve,
      final_eval_return=final_reward,
      final_eval_return_std=_to_float(final_metrics.get("eval/episode_reward_std", float("nan"))),
      total_wall_s=total_wall_s,
      compile_estimate_s=compile_estimate_s,
      compile_method=("union of jax.monitoring trace/lower/compile time spans during the run"
                      if compile_s is not None else "overhead_estimate_s (steady-state subtraction)"),
      jax_compile_spans=timer.counts,
      overhead_estimate_s=overhead_s,
      time_to_first_eval_s=curve[0][2] if curve else None,
      env_build_s=env_build_s,
      env_steps_per_s=steps_per_s,
      train_sps_steady=steady_sps,
      seconds_per_update=seconds_per_update,
      evals=[dict(step=r["step"], t=r["t"], eval_time_s=r["eval_time"], train_sps=r["sps"])
             for r in records],
      eval_time_steady_s=steady_eval,
      recipe=recipe_out,
      recipe_source=(_PLAYGROUND_SOURCE[algo] if env_name.startswith(PLAYGROUND_PREFIX)
                     else RECIPE_SOURCES[algo].get(env_name)),
      system=dict(system_info(), jax_compat_patch=bool(mods["patched"]), load_avg_start=load_start,
                  load_avg_end=load_average(), compilation_cache_start=cache_start,
                  compilation_cache_end=compilation_cache()),
      timestamp=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
  ))


def run_brax_sac(env_name: str, *, num_timesteps: int, seed: int, backend: str | None = None,
                 num_envs: int | None = None, episode_length: int = 1000, num_evals: int | None = None,
                 verbose: bool = False, **overrides: Any) -> dict[str, Any]:
  """Run Brax's own ``sac.train`` with the CPU recipe for ``env_name`` and return a JSON-able result.

  ``num_envs``/``num_evals`` default to the recipe's; ``overrides`` replace any other recipe entry or pass any
  ``sac.train`` argument (``network=dict(hidden_layer_sizes=...)`` goes to ``make_sac_networks``).
  ``verbose`` prints each evaluation to stderr.
  """
  return _run("sac", env_name, num_timesteps=num_timesteps, seed=seed, backend=backend, num_envs=num_envs,
              episode_length=episode_length, num_evals=num_evals, verbose=verbose, overrides=overrides)


def run_brax_ppo(env_name: str, *, num_timesteps: int, seed: int, backend: str | None = None,
                 num_envs: int | None = None, episode_length: int = 1000, num_evals: int | None = None,
                 verbose: bool = False, **overrides: Any) -> dict[str, Any]:
  """Run Brax's own ``ppo.train`` with the CPU recipe for ``env_name``; like ``run_brax_sac``.

  Note Brax PPO's constraint: ``batch_size * num_minibatches`` must be a multiple of ``num_envs``.
  """
  return _run("ppo", env_name, num_timesteps=num_timesteps, seed=seed, backend=backend, num_envs=num_envs,
              episode_length=episode_length, num_evals=num_evals, verbose=verbose, overrides=overrides)


RUNNERS: dict[str, Callable[..., dict[str, Any]]] = {"sac": run_brax_sac, "ppo": run_brax_ppo}


# --------------------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------------------


def summary_line(r: dict[str, Any]) -> str:
  def f(x: Any, fmt: str) -> str:
    return format(x, fmt) if isinstance(x, (int, float)) else "n/a"

  return (f"{r['algo']} {r['env']} seed={r['seed']}: final eval return {f(r['final_eval_return'], '.1f')} "
          f"at {r['env_steps']} env steps; wall {f(r['total_wall_s'], '.1f')} s "
          f"(compile ~{f(r['compile_estimate_s'], '.1f')} s); {f(r['env_steps_per_s'], ',.0f')} env steps/s "
          f"excl. compile")


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(description="Run Brax's own SAC/PPO trainers as baselines and write JSON.")
  p.add_argument("--env", required=True, help=f"one of {sorted(set(SAC_RECIPES) | set(PPO_RECIPES))}")
  p.add_argument("--algo", required=True, choices=sorted(RUNNERS))
  p.add_argument("--timesteps", type=int, default=None, help="env-step budget (default: the recipe's)")
  p.add_argument("--seeds", type=int, nargs="+", default=[0])
  p.add_argument("--backend", default=None, help="default: generalized (Brax envs), mjx (dm_control/ envs)")
  p.add_argument("--num-envs", type=int, default=None)
  p.add_argument("--num-evals", type=int, default=None)
  p.add_argument("--episode-length", type=int, default=1000)
  p.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                 help="override a recipe entry, e.g. --set learning_rate=3e-4 --set "
                      "'network={\"hidden_layer_sizes\": [256, 256]}'")
  p.add_argument("--out", default=None, help="JSON output path (default: print JSON to stdout)")
  p.add_argument("--quiet", action="store_true", help="do not print evaluations to stderr")
  a = p.parse_args(argv)

  try:
    recipe = get_recipe(a.algo, a.env)
  except ValueError as e:
    p.error(str(e))
  overrides: dict[str, Any] = {}
  for item in a.set:
    key, sep, val = item.partition("=")
    if not sep:
      p.error(f"--set expects KEY=VALUE, got {item!r}")
    try:
      overrides[key] = json.loads(val)
    except json.JSONDecodeError:
      overrides[key] = val
  timesteps = a.timesteps if a.timesteps is not None else recipe["num_timesteps"]

  results = []
  for seed in a.seeds:
    r = RUNNERS[a.algo](a.env, num_timesteps=timesteps, seed=seed, backend=a.backend, num_envs=a.num_envs,
                        episode_length=a.episode_length, num_evals=a.num_evals, verbose=not a.quiet,
                        **overrides)
    results.append(r)
    # With --out the summaries go to stdout; without it stdout carries only the JSON.
    print(summary_line(r), file=sys.stdout if a.out else sys.stderr, flush=True)
    if a.out:  # write after every seed so a long run leaves partial results
      _write(a.out, results)
  if not a.out:
    print(json.dumps(results, indent=1))
  return 0


def _write(path: str, results: list[dict[str, Any]]) -> None:
  out = Path(path)
  out.parent.mkdir(parents=True, exist_ok=True)
  tmp = out.with_name(out.name + ".tmp")
  tmp.write_text(json.dumps(results, indent=1) + "\n")
  tmp.replace(out)


if __name__ == "__main__":
  sys.exit(main())
