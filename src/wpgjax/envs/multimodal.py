"""A one-step Brax environment whose optimal entropy-regularized policy is multimodal, with its exact law.

Every episode is one step from a constant observation; the action a ∈ [−1, 1]² earns

    r(a) = s · log Σ_k w_k exp(−‖a − c_k‖² / (2ℓ²))          (peaks c_k, weights w_k, width ℓ, scale s)

and the episode terminates. So Q(s, a) = r(a) for every policy, and the optimal policy at temperature τ is the
Gibbs law p(a) = exp(r(a)/τ) / Z on the box (docs/theory.md §1). At τ = s it is the Gaussian mixture
Σ_k w_k N(c_k, ℓ²I) restricted to the box, so peak k holds ≈ w_k of the mass. `gibbs_grid` gives the exact
law on a grid (midpoint quadrature), `peak_shares` the mass of each peak's Voronoi cell, and
`histogram_tv` the total-variation distance of samples to it on a coarser grid.
"""

from __future__ import annotations

import contextlib
import io
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

with contextlib.redirect_stdout(io.StringIO()):  # brax prints "Failed to import warp" to stdout
  from brax import envs as brax_envs
  from brax.envs.base import Env, State

__all__ = ["MultimodalBandit", "GibbsGrid", "gibbs_grid", "peak_shares", "histogram_tv", "sample_shares"]

PEAKS = ((-0.5, -0.45), (0.5, -0.4), (0.0, 0.5))
WEIGHTS = (0.5, 0.3, 0.2)


class MultimodalBandit(Env):
  """One-step env: constant observation [1], action [2] in [−1, 1]², reward r(a) above, done after one step.

  peaks [K, 2], weights [K] (normalised here), width ℓ, scale s. `backend` is accepted for the wpgjax env
  factory and ignored (no physics).
  """

  def __init__(self, peaks=PEAKS, weights=WEIGHTS, width: float = 0.2, scale: float = 0.1,
               backend: str = "generalized"):
    weights = np.asarray(weights, np.float64)
    if np.any(weights <= 0):
      raise ValueError(f"weights must be > 0, got {weights}")
    self.peaks = np.asarray(peaks, np.float32)
    self.log_weights = np.log(weights / weights.sum()).astype(np.float32)
    self.width, self.scale, self._backend = float(width), float(scale), backend

  def reward(self, action: chex.Array) -> chex.Array:
    """r(a) for a [..., 2] -> [...]."""
    sq = jnp.sum((action[..., None, :] - self.peaks) ** 2, axis=-1)
    return self.scale * jax.nn.logsumexp(self.log_weights - sq / (2.0 * self.width**2), axis=-1)

  def reset(self, rng: jax.Array) -> State:
    zero = jnp.zeros(())
    return State(pipeline_state=None, obs=jnp.zeros((1,)), reward=zero, done=zero, metrics={}, info={})

  def step(self, state: State, action: jax.Array) -> State:
    return state.replace(reward=self.reward(jnp.clip(action, -1.0, 1.0)), done=jnp.ones(()))

  @property
  def observation_size(self) -> int:
    return 1

  @property
  def action_size(self) -> int:
    return 2

  @property
  def backend(self) -> str:
    return self._backend


class GibbsGrid(NamedTuple):
  """The exact Gibbs law on a midpoint grid of [−1, 1]²: centers [G] per axis, probabilities [G, G]
  (mass of each cell, summing to 1, index [i, j] = (a_1 = centers[i], a_2 = centers[j]))."""
  centers: np.ndarray
  probabilities: np.ndarray


def gibbs_grid(env: MultimodalBandit, tau: float, grid_size: int = 400) -> GibbsGrid:
  """p(a) ∝ exp(r(a)/τ) on the box by midpoint quadrature with grid_size² cells (float64)."""
  edges = np.linspace(-1.0, 1.0, grid_size + 1)
  centers = 0.5 * (edges[1:] + edges[:-1])
  a1, a2 = np.meshgrid(centers, centers, indexing="ij")
  actions = np.stack([a1, a2], axis=-1)
  sq = np.sum((actions[..., None, :] - env.peaks.astype(np.float64)) ** 2, axis=-1)
  log_mix = np.logaddexp.reduce(env.log_weights.astype(np.float64) - sq / (2.0 * env.width**2), axis=-1)
  log_p = env.scale * log_mix / tau
  p = np.exp(log_p - log_p.max())
  return GibbsGrid(centers, p / p.sum())


def _nearest_peak(env: MultimodalBandit, actions: np.ndarray) -> np.ndarray:
  return np.argmin(np.sum((actions[..., None, :] - env.peaks) ** 2, axis=-1), axis=-1)


def peak_shares(env: MultimodalBandit, law: GibbsGrid) -> np.ndarray:
  """Mass of each peak's Voronoi cell (nearest peak) under the gridded law: [K]."""
  a1, a2 = np.meshgrid(law.centers, law.centers, indexing="ij")
  owner = _nearest_peak(env, np.stack([a1, a2], axis=-1))
  return np.array([law.probabilities[owner == k].sum() for k in range(len(env.peaks))])


def sample_shares(env: MultimodalBandit, actions: np.ndarray) -> np.ndarray:
  """Fraction of the sampled actions [N, 2] nearest each peak: [K]."""
  owner = _nearest_peak(env, np.asarray(actions))
  return np.bincount(owner, minlength=len(env.peaks)) / owner.size


def histogram_tv(law: GibbsGrid, actions: np.ndarray, bins: int = 10) -> float:
  """Total-variation distance ½ Σ_b |p̂_b − p_b| between the histogram of actions [N, 2] and the exact law on a
  bins × bins grid of [−1, 1]² (the law's cells are summed into the bins; len(centers) must be a multiple of
  bins). Sampling noise alone contributes ≈ ½ Σ_b √(2 p_b / (π N)) to its expectation."""
  grid_size = law.centers.shape[0]
  if grid_size % bins:
    raise ValueError(f"bins must divide the law's grid size {grid_size}, got {bins}")
  f = grid_size // bins
  p = law.probabilities.reshape(bins, f, bins, f).sum(axis=(1, 3))
  counts, _, _ = np.histogram2d(np.asarray(actions)[:, 0], np.asarray(actions)[:, 1], bins=bins,
                                range=[[-1.0, 1.0], [-1.0, 1.0]])
  return 0.5 * float(np.abs(counts / counts.sum() - p).sum())


brax_envs.register_environment("multimodal_bandit", MultimodalBandit)
