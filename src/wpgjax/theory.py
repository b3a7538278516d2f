"""The theorist's view of WPGD: every quantity of the convergence proof (THEORY.md §2, §3, §6) along one run.

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

`bias_floor_vs_step_size` sweeps η and fits the floor's log-log slope (THEORY: O(η); on T1–T3 it is O(η²)).
`plot_theory` and `plot_bias_floor` draw them (matplotlib, no pyplot state: safe under the Agg backend).

Supported problems (initial_policy in brackets): `FiniteMDP` (T3) [log π_0, shape [n, G]]; `GaussianBandit` (T1)
[GaussianPolicy(mean [d], cov [d, d])]; `DoubleWellBandit` (T1) [log π_0 on its grid, [G]]; `LinearQuadratic` (T2)
[LQPolicy(K [m, n], Sigma [m, m]) or (K, Sigma)] — T2 has unbounded states, so its "states" are a finite set of
evaluation states x [S, n] (argument `states`, default the unit vectors), E_k is the max over them, and the
Bellman-contraction slack (which needs the sup over all states) is not reported (NaN).
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
from wpgjax.problems.bandit import DoubleWellBandit, GaussianBandit, GaussianPolicy
from wpgjax.problems.finite_mdp import FiniteMDP
from wpgjax.problems.lqr import LinearQuadratic

_PROBLEM_TYPES = (FiniteMDP, GaussianBandit, DoubleWellBandit, LinearQuadratic)


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


# ------------------------------------------------------------------------------------------- per-problem traces


@dataclasses.dataclass(frozen=True)
class _RawTrace:
  """What each problem adapter returns (numpy float64; shapes as in TheoryHistory, whose fields of the same names
  are copied from it)."""
  name: str
  gap: np.ndarray
  state_gap: np.ndarray
  kl_residual: np.ndarray
  bellman_residual: np.ndarray
  contraction_slack: np.ndarray
  improvement: np.ndarray
  resolvent_lhs: np.ndarray
  fisher_information: np.ndarray
  lsi_lower_bound: float
  reference_floor: float
  edge_mass_lost: np.ndarray


def _contraction_slack(residual: np.ndarray, state_gap: np.ndarray, gamma: float) -> np.ndarray:
  """residual − [(V* − V^π)(s) − γ‖V* − V^π‖_∞].  [K+1, n] -> [K+1, n]."""
  return residual - (state_gap - gamma * np.max(np.abs(state_gap), axis=1, keepdims=True))


def _finite_mdp_trace(mdp: FiniteMDP, log_policy: Any, step_size: float, num_steps: int) -> _RawTrace:
  trace = mdp.exact_wpgd(log_policy, step_size=step_size, num_steps=num_steps)
  values = np.asarray(trace.value)
  optimal_value = np.asarray(mdp.optimal.value)
  state_gap = optimal_value[None] - values
  residual = np.asarray(trace.kl_residual)
  # Holley–Stroock: Q^π(s,a)/τ = −βa²/(2τ) + U_s(a)/τ with U_s = c_s sin(ωa + φ_s) + γΣ_{s'} p(s'|s,a)V^π(s'), whose
  # oscillation over R is at most 2c_s + γ(max V − min V); the reference N(0, τ/β) has LSI constant β/τ.
  amplitude = np.abs(np.asarray(mdp.params.reward_amplitude))
  oscillation = 2.0 * np.max(amplitude) + mdp.gamma * np.max(values.max(axis=1) - values.min(axis=1))
  lsi_lower_bound = mdp.beta / mdp.tau * math.exp(-oscillation / mdp.tau)
  edge = np.asarray(trace.edge_mass_lost)
  return _RawTrace("finite_mdp", np.asarray(trace.gap), state_gap, residual, np.asarray(trace.bellman_residual),
                   _contraction_slack(residual, state_gap, mdp.gamma), np.asarray(trace.improvement),
                   np.asarray(trace.resolvent_lhs), np.asarray(trace.fisher_information), lsi_lower_bound, math.nan,
                   edge.max(axis=1) if edge.size else np.zeros(0))


def _single_state_trace(name: str, gamma: float, values: np.ndarray, optimal_value: float, residual: np.ndarray,
                        bellman_residual: np.ndarray, fisher: np.ndarray, lsi_lower_bound: float,
                        reference_floor: float, edge_mass_lost: np.ndarray) -> _RawTrace:
  """One state, so p^π = p for every π and P^π = 1: g_k = τKL_k − τKL_{k+1}, lhs = (1 − γ)(V_{k+1} − V_k)."""
  state_gap = (optimal_value - values)[:, None]
  residual = residual[:, None]
  return _RawTrace(name, np.abs(state_gap[:, 0]), state_gap, residual, bellman_residual[:, None],
                   _contraction_slack(residual, state_gap, gamma), (residual[:-1] - residual[1:]),
                   ((1.0 - gamma) * np.diff(values))[:, None], fisher[:, None], lsi_lower_bound, reference_floor,
                   edge_mass_lost)


def _gaussian_bandit_trace(bandit: GaussianBandit, policy: Any, step_size: float, num_steps: int) -> _RawTrace:
  policy = GaussianPolicy(*policy)
  trace = bandit.exact_wpgd(policy, step_size=step_size, num_steps=num_steps)
  values = np.asarray(trace.value)
  bellman = np.asarray(bandit.bellman_residual(GaussianPolicy(trace.mean, trace.cov)))
  reference = bandit.tau * float(bandit.stationary_kl(step_size)) / (1.0 - bandit.gamma)
  return _single_state_trace("gaussian_bandit", bandit.gamma, values, float(bandit.optimal_value()),
                             np.asarray(trace.kl_residual), bellman, np.asarray(trace.fisher_information),
                             bandit.log_sobolev_constant, reference, np.zeros(num_steps))


def _double_well_trace(bandit: DoubleWellBandit, log_density: Any, step_size: float, num_steps: int) -> _RawTrace:
  trace = bandit.exact_wpgd(log_density, step_size=step_size, num_steps=num_steps)
  values = np.asarray(trace.value)
  bellman = bandit.tau * float(bandit.log_partition()) - (1.0 - bandit.gamma) * values
  reference = float(bandit.gap(bandit.ula_stationary_log_density(step_size)))
  return _single_state_trace("double_well_bandit", bandit.gamma, values, float(bandit.optimal_value()),
                             np.asarray(trace.kl_residual), bellman, np.asarray(trace.fisher_information), math.nan,
                             reference, np.asarray(trace.edge_mass_lost))


def _gaussian_relative_fisher(mean: np.ndarray, cov: np.ndarray, target_mean: np.ndarray,
                              target_cov: np.ndarray) -> np.ndarray:
  """I(N(μ, Σ) ‖ N(μ_g, Σ_g)) = tr((Σ_g^{-1} − Σ^{-1}) Σ (Σ_g^{-1} − Σ^{-1})) + ‖Σ_g^{-1}(μ − μ_g)‖².

  mean, target_mean: [S, m]; cov, target_cov: [m, m] -> [S]."""
  target_precision = np.linalg.inv(target_cov)
  precision_gap = target_precision - np.linalg.inv(cov)
  trace_term = np.trace(precision_gap @ cov @ precision_gap)
  drift = (mean - target_mean) @ target_precision.T
  return trace_term + np.sum(drift**2, axis=-1)


def _lqr_trace(lq: LinearQuadratic, policy: Any, step_size: float, num_steps: int,
               states: np.ndarray) -> _RawTrace:
  gain0, cov0 = policy
  trajectory = lq.wpgd(gain0, cov0, step_size=step_size, num_steps=num_steps)
  gains, covs = np.asarray(trajectory.K), np.asarray(trajectory.Sigma)
  # V^{π_k}(x) = −xᵀP_k x − c_k from the trajectory; V*(x) from the optimum.
  values = -np.einsum('si,kij,sj->ks', states, np.asarray(trajectory.P), states) - np.asarray(trajectory.c)[:, None]
  optimal_value = np.asarray(lq.optimal_value(states))
  state_gap = optimal_value[None] - values
  residual, bellman, fisher, lsi = [], [], [], math.inf
  for gain, cov in zip(gains, covs):
    residual.append(np.asarray(lq.kl_residual(gain, cov, states)))
    bellman.append(np.asarray(lq.soft_bellman_optimality(gain, cov, states)))
    gibbs = lq.gibbs_policy(gain, cov)
    gibbs_gain, gibbs_cov = np.asarray(gibbs.K), np.asarray(gibbs.Sigma)
    fisher.append(_gaussian_relative_fisher(-states @ gain.T, cov, -states @ gibbs_gain.T, gibbs_cov))
    lsi = min(lsi, 1.0 / float(np.max(np.linalg.eigvalsh(gibbs_cov))))
  improvement, lhs = [], []
  for k in range(num_steps):
    sides = lq.resolvent_identity(gains[k], covs[k], gains[k + 1], covs[k + 1], states)
    lhs.append(np.asarray(sides.lhs))
    improvement.append(np.asarray(sides.rhs))
  residual = np.stack(residual)
  num_states = states.shape[0]
  empty = np.zeros((0, num_states))
  return _RawTrace("lqr", np.max(np.abs(state_gap), axis=1), state_gap, residual,
                   np.stack(bellman) - values, np.full_like(residual, np.nan),
                   np.stack(improvement) if improvement else empty, np.stack(lhs) if lhs else empty,
                   np.stack(fisher), lsi, float(lq.gap_floor(step_size)), np.zeros(num_steps))


# ----------------------------------------------------------------------------------------------------- the run


def _check_problem(problem: Any) -> None:
  if not isinstance(problem, _PROBLEM_TYPES):
    names = ", ".join(t.__name__ for t in _PROBLEM_TYPES)
    raise ValueError(f"problem must be one of {names}; got {type(problem).__name__}")


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


def run_wpgd_theory(problem: FiniteMDP | GaussianBandit | DoubleWellBandit | LinearQuadratic, initial_policy: Any,
                    *, step_size: float, num_steps: int, states: Any = None, fit_start: int | None = None,
                    transient_fraction: float = 1e-3, pl_relative_threshold: float = 1e-8) -> TheoryHistory:
  """Run exact-law WPGD on `problem` from `initial_policy` and collect every quantity of the proof.

  Args:
    problem: FiniteMDP (T3), GaussianBandit or DoubleWellBandit (T1), LinearQuadratic (T2).
    initial_policy: π_0 in the problem's representation — FiniteMDP: log-density [n, G]; GaussianBandit:
      GaussianPolicy(mean [d], cov [d, d]) (or a (mean, cov) pair); DoubleWellBandit: log-density [G];
      LinearQuadratic: LQPolicy(K [m, n], Sigma [m, m]) (or a (K, Sigma) pair).
    step_size: η > 0 (the problem checks its own stability / grid-resolution bounds and raises ValueError).
    num_steps: K >= 3 iterations (enough to reach the plateau: the floor is the tail median).
    states: T2 only, evaluation states x [S, n] (default the unit vectors e_1..e_n).
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
  if isinstance(problem, LinearQuadratic):
    states = np.eye(problem.state_dim) if states is None else np.asarray(states, np.float64)
    if states.ndim != 2 or states.shape[1] != problem.state_dim:
      raise ValueError(f"states must have shape [S, n] with n = {problem.state_dim}, got {states.shape}")
    raw = _lqr_trace(problem, tuple(initial_policy), step_size, num_steps, states)
  elif states is not None:
    raise ValueError("states is only used with LinearQuadratic (T2) problems")
  elif isinstance(problem, FiniteMDP):
    raw = _finite_mdp_trace(problem, initial_policy, step_size, num_steps)
  elif isinstance(problem, GaussianBandit):
    raw = _gaussian_bandit_trace(problem, initial_policy, step_size, num_steps)
  else:
    raw = _double_well_trace(problem, initial_policy, step_size, num_steps)

  tau, gamma = float(problem.tau), float(problem.gamma)
  with jax.enable_x64(True):
    dissipation = np.asarray(diagnostics.fisher_dissipation(raw.fisher_information, tau))
    threshold = pl_relative_threshold * float(np.max(raw.kl_residual))
    pl_ratio = np.asarray(diagnostics.empirical_pl_ratio(dissipation, raw.kl_residual, threshold))
    if not np.any(np.isfinite(pl_ratio)):
      raise ValueError("every residual along the run is at rounding level: start farther from the optimum")
    pl_estimate = float(np.nanmin(pl_ratio))
    lsi_estimate = pl_estimate / (2.0 * tau)
    predicted = _scalar(diagnostics.predicted_contraction_factor(lsi_estimate, tau, step_size, gamma))
    bound = _scalar(diagnostics.contraction_factor_bound(lsi_estimate, tau, step_size, gamma))
    certified = (_scalar(diagnostics.contraction_factor_bound(raw.lsi_lower_bound, tau, step_size, gamma))
                 if np.isfinite(raw.lsi_lower_bound) and raw.lsi_lower_bound > 0 else math.nan)
  fit = _auto_fit(raw.gap, fit_start, transient_fraction)
  traced = {f.name: getattr(raw, f.name) for f in dataclasses.fields(raw) if f.name != "name"}
  traced.update(lsi_lower_bound=float(raw.lsi_lower_bound), reference_floor=float(raw.reference_floor),
                edge_mass_lost=np.asarray(raw.edge_mass_lost, np.float64))
  return TheoryHistory(
      problem=raw.name, step_size=step_size, tau=tau, gamma=gamma, dissipation=dissipation, pl_ratio=pl_ratio,
      pl_estimate=pl_estimate, lsi_estimate=lsi_estimate, fit=fit, predicted_factor=predicted, factor_bound=bound,
      certified_factor_bound=certified, **traced)


def bias_floor_vs_step_size(problem: FiniteMDP | GaussianBandit | DoubleWellBandit | LinearQuadratic,
                            initial_policy: Any, step_sizes: Sequence[float], num_steps: int | Sequence[int],
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
