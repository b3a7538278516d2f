"""The `wpgjax` command line: help for every command and option, usage errors, and train -> resume -> eval
and sweep end to end on a tiny budget in a temp dir (in-process, so the compiled programs are shared with
tests/host/test_runner.py; the subprocess tests at the end are marked slow)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from wpgjax.host import cli

TINY = ["--env", "fast", "--set", "num_timesteps=2048", "--set", "num_evals=3", "--set", "min_replay_size=256"]
QUIET = ["--no-progress", "--quiet"]


def test_help_explains_every_command_and_option(capsys):
  parser = cli.build_parser()
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["--help"])
  assert exit_info.value.code == 0
  out = capsys.readouterr().out
  for command in ("train", "sweep", "eval"):
    assert command in out
  assert "wpgjax train --env inverted_pendulum --workdir runs/ip" in out
  subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
  assert set(subparsers.choices) == {"train", "sweep", "eval"}
  for name, sub in subparsers.choices.items():
    for action in sub._actions:
      assert action.help and len(action.help) > 10, (name, action.option_strings)
    with pytest.raises(SystemExit):
      cli.main([name, "--help"])
    text = capsys.readouterr().out
    assert "exit status" in text
    if name != "eval":
      assert "wpg.step_size" in text and "sweepable with --grid" in text


def test_console_script_is_installed_and_help_is_quick():
  from importlib.metadata import entry_points

  scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
  assert scripts.get("wpgjax") == "wpgjax.host.cli:main"
  start = time.perf_counter()
  out = subprocess.run([sys.executable, "-m", "wpgjax.host.cli", "train", "--help"], capture_output=True, text=True,
                       timeout=120)
  assert out.returncode == 0 and "--resume" in out.stdout and "Failed to import warp" not in out.stdout
  assert time.perf_counter() - start < 60


@pytest.mark.parametrize("argv, code, message", [
    (["train", "--workdir", "w"], 2, "--env is required for a new run"),
    (["train", "--env", "fast", "--workdir", "w", "--seeds", "two"], 2, "--seeds expects a number"),
    (["train", "--env", "fast", "--workdir", "w", "--set", "tau"], 2, "--set expects KEY=VALUE"),
    (["train", "--env", "fast", "--workdir", "w", "--time-limit", "soon"], 2, "--time-limit expects a duration"),
    (["sweep", "--env", "fast", "--workdir", "w"], 2, "sweep needs at least one --grid"),
    (["sweep", "--env", "fast", "--workdir", "w", "--grid", "tau=a,b"], 2, "expects comma-separated numbers"),
    (["train", "--env", "fast", "--workdir", "w", "--set", "taux=1"], 1, "unknown config field 'taux'"),
    (["train", "--env", "fast", "--workdir", "w", "--set", "tau=-1"], 1, "TrainConfig.tau must be a finite number > 0"),
    (["eval", "--workdir", "w"], 1, "does not hold a wpgjax run"),
    (["eval", "--workdir", "w", "--step", "last"], 2, "--step expects latest, best or a number"),
])
def test_usage_errors_are_one_clear_line(argv, code, message, capsys, tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  assert cli.main(argv) == code
  err = capsys.readouterr().err
  assert message in err and "Traceback" not in err
  assert not os.path.exists(tmp_path / "w")


def test_show_config_prints_the_resolved_config(capsys, tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  assert cli.main(["train", *TINY, "--set", "wpg.step_size=0.3", "--seeds", "3", "--workdir", "unused",
                   "--show-config"]) == 0
  shown = json.loads(capsys.readouterr().out)
  assert shown["config"]["num_timesteps"] == 2048 and shown["config"]["wpg"]["step_size"] == 0.3
  assert [r["seed"] for r in shown["runs"]] == [0, 1, 2] and shown["replay_mib_per_run"] > 0
  assert not os.path.exists("unused")


def test_train_resume_eval_end_to_end(tmp_path, capsys, quick_compiles):
  workdir = str(tmp_path / "run")
  assert cli.main(["train", *TINY, "--seeds", "2", "--workdir", workdir, "--stop-after-evals", "1", *QUIET]) == 0
  out = capsys.readouterr().out
  assert "stopped early (stop_after_evals=1) after 1/3 evaluations" in out and "--resume" in out

  assert cli.main(["train", "--workdir", workdir, "--resume", *QUIET]) == 0
  out = capsys.readouterr().out
  assert "final return" in out and "wpgjax eval --workdir" in out
  rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  assert len(rows) == 6 and rows[-1]["env_steps"] == 2272

  assert cli.main(["eval", "--workdir", workdir, "--episodes", "4", "--json"]) == 0
  result = json.loads(capsys.readouterr().out)
  assert result["step"] == 2272 and result["episodes"] == 4 and len(result["mean"]) == 2
  assert all(0 < m <= 143.2 for m in result["mean"])

  assert cli.main(["eval", "--workdir", workdir, "--episodes", "4", "--step", "best"]) == 0
  out = capsys.readouterr().out
  assert "return (mean ± std)" in out and "over runs:" in out

  # Never overwrite; never resume with other settings; no viewer for a physics-less env.
  assert cli.main(["train", *TINY, "--workdir", workdir]) == 1
  assert "already holds a run" in capsys.readouterr().err
  assert cli.main(["train", "--workdir", workdir, "--resume", "--set", "tau=0.5"]) == 1
  assert "config.tau: saved 0.05, requested 0.5" in capsys.readouterr().err
  assert cli.main(["eval", "--workdir", workdir, "--render", str(tmp_path / "r.html")]) == 1
  assert "no physics system to render" in capsys.readouterr().err


def test_sweep_runs_the_grid_as_one_program(tmp_path, capsys):
  workdir = str(tmp_path / "sweep")
  assert cli.main(["sweep", *TINY, "--grid", "tau=0.02,0.2", "--seeds", "1", "--workdir", workdir,
                   "--stop-after-evals", "1", "--no-tensorboard", *QUIET]) == 0
  out = capsys.readouterr().out
  assert "tau=0.02" in out and "tau=0.2" in out
  info = json.load(open(os.path.join(workdir, "config.json")))
  assert info["runs"] == [{"seed": 0, "tau": 0.02}, {"seed": 0, "tau": 0.2}]
  assert os.path.exists(os.path.join(workdir, "learning_curve.png"))
  assert not os.path.exists(os.path.join(workdir, "tensorboard"))
  # --overwrite starts afresh.
  assert cli.main(["sweep", *TINY, "--grid", "tau=0.02,0.2", "--seeds", "1", "--workdir", workdir, "--overwrite",
                   "--stop-after-evals", "1", *QUIET]) == 0


def _wpgjax(*args):
  return [sys.executable, "-m", "wpgjax.host.cli", *args]


@pytest.mark.slow
def test_ctrl_c_in_a_real_process_saves_a_checkpoint_and_resumes(tmp_path):
  workdir = str(tmp_path / "run")
  process = subprocess.Popen(_wpgjax("train", *TINY, "--seeds", "2", "--workdir", workdir, "--no-progress"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 300
  while not os.path.exists(os.path.join(workdir, "config.json")) and time.time() < deadline:
    time.sleep(0.2)
  time.sleep(1.0)
  process.send_signal(signal.SIGINT)
  out, err = process.communicate(timeout=300)
  assert process.returncode == cli.EXIT_INTERRUPTED, err
  assert "SIGINT received" in err and "continue with: wpgjax train" in out
  resumed = subprocess.run(_wpgjax("train", "--workdir", workdir, "--resume", "--no-progress"),
                           capture_output=True, text=True, timeout=600)
  assert resumed.returncode == 0, resumed.stderr
  assert json.load(open(os.path.join(workdir, "summary.json")))["complete"]


@pytest.mark.slow
def test_quick_start_on_inverted_pendulum_with_render(tmp_path):
  workdir = str(tmp_path / "ip")
  out = subprocess.run(_wpgjax("train", "--env", "inverted_pendulum", "--set", "num_timesteps=4096",
                               "--set", "num_evals=2", "--workdir", workdir, "--no-progress"),
                       capture_output=True, text=True, timeout=900)
  assert out.returncode == 0, out.stderr
  html = str(tmp_path / "rollout.html")
  out = subprocess.run(_wpgjax("eval", "--workdir", workdir, "--episodes", "4", "--render", html),
                       capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr
  assert "rollout viewer written" in out.stdout and "<html" in open(html).read()
