"""Running observation normalisation (a pure init/update/apply triple, kept in the train state)."""

from __future__ import annotations

import chex
import flax.struct
import jax.numpy as jnp

__all__ = ["RunningStatistics", "init_statistics", "update_statistics", "normalize"]


@flax.struct.dataclass
class RunningStatistics:
  """Count, mean [o] and sum of squared deviations [o] (Chan et al. parallel update)."""
  count: chex.Array
  mean: chex.Array
  sum_sq: chex.Array


def init_statistics(observation_size: int) -> RunningStatistics:
  return RunningStatistics(jnp.zeros((), jnp.float32), jnp.zeros((observation_size,), jnp.float32),
                           jnp.zeros((observation_size,), jnp.float32))


def update_statistics(stats: RunningStatistics, batch: chex.Array) -> RunningStatistics:
  """Merges a batch [B, o] into the statistics (exact parallel mean/variance combination)."""
  batch_count = jnp.asarray(batch.shape[0], jnp.float32)
  batch_mean = jnp.mean(batch, axis=0)
  batch_sum_sq = jnp.sum((batch - batch_mean) ** 2, axis=0)
  count = stats.count + batch_count
  delta = batch_mean - stats.mean
  mean = stats.mean + delta * batch_count / count
  sum_sq = stats.sum_sq + batch_sum_sq + delta**2 * stats.count * batch_count / count
  return RunningStatistics(count, mean, sum_sq)


def normalize(stats: RunningStatistics, observation: chex.Array, *, enabled: bool = True,
              max_abs: float | None = 5.0) -> chex.Array:
  """(obs − mean) / std, clipped to ±max_abs (None: not clipped); std floored at 1e-3; identity when disabled
  or empty."""
  if not enabled:
    return observation
  std = jnp.sqrt(stats.sum_sq / jnp.maximum(stats.count, 1.0))
  std = jnp.where(stats.count > 1, jnp.maximum(std, 1e-3), 1.0)
  normalized = (observation - stats.mean) / std
  return normalized if max_abs is None else jnp.clip(normalized, -max_abs, max_abs)
