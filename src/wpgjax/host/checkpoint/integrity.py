"""Checksums of stored arrays: per leaf, two wrap-around integer sums of its bits, recorded at save time and
compared after reading the arrays back (so a flipped byte is refused as corruption)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from wpgjax.host.checkpoint.version import CheckpointError

__all__ = ["fingerprint_dict", "verify"]


def _as_words(x: jax.Array) -> jax.Array:
  """The bits of `x` as uint32 words (for checksums)."""
  if x.dtype == jnp.bool_:
    return x.astype(jnp.uint32)
  size = jnp.dtype(x.dtype).itemsize
  if size == 4:
    return jax.lax.bitcast_convert_type(x, jnp.uint32)
  if size == 2:
    return jax.lax.bitcast_convert_type(x, jnp.uint16).astype(jnp.uint32)
  if size == 1:
    return jax.lax.bitcast_convert_type(x, jnp.uint8).astype(jnp.uint32)
  return jax.lax.bitcast_convert_type(x, jnp.uint32)  # 8 bytes -> [..., 2] words


@jax.jit
def _fingerprints(leaves: list[jax.Array]) -> jax.Array:
  """[n, 2] uint32: per leaf, the wrap-around sum of its words and a position-weighted sum (exact integer
  arithmetic, so independent of reduction order and device layout)."""
  out = []
  for x in leaves:
    words = _as_words(x).reshape(-1)
    weights = jnp.arange(words.shape[0], dtype=jnp.uint32) * jnp.uint32(2654435761) + jnp.uint32(1)
    out.append(jnp.stack([jnp.sum(words, dtype=jnp.uint32), jnp.sum(words * weights, dtype=jnp.uint32)]))
  return jnp.stack(out) if out else jnp.zeros((0, 2), jnp.uint32)


def fingerprint_dict(paths: Sequence[str], leaves: Sequence[Any]) -> dict[str, list[int]]:
  """{path: [sum, weighted sum]} of the given leaves."""
  values = np.asarray(jax.device_get(_fingerprints([jnp.asarray(x) for x in leaves])))
  return {p: [int(v) for v in row] for p, row in zip(paths, values)}


def verify(where: str, flat: Mapping[str, Any], saved: Mapping[str, Any]) -> None:
  """Raises CheckpointError if the arrays read back (`flat`) do not match their saved fingerprints."""
  got = fingerprint_dict(list(flat), list(flat.values()))
  bad = [p for p in flat if saved.get(p) != got[p]]
  if bad:
    raise CheckpointError(f"checkpoint {where} is corrupt: the data of {len(bad)} array(s) do not match "
                          f"their saved checksums (first: {bad[0]!r})")
