"""Shared test configuration.

JAX compiles dominate test time on 2 cores: keep compiled functions in module-scoped fixtures and keep
Brax tests few and small.
"""

import os

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
