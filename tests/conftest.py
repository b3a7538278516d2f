"""Shared test configuration.

JAX compiles dominate test time on 2 cores: keep compiled functions in module-scoped fixtures and keep
Brax tests few and small.
"""

import os

import pytest

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
# The CLI turns JAX's persistent compilation cache on by default; tests that call it in-process or in a
# subprocess must not write to the user's cache (tests of the cache set their own folder).
os.environ.setdefault("WPGJAX_COMPILE_CACHE", "off")


@pytest.fixture
def quick_compiles():
  """XLA's optimizations mostly off for the programs this test compiles (restored afterwards): see
  `wpgjax._testing.QUICK_COMPILE_ENV`."""
  from wpgjax._testing import quick_compile_mode

  with quick_compile_mode():
    yield
