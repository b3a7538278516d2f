"""Validation of a checkpoint against the template it is restored into: which leaves to read (and as what),
and every difference in structure, shape, dtype or key type, reported together in one CheckpointError."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import jax
import numpy as np

from wpgjax.host.checkpoint.codec import abstract, is_excluded, is_key, key_data_struct
from wpgjax.host.checkpoint.version import CheckpointError

__all__ = ["restore_targets", "compare_with_saved", "split_empty", "raise_mismatch"]


def restore_targets(where: str, paths: Sequence[str], leaves: Sequence[Any], excluded: Sequence[str],
                    key_dtypes: Mapping[str, str]) -> tuple[dict[str, jax.ShapeDtypeStruct], list[str]]:
  """({path: what to read}, problems) for the template leaves: excluded leaves are not read (they must be
  concrete arrays in the template), key leaves are read as their key data and must have the saved key type."""
  targets: dict[str, jax.ShapeDtypeStruct] = {}
  problems: list[str] = []
  for path, leaf in zip(paths, leaves):
    if is_excluded(path, excluded):
      if not isinstance(leaf, (jax.Array, np.ndarray)):
        raise CheckpointError(f"checkpoint {where} does not contain {path!r} (saved without "
                              f"{list(excluded)}); pass concrete values for those leaves")
      continue
    if path in key_dtypes and not is_key(leaf):
      problems.append(f"{path}: saved a PRNG key of type {key_dtypes[path]}, expected {leaf.dtype} data")
      continue
    if is_key(leaf):
      if key_dtypes.get(path) != str(leaf.dtype):
        problems.append(f"{path}: expected a PRNG key of type {leaf.dtype}, saved "
                        f"{key_dtypes.get(path, 'a plain array')}")
        continue
      targets[path] = key_data_struct(leaf)
    else:
      targets[path] = abstract(leaf)
  return targets, problems


def compare_with_saved(targets: Mapping[str, jax.ShapeDtypeStruct], saved: Mapping[str, Any]) -> list[str]:
  """The leaves missing from the checkpoint, saved with another shape or dtype, or saved but not expected."""
  problems = []
  for path in targets:
    if path not in saved:
      problems.append(f"{path}: missing from the checkpoint")
    else:
      shape, dtype = tuple(getattr(saved[path], "shape", ())), getattr(saved[path], "dtype", None)
      if shape != tuple(targets[path].shape) or (dtype is not None and np.dtype(dtype) != targets[path].dtype):
        problems.append(f"{path}: saved {np.dtype(dtype) if dtype is not None else '?'}{list(shape)}, "
                        f"expected {targets[path].dtype}{list(targets[path].shape)}")
  for path in saved:
    if path not in targets:
      problems.append(f"{path}: in the checkpoint but not in the train state")
  return problems


def raise_mismatch(where: str, problems: Sequence[str]) -> None:
  """Raises one CheckpointError naming (up to ten of) the problems, if there are any."""
  if problems:
    shown = "; ".join(problems[:10]) + (f"; ... ({len(problems) - 10} more)" if len(problems) > 10 else "")
    raise CheckpointError(f"checkpoint {where} does not match this train state ({shown}); it was written by "
                          "another config or code version")


def split_empty(targets: Mapping[str, jax.ShapeDtypeStruct], saved_empty: Mapping[str, Any]
                ) -> tuple[dict[str, jax.ShapeDtypeStruct], dict[str, jax.ShapeDtypeStruct], list[str]]:
  """(targets to read, zero-size targets to rebuild, problems): a zero-size leaf is stored as its shape and
  dtype only (`codec.encode`), which must match the template's."""
  to_read = {p: t for p, t in targets.items() if math.prod(t.shape) != 0}
  empty = {p: t for p, t in targets.items() if math.prod(t.shape) == 0}
  problems = []
  for path, struct in empty.items():
    saved = saved_empty.get(path)
    if saved is None:
      problems.append(f"{path}: missing from the checkpoint")
    elif tuple(saved["shape"]) != tuple(struct.shape) or np.dtype(saved["dtype"]) != struct.dtype:
      problems.append(f"{path}: saved {saved['dtype']}{saved['shape']}, expected {struct.dtype}{list(struct.shape)}")
  problems += [f"{path}: in the checkpoint but not in the train state" for path in saved_empty if path not in targets]
  return to_read, empty, problems
