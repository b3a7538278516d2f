"""wpgjax's WPG trainer next to Brax's own SAC (and optionally PPO): same env, env-step budget, seeds, episode
length and number of evaluations, in one process on one machine.

    python benchmarks/compare_brax.py --env inverted_pendulum --timesteps 20000 --seeds 0 1 \
        --algos wpg wpo_plain sac --out benchmarks/results/compare_inverted_pendulum

writes ``<out>.json`` (every run, with its curve and timings), ``<out>.md`` (the summary table) and ``<out>.png``
(learning curves: return vs env steps and vs wall-clock, mean ± std over seeds, one line per algorithm).

Algorithms
----------
- ``sac`` / ``ppo``: Brax's own trainers through ``benchmarks.brax_baselines`` (its CPU recipe for the env),
  with ``num_evals`` and ``num_eval_envs`` set to match wpgjax (see "Evaluations" below).
- ``wpg``: ``wpgjax.rl.presets(env)``: the default preset (entropy-regularised WPO projection with the
  diagonal-Gaussian natural-gradient scaling, tuned τ, twin soft critic).
- ``wpo_plain``: the same preset with ``wpg.entropy_regularized=False, wpg.natural_gradient=False``: the actor
  follows plain WPO (−⟨∇_u log π, sg(∇_u Q)⟩, no −τ∇log π term, no inverse-Fisher scaling). The critic is
  unchanged (soft targets), so the difference isolates the actor update. Measured with tune_tau=True: with no
  entropy term in the actor, the entropy collapses below the target, SAC-style τ tuning then raises τ without
  bound and the soft critic diverges (BENCHMARKS.md); TrainConfig now rejects that combination, so this
  variant runs with the preset's τ fixed (tune_tau=False).
- ``wpo_plain_fixed_tau``: plain WPO as above with ``tune_tau=False, tau=1e-4``: an (almost) non-soft critic,
  as in Acme's WPO without its KL penalties.
- ``wppg``: the preset with ``wpg.projection=wppg`` (SVGD move), an extra variant (not run by default).
- ``particle``: ``wpgjax.rl.presets(env, policy="particle")``: the WPG particle law (generator proposal + K
  particle steps on the critic), an extra variant (``benchmarks/compare_agents.py`` runs it next to ``wpg``).

Budget
------
Brax SAC counts its random-action prefill (``min_replay_size``) inside ``num_timesteps``; wpgjax's
``num_timesteps`` excludes its prefill (``TrainConfig.total_env_steps`` adds it). So that both sides take the
same number of env steps, the wpgjax config gets ``num_timesteps = budget − prefill`` (then rounded down by its
``num_envs × num_evals`` granularity); the env steps each side actually took are in the results.

wpgjax driver
-------------
``benchmarks.driver.train``: the compiled programs of wpgjax's host runner (``wpgjax.host.programs.Programs``:
start = init, and the epoch, which also prefills), compiled ahead of time together as the runner does
(``aot_compile_s``), then the compiled epoch called once to prefill and ``config.num_evals`` times from Python,
each call's metrics fetched and ``time.perf_counter`` read -> curve
``[(env_steps, eval/episode_reward, walltime_s)]`` (see its docstring).

Timing (the same for both sides)
--------------------------------
- ``total_wall_s``: perf_counter from just before the env is built to the end of the last epoch (imports excluded).
- ``compile_estimate_s``: ``brax_baselines.CompileTimer`` (union of JAX trace/lower/compile time spans) around
  the whole run; for wpgjax ``aot_compile_s`` is the cross-check.
- ``env_steps_per_s``: env_steps / (total_wall_s − compile_estimate_s) (evaluation time included).
- ``time_to_threshold_s``: the walltime of the first evaluation whose return is >= the threshold (default:
  Brax SAC's final mean return over seeds, else ``--threshold``); None where never reached.
- Load: ``benchmarks.machine.load_average()`` (1, 5, 15 min) at the start and end of every run. Runs are
  interleaved per seed (seed 0: every algo, then seed 1: every algo) so that both sides see similar load.
- Warm-up: before the runs the Brax env is built once, untimed (``--no-warmup`` skips it): building a Brax
  env runs many small eager ops that are compiled once per process (~16 s here), which would otherwise be
  charged to whichever run comes first (``observation_size`` included: Brax computes it with an eager reset).
- Compilation caches: the JAX persistent cache is left off (cold), unless JAX_COMPILATION_CACHE_DIR is set;
  every run records its state (``benchmarks.machine.compilation_cache``: cold or warm) at its start and end.

Evaluations
-----------
Protocols differ. Brax: ``num_evals`` evaluations including one of the untrained policy at step 0, each the
deterministic policy (mode; ``brax_baselines`` passes ``deterministic_eval=True`` since 2026-12-03, and result
files from before evaluated the stochastic policy, BENCHMARKS.md §15) in ``num_eval_envs`` envs, one episode
each, through Brax's ``Evaluator`` (auto-reset envs, episode return to the first done). wpgjax: one evaluation
after each of ``num_evals`` epochs, the deterministic policy (tanh of the mean) in ``num_eval_envs`` fresh envs,
one episode each. Here
Brax gets ``num_evals = N + 1`` (step 0 plus N trained evaluations) and the same ``num_eval_envs`` as wpgjax,
so both report N evaluations of trained policies at matching step counts over as many episodes.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks` importable as a script

from benchmarks import brax_baselines as bb  # noqa: E402
from benchmarks.driver import train  # noqa: E402
from benchmarks.machine import load_average, system_info  # noqa: E402

WPG_VARIANTS: dict[str, dict[str, Any]] = {
    "wpg": {},
    # Plain WPO with tune_tau=True is rejected by TrainConfig since the measurement in BENCHMARKS.md (τ diverged):
    # the variant now keeps the preset's initial τ fixed.
    "wpo_plain": {"wpg.entropy_regularized": False, "wpg.natural_gradient": False, "tune_tau": False},
    # Plain WPO with a fixed, tiny τ: the critic is (almost) not soft, as in Acme's WPO (without its KL
    # penalties). Added because "wpo_plain" with the preset's tuned τ diverges (see BENCHMARKS.md).
    "wpo_plain_fixed_tau": {"wpg.entropy_regularized": False, "wpg.natural_gradient": False, "tune_tau": False,
                            "tau": 1e-4},
    "wppg": {"wpg.projection": "wppg"},
    "particle": {"policy": "particle"},
    "crossq": {"critic_batch_norm": True},  # the Gaussian preset with CrossQ's critic (wpgjax.rl.crossq)
}
ALGO_LABELS = {
    "wpg": "wpgjax Gaussian agent (tanh_gaussian preset: SAC's update in expectation)",
    "wpo_plain": "wpgjax plain WPO (no entropy term, no natural gradient)",
    "wpo_plain_fixed_tau": "wpgjax plain WPO, fixed tau=1e-4",
    "wppg": "wpgjax WPPG (SVGD move)",
    "particle": "wpgjax particle policy (WPG particle law)",
    "crossq": "wpgjax Gaussian agent with CrossQ's critic (BatchNorm, no target network)",
    "sac": "Brax SAC",
    "ppo": "Brax PPO",
}


def wpg_config(env: str, budget: int, num_evals: int | None, episode_length: int, variant: str,
               extra: dict[str, Any] | None = None):
  """The wpgjax config for `variant` whose total env steps (prefill included) are <= budget, as close as the
  num_envs × num_evals granularity allows."""
  from wpgjax.rl import presets

  overrides: dict[str, Any] = dict(WPG_VARIANTS[variant])
  overrides["episode_length"] = episode_length
  if num_evals is not None:
    overrides["num_evals"] = num_evals
  overrides.update(extra or {})
  base = presets(env, **overrides)
  prefill = base.prefill_steps * base.num_envs * base.action_repeat
  train_steps = budget - prefill
  if train_steps < base.num_envs * base.action_repeat * base.num_evals:
    raise ValueError(f"budget {budget} is too small for the {env} preset (prefill {prefill} env steps)")
  return presets(env, num_timesteps=train_steps, **overrides)


def run_wpg(env: str, *, budget: int, seed: int, variant: str, num_evals: int | None, episode_length: int,
            verbose: bool = True, extra: dict[str, Any] | None = None) -> dict[str, Any]:
  """One wpgjax run of `variant` through `benchmarks.driver.train`, with the comparison's labels added."""
  config = wpg_config(env, budget, num_evals, episode_length, variant, extra)
  r = train(config, seed, label=variant, verbose=verbose)
  return dict(r, algo=variant, num_timesteps=budget, variant_overrides=WPG_VARIANTS[variant])


def run_brax(algo: str, env: str, *, budget: int, seed: int, num_evals: int | None, num_eval_envs: int | None,
             episode_length: int, backend: str, verbose: bool = True) -> dict[str, Any]:
  """One Brax run (`brax_baselines.RUNNERS[algo]`) with wpgjax's evaluation protocol: num_evals + 1
  evaluations (Brax's first is of the untrained policy) over num_eval_envs episodes."""
  kwargs: dict[str, Any] = {}
  if num_eval_envs is not None:
    kwargs["num_eval_envs"] = num_eval_envs
  return bb.RUNNERS[algo](env, num_timesteps=budget, seed=seed, backend=backend, episode_length=episode_length,
                          num_evals=None if num_evals is None else num_evals + 1, verbose=verbose, **kwargs)


def warm_up_env(env: str, backend: str, episode_length: int) -> float:
  """Builds the Brax env once, untimed by the runs (returns its seconds): Brax's observation_size runs many
  small eager ops, compiled once per process (~16 s here), which would otherwise be charged to the first run."""
  from wpgjax.rl import make_env

  t0 = time.perf_counter()
  env_ = make_env(env, backend=backend, episode_length=episode_length)
  _ = (env_.observation_size, env_.action_size)
  return time.perf_counter() - t0


# ------------------------------------------------------------------------------------------------------------
# Summaries
# ------------------------------------------------------------------------------------------------------------


def time_to_threshold(curve: list[list[float]], threshold: float) -> tuple[float, int] | None:
  for steps, ret, t in curve:
    if ret is not None and ret >= threshold:
      return t, int(steps)
  return None


def _ms(xs: list[float | None]) -> tuple[float | None, float | None]:
  xs = [x for x in xs if x is not None and math.isfinite(x)]
  if not xs:
    return None, None
  return statistics.fmean(xs), (statistics.pstdev(xs) if len(xs) > 1 else 0.0)


def _fmt(m: float | None, s: float | None, fmt: str = ".1f") -> str:
  if m is None:
    return "n/a"
  return f"{m:{fmt}} ± {s:{fmt}}" if s is not None else f"{m:{fmt}}"


def summarize(results: list[dict[str, Any]], algos: list[str], threshold: float | None) -> dict[str, Any]:
  if threshold is None:
    sac_final = [r["final_eval_return"] for r in results if r["algo"] == "sac"]
    threshold = statistics.fmean(sac_final) if sac_final else None
  rows = {}
  for algo in algos:
    rs = [r for r in results if r["algo"] == algo]
    if not rs:
      continue
    ttt = [time_to_threshold(r["curve"], threshold) if threshold is not None else None for r in rs]
    rows[algo] = dict(
        seeds=[r["seed"] for r in rs],
        env_steps=[r["env_steps"] for r in rs],
        final_eval_return=_ms([r["final_eval_return"] for r in rs]),
        final_eval_returns=[r["final_eval_return"] for r in rs],
        last3_eval_return=_ms([statistics.fmean(c[1] for c in r["curve"][-3:]) for r in rs]),
        total_wall_s=_ms([r["total_wall_s"] for r in rs]),
        compile_estimate_s=_ms([r["compile_estimate_s"] for r in rs]),
        wall_excl_compile_s=_ms([r["total_wall_s"] - r["compile_estimate_s"] for r in rs]),
        env_steps_per_s=_ms([r["env_steps_per_s"] for r in rs]),
        time_to_threshold_s=[x[0] if x else None for x in ttt],
        steps_to_threshold=[x[1] if x else None for x in ttt],
        time_to_threshold_mean_s=_ms([x[0] for x in ttt if x])[0] if all(ttt) else None,
        load_avg=[(r["system"].get("load_avg_start"), r["system"].get("load_avg_end")) for r in rs],
    )
  sac = rows.get("sac")
  for algo, row in rows.items():
    t = row["time_to_threshold_mean_s"]
    row["ttt_over_sac_total_wall"] = (t / sac["total_wall_s"][0]) if (sac and t is not None) else None
    st = sac["time_to_threshold_mean_s"] if sac else None
    row["ttt_over_sac_ttt"] = (t / st) if (t is not None and st) else None
  return dict(threshold=threshold, rows=rows)


def markdown(summary: dict[str, Any], meta: dict[str, Any]) -> str:
  thr = summary["threshold"]
  lines = [
      f"### {meta['env']}: {meta['budget']:,} env steps, seeds {meta['seeds']}, episode_length "
      f"{meta['episode_length']}, {meta['num_evals']} evaluations",
      "",
      f"Threshold for time-to-threshold: {thr:.1f}" + (" (Brax SAC's final mean return)" if meta[
          "threshold_from_sac"] else " (--threshold)") if thr is not None else "No threshold.",
      "",
      "| algo | env steps | final eval return (mean ± std) | per seed | mean of last 3 evals | "
      "wall incl. compile (s) | compile (s) | "
      "wall excl. compile (s) | env steps/s excl. compile | wall to threshold (s) per seed | load avg 1m "
      "start→end per seed | wall to threshold (mean) / SAC wall incl. compile | ... / SAC wall to threshold |",
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  ]
  for algo, r in summary["rows"].items():
    ttt = ", ".join("not reached" if t is None else f"{t:.1f} ({s:,})"
                    for t, s in zip(r["time_to_threshold_s"], r["steps_to_threshold"]))
    loads = ", ".join(f"{a[0]:.1f}→{b[0]:.1f}" if a and b else "?" for a, b in r["load_avg"])
    lines.append(
        f"| {algo} | {', '.join(f'{s:,}' for s in sorted(set(r['env_steps'])))} | "
        f"{_fmt(*r['final_eval_return'])} | {', '.join(f'{x:.1f}' for x in r['final_eval_returns'])} | "
        f"{_fmt(*r['last3_eval_return']) if 'last3_eval_return' in r else 'n/a'} | "
        f"{_fmt(*r['total_wall_s'])} | {_fmt(*r['compile_estimate_s'])} | {_fmt(*r['wall_excl_compile_s'])} | "
        f"{_fmt(*r['env_steps_per_s'], ',.0f')} | {ttt} | {loads} | "
        f"{_fmt(r.get('ttt_over_sac_total_wall'), None, '.2f')} | {_fmt(r.get('ttt_over_sac_ttt'), None, '.2f')} |")
  lines += [
      "",
      "Wall-clock is measured from just before env construction (imports excluded) and includes compilation; "
      "compile = union of JAX trace/lower/compile spans (brax_baselines.CompileTimer), JAX persistent "
      f"compilation cache {meta.get('system', {}).get('compilation_cache', 'cold')}; "
      "'wall to threshold' is the wall-clock (incl. compile) at the first evaluation >= threshold, with the env "
      "steps of that evaluation in parentheses. Std is over seeds (population std).",
      "",
      "Eval protocols differ: Brax evaluates its deterministic policy with its own Evaluator (auto-reset "
      "envs, one episode per env, plus an extra evaluation of the untrained policy at step 0); wpgjax "
      "evaluates the deterministic policy (tanh of the mean) over num_eval_envs fresh episodes after each "
      "epoch. Both use the same number of trained-policy evaluations and eval episodes "
      f"({meta['num_evals']} × {meta['num_eval_envs']}).",
  ]
  return "\n".join(lines) + "\n"


def plot(results: list[dict[str, Any]], algos: list[str], path: Path, title: str,
         threshold: float | None) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  import numpy as np

  fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
  for algo in algos:
    rs = [r for r in results if r["algo"] == algo]
    if not rs:
      continue
    n = min(len(r["curve"]) for r in rs)
    curves = np.array([r["curve"][-n:] for r in rs], dtype=float)  # [seeds, n, 3]
    steps = curves[:, :, 0].mean(0)
    wall = curves[:, :, 2].mean(0)
    mean, std = curves[:, :, 1].mean(0), curves[:, :, 1].std(0)
    for ax, x in ((axes[0], steps), (axes[1], wall)):
      (line,) = ax.plot(x, mean, marker="o", ms=3, label=ALGO_LABELS.get(algo, algo))
      ax.fill_between(x, mean - std, mean + std, alpha=0.2, color=line.get_color())
  for ax, xl in ((axes[0], "env steps"), (axes[1], "wall-clock incl. compile (s), mean over seeds")):
    ax.set_xlabel(xl)
    ax.set_ylabel("eval return")
    if threshold is not None:
      ax.axhline(threshold, color="gray", ls=":", lw=1)
    ax.grid(alpha=0.3)
  axes[0].legend(fontsize=8)
  fig.suptitle(title)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


# ------------------------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--env", required=True)
  p.add_argument("--timesteps", type=int, required=True, help="env-step budget for every algorithm")
  p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
  p.add_argument("--algos", nargs="+", default=["wpg", "wpo_plain_fixed_tau", "sac"],
                 choices=sorted(set(WPG_VARIANTS) | set(bb.RUNNERS)))
  p.add_argument("--num-evals", type=int, default=None,
                 help="trained-policy evaluations for every algorithm (default: the wpgjax preset's)")
  p.add_argument("--episode-length", type=int, default=1000)
  p.add_argument("--threshold", type=float, default=None,
                 help="return threshold for wall-to-threshold (default: Brax SAC's final mean return)")
  p.add_argument("--wpg-set", action="append", default=[], metavar="KEY=VALUE",
                 help="extra wpgjax config override for every wpgjax variant (e.g. num_eval_envs=16)")
  p.add_argument("--out", required=True, help="output prefix: writes <out>.json, <out>.md, <out>.png")
  p.add_argument("--quiet", action="store_true")
  p.add_argument("--no-warmup", action="store_true",
                 help="skip the untimed Brax env build before the runs (then the first run in the process also "
                      "pays the eager-op compiles of building a Brax env, ~16 s here)")
  p.add_argument("--render", default=None, metavar="JSON",
                 help="only re-render <out>.md/.png from an existing result JSON (no runs)")
  a = p.parse_args(argv)
  if a.render:
    payload = json.loads(Path(a.render).read_text())
    meta, results = payload["meta"], payload["runs"]
    summary = summarize(results, meta["algos"], a.threshold)
    meta["threshold_from_sac"] = a.threshold is None and "sac" in meta["algos"]
    payload["summary"] = summary
    out = Path(a.out)
    out.with_suffix(".json").write_text(json.dumps(bb.jsonable(payload), indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(summary, meta))
    plot(results, meta["algos"], out.with_suffix(".png"),
         f"{meta['env']}, {meta['budget']:,} env steps, seeds {meta['seeds']} (mean ± std)", summary["threshold"])
    print(out.with_suffix(".md").read_text())
    return 0

  from wpgjax.rl import presets

  extra = {}
  for item in a.wpg_set:
    k, sep, v = item.partition("=")
    if not sep:
      p.error(f"--wpg-set expects KEY=VALUE, got {item!r}")
    extra[k] = v
  base = presets(a.env, episode_length=a.episode_length, **extra)
  num_evals = a.num_evals if a.num_evals is not None else base.num_evals
  if a.num_evals is not None:
    base = presets(a.env, episode_length=a.episode_length, num_evals=num_evals, **extra)
  meta = dict(env=a.env, budget=a.timesteps, seeds=a.seeds, algos=a.algos, num_evals=num_evals,
              num_eval_envs=base.num_eval_envs, episode_length=a.episode_length, backend=base.backend,
              threshold_from_sac=a.threshold is None and "sac" in a.algos,
              command="python " + " ".join([sys.argv[0]] + (argv if argv is not None else sys.argv[1:])),
              load_avg_start=load_average(), system=system_info(),
              started=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
  out = Path(a.out)
  out.parent.mkdir(parents=True, exist_ok=True)

  if not a.no_warmup:
    meta["warmup_env_build_s"] = warm_up_env(a.env, base.backend, a.episode_length)
  meta["warmup"] = not a.no_warmup
  results: list[dict[str, Any]] = []

  def write() -> None:
    summary = summarize(results, a.algos, a.threshold)
    meta["load_avg_end"] = load_average()
    payload = dict(meta=meta, summary=summary, runs=results)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(bb.jsonable(payload), indent=1) + "\n")
    tmp.replace(out.with_suffix(".json"))
    out.with_suffix(".md").write_text(markdown(summary, meta))
    try:
      plot(results, a.algos, out.with_suffix(".png"),
           f"{a.env}, {a.timesteps:,} env steps, seeds {a.seeds} (mean ± std)", summary["threshold"])
    except Exception as e:  # noqa: BLE001  (a plotting failure must not lose the results)
      print(f"plot failed: {e!r}", file=sys.stderr)

  for seed in a.seeds:  # interleaved per seed: both sides see similar load
    for algo in a.algos:
      if algo in bb.RUNNERS:
        r = run_brax(algo, a.env, budget=a.timesteps, seed=seed, num_evals=num_evals,
                     num_eval_envs=base.num_eval_envs, episode_length=a.episode_length,
                     backend=base.backend, verbose=not a.quiet)
      else:
        r = run_wpg(a.env, budget=a.timesteps, seed=seed, variant=algo, num_evals=num_evals,
                    episode_length=a.episode_length, verbose=not a.quiet, extra=extra)
      results.append(r)
      print(bb.summary_line(r), flush=True)
      write()
  print(out.with_suffix(".md").read_text())
  return 0


if __name__ == "__main__":
  sys.exit(main())
