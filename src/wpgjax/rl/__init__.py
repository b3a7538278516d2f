"""wpgjax.rl — the WPG actor-critic on Brax: config, envs, networks, replay, agent losses, make_train, sweeps."""

from wpgjax.rl.config import *  # noqa: F401,F403
from wpgjax.rl.presets import presets  # noqa: F401
from wpgjax.rl.distributed import DistributedError, DistributedSpec  # noqa: F401
from wpgjax.rl.policies import PolicyParams  # noqa: F401
from wpgjax.rl.envs import *  # noqa: F401,F403
from wpgjax.rl.sweep import *  # noqa: F401,F403
from wpgjax.rl.train import *  # noqa: F401,F403
