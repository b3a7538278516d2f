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

Budget
------
Brax SAC counts its random-action prefill (``min_replay_size``) inside ``num_timesteps``; wpgjax's
``num_timesteps`` excludes its prefill (``TrainConfig.total_env_steps`` adds it). So that both sides take the
same number of env steps, the wpgjax config gets ``num_timesteps = budget − prefill`` (then rounded down by its
``num_envs × num_evals`` granularity); the env steps each side actually took are in the results.

wpgjax driver (like a host runner)
----------------------------------
``make_trainer(config)`` -> ``jax.jit(lambda k, hp: prefill(init(k, hp)))`` and ``jax.jit(epoch)`` compiled
ahead of time (``.lower(...).compile()``, timed: ``aot_compile_s``), then the compiled epoch is called
``config.num_evals`` times from Python, each call followed by ``block_until_ready`` and a
``time.perf_counter`` reading -> curve ``[(env_steps, eval/episode_reward, walltime_s)]``.

Timing (the same for both sides)
--------------------------------
- ``total_wall_s``: perf_counter from just before the env is built to the end of the last epoch (imports excluded).
- ``compile_estimate_s``: ``brax_baselines.CompileTimer`` (union of JAX trace/lower/compile time spans) around
  the whole run; for wpgjax ``aot_compile_s`` is the cross-check.
- ``env_steps_per_s``: env_steps / (total_wall_s − compile_estimate_s) (evaluation time included).
- ``time_to_threshold_s``: the walltime of the first evaluation whose return is >= the threshold (default:
  Brax SAC's final mean return over seeds, else ``--threshold``); None where never reached.
- Load: ``os.getloadavg()`` (1, 5, 15 min) at the start and end of every run. Runs are interleaved per seed
  (seed 0: every algo, then seed 1: every algo) so that both sides of the comparison see similar load.
- Warm-up: before the runs the Brax env is built once, untimed (``--no-warmup`` skips it): building a Brax
  env runs many small eager ops that are compiled once per process (~16 s here), which would otherwise be
  charged to whichever run comes first (``observation_size`` included: Brax computes it with an eager reset).
- Compilation caches: the JAX persistent cache is left off (cold), unless JAX_COMPILATION_CACHE_DIR is set;
  the result records it.

Evaluations
-----------
Protocols differ. Brax: ``num_evals`` evaluations including one of the untrained policy at step 0, each the
deterministic policy (mode) in ``num_eval_envs`` envs, one episode each, through Brax's ``Evaluator``
(auto-reset envs, episode return to the first done). wpgjax: one evaluation after each of ``num_evals``
epochs, the deterministic policy (tanh of the mean) in ``num_eval_envs`` fresh envs, one episode each. Here
Brax gets ``num_evals = N + 1`` (step 0 plus N trained evaluations) and the same ``num_eval_envs`` as wpgjax,
so both report N evaluations of trained policies at matching step counts over as many episodes.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks` importable as a script

from benchmarks import brax_baselines as bb  # noqa: E402
from benchmarks.machine import cpu_model  # noqa: E402

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
}
ALGO_LABELS = {
    "wpg": "wpgjax WPG (default preset)",
    "wpo_plain": "wpgjax plain WPO (no entropy term, no natural gradient)",
    "wpo_plain_fixed_tau": "wpgjax plain WPO, fixed tau=1e-4",
    "wppg": "wpgjax WPPG (SVGD move)",
    "sac": "Brax SAC",
    "ppo": "Brax PPO",
}


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


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
    import jax

    from wpgjax.rl import config_to_dict, make_trainer

    config = wpg_config(env, budget, num_evals, episode_length, variant, extra)
    load_start = _loadavg()
    curve: list[list[float]] = []
    epochs: list[dict[str, float]] = []
    t_start = time.perf_counter()
    with bb.CompileTimer() as timer:
        trainer = make_trainer(config)  # builds the env and networks
        env_build_s = time.perf_counter() - t_start
        hp = config.hyperparams()
        key = jax.random.PRNGKey(seed)
        t0 = time.perf_counter()
        start_c = jax.jit(lambda k, h: trainer.prefill(trainer.init(k, h))).lower(key, hp).compile()
        start_compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        state = jax.block_until_ready(start_c(key, hp))
        prefill_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        epoch_c = jax.jit(trainer.epoch).lower(state, hp).compile()
        epoch_compile_s = time.perf_counter() - t0
        for i in range(config.num_evals):
            t0 = time.perf_counter()
            state, metrics = epoch_c(state, hp)
            metrics = jax.device_get(jax.block_until_ready(metrics))
            t = time.perf_counter()
            reward = float(metrics["eval/episode_reward"])
            curve.append([int(metrics["env_steps"]), reward, t - t_start])
            epochs.append(dict(epoch_s=t - t0, **{k: float(v) for k, v in metrics.items()}))
            if verbose:
                print(f"[{variant} {env} seed={seed}] step {int(metrics['env_steps']):>8d}  eval {reward:9.2f}  "
                      f"t {t - t_start:7.1f}s  (epoch {t - t0:.2f}s)", file=sys.stderr, flush=True)
        total_wall_s = time.perf_counter() - t_start
    aot_compile_s = start_compile_s + epoch_compile_s
    compile_s = timer.seconds if timer.seconds is not None else aot_compile_s
    env_steps = curve[-1][0]
    run_s = total_wall_s - compile_s
    # Steady epoch time: epochs after the first (the first may pay one-off costs such as page faults).
    steady = statistics.median([e["epoch_s"] for e in epochs[1:]]) if len(epochs) > 1 else epochs[0]["epoch_s"]
    steps_per_epoch = config.steps_per_eval * config.num_envs * config.action_repeat
    return bb._jsonable(dict(
        env=env, algo=variant, seed=int(seed), backend=config.backend, num_timesteps=budget,
        env_steps=int(env_steps), episode_length=config.episode_length, curve=curve,
        final_eval_return=curve[-1][1], final_eval_return_std=epochs[-1]["eval/episode_reward_std"],
        total_wall_s=total_wall_s, compile_estimate_s=compile_s,
        compile_method="union of jax.monitoring trace/lower/compile time spans during the run "
                       "(brax_baselines.CompileTimer); aot_compile_s = timed .lower().compile() of the two programs",
        jax_compile_spans=timer.counts, aot_compile_s=aot_compile_s, start_compile_s=start_compile_s,
        epoch_compile_s=epoch_compile_s, prefill_run_s=prefill_s, env_build_s=env_build_s,
        env_steps_per_s=env_steps / run_s if run_s > 0 else None,
        train_sps_steady=steps_per_epoch / steady, epoch_s_steady=steady,
        grad_updates_per_s_steady=config.steps_per_eval * config.grad_updates_per_step / steady,
        epochs=epochs, config=config_to_dict(config), variant_overrides=WPG_VARIANTS[variant],
        system=_system(jax, load_start),
        timestamp=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    ))


def _system(jax, load_start) -> dict[str, Any]:
    dev = jax.devices()[0]
    try:
        import brax
        brax_version = brax.__version__
    except Exception:  # noqa: BLE001
        brax_version = None
    return dict(jax=jax.__version__, brax=brax_version, python=platform.python_version(), platform=dev.platform,
                cpu_count=os.cpu_count(), cpu_model=cpu_model(),
                compilation_cache_dir=jax.config.jax_compilation_cache_dir or None,
                load_avg_start=load_start, load_avg_end=_loadavg())


def run_brax(algo: str, env: str, *, budget: int, seed: int, num_evals: int | None, num_eval_envs: int | None,
             episode_length: int, backend: str, verbose: bool = True) -> dict[str, Any]:
    load_start = _loadavg()
    kwargs: dict[str, Any] = {}
    if num_eval_envs is not None:
        kwargs["num_eval_envs"] = num_eval_envs
    r = bb.RUNNERS[algo](env, num_timesteps=budget, seed=seed, backend=backend, episode_length=episode_length,
                         num_evals=None if num_evals is None else num_evals + 1, verbose=verbose, **kwargs)
    r["system"]["load_avg_start"] = load_start
    r["system"]["load_avg_end"] = _loadavg()
    return r


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
        "| algo | env steps | final eval return (mean ± std) | per seed | mean of last 3 evals | wall incl. compile (s) | compile (s) | "
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
        "compile = union of JAX trace/lower/compile spans (brax_baselines.CompileTimer), cold persistent cache; "
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
        out.with_suffix(".json").write_text(json.dumps(bb._jsonable(payload), indent=1) + "\n")
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
                load_avg_start=_loadavg(),
                started=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    if not a.no_warmup:
        # Building a Brax env runs many small eager ops, each compiled once per process (~16 s here). Do it once,
        # untimed, so that the first timed run does not pay it alone.
        from wpgjax.rl import envs as wenvs
        t0 = time.perf_counter()
        warm_env = wenvs.make_env(a.env, backend=base.backend, episode_length=a.episode_length)
        _ = (warm_env.observation_size, warm_env.action_size)  # Brax computes these with an eager reset
        meta["warmup_env_build_s"] = time.perf_counter() - t0
    meta["warmup"] = not a.no_warmup
    results: list[dict[str, Any]] = []

    def write() -> None:
        summary = summarize(results, a.algos, a.threshold)
        meta["load_avg_end"] = _loadavg()
        payload = dict(meta=meta, summary=summary, runs=results)
        tmp = out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(bb._jsonable(payload), indent=1) + "\n")
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
            print(bb._summary(r), flush=True)
            write()
    print(out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
