"""Checkpoints: exact round trips (typed PRNG keys, bools, ints, excluded subtrees), keep-last/keep-best,
never overwriting, and clear errors for missing, partial, corrupt, mismatched (shape, dtype, structure,
config) and other-version checkpoints. Small synthetic trees only: no training is compiled here."""

import glob
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wpgjax.host import checkpoint as ckpt
from wpgjax.host.checkpoint import Checkpointer, CheckpointError
from wpgjax._testing import directory_digest, leaves_as_numpy

# orbax/tensorstore report failed reads from a closed event loop; harmless here.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def _tree(offset=0.0):
  keys = jax.random.split(jax.random.key(7), 3)
  return {
      "params": {"w": jnp.arange(12.0).reshape(3, 4) + offset, "b": jnp.full((4,), 0.5 + offset)},
      "opt": (jnp.int32(3), jnp.zeros((3, 4))),
      "done": jnp.array([True, False, True]),
      "key": keys,
      "replay": {"obs": jnp.ones((5, 2)) * offset},
  }


def _abstract(tree):
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), tree)


@pytest.fixture
def saved(tmp_path):
  """A checkpoint dir with steps 10, 20, 30 (scores 5, 9, 1) of _tree(step)."""
  directory = tmp_path / "ck"
  with Checkpointer(directory, keep_last=3, keep_best=1) as c:
    for step, score in ((10, 5.0), (20, 9.0), (30, 1.0)):
      c.save(step, _tree(step), meta={"config": {"tau": 0.1}, "evals_done": step // 10}, score=score)
    c.wait()
  return str(directory)


def test_round_trip_is_exact_with_typed_keys_bools_and_ints(saved):
  with Checkpointer(saved) as c:
    assert c.steps() == [10, 20, 30]
    restored, meta = c.restore(30, _abstract(_tree()), expected={"config": {"tau": 0.1}}, expected_keys=("config",))
  assert jax.dtypes.issubdtype(restored["key"].dtype, jax.dtypes.prng_key)
  assert restored["done"].dtype == jnp.bool_ and restored["opt"][0].dtype == jnp.int32
  for a, b in zip(leaves_as_numpy(restored), leaves_as_numpy(_tree(30))):
    np.testing.assert_array_equal(a, b)
  assert meta["evals_done"] == 3 and meta["step"] == 30 and meta["score"] == 1.0
  assert meta["keys"] == {"key": str(_tree()["key"].dtype)}
  # The restored key continues the same random stream.
  np.testing.assert_array_equal(jax.random.uniform(restored["key"][0], (3,)),
                                jax.random.uniform(_tree()["key"][0], (3,)))


def test_excluded_subtree_is_not_stored_and_comes_from_the_template(tmp_path):
  with Checkpointer(tmp_path / "ck") as c:
    c.save(1, _tree(2.0), exclude=["replay"], wait=True)
    template = _abstract(_tree())
    with pytest.raises(CheckpointError, match=r"does not contain 'replay/obs'"):
      c.restore(1, template)
    template["replay"] = {"obs": jnp.full((5, 2), -1.0)}
    restored, meta = c.restore(1, template)
  assert meta["excluded"] == ["replay"]
  np.testing.assert_array_equal(restored["replay"]["obs"], -1.0)
  np.testing.assert_array_equal(restored["params"]["w"], _tree(2.0)["params"]["w"])


def test_zero_size_leaves_round_trip_and_mismatches_are_named(tmp_path):
  # An MJX state holds arrays with a zero-size axis (no contacts); orbax refuses to store them.
  tree = {"w": jnp.arange(3.0), "contact": {"dist": jnp.zeros((2, 0)), "geom": jnp.zeros((2, 0, 2), jnp.int32)}}
  with Checkpointer(tmp_path / "ck") as c:
    c.save(1, tree, wait=True)
    restored, meta = c.restore(1, _abstract(tree))
    assert meta["empty"] == {"contact/dist": {"shape": [2, 0], "dtype": "float32"},
                             "contact/geom": {"shape": [2, 0, 2], "dtype": "int32"}}
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(tree)):
      assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(restored["w"], tree["w"])
    wrong = _abstract(tree)
    wrong["contact"]["dist"] = jax.ShapeDtypeStruct((3, 0), jnp.float32)
    wrong["contact"].pop("geom")
    with pytest.raises(CheckpointError, match=r"contact/dist: saved float32\[2, 0\], expected float32\[3, 0\]"
                                              r"(.|\n)*contact/geom: in the checkpoint but not in the train state"):
      c.restore(1, wrong)


def test_keep_last_and_keep_best(tmp_path):
  with Checkpointer(tmp_path / "ck", keep_last=2, keep_best=1) as c:
    for step, score in ((1, 5.0), (2, 9.0), (3, 1.0), (4, 2.0), (5, float("nan"))):
      c.save(step, _tree(), score=score)
    c.wait()
    assert c.steps() == [2, 4, 5]  # the best (step 2) and the two latest
    assert c.best_step() == 2 and c.latest_step() == 5


def test_never_overwrites_an_existing_step(saved):
  before = directory_digest(saved)
  with Checkpointer(saved) as c:
    for step in (30, 20):
      with pytest.raises(CheckpointError, match=r"refusing to save step .* never overwritten"):
        c.save(step, _tree(99.0))
  assert directory_digest(saved) == before


def test_relative_directory_is_made_absolute(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  with Checkpointer("rel/ck") as c:
    assert c.directory == str(tmp_path / "rel" / "ck")
    c.save(1, _tree(), wait=True)
  assert os.path.isdir(tmp_path / "rel" / "ck" / "1")


@pytest.mark.parametrize("change, message", [
    (lambda t: t["params"].update(w=jax.ShapeDtypeStruct((3, 5), jnp.float32)),
     r"params/w: saved float32\[3, 4\], expected float32\[3, 5\]"),
    (lambda t: t["params"].update(b=jax.ShapeDtypeStruct((4,), jnp.int32)),
     r"params/b: saved float32\[4\], expected int32\[4\]"),
    (lambda t: t["params"].update(extra=jax.ShapeDtypeStruct((2,), jnp.float32)),
     r"params/extra: missing from the checkpoint"),
    (lambda t: t["params"].pop("b"), r"params/b: in the checkpoint but not in the train state"),
    (lambda t: t.update(key=jax.ShapeDtypeStruct((3, 2), jnp.uint32)), r"key: expected a PRNG key|key"),
])
def test_mismatched_tree_is_rejected_naming_the_leaf(saved, change, message):
  template = _abstract(_tree())
  change(template)
  with Checkpointer(saved) as c, pytest.raises(CheckpointError, match=message) as info:
    c.restore(30, template)
  assert "does not match this train state" in str(info.value)


def test_other_config_is_rejected_listing_differences(saved):
  with Checkpointer(saved) as c, pytest.raises(CheckpointError, match=r"config.tau: saved 0.1, requested 0.2"):
    c.restore(30, _abstract(_tree()), expected={"config": {"tau": 0.2}}, expected_keys=("config",))


def test_missing_step_lists_available_steps(saved):
  with Checkpointer(saved) as c, pytest.raises(CheckpointError, match=r"available steps: \[10, 20, 30\]"):
    c.restore(40, _abstract(_tree()))


def test_corrupt_data_is_detected_and_left_untouched(saved):
  for path in glob.glob(os.path.join(saved, "30", "state", "**", "d", "*"), recursive=True):
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(path, "wb").write(bytes(data))
  before = directory_digest(saved)
  with Checkpointer(saved) as c:
    with pytest.raises(CheckpointError, match=r"checkpoint .*30 is corrupt"):
      c.restore(30, _abstract(_tree()))
    restored, _ = c.restore(20, _abstract(_tree()))  # the other steps are still good
  np.testing.assert_array_equal(restored["params"]["w"], _tree(20)["params"]["w"])
  assert directory_digest(saved) == before


def test_checksum_catches_silent_corruption(saved, monkeypatch):
  # Data that reads back without an I/O error but differs from what was saved (simulated by changing the
  # recorded checksums, since OCDBT's own CRCs catch most on-disk bit flips first).
  meta_file = os.path.join(saved, "30", "meta", "metadata")
  meta = json.load(open(meta_file))
  meta["fingerprint"]["params/w"][1] += 1
  json.dump(meta, open(meta_file, "w"))
  with Checkpointer(saved) as c, pytest.raises(CheckpointError, match=r"do not match their saved checksums "
                                                                       r"\(first: 'params/w'\)"):
    c.restore(30, _abstract(_tree()))


def test_partial_checkpoint_is_rejected_and_unfinished_saves_are_ignored(saved):
  os.remove(os.path.join(saved, "30", "state", "manifest.ocdbt"))
  os.makedirs(os.path.join(saved, "40.orbax-checkpoint-tmp-123", "state"))  # a save killed half-way
  with Checkpointer(saved) as c:
    assert c.steps() == [10, 20, 30]
    with pytest.raises(CheckpointError, match=r"30 is corrupt or incomplete"):
      c.restore(30, _abstract(_tree()))
  os.remove(os.path.join(saved, "20", "meta", "metadata"))
  with Checkpointer(saved) as c, pytest.raises(CheckpointError, match=r"20 is corrupt or incomplete"):
    c.restore(20, _abstract(_tree()))


@pytest.mark.parametrize("field, value, message", [
    ("wpgjax_version", "0.0.1", r"written by wpgjax 0.0.1, this is wpgjax"),
    ("format", 99, r"checkpoint format 99, this wpgjax reads format 1"),
])
def test_other_version_or_format_is_rejected(saved, field, value, message):
  meta_file = os.path.join(saved, "30", "meta", "metadata")
  meta = json.load(open(meta_file))
  meta[field] = value
  json.dump(meta, open(meta_file, "w"))
  with Checkpointer(saved) as c, pytest.raises(CheckpointError, match=message):
    c.restore(30, _abstract(_tree()))


def test_run_info_round_trip_and_errors(tmp_path):
  with pytest.raises(CheckpointError, match=r"config.json not found: .* does not hold a wpgjax run"):
    ckpt.read_run_info(tmp_path)
  written = ckpt.write_run_info(tmp_path, {"config": {"tau": 0.1, "hidden_sizes": (64, 64)}, "runs": [{"seed": 0}]})
  info = ckpt.read_run_info(tmp_path)
  assert info == written and info["config"]["hidden_sizes"] == [64, 64]
  assert info["wpgjax_version"] == ckpt.package_version() and info["format"] == ckpt.FORMAT
  ckpt.check_run_info(info, {"config": {"tau": 0.1, "hidden_sizes": [64, 64]}, "runs": [{"seed": 0}]}, "x",
                      keys=("config", "runs"))
  with pytest.raises(CheckpointError, match=r"runs: saved \[\{'seed': 0\}\], requested \[\{'seed': 1\}\]"):
    ckpt.check_run_info(info, {"config": info["config"], "runs": [{"seed": 1}]}, "x", keys=("config", "runs"))
  path = tmp_path / "config.json"
  json.dump({**info, "wpgjax_version": "9.9"}, open(path, "w"))
  with pytest.raises(CheckpointError, match=r"written by wpgjax 9.9"):
    ckpt.read_run_info(tmp_path)
  assert ckpt.read_run_info(tmp_path, check_version=False)["wpgjax_version"] == "9.9"
  path.write_text('{"config": ')
  with pytest.raises(CheckpointError, match=r"not valid JSON"):
    ckpt.read_run_info(tmp_path)
