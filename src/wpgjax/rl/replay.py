"""A functional ring-buffer replay memory living in the train state (size fixed by the config)."""

from __future__ import annotations

import chex
import flax.struct
import jax
import jax.numpy as jnp

__all__ = ["Transition", "ReplayBuffer", "replay_init", "replay_add", "replay_sample"]


@flax.struct.dataclass
class Transition:
  """observation [.., o], action [.., a] (in [−1, 1]), reward [..], discount [..] (1 − termination: 0 only
  where the env terminated, so time-limit truncations bootstrap), next_observation [.., o]."""
  observation: chex.Array
  action: chex.Array
  reward: chex.Array
  discount: chex.Array
  next_observation: chex.Array


@flax.struct.dataclass
class ReplayBuffer:
  """data: Transition with leading axis capacity; insert_position, size: int32 scalars."""
  data: Transition
  insert_position: chex.Array
  size: chex.Array

  @property
  def capacity(self) -> int:
    return self.data.reward.shape[0]


def replay_init(capacity: int, observation_size: int, action_size: int) -> ReplayBuffer:
  zeros = lambda *shape: jnp.zeros((capacity, *shape), jnp.float32)
  data = Transition(zeros(observation_size), zeros(action_size), zeros(), zeros(), zeros(observation_size))
  return ReplayBuffer(data, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def replay_add(buffer: ReplayBuffer, batch: Transition) -> ReplayBuffer:
  """Writes a batch [B, ...] at the insert position, wrapping around (oldest overwritten). B <= capacity."""
  batch_size = batch.reward.shape[0]
  capacity = buffer.capacity
  if batch_size > capacity:
    raise ValueError(f"cannot add {batch_size} transitions to a replay buffer of capacity {capacity}")
  indices = (buffer.insert_position + jnp.arange(batch_size)) % capacity
  data = jax.tree.map(lambda stored, new: stored.at[indices].set(new.astype(stored.dtype)), buffer.data, batch)
  return ReplayBuffer(data, (buffer.insert_position + batch_size) % capacity,
                      jnp.minimum(buffer.size + batch_size, capacity))


def replay_sample(buffer: ReplayBuffer, key: chex.PRNGKey, batch_size: int) -> Transition:
  """Uniform sample with replacement of `batch_size` stored transitions."""
  indices = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buffer.size, 1))
  return jax.tree.map(lambda stored: stored[indices], buffer.data)
