"""Pytrees <-> path-keyed leaves as stored: key paths ("policy_params/params/..."), nesting for orbax, and typed
PRNG keys stored as their raw ``key_data`` (with their dtype recorded) and re-wrapped on the way back."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import jax
import numpy as np

__all__ = ["tree_paths", "nest", "flatten_nested", "is_key", "is_excluded", "encode", "decode", "abstract",
           "key_data_struct"]


def tree_paths(tree: Any) -> tuple[list[str], list[Any], Any]:
  """(paths "a/b/0", leaves, treedef) of a pytree, in flattening order."""
  with_path, treedef = jax.tree_util.tree_flatten_with_path(tree)
  paths = [jax.tree_util.keystr(p, simple=True, separator="/") for p, _ in with_path]
  if len(set(paths)) != len(paths):
    raise ValueError("tree has leaves whose key paths collide; cannot checkpoint it")
  return paths, [leaf for _, leaf in with_path], treedef


def nest(flat: Mapping[str, Any]) -> dict:
  """{"a/b": x} -> {"a": {"b": x}} (the root leaf of a bare array is stored as "_root")."""
  out: dict = {}
  for path, value in flat.items():
    node = out
    parts = path.split("/") if path else ["_root"]
    for part in parts[:-1]:
      node = node.setdefault(part, {})
    node[parts[-1]] = value
  return out


def flatten_nested(nested: Any, prefix: str = "") -> dict[str, Any]:
  """The inverse of `nest`: {"a": {"b": x}} -> {"a/b": x}."""
  if isinstance(nested, Mapping):
    out = {}
    for key, value in nested.items():
      out.update(flatten_nested(value, f"{prefix}/{key}" if prefix else str(key)))
    return out
  return {prefix: nested}


def is_key(leaf: Any) -> bool:
  """Whether `leaf` (an array or ShapeDtypeStruct) holds typed PRNG keys."""
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


def is_excluded(path: str, prefixes: Sequence[str]) -> bool:
  return any(path == p or path.startswith(p + "/") for p in prefixes)


def encode(tree: Any, exclude: Sequence[str]) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
  """The leaves to store {path: array} (keys as raw key data, excluded prefixes left out), the dtypes of
  the key leaves {path: str(dtype)}, and the zero-size leaves {path: {"shape", "dtype"}}: they hold no values
  (orbax refuses to store them; e.g. an MJX state's contact arrays with no contacts), so only their shape and
  dtype are recorded and `empty_array` rebuilds them exactly."""
  paths, leaves, _ = tree_paths(tree)
  stored: dict[str, Any] = {}
  keys: dict[str, str] = {}
  empty: dict[str, Any] = {}
  for path, leaf in zip(paths, leaves):
    if is_excluded(path, exclude):
      continue
    if is_key(leaf):
      keys[path] = str(leaf.dtype)
      leaf = jax.random.key_data(leaf)
    if np.size(leaf) == 0:
      empty[path] = {"shape": list(np.shape(leaf)), "dtype": str(leaf.dtype)}
    else:
      stored[path] = leaf
  return stored, keys, empty


def empty_array(struct: jax.ShapeDtypeStruct) -> jax.Array:
  """The zero-size array of `struct`'s shape and dtype, placed with its sharding."""
  return jax.device_put(np.zeros(struct.shape, struct.dtype), struct.sharding)


def decode(paths: Sequence[str], leaves: Sequence[Any], treedef: Any, flat: Mapping[str, Any]) -> Any:
  """The template's tree with every leaf restored in `flat` (keys re-wrapped); others are kept as given."""
  impls = _key_impls()
  out = []
  for path, leaf in zip(paths, leaves):
    if path not in flat:
      out.append(leaf)
    elif is_key(leaf):
      out.append(jax.random.wrap_key_data(flat[path], impl=impls.get(str(leaf.dtype))))
    else:
      out.append(flat[path])
  return jax.tree_util.tree_unflatten(treedef, out)


def _sharding(leaf: Any) -> jax.sharding.Sharding:
  """The leaf's sharding, else this process's first device (orbax needs a target placement to restore a
  checkpoint saved on another device layout, e.g. by a multi-process run)."""
  sharding = getattr(leaf, "sharding", None)
  return jax.sharding.SingleDeviceSharding(jax.local_devices()[0]) if sharding is None else sharding


def abstract(leaf: Any) -> jax.ShapeDtypeStruct:
  """The stored form of a plain leaf: its shape, dtype and sharding (see `_sharding`)."""
  return jax.ShapeDtypeStruct(np.shape(leaf), leaf.dtype, sharding=_sharding(leaf))


def key_data_struct(leaf: Any) -> jax.ShapeDtypeStruct:
  """The stored form of a key leaf: the shape and dtype of its key data, with the leaf's sharding."""
  data = jax.eval_shape(jax.random.key_data, jax.ShapeDtypeStruct(np.shape(leaf), leaf.dtype))
  return jax.ShapeDtypeStruct(data.shape, data.dtype, sharding=_sharding(leaf))
