"""This process's place in a run: alone (the usual case) or one of many under `jax.distributed`.

`ProcessGroup` is what the runner asks: am I the primary process (the one that writes the combined metrics,
summary and plots), which runs do my devices hold, and — where every process must decide the same — wait
for the others (`barrier`) or combine a per-process decision (`any_over_processes`). With one process every
method is trivial and nothing communicates.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np

from wpgjax.rl import distributed as dist

__all__ = ["ProcessGroup"]


class ProcessGroup:
  """index / count of this process; primary: index == 0; multi: count > 1. timeout_s bounds `barrier`."""

  def __init__(self, timeout_s: float = 300.0):
    self.index, self.count = jax.process_index(), jax.process_count()
    self.primary, self.multi = self.index == 0, self.count > 1
    self.timeout_s = timeout_s
    self._barriers = 0

  def barrier(self, name: str) -> None:
    """Blocks until every process reaches the barrier of the same name and order (bounded by timeout_s)."""
    if not self.multi:
      return
    from jax._src import distributed as _state  # the coordination client: the public API has no barrier

    self._barriers += 1
    try:
      _state.global_state.client.wait_at_barrier(f"wpgjax/{self._barriers}/{name}", int(self.timeout_s * 1000))
    except Exception as e:
      raise dist.DistributedError(f"process {self.index}: the other processes did not reach '{name}' within "
                                  f"{self.timeout_s:g} s ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
                                  ) from None

  def gather(self, tree: Any) -> Any:
    """The whole of every leaf as host numpy arrays, on every process (all processes must call it)."""
    return dist.gather_to_host(tree)

  def any_over_processes(self, flags: Sequence[bool]) -> np.ndarray:
    """Elementwise OR of each process's `flags` (all processes must call it with the same length)."""
    flags = np.asarray(flags, dtype=np.int32)
    if not self.multi:
      return flags.astype(bool)
    from jax.experimental import multihost_utils

    with dist.lost_peers("agreeing whether to stop"):
      gathered = np.asarray(multihost_utils.process_allgather(flags))
    return gathered.reshape(self.count, -1).max(axis=0).astype(bool)

  def own_runs(self, array: jax.Array, num_runs: int) -> list[int]:
    """The run indices (< num_runs, padding excluded) whose shards of `array` (leading axis = runs) this
    process holds."""
    if not self.multi:
      return list(range(num_runs))
    held = set()
    for shard in array.addressable_shards:
      held.update(range(*shard.index[0].indices(array.shape[0])))
    return sorted(i for i in held if i < num_runs)
