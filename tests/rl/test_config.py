"""Config validation: every bad input fails eagerly (before any compile) with a message naming the field."""

import dataclasses

import pytest

from wpgjax.rl import config as C
from wpgjax.rl.presets import presets


@pytest.mark.parametrize("overrides, message", [
    (dict(env="halfcheeta"), r"TrainConfig.env must be one of \[.*'halfcheetah'.*\], got 'halfcheeta'"),
    (dict(backend="bullet"), r"TrainConfig.backend must be one of"),
    (dict(tau=0.0), r"TrainConfig.tau must be a finite number > 0, got 0.0"),
    (dict(tau=-1.0), r"TrainConfig.tau must be a finite number > 0"),
    (dict(tau=float("nan")), r"TrainConfig.tau must be a finite number > 0"),
    (dict(discount=1.0), r"TrainConfig.discount must be in \(0, 1\)"),
    (dict(polyak=0.0), r"TrainConfig.polyak must be in \(0, 1\]"),
    (dict(final_learning_rate_fraction=1.5), r"TrainConfig.final_learning_rate_fraction must be in \[0, 1\]"),
    (dict(final_learning_rate_fraction=-0.1), r"TrainConfig.final_learning_rate_fraction must be in \[0, 1\]"),
    (dict(batch_size=0), r"TrainConfig.batch_size must be a positive int"),
    (dict(num_envs=2.5), r"TrainConfig.num_envs must be a positive int"),
    (dict(replay_size=100, batch_size=256, min_replay_size=10),
     r"TrainConfig.replay_size must be at least batch_size \(256\)"),
    (dict(min_replay_size=10**6), r"TrainConfig.min_replay_size must be at most replay_size"),
    (dict(num_timesteps=10, num_envs=16, num_evals=10), r"TrainConfig.num_timesteps must be at least"),
    (dict(hidden_sizes=(64, 0)), r"TrainConfig.hidden_sizes must be a non-empty tuple of positive ints"),
    (dict(policy="beta"), r"TrainConfig.policy must be one of \['tanh_gaussian', 'pushforward', 'particle'\]"),
    (dict(policy="pushforward", wpg=C.WPGConfig(num_action_samples=8)),
     r"TrainConfig.wpg.projection must be 'wppg' when policy is 'pushforward'"),
    (dict(policy="pushforward", wpg=C.WPGConfig(projection="wppg")),
     r"TrainConfig.wpg.num_action_samples must be an int >= 4 when policy is 'pushforward'"),
    (dict(wpg=C.WPGConfig(projection="wppg", num_action_samples=1)),
     r"TrainConfig.wpg.num_action_samples must be an int >= 2 when wpg.projection is 'wppg'"),
    (dict(actor_learning_rate=-1e-3), r"TrainConfig.actor_learning_rate must be a finite number > 0"),
    (dict(tune_tau="yes"), r"TrainConfig.tune_tau must be a bool"),
    (dict(tune_tau=True, wpg=C.WPGConfig(entropy_regularized=False)),
     r"TrainConfig.tune_tau must be False when wpg.entropy_regularized is False"),
    (dict(target_entropy="high"), r"TrainConfig.target_entropy must be None or a finite number"),
    (dict(observation_clip=0.0), r"TrainConfig.observation_clip must be None \(not clipped\) or a finite number > 0"),
    (dict(activation="tanh"), r"TrainConfig.activation must be one of \['swish', 'relu'\], got 'tanh'"),
    (dict(critic_layer_norm=1), r"TrainConfig.critic_layer_norm must be a bool"),
    (dict(update_order="actor_first"),
     r"TrainConfig.update_order must be one of \['critic_first', 'brax_sac'\], got 'actor_first'"),
    (dict(prefill_policy="random"),
     r"TrainConfig.prefill_policy must be one of \['uniform', 'initial'\], got 'random'"),
])
def test_bad_train_config_names_field(overrides, message):
  with pytest.raises(ValueError, match=message):
    C.TrainConfig(**overrides)


@pytest.mark.parametrize("overrides, message", [
    (dict(projection="ppo"), r"TrainConfig.wpg.projection must be one of \['wpo', 'wppg', 'amortized'\]"),
    (dict(step_size=0.0), r"TrainConfig.wpg.step_size must be a finite number > 0"),
    (dict(num_action_samples=0), r"TrainConfig.wpg.num_action_samples must be a positive int"),
    (dict(refine_method="hmc"), r"TrainConfig.wpg.refine_method must be one of \['ula', 'tamed_ula', 'mala'\]"),
    (dict(refine_steps=-1), r"TrainConfig.wpg.refine_steps must be a non-negative int"),
    (dict(wppg_move="adam"), r"TrainConfig.wpg.wppg_move must be one of"),
])
def test_bad_wpg_config_names_field(overrides, message):
  with pytest.raises(ValueError, match=message):
    C.WPGConfig(**overrides)


def test_unknown_field_is_a_type_error_not_swallowed():
  with pytest.raises(TypeError, match="taau"):
    C.TrainConfig(taau=0.1)


def test_with_overrides_parses_strings_and_rejects_typos():
  cfg = C.with_overrides(presets("inverted_pendulum"),
                         {"tau": "0.05", "wpg.step_size": "0.2", "hidden_sizes": "32,32", "tune_tau": "false"})
  assert cfg.tau == 0.05 and cfg.wpg.step_size == 0.2 and cfg.hidden_sizes == (32, 32) and cfg.tune_tau is False
  assert C.with_overrides(cfg, {"observation_clip": "none"}).observation_clip is None
  assert C.with_overrides(cfg, {"observation_clip": "10"}).observation_clip == 10.0
  with pytest.raises(ValueError, match=r"unknown config field 'wpg.stepsize'; allowed wpg.\* fields"):
    C.with_overrides(cfg, {"wpg.stepsize": 0.1})
  with pytest.raises(ValueError, match=r"unknown config field 'temperature'"):
    C.with_overrides(cfg, {"temperature": 0.1})
  with pytest.raises(ValueError, match=r"config field 'num_envs' expects a value like 16, got 'many'"):
    C.with_overrides(cfg, {"num_envs": "many"})
  # Overrides are validated like construction.
  with pytest.raises(ValueError, match=r"TrainConfig.tau must be a finite number > 0"):
    C.with_overrides(cfg, {"tau": "-1"})


@pytest.mark.parametrize("env", ["fast", "inverted_pendulum", "inverted_double_pendulum", "reacher",
                                 "halfcheetah", "hopper", "walker2d", "swimmer", "pusher", "ant", "humanoid"])
def test_presets_are_valid_and_round_trip(env):
  cfg = presets(env)
  assert cfg.env == env
  assert C.config_from_dict(C.config_to_dict(cfg)) == cfg
  assert cfg.total_env_steps >= cfg.num_timesteps * 0.9
  for policy in C.POLICIES:  # every preset switches to every policy family (its config_defaults applied)
    assert presets(env, policy=policy).policy == policy


def test_config_from_dict_rejects_unknown_keys():
  data = C.config_to_dict(presets("fast"))
  data["wpg"]["bogus"] = 1
  with pytest.raises(ValueError, match=r"unknown config fields: \['wpg.bogus'\]"):
    C.config_from_dict(data)


def test_hyperparams_are_float_leaves_matching_the_config():
  cfg = presets("fast", tau=0.3, **{"wpg.step_size": 0.07})
  hp = cfg.hyperparams()
  assert float(hp.tau) == pytest.approx(0.3) and float(hp.wpg_step_size) == pytest.approx(0.07)
  assert {f.name for f in dataclasses.fields(hp)} == set(C.SWEEPABLE_FIELDS.values())


def test_replay_memory_is_explicit():
  cfg = presets("fast", replay_size=1000)
  assert cfg.replay_memory_bytes(observation_size=3, action_size=2) == 4 * 1000 * (2 * 3 + 2 + 2)
