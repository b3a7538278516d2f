"""Many processes, one sweep: JAX's multi-controller runtime (`jax.distributed`) set up and checked, runs placed
on the global device mesh, and results brought back to every process.

With `jax.distributed` every process runs the same program; `jax.devices()` lists the devices of all
processes and each process holds (and computes) only the runs on its own devices. The training program has
no cross-run communication, so the processes meet only where the host needs every run's numbers (the
metrics after each evaluation: `gather_to_host`) and when orbax commits a checkpoint.

`initialize(spec)` checks the settings before anything connects or compiles (a process id out of range, a
coordinator port already in use, processes with different device counts each raise `DistributedError`
naming the setting), selects gloo for CPU collectives, and starts the runtime with bounded timeouts: a
coordinator that cannot be reached fails after `init_timeout` seconds. When a process dies, the others fail
at once with a `DistributedError` if they were waiting for its results (`gather_to_host`), and otherwise the
coordination service ends them within `heartbeat_timeout` seconds (the runtime aborts them with "the JAX
distributed service detected fatal errors"). Nothing waits forever.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import time
from typing import Any

import jax
import numpy as np

__all__ = ["DistributedSpec", "DistributedError", "initialize", "is_initialized", "global_put", "gather_to_host",
           "process_layout", "lost_peers"]


class DistributedError(RuntimeError):
  """A multi-process setting or runtime failure, with a message naming the setting."""


@dataclasses.dataclass(frozen=True)
class DistributedSpec:
  """How this process joins a multi-process sweep.

  coordinator: "HOST:PORT" of process 0's coordination service (every process passes the same); None with
    num_processes and process_id None: auto-detect the cluster (TPU pod slices, SLURM, Open MPI / Kubernetes
    environments that JAX recognises).
  num_processes: processes in the sweep (>= 1); process_id: this process, in [0, num_processes).
  heartbeat_timeout: seconds after which a silent (dead) process ends all others (>= 1).
  init_timeout: seconds to wait for all processes to connect to the coordinator, at a barrier, and for all
    to reach the shutdown at exit (>= 1).
  """
  coordinator: str | None = None
  num_processes: int | None = None
  process_id: int | None = None
  heartbeat_timeout: int = 60
  init_timeout: int = 300

  def __post_init__(self):
    given = [self.coordinator is not None, self.num_processes is not None, self.process_id is not None]
    if any(given) and not all(given):
      raise DistributedError("give all of coordinator (--coordinator HOST:PORT), num_processes (--num-processes) "
                             "and process_id (--process-id), or none of them to auto-detect the cluster")
    if self.coordinator is not None:
      _split_address(self.coordinator)
      for name in ("num_processes", "process_id"):
        if not isinstance(getattr(self, name), int) or isinstance(getattr(self, name), bool):
          raise DistributedError(f"{name} must be an int, got {getattr(self, name)!r}")
      if self.num_processes < 1:
        raise DistributedError(f"num_processes (--num-processes) must be >= 1, got {self.num_processes}")
      if not 0 <= self.process_id < self.num_processes:
        raise DistributedError(f"process_id (--process-id) must be in [0, {self.num_processes}) for "
                               f"num_processes={self.num_processes}, got {self.process_id}")
    for name in ("heartbeat_timeout", "init_timeout"):
      value = getattr(self, name)
      if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise DistributedError(f"{name} must be a whole number of seconds >= 1, got {value!r}")


def _split_address(address: str) -> tuple[str, int]:
  host, sep, port = str(address).rpartition(":")
  if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
    raise DistributedError(f"coordinator (--coordinator) must be HOST:PORT with a port in 1..65535, got {address!r}")
  return host.strip("[]"), int(port)


def is_initialized() -> bool:
  """Whether this process has joined a `jax.distributed` runtime."""
  from jax._src import distributed as _state  # the public API has no query for this

  return _state.global_state.client is not None


def _check_port_free(host: str, port: int) -> None:
  """Process 0 binds the coordinator port; fail clearly (before JAX aborts on it) if it is taken."""
  family = socket.AF_INET6 if ":" in host else socket.AF_INET
  with socket.socket(family, socket.SOCK_STREAM) as probe:
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
      probe.bind(("" if host in ("0.0.0.0", "::") else host, port))
    except OSError as e:
      raise DistributedError(f"coordinator port {port} on {host} is in use or cannot be bound ({e.strerror}); "
                             "choose another --coordinator HOST:PORT") from None


def _wait_for_coordinator(host: str, port: int, timeout: float) -> None:
  """Other processes wait (up to `timeout` s) until process 0's port accepts connections, so that an
  unreachable coordinator is a clear error here rather than an abort inside the runtime."""
  deadline = time.monotonic() + timeout
  while True:
    try:
      with socket.create_connection((host, port), timeout=min(5.0, timeout)):
        return
    except OSError as e:
      if time.monotonic() >= deadline:
        raise DistributedError(f"cannot reach the coordinator {host}:{port} (--coordinator) within init_timeout="
                               f"{timeout:g} s ({e.strerror or type(e).__name__}); start process 0 with the same "
                               "--coordinator, check the host name and that the port is open") from None
      time.sleep(0.5)


def initialize(spec: DistributedSpec) -> None:
  """Joins (or, as process 0, hosts) the multi-process runtime described by `spec`; a no-op if this process
  has already joined one. Must run before any JAX computation in this process."""
  if is_initialized():
    return
  if spec.coordinator is not None and spec.process_id == 0:
    _check_port_free(*_split_address(spec.coordinator))
  elif spec.coordinator is not None:
    _wait_for_coordinator(*_split_address(spec.coordinator), spec.init_timeout)
  if os.environ.get("JAX_PLATFORMS", "cpu").split(",")[0] in ("", "cpu"):
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  try:
    jax.distributed.initialize(spec.coordinator, spec.num_processes, spec.process_id,
                               initialization_timeout=spec.init_timeout,
                               heartbeat_timeout_seconds=spec.heartbeat_timeout,
                               shutdown_timeout_seconds=spec.init_timeout)
  except Exception as e:
    if spec.coordinator is None:
      raise DistributedError(f"no cluster detected to auto-configure jax.distributed ({type(e).__name__}: "
                             f"{_first_line(e)}); pass --coordinator HOST:PORT --num-processes N --process-id I"
                             ) from None
    raise DistributedError(f"process {spec.process_id} could not join the sweep at coordinator {spec.coordinator} "
                           f"within init_timeout={spec.init_timeout} s ({type(e).__name__}: {_first_line(e)}); "
                           "check that every process was started with the same --coordinator and "
                           "--num-processes and that the host is reachable") from None
  try:
    process_layout()
  except DistributedError:  # every process sees the same layout: all leave together, none is left waiting
    jax.distributed.shutdown()
    raise


def _first_line(e: BaseException) -> str:
  return (str(e).strip().splitlines() or [""])[0][:300]


def process_layout() -> list[int]:
  """Devices per process (index = process); raises DistributedError unless every process has the same
  number, so that the run axis splits into equal per-process blocks."""
  counts = [0] * jax.process_count()
  for device in jax.devices():
    counts[device.process_index] += 1
  if len(set(counts)) != 1:
    raise DistributedError(f"every process must have the same number of devices for the run mesh; devices per "
                           f"process: {counts} (set the same local device count on every process)")
  return counts


def global_put(x: Any, sharding: jax.sharding.Sharding) -> jax.Array:
  """`x` (the same host value on every process) as a global array with `sharding`; each process places only
  its own shards. Typed PRNG keys go through their raw key data."""
  if sharding.is_fully_addressable:
    return jax.device_put(x, sharding)
  if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
    impl = jax.random.key_impl(x)
    data = global_put(jax.random.key_data(x), sharding)
    return jax.jit(lambda d: jax.random.wrap_key_data(d, impl=impl), out_shardings=sharding)(data)
  host = np.asarray(x)
  return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def gather_to_host(tree: Any) -> Any:
  """Every leaf of `tree` as a host numpy array, whole, on every process (an all-gather across processes for
  leaves that are not fully addressable; every process must call it)."""
  from jax.experimental import multihost_utils

  def get(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      with lost_peers("gathering results"):
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(jax.device_get(x))

  return jax.tree.map(get, tree)


@contextlib.contextmanager
def lost_peers(doing: str):
  """Turns a collective that failed because another process went away into a DistributedError."""
  try:
    yield
  except jax.errors.JaxRuntimeError as e:
    raise DistributedError(
        f"process {jax.process_index()} lost contact with the other processes while {doing} ({_first_line(e)}): "
        "a process died or was stopped, so this one stops too; continue the whole run with --resume "
        "(resume=True) from the last checkpoint every process completed") from None
