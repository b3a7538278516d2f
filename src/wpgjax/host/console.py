"""What a run shows and hears on the console: messages and the progress bar (stderr), and SIGINT/SIGTERM turned
into a stop flag checked between steps."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any, Callable

from wpgjax.rl.config import TrainConfig

__all__ = ["Say", "make_bar", "StopFlag"]


class Say:
  """Messages to stderr (through the progress bar when one is shown)."""

  def __init__(self, verbose: bool):
    self.verbose = verbose
    self.bar = None

  def __call__(self, message: str) -> None:
    if not self.verbose:
      return
    if self.bar is not None:
      self.bar.write(message, file=sys.stderr)
    else:
      print(message, file=sys.stderr, flush=True)


def make_bar(enabled: bool, config: TrainConfig, initial: int):
  """A tqdm bar over the run's env steps (None when not enabled)."""
  if not enabled:
    return None
  try:  # a notebook widget when ipywidgets is there, plain text otherwise (tqdm.auto would warn)
    import ipywidgets  # noqa: F401
    from tqdm.auto import tqdm
  except ImportError:
    from tqdm import tqdm

  return tqdm(total=config.total_env_steps, initial=initial, unit="step", unit_scale=True, dynamic_ncols=True,
              desc=f"{config.env}", file=sys.stderr, smoothing=0.3, mininterval=0.5)


class StopFlag:
  """Turns the first SIGINT/SIGTERM into a flag checked between epochs; a second SIGINT aborts at once.
  The handlers installed before are restored on exit."""

  def __init__(self, enabled: bool, say: Callable[[str], None]):
    self.enabled = enabled and threading.current_thread() is threading.main_thread()
    self.say = say
    self.signal: str | None = None
    self._previous: dict[int, Any] = {}

  def __enter__(self) -> "StopFlag":
    if self.enabled:
      for sig in (signal.SIGINT, signal.SIGTERM):
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame) -> None:
    if self.signal is not None and signum == signal.SIGINT:
      signal.signal(signal.SIGINT, signal.default_int_handler)
      raise KeyboardInterrupt
    self.signal = signal.Signals(signum).name
    self.say(f"{self.signal} received: stopping with a checkpoint once the current step (compile, or epoch of "
             "training) is done; press Ctrl-C again to abort without saving")

  def __exit__(self, *exc) -> None:
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
