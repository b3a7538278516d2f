"""The theory's numbers on the exact problems (docs/theory.md §3, §5, §6), printed and saved as JSON + markdown.

    python benchmarks/theory_benchmark.py [--out benchmarks/results/theory_benchmark]

Sections (all float64, CPU unless a GPU is the default JAX device; the machine is recorded):
1. contraction: fitted factor ρ̂ of E_k − floor vs the predicted ρ = 1 − (1 − γ)(1 − e^{−ᾱτη}) and the bound
   exp(−½ᾱτ(1 − γ)η) (ᾱ from the run's minimum PL ratio), on T1 (Gaussian, double well), T2 (LQR), T3.
2. bias floor vs η: fitted floors, exact stationary floors where known, log-log slope (T1 Gaussian, T2, T3).
3. particle error vs N: T3 particle WPGD (core ULA steps on the exact Q of the particles' KDE) against exact-law
   WPGD, and ULA particles on the Gaussian bandit against the exact Gaussian law of the iterate.
4. MALA vs ULA at equal η: double well, histogram TV of long particle runs to the quadrature Gibbs law, with the
   exact-law ULA stationary TV (no sampling noise) and the Monte Carlo floor; Gaussian bandit stationary variance.
5. time per iteration: exact-law T3 step, T3 particle step at N = 1000, core ULA / MALA steps at N = 1000.
Timings are the best of 3 runs after compilation, on a possibly shared machine (the load average is recorded).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks` importable as a script
from benchmarks.machine import load_average, system_info  # noqa: E402
from wpgjax import theory
from wpgjax.core import diagnostics, kernels
from wpgjax.problems import DoubleWellBandit, FiniteMDP, GaussianBandit, GaussianPolicy, LinearQuadratic


def _best_time(fn: Callable[[], Any], repeats: int = 3) -> float:
  """Best wall time of `fn()` (outputs blocked on) over `repeats` calls; call it once before to compile."""
  best = math.inf
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    best = min(best, time.perf_counter() - start)
  return best


def _clean(x: Any) -> Any:
  """JSON-safe: NaN/inf -> None, numpy scalars -> Python."""
  if isinstance(x, dict):
    return {k: _clean(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [_clean(v) for v in x]
  if isinstance(x, (np.floating, float)):
    return float(x) if math.isfinite(x) else None
  if isinstance(x, np.integer):
    return int(x)
  return x


def _fmt(x: Any, digits: int = 4) -> str:
  if x is None or (isinstance(x, float) and not math.isfinite(x)):
    return "—"
  if isinstance(x, float):
    return f"{x:.{digits}g}"
  return str(x)


# ----------------------------------------------------------------------------------------------------- problems


def _t3() -> tuple[FiniteMDP, np.ndarray]:
  mdp = FiniteMDP.random(jax.random.PRNGKey(0), 3, tau=0.5, gamma=0.9)
  return mdp, np.asarray(mdp.gaussian_log_policy(0.0, 1.0))


def _gaussian_bandit() -> tuple[GaussianBandit, GaussianPolicy]:
  bandit = GaussianBandit(np.array([1.0, -0.5]), np.array([[2.0, 0.3], [0.3, 1.0]]), tau=0.5, gamma=0.9)
  return bandit, GaussianPolicy(np.array([-2.0, 2.0]), 2.0 * np.eye(2))


def _lqr() -> tuple[LinearQuadratic, tuple[np.ndarray, np.ndarray], float]:
  rng = np.random.default_rng(0)
  a = rng.normal(size=(2, 2))
  a *= 1.1 / np.max(np.abs(np.linalg.eigvals(a)))
  b = rng.normal(size=(2, 2)) / np.sqrt(2)
  lq = LinearQuadratic(a, b, np.diag([1.0, 0.5]), np.diag([0.8, 1.2]), 0.1 * np.eye(2), gamma=0.9, tau=0.5)
  gain0, cov0 = np.asarray(lq.optimum().K) + 0.3 * rng.normal(size=(2, 2)), 2.0 * np.eye(2)
  value_matrix = np.asarray(lq.soft_value((gain0, cov0)).P)
  largest = float(np.max(np.linalg.eigvalsh(2.0 * (lq.R + lq.gamma * lq.B.T @ value_matrix @ lq.B))))
  return lq, (gain0, cov0), largest


# ----------------------------------------------------------------------------------------------------- sections


def contraction_and_floors() -> tuple[list[dict[str, Any]], dict[str, Any]]:
  """Sections 1 and 2."""
  rows, sweeps = [], {}
  mdp, mdp0 = _t3()
  sweep = theory.bias_floor_vs_step_size(mdp, mdp0, [0.2, 0.1, 0.05, 0.025], 1200)
  sweeps["T3 finite MDP (3 states, G=161)"] = sweep.summary()
  rows += [h.summary() for h in sweep.histories if h.step_size == 0.1]
  bandit, bandit0 = _gaussian_bandit()
  sweep = theory.bias_floor_vs_step_size(bandit, bandit0, [0.4, 0.2, 0.1, 0.05], 400)
  sweeps["T1 Gaussian bandit (d=2)"] = sweep.summary()
  rows += [h.summary() for h in sweep.histories if h.step_size == 0.1]
  well = DoubleWellBandit(1.0, 0.5, 1.0, 0.9)
  rows.append(theory.run_wpgd_theory(well, np.asarray(well.gaussian_log_density(0.8, 0.3)), step_size=0.04,
                                     num_steps=600).summary())
  lq, lq0, largest = _lqr()
  sweep = theory.bias_floor_vs_step_size(lq, lq0, [0.5 / largest, 0.25 / largest, 0.125 / largest], 600)
  sweeps["T2 LQR (n=m=2)"] = sweep.summary()
  rows.append(sweep.histories[0].summary())
  return rows, sweeps


def particle_error() -> dict[str, Any]:
  """Section 3."""
  out: dict[str, Any] = {}
  mdp, mdp0 = _t3()
  eta, num_steps, seeds = 0.1, 30, 3
  exact = mdp.exact_wpgd(mdp0, step_size=eta, num_steps=num_steps)
  exact_values = np.asarray(exact.value)
  counts = [30, 100, 300, 1000, 3000]
  value_errors, tv_errors = [], []
  for count in counts:
    per_seed = []
    for seed in range(seeds):
      particles = mdp.sample_policy(jax.random.PRNGKey(seed), mdp0, count)
      trace = mdp.particle_wpgd(jax.random.PRNGKey(1000 + seed), particles, step_size=eta, num_steps=num_steps)
      per_seed.append((np.max(np.abs(np.asarray(trace.value) - exact_values)),
                       float(np.max(np.asarray(mdp.tv_distance(trace.policy[-1], exact.policy[-1]))))))
    value_error, tv_error = np.mean(per_seed, axis=0)
    value_errors.append(float(value_error))
    tv_errors.append(float(tv_error))
  out["t3"] = dict(step_size=eta, num_steps=num_steps, seeds=seeds, num_particles=counts,
                   value_error=value_errors, policy_tv=tv_errors,
                   value_error_slope=diagnostics.loglog_slope(counts, value_errors).slope,
                   policy_tv_slope=diagnostics.loglog_slope(counts, tv_errors).slope,
                   what="max_{k,s}|V^{KDE of particles}_k(s) − V^{exact law}_k(s)| and max_s TV(final KDE, exact law)")
  bandit, bandit0 = _gaussian_bandit()
  eta, num_steps = 0.1, 50
  target = bandit.closed_form_policy(bandit0, step_size=eta, k=num_steps)
  target_mean, target_cov = np.asarray(target.mean), np.asarray(target.cov)
  counts = [100, 1000, 10_000, 100_000]
  errors = []
  for count in counts:
    per_seed = []
    for seed in range(seeds):
      particles = bandit.sample(jax.random.PRNGKey(seed), bandit0, count)
      moved = np.asarray(bandit.particle_wpgd(jax.random.PRNGKey(1000 + seed), particles, step_size=eta,
                                              num_steps=num_steps).particles)
      per_seed.append(np.linalg.norm(moved.mean(0) - target_mean) + np.linalg.norm(np.cov(moved.T) - target_cov))
    errors.append(float(np.mean(per_seed)))
  out["gaussian_bandit"] = dict(step_size=eta, num_steps=num_steps, seeds=seeds, num_particles=counts,
                                moment_error=errors, slope=diagnostics.loglog_slope(counts, errors).slope,
                                what="‖mean − μ_K‖ + ‖cov − Σ_K‖_F of ULA particles vs the exact law N(μ_K, Σ_K)")
  return out


def mala_vs_ula() -> dict[str, Any]:
  """Section 4."""
  well = DoubleWellBandit(1.0, 0.5, 1.0, 0.9)
  gibbs = well.gibbs_log_density()
  count, num_steps = 20_000, 400
  start = well.sample_grid_law(jax.random.PRNGKey(0), gibbs, count)
  monte_carlo_floor = float(well.histogram_tv(well.sample_grid_law(jax.random.PRNGKey(1), gibbs, count), gibbs))
  rows = []
  for eta in (0.02, 0.04, 0.06):
    stationary = well.ula_stationary_log_density(eta)
    row = dict(step_size=eta, ula_exact_law_tv=float(well.tv_distance(stationary, gibbs)))
    for method in ("ula", "mala"):
      moved = well.particle_wpgd(jax.random.PRNGKey(2), start, step_size=eta, num_steps=num_steps,
                                 method=method).particles
      row[f"{method}_particle_tv"] = float(well.histogram_tv(moved, gibbs))
    rows.append(row)
  double_well = dict(c=1.0, beta=0.5, tau=1.0, num_particles=count, num_steps=num_steps,
                     monte_carlo_tv_floor=monte_carlo_floor, rows=rows,
                     what="histogram TV (bins of 5 grid cells) of particles started from the Gibbs law, after "
                          "num_steps steps, to the quadrature Gibbs law; ula_exact_law_tv is the TV of the exact "
                          "ULA stationary law on the grid (no sampling noise)")
  bandit = GaussianBandit(np.array([0.0]), np.array([[2.0]]), tau=0.5, gamma=0.9)
  count = 100_000
  start = bandit.sample(jax.random.PRNGKey(0), bandit.optimal_policy(), count)
  rows = []
  for eta in (0.1, 0.3, 0.6):
    row = dict(step_size=eta, exact_variance=bandit.tau / 2.0,
               ula_stationary_variance=float(bandit.stationary_cov(eta)[0, 0]))
    for method in ("ula", "mala"):
      moved = np.asarray(bandit.particle_wpgd(jax.random.PRNGKey(1), start, step_size=eta, num_steps=200,
                                              method=method).particles)
      row[f"{method}_particle_variance"] = float(np.var(moved))
    rows.append(row)
  gaussian = dict(H=2.0, tau=0.5, num_particles=count, num_steps=200, rows=rows,
                  what="variance of the particles (started from the Gibbs law N(0, τ/H)) after 200 steps")
  return dict(double_well=double_well, gaussian_bandit=gaussian)


_median_lengthscale = jax.jit(kernels.median_lengthscale)


def timings() -> dict[str, Any]:
  """Section 5 (seconds per iteration)."""
  out: dict[str, Any] = {}
  mdp, mdp0 = _t3()
  num_steps = 1200
  mdp.exact_wpgd(mdp0, step_size=0.1, num_steps=num_steps)  # compiled in section 2 already; warm anyway
  out["t3_exact_law_step_n3_G161"] = _best_time(
      lambda: mdp.exact_wpgd(mdp0, step_size=0.1, num_steps=num_steps)) / num_steps
  big = FiniteMDP.random(jax.random.PRNGKey(1), 10, tau=0.5, gamma=0.9)
  big0 = big.gaussian_log_policy(0.0, 1.0)
  big.exact_wpgd(big0, step_size=0.1, num_steps=200)
  out["t3_exact_law_step_n10_G161"] = _best_time(lambda: big.exact_wpgd(big0, step_size=0.1, num_steps=200)) / 200
  particles = mdp.sample_policy(jax.random.PRNGKey(0), mdp0, 1000)
  num_steps = 30
  mdp.particle_wpgd(jax.random.PRNGKey(1), particles, step_size=0.1, num_steps=num_steps)
  out["t3_particle_step_n3_N1000"] = _best_time(
      lambda: mdp.particle_wpgd(jax.random.PRNGKey(1), particles, step_size=0.1, num_steps=num_steps)) / num_steps
  bandit, bandit0 = _gaussian_bandit()
  particles = bandit.sample(jax.random.PRNGKey(0), bandit0, 1000)
  # SVGD: few steps — its median-heuristic bandwidth sorts all N(N−1)/2 pair distances every step (~0.25 s at
  # N = 1000 on a 2-core CPU), which dominates its cost.
  for method, num_steps in (("ula", 1000), ("mala", 1000), ("svgd", 20)):
    bandit.particle_wpgd(jax.random.PRNGKey(1), particles, step_size=0.1, num_steps=num_steps, method=method)
    out[f"core_{method}_step_d2_N1000"] = _best_time(
        lambda: bandit.particle_wpgd(jax.random.PRNGKey(1), particles, step_size=0.1, num_steps=num_steps,
                                     method=method)) / num_steps
  with jax.enable_x64(True):  # the bandit's particles are float64
    _median_lengthscale(particles)
    out["core_svgd_median_lengthscale_N1000"] = _best_time(lambda: _median_lengthscale(particles))
  return out


# ------------------------------------------------------------------------------------------------------ report


def _markdown(result: dict[str, Any]) -> str:
  m = result["machine"]
  lines = [
      "# Theory benchmark (wpgjax.theory)", "",
      f"Machine: {m['cpu_model']}, {m['usable_cores']} usable cores ({m['cpu_count']} listed), backend "
      f"{m['backend']} ({m['device']}), jax {m['jax']}, numpy {m['numpy']}, Python {m['python']}; "
      f"load average {m['load_average_start']} → {result['load_average_end']}; total {result['total_seconds']:.0f} s; "
      f"{result['timestamp']}.", "",
      "## 1. Contraction factor: fitted vs predicted", "",
      "ρ̂: fit of E_k ≈ floor + Cρ̂^k on the asymptotic window; max step: slowest one-step factor of E_k − floor; "
      "predicted ρ = 1 − (1−γ)(1 − e^{−ᾱτη}) and bound exp(−½ᾱτ(1−γ)η) with ᾱ = min PL ratio / (2τ); certified: "
      "the bound with a certified LSI constant (closed form / Holley–Stroock). recursion floor: smallest F with "
      "E_{k+1} ≤ ρE_k + (1−ρ)F along the run.", "",
      "| problem | η | ρ̂ | max step | predicted ρ | bound | certified bound | 2ᾱτ (min PL) | floor | exact floor "
      "| recursion floor | identity errors (1, 3) |",
      "|---|---|---|---|---|---|---|---|---|---|---|---|",
  ]
  for r in result["contraction"]:
    lines.append(
        f"| {r['problem']} | {_fmt(r['step_size'])} | {_fmt(r['fitted_factor'])} | {_fmt(r['max_stepwise_factor'])} "
        f"| {_fmt(r['predicted_factor'])} | {_fmt(r['factor_bound'])} | {_fmt(r['certified_factor_bound'], 6)} "
        f"| {_fmt(r['pl_estimate'])} | {_fmt(r['bias_floor'])} | {_fmt(r['reference_floor'])} "
        f"| {_fmt(r['recursion_floor'])} | {_fmt(r['kl_identity_error'], 2)}, "
        f"{_fmt(r['resolvent_identity_error'], 2)} |")
  lines += ["", "## 2. Bias floor vs step size", "", "| problem | η | fitted floor | exact floor | ρ̂ |",
            "|---|---|---|---|---|"]
  for name, s in result["bias_floor"].items():
    for eta, floor, ref, rate in zip(s["step_sizes"], s["floors"], s["reference_floors"], s["fitted_factors"]):
      lines.append(f"| {name} | {_fmt(eta)} | {_fmt(floor)} | {_fmt(ref)} | {_fmt(rate)} |")
  lines += [""] + [f"- {name}: log-log slope **{s['slope']:.3f}**" for name, s in result["bias_floor"].items()]
  p = result["particle_error"]
  lines += ["", "## 3. Particle error vs number of particles", "",
            f"T3 (η = {p['t3']['step_size']}, {p['t3']['num_steps']} steps, mean of {p['t3']['seeds']} seeds): "
            f"{p['t3']['what']}.", "", "| N | value error | policy TV |", "|---|---|---|"]
  for n, v, tv in zip(p["t3"]["num_particles"], p["t3"]["value_error"], p["t3"]["policy_tv"]):
    lines.append(f"| {n} | {_fmt(v)} | {_fmt(tv)} |")
  lines += ["", f"Slopes in N: value error {p['t3']['value_error_slope']:.3f}, "
            f"policy TV {p['t3']['policy_tv_slope']:.3f} "
            "(KDE-limited: bias O(h²) + variance O(1/(Nh)), h ∝ N^{−1/5}).", "",
            f"Gaussian bandit ULA particles (η = {p['gaussian_bandit']['step_size']}, "
            f"{p['gaussian_bandit']['num_steps']} steps): {p['gaussian_bandit']['what']}.", "", "| N | moment error |",
            "|---|---|"]
  for n, e in zip(p["gaussian_bandit"]["num_particles"], p["gaussian_bandit"]["moment_error"]):
    lines.append(f"| {n} | {_fmt(e)} |")
  lines += ["", f"Slope in N: {p['gaussian_bandit']['slope']:.3f} (Monte Carlo: −0.5)."]
  mv = result["mala_vs_ula"]
  dw = mv["double_well"]
  lines += ["", "## 4. MALA vs ULA at equal step size", "",
            f"Double well (c = {dw['c']}, β = {dw['beta']}, τ = {dw['tau']}), N = {dw['num_particles']}, "
            f"{dw['num_steps']} steps: {dw['what']}. Monte Carlo TV floor at this N: "
            f"{_fmt(dw['monte_carlo_tv_floor'])}.",
            "", "| η | ULA exact-law TV | ULA particles TV | MALA particles TV |", "|---|---|---|---|"]
  for r in dw["rows"]:
    lines.append(f"| {_fmt(r['step_size'])} | {_fmt(r['ula_exact_law_tv'])} | {_fmt(r['ula_particle_tv'])} "
                 f"| {_fmt(r['mala_particle_tv'])} |")
  gb = mv["gaussian_bandit"]
  lines += ["", f"Gaussian bandit (H = {gb['H']}, τ = {gb['tau']}), N = {gb['num_particles']}: {gb['what']}.", "",
            "| η | exact τ/H | ULA stationary Σ_∞(η) | ULA particles | MALA particles |", "|---|---|---|---|---|"]
  for r in gb["rows"]:
    lines.append(f"| {_fmt(r['step_size'])} | {_fmt(r['exact_variance'])} | {_fmt(r['ula_stationary_variance'])} "
                 f"| {_fmt(r['ula_particle_variance'])} | {_fmt(r['mala_particle_variance'])} |")
  lines += ["", "## 5. Time per iteration (best of 3, after compilation)", "", "| step | ms / iteration |", "|---|---|"]
  for name, seconds in result["timings"].items():
    lines.append(f"| {name} | {seconds * 1e3:.4g} |")
  return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "theory_benchmark"),
                      help="output prefix: writes <out>.json and <out>.md")
  args = parser.parse_args(argv)
  start = time.perf_counter()
  result: dict[str, Any] = dict(machine={**system_info(), "load_average_start": load_average()})
  sections = (("contraction_and_floor", contraction_and_floors), ("particle_error", particle_error),
              ("mala_vs_ula", mala_vs_ula), ("timings", timings))
  section_seconds = {}
  for name, section in sections:
    section_start = time.perf_counter()
    value = section()
    if name == "contraction_and_floor":
      result["contraction"], result["bias_floor"] = value
    else:
      result[name] = value
    section_seconds[name] = time.perf_counter() - section_start
    print(f"[{name}: {section_seconds[name]:.1f} s]", file=sys.stderr, flush=True)
  result["section_seconds"] = section_seconds
  result["load_average_end"] = load_average()
  result["total_seconds"] = time.perf_counter() - start
  result["timestamp"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
  result = _clean(result)
  out = Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
  markdown = _markdown(result)
  out.with_suffix(".md").write_text(markdown)
  print(markdown)
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
