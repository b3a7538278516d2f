"""The run-level JSON (``config.json`` beside the checkpoints): write, read (with the format/version check)
and compare with what a resume requests."""

from __future__ import annotations

import json
import os
from typing import Any, Iterable, Mapping

from wpgjax.host.checkpoint.version import FORMAT, CheckpointError, check_format, package_version
from wpgjax.host.files import normalise_json, write_json_atomic

__all__ = ["RUN_INFO_FILE", "write_run_info", "read_run_info", "check_run_info"]

RUN_INFO_FILE = "config.json"


def write_run_info(workdir: str | os.PathLike, info: Mapping[str, Any]) -> dict:
  """Writes `info` (+ format and wpgjax version) to workdir/config.json atomically; returns what was written."""
  data = normalise_json({"format": FORMAT, "wpgjax_version": package_version(), **info})
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
  check_format(data, path, check_version=check_version)
  return data


def check_run_info(saved: Mapping[str, Any], requested: Mapping[str, Any], where: str,
                   keys: Iterable[str] = ("config", "runs", "save_replay")) -> None:
  """Raises CheckpointError listing every difference between `saved` and `requested` in the given keys."""
  diffs = []
  for key in keys:
    diffs.extend(_differences(normalise_json(saved.get(key)), normalise_json(requested.get(key)), key))
  if diffs:
    shown = "; ".join(diffs[:12]) + (f"; ... ({len(diffs) - 12} more)" if len(diffs) > 12 else "")
    raise CheckpointError(f"{where} was written for a different run: {shown}. Resume with the saved settings "
                          "(omit --env/--set/--seeds/--grid with --resume) or use a new workdir")


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
