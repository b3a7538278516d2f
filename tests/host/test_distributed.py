"""Multi-process sweeps with real processes: two `wpgjax sweep --distributed` processes on this CPU (coordinator
on 127.0.0.1, gloo collectives, 2 forced host devices each) give the same metrics and final state as one
process with 4 devices; a process killed mid-sweep stops the other with a clear error, and `--resume` on both
ends at the same result; bad settings fail before anything compiles, naming the setting."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from wpgjax._testing import QUICK_COMPILE_ENV
from wpgjax.rl.distributed import DistributedError, DistributedSpec, initialize

# 3 seeds x 2 grid points = 6 runs on 4 devices: 2 padded runs, so padding crosses the process boundary.
_SWEEP = ["sweep", "--env", "fast", "--set", "num_timesteps=4096", "--set", "num_evals=4", "--set",
          "min_replay_size=256", "--set", "grad_updates_per_step=1", "--set", "batch_size=64", "--seeds", "3",
          "--grid", "tau=0.02,0.2", "--no-progress"]
_NOT_COMPARED = {"training/sps", "training/walltime"}


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _env(devices: int, cache: str) -> dict:
  return dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu",
              WPGJAX_COMPILE_CACHE=cache, **QUICK_COMPILE_ENV)


def _cli(args, devices, cache, **kw) -> subprocess.Popen:
  return subprocess.Popen([sys.executable, "-m", "wpgjax.host.cli", *args], env=_env(devices, cache),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _processes(args, port, cache, devices=(2, 2), timeouts=("--heartbeat-timeout", "20")) -> list[subprocess.Popen]:
  return [_cli([*args, "--distributed", "--coordinator", f"127.0.0.1:{port}", "--num-processes", str(len(devices)),
                "--process-id", str(i), *timeouts], n, cache) for i, n in enumerate(devices)]


def _finish(procs, timeout=600) -> list[tuple[int, str]]:
  out = []
  for p in procs:
    _, err = p.communicate(timeout=timeout)
    out.append((p.returncode, err))
  return out


def _rows(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def _max_rel_diff(rows_a, rows_b) -> float:
  assert [(r["eval"], r["run"]) for r in rows_a] == [(r["eval"], r["run"]) for r in rows_b]
  worst = 0.0
  for a, b in zip(rows_a, rows_b):
    assert set(a) == set(b)
    for key, value in b.items():
      if key not in _NOT_COMPARED and isinstance(value, float) and np.isfinite(value):
        worst = max(worst, abs(a[key] - value) / (abs(value) + 1e-6))
  return worst


def _final_params(workdir):
  import jax

  import wpgjax

  return [np.asarray(x) for x in jax.tree.leaves(wpgjax.load(workdir).state.policy_params)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """The one-process reference (4 devices) and the same sweep on 2 processes x 2 devices."""
  root = tmp_path_factory.mktemp("distributed")
  cache = str(root / "jax_cache")
  one = _cli([*_SWEEP, "--workdir", str(root / "one")], 4, cache)
  _, err = one.communicate(timeout=600)
  assert one.returncode == 0, err[-3000:]
  start = time.perf_counter()
  results = _finish(_processes([*_SWEEP, "--workdir", str(root / "two")], _free_port(), cache))
  for i, (rc, err) in enumerate(results):
    assert rc == 0, f"process {i} exited with {rc}:\n{err[-4000:]}"
  return {"root": root, "cache": cache, "one": str(root / "one"), "two": str(root / "two"),
          "two_seconds": time.perf_counter() - start}


def test_two_processes_equal_one_process_with_four_devices(runs):
  assert _max_rel_diff(_rows(runs["two"]), _rows(runs["one"])) <= 1e-5  # float32 rounding at most
  # wpgjax.load (one process, one device) restores the 2-process checkpoint, padding dropped.
  for a, b in zip(_final_params(runs["two"]), _final_params(runs["one"])):
    assert a.shape[0] == 6
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_each_process_writes_its_own_shards_and_process_zero_the_combined_files(runs):
  two = runs["two"]
  for name in ("metrics.jsonl", "metrics.csv", "summary.json", "learning_curve.png", "config.json"):
    assert os.path.exists(os.path.join(two, name)), name
  summary = json.load(open(os.path.join(two, "summary.json")))
  assert summary["complete"] and len(summary["runs"]) == 6
  state_dir = os.path.join(two, "checkpoints", str(summary["last_checkpoint"]), "state")
  assert {"ocdbt.process_0", "ocdbt.process_1"} <= set(os.listdir(state_dir))
  assert len(os.listdir(os.path.join(two, "tensorboard"))) == 6


@pytest.mark.slow  # two more 2-process sweeps (about 2 minutes on 2 cores)
def test_killed_process_stops_the_other_and_resume_ends_at_the_same_result(runs):
  workdir = str(runs["root"] / "killed")
  procs = _processes([*_SWEEP, "--workdir", workdir], _free_port(), runs["cache"])
  first = os.path.join(workdir, "checkpoints", "1280")
  deadline = time.monotonic() + 600
  while not os.path.isdir(first) and time.monotonic() < deadline and procs[1].poll() is None:
    time.sleep(0.1)
  assert os.path.isdir(first), _finish(procs)[1][1][-3000:]
  procs[1].send_signal(signal.SIGKILL)
  killed_at = time.monotonic()
  (rc, err), _ = _finish(procs, timeout=120)
  assert rc != 0
  assert time.monotonic() - killed_at < 60  # bounded: the other process does not hang
  assert ("lost contact with the other processes" in err
          or "JAX distributed service detected fatal errors" in err), err[-3000:]
  assert not os.path.exists(os.path.join(workdir, "summary.json"))

  port = _free_port()
  resumed = _finish(_processes(["sweep", "--workdir", workdir, "--resume", "--no-progress"], port, runs["cache"]))
  for rc, err in resumed:
    assert rc == 0, err[-3000:]
  rows = _rows(workdir)
  assert sorted({r["eval"] for r in rows}) == [1, 2, 3, 4]  # no evaluation lost or logged twice
  assert _max_rel_diff(rows, _rows(runs["two"])) <= 1e-5
  for a, b in zip(_final_params(workdir), _final_params(runs["two"])):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_processes_with_different_device_counts_fail_naming_the_devices(tmp_path):
  procs = _processes([*_SWEEP, "--workdir", str(tmp_path / "w")], _free_port(), str(tmp_path / "c"), devices=(2, 1))
  for rc, err in _finish(procs, timeout=120):
    assert rc == 1, err[-3000:]
    assert "every process must have the same number of devices" in err and "[2, 1]" in err
  assert not os.path.exists(tmp_path / "w" / "checkpoints")


def test_unreachable_coordinator_fails_within_the_init_timeout(tmp_path):
  start = time.monotonic()
  proc = _cli([*_SWEEP, "--workdir", str(tmp_path / "w"), "--distributed", "--coordinator",
               f"127.0.0.1:{_free_port()}", "--num-processes", "2", "--process-id", "1", "--init-timeout", "2"], 2,
              str(tmp_path / "c"))
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 1
  assert "cannot reach the coordinator" in err and "init_timeout=2 s" in err
  assert time.monotonic() - start < 60


@pytest.mark.parametrize("kwargs, message", [
    (dict(coordinator="127.0.0.1:1234", num_processes=2, process_id=2),
     r"process_id \(--process-id\) must be in \[0, 2\)"),
    (dict(coordinator="127.0.0.1:1234", num_processes=0, process_id=0),
     r"num_processes \(--num-processes\) must be >= 1"),
    (dict(coordinator="localhost", num_processes=2, process_id=0), r"coordinator \(--coordinator\) must be HOST:PORT"),
    (dict(coordinator="127.0.0.1:1234"), r"give all of coordinator"),
    (dict(heartbeat_timeout=0), r"heartbeat_timeout must be a whole number of seconds >= 1"),
])
def test_bad_distributed_settings_name_the_setting(kwargs, message):
  with pytest.raises(DistributedError, match=message):
    DistributedSpec(**kwargs)


def test_coordinator_port_in_use_fails_before_joining():
  with socket.socket() as taken:
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    with pytest.raises(DistributedError, match=f"coordinator port {port} on 127.0.0.1 is in use"):
      initialize(DistributedSpec(f"127.0.0.1:{port}", 2, 0, init_timeout=2))


def test_cli_rejects_process_options_without_distributed(tmp_path, capsys):
  from wpgjax.host.cli import EXIT_USAGE, main

  assert main(["sweep", "--env", "fast", "--grid", "tau=0.1", "--workdir", str(tmp_path), "--process-id", "1"]) \
      == EXIT_USAGE
  assert "--process-id needs --distributed" in capsys.readouterr().err
  assert main(["sweep", "--env", "fast", "--grid", "tau=0.1", "--workdir", str(tmp_path), "--distributed",
               "--coordinator", "127.0.0.1:1", "--num-processes", "2", "--process-id", "5"]) == EXIT_USAGE
  assert "process_id (--process-id) must be in [0, 2)" in capsys.readouterr().err


def test_run_options_reject_devices_with_distributed():
  from wpgjax.host.options import RunOptions

  with pytest.raises(ValueError, match="devices must be None with distributed"):
    RunOptions(distributed=True, devices=[object()])
  with pytest.raises(TypeError, match="distributed must be False, True or a DistributedSpec"):
    RunOptions(distributed="yes")


_API_SCRIPT = """
import json, sys
import numpy as np
import wpgjax
from wpgjax.rl import presets
port, pid, nproc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
spec = wpgjax.DistributedSpec(f"127.0.0.1:{port}", nproc, pid, heartbeat_timeout=5) if nproc > 1 else False
cfg = presets("fast", num_timesteps=1024, num_evals=1, min_replay_size=256, grad_updates_per_step=1, batch_size=64)
result = wpgjax.sweep(cfg, seeds=[0, 1, 2], grid={"tau": [0.02, 0.2]}, distributed=spec)
print("RESULT" + json.dumps({k: np.asarray(v).tolist() for k, v in result.metrics.items()}
                            | {"num_padded": result.num_padded}))
"""


@pytest.mark.slow
def test_python_api_sweep_distributed_equals_one_process(tmp_path):
  """`wpgjax.sweep(..., distributed=spec)` on 2 processes x 2 devices == `wpgjax.sweep` on 1 process x 4."""
  def launch(pid, nproc, devices, port):
    return subprocess.Popen([sys.executable, "-c", _API_SCRIPT, str(port), str(pid), str(nproc)],
                            env=_env(devices, str(tmp_path / "cache")), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)

  def result(proc):
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.split("RESULT")[-1])

  one = result(launch(0, 1, 4, 0))
  port = _free_port()
  two = [result(p) for p in [launch(i, 2, 2, port) for i in range(2)]]
  assert two[0] == two[1]  # every process receives every run's metrics
  assert two[0]["num_padded"] == one["num_padded"] == 2
  for key, values in one.items():
    if key != "num_padded":
      np.testing.assert_allclose(np.asarray(two[0][key]), np.asarray(values), rtol=1e-5, atol=1e-6, err_msg=key)
