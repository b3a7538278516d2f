"""Per-environment presets: `presets(env, **overrides) -> TrainConfig`, the tuned default config of each env.

Each preset is chosen from measured return per wall-clock on the 2-core CPU dev machine (BENCHMARKS.md), with its
reason beside it. A policy family's own per-env settings live with the family (`env_config_defaults`), applied by
`with_overrides` when a preset switches to it.
"""

from __future__ import annotations

from typing import Any

from wpgjax.rl import envs, playground
from wpgjax.rl.config import TrainConfig, WPGConfig, with_overrides

__all__ = ["presets"]


# Brax SAC's temperature (τ0 = 1: log α = 0; Adam learning rate 3e-4, which its `sac.train` hard-codes; the target
# entropy −|A|/2 is set per env) and its per-sample estimator (1 action sample, closed-form entropy force).
_SAC_UPDATE = dict(tau=1.0, tau_learning_rate=3e-4, wpg=WPGConfig(num_action_samples=1, wpo_entropy_term="expected"))
# Brax SAC's small CPU recipe (16 envs, batch 256, 16 updates per env step, (64, 64)) on the generalized backend.
_SAC_CPU_RECIPE = dict(backend="generalized", num_timesteps=100_000, num_envs=16, num_evals=10, replay_size=100_000,
                       min_replay_size=1024, batch_size=256, grad_updates_per_step=16, hidden_sizes=(64, 64),
                       **_SAC_UPDATE)

_PRESETS: dict[str, dict[str, Any]] = {
    # Tuned on the 2-core CPU dev machine; see BENCHMARKS.md for the measured curves.
    "fast": dict(env="fast", episode_length=128, num_timesteps=8_192, num_envs=16, num_evals=4,
                 num_eval_envs=8, replay_size=16_384, min_replay_size=256, grad_updates_per_step=4,
                 tau=0.05, reward_scaling=10.0, discount=0.97),
    "inverted_pendulum": dict(env="inverted_pendulum", num_timesteps=20_000, num_envs=16, num_evals=10,
                              replay_size=50_000, min_replay_size=1024, batch_size=256, grad_updates_per_step=16,
                              tau=0.1, actor_learning_rate=1e-3, critic_learning_rate=1e-3, reward_scaling=1.0),
    # SAC's per-sample estimator (an update 1.20x Brax SAC's instead of 1.30x) and learning rates 6e-3 decaying
    # linearly to a tenth: over 4 seeds each, Brax SAC's 95 % line in 0.64x SAC's time to it, all 4 ending at the
    # maximum (constant 3e-3: 0.84x; constant 6e-3 reached it sooner in a sweep, but a seed fell to 286 at the end;
    # BENCHMARKS.md §16).
    "inverted_double_pendulum": dict(env="inverted_double_pendulum", num_timesteps=60_000, num_envs=16, num_evals=12,
                                     replay_size=100_000, min_replay_size=2048, grad_updates_per_step=16,
                                     actor_learning_rate=6e-3, critic_learning_rate=6e-3,
                                     final_learning_rate_fraction=0.1,
                                     wpg=WPGConfig(num_action_samples=1, wpo_entropy_term="expected")),
    # Brax SAC's reacher recipe: −29.9, −19.8 against its −20.6, −32.8 (wpgjax's own: −27.5, −31.7; BENCHMARKS.md §12).
    "reacher": dict(env="reacher", num_timesteps=100_000, num_envs=32, num_evals=10, replay_size=200_000,
                    min_replay_size=8192, batch_size=256, grad_updates_per_step=16, hidden_sizes=(256, 256),
                    actor_learning_rate=6e-4, critic_learning_rate=6e-4, reward_scaling=5.0, discount=0.95,
                    target_entropy=-1.0, **_SAC_UPDATE),
    # generalized, Brax SAC's update settings, 16 envs, (64, 64): 3,353 and 11,156 (32 envs and (256, 256): 3,725 and
    # 5,712) against SAC's 2,663 and 493 (wpgjax's own settings: 108 % of SAC's on spring, 65 % here; §12).
    "halfcheetah": dict(env="halfcheetah", backend="generalized", num_timesteps=100_000 - 8192, num_envs=16,
                        num_evals=10, replay_size=300_000, min_replay_size=8192, batch_size=256,
                        grad_updates_per_step=16, hidden_sizes=(64, 64), actor_learning_rate=6e-4,
                        critic_learning_rate=6e-4, target_entropy=-3.0, **_SAC_UPDATE),
    "multimodal_bandit": dict(env="multimodal_bandit", policy="particle", episode_length=1, num_timesteps=20_000,
                              num_envs=16, num_evals=4, num_eval_envs=4, replay_size=20_000, min_replay_size=512,
                              batch_size=64, grad_updates_per_step=4, tau=0.1, tune_tau=False,
                              normalize_observations=False,
                              wpg=WPGConfig(projection="amortized", num_action_samples=8, refine_steps=12,
                                            refine_method="mala", refine_step_size=0.4,
                                            amortized_control_variate=0.0)),  # 12 steps mix: the plain fit
    # Brax SAC's CPU recipe on generalized physics (on spring neither agent learns hopper in 100k steps): 7 of 8
    # runs hop, mean 2,852 against Brax SAC's 2,239 (τ learning rate 3e-4: with 1e-3, 3 of 6; BENCHMARKS.md §12).
    "hopper": dict(env="hopper", target_entropy=-1.5, **_SAC_CPU_RECIPE),
    # The hopper recipe unchanged: 109 % of Brax SAC's mean final return over seeds 0–3 (BENCHMARKS.md §12).
    "walker2d": dict(env="walker2d", target_entropy=-3.0, **_SAC_CPU_RECIPE),
    # The hopper recipe unchanged: both seeds above Brax SAC's 95 % line at 100k, mean 114 % (BENCHMARKS.md §12).
    "swimmer": dict(env="swimmer", target_entropy=-1.0, **_SAC_CPU_RECIPE),
    # The hopper recipe unchanged: above Brax SAC's 95 % line by the mean of seeds 0–1 (BENCHMARKS.md §12).
    "pusher": dict(env="pusher", target_entropy=-3.5, **_SAC_CPU_RECIPE),
    # The hopper recipe unchanged: both seeds above both of Brax SAC's at 100k (BENCHMARKS.md §12).
    "ant": dict(env="ant", target_entropy=-4.0, **_SAC_CPU_RECIPE),
    # The hopper recipe unchanged; both at the start of learning at 100k: 438 vs SAC's 365 (BENCHMARKS.md §12).
    "humanoid": dict(env="humanoid", target_entropy=-8.5, **_SAC_CPU_RECIPE),
}

# Playground's DM Control SAC recipe (relu, LayerNorm Q networks, lr 1e-3, γ 0.99, min replay 8192) at Brax's CPU
# scale (16 envs, batch 256, 16 updates per env step, (64, 64)), Brax SAC's τ and estimator, MJX, 100k env steps: the
# Gaussian agent ends at 90–173 % of SAC's (at Playground's own scale both were at the start of learning; §14).
_PLAYGROUND_SAC_RECIPE = dict(backend="mjx", num_timesteps=100_000, num_envs=16, num_evals=10, replay_size=100_000,
                              min_replay_size=8192, batch_size=256, grad_updates_per_step=16, hidden_sizes=(64, 64),
                              critic_layer_norm=True, activation="relu", **_SAC_UPDATE)
# The Gaussian agent's DM Control preset: that recipe without the critic's LayerNorm, which made an update 1.7x as
# long (1.55 against 0.89 ms on ReacherEasy) and did not help its returns at 100k env steps (BENCHMARKS.md §14).
_DM_CONTROL_RECIPE = dict(_PLAYGROUND_SAC_RECIPE, critic_layer_norm=False)


def _default_preset(env: str) -> dict[str, Any]:
  """The defaults with env set; for a DM Control task, the Playground SAC recipe, its time limit, action repeat
  and SAC's target entropy −|A|/2."""
  if not playground.is_playground_name(env):
    return dict(env=env)
  episode_length, action_repeat = playground.time_limit(env)
  return dict(env=env, episode_length=episode_length, action_repeat=action_repeat,
              target_entropy=-0.5 * playground.action_size(env), **_DM_CONTROL_RECIPE)


def presets(env: str, **overrides: Any) -> TrainConfig:
  """The tuned default config for `env` (any registered env name; envs without a tuned preset get the defaults
  with env set), with keyword overrides (dotted wpg fields as with_overrides keys via **{"wpg.x": v}; a new
  `policy` brings its family's defaults and its settings for the env, see `with_overrides`)."""
  envs.check_env_name(env)
  base = TrainConfig(**_PRESETS.get(env, _default_preset(env)))
  return with_overrides(base, overrides) if overrides else base
