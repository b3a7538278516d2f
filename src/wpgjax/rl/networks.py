"""Flax networks: twin soft Q critics, a tanh-Gaussian proposal and an implicit pushforward policy.

Policies act in an unsquashed space u ∈ R^d with a = tanh(u) ∈ [−1, 1]^d (Brax's action box), so the WPG
particle steps of `wpgjax.core` run on u with the change-of-variables potential of `wpgjax.core.bounded`.
"""

from __future__ import annotations

from typing import Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["ACTIVATIONS", "BATCH_NORM_MOMENTUM", "MLP", "TwinQNetwork", "critic_network", "GaussianPolicyNetwork",
           "PushforwardPolicyNetwork", "LatentGaussianNetwork", "gaussian_log_prob", "MIN_STD", "MAX_STD"]

MIN_STD = 1e-3
MAX_STD = 10.0


ACTIVATIONS = {"swish": nn.swish, "relu": nn.relu}


BATCH_NORM_MOMENTUM = 0.99  # running statistics ← 0.99·running + 0.01·batch (CrossQ's)


class MLP(nn.Module):
  """Dense layers with an activation from ACTIVATIONS: "swish" (the default: keeps ∇_a Q smooth for particle
  steps) or "relu" (Brax's SAC networks). With layer_norm, each hidden layer is Dense → activation → LayerNorm
  (the order of Brax's MLP with layer_norm=True); with batch_norm, Dense → BatchNorm → activation (CrossQ's),
  normalised by the batch's statistics when train, else by the running ones (then row by row)."""
  layer_sizes: Sequence[int]
  activate_final: bool = False
  layer_norm: bool = False
  activation: str = "swish"
  batch_norm: bool = False

  @nn.compact
  def __call__(self, x: chex.Array, train: bool = False) -> chex.Array:
    for i, size in enumerate(self.layer_sizes):
      x = nn.Dense(size, kernel_init=nn.initializers.lecun_uniform(), name=f"dense_{i}")(x)
      if i < len(self.layer_sizes) - 1 or self.activate_final:
        if self.batch_norm:
          x = nn.BatchNorm(not train, momentum=BATCH_NORM_MOMENTUM, name=f"batch_norm_{i}")(x)
        x = ACTIVATIONS[self.activation](x)
        if self.layer_norm:
          x = nn.LayerNorm(name=f"layer_norm_{i}")(x)
    return x


class TwinQNetwork(nn.Module):
  """Two independent soft Q networks: (obs [..., o], action [..., a]) -> [..., 2]; layer_norm: LayerNorm in
  every hidden layer (Playground's DM Control SAC recipe); batch_norm: BatchNorm of the input and of every
  hidden layer (CrossQ), the variables then holding "batch_stats" beside "params". With batch_norm, train=True
  normalises by the statistics of the batch [B, ...] given (call it with mutable=["batch_stats"]); the
  default, train=False, by the running statistics, so that any call, vmapped or not, is row by row.
  atoms K ≥ 2 (C51, `wpgjax.rl.distributional`): each network outputs logits ℓ_j [..., K] of a categorical law on
  the evenly spaced returns z = linspace(value_min, value_max, K), and Q_j = Σ_k softmax(ℓ_j)_k z_k; with
  logits=True the call returns ℓ [..., 2, K] instead of Q."""
  hidden_sizes: Sequence[int]
  layer_norm: bool = False
  activation: str = "swish"
  batch_norm: bool = False
  atoms: int = 0
  value_min: float = 0.0
  value_max: float = 0.0

  @nn.compact
  def __call__(self, observation: chex.Array, action: chex.Array, train: bool = False,
               logits: bool = False) -> chex.Array:
    x = jnp.concatenate([observation, action], axis=-1)
    if self.batch_norm:
      x = nn.BatchNorm(not train, momentum=BATCH_NORM_MOMENTUM, name="input_batch_norm")(x)
    q = [MLP((*self.hidden_sizes, max(self.atoms, 1)), layer_norm=self.layer_norm, activation=self.activation,
             batch_norm=self.batch_norm, name=f"q_{j}")(x, train) for j in range(2)]
    if not self.atoms:
      if logits:
        raise ValueError("TwinQNetwork(logits=True) needs atoms >= 2 (a categorical critic); this one has atoms=0")
      return jnp.concatenate(q, axis=-1)
    stacked = jnp.stack(q, axis=-2)
    return stacked if logits else jax.nn.softmax(stacked, axis=-1) @ self.support

  @property
  def support(self) -> chex.Array:
    """The K returns z_k the categorical critic puts its mass on."""
    return jnp.linspace(self.value_min, self.value_max, self.atoms)


def critic_network(config) -> TwinQNetwork:
  """The critic of a TrainConfig (hidden_sizes, critic_layer_norm, activation, critic_batch_norm, critic_atoms,
  critic_value_min, critic_value_max): the one network that training and the particle policy's acting apply."""
  return TwinQNetwork(tuple(config.hidden_sizes), bool(config.critic_layer_norm), config.activation,
                      bool(config.critic_batch_norm), int(config.critic_atoms), float(config.critic_value_min),
                      float(config.critic_value_max))


class GaussianPolicyNetwork(nn.Module):
  """obs [..., o] -> (mean [..., a], std [..., a]) of the unsquashed Gaussian N(mean, diag(std²)) on u;
  std = MIN_STD + softplus(raw) clipped at MAX_STD."""
  action_size: int
  hidden_sizes: Sequence[int]
  activation: str = "swish"

  @nn.compact
  def __call__(self, observation: chex.Array) -> tuple[chex.Array, chex.Array]:
    out = MLP((*self.hidden_sizes, 2 * self.action_size), activation=self.activation)(observation)
    mean, raw_std = jnp.split(out, 2, axis=-1)
    std = jnp.minimum(MIN_STD + jax.nn.softplus(raw_std), MAX_STD)
    return mean, std


class PushforwardPolicyNetwork(nn.Module):
  """Implicit policy u = g_θ(s, z), z ∼ N(0, I_latent): (obs [..., o], z [..., l]) -> u [..., a]."""
  action_size: int
  hidden_sizes: Sequence[int]
  activation: str = "swish"

  @nn.compact
  def __call__(self, observation: chex.Array, latent: chex.Array) -> chex.Array:
    x = jnp.concatenate([observation, latent], axis=-1)
    return MLP((*self.hidden_sizes, self.action_size), activation=self.activation)(x)


class LatentGaussianNetwork(nn.Module):
  """A latent-variable Gaussian: (obs [..., o], z [..., l]) -> (mean [..., a], std [..., a]) of N(mean, std²)
  on u given (s, z); std as in GaussianPolicyNetwork. Marginally over z ∼ N(0, I) a flexible (e.g. multimodal)
  law with Gaussian noise of its own."""
  action_size: int
  hidden_sizes: Sequence[int]
  activation: str = "swish"

  @nn.compact
  def __call__(self, observation: chex.Array, latent: chex.Array) -> tuple[chex.Array, chex.Array]:
    x = jnp.concatenate([observation, latent], axis=-1)
    out = MLP((*self.hidden_sizes, 2 * self.action_size), activation=self.activation)(x)
    mean, raw_std = jnp.split(out, 2, axis=-1)
    return mean, jnp.minimum(MIN_STD + jax.nn.softplus(raw_std), MAX_STD)


def gaussian_log_prob(u: chex.Array, mean: chex.Array, std: chex.Array) -> chex.Array:
  """log N(u; mean, diag(std²)) summed over the last axis.  [..., a] -> [...]."""
  z = (u - mean) / std
  return jnp.sum(-0.5 * z * z - jnp.log(std) - 0.5 * jnp.log(2.0 * jnp.pi), axis=-1)
