"""Multi-process sweep overhead: the same sweep on 2 processes x 2 host devices (`--distributed`, coordinator on
127.0.0.1, gloo) and on 1 process with 4 forced host devices, alternated A B A B ... on this machine.

Each side is a fresh `wpgjax sweep` (CLI) per repeat with its own warm compilation cache (a first, untimed
round fills it), so the timed rounds compare training, gathering and checkpointing, not compiling. Reported per
side: the end-to-end process time, the runner's training wall time (summary.json "walltime"), its compile
seconds, and the 1-minute load at start and end.

    python benchmarks/distributed.py --repeats 3 --out benchmarks/results/distributed
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.machine import load_average, system_info  # noqa: E402


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _sweep_args(args, workdir: str) -> list[str]:
  return ["sweep", "--env", args.env, "--set", f"num_timesteps={args.timesteps}", "--set",
          f"num_evals={args.num_evals}", "--seeds", str(args.seeds), "--grid", "tau=0.02,0.2", "--workdir", workdir,
          "--no-progress", "--quiet"]


def _launch(cli: list[str], devices: int, cache: str) -> subprocess.Popen:
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu",
             WPGJAX_COMPILE_CACHE=cache)
  return subprocess.Popen([sys.executable, "-m", "wpgjax.host.cli", *cli], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)


def run_side(side: str, args, root: str, index: int) -> dict:
  workdir = os.path.join(root, f"{side}-{index}")
  cache = os.path.join(root, f"cache-{side}")
  load_start = load_average()
  start = time.perf_counter()
  if side == "one_process_4_devices":
    procs = [_launch(_sweep_args(args, workdir), 4, cache)]
  else:
    port = _free_port()
    procs = [_launch(_sweep_args(args, workdir) + ["--distributed", "--coordinator", f"127.0.0.1:{port}",
                                                   "--num-processes", "2", "--process-id", str(i)], 2, cache)
             for i in range(2)]
  for p in procs:
    _, err = p.communicate()
    if p.returncode != 0:
      raise RuntimeError(f"{side} failed:\n{err[-3000:]}")
  seconds = time.perf_counter() - start
  summary = json.load(open(os.path.join(workdir, "summary.json")))
  shutil.rmtree(workdir)
  return {"side": side, "repeat": index, "process_seconds": seconds, "train_seconds": summary["walltime"],
          "compile_seconds": summary["compile_seconds"], "load_1m": [load_start[0], load_average()[0]]}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--env", default="fast")
  parser.add_argument("--timesteps", type=int, default=16384)
  parser.add_argument("--num-evals", type=int, default=8)
  parser.add_argument("--seeds", type=int, default=4, help="seeds per grid point (2 grid points)")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--out", default="benchmarks/results/distributed")
  args = parser.parse_args()
  sides = ["one_process_4_devices", "two_processes_2_devices"]
  rows = []
  with tempfile.TemporaryDirectory() as root:
    for side in sides:  # untimed: fills each side's compilation cache
      run_side(side, args, root, -1)
    for i in range(args.repeats):
      for side in (sides if i % 2 == 0 else sides[::-1]):
        rows.append(run_side(side, args, root, i))
        print(json.dumps(rows[-1]), flush=True)
  stats = {side: {key: statistics.median(r[key] for r in rows if r["side"] == side)
                  for key in ("process_seconds", "train_seconds", "compile_seconds")} for side in sides}
  ratio = {key: stats[sides[1]][key] / stats[sides[0]][key] for key in ("process_seconds", "train_seconds")}
  result = {"command": "python benchmarks/distributed.py " + " ".join(sys.argv[1:]), "args": vars(args),
            "machine": system_info(), "rows": rows, "median": stats, "ratio_two_over_one": ratio}
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  with open(args.out + ".json", "w") as f:
    json.dump(result, f, indent=2)
  print(json.dumps({"median": stats, "ratio_two_over_one": ratio}, indent=2))


if __name__ == "__main__":
  main()
