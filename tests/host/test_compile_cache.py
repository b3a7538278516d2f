"""The CLI's persistent compilation cache: where it lives, how it is turned off, that a second run loads its
programs instead of compiling them, and that the stderr relay drops exactly jaxlib's two cache-load lines
while passing everything else on (even the last words of a process that aborts)."""

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from wpgjax._testing import QUICK_COMPILE_ENV
from wpgjax.host import compile_cache


def test_directory_is_per_jaxlib_version_and_cpu_type(monkeypatch, tmp_path):
  from importlib.metadata import version

  monkeypatch.delenv("WPGJAX_COMPILE_CACHE", raising=False)
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
  directory = compile_cache.resolve_directory(None, disabled=False)
  assert directory == compile_cache.default_directory()
  name = os.path.basename(directory)
  assert directory.startswith(str(tmp_path / "wpgjax")) and name.startswith(f"xla-{version('jaxlib')}-")
  assert len(name.rsplit("-", 1)[1]) == 12
  assert compile_cache.resolve_directory(None, disabled=True) is None
  assert compile_cache.resolve_directory(str(tmp_path / "mine"), disabled=False) == str(tmp_path / "mine")
  for off in ("off", "", "0"):
    monkeypatch.setenv("WPGJAX_COMPILE_CACHE", off)
    assert compile_cache.resolve_directory(None, disabled=False) is None
  monkeypatch.setenv("WPGJAX_COMPILE_CACHE", str(tmp_path / "env"))
  assert compile_cache.resolve_directory(None, disabled=False) == str(tmp_path / "env")


_RELAYED = textwrap.dedent("""
    import os, sys
    from wpgjax.host.compile_cache import filter_known_cache_messages
    filter_known_cache_messages()
    os.write(2, b"E1202 cpu_aot_loader.cc:220] Loading XLA:CPU AOT result. Target machine feature "
                b"+prefer-no-gather is not supported on the host machine.\\n")
    os.write(2, b"W1202 pjrt_executable.cc:642] Assume version compatibility. PjRt-IFRT does not track.\\n")
    os.write(2, b"E1202 cpu_aot_loader.cc:99] some other loader error\\n")
    print("python stderr line", file=sys.stderr, flush=True)
    os.write(2, b"F1202 client.h:80] last words before abort\\n")
    os.abort()
""")


def test_relay_drops_only_the_known_lines_and_survives_an_abort():
  proc = subprocess.run([sys.executable, "-c", _RELAYED], capture_output=True, text=True, timeout=60)
  assert proc.returncode != 0
  lines = proc.stderr.splitlines()
  assert "E1202 cpu_aot_loader.cc:99] some other loader error" in lines
  assert "python stderr line" in lines
  assert "F1202 client.h:80] last words before abort" in lines
  assert not any("prefer-no-gather" in line or "Assume version compatibility" in line for line in lines)


def test_second_cli_run_loads_programs_from_the_cache(tmp_path):
  # JAX logs each persistent-cache hit, with its key, at DEBUG level in jax._src.compiler: the second run must
  # load every program the first run stored (a deterministic check; how much time that saves is in BENCHMARKS).
  env = dict(os.environ, WPGJAX_COMPILE_CACHE=str(tmp_path / "cache"), JAX_PLATFORMS="cpu",
             JAX_DEBUG_LOG_MODULES="jax._src.compiler", **QUICK_COMPILE_ENV)
  args = [sys.executable, "-m", "wpgjax.host.cli", "train", "--env", "fast", "--set", "num_timesteps=512",
          "--set", "num_evals=1", "--set", "min_replay_size=256", "--no-progress", "--no-plot"]
  stored, stderr = [], []
  for name in ("first", "second"):
    proc = subprocess.run([*args, "--workdir", str(tmp_path / name)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert os.path.exists(tmp_path / name / "summary.json")
    stored.append({f.split("-cache")[0] for f in os.listdir(tmp_path / "cache") if f.endswith("-cache")})
    stderr.append(proc.stderr)
  assert stored[0], "the first run stored no program"
  hits = set(re.findall(r"Persistent compilation cache hit for '[^']*' with key '([^']+)'", stderr[1]))
  assert not re.findall(r"cache hit for", stderr[0])
  assert stored[0] <= hits, (sorted(stored[0] - hits), stderr[1][-2000:])
  assert "prefer-no-gather" not in stderr[1] and "Assume version compatibility" not in stderr[1]


def test_no_compile_cache_flag_stores_nothing(tmp_path, monkeypatch):
  from wpgjax.host.cli import build_parser

  args = build_parser().parse_args(["train", "--env", "fast", "--workdir", str(tmp_path), "--no-compile-cache"])
  assert compile_cache.resolve_directory(args.compile_cache, args.no_compile_cache) is None
