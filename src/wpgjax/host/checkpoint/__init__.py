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

Parts: `version` (format, version, the error type), `codec` (trees <-> path-keyed leaves, PRNG keys),
`validation` (against the restore template), `integrity` (checksums), `run_info` (``config.json`` beside the
checkpoints: `write_run_info` / `read_run_info` / `check_run_info`), and `manager` (`Checkpointer`: orbax
wiring and retention).
"""

from wpgjax.host.checkpoint.codec import tree_paths
from wpgjax.host.checkpoint.manager import Checkpointer
from wpgjax.host.checkpoint.run_info import RUN_INFO_FILE, check_run_info, read_run_info, write_run_info
from wpgjax.host.checkpoint.version import FORMAT, CheckpointError, package_version
from wpgjax.host.files import write_json_atomic

__all__ = [
    "FORMAT", "CheckpointError", "Checkpointer", "package_version", "write_run_info", "read_run_info",
    "check_run_info", "write_json_atomic", "tree_paths", "RUN_INFO_FILE",
]
