"""Checkpoints of a whole pytree (the train state) with orbax-checkpoint, validated on the way back in.

Host code only (never called inside jit). A checkpoint directory holds one sub-folder per step (orbax's
layout), each with two items:

- ``state``: every array leaf of the tree, stored under its key path ("policy_params/params/...",
  "replay/data/observation", ...). Typed PRNG keys are stored as their raw ``key_data`` and re-wrapped on
  restore. Leaves under an excluded prefix (e.g. "replay" when the user opts out of saving the buffer) are not
  written.
- ``meta``: JSON: the checkpoint format, the wpgjax version, the caller's metadata (the run's config, ...),
  the excluded prefixes, the dtypes of the key leaves and a fingerprint (two wrap-around integer checksums
  of the bits) of every stored leaf.

`Checkpointer.restore` refuses, with a `CheckpointError` that says what is wrong and what to do, a checkpoint
that is missing, partial or corrupt (unreadable files, checksum mismatch), written by another format or wpgjax
version, written for another config, or whose leaves do not match the expected tree (missing, unexpected,
other shape or dtype). Nothing here ever deletes or overwrites a step that exists, except orbax's own
keep-last-k / keep-best retention of older steps.

The run-level JSON (``config.json`` beside the checkpoints) is handled by `write_run_info` / `read_run_info`
/ `check_run_info`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
from typing import Any, Iterable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "FORMAT", "CheckpointError", "Checkpointer", "package_version", "write_run_info", "read_run_info",
    "check_run_info", "write_json_atomic", "tree_paths",
]

FORMAT = 1  # bump when the on-disk layout changes; older checkpoints are then refused with a clear message.


class CheckpointError(RuntimeError):
  """A checkpoint (or the run info beside it) is missing, corrupt, partial or does not match this run."""


def package_version() -> str:
  """The installed wpgjax version (from the package metadata, so that importing this module never imports
  the `wpgjax` package itself)."""
  try:
    from importlib.metadata import version
    return version("wpgjax")
  except Exception:  # pragma: no cover - running from a source tree without metadata
    return "unknown"


# --------------------------------------------------------------------------------------------------------
# Small JSON helpers


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
  """Writes JSON to `path` via a temporary file and a rename, so readers never see a half-written file."""
  path = os.fspath(path)
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
  try:
    with os.fdopen(fd, "w") as f:
      json.dump(data, f, indent=2, sort_keys=True, default=_json_default)
      f.write("\n")
    _default_permissions(tmp)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def _default_permissions(path: str) -> None:
  """mkstemp creates files readable by the owner only; give them the usual permissions (0666 minus umask)."""
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(path, 0o666 & ~umask)


def _json_default(value: Any) -> Any:
  if isinstance(value, (np.integer,)):
    return int(value)
  if isinstance(value, (np.floating,)):
    return float(value)
  if isinstance(value, np.ndarray):
    return value.tolist()
  if isinstance(value, tuple):
    return list(value)
  raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _normalise_json(value: Any) -> Any:
  """The value as it reads back from JSON (tuples -> lists, numpy scalars -> Python)."""
  return json.loads(json.dumps(value, sort_keys=True, default=_json_default))


def _differences(saved: Any, requested: Any, prefix: str = "") -> list[str]:
  """Human-readable differences between two JSON-like values ("tau: saved 0.1, requested 0.05")."""
  if isinstance(saved, dict) and isinstance(requested, dict):
    out = []
    for key in sorted(set(saved) | set(requested)):
      name = f"{prefix}.{key}" if prefix else str(key)
      if key not in saved:
        out.append(f"{name}: not in the saved run, requested {requested[key]!r}")
      elif key not in requested:
        out.append(f"{name}: saved {saved[key]!r}, not in the requested run")
      else:
        out.extend(_differences(saved[key], requested[key], name))
    return out
  if saved != requested:
    return [f"{prefix or 'value'}: saved {saved!r}, requested {requested!r}"]
  return []


# --------------------------------------------------------------------------------------------------------
# Run info (config.json beside the checkpoints)

RUN_INFO_FILE = "config.json"


def write_run_info(workdir: str | os.PathLike, info: Mapping[str, Any]) -> dict:
  """Writes `info` (+ format and wpgjax version) to workdir/config.json atomically; returns what was written."""
  data = _normalise_json({"format": FORMAT, "wpgjax_version": package_version(), **info})
  write_json_atomic(os.path.join(os.fspath(workdir), RUN_INFO_FILE), data)
  return data


def read_run_info(workdir: str | os.PathLike, *, check_version: bool = True) -> dict:
  """Reads and validates workdir/config.json (format and, unless told otherwise, wpgjax version)."""
  path = os.path.join(os.path.abspath(os.fspath(workdir)), RUN_INFO_FILE)
  if not os.path.exists(path):
    raise CheckpointError(f"{path} not found: {os.path.dirname(path)} does not hold a wpgjax run "
                          "(expected the config.json written by `wpgjax train`)")
  try:
    with open(path) as f:
      data = json.load(f)
  except (OSError, ValueError) as e:
    raise CheckpointError(f"{path} is unreadable or not valid JSON ({e}); the run info is corrupt") from None
  if not isinstance(data, dict) or "config" not in data:
    raise CheckpointError(f"{path} is not a wpgjax run info file (no 'config' entry)")
  _check_format(data, path, check_version=check_version)
  return data


def _check_format(data: Mapping[str, Any], where: str, *, check_version: bool = True) -> None:
  fmt = data.get("format")
  if fmt != FORMAT:
    raise CheckpointError(f"{where} has checkpoint format {fmt!r}, this wpgjax reads format {FORMAT}; "
                          "it was written by an incompatible wpgjax version and cannot be loaded")
  version = data.get("wpgjax_version")
  if check_version and version != package_version():
    raise CheckpointError(f"{where} was written by wpgjax {version}, this is wpgjax {package_version()}; "
                          "resuming across versions is refused because the train state may differ. Install "
                          f"wpgjax {version} to continue this run, or start a new run in another workdir")


def check_run_info(saved: Mapping[str, Any], requested: Mapping[str, Any], where: str,
                   keys: Iterable[str] = ("config", "runs", "save_replay")) -> None:
  """Raises CheckpointError listing every difference between `saved` and `requested` in the given keys."""
  diffs = []
  for key in keys:
    diffs.extend(_differences(_normalise_json(saved.get(key)), _normalise_json(requested.get(key)), key))
  if diffs:
    shown = "; ".join(diffs[:12]) + (f"; ... ({len(diffs) - 12} more)" if len(diffs) > 12 else "")
    raise CheckpointError(f"{where} was written for a different run: {shown}. Resume with the saved settings "
                          "(omit --env/--set/--seeds/--grid with --resume) or use a new workdir")


# --------------------------------------------------------------------------------------------------------
# Pytrees <-> path-keyed leaves


def tree_paths(tree: Any) -> tuple[list[str], list[Any], Any]:
  """(paths "a/b/0", leaves, treedef) of a pytree, in flattening order."""
  with_path, treedef = jax.tree_util.tree_flatten_with_path(tree)
  paths = [jax.tree_util.keystr(p, simple=True, separator="/") for p, _ in with_path]
  if len(set(paths)) != len(paths):
    raise ValueError("tree has leaves whose key paths collide; cannot checkpoint it")
  return paths, [leaf for _, leaf in with_path], treedef


def _nest(flat: Mapping[str, Any]) -> dict:
  out: dict = {}
  for path, value in flat.items():
    node = out
    parts = path.split("/") if path else ["_root"]
    for part in parts[:-1]:
      node = node.setdefault(part, {})
    node[parts[-1]] = value
  return out


def _flatten_nested(nested: Any, prefix: str = "") -> dict[str, Any]:
  if isinstance(nested, Mapping):
    out = {}
    for key, value in nested.items():
      out.update(_flatten_nested(value, f"{prefix}/{key}" if prefix else str(key)))
    return out
  return {prefix: nested}


def _is_key(leaf: Any) -> bool:
  dtype = getattr(leaf, "dtype", None)
  return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def _key_impls() -> dict[str, str]:
  """str(key dtype) -> impl name, for the PRNG implementations JAX ships."""
  out = {}
  for name in ("threefry2x32", "rbg", "unsafe_rbg"):
    try:
      out[str(jax.eval_shape(lambda: jax.random.key(0, impl=name)).dtype)] = name
    except Exception:  # pragma: no cover
      pass
  return out


def _excluded(path: str, prefixes: Sequence[str]) -> bool:
  return any(path == p or path.startswith(p + "/") for p in prefixes)


def _as_words(x: jax.Array) -> jax.Array:
  """The bits of `x` as uint32 words (for checksums)."""
  if x.dtype == jnp.bool_:
    return x.astype(jnp.uint32)
  size = jnp.dtype(x.dtype).itemsize
  if size == 4:
    return jax.lax.bitcast_convert_type(x, jnp.uint32)
  if size == 2:
    return jax.lax.bitcast_convert_type(x, jnp.uint16).astype(jnp.uint32)
  if size == 1:
    return jax.lax.bitcast_convert_type(x, jnp.uint8).astype(jnp.uint32)
  return jax.lax.bitcast_convert_type(x, jnp.uint32)  # 8 bytes -> [..., 2] words


@jax.jit
def _fingerprints(leaves: list[jax.Array]) -> jax.Array:
  """[n, 2] uint32: per leaf, the wrap-around sum of its words and a position-weighted sum (exact integer
  arithmetic, so independent of reduction order and device layout)."""
  out = []
  for x in leaves:
    words = _as_words(x).reshape(-1)
    weights = jnp.arange(words.shape[0], dtype=jnp.uint32) * jnp.uint32(2654435761) + jnp.uint32(1)
    out.append(jnp.stack([jnp.sum(words, dtype=jnp.uint32), jnp.sum(words * weights, dtype=jnp.uint32)]))
  return jnp.stack(out) if out else jnp.zeros((0, 2), jnp.uint32)


def _fingerprint_dict(paths: Sequence[str], leaves: Sequence[Any]) -> dict[str, list[int]]:
  values = np.asarray(jax.device_get(_fingerprints([jnp.asarray(x) for x in leaves])))
  return {p: [int(v) for v in row] for p, row in zip(paths, values)}


def _abstract(leaf: Any) -> jax.ShapeDtypeStruct:
  return jax.ShapeDtypeStruct(np.shape(leaf), leaf.dtype, sharding=getattr(leaf, "sharding", None))


# --------------------------------------------------------------------------------------------------------
# The checkpointer


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
    with _quiet_absl():  # read-only managers log warnings about being read-only
      self._manager = ocp.CheckpointManager(
          self.directory, options=ocp.CheckpointManagerOptions(**options),
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
    where = os.path.join(self.directory, str(step))
    try:
      restored = self._manager.restore(step, args=self._ocp.args.Composite(meta=self._ocp.args.JsonRestore()))
      meta = restored["meta"]
    except FileNotFoundError:
      if step not in self.steps():
        raise CheckpointError(f"checkpoint {where} not found; available steps: {self.steps()}") from None
      raise CheckpointError(f"checkpoint {where} is corrupt or incomplete: its metadata file is missing") from None
    except Exception as e:
      raise CheckpointError(f"checkpoint {where} is corrupt or incomplete: its metadata cannot be read "
                            f"({type(e).__name__}: {_short(e)})") from None
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
    paths, leaves, _ = tree_paths(tree)
    stored: dict[str, Any] = {}
    keys: dict[str, str] = {}
    for path, leaf in zip(paths, leaves):
      if _excluded(path, exclude):
        continue
      if _is_key(leaf):
        keys[path] = str(leaf.dtype)
        leaf = jax.random.key_data(leaf)
      stored[path] = leaf
    score = None if score is None or not math.isfinite(float(score)) else float(score)
    full_meta = _normalise_json({
        **(meta or {}), "format": FORMAT, "wpgjax_version": package_version(), "step": step, "score": score,
        "excluded": list(exclude), "keys": keys,
        "fingerprint": _fingerprint_dict(list(stored), list(stored.values())),
    })
    ocp = self._ocp
    saved = self._manager.save(
        step, args=ocp.args.Composite(state=ocp.args.StandardSave(_nest(stored)), meta=ocp.args.JsonSave(full_meta)),
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
    where = os.path.join(self.directory, str(step))
    available = self.steps()
    if step not in available:
      raise CheckpointError(f"no checkpoint at {where}; available steps: {available or 'none'}")
    meta = self.read_meta(step)
    _check_format(meta, f"checkpoint {where}", check_version=check_version)
    if expected is not None:
      check_run_info(meta, expected, f"checkpoint {where}", keys=expected_keys)
    excluded = list(meta.get("excluded", []))
    key_dtypes = dict(meta.get("keys", {}))
    fingerprints = dict(meta.get("fingerprint", {}))

    paths, leaves, treedef = tree_paths(template)
    targets: dict[str, jax.ShapeDtypeStruct] = {}
    problems: list[str] = []
    for path, leaf in zip(paths, leaves):
      if _excluded(path, excluded):
        if not isinstance(leaf, (jax.Array, np.ndarray)):
          raise CheckpointError(f"checkpoint {where} does not contain {path!r} (saved without "
                                f"{excluded}); pass concrete values for those leaves")
        continue
      if path in key_dtypes and not _is_key(leaf):
        problems.append(f"{path}: saved a PRNG key of type {key_dtypes[path]}, expected {leaf.dtype} data")
        continue
      if _is_key(leaf):
        if key_dtypes.get(path) != str(leaf.dtype):
          problems.append(f"{path}: expected a PRNG key of type {leaf.dtype}, saved "
                          f"{key_dtypes.get(path, 'a plain array')}")
          continue
        data = jax.eval_shape(jax.random.key_data, jax.ShapeDtypeStruct(np.shape(leaf), leaf.dtype))
        targets[path] = jax.ShapeDtypeStruct(data.shape, data.dtype, sharding=getattr(leaf, "sharding", None))
      else:
        targets[path] = _abstract(leaf)

    try:
      item_meta = self._manager.item_metadata(step)["state"]
      if item_meta is None:
        raise ValueError("no array metadata")
      saved = _flatten_nested(getattr(item_meta, "tree", item_meta))
    except Exception as e:
      raise CheckpointError(f"checkpoint {where} is corrupt or incomplete: the array metadata cannot be read "
                            f"({type(e).__name__}: {_short(e)})") from None
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
    if problems:
      shown = "; ".join(problems[:10]) + (f"; ... ({len(problems) - 10} more)" if len(problems) > 10 else "")
      raise CheckpointError(f"checkpoint {where} does not match this train state ({shown}); it was written by "
                            "another config or code version")

    ocp = self._ocp
    try:
      restored = self._manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(_nest(targets))))["state"]
      flat = _flatten_nested(restored)
    except Exception as e:
      raise CheckpointError(f"checkpoint {where} is corrupt or incomplete: reading its arrays failed "
                            f"({type(e).__name__}: {_short(e)})") from None
    got = _fingerprint_dict(list(targets), [flat[p] for p in targets])
    bad = [p for p in targets if fingerprints.get(p) != got[p]]
    if bad:
      raise CheckpointError(f"checkpoint {where} is corrupt: the data of {len(bad)} array(s) do not match "
                            f"their saved checksums (first: {bad[0]!r})")
    impls = _key_impls()
    out = []
    for path, leaf in zip(paths, leaves):
      if path not in targets:
        out.append(leaf)
      elif _is_key(leaf):
        out.append(jax.random.wrap_key_data(flat[path], impl=impls.get(str(leaf.dtype))))
      else:
        out.append(flat[path])
    return jax.tree_util.tree_unflatten(treedef, out), meta


@contextlib.contextmanager
def _quiet_absl():
  logger = logging.getLogger("absl")
  level = logger.level
  logger.setLevel(logging.ERROR)
  try:
    yield
  finally:
    logger.setLevel(level)


def _short(e: BaseException, limit: int = 300) -> str:
  text = str(e).replace("\n", " ")
  return text if len(text) <= limit else text[:limit] + "..."
