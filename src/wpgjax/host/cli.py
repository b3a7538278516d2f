"""The `wpgjax` command line: train, sweep and eval WPG actor-critic runs on Brax.

    wpgjax train --env inverted_pendulum --workdir runs/ip
    wpgjax train --env halfcheetah --seeds 8 --set tau=0.05 --set wpg.step_size=0.1 --workdir runs/hc
    wpgjax train --workdir runs/hc --resume
    wpgjax eval --workdir runs/hc --render rollout.html
    wpgjax sweep --env reacher --seeds 4 --grid tau=0.01,0.1 --workdir runs/sweep

Heavy imports (JAX, Brax, orbax) happen only once a command runs, so `--help` is quick.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import textwrap
from typing import Sequence

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _env_names() -> tuple[str, ...]:
  """The Brax env names --env accepts: the registry of `wpgjax.rl` (never a copy kept here). DM Control
  tasks ("dm_control/<Task>") are checked when parsed, so that the help does not import MuJoCo Playground."""
  from wpgjax.rl.envs import brax_env_names

  return tuple(brax_env_names())


def _env_name(text: str) -> str:
  """argparse type of --env: a registered name, else the registry's error (which names the missing extra)."""
  from wpgjax.rl.envs import check_env_name

  try:
    check_env_name(text, "--env")
  except ValueError as e:
    raise argparse.ArgumentTypeError(str(e)) from None
  return text


def _config_epilog() -> str:
  """The config fields a --set/--grid can name, with their defaults (read from TrainConfig itself)."""
  try:
    import dataclasses

    from wpgjax.rl.config import SWEEPABLE_FIELDS, TrainConfig, WPGConfig
  except Exception:  # pragma: no cover - help must work even if the stack is broken
    return ""
  default = TrainConfig()
  fields = [f"{f.name}={getattr(default, f.name)!r}" for f in dataclasses.fields(TrainConfig) if f.name != "wpg"]
  fields += [f"wpg.{f.name}={getattr(default.wpg, f.name)!r}" for f in dataclasses.fields(WPGConfig)]
  wrap = lambda text: textwrap.fill(text, width=100, initial_indent="  ", subsequent_indent="  ")
  return ("config fields for --set KEY=VALUE (generic defaults; each --env preset tunes some of them):\n"
          + wrap(", ".join(fields)) + "\n\nsweepable with --grid (vmapped, one compile for the whole grid):\n"
          + wrap(", ".join(SWEEPABLE_FIELDS)) + "\n")


_EXIT_CODES = textwrap.dedent(f"""\
    Set WPGJAX_DEBUG=1 to see full tracebacks of errors.
    exit status: {EXIT_OK} done (or stopped by --stop-after-evals/--time-limit with a checkpoint),
      {EXIT_ERROR} error (bad config, existing/mismatched/corrupt run), {EXIT_USAGE} bad command line,
      {EXIT_DIVERGED} training diverged (NaN/Inf; the last good checkpoint is kept),
      {EXIT_INTERRUPTED} stopped by Ctrl-C/SIGTERM after saving a checkpoint (resume with --resume).
    """)


class _Formatter(argparse.RawDescriptionHelpFormatter):
  """Keeps the descriptions' line breaks and appends "(default: X)" where a default is worth showing."""

  def _get_help_string(self, action):
    text = action.help or ""
    default = action.default
    trivial = default is None or isinstance(default, bool) or default == [] or default == ""
    if ("%(default)" not in text and action.option_strings and not trivial
        and default is not argparse.SUPPRESS and "[default" not in text):
      text += " (default: %(default)s)"
    return text


def _add_run_options(p: argparse.ArgumentParser, *, sweep: bool) -> None:
  _add_what_options(p, sweep=sweep)
  _add_where_options(p)
  _add_control_options(p)
  _add_process_options(p)


def _add_process_options(p: argparse.ArgumentParser) -> None:
  many = p.add_argument_group(
      "many processes (jax.distributed)",
      "Start the same command once per process (same --workdir on a shared filesystem); the runs are sharded "
      "over every process's devices and process 0 writes the combined metrics, summary and plots.")
  many.add_argument("--distributed", action="store_true",
                    help="join a multi-process run: auto-detects TPU pods, SLURM and Open MPI/Kubernetes "
                         "environments, or takes the three options below")
  many.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                    help="address of process 0's coordination service (process 0 listens on PORT)")
  many.add_argument("--num-processes", type=int, default=None, metavar="N", help="number of processes")
  many.add_argument("--process-id", type=int, default=None, metavar="I", help="this process, in 0..N-1")
  many.add_argument("--heartbeat-timeout", type=int, default=60, metavar="S",
                    help="seconds after which a process that stopped responding ends all the others")
  many.add_argument("--init-timeout", type=int, default=300, metavar="S",
                    help="seconds to wait for every process to join (and at each barrier)")


def _distributed_spec(args):
  """False, or the DistributedSpec of --distributed and its options (a usage error names what is missing)."""
  given = [name for name in ("coordinator", "num_processes", "process_id") if getattr(args, name) is not None]
  if not args.distributed:
    if given:
      raise _UsageError(f"--{given[0].replace('_', '-')} needs --distributed")
    return False
  from wpgjax.rl.distributed import DistributedError, DistributedSpec

  try:
    return DistributedSpec(args.coordinator, args.num_processes, args.process_id,
                           heartbeat_timeout=args.heartbeat_timeout, init_timeout=args.init_timeout)
  except DistributedError as e:
    raise _UsageError(str(e)) from None


def _add_what_options(p: argparse.ArgumentParser, *, sweep: bool) -> None:
  env_names = _env_names()
  what = p.add_argument_group("what to train")
  what.add_argument("--env", type=_env_name, metavar="ENV",
                    help="environment; its tuned preset is the starting config. A Brax env (one of: "
                         + ", ".join(env_names) + ") or a DM Control suite task dm_control/<Task>, e.g. "
                         "dm_control/CartpoleSwingup (needs the playground extra). Required for a new run; "
                         "taken from the workdir with --resume.")
  what.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override one config field (repeatable), e.g. --set tau=0.05 --set wpg.step_size=0.1 "
                         "--set hidden_sizes=256,256; fields are listed below")
  what.add_argument("--seeds", default=None, metavar="N|LIST",
                    help="number of seeds (N runs with seeds FIRST..FIRST+N-1) or a comma-separated list of "
                         "seeds; all seeds run together as one vmapped program [default: 1 seed]")
  what.add_argument("--first-seed", type=int, default=0, metavar="FIRST",
                    help="first seed when --seeds is a number (given alone: train that one seed)")
  if sweep:
    what.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                      help="hyperparameter values to sweep (repeatable; grids are crossed with each other and "
                           "with the seeds); KEY must be sweepable (listed below). Required for a new sweep")


def _add_where_options(p: argparse.ArgumentParser) -> None:
  where = p.add_argument_group("where and how to save")
  where.add_argument("--workdir", required=True, metavar="DIR",
                     help="run folder: config.json, checkpoints/, metrics.csv/.jsonl, tensorboard/, "
                          "learning_curve.png, diagnostics.png, summary.json")
  where.add_argument("--resume", action="store_true",
                     help="continue the run in --workdir from its latest checkpoint (ends bitwise where the "
                          "uninterrupted run would, on CPU); other options must match the saved run")
  where.add_argument("--overwrite", action="store_true",
                     help="delete a previous run's files in --workdir and start afresh (without it an "
                          "existing run is never overwritten)")
  where.add_argument("--keep-last", type=int, default=3, metavar="K", help="most recent checkpoints to keep")
  where.add_argument("--keep-best", type=int, default=1, metavar="K",
                     help="also keep the K checkpoints with the highest mean evaluation return (0: none)")
  where.add_argument("--checkpoint-every", type=int, default=1, metavar="N",
                     help="checkpoint every N evaluations (the last one and any stop always checkpoint)")
  where.add_argument("--no-replay-in-checkpoint", dest="save_replay", action="store_const", const=False,
                     default=None,
                     help="leave the replay buffer out of checkpoints (smaller files; a resumed run then "
                          "refills it with random actions and is no longer bitwise reproducible)")


def _add_control_options(p: argparse.ArgumentParser) -> None:
  control = p.add_argument_group("run control and output")
  control.add_argument("--nan-guard", choices=("stop", "warn", "off"), default="stop",
                       help="on a NaN/Inf metric or parameter: stop naming the metric and step (keeping the "
                            "last good checkpoint), warn and continue, or do nothing")
  control.add_argument("--stop-after-evals", type=int, default=None, metavar="N",
                       help="stop after N evaluations in this invocation, with a checkpoint (continue later "
                            "with --resume)")
  control.add_argument("--time-limit", default=None, metavar="DURATION",
                       help="stop with a checkpoint after the evaluation that crosses this wall time, e.g. "
                            "3600, 90m, 2h (for preemptible jobs; continue with --resume)")
  control.add_argument("--no-progress", dest="progress", action="store_false",
                       help="no progress bar (messages still go to stderr)")
  control.add_argument("--plot-interval", type=float, default=30.0, metavar="S",
                       help="seconds between refreshes of the PNG plots during the run (each costs ~1-2 s on a "
                            "small CPU; the final plots are always written)")
  control.add_argument("--no-plot", dest="plot", action="store_false",
                       help="do not write learning_curve.png / diagnostics.png")
  control.add_argument("--no-tensorboard", dest="tensorboard", action="store_false",
                       help="do not write TensorBoard event files")
  control.add_argument("--quiet", action="store_true", help="only errors and the final summary")
  control.add_argument("--compile-cache", default=None, metavar="DIR",
                       help="JAX's persistent compilation cache folder: a later run of the same config loads its "
                            "programs instead of compiling them. Default: $WPGJAX_COMPILE_CACHE, else "
                            "~/.cache/wpgjax/xla-<jaxlib version>-<CPU type> (one folder per CPU type: XLA:CPU "
                            "programs compiled on one CPU may crash on another)")
  control.add_argument("--no-compile-cache", action="store_true",
                       help="compile everything afresh and store nothing (also: WPGJAX_COMPILE_CACHE=off)")
  control.add_argument("--show-config", action="store_true",
                       help="print the resolved config as JSON (with runs and replay memory) and exit")


# The commands that train: (name, sweep?, one-line help, description).
_RUN_COMMANDS = (
    ("train", False, "train WPG on a Brax env (progress bar, metrics, plots, checkpoints; resumable)",
     "Train the WPG actor-critic on a Brax environment, for one or several seeds vmapped into one program. "
     "Ctrl-C finishes the current evaluation period, saves a checkpoint and exits; `--resume` continues exactly "
     "where it stopped."),
    ("sweep", True, "train a grid of hyperparameters x seeds as one vmapped program",
     "Train every combination of the --grid values and the seeds together (one compile, vmapped and sharded over "
     "the available devices); learning_curve.png shows each grid point's mean and spread over seeds and the "
     "final summary compares them."),
)


def build_parser() -> argparse.ArgumentParser:
  """The argparse parser of `wpgjax` (every option has a help text)."""
  from importlib.metadata import PackageNotFoundError, version

  try:
    package_version = version("wpgjax")
  except PackageNotFoundError:  # pragma: no cover
    package_version = "unknown"
  parser = argparse.ArgumentParser(
      prog="wpgjax", formatter_class=_Formatter,
      description=_wrap("Wasserstein Policy Gradient actor-critic on Brax: train (one or many seeds, vmapped), sweep "
                  "hyperparameters, resume and evaluate runs. Each command saves everything it needs in "
                  "--workdir."),
      epilog=textwrap.dedent("""\
          examples:
            wpgjax train --env inverted_pendulum --workdir runs/ip
            wpgjax train --env halfcheetah --seeds 8 --set tau=0.05 --set wpg.step_size=0.1 --workdir runs/hc
            wpgjax train --workdir runs/hc --resume
            wpgjax eval --workdir runs/hc --render rollout.html
            wpgjax sweep --env reacher --seeds 4 --grid tau=0.01,0.1 --workdir runs/sweep

          Run `wpgjax COMMAND --help` for the options of each command.
          """))
  parser.add_argument("--version", action="version", version=f"wpgjax {package_version}",
                      help="print the wpgjax version and exit")
  sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
  epilog = _config_epilog() + "\n" + _EXIT_CODES

  for name, is_sweep, help_text, description in _RUN_COMMANDS:
    command = sub.add_parser(name, formatter_class=_Formatter, epilog=epilog, help=help_text,
                             description=_wrap(description))
    _add_run_options(command, sweep=is_sweep)
    command.set_defaults(handler=_cmd_train)
  _add_eval_command(sub)
  return parser


def _add_eval_command(sub) -> None:
  ev = sub.add_parser(
      "eval", formatter_class=_Formatter, epilog=_EXIT_CODES,
      help="evaluate a saved policy (mean ± std return; optional Brax HTML viewer)",
      description=_wrap("Load the policy of every run saved in --workdir and run deterministic evaluation episodes; "
                  "prints the mean ± std of the episode return per run, and with --render writes Brax's HTML "
                  "viewer of one episode."))
  ev.add_argument("--workdir", required=True, metavar="DIR", help="run folder written by `wpgjax train`")
  ev.add_argument("--step", default="latest", metavar="latest|best|N",
                  help="checkpoint to load: the latest, the best (highest mean evaluation return among those "
                       "kept) or an env-step number listed in DIR/checkpoints")
  ev.add_argument("--episodes", type=int, default=16, metavar="N", help="evaluation episodes per run")
  ev.add_argument("--seed", type=int, default=0, help="seed of the episodes' initial states")
  ev.add_argument("--render", default=None, metavar="FILE.html",
                  help="also write Brax's HTML viewer of one episode (needs a physics env, not 'fast')")
  ev.add_argument("--render-run", type=int, default=0, metavar="I", help="which run (row of the table) to render")
  ev.add_argument("--json", action="store_true", help="print the results as JSON on stdout instead of a table")
  ev.set_defaults(handler=_cmd_eval)


# --------------------------------------------------------------------------------------------------------


def _wrap(text: str) -> str:
  return textwrap.fill(" ".join(text.split()), width=100)


class _UsageError(Exception):
  pass


def _parse_key_values(items: Sequence[str], what: str) -> dict[str, str]:
  out = {}
  for item in items:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
      raise _UsageError(f"{what} expects KEY=VALUE, got {item!r}")
    out[key.strip()] = value.strip()
  return out


def _parse_seeds(text: str | None, first: int) -> list[int] | None:
  if text is None:
    return None if first == 0 else [first]
  text = text.strip()
  try:
    if "," in text:
      return [int(s) for s in text.split(",") if s.strip()]
    n = int(text)
  except ValueError:
    raise _UsageError(f"--seeds expects a number of seeds or a comma-separated list, got {text!r}") from None
  if n < 1:
    raise _UsageError(f"--seeds must be at least 1, got {n}")
  return list(range(first, first + n))


def _parse_duration(text: str | None) -> float | None:
  if text is None:
    return None
  match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smh]?)\s*", text)
  if not match:
    raise _UsageError(f"--time-limit expects a duration such as 3600, 90m or 2h, got {text!r}")
  return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def _parse_grid(items: Sequence[str]) -> dict[str, list[float]]:
  grid = {}
  for key, values in _parse_key_values(items, "--grid").items():
    try:
      grid[key] = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
      raise _UsageError(f"--grid {key} expects comma-separated numbers, got {values!r}") from None
  return grid


def _setup_compile_cache(args) -> None:
  """The persistent compilation cache (on unless --no-compile-cache or WPGJAX_COMPILE_CACHE=off), and stderr
  without the two lines jaxlib logs for every program it loads from it (see `wpgjax.host.compile_cache`)."""
  from wpgjax.host import compile_cache

  directory = compile_cache.resolve_directory(args.compile_cache, args.no_compile_cache)
  if directory is not None and compile_cache.enable(directory):
    compile_cache.filter_known_cache_messages()


def _quiet_libraries() -> None:
  import logging
  import warnings

  warnings.filterwarnings("ignore", message=".*Brax System, piplines and environments.*")
  warnings.filterwarnings("ignore", category=DeprecationWarning)
  for name in ("absl", "orbax", "jax._src.xla_bridge"):
    logging.getLogger(name).setLevel(logging.ERROR)
  try:
    from absl import logging as absl_logging
    absl_logging.set_verbosity(absl_logging.ERROR)
  except ImportError:  # pragma: no cover
    pass


def _cmd_train(args) -> int:
  overrides = _parse_key_values(args.overrides, "--set")
  seeds = _parse_seeds(args.seeds, args.first_seed)
  grid = _parse_grid(getattr(args, "grid", []))
  time_limit = _parse_duration(args.time_limit)
  if not args.resume and args.env is None:
    raise _UsageError("--env is required for a new run (or pass --resume to continue the run in --workdir)")
  if args.command == "sweep" and not args.resume and not grid:
    raise _UsageError("sweep needs at least one --grid KEY=V1,V2,... (use `wpgjax train` for seeds only)")
  if args.resume and args.overwrite:
    raise _UsageError("--resume and --overwrite exclude each other")
  distributed = _distributed_spec(args)

  _quiet_libraries()
  _setup_compile_cache(args)
  from wpgjax.host import runner
  from wpgjax.host.checkpoint import CheckpointError, read_run_info
  from wpgjax.rl.config import config_from_dict, config_to_dict, with_overrides
  from wpgjax.rl.presets import presets
  from wpgjax.rl.sweep import sweep_grid

  if args.resume:
    info = read_run_info(args.workdir)
    saved = config_from_dict(info["config"])
    if args.env is not None and args.env != saved.env:
      raise CheckpointError(f"--env {args.env} does not match the saved run's env {saved.env!r}")
    config = with_overrides(saved, overrides) if overrides else saved
  else:
    config = with_overrides(presets(args.env), overrides) if overrides else presets(args.env)
  if args.show_config:
    from wpgjax.rl.envs import make_env

    env = make_env(config.env, backend=config.backend)
    runs, _ = sweep_grid(config, seeds or [0], grid)
    print(json.dumps({"config": config_to_dict(config), "runs": runs,
                      "total_env_steps_per_run": config.total_env_steps,
                      "replay_mib_per_run": round(config.replay_memory_bytes(
                          env.observation_size, env.action_size) / 2**20, 2)}, indent=2))
    return EXIT_OK
  result = runner.run(
      config, args.workdir, seeds=seeds, grid=grid or None, resume=args.resume, overwrite=args.overwrite,
      keep_last=args.keep_last, keep_best=args.keep_best, checkpoint_every=args.checkpoint_every,
      save_replay=args.save_replay, nan_guard=args.nan_guard, stop_after_evals=args.stop_after_evals,
      time_limit=time_limit, progress=args.progress and not args.quiet, plot=args.plot,
      plot_interval=args.plot_interval,
      tensorboard=args.tensorboard, verbose=not args.quiet, summary=False, distributed=distributed)
  import jax

  if jax.process_index() != 0:
    return EXIT_INTERRUPTED if result.interrupted and (result.stop_reason or "").startswith("signal") else EXIT_OK
  print(result.summary())
  where = os.path.abspath(args.workdir)
  if result.interrupted:
    print(f"stopped early ({result.stop_reason}) after {result.evals_done}/{result.config.num_evals} evaluations;"
          f" continue with: wpgjax {args.command} --workdir {where} --resume")
    return EXIT_INTERRUPTED if (result.stop_reason or "").startswith("signal") else EXIT_OK
  print(f"results in {where} (learning_curve.png, metrics.csv); evaluate with: wpgjax eval --workdir {where}")
  return EXIT_OK


def _cmd_eval(args) -> int:
  if args.episodes < 1:
    raise _UsageError(f"--episodes must be at least 1, got {args.episodes}")
  step = args.step if args.step in ("latest", "best") else None
  if step is None:
    try:
      step = int(args.step)
    except ValueError:
      raise _UsageError(f"--step expects latest, best or a number, got {args.step!r}") from None
  _quiet_libraries()
  from wpgjax.host.evaluation import evaluate

  result = evaluate(args.workdir, step=step, episodes=args.episodes, seed=args.seed, render=args.render,
                    render_run=args.render_run)
  if args.json:
    print(json.dumps(result.to_dict()))
  else:
    print(f"checkpoint {result.step} (env steps), {result.episodes} episodes per run, deterministic policy")
    print(result.table())
    if len(result.runs) > 1:
      print(f"over runs: {float(result.mean.mean()):.2f} ± {float(result.mean.std()):.2f}")
    if result.render_path:
      print(f"rollout viewer written to {result.render_path}")
  return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
  """Entry point of the `wpgjax` console script; returns the exit status."""
  parser = build_parser()
  args = parser.parse_args(argv)
  try:
    return args.handler(args)
  except _UsageError as e:
    parser.print_usage(sys.stderr)
    print(f"wpgjax {args.command}: error: {e}", file=sys.stderr)
    return EXIT_USAGE
  except Exception as e:  # known failures get one clear line, not a traceback
    from wpgjax.host.checkpoint import CheckpointError
    from wpgjax.rl.distributed import DistributedError

    diverged = type(e).__name__ == "TrainingDivergedError"
    known = isinstance(e, (CheckpointError, DistributedError, FileExistsError, FileNotFoundError, ValueError))
    known = known or diverged
    if known and not os.environ.get("WPGJAX_DEBUG"):
      print(f"wpgjax {args.command}: error: {e}", file=sys.stderr, flush=True)
      if isinstance(e, DistributedError):  # leave before the runtime's own shutdown aborts on the lost process
        sys.stdout.flush()
        os._exit(EXIT_ERROR)
      return EXIT_DIVERGED if diverged else EXIT_ERROR
    raise
  except KeyboardInterrupt:
    print(f"wpgjax {args.command}: aborted; this interruption saved nothing (earlier checkpoints are intact)",
          file=sys.stderr)
    return EXIT_INTERRUPTED


if __name__ == "__main__":
  sys.exit(main())
