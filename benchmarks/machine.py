"""What machine a benchmark ran on (recorded beside every number)."""

from __future__ import annotations

import platform


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
