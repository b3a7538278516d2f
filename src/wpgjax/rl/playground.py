"""The DeepMind Control suite through MuJoCo Playground, by name: env "dm_control/<Task>" (e.g.
"dm_control/CartpoleSwingup"), every task in `mujoco_playground.dm_control_suite.ALL_ENVS`.

Playground's envs already have Brax's interface (reset(key) -> State, step(State, action) -> State, with
obs/reward/done/info), so `wpgjax.rl.envs.make_env` wraps them exactly as it wraps Brax's: Brax's Episode and
Vmap wrappers (the time limit sets info['truncation']), and `envs.step_and_autoreset` instead of Playground's
auto-reset, which returns the reset observation in place of the true final one at a time limit.

Physics: `backend` "mjx" is MJX's JAX pipeline (Playground's impl="jax"; runs on CPU, GPU and TPU) and
"warp" is MuJoCo Warp (impl="warp"; NVIDIA GPUs). The time limit and action repeat are the task's own
(`time_limit(name)`), which `wpgjax.presets` uses.

Optional: `pip install -e ".[playground]"` (pinned in constraints.txt). Without it a "dm_control/" name fails
before anything compiles, naming the extra.
"""

from __future__ import annotations

import contextlib
import functools
import io
from typing import Any, NamedTuple

__all__ = ["PREFIX", "BACKENDS", "INSTALL_HINT", "is_playground_name", "installed", "task_names", "load",
           "time_limit", "action_size", "viewer"]

PREFIX = "dm_control/"
BACKENDS = ("mjx", "warp")
_IMPL = {"mjx": "jax", "warp": "warp"}  # wpgjax's backend name -> Playground's `impl` config field
INSTALL_HINT = 'pip install -c constraints.txt -e ".[playground]"'


def is_playground_name(name: str) -> bool:
  return isinstance(name, str) and name.startswith(PREFIX)


@functools.cache
def _suite():
  """mujoco_playground's dm_control_suite module, or None when the extra is not installed."""
  try:
    # Playground's import chain prints warnings about optional GPU backends to stdout; keep stdout clean.
    with contextlib.redirect_stdout(io.StringIO()):
      from mujoco_playground import dm_control_suite
  except ImportError:
    return None
  return dm_control_suite


def installed() -> bool:
  """Whether MuJoCo Playground (the "playground" extra) can be imported."""
  return _suite() is not None


def task_names() -> tuple[str, ...]:
  """"dm_control/<Task>" for every DM Control task Playground registers (empty without the extra)."""
  suite = _suite()
  return () if suite is None else tuple(PREFIX + task for task in sorted(suite.ALL_ENVS))


def _task(name: str) -> str:
  if not installed():
    raise ValueError(f"env {name!r} needs MuJoCo Playground, which is not installed: {INSTALL_HINT}")
  if name not in task_names():
    raise ValueError(f"env must be one of {list(task_names())}, got {name!r}")
  return name[len(PREFIX):]


def time_limit(name: str) -> tuple[int, int]:
  """(episode_length, action_repeat) of the task's own default config."""
  config = _suite().get_default_config(_task(name))
  return int(config.episode_length), int(config.action_repeat)


def action_size(name: str) -> int:
  """The task's action dimension (its MjModel's actuator count; no physics is traced)."""
  return int(load(name).action_size)


def load(name: str, backend: str = "mjx"):
  """The unbatched Playground env of task `name` on `backend` (one of BACKENDS)."""
  task = _task(name)
  if backend not in BACKENDS:
    raise ValueError(f"backend must be one of {list(BACKENDS)} for a {PREFIX} env, got {backend!r}")
  with contextlib.redirect_stdout(io.StringIO()):
    return _suite().load(task, config_overrides={"impl": _IMPL[backend]})


def viewer(env):
  """(system, poses) for Brax's HTML viewer (`brax.io.html.render(system, [poses(state), ...])`) of a wrapped
  Playground env: Brax's System built from the task's MjModel, and a function from an env state to its body
  poses (`.x.pos` [..., bodies, 3], `.x.rot` [..., bodies, 4]; the world body dropped, as Brax's own MJX
  pipeline does). No OpenGL is needed: the viewer draws in the browser."""
  from brax import base
  from brax.io import mjcf

  def poses(state):
    return _BodyPoses(base.Transform(pos=state.data.xpos[..., 1:, :], rot=state.data.xquat[..., 1:, :]))

  return mjcf.load_model(env.unwrapped.mj_model), poses


class _BodyPoses(NamedTuple):
  x: Any  # brax.base.Transform
