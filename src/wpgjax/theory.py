"""The theorist's view of WPGD: every quantity of the convergence proof (docs/theory.md §2, §3, §6) along one run.

`run_wpgd_theory(problem, initial_policy, step_size=η, num_steps=K)` runs exact-law WPGD on a problem with exact
answers and returns a `TheoryHistory` (host-side numpy float64 arrays) holding, for iterates k = 0..K and states s:

    E_k = ‖V* − V^{π_k}‖_∞                                  the optimality gap (`gap` [K+1]);
    τ KL(π_k(·|s) ‖ p_s^{π_k}) = (T*V^{π_k} − V^{π_k})(s)    the statewise residual, two ways (`kl_residual`,
                                                            `bellman_residual` [K+1, n]: identity 1);
    (V* − V^{π_k})(s) − γ E_k ≤ residual                     Bellman contraction (`contraction_slack`: identity 2);
    g_k(s) = τ[KL(π_k‖p^{π_k}) − KL(π_{k+1}‖p^{π_k})] = ((I − γP^{π_{k+1}})(V^{π_{k+1}} − V^{π_k}))(s)
                                                            (`improvement`, `resolvent_lhs` [K, n]: identity 3);
    τ² I(π_k(·|s) ‖ p_s^{π_k})                              the Fisher dissipation (`dissipation` [K+1, n]);
    τ² I / (τ KL)                                           the empirical PL ratio (`pl_ratio` [K+1, n]).

The PL ratio is ≥ 2α_LSI τ wherever the Gibbs policies satisfy LSI(α_LSI), so its minimum over states and iterates
(`pl_estimate`) is the largest constant for which the distributional PL inequality τ²I ≥ 2ᾱτ·(τKL) holds along this
run: the effective 2ᾱτ the proof needs (it can exceed a worst-case LSI constant; `lsi_lower_bound` is a certified
one where the problem gives one). With ᾱ = pl_estimate / (2τ) the history compares

    the fitted factor ρ̂   (E_k ≈ floor + C ρ̂^k, `core.diagnostics.fit_geometric_decay`)
    the predicted factor  ρ = 1 − (1 − γ)(1 − e^{−ᾱτη})      (`core.diagnostics.predicted_contraction_factor`)
    the theorem's bound   exp(−½ ᾱτ(1 − γ)η) ≥ ρ  (ᾱτη ≤ 1)  (`core.diagnostics.contraction_factor_bound`)

and reports the fitted bias floor (with the exact stationary floor where the problem knows it). Honest reading:
the theorem bounds the recursion E_{k+1} ≤ ρE_k + τδ_η/(1 − γ), an envelope, not the asymptotic rate of E_k − E_∞.
`recursion_floor` = max_k (E_{k+1} − ρE_k)/(1 − ρ) is the smallest floor with which the run satisfies the theorem's
recursion at the predicted ρ; it equals the fitted floor exactly when every step contracts the excess E_k − floor
by at least ρ (`max_stepwise_factor` ≤ ρ).

`bias_floor_vs_step_size` sweeps η and fits the floor's log-log slope (docs/theory.md §3: O(η); on T1–T3 it is O(η²)).
`plot_theory` and `plot_bias_floor` draw them (matplotlib, no pyplot state: safe under the Agg backend).

Supported problems: every `wpgjax.problems.ExactProblem`; the history is read off its `WPGDTrace`
(initial_policy in brackets): `FiniteMDP` (T3) [log π_0, shape [n, G]]; `GaussianBandit` (T1)
[GaussianPolicy(mean [d], cov [d, d])]; `DoubleWellBandit` (T1) [log π_0 on its grid, [G]]; `LinearQuadratic` (T2)
[LQPolicy(K [m, n], Sigma [m, m]) or (K, Sigma)] — T2 has unbounded states, so its "states" are a finite set of
evaluation states x [S, n] (argument `states`, default the unit vectors), E_k is the max over them, and the
Bellman-contraction slack (which needs the sup over all states: `enumerable_states` is False) is not reported (NaN).
"""

from __future__ import annotations

__all__ = [
    'TheoryHistory',
    'BiasFloorSweep',
    'run_wpgd_theory',
    'bias_floor_vs_step_size',
    'plot_theory',
    'plot_bias_floor',
]

import dataclasses
import math
from typing import Any, Sequence

import jax
import numpy as np

from wpgjax.core import diagnostics
from wpgjax.problems import EXACT_PROBLEMS, ExactProblem, WPGDTrace


# ------------------------------------------------------------------------------------------------- containers


@dataclasses.dataclass(frozen=True)
class TheoryHistory:
  """One exact-law WPGD run with every quantity of the proof; arrays are numpy float64, n = number of states
  (1 for the bandits, S evaluation states for T2), K = num_steps.

  Attributes:
    problem: "finite_mdp" | "gaussian_bandit" | "double_well_bandit" | "lqr".
    step_size, tau, gamma: η, τ, γ.
    gap: [K+1] E_k = ‖V* − V^{π_k}‖_∞ (T2: max over the evaluation states).
    state_gap: [K+1, n] (V* − V^{π_k})(s).
    kl_residual: [K+1, n] τ KL(π_k(·|s) ‖ p_s^{π_k}).
    bellman_residual: [K+1, n] (T*V^{π_k} − V^{π_k})(s), computed from values only (identity 1: = kl_residual).
    contraction_slack: [K+1, n] residual − [(V* − V^{π_k})(s) − γE_k] ≥ 0 (identity 2; NaN for T2).
    improvement: [K, n] g_k(s) = τ[KL(π_k‖p^{π_k}) − KL(π_{k+1}‖p^{π_k})].
    resolvent_lhs: [K, n] ((I − γP^{π_{k+1}})(V^{π_{k+1}} − V^{π_k}))(s) (identity 3: = improvement).
    fisher_information: [K+1, n] I(π_k(·|s) ‖ p_s^{π_k}).
    dissipation: [K+1, n] τ² I (g_k ≈ η τ² I for small η).
    pl_ratio: [K+1, n] dissipation / kl_residual (NaN where the residual is at rounding level).
    pl_estimate: min of pl_ratio over states and iterates: the effective 2ᾱτ along the run.
    lsi_estimate: ᾱ = pl_estimate / (2τ).
    lsi_lower_bound: a certified LSI constant of the Gibbs policies along the run, NaN if none is known
      (Gaussian bandit: λ_min(H)/τ; T2: min_k 1/λ_max(Σ_g,k); T3: Holley–Stroock (β/τ) exp(−osc_k/τ) with the
      oscillation bound osc = max_s 2c_s + γ(max V^{π_k} − min V^{π_k}) of Q^{π_k} + βa²/2).
    fit: GeometricDecayFit of the gap (rate ρ̂, floor, amplitude, start, stop).
    predicted_factor: 1 − (1 − γ)(1 − e^{−ᾱτη}) with ᾱ = lsi_estimate.
    factor_bound: exp(−½ ᾱτ(1 − γ)η) with ᾱ = lsi_estimate.
    certified_factor_bound: exp(−½ ατ(1 − γ)η) with α = lsi_lower_bound (NaN if unknown).
    reference_floor: the exact stationary gap of WPGD at this η where the problem gives it (Gaussian bandit:
      τKL(N(m, Σ_∞(η))‖p)/(1 − γ); double well: V* − V^{π_∞(η)} on the grid; T2: `gap_floor(η)`), else NaN.
    edge_mass_lost: [K] max over states of the mass a grid step put off the grid (0 for closed-form problems).
  """
  problem: str
  step_size: float
  tau: float
  gamma: float
  gap: np.ndarray
  state_gap: np.ndarray
  kl_residual: np.ndarray
  bellman_residual: np.ndarray
  contraction_slack: np.ndarray
  improvement: np.ndarray
  resolvent_lhs: np.ndarray
  fisher_information: np.ndarray
  dissipation: np.ndarray
  pl_ratio: np.ndarray
  pl_estimate: float
  lsi_estimate: float
  lsi_lower_bound: float
  fit: diagnostics.GeometricDecayFit
  predicted_factor: float
  factor_bound: float
  certified_factor_bound: float
  reference_floor: float
  edge_mass_lost: np.ndarray

  # -- derived scalars --------------------------------------------------------------------------------------------

  @property
  def num_steps(self) -> int:
    return int(self.gap.shape[0] - 1)

  @property
  def num_states(self) -> int:
    return int(self.kl_residual.shape[1])

  @property
  def fitted_factor(self) -> float:
    """ρ̂, the fitted per-step factor of E_k − floor."""
    return float(self.fit.rate)

  @property
  def bias_floor(self) -> float:
    """The fitted plateau of E_k (the discretization bias of WPGD at this η)."""
    return float(self.fit.floor)

  @property
  def kl_identity_error(self) -> float:
    """max_{k,s} |(T*V^{π_k} − V^{π_k})(s) − τKL(π_k‖p_s^{π_k})| (identity 1)."""
    return float(np.max(np.abs(self.bellman_residual - self.kl_residual)))

  @property
  def resolvent_identity_error(self) -> float:
    """max_{k,s} |((I − γP^{π_{k+1}})(V^{π_{k+1}} − V^{π_k}))(s) − g_k(s)| (identity 3)."""
    if self.improvement.size == 0:
      return 0.0
    return float(np.max(np.abs(self.resolvent_lhs - self.improvement)))

  @property
  def min_contraction_slack(self) -> float:
    """min_{k,s} of residual − [(V* − V^π)(s) − γE_k] (identity 2 says ≥ 0); NaN where not defined (T2)."""
    return float(np.min(self.contraction_slack))

  @property
  def stepwise_factors(self) -> np.ndarray:
    """[K] (E_{k+1} − floor)/(E_k − floor) over the fitted transient (NaN elsewhere)."""
    excess = self.gap - self.fit.floor
    ratios = np.full(self.num_steps, np.nan)
    window = slice(self.fit.start, max(self.fit.start, self.fit.stop - 1))
    ratios[window] = excess[1:][window] / excess[:-1][window]
    return ratios

  @property
  def max_stepwise_factor(self) -> float:
    """The slowest one-step contraction of E_k − floor over the fitted transient."""
    ratios = self.stepwise_factors
    return float(np.nanmax(ratios)) if np.any(np.isfinite(ratios)) else math.nan

  @property
  def recursion_floor(self) -> float:
    """max_k (E_{k+1} − ρE_k)/(1 − ρ) with ρ = predicted_factor: the smallest floor F for which the theorem's
    recursion E_{k+1} ≤ ρE_k + (1 − ρ)F holds along this run (≤ bias_floor iff every step contracts the excess
    E_k − floor by at least ρ)."""
    rho = self.predicted_factor
    if not rho < 1.0 or self.num_steps == 0:
      return math.nan
    return float(np.max(self.gap[1:] - rho * self.gap[:-1]) / (1.0 - rho))

  def summary(self) -> dict[str, Any]:
    """The scalar findings as a JSON-friendly dict (floats, ints, a str)."""
    return dict(
        problem=self.problem, step_size=self.step_size, tau=self.tau, gamma=self.gamma, num_steps=self.num_steps,
        num_states=self.num_states, initial_gap=float(self.gap[0]), final_gap=float(self.gap[-1]),
        bias_floor=self.bias_floor, reference_floor=self.reference_floor, fitted_factor=self.fitted_factor,
        fit_start=int(self.fit.start), fit_stop=int(self.fit.stop), max_stepwise_factor=self.max_stepwise_factor,
        predicted_factor=self.predicted_factor, factor_bound=self.factor_bound,
        certified_factor_bound=self.certified_factor_bound, pl_estimate=self.pl_estimate,
        lsi_estimate=self.lsi_estimate, lsi_lower_bound=self.lsi_lower_bound, recursion_floor=self.recursion_floor,
        kl_identity_error=self.kl_identity_error, resolvent_identity_error=self.resolvent_identity_error,
        min_contraction_slack=self.min_contraction_slack,
        min_improvement=float(np.min(self.improvement)) if self.improvement.size else math.nan,
        max_edge_mass_lost=float(np.max(self.edge_mass_lost)) if self.edge_mass_lost.size else 0.0)


@dataclasses.dataclass(frozen=True)
class BiasFloorSweep:
  """Fitted bias floors of exact-law WPGD against the step size.

  step_sizes [M], floors [M] (fitted plateaus of E_k), reference_floors [M] (exact stationary gaps, NaN if
  unknown), fitted_factors [M], loglog: LogLogFit(slope, prefactor) of floors against step sizes, histories: the
  M TheoryHistory runs.
  """
  step_sizes: np.ndarray
  floors: np.ndarray
  reference_floors: np.ndarray
  fitted_factors: np.ndarray
  loglog: diagnostics.LogLogFit
  histories: tuple[TheoryHistory, ...]

  @property
  def slope(self) -> float:
    """d log floor / d log η (≥ 1 if the floor is O(η); 2 on T1–T3)."""
    return float(self.loglog.slope)

  def summary(self) -> dict[str, Any]:
    return dict(step_sizes=self.step_sizes.tolist(), floors=self.floors.tolist(),
                reference_floors=self.reference_floors.tolist(), fitted_factors=self.fitted_factors.tolist(),
                slope=self.slope, prefactor=float(self.loglog.prefactor))


# ------------------------------------------------------------------------------------------------ from a trace


def _contraction_slack(residual: np.ndarray, state_gap: np.ndarray, gamma: float) -> np.ndarray:
  """residual − [(V* − V^π)(s) − γ‖V* − V^π‖_∞].  [K+1, n] -> [K+1, n]."""
  return residual - (state_gap - gamma * np.max(np.abs(state_gap), axis=1, keepdims=True))


def _traced_fields(problem: ExactProblem, trace: WPGDTrace, step_size: float) -> dict[str, Any]:
  """The TheoryHistory fields read off the problem's trace (numpy float64), with the identity-2 slack where the
  trace's states are all the states, the certified LSI constant min_k of the trace's, and the problem's exact
  stationary floor."""
  host = lambda x: np.asarray(x, np.float64)  # noqa: E731
  state_gap, residual = host(trace.state_gap), host(trace.kl_residual)
  slack = (_contraction_slack(residual, state_gap, problem.gamma) if problem.enumerable_states
           else np.full_like(residual, np.nan))
  return dict(gap=host(trace.gap), state_gap=state_gap, kl_residual=residual,
              bellman_residual=host(trace.bellman_residual), contraction_slack=slack,
              improvement=host(trace.improvement), resolvent_lhs=host(trace.resolvent_lhs),
              fisher_information=host(trace.fisher_information),
              lsi_lower_bound=float(np.min(host(trace.lsi_lower_bound))),
              reference_floor=float(np.asarray(problem.reference_floor(step_size))),
              edge_mass_lost=np.max(host(trace.edge_mass_lost), axis=1))


# ----------------------------------------------------------------------------------------------------- the run


def _check_problem(problem: Any) -> None:
  if not isinstance(problem, ExactProblem):
    names = ", ".join(t.__name__ for t in EXACT_PROBLEMS)
    raise ValueError(f"problem must be one of the exact problems (wpgjax.problems.ExactProblem: {names}); "
                     f"got {type(problem).__name__}")


def _check_step_count(num_steps: Any) -> int:
  if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)) or num_steps < 3:
    raise ValueError(f"num_steps must be an int >= 3 (the contraction fit needs a transient), got {num_steps!r}")
  return int(num_steps)


def _scalar(x: Any) -> float:
  return float(np.asarray(x))


def _auto_fit(gap: np.ndarray, fit_start: int | None, transient_fraction: float) -> diagnostics.GeometricDecayFit:
  """fit_geometric_decay from `fit_start`, or (None) from the first k where E_k − floor has fallen below
  `transient_fraction`·(E_0 − floor), so that the fitted factor is the asymptotic one and not an average with
  faster initial modes; falls back to start = 0 if too few points remain."""
  if fit_start is not None:
    return diagnostics.fit_geometric_decay(gap, start=int(fit_start))
  first = diagnostics.fit_geometric_decay(gap, start=0)
  excess = gap - first.floor
  later = np.nonzero(excess <= transient_fraction * excess[0])[0]
  if later.size == 0 or later[0] == 0:
    return first
  try:
    return diagnostics.fit_geometric_decay(gap, start=int(later[0]))
  except ValueError:
    return first


def run_wpgd_theory(problem: ExactProblem, initial_policy: Any,
                    *, step_size: float, num_steps: int, states: Any = None, fit_start: int | None = None,
                    transient_fraction: float = 1e-3, pl_relative_threshold: float = 1e-8) -> TheoryHistory:
  """Run exact-law WPGD on `problem` from `initial_policy` and collect every quantity of the proof.

  Args:
    problem: an ExactProblem: FiniteMDP (T3), GaussianBandit or DoubleWellBandit (T1), LinearQuadratic (T2).
    initial_policy: π_0 in the problem's representation — FiniteMDP: log-density [n, G]; GaussianBandit:
      GaussianPolicy(mean [d], cov [d, d]) (or a (mean, cov) pair); DoubleWellBandit: log-density [G];
      LinearQuadratic: LQPolicy(K [m, n], Sigma [m, m]) (or a (K, Sigma) pair).
    step_size: η > 0 (the problem checks its own stability / grid-resolution bounds and raises ValueError).
    num_steps: K >= 3 iterations (enough to reach the plateau: the floor is the tail median).
    states: problems with a continuous state space only (T2), evaluation states x [S, n] (default the unit
      vectors e_1..e_n); the others evaluate at all their states and raise ValueError if given.
    fit_start: first iterate of the geometric fit; None picks the first k where E_k − floor ≤
      transient_fraction · (E_0 − floor) (the asymptotic factor).
    transient_fraction: see fit_start.
    pl_relative_threshold: the PL ratio is NaN where τKL ≤ this · max τKL (residuals at rounding level).

  Returns:
    TheoryHistory (numpy float64 arrays; see its docstring).
  """
  _check_problem(problem)
  num_steps = _check_step_count(num_steps)
  step_size = float(step_size)
  trace = problem.exact_wpgd(initial_policy, step_size=step_size, num_steps=num_steps, states=states)
  traced = _traced_fields(problem, trace, step_size)

  tau, gamma = float(problem.tau), float(problem.gamma)
  with jax.enable_x64(True):
    dissipation = np.asarray(diagnostics.fisher_dissipation(traced["fisher_information"], tau))
    threshold = pl_relative_threshold * float(np.max(traced["kl_residual"]))
    pl_ratio = np.asarray(diagnostics.empirical_pl_ratio(dissipation, traced["kl_residual"], threshold))
    if not np.any(np.isfinite(pl_ratio)):
      raise ValueError("every residual along the run is at rounding level: start farther from the optimum")
    pl_estimate = float(np.nanmin(pl_ratio))
    lsi_estimate = pl_estimate / (2.0 * tau)
    predicted = _scalar(diagnostics.predicted_contraction_factor(lsi_estimate, tau, step_size, gamma))
    bound = _scalar(diagnostics.contraction_factor_bound(lsi_estimate, tau, step_size, gamma))
    lsi_lower_bound = traced["lsi_lower_bound"]
    certified = (_scalar(diagnostics.contraction_factor_bound(lsi_lower_bound, tau, step_size, gamma))
                 if np.isfinite(lsi_lower_bound) and lsi_lower_bound > 0 else math.nan)
  fit = _auto_fit(traced["gap"], fit_start, transient_fraction)
  return TheoryHistory(
      problem=problem.name, step_size=step_size, tau=tau, gamma=gamma, dissipation=dissipation, pl_ratio=pl_ratio,
      pl_estimate=pl_estimate, lsi_estimate=lsi_estimate, fit=fit, predicted_factor=predicted, factor_bound=bound,
      certified_factor_bound=certified, **traced)


def bias_floor_vs_step_size(problem: ExactProblem, initial_policy: Any, step_sizes: Sequence[float], num_steps: int | Sequence[int],
                            **kwargs: Any) -> BiasFloorSweep:
  """Run `run_wpgd_theory` at each η and fit the log-log slope of the fitted floor against η.

  step_sizes: [M] (M ≥ 2, distinct, each valid for the problem); num_steps: one K for all (one compilation) or
  [M] (smaller η needs ~1/η more steps to reach its plateau); kwargs go to run_wpgd_theory.
  Returns BiasFloorSweep (floors [M], slope; slope ≥ 1 means the floor shrinks at least linearly in η).
  """
  etas = [float(eta) for eta in step_sizes]
  if len(etas) < 2:
    raise ValueError(f"step_sizes must hold at least 2 step sizes, got {step_sizes!r}")
  counts = [num_steps] * len(etas) if np.ndim(num_steps) == 0 else list(num_steps)
  if len(counts) != len(etas):
    raise ValueError(f"num_steps must be an int or have one entry per step size ({len(etas)}), got {num_steps!r}")
  histories = tuple(run_wpgd_theory(problem, initial_policy, step_size=eta, num_steps=count, **kwargs)
                    for eta, count in zip(etas, counts))
  floors = np.array([h.bias_floor for h in histories])
  if not np.all(floors > 0):
    raise ValueError(f"every fitted floor must be > 0 to fit a log-log slope, got {floors.tolist()}")
  return BiasFloorSweep(np.array(etas), floors, np.array([h.reference_floor for h in histories]),
                        np.array([h.fitted_factor for h in histories]), diagnostics.loglog_slope(etas, floors),
                        histories)


# ------------------------------------------------------------------------------------------------------- plots


def _new_figure(num_rows: int, num_cols: int, size: tuple[float, float]):
  from matplotlib.figure import Figure  # lazy: importing wpgjax must not need matplotlib

  figure = Figure(figsize=size, layout="constrained")
  return figure, figure.subplots(num_rows, num_cols, squeeze=False)


def _positive(x: np.ndarray, floor: float = 1e-300) -> np.ndarray:
  return np.where(x > floor, x, np.nan)


def plot_theory(history: TheoryHistory, path: str | None = None):
  """Four panels: (a) E_k on a log scale with the fitted floor, the excess E_k − floor, the fit floor + Cρ̂^k (and
  Cρ̂^k) and the envelope at the predicted factor; (b) residuals τKL(π_k‖p^{π_k}) and dissipations τ²I per state;
  (c) the PL ratio per state with its minimum (the 2ᾱτ estimate) and the certified 2ατ; (d) the identity errors
  per iterate.
  Returns a matplotlib Figure (no pyplot state; writes a PNG/PDF/... to `path` if given)."""
  figure, axes = _new_figure(2, 2, (11.0, 7.5))
  steps = np.arange(history.num_steps + 1)
  colors = [f"C{i % 10}" for i in range(history.num_states)]
  fit = history.fit

  ax = axes[0, 0]
  ax.semilogy(steps, _positive(history.gap), color="k", lw=2, label=r"$E_k=\|V^*-V^{\pi_k}\|_\infty$")
  if fit.floor > 0:
    ax.axhline(fit.floor, color="C3", ls="--", label=f"fitted floor {fit.floor:.3g}")
  if np.isfinite(history.reference_floor) and history.reference_floor > 0:
    ax.axhline(history.reference_floor, color="C2", ls=":", label=f"exact floor {history.reference_floor:.3g}")
  ax.semilogy(steps, _positive(history.gap - fit.floor), color="gray", lw=1, label=r"$E_k-$floor")
  ax.semilogy(steps, _positive(fit.floor + fit.amplitude * fit.rate**steps), color="C1", ls="-.",
              label=rf"fit floor + $C\hat\rho^k$, $\hat\rho$={fit.rate:.4f}")
  ax.semilogy(steps, _positive(fit.amplitude * fit.rate**steps), color="C1", ls="-.", lw=1)
  envelope = fit.floor + (history.gap[0] - fit.floor) * history.predicted_factor**steps
  ax.semilogy(steps, _positive(envelope), color="C0", ls=":", label=rf"predicted $\rho$={history.predicted_factor:.4f}")
  ax.set_ylim(bottom=max(1e-10 * float(np.max(history.gap)), 1e-300))
  ax.set(xlabel="iteration k", ylabel="optimality gap",
         title=f"{history.problem}: η={history.step_size:g}, τ={history.tau:g}, γ={history.gamma:g}")
  ax.legend(fontsize=8)

  ax = axes[0, 1]
  for s in range(history.num_states):
    ax.semilogy(steps, _positive(history.kl_residual[:, s]), color=colors[s], label=rf"$\tau$KL, s={s}")
    ax.semilogy(steps, _positive(history.dissipation[:, s]), color=colors[s], ls="--", alpha=0.7)
  ax.plot([], [], color="gray", ls="--", label=r"$\tau^2 I$ (dashed)")
  ax.set(xlabel="iteration k", ylabel="per state", title=r"residual $\tau$KL$(\pi_k\|p^{\pi_k})$, dissipation")
  ax.legend(fontsize=8, ncol=2)

  ax = axes[1, 0]
  for s in range(history.num_states):
    ax.plot(steps, history.pl_ratio[:, s], color=colors[s], label=f"s={s}")
  ax.axhline(history.pl_estimate, color="k", ls="--", label=rf"min = $2\bar\alpha\tau$ ≈ {history.pl_estimate:.3g}")
  if np.isfinite(history.lsi_lower_bound):
    ax.axhline(2 * history.lsi_lower_bound * history.tau, color="C3", ls=":",
               label=rf"certified $2\alpha\tau$ = {2 * history.lsi_lower_bound * history.tau:.3g}")
  ax.set(xlabel="iteration k", ylabel=r"$\tau^2 I / (\tau$KL$)$", title="empirical PL ratio", yscale="log")
  ax.legend(fontsize=8, ncol=2)

  ax = axes[1, 1]
  kl_error = np.max(np.abs(history.bellman_residual - history.kl_residual), axis=1)
  ax.semilogy(steps, np.maximum(kl_error, 1e-18), label=r"$|T^*V-V-\tau$KL$|$ (identity 1)")
  if history.num_steps > 0 and history.improvement.size:
    resolvent_error = np.max(np.abs(history.resolvent_lhs - history.improvement), axis=1)
    ax.semilogy(steps[:-1], np.maximum(resolvent_error, 1e-18), label=r"$|(I-\gamma P)\Delta V - g_k|$ (identity 3)")
  if np.all(np.isfinite(history.contraction_slack)):
    violation = np.maximum(-np.min(history.contraction_slack, axis=1), 0.0)
    ax.semilogy(steps, np.maximum(violation, 1e-18), label="contraction violation (identity 2)")
  ax.set(xlabel="iteration k", ylabel="max over states", title="identities (1e-18 = exact)")
  ax.legend(fontsize=8)
  if path is not None:
    figure.savefig(path, dpi=100)
  return figure


def plot_bias_floor(sweep: BiasFloorSweep, path: str | None = None):
  """The fitted floors (and exact ones where known) against η on log-log axes, with the fitted power law and an
  O(η) reference line. Returns a matplotlib Figure; saves to `path` if given."""
  figure, axes = _new_figure(1, 1, (5.5, 4.0))
  ax = axes[0, 0]
  etas = sweep.step_sizes
  ax.loglog(etas, sweep.floors, "o-", label="fitted floor")
  if np.any(np.isfinite(sweep.reference_floors)):
    ax.loglog(etas, sweep.reference_floors, "x", ms=9, label="exact stationary gap")
  ax.loglog(etas, sweep.loglog.prefactor * etas**sweep.slope, "k--", label=f"slope {sweep.slope:.2f}")
  ax.loglog(etas, sweep.floors[-1] * etas / etas[-1], ":", color="gray", label=r"$O(\eta)$")
  ax.set(xlabel=r"step size $\eta$", ylabel="bias floor of $E_k$", title="bias floor vs step size")
  ax.legend(fontsize=8)
  if path is not None:
    figure.savefig(path, dpi=100)
  return figure
