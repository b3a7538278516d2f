"""Run a function with 64-bit floats enabled locally (exact test problems need float64)."""

from __future__ import annotations

import functools
from typing import Callable, TypeVar

import jax

F = TypeVar("F", bound=Callable)


def float64(fn: F) -> F:
  """Decorator: calls `fn` inside `jax.enable_x64(True)` so its arrays are float64, leaving global state alone."""

  @functools.wraps(fn)
  def wrapper(*args, **kwargs):
    with jax.enable_x64(True):
      return fn(*args, **kwargs)

  return wrapper  # type: ignore[return-value]
