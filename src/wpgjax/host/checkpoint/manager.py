"""`Checkpointer`: orbax wiring (one sub-folder per step with a ``state`` and a ``meta`` item), keep-last-k and
keep-best retention, listing, and save/restore built from the codec, validation and integrity parts."""

from __future__ import annotations

import contextlib
import logging
import math
import os
from typing import Any, Iterable, Mapping, Sequence

from wpgjax.host.checkpoint import codec, integrity, validation
from wpgjax.host.checkpoint.run_info import check_run_info
from wpgjax.host.checkpoint.version import FORMAT, CheckpointError, check_format, package_version, short
from wpgjax.host.files import normalise_json

__all__ = ["Checkpointer"]


class Checkpointer:
  """Saves and restores a pytree per step under an absolute directory, with keep-last-k and keep-best.

  keep_last: the most recent checkpoints kept (>= 1). keep_best: also keep this many with the highest
  `score` (0 = none). read_only: never create or write anything (for evaluation).
  """

  def __init__(self, directory: str | os.PathLike, *, keep_last: int = 3, keep_best: int = 1,
               read_only: bool = False):
    import orbax.checkpoint as ocp  # local import: orbax is slow to import and only needed here

    if keep_last < 1:
      raise ValueError(f"keep_last must be >= 1, got {keep_last}")
    if keep_best < 0:
      raise ValueError(f"keep_best must be >= 0, got {keep_best}")
    self._ocp = ocp
    self.directory = os.path.abspath(os.fspath(directory))  # orbax fails silently on relative paths
    self.read_only = read_only
    if read_only and not os.path.isdir(self.directory):
      raise CheckpointError(f"no checkpoint directory {self.directory}")
    with _quiet_absl():  # read-only managers log warnings about being read-only
      self._manager = ocp.CheckpointManager(
          self.directory, options=_manager_options(ocp, keep_last, keep_best, read_only),
          item_handlers={"state": ocp.StandardCheckpointHandler(), "meta": ocp.JsonCheckpointHandler()})

  # ---- listing
  def steps(self) -> list[int]:
    """Finished (committed) steps, ascending. Unfinished temporary folders are ignored."""
    if not self.read_only:
      self._manager.wait_until_finished()  # reloading during an asynchronous save confuses orbax's bookkeeping
    self._manager.reload()
    return sorted(int(s) for s in self._manager.all_steps())

  def latest_step(self) -> int | None:
    steps = self.steps()
    return steps[-1] if steps else None

  def best_step(self) -> int | None:
    """The step with the highest saved score (ties: the later step); None if no step has a finite score."""
    best, best_score = None, -math.inf
    for step in self.steps():
      try:
        score = self.read_meta(step).get("score")
      except CheckpointError:
        continue
      if score is not None and math.isfinite(score) and score >= best_score:
        best, best_score = step, score
    return best

  def read_meta(self, step: int) -> dict:
    """The JSON metadata of a step (CheckpointError if it is missing or unreadable)."""
    where = self._where(step)
    try:
      restored = self._manager.restore(step, args=self._ocp.args.Composite(meta=self._ocp.args.JsonRestore()))
      meta = restored["meta"]
    except FileNotFoundError:
      if step not in self.steps():
        raise CheckpointError(f"checkpoint {where} not found; available steps: {self.steps()}") from None
      raise CheckpointError(f"checkpoint {where} is corrupt or incomplete: its metadata file is missing") from None
    except Exception as e:
      raise CheckpointError(f"checkpoint {where} is corrupt or incomplete: its metadata cannot be read "
                            f"({type(e).__name__}: {short(e)})") from None
    if not isinstance(meta, dict):
      raise CheckpointError(f"checkpoint {where} is corrupt or incomplete: no metadata")
    return meta

  # ---- save
  def save(self, step: int, tree: Any, *, meta: Mapping[str, Any] | None = None, score: float | None = None,
           exclude: Sequence[str] = (), wait: bool = False) -> None:
    """Saves `tree` as `step` (asynchronously unless wait=True; call `wait()` before reading it back).

    A step at or before the latest saved step is refused (orbax never overwrites, and neither do we).
    exclude: key-path prefixes not to store (e.g. ["replay"]). score: ranks checkpoints for keep-best.
    """
    if self.read_only:
      raise CheckpointError(f"{self.directory} was opened read-only")
    step = int(step)
    latest = self.latest_step()
    if latest is not None and step <= latest:
      raise CheckpointError(f"refusing to save step {step} in {self.directory}: step {latest} exists and "
                            "checkpoints are never overwritten")
    stored, keys, empty = codec.encode(tree, exclude)
    score = None if score is None or not math.isfinite(float(score)) else float(score)
    full_meta = normalise_json({
        **(meta or {}), "format": FORMAT, "wpgjax_version": package_version(), "step": step, "score": score,
        "excluded": list(exclude), "keys": keys, "empty": empty,
        "fingerprint": integrity.fingerprint_dict(list(stored), list(stored.values())),
    })
    ocp = self._ocp
    saved = self._manager.save(
        step, args=ocp.args.Composite(state=ocp.args.StandardSave(codec.nest(stored)),
                                      meta=ocp.args.JsonSave(full_meta)),
        metrics={"score": score} if score is not None else None, force=True)
    if saved is False:  # pragma: no cover - orbax declined (should not happen with force=True)
      raise CheckpointError(f"orbax declined to save step {step} in {self.directory}")
    if wait:
      self.wait()

  def wait(self) -> None:
    """Blocks until pending asynchronous saves are on disk."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()

  def __enter__(self) -> "Checkpointer":
    return self

  def __exit__(self, *exc) -> None:
    self.close()

  # ---- restore
  def restore(self, step: int, template: Any, *, expected: Mapping[str, Any] | None = None,
              expected_keys: Iterable[str] = ("config", "runs", "save_replay"),
              check_version: bool = True) -> tuple[Any, dict]:
    """Restores `step` into the structure of `template` (arrays or jax.ShapeDtypeStruct, e.g. from
    jax.eval_shape; shardings are kept where given). Leaves the checkpoint excluded must be concrete arrays in
    `template` and are returned as they are. `expected`: metadata entries (config, ...) that must equal the
    saved ones. Returns (tree, metadata)."""
    where = self._where(step)
    available = self.steps()
    if step not in available:
      raise CheckpointError(f"no checkpoint at {where}; available steps: {available or 'none'}")
    meta = self.read_meta(step)
    check_format(meta, f"checkpoint {where}", check_version=check_version)
    if expected is not None:
      check_run_info(meta, expected, f"checkpoint {where}", keys=expected_keys)
    paths, leaves, treedef = codec.tree_paths(template)
    targets, problems = validation.restore_targets(where, paths, leaves, list(meta.get("excluded", [])),
                                                   dict(meta.get("keys", {})))
    targets, empty, empty_problems = validation.split_empty(targets, dict(meta.get("empty", {})))
    problems += empty_problems + validation.compare_with_saved(targets, self._saved_arrays(step))
    validation.raise_mismatch(where, problems)
    flat = self._read_arrays(step, targets)
    integrity.verify(where, flat, dict(meta.get("fingerprint", {})))
    flat.update({path: codec.empty_array(struct) for path, struct in empty.items()})
    return codec.decode(paths, leaves, treedef, flat), meta

  def _where(self, step: int) -> str:
    return os.path.join(self.directory, str(step))

  def _saved_arrays(self, step: int) -> dict[str, Any]:
    """{path: array metadata (shape, dtype)} of the arrays stored at `step`."""
    try:
      item_meta = self._manager.item_metadata(step)["state"]
      if item_meta is None:
        raise ValueError("no array metadata")
      return codec.flatten_nested(getattr(item_meta, "tree", item_meta))
    except Exception as e:
      raise CheckpointError(f"checkpoint {self._where(step)} is corrupt or incomplete: the array metadata "
                            f"cannot be read ({type(e).__name__}: {short(e)})") from None

  def _read_arrays(self, step: int, targets: Mapping[str, Any]) -> dict[str, Any]:
    """{path: array} read as `targets` describes, in the order of `targets`."""
    ocp = self._ocp
    try:
      restored = self._manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(codec.nest(targets))))["state"]
      flat = codec.flatten_nested(restored)
      return {path: flat[path] for path in targets}
    except Exception as e:
      raise CheckpointError(f"checkpoint {self._where(step)} is corrupt or incomplete: reading its arrays "
                            f"failed ({type(e).__name__}: {short(e)})") from None


def _manager_options(ocp, keep_last: int, keep_best: int, read_only: bool):
  """orbax CheckpointManagerOptions: keep the last `keep_last` steps and the best `keep_best` by score."""
  policies = [ocp.checkpoint_managers.LatestN(n=keep_last)]
  if keep_best > 0:
    policies.append(ocp.checkpoint_managers.BestN(get_metric_fn=lambda m: m["score"], n=keep_best,
                                                  keep_checkpoints_without_metrics=False))
  options = dict(
      preservation_policy=ocp.checkpoint_managers.AnyPreservationPolicy(policies),
      # orbax records per-step metrics (what BestN ranks) only when best_fn is set.
      best_fn=(lambda m: m["score"]) if keep_best > 0 else None, best_mode="max",
      create=not read_only, read_only=read_only)
  if read_only:
    options["save_interval_steps"] = 0
  return ocp.CheckpointManagerOptions(**options)


@contextlib.contextmanager
def _quiet_absl():
  logger = logging.getLogger("absl")
  level = logger.level
  logger.setLevel(logging.ERROR)
  try:
    yield
  finally:
    logger.setLevel(level)
