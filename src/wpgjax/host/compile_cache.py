"""JAX's persistent compilation cache for the `wpgjax` CLI: on by default, one folder per user and machine type.

A second run of the same config loads its compiled programs from the cache instead of compiling them again
(most of a short run's start-up on CPU). `default_directory()` is
`$XDG_CACHE_HOME/wpgjax/xla-<jax version>-<machine>` (`~/.cache/...` without XDG_CACHE_HOME), where <machine>
is a digest of the CPU's model name and feature flags: XLA:CPU programs are compiled for the host CPU, and a
program compiled on one CPU may crash (SIGILL) on another, so each CPU type gets its own folder.
`$WPGJAX_COMPILE_CACHE` overrides the folder ("off" or "" turns the cache off), and so do the CLI's
`--compile-cache DIR` and `--no-compile-cache`.

jaxlib 0.9 logs two lines at ERROR/WARNING level each time it loads an XLA:CPU program from the cache
("Target machine feature +prefer-no-gather is not supported on the host machine", "Assume version
compatibility"): the first names tuning flags that XLA adds when it compiles and that the host's feature
list never contains, so it appears even on the machine that compiled the program. With the folder keyed by
CPU type those lines carry no information; `filter_known_cache_messages()` removes exactly them from the
process's stderr (through a small relay process, so nothing else is lost, not even an abort's last words).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

__all__ = ["default_directory", "resolve_directory", "enable", "filter_known_cache_messages", "KNOWN_MESSAGES"]

# (source file, text) of the log lines that say nothing once the cache is keyed by CPU type.
KNOWN_MESSAGES = (("cpu_aot_loader.cc", "Target machine feature +prefer-no-"),
                  ("pjrt_executable.cc", "Assume version compatibility"))


def _machine_key() -> str:
  """A digest of the CPU model name and feature flags (/proc/cpuinfo), or of platform.machine() elsewhere."""
  import platform

  model, flags = platform.machine(), ""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name") and model == platform.machine():
          model = line.split(":", 1)[1].strip()
        elif line.startswith(("flags", "Features")) and not flags:
          flags = " ".join(sorted(line.split(":", 1)[1].split()))
  except OSError:
    pass
  return hashlib.sha256(f"{model}|{flags}".encode()).hexdigest()[:12]


def default_directory() -> str:
  """$XDG_CACHE_HOME/wpgjax/xla-<jax version>-<CPU digest> (~/.cache when XDG_CACHE_HOME is unset)."""
  from importlib.metadata import version

  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "wpgjax", f"xla-{version('jaxlib')}-{_machine_key()}")


def resolve_directory(flag: str | None, disabled: bool) -> str | None:
  """The cache folder to use: None when disabled (--no-compile-cache, or $WPGJAX_COMPILE_CACHE "off"/""),
  else --compile-cache, else $WPGJAX_COMPILE_CACHE, else `default_directory()`."""
  if disabled:
    return None
  if flag:
    return os.path.abspath(os.path.expanduser(flag))
  env = os.environ.get("WPGJAX_COMPILE_CACHE")
  if env is not None:
    return None if env.strip().lower() in ("", "off", "0", "none") else os.path.abspath(os.path.expanduser(env))
  return default_directory()


def enable(directory: str) -> bool:
  """Points JAX's persistent compilation cache at `directory` (programs that took >= 1 s to compile are
  stored); returns False, with one line on stderr, if the folder cannot be created."""
  import jax

  try:
    os.makedirs(directory, exist_ok=True)
  except OSError as e:
    print(f"wpgjax: compilation cache off ({directory}: {e.strerror})", file=sys.stderr)
    return False
  jax.config.update("jax_compilation_cache_dir", directory)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
  return True


_RELAY = r"""
import sys
known = [tuple(k.split("\x1f")) for k in sys.argv[1:]]
out = sys.stderr.buffer
for line in sys.stdin.buffer:
    text = line.decode("utf-8", "replace")
    if not any(a in text and b in text for a, b in known):
        out.write(line)
        out.flush()
"""


def filter_known_cache_messages() -> None:
  """Routes this process's stderr (file descriptor 2, which C++ logging writes to) through a relay process
  that drops the `KNOWN_MESSAGES` lines and passes everything else on at once. The relay ends when this
  process closes its stderr, including when it is killed or aborts."""
  args = ["\x1f".join(k) for k in KNOWN_MESSAGES]
  relay = subprocess.Popen([sys.executable, "-S", "-c", _RELAY, *args], stdin=subprocess.PIPE, stdout=None,
                           stderr=None, close_fds=True)
  sys.stderr.flush()
  os.dup2(relay.stdin.fileno(), 2)
  relay.stdin.close()
