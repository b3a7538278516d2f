"""The checkpoint format and wpgjax version stamped on every checkpoint and run info, the error type, and the
check that refuses another format (always) or another wpgjax version (unless told otherwise)."""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["FORMAT", "CheckpointError", "package_version", "check_format"]

FORMAT = 1  # bump when the on-disk layout changes; older checkpoints are then refused with a clear message.


class CheckpointError(RuntimeError):
  """A checkpoint (or the run info beside it) is missing, corrupt, partial or does not match this run."""


def package_version() -> str:
  """The installed wpgjax version (from the package metadata, not from importing the `wpgjax` package)."""
  try:
    from importlib.metadata import version
    return version("wpgjax")
  except Exception:  # pragma: no cover - running from a source tree without metadata
    return "unknown"


def check_format(data: Mapping[str, Any], where: str, *, check_version: bool = True) -> None:
  """Raises CheckpointError if `data` (run info or checkpoint metadata) has another format or wpgjax version."""
  fmt = data.get("format")
  if fmt != FORMAT:
    raise CheckpointError(f"{where} has checkpoint format {fmt!r}, this wpgjax reads format {FORMAT}; "
                          "it was written by an incompatible wpgjax version and cannot be loaded")
  version = data.get("wpgjax_version")
  if check_version and version != package_version():
    raise CheckpointError(f"{where} was written by wpgjax {version}, this is wpgjax {package_version()}; "
                          "resuming across versions is refused because the train state may differ. Install "
                          f"wpgjax {version} to continue this run, or start a new run in another workdir")


def short(e: BaseException, limit: int = 300) -> str:
  """An exception's message on one line, cut to `limit` characters."""
  text = str(e).replace("\n", " ")
  return text if len(text) <= limit else text[:limit] + "..."
