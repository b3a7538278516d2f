"""benchmarks/compare_agents.py without training: the threshold, the table, and resuming (rows already in the
JSON are skipped, other settings are refused). The runs themselves are measured, not tested (BENCHMARKS.md)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]


def _load():
  sys.path.insert(0, str(_ROOT))
  spec = importlib.util.spec_from_file_location("compare_agents", _ROOT / "benchmarks" / "compare_agents.py")
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod


def _run(agent, seed, final, curve, env="inverted_pendulum"):
  return dict(env=env, agent=agent, seed=seed, env_steps=curve[-1][0], final_eval_return=final, curve=curve,
              compile_estimate_s=10.0, seconds_per_update=2e-3, total_wall_s=curve[-1][2], algo=agent,
              system=dict(load_avg_start=[1.0, 1.0, 1.0], load_avg_end=[2.0, 1.0, 1.0],
                          compilation_cache_start=dict(dir=None, entries=None, state="cold")))


def _payload(ca, settings):
  runs = [
      _run("sac", 0, 1000.0, [[0, 990.0, 5.0], [1000, 500.0, 20.0], [3000, 1000.0, 30.0]]),
      _run("sac", 1, 800.0, [[0, 10.0, 5.0], [1000, 900.0, 20.0], [3000, 800.0, 30.0]]),
      _run("gaussian", 0, 950.0, [[1000, 100.0, 12.0], [3000, 950.0, 25.0]]),
      _run("particle", 0, 10.0, [[1000, 5.0, 12.0], [3000, 10.0, 25.0]]),
  ]
  return dict(meta=dict(command="python benchmarks/compare_agents.py"), envs={"inverted_pendulum": settings},
              runs=runs)


def test_threshold_table_and_resume(tmp_path):
  ca = _load()
  settings = ca.env_settings("inverted_pendulum", 3000, None, 1000)
  payload = _payload(ca, settings)
  assert ca.threshold(payload["runs"], "inverted_pendulum") == pytest.approx(0.95 * 900.0)
  assert ca.threshold([dict(env="reacher", agent="sac", final_eval_return=-4.0)], "reacher") == pytest.approx(-4.2)
  rows = {(r["agent"], r["seed"]): r for r in ca.summarize(payload)["inverted_pendulum"]["rows"]}
  # SAC's untrained evaluation at step 0 (990 >= 855) does not count: seed 0 reaches the threshold at 3000.
  assert rows[("sac", 0)]["steps_to_threshold"] == 3000 and rows[("sac", 1)]["steps_to_threshold"] == 1000
  assert rows[("gaussian", 0)]["steps_to_threshold"] == 3000 and rows[("gaussian", 0)]["wall_to_threshold_s"] == 25.0
  assert rows[("particle", 0)]["steps_to_threshold"] is None
  # The mean time to the line with the runs that missed it counted at their whole run: a bound where any missed.
  bounds = ca.summarize(payload)["inverted_pendulum"]["wall_bounds"]
  assert bounds == {"particle": (25.0, True), "gaussian": (25.0, False), "sac": (25.0, False)}
  missed = _run("sac", 2, 0.0, [[1000, 0.0, 20.0], [3000, 0.0, 40.0]])
  assert ca.summarize(dict(payload, runs=payload["runs"] + [missed]))["inverted_pendulum"]["wall_bounds"]["sac"] == (
      pytest.approx((30.0 + 20.0 + 40.0) / 3), True)

  out = tmp_path / "agents"
  out.with_suffix(".json").write_text(json.dumps(payload))
  # Every requested row is in the JSON: nothing runs (a run would need minutes), the table is rewritten.
  assert ca.main(["--envs", "inverted_pendulum", "--timesteps", "3000", "--seeds", "0", "--out", str(out),
                  "--quiet"]) == 0
  saved = json.loads(out.with_suffix(".json").read_text())
  assert len(saved["runs"]) == 4 and len(saved["meta"]["commands"]) == 1
  table = out.with_suffix(".md").read_text()
  assert "### inverted_pendulum: 3,000 env steps" in table
  assert "| particle | 0 | 3,000 | 10.0 | not reached | - |" in table
  assert "| gaussian | 0 | 3,000 | 950.0 | 3,000 | 25.0 |" in table
  assert "| **sac** | mean ± std | | 900.0 ± 100.0 | 2/2 reached |" in table
  assert "counted at its whole run" in table and "particle ≥ 25.0; gaussian 25.0; sac 25.0." in table
  # Other settings for an env already in the JSON are refused.
  with pytest.raises(SystemExit):
    ca.main(["--envs", "inverted_pendulum", "--timesteps", "4000", "--seeds", "0", "--out", str(out)])
