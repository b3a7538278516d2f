"""A saved run, read back: `load` (a checkpoint of a workdir), `evaluate` (deterministic evaluation episodes of
every run's saved policy) and `render_episode` (Brax's HTML viewer of one episode, Brax and DM Control envs
alike)."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
from typing import Any, Callable

import jax
import numpy as np

from wpgjax.host import checkpoint as ckpt
from wpgjax.host.programs import get_evaluator, state_template
from wpgjax.host.report import format_table, group_label
from wpgjax.host.results import HasPolicyParams
from wpgjax.rl.config import TrainConfig, config_from_dict
from wpgjax.rl.sweep import pad_runs, seed_keys, sweep_grid
from wpgjax.rl.train import make_policy

__all__ = ["LoadedRun", "load", "EvalResult", "evaluate", "render_episode"]


@dataclasses.dataclass
class LoadedRun(HasPolicyParams):
  """A checkpoint loaded from a workdir: config, runs, state (stacked over runs), meta (the checkpoint's JSON),
  step (env steps), make_policy; params / run_params(i) as in RunResult."""
  config: TrainConfig
  runs: list[dict]
  state: Any
  meta: dict
  step: int
  make_policy: Callable


def load(workdir: str | os.PathLike, *, step: int | str = "latest") -> LoadedRun:
  """Loads a checkpoint of the run in `workdir` (read-only). step: "latest", "best" (highest mean evaluation
  return among the kept checkpoints) or an env-step number listed in workdir/checkpoints."""
  workdir = os.path.abspath(os.fspath(workdir))
  info = ckpt.read_run_info(workdir)
  config = config_from_dict(info["config"])
  runs = info["runs"]
  checkpointer = ckpt.Checkpointer(os.path.join(workdir, "checkpoints"), read_only=True)
  try:
    chosen = _choose_step(checkpointer, step)
    trainer, _ = get_evaluator(config)
    _, hps = sweep_grid(config, info["seeds"], info.get("grid") or None)
    padding = int(checkpointer.read_meta(chosen).get("num_padded", 0))  # kept by multi-process runs
    keys, hps = pad_runs((seed_keys([r["seed"] for r in runs]), hps), padding)
    template = state_template(trainer, keys, hps, save_replay=info["save_replay"])
    state, meta = checkpointer.restore(chosen, template, expected=info)
    state = jax.tree.map(lambda x: x[:len(runs)], state) if padding else state
  finally:
    checkpointer.close()
  return LoadedRun(config=config, runs=runs, state=state, meta=meta, step=chosen,
                   make_policy=make_policy(config, action_size=trainer.action_size))


def _choose_step(checkpointer: ckpt.Checkpointer, step: int | str) -> int:
  available = checkpointer.steps()
  if step == "latest":
    chosen = checkpointer.latest_step()
  elif step == "best":
    chosen = checkpointer.best_step()
  else:
    try:
      chosen = int(step)
    except (TypeError, ValueError):
      raise ValueError(f"step must be 'latest', 'best' or an int, got {step!r}") from None
  if chosen is None:
    raise ckpt.CheckpointError(f"no checkpoint in {checkpointer.directory} (available: {available or 'none'})")
  return chosen


@dataclasses.dataclass
class EvalResult:
  """Per run: mean and std of the episode return over `episodes` episodes, mean episode length."""
  runs: list[dict]
  step: int
  episodes: int
  mean: np.ndarray
  std: np.ndarray
  length: np.ndarray
  render_path: str | None = None

  def table(self) -> str:
    header = ["run", "seed", "grid point", "return (mean ± std)", "episode length"]
    rows = [[str(i), str(r["seed"]), group_label(r) or "-", f"{self.mean[i]:.2f} ± {self.std[i]:.2f}",
             f"{self.length[i]:.1f}"] for i, r in enumerate(self.runs)]
    return "\n".join(format_table(header, rows))

  def to_dict(self) -> dict:
    return {"step": self.step, "episodes": self.episodes, "runs": self.runs, "mean": self.mean.tolist(),
            "std": self.std.tolist(), "length": self.length.tolist(), "render": self.render_path}


def evaluate(workdir: str | os.PathLike, *, step: int | str = "latest", episodes: int = 16, seed: int = 0,
             render: str | os.PathLike | None = None, render_run: int = 0, loaded: LoadedRun | None = None
             ) -> EvalResult:
  """Loads the saved policy of every run in `workdir` and runs `episodes` deterministic evaluation episodes
  (fresh resets drawn from `seed`); optionally writes Brax's HTML viewer of one episode of run `render_run`."""
  if not isinstance(episodes, int) or episodes < 1:
    raise ValueError(f"episodes must be a positive int, got {episodes!r}")
  loaded = loaded or load(workdir, step=step)
  if not 0 <= render_run < len(loaded.runs):
    raise ValueError(f"render_run must be in [0, {len(loaded.runs) - 1}], got {render_run}")
  _, evaluate_runs = get_evaluator(dataclasses.replace(loaded.config, num_eval_envs=episodes))
  out = evaluate_runs(loaded.state, jax.random.key(seed))
  out = {k: np.asarray(v) for k, v in jax.device_get(out).items()}
  path = None
  if render is not None:
    path = render_episode(loaded.config, loaded.run_params(render_run), render, seed=seed)
  return EvalResult(runs=loaded.runs, step=loaded.step, episodes=episodes, mean=out["eval/episode_reward"],
                    std=out["eval/episode_reward_std"], length=out["eval/avg_episode_length"], render_path=path)


def render_episode(config: TrainConfig, params, path: str | os.PathLike, *, seed: int = 0,
                   deterministic: bool = True, max_steps: int | None = None, height: int = 480) -> str:
  """Rolls out one episode of the policy `params` = `wpgjax.policy_params(state)` and writes Brax's HTML viewer
  (brax.io.html.render) to `path`. Needs a physics env (not "fast"); no OpenGL (the page draws in the browser).
  Returns the absolute path."""
  from wpgjax.rl import envs

  env = envs.make_env(config.env, backend=config.backend, episode_length=config.episode_length,
                      action_repeat=config.action_repeat)
  sys_, poses = envs.viewer(config.env, env)
  with contextlib.redirect_stdout(io.StringIO()):
    from brax.io import html
  policy = make_policy(config, action_size=env.action_size)(params, deterministic=deterministic)
  num_steps = -(-config.episode_length // config.action_repeat) if max_steps is None else int(max_steps)
  states = _rollout(env, policy, poses, num_steps, seed)
  page = html.render(sys_, states, height=height, colab=False)
  path = os.path.abspath(os.fspath(path))
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    f.write(page)
  return path


def _rollout(env, policy, poses: Callable, num_steps: int, seed: int) -> list:
  """The body poses (`poses(state)`) of one episode: the reset state, then each step until the first done."""

  @jax.jit
  def rollout(key):
    key_reset, key_policy = jax.random.split(key)
    state = env.reset(key_reset[None])

    def body(carry, key_t):
      state = carry
      action, _ = policy(state.obs, key_t)
      state = env.step(state, action)
      return state, (poses(state), state.done)

    _, (body_poses, done) = jax.lax.scan(body, state, jax.random.split(key_policy, num_steps))
    return poses(state), body_poses, done

  first, body_poses, done = jax.device_get(rollout(jax.random.key(seed)))
  done = np.asarray(done)[:, 0]
  length = int(np.argmax(done > 0)) + 1 if np.any(done > 0) else num_steps
  states = [jax.tree.map(lambda x: x[0], first)]
  states += [jax.tree.map(lambda x, t=t: x[t, 0], body_poses) for t in range(length)]
  return states
