"""The particle agent, the Gaussian agent and Brax SAC side by side, in one process, on a list of envs.

    python benchmarks/compare_agents.py --out benchmarks/results/compare_agents
    python benchmarks/compare_agents.py --envs inverted_pendulum --timesteps 3000 --seeds 0 --out /tmp/smoke

writes ``<out>.json`` (settings per env, and every run with its curve, timings, load and cache state),
``<out>.md`` (one table per env) and ``<out>_<env>.png`` (learning curves per env, "/" in a name as "_").
Resumable: a row already in ``<out>.json`` (same env, agent and seed) is skipped, so a long sweep can be run
in pieces (the settings of an env must then match the saved ones).

Agents (``--agents``)
---------------------
- ``particle``: ``wpgjax.presets(env, policy="particle")``: the executed policy is the WPG particle law
  (generator proposal, then K particle steps on the critic); ``compare_brax`` variant ``particle``.
- ``gaussian``: ``wpgjax.presets(env)``: the tanh-Gaussian policy (SAC's actor update in expectation under
  the default WPO projection); ``compare_brax`` variant ``wpg``.
- ``crossq``: ``wpgjax.presets(env, critic_batch_norm=True)``: the Gaussian agent with CrossQ's critic
  (BatchNorm, no target network; ``wpgjax.rl.crossq``); ``compare_brax`` variant ``crossq``.
- ``sac``: Brax's own SAC with the CPU recipe of ``benchmarks/brax_baselines.py`` (``compare_brax.run_brax``).

The same for all agents on an env: the env and its backend (the Gaussian preset's, or ``--backend``), the
env-step budget (prefill included; see "Budget" in ``compare_brax.py``), the seeds, the episode length, the
number of trained-policy evaluations (the Gaussian preset's, or ``--num-evals``) and of episodes per evaluation
(``num_eval_envs``).
The wpgjax agents train through ``benchmarks.driver.train`` (the host runner's compiled programs, a fresh
compile per run, like every Brax run).

Per (env, agent, seed)
----------------------
- final eval return (the last evaluation, deterministic policy);
- env steps and wall-clock to 95 % of SAC's final return: the first trained-policy evaluation (Brax's
  evaluation of the untrained policy at step 0 is not counted) whose return is >= the threshold
  ``m − 0.05·|m|``, where m is the mean over SAC seeds of SAC's final return on that env (for a positive m,
  0.95·m); "not reached" if none is; wall-clock is seconds from just before the env is built, compilation
  included;
- compile: the union of JAX trace/lower/compile spans during the run (``brax_baselines.CompileTimer``; the
  wpgjax runs also record the timed ahead-of-time compile of their two programs, ``aot_compile_s``);
- cost per gradient update: wpgjax: the compiled epoch's steady wall-clock (median over the epochs after the
  first; compilation excluded) / (steps_per_eval × grad_updates_per_step); Brax SAC: the steady wall-clock
  between consecutive evaluations / the updates in between (the first two intervals, which hold the prefill
  and compilation, excluded). Both include the env steps and the evaluation of their period;
- the load average (1 min) at the start and end of the run, and the JAX compilation cache state at its start:
  "cold" when the persistent cache is off (the default) or empty, "warm" when its folder holds entries.

Order: per env, the Brax env is built once, untimed (its eager ops compile once per process); then per seed
every agent in turn (``--agents`` order), so the agents see similar load.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks` importable as a script

from benchmarks import brax_baselines as bb  # noqa: E402
from benchmarks import compare_brax as cb  # noqa: E402
from benchmarks.machine import load_average, system_info  # noqa: E402

DEFAULT_ENVS = ("inverted_pendulum", "inverted_double_pendulum", "reacher", "halfcheetah")
DEFAULT_TIMESTEPS = {"inverted_pendulum": 20_000, "inverted_double_pendulum": 60_000, "reacher": 100_000,
                     "halfcheetah": 100_000}
# agent -> compare_brax variant / algo
AGENTS = {"particle": "particle", "gaussian": "wpg", "crossq": "crossq", "sac": "sac"}
DEFAULT_AGENTS = ("particle", "gaussian", "sac")  # crossq on request
THRESHOLD_FRACTION = 0.95


def env_settings(env: str, budget: int, num_evals: int | None, episode_length: int,
                 backend: str | None = None) -> dict[str, Any]:
  """What every agent on `env` shares: budget, backend (None: the Gaussian preset's), episode length,
  evaluations, eval episodes."""
  from wpgjax.rl import presets

  base = presets(env, episode_length=episode_length, **({} if num_evals is None else {"num_evals": num_evals}),
                 **({} if backend is None else {"backend": backend}))
  for variant in {v for v in AGENTS.values() if v not in bb.RUNNERS}:  # a budget too small fails here, not later
    cb.wpg_config(env, budget, base.num_evals, episode_length, variant,
                  {"num_eval_envs": base.num_eval_envs, "backend": base.backend})
  return dict(budget=int(budget), backend=base.backend, episode_length=int(episode_length),
              num_evals=base.num_evals, num_eval_envs=base.num_eval_envs)


def run_agent(agent: str, env: str, seed: int, settings: dict[str, Any], verbose: bool) -> dict[str, Any]:
  """One run of `agent` on `env` with the shared settings; the run record with `agent` added."""
  variant = AGENTS[agent]
  if variant in bb.RUNNERS:
    r = cb.run_brax(variant, env, budget=settings["budget"], seed=seed, num_evals=settings["num_evals"],
                    num_eval_envs=settings["num_eval_envs"], episode_length=settings["episode_length"],
                    backend=settings["backend"], verbose=verbose)
  else:
    r = cb.run_wpg(env, budget=settings["budget"], seed=seed, variant=variant, num_evals=settings["num_evals"],
                   episode_length=settings["episode_length"], verbose=verbose,
                   extra={"num_eval_envs": settings["num_eval_envs"], "backend": settings["backend"]})
    if r["backend"] != settings["backend"]:
      raise ValueError(f"{agent} on {env} runs the {r['backend']} backend, SAC the {settings['backend']} one")
  return dict(r, agent=agent)


# ------------------------------------------------------------------------------------------------------------
# Summary
# ------------------------------------------------------------------------------------------------------------


def threshold(runs: list[dict[str, Any]], env: str) -> float | None:
  """95 % of SAC's final return on `env` (mean over SAC seeds), as m − 0.05·|m|; None without a SAC run."""
  finals = [r["final_eval_return"] for r in runs if r["env"] == env and r["agent"] == "sac"
            and r["final_eval_return"] is not None]
  if not finals:
    return None
  m = statistics.fmean(finals)
  return m - (1 - THRESHOLD_FRACTION) * abs(m)


def to_threshold(curve: list[list[float]], thr: float | None) -> tuple[float, int] | None:
  """(wall seconds, env steps) of the first trained-policy evaluation with return >= thr, or None."""
  if thr is None:
    return None
  return cb.time_to_threshold([p for p in curve if p[0] > 0], thr)


def row(r: dict[str, Any], thr: float | None) -> dict[str, Any]:
  """The summary of one run (what the table shows)."""
  reached = to_threshold(r["curve"], thr)
  system = r.get("system", {})
  cache = system.get("compilation_cache_start") or {}
  return dict(
      env=r["env"], agent=r["agent"], seed=r["seed"], env_steps=r["env_steps"],
      final_eval_return=r["final_eval_return"],
      wall_to_threshold_s=reached[0] if reached else None, steps_to_threshold=reached[1] if reached else None,
      compile_s=r["compile_estimate_s"], seconds_per_update=r.get("seconds_per_update"),
      total_wall_s=r["total_wall_s"], load_avg_start=system.get("load_avg_start"),
      load_avg_end=system.get("load_avg_end"), cache=cache.get("state", "cold" if not cache.get("dir") else "?"))


def wall_to_threshold_bound(rows: list[dict[str, Any]]) -> tuple[float, bool] | None:
  """(mean wall seconds to the threshold over `rows` with each run that never reached it counted at its whole
  run, True if any such run was counted). A run that did not reach the line would need at least its whole run,
  so the mean is a lower bound on the mean time to the line where the flag is True; the table's mean over the
  runs that reached it alone is biased low (only the faster seeds count). None without rows or a whole-run time."""
  reached = [r["steps_to_threshold"] is not None for r in rows]
  times = [r["wall_to_threshold_s"] if hit else r["total_wall_s"] for r, hit in zip(rows, reached)]
  if not times or any(t is None for t in times):
    return None
  return statistics.fmean(times), not all(reached)


def summarize(payload: dict[str, Any]) -> dict[str, Any]:
  """{env: {"threshold", "sac_final_mean", "rows": [row per run, agents in AGENTS order, then seed],
  "wall_bounds": {agent: `wall_to_threshold_bound` of its runs}}}."""
  runs = payload["runs"]
  out = {}
  order = {a: i for i, a in enumerate(AGENTS)}
  for env in payload["envs"]:
    thr = threshold(runs, env)
    rs = sorted((r for r in runs if r["env"] == env), key=lambda r: (order.get(r["agent"], 99), r["seed"]))
    sac = [r["final_eval_return"] for r in rs if r["agent"] == "sac" and r["final_eval_return"] is not None]
    rows = [row(r, thr) for r in rs]
    bounds = {agent: wall_to_threshold_bound([r for r in rows if r["agent"] == agent])
              for agent in dict.fromkeys(r["agent"] for r in rows)} if thr is not None else {}
    out[env] = dict(threshold=thr, sac_final_mean=statistics.fmean(sac) if sac else None, rows=rows,
                    wall_bounds=bounds)
  return out


def _num(x: float | None, fmt: str) -> str:
  return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, fmt)


def _mean_std(xs: list[float | None], fmt: str) -> str:
  xs = [x for x in xs if x is not None and math.isfinite(x)]
  if not xs:
    return "n/a"
  if len(xs) == 1:
    return format(xs[0], fmt)
  return f"{statistics.fmean(xs):{fmt}} ± {statistics.pstdev(xs):{fmt}}"


def _load(start: list[float] | None, end: list[float] | None) -> str:
  return f"{start[0]:.1f}→{end[0]:.1f}" if start and end else "?"


def markdown(payload: dict[str, Any], summary: dict[str, Any]) -> str:
  lines = ["## wpgjax's agents and Brax SAC", "",
           "Agents: particle = `wpgjax.presets(env, policy=\"particle\")`; gaussian = `wpgjax.presets(env)` "
           "(tanh_gaussian); crossq = `wpgjax.presets(env, critic_batch_norm=True)` (the Gaussian agent with "
           "CrossQ's critic); sac = Brax SAC with `benchmarks/brax_baselines.py`'s CPU recipe. "
           f"Command: `{payload['meta']['command']}` (rows may come from several invocations: see the JSON).", ""]
  header = ("| agent | seed | env steps | final return | steps to 95% SAC | wall to 95% SAC (s) | compile (s) | "
            "cost per update (ms) | wall incl. compile (s) | load 1m start→end | JAX cache |")
  for env, s in summary.items():
    st = payload["envs"][env]
    thr = s["threshold"]
    thr_text = (f"threshold {thr:.1f} = 95% of SAC's final return {s['sac_final_mean']:.1f} (mean over SAC seeds)"
                if thr is not None else "no SAC run yet: no threshold")
    lines += [f"### {env}: {st['budget']:,} env steps, backend {st['backend']}, episode_length "
              f"{st['episode_length']}, {st['num_evals']} evaluations × {st['num_eval_envs']} episodes", "",
              thr_text + ".", "", header, "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in s["rows"]:
      if r["steps_to_threshold"] is not None:
        steps, wall = f"{r['steps_to_threshold']:,}", _num(r["wall_to_threshold_s"], ".1f")
      else:
        steps, wall = ("not reached" if thr is not None else "n/a"), "-"
      lines.append(
          f"| {r['agent']} | {r['seed']} | {r['env_steps']:,} | {_num(r['final_eval_return'], '.1f')} | "
          f"{steps} | {wall} | {_num(r['compile_s'], '.1f')} | "
          f"{_num(None if r['seconds_per_update'] is None else 1e3 * r['seconds_per_update'], '.2f')} | "
          f"{_num(r['total_wall_s'], '.1f')} | {_load(r['load_avg_start'], r['load_avg_end'])} | {r['cache']} |")
    for agent in AGENTS:
      rs = [r for r in s["rows"] if r["agent"] == agent]
      if len(rs) < 2:
        continue
      n_reached = sum(r["steps_to_threshold"] is not None for r in rs)
      spu = [None if r["seconds_per_update"] is None else 1e3 * r["seconds_per_update"] for r in rs]
      lines.append(
          f"| **{agent}** | mean ± std | | {_mean_std([r['final_eval_return'] for r in rs], '.1f')} | "
          f"{n_reached}/{len(rs)} reached | {_mean_std([r['wall_to_threshold_s'] for r in rs], '.1f')} | "
          f"{_mean_std([r['compile_s'] for r in rs], '.1f')} | {_mean_std(spu, '.2f')} | "
          f"{_mean_std([r['total_wall_s'] for r in rs], '.1f')} | | |")
    bounds = {agent: b for agent, b in s.get("wall_bounds", {}).items() if b is not None}
    if bounds:
      means = [f"{agent} {'≥ ' if censored else ''}{mean:.1f}" for agent, (mean, censored) in bounds.items()]
      lines += ["", "Mean wall to 95% SAC (s) with each run that did not reach it counted at its whole run "
                "(≥: a lower bound, as those runs would need longer): " + "; ".join(means) + "."]
    lines.append("")
  lines += [
      "Final return: the last evaluation (deterministic policy). Steps / wall to 95% SAC: the first trained-policy "
      "evaluation at or above the threshold (m − 0.05·|m|, m = SAC's mean final return); wall-clock from just "
      "before the env is built, compilation included. Compile: union of JAX trace/lower/compile spans during the "
      "run. Cost per update: steady wall-clock of a training period (its env steps and evaluation included, "
      "compilation excluded) / its gradient updates; the agents' batch sizes and networks are their own "
      "(wpgjax preset, Brax recipe). Load: 1-minute load average at the start and end of the run (2 shared "
      "cores: timings are comparable only at similar load). JAX cache: the persistent compilation cache at the "
      "run's start (cold = off or empty; every run compiles its programs afresh).", ""]
  return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------------------------


def load_payload(path: Path) -> dict[str, Any]:
  if path.exists():
    return json.loads(path.read_text())
  return dict(meta={}, envs={}, runs=[])


def write(out: Path, payload: dict[str, Any]) -> str:
  """Writes <out>.json (atomically) and <out>.md; returns the markdown."""
  payload["summary"] = summarize(payload)
  payload["meta"]["load_avg_end"] = load_average()
  json_path = out.with_suffix(".json")
  tmp = json_path.with_suffix(".json.tmp")
  tmp.write_text(json.dumps(bb.jsonable(payload), indent=1) + "\n")
  tmp.replace(json_path)
  text = markdown(payload, payload["summary"])
  out.with_suffix(".md").write_text(text)
  for env in payload["envs"]:
    plot_env(payload, env, out.with_name(f"{out.name}_{env.replace('/', '_')}.png"))
  return text


def plot_env(payload: dict[str, Any], env: str, path: Path) -> None:
  """Learning curves of every agent on `env` (mean ± std over seeds; env steps and wall-clock) with SAC's 95 %
  line, as `compare_brax.plot` draws them."""
  runs = [r for r in payload["runs"] if r["env"] == env]
  if runs:
    algos = [variant for agent, variant in AGENTS.items() if any(r["agent"] == agent for r in runs)]
    st = payload["envs"][env]
    cb.plot(runs, algos, path, f"{env}: {st['budget']:,} env steps, backend {st['backend']}", threshold(runs, env))


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--envs", nargs="+", default=list(DEFAULT_ENVS))
  p.add_argument("--timesteps", type=int, nargs="+", default=None,
                 help="env-step budget: one for every env, or one per env in --envs order (default: "
                      + ", ".join(f"{k} {v:,}" for k, v in DEFAULT_TIMESTEPS.items()) + ")")
  p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
  p.add_argument("--agents", nargs="+", default=list(DEFAULT_AGENTS), choices=list(AGENTS))
  p.add_argument("--num-evals", type=int, default=None,
                 help="trained-policy evaluations for every agent (default: the Gaussian preset's)")
  p.add_argument("--episode-length", type=int, default=1000)
  p.add_argument("--backend", default=None, help="physics backend for every agent (default: the Gaussian preset's)")
  p.add_argument("--out", default="benchmarks/results/compare_agents",
                 help="output prefix: <out>.json, <out>.md (a relative prefix without a folder goes to "
                      "benchmarks/results/)")
  p.add_argument("--quiet", action="store_true")
  a = p.parse_args(argv)
  if a.timesteps is None:
    unknown = [e for e in a.envs if e not in DEFAULT_TIMESTEPS]
    if unknown:
      p.error(f"no default budget for {unknown}: give --timesteps")
    budgets = [DEFAULT_TIMESTEPS[e] for e in a.envs]
  elif len(a.timesteps) in (1, len(a.envs)):
    budgets = a.timesteps * len(a.envs) if len(a.timesteps) == 1 else a.timesteps
  else:
    p.error(f"--timesteps takes one budget or one per env ({len(a.envs)}), got {len(a.timesteps)}")
  out = Path(a.out)
  if out.parent == Path("."):
    out = Path(__file__).resolve().parent / "results" / out.name
  out.parent.mkdir(parents=True, exist_ok=True)

  payload = load_payload(out.with_suffix(".json"))
  command = "python " + " ".join([sys.argv[0]] + (argv if argv is not None else sys.argv[1:]))
  payload["meta"].setdefault("commands", []).append(command)
  payload["meta"].update(command=command, system=system_info(), load_avg_start=load_average(),
                         started=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
  plan = []
  for env, budget in zip(a.envs, budgets):
    settings = env_settings(env, budget, a.num_evals, a.episode_length, a.backend)
    saved = payload["envs"].get(env)
    if saved is not None and {k: saved[k] for k in settings} != settings:
      p.error(f"{out.with_suffix('.json')} holds {env} runs with other settings ({ {k: saved[k] for k in settings} }"
              f" vs {settings}): use another --out")
    payload["envs"].setdefault(env, dict(settings))
    plan.append((env, settings))
  done = {(r["env"], r["agent"], r["seed"]) for r in payload["runs"]}

  for env, settings in plan:
    todo = [(seed, agent) for seed in a.seeds for agent in a.agents if (env, agent, seed) not in done]
    skipped = len(a.seeds) * len(a.agents) - len(todo)
    if skipped:
      print(f"{env}: {skipped} run(s) already in {out.with_suffix('.json')}, skipped", file=sys.stderr)
    if not todo:
      continue
    payload["envs"][env]["warmup_env_build_s"] = cb.warm_up_env(env, settings["backend"], settings["episode_length"])
    for seed, agent in todo:  # seed-major: the agents are interleaved per seed
      r = run_agent(agent, env, seed, settings, verbose=not a.quiet)
      payload["runs"].append(r)
      print(f"[{agent}] " + bb.summary_line(r), flush=True)
      write(out, payload)
  print(write(out, payload))
  return 0


if __name__ == "__main__":
  sys.exit(main())
