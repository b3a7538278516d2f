"""Small file helpers of the host side: atomic writes (JSON, or any file a callback writes), JSON values as they
read back, and JSON-lines reading that tolerates a partial last line."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import Any, Iterator

import numpy as np

__all__ = ["atomic_path", "write_json_atomic", "json_default", "normalise_json", "read_jsonl"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str) -> Iterator[str]:
  """Yields a temporary path next to `path`; once the block has written it, it is given the usual permissions
  and renamed onto `path`, so readers never see a half-written file. On an error the temporary file goes."""
  path = os.fspath(path)
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=suffix)
  os.close(fd)
  try:
    yield tmp
    _default_permissions(tmp)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def _default_permissions(path: str) -> None:
  """mkstemp creates files readable by the owner only; give them the usual permissions (0666 minus umask)."""
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(path, 0o666 & ~umask)


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
  """Writes JSON to `path` via a temporary file and a rename, so readers never see a half-written file."""
  with atomic_path(path, ".json") as tmp:
    with open(tmp, "w") as f:
      json.dump(data, f, indent=2, sort_keys=True, default=json_default)
      f.write("\n")


def json_default(value: Any) -> Any:
  if isinstance(value, (np.integer,)):
    return int(value)
  if isinstance(value, (np.floating,)):
    return float(value)
  if isinstance(value, np.ndarray):
    return value.tolist()
  if isinstance(value, tuple):
    return list(value)
  raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def normalise_json(value: Any) -> Any:
  """The value as it reads back from JSON (tuples -> lists, numpy scalars -> Python)."""
  return json.loads(json.dumps(value, sort_keys=True, default=json_default))


def read_jsonl(path: str) -> list[dict]:
  """The rows of a JSON-lines file, stopping at a partial last line (from a crash)."""
  rows = []
  with open(path) as f:
    for line in f:
      line = line.strip()
      if line:
        try:
          rows.append(json.loads(line))
        except ValueError:
          break  # a partial last line from a crash
  return rows
