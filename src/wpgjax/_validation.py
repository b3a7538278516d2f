"""Eager input checks shared by every layer.

Checks run only on concrete (non-traced) values, so the same functions work when a hyperparameter is a
vmapped or jitted pytree leaf: a traced value is the caller's responsibility and is not inspected.
"""

from __future__ import annotations

import math
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


# --------------------------------------------------------------------- host-side config fields (strict types)


def fail(name: str, allowed: str, value: Any) -> None:
  """Raises ValueError("{name} must be {allowed}, got {value!r}"): the one shape of every config error."""
  raise ValueError(f"{name} must be {allowed}, got {value!r}")


def _is_int(value: Any) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_int(name: str, value: Any, *, minimum: int = 1) -> None:
  """A Python int >= minimum (bools are not ints here); minimum 1 reads "a positive int", 0 "a non-negative int"."""
  if not _is_int(value) or value < minimum:
    fail(name, {1: "a positive int", 0: "a non-negative int"}.get(minimum, f"an int >= {minimum}"), value)


def check_number(name: str, value: Any, *, low: float = 0.0, high: float | None = None,
                 high_closed: bool = False, low_closed: bool = False) -> None:
  """A finite Python number in (low, ∞) or (low, high) / (low, high] ([low, … with low_closed); the message names
  the interval."""
  ok = _is_number(value) and (value >= low if low_closed else value > low) and (
      high is None or (value <= high if high_closed else value < high))
  if not ok:
    left = "[" if low_closed else "("
    allowed = (f"a finite number {'>=' if low_closed else '>'} {low:g}" if high is None
               else f"in {left}{low:g}, {high:g}{']' if high_closed else ')'}")
    fail(name, allowed, value)


def check_finite_number(name: str, value: Any) -> None:
  """A finite Python number of any sign."""
  if not _is_number(value):
    fail(name, "a finite number", value)


def check_bool(name: str, value: Any) -> None:
  if not isinstance(value, bool):
    fail(name, "a bool", value)


def check_optional_number(name: str, value: Any) -> None:
  if value is not None and not _is_number(value):
    fail(name, "None or a finite number", value)


def check_optional_positive_number(name: str, value: Any, none_means: str) -> None:
  """None (which means `none_means`) or a finite Python number > 0."""
  if value is not None and not (_is_number(value) and value > 0):
    fail(name, f"None ({none_means}) or a finite number > 0", value)
