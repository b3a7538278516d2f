"""What machine a benchmark ran on, recorded beside every number: the one machine-info helper of benchmarks/.

- `cpu_model()`: the CPU's model name.
- `load_average()`: the 1, 5 and 15 minute load averages (timings on a shared machine are only comparable at
  similar load), recorded at the start and end of every run.
- `compilation_cache()`: whether JAX's persistent compilation cache is on and holds entries (cold or warm).
- `system_info()`: versions (jax, jaxlib, brax, mujoco, python), device, CPU and cache state, in one dict.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any


def cpu_model() -> str | None:
  """The CPU's model name from /proc/cpuinfo (platform.processor() elsewhere), or None."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or None


def load_average() -> list[float] | None:
  """[1 min, 5 min, 15 min] load averages (rounded to 0.01), or None where the OS has none."""
  try:
    return [round(x, 2) for x in os.getloadavg()]
  except (AttributeError, OSError):
    return None


def version(dist: str) -> str | None:
  """The installed version of distribution `dist`, or None."""
  try:
    return metadata.version(dist)
  except metadata.PackageNotFoundError:
    return None


def compilation_cache() -> dict[str, Any]:
  """The state of JAX's persistent compilation cache: {"dir", "entries", "state"}.

  state is "cold" when the cache is off (jax_compilation_cache_dir / JAX_COMPILATION_CACHE_DIR unset: every
  program is compiled from scratch) or its folder is empty, "warm" when the folder already holds entries
  (programs compiled before, by this or an earlier process, load from it instead of compiling). Reading it
  before and after a run (`entries`) tells whether the run added programs (misses) or only read them.
  """
  import jax

  folder = jax.config.jax_compilation_cache_dir or None
  if folder is None:
    return {"dir": None, "entries": None, "state": "cold"}
  try:
    entries = sum(len(files) for _, _, files in os.walk(folder))
  except OSError:
    entries = 0
  return {"dir": str(folder), "entries": entries, "state": "warm" if entries else "cold"}


def system_info() -> dict[str, Any]:
  """Versions, device, CPU, and the compilation cache state, for a result file (call it after importing jax)."""
  import jax

  device = jax.devices()[0]
  cache = compilation_cache()
  return dict(
      jax=jax.__version__, jaxlib=version("jaxlib"), brax=version("brax"), mujoco=version("mujoco"),
      python=platform.python_version(), platform=device.platform, device=device.device_kind,
      num_devices=jax.device_count(), cpu_count=os.cpu_count(), cpu_model=cpu_model(), machine=platform.machine(),
      compilation_cache_dir=cache["dir"], compilation_cache=cache["state"])
