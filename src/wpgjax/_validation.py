"""Eager input checks shared by every layer.

Checks run only on concrete (non-traced) values, so the same functions work when a hyperparameter is a
vmapped or jitted pytree leaf: a traced value is the caller's responsibility and is not inspected.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


def is_concrete(value: Any) -> bool:
  """True when `value` can be read on the host (not a tracer)."""
  return not isinstance(value, jax.core.Tracer)


def check_positive(name: str, value: Any) -> None:
  """Raises ValueError naming `name` unless every element of a concrete `value` is finite and > 0."""
  if value is None:
    raise ValueError(f"{name} must be a positive number, got None")
  if not is_concrete(value):
    return
  arr = np.asarray(value)
  if not np.all(np.isfinite(arr)) or not np.all(arr > 0):
    raise ValueError(f"{name} must be finite and > 0, got {value!r}")


def check_in_range(name: str, value: Any, low: float, high: float, *, closed: str = "neither") -> None:
  """Raises ValueError unless a concrete `value` lies in (low, high); `closed` in {"neither","low","high","both"}."""
  if not is_concrete(value):
    return
  arr = np.asarray(value)
  lo_ok = arr >= low if closed in ("low", "both") else arr > low
  hi_ok = arr <= high if closed in ("high", "both") else arr < high
  if not np.all(np.isfinite(arr)) or not np.all(lo_ok & hi_ok):
    lb = "[" if closed in ("low", "both") else "("
    rb = "]" if closed in ("high", "both") else ")"
    raise ValueError(f"{name} must lie in {lb}{low}, {high}{rb}, got {value!r}")


def check_rank(name: str, array: Any, rank: int, what: str) -> None:
  """Raises ValueError unless `array` has `rank` dimensions; `what` describes the expected shape."""
  ndim = np.ndim(array)
  if ndim != rank:
    raise ValueError(f"{name} must have shape {what} (rank {rank}), got shape {np.shape(array)}")


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
  """Raises ValueError unless `value` is one of `allowed`."""
  if value not in allowed:
    raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")


def check_same_shape(name_a: str, a: Any, name_b: str, b: Any) -> None:
  """Raises ValueError unless `a` and `b` have the same shape."""
  if np.shape(a) != np.shape(b):
    raise ValueError(f"{name_a} and {name_b} must have the same shape, got {np.shape(a)} and {np.shape(b)}")
