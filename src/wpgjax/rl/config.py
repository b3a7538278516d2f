"""Typed, frozen training configuration with eager validation, per-environment presets and dotted overrides.

`TrainConfig` holds everything that shapes the program (sizes, choices: static) and the float hyperparameters
that can be vmapped (τ, η, learning rates, ...). `TrainConfig.hyperparams()` returns those floats as a
`HyperParams` pytree, the second argument of `train(key, hyperparams)`, so a sweep over them is a vmap (rejax).
Every field is checked when the config is built: a bad value fails here, before anything compiles, with a
message naming the field and what is allowed.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import flax.struct
import jax.numpy as jnp

from wpgjax import _validation
from wpgjax.rl import envs
from wpgjax.rl.envs import BACKENDS
from wpgjax.rl.networks import ACTIVATIONS
from wpgjax.rl.policies import POLICY_FAMILIES

__all__ = ["BACKENDS", "WPGConfig", "TrainConfig", "HyperParams", "with_overrides", "config_to_dict",
           "config_from_dict", "SWEEPABLE_FIELDS"]

PROJECTIONS = ("wpo", "wppg", "amortized")
POLICIES = tuple(POLICY_FAMILIES)
REFINE_METHODS = ("ula", "tamed_ula", "mala")
WPPG_MOVES = ("svgd",)
ENTROPY_ESTIMATORS = ("knn", "kde")
WPO_ENTROPY_TERMS = ("sampled", "expected")
UPDATE_ORDERS = ("critic_first", "brax_sac")
PREFILL_POLICIES = ("uniform", "initial")


def _name(field: str) -> str:
  return f"TrainConfig.{field}"


def _choice(field: str, value: Any, allowed: tuple[str, ...]) -> None:
  _validation.check_choice(_name(field), value, allowed)


def _fail(field: str, allowed: str, value: Any) -> None:
  _validation.fail(_name(field), allowed, value)


_UNIT_INTERVAL = dict(low_closed=True, high=1.0, high_closed=True)  # `_validation.check_number`'s [0, 1]


def hyperparameter(default: float, *, leaf: str | None = None) -> Any:
  """Declares a config field that is also a vmappable float leaf of `HyperParams` (named `leaf`, default: the
  field's own name). The one declaration from which HyperParams and SWEEPABLE_FIELDS are derived (rejax)."""
  return dataclasses.field(default=default, metadata={"hyperparameter": leaf or ""})


@dataclasses.dataclass(frozen=True)
class WPGConfig:
  """How the particle WPG step is projected onto the policy network and used at acting time.

  projection: how the policy network follows the WPG step (each family lists the ones it takes):
    "wpo" (entropy-regularized Wasserstein Policy Optimization, needs a density: tanh_gaussian),
    "wppg" (direction matching to the SVGD particle move; any reparametrised policy), or
    "amortized" (particle only: the proposal is fitted by maximum likelihood to its own particles after the
    K refinement steps).
  step_size: η of the WPPG particle step (docs/theory.md §4); for WPO it scales the actor learning rate's units
    only through the learning rate, so it is unused there.
  num_action_samples: particles per state used by the projection and by particle entropy estimates (M for the
    particle policy: its critic target and actor move use M particles per state). Each costs one critic
    forward/backward per batch state (SAC uses 1). Each family sets its least (`min_samples`): the particle
    policy >= 2 (its kNN/KDE entropy needs a pair; 4 by default; the particle presets of inverted_pendulum,
    inverted_double_pendulum and reacher use 2, at 0.66x the update time, BENCHMARKS.md §8.1), the pushforward
    policy >= 4 (its actor follows the entropy estimate's gradient), WPPG >= 2 for its SVGD move.
  natural_gradient: WPO only — scale the Gaussian's mean/std gradients by the inverse Fisher (σ², σ²/2).
  entropy_regularized: WPO only — use ∇_aQ − τ∇_a log π instead of ∇_aQ.
  wpo_entropy_term: entropy-regularized natural-gradient WPO only — how the entropy force −τ∇_u log π enters:
    "sampled" (at each sample, the WPO estimator: in (μ, σ) it adds the zero-mean noise (τε/σ, τ(ε²−1)/σ) to
    SAC's update) or "expected" (its expectation under the Gaussian in closed form, the gradient of τ·H(π_u):
    the update is then SAC's reparametrised estimator sample by sample, not only in expectation;
    docs/theory.md §4).
  refine_steps: K, the WPG particle steps (ULA/MALA on Q(s,·)/τ in the unsquashed space) that turn the particle
    policy's proposal into its executed law; None = the family's default (particle: 1; the others do not
    refine, and reject K > 0 because their critic evaluates the unrefined law).
  refine_method: "mala" (default: Metropolis-adjusted, exact invariance for a fixed critic, robust to the scale
    of Q; two critic gradients for the first step, one for each further step), "ula" (the theorem's WPGD step,
    one critic gradient per step; it diverges where η‖∇Q‖ is large, e.g. inverted_double_pendulum at η = 0.2)
    or "tamed_ula" (WPGD with the drift η∇Q/(1 + η‖∇Q‖): ULA's cost, bounded steps; `core.tamed_ula_step`;
    an update costs ~22 % less than with MALA at K = 1, BENCHMARKS.md §8).
    refine_step_size: η of those steps (default 0.2: on the fast env and the multimodal bandit MALA at
    η = 0.2–0.4 learned where ULA at η ≤ 0.05 was slower; BENCHMARKS.md).
  amortized_control_variate: amortized only — β ∈ [0, 1], the weight of the proposal's own score (mean zero) taken
    from the maximum-likelihood fit's gradient (`policies.particle.amortized_wpgd_loss`): 1 leaves only the
    refinement's displacement u_K − u_0 in the mean's gradient, for when the K steps move the particles little
    (one step on a flat critic); 0 is the plain fit, better when the steps mix fully.
  wppg_move: WPPG only — the deterministic particle move regressed onto: "svgd" (η times the SVGD velocity,
    whose kernel repulsion stands in for −τ∇log π: entropy without a density). The WPPG paper's "langevin"
    move (one WPGD step η∇Q + sqrt(2τη)ξ) is rejected: its noise averages out of the regression, so it
    carries no entropy force in expectation (docs/theory.md §4).
  diagnostic_samples: particles per replay state for the logged wpg/* diagnostics (their own budget,
    independent of num_action_samples; see `wpgjax.rl.agent.state_diagnostics` for each estimator's bias).
  """

  projection: str = "wpo"
  step_size: float = hyperparameter(0.1, leaf="wpg_step_size")
  num_action_samples: int = 2
  natural_gradient: bool = True
  entropy_regularized: bool = True
  wpo_entropy_term: str = "sampled"
  refine_steps: int | None = None
  refine_method: str = "mala"
  refine_step_size: float = hyperparameter(0.2)
  amortized_control_variate: float = 1.0
  wppg_move: str = "svgd"
  diagnostic_samples: int = 32

  def __post_init__(self) -> None:
    _choice("wpg.projection", self.projection, PROJECTIONS)
    if self.wppg_move == "langevin":
      _fail("wpg.wppg_move", "'svgd' ('langevin' regresses onto η∇Q + √(2τη)ξ, whose noise averages out of the "
            "loss: no entropy force, with or without τ tuning)", self.wppg_move)
    _choice("wpg.wppg_move", self.wppg_move, WPPG_MOVES)
    _validation.check_number(_name("wpg.step_size"), self.step_size)
    _validation.check_int(_name("wpg.num_action_samples"), self.num_action_samples)
    if self.refine_steps is not None:
      _validation.check_int(_name("wpg.refine_steps"), self.refine_steps, minimum=0)
    _validation.check_int(_name("wpg.diagnostic_samples"), self.diagnostic_samples, minimum=2)
    _choice("wpg.refine_method", self.refine_method, REFINE_METHODS)
    _validation.check_number(_name("wpg.refine_step_size"), self.refine_step_size)
    _validation.check_number(_name("wpg.amortized_control_variate"), self.amortized_control_variate,
                             **_UNIT_INTERVAL)
    for name in ("natural_gradient", "entropy_regularized"):
      _validation.check_bool(_name(f"wpg.{name}"), getattr(self, name))
    _choice("wpg.wpo_entropy_term", self.wpo_entropy_term, WPO_ENTROPY_TERMS)
    if self.wpo_entropy_term == "expected" and not (
        self.projection == "wpo" and self.natural_gradient and self.entropy_regularized):
      _fail("wpg.wpo_entropy_term", "'sampled' unless wpg.projection='wpo', wpg.natural_gradient=True and "
            "wpg.entropy_regularized=True ('expected' is the closed-form entropy force of natural-gradient "
            "WPO on a Gaussian)", self.wpo_entropy_term)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Everything a WPG actor-critic run on Brax needs. Frozen; validated on construction.

  Environment: env (a Brax env name, or "dm_control/<Task>" with MuJoCo Playground), backend (physics
    pipeline, one of `envs.backends_for(env)`; None: "generalized" for Brax envs, "mjx" for Playground's;
    ignored by "fast"), episode_length, action_repeat (`presets` sets a DM Control task's own).
  Budget: num_timesteps (env steps, all envs together), num_envs (parallel envs per seed), num_evals
    (evaluations, evenly spaced; the first at step 0), num_eval_envs (episodes per evaluation),
    deterministic_eval (evaluate the family's deterministic action, `deterministic_u`, True, or one draw of the
    executed law per step, False: Brax's trainers default to False).
  Replay: replay_size (transitions per seed: memory is explicit, never derived from the budget),
    min_replay_size (transitions collected before learning), prefill_policy (how they are acted: "uniform"
    actions in [−1, 1], or the "initial" policy's executed law, as Brax's SAC prefills; a run resumed without
    its saved replay buffer refills it the same way, "initial" then meaning the restored policy), batch_size,
    grad_updates_per_step (SGD updates per env step of all envs).
  Learning: discount γ, tau (τ, initial when tune_tau), tune_tau, target_entropy (None = −action_dim),
    actor/critic/tau learning rates, final_learning_rate_fraction (the actor's and critic's learning rates fall
    linearly over the config's `total_grad_steps` to this fraction of their values, then stay there; 1: constant;
    τ's is constant; a run resumed under a config with another budget decays over that budget's steps), polyak
    (target smoothing), reward_scaling, normalize_observations,
    observation_clip (normalised observations are clipped to ±observation_clip; None: not clipped, as Brax's
    SAC and PPO normalise), update_order (within one gradient step: "critic_first": the critic's step, then
    the actor's against the updated critic, then τ's on the actor's samples; "brax_sac": τ's, the critic's and
    the actor's steps all from the step's starting parameters and τ — the actor against the critic before its
    step, τ on an entropy drawn at the batch states — as Brax's SAC does).
  Networks: policy (a policy family of `wpgjax.rl.policies`: "tanh_gaussian" — SAC's actor update in
    expectation under the default WPO projection; "pushforward" — an implicit generator trained by WPPG;
    "particle" — the WPG particle law: generator proposal + K ULA/MALA steps on the critic), hidden_sizes,
    critic_layer_norm (LayerNorm in every hidden layer of both Q networks, as Playground's SAC recipes),
    critic_batch_norm (CrossQ, `wpgjax.rl.crossq`: BatchNorm in both Q networks, no target network, so no polyak),
    critic_atoms (0: each Q network outputs Q; K ≥ 2: C51's categorical critic, `wpgjax.rl.distributional`, a law
    on K evenly spaced returns from critic_value_min to critic_value_max, which should cover the scaled soft
    returns; a target outside is clipped to the nearest end),
    activation of every hidden layer ("swish": smooth ∇_a Q for particle steps; "relu": Brax's SAC networks),
    latent_size (generator noise dim), entropy_estimator for policies without a density ("knn" or "kde").
  wpg: the WPG projection / refinement settings (WPGConfig).
  """

  env: str = "inverted_pendulum"
  backend: str | None = None
  episode_length: int = 1000
  action_repeat: int = 1
  num_timesteps: int = 30_000
  num_envs: int = 16
  num_evals: int = 10
  num_eval_envs: int = 16
  deterministic_eval: bool = True
  replay_size: int = 100_000
  min_replay_size: int = 1024
  batch_size: int = 256
  grad_updates_per_step: int = 8
  discount: float = hyperparameter(0.99)
  tau: float = hyperparameter(0.1)
  tune_tau: bool = True
  target_entropy: float | None = None
  actor_learning_rate: float = hyperparameter(1e-3)
  critic_learning_rate: float = hyperparameter(1e-3)
  tau_learning_rate: float = hyperparameter(1e-3)
  final_learning_rate_fraction: float = hyperparameter(1.0)
  polyak: float = hyperparameter(0.005)
  reward_scaling: float = hyperparameter(1.0)
  normalize_observations: bool = True
  observation_clip: float | None = 5.0
  update_order: str = "critic_first"
  prefill_policy: str = "uniform"
  policy: str = "tanh_gaussian"
  hidden_sizes: tuple[int, ...] = (64, 64)
  critic_layer_norm: bool = False
  critic_batch_norm: bool = False
  critic_atoms: int = 0
  critic_value_min: float = -100.0
  critic_value_max: float = 100.0
  activation: str = "swish"
  latent_size: int = 4
  entropy_estimator: str = "knn"
  wpg: WPGConfig = dataclasses.field(default_factory=WPGConfig)

  def __post_init__(self) -> None:
    envs.check_env_name(self.env, _name("env"))
    if self.backend is None:
      object.__setattr__(self, "backend", envs.default_backend(self.env))
    _choice("backend", self.backend, envs.backends_for(self.env))
    for name in ("episode_length", "action_repeat", "num_timesteps", "num_envs", "num_evals", "num_eval_envs",
                 "replay_size", "batch_size", "grad_updates_per_step", "latent_size"):
      _validation.check_int(_name(name), getattr(self, name))
    _validation.check_int(_name("min_replay_size"), self.min_replay_size, minimum=0)
    if isinstance(self.hidden_sizes, list):
      object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
    if (not isinstance(self.hidden_sizes, tuple) or not self.hidden_sizes
        or not all(isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in self.hidden_sizes)):
      _fail("hidden_sizes", "a non-empty tuple of positive ints", self.hidden_sizes)
    _validation.check_number(_name("discount"), self.discount, high=1.0)
    for name in ("tau", "actor_learning_rate", "critic_learning_rate", "tau_learning_rate", "reward_scaling"):
      _validation.check_number(_name(name), getattr(self, name))
    _validation.check_number(_name("polyak"), self.polyak, high=1.0, high_closed=True)
    _validation.check_number(_name("final_learning_rate_fraction"), self.final_learning_rate_fraction, **_UNIT_INTERVAL)
    for name in ("tune_tau", "normalize_observations", "critic_layer_norm", "critic_batch_norm", "deterministic_eval"):
      _validation.check_bool(_name(name), getattr(self, name))
    _validation.check_optional_number(_name("target_entropy"), self.target_entropy)
    self._check_critic_atoms()
    _validation.check_optional_positive_number(_name("observation_clip"), self.observation_clip, "not clipped")
    _choice("policy", self.policy, POLICIES)
    _choice("entropy_estimator", self.entropy_estimator, ENTROPY_ESTIMATORS)
    _choice("activation", self.activation, tuple(ACTIVATIONS))
    _choice("update_order", self.update_order, UPDATE_ORDERS)
    _choice("prefill_policy", self.prefill_policy, PREFILL_POLICIES)
    if not isinstance(self.wpg, WPGConfig):
      _fail("wpg", "a WPGConfig", self.wpg)
    family = POLICY_FAMILIES[self.policy]
    if self.wpg.projection == "wppg" and self.wpg.num_action_samples < 2:
      _fail("wpg.num_action_samples", "an int >= 2 when wpg.projection is 'wppg' (the SVGD move's kernel "
            "repulsion needs pairs)", self.wpg.num_action_samples)
    if self.wpg.num_action_samples < family.min_samples:
      _fail("wpg.num_action_samples", f"an int >= {family.min_samples} when policy is {self.policy!r} (its "
            "entropy is a particle estimate)", self.wpg.num_action_samples)
    if family.default_refine_steps == 0 and self.refine_steps > 0:
      _fail("wpg.refine_steps", f"0 or None when policy is {self.policy!r} (its critic evaluates the unrefined "
            "law, so refined actions would not be the policy the critic learns: use policy='particle')",
            self.wpg.refine_steps)
    if family.default_refine_steps > 0 and self.refine_steps < 1:
      _fail("wpg.refine_steps", f"an int >= 1 or None when policy is {self.policy!r}", self.wpg.refine_steps)
    if self.tune_tau and self.wpg.projection == "wpo" and not self.wpg.entropy_regularized:
      _fail("tune_tau", "False when wpg.entropy_regularized is False (plain WPO has no entropy term, so the "
            "entropy collapses and tuning τ toward the target entropy diverges: measured τ → 1e15)", self.tune_tau)
    if self.wpg.projection not in family.projections:
      why = " (WPO needs a policy density)" if self.wpg.projection == "wpo" else ""
      _fail("wpg.projection", " or ".join(map(repr, family.projections)) + f" when policy is {self.policy!r}{why}",
            self.wpg.projection)
    if self.replay_size < self.batch_size:
      _fail("replay_size", f"at least batch_size ({self.batch_size})", self.replay_size)
    if self.min_replay_size > self.replay_size:
      _fail("min_replay_size", f"at most replay_size ({self.replay_size})", self.min_replay_size)
    if self.num_envs > self.replay_size:
      _fail("num_envs", f"at most replay_size ({self.replay_size})", self.num_envs)
    if self.num_timesteps < self.num_envs * self.num_evals:
      _fail("num_timesteps", f"at least num_envs * num_evals = {self.num_envs * self.num_evals} "
            "(one env step of every env per evaluation period)", self.num_timesteps)

  def _check_critic_atoms(self) -> None:
    _validation.check_int(_name("critic_atoms"), self.critic_atoms, minimum=0)
    if self.critic_atoms == 1:
      _fail("critic_atoms", "0 (a scalar Q) or an int >= 2 (the atoms of a categorical critic)", self.critic_atoms)
    for name in ("critic_value_min", "critic_value_max"):
      _validation.check_finite_number(_name(name), getattr(self, name))
    if self.critic_value_min >= self.critic_value_max:
      _fail("critic_value_max", f"a number > critic_value_min ({self.critic_value_min})", self.critic_value_max)
    if self.critic_atoms and self.critic_batch_norm:
      _fail("critic_atoms", "0 when critic_batch_norm is True (CrossQ's step trains a scalar critic)",
            self.critic_atoms)

  # Derived sizes (pure functions of the fields, so they are not stored).
  @property
  def steps_per_eval(self) -> int:
    """Training iterations (one env step of every env, then grad_updates_per_step updates) per eval period."""
    return max(1, self.num_timesteps // (self.num_envs * self.action_repeat * self.num_evals))

  @property
  def refine_steps(self) -> int:
    """K: wpg.refine_steps, or the policy family's default when it is None."""
    if self.wpg.refine_steps is None:
      return POLICY_FAMILIES[self.policy].default_refine_steps
    return self.wpg.refine_steps

  @property
  def prefill_steps(self) -> int:
    """Prefill iterations (of all envs, acted by prefill_policy) that fill the replay buffer to min_replay_size."""
    return -(-self.min_replay_size // self.num_envs)

  @property
  def total_env_steps(self) -> int:
    """Env steps actually taken by training (prefill included), a multiple of num_envs."""
    return (self.prefill_steps + self.steps_per_eval * self.num_evals) * self.num_envs * self.action_repeat

  @property
  def total_grad_steps(self) -> int:
    """Gradient steps of the run's budget (the prefill takes none): the horizon of the learning-rate decay."""
    return self.steps_per_eval * self.num_evals * self.grad_updates_per_step

  def hyperparams(self) -> HyperParams:
    """The vmappable float hyperparameters of this config as a pytree of float32 scalars."""
    return HyperParams(**{hp: jnp.asarray(_get_dotted(self, field), jnp.float32)
                          for field, hp in SWEEPABLE_FIELDS.items()})

  def replay_memory_bytes(self, observation_size: int, action_size: int) -> int:
    """Bytes of the replay buffer per seed: replay_size × (2·obs + action + reward + discount) float32."""
    return 4 * self.replay_size * (2 * observation_size + action_size + 2)


def _hyperparameter_fields(cls: type, prefix: str = "") -> dict[str, str]:
  """Dotted config field -> HyperParams leaf name, for every field declared with `hyperparameter(...)`."""
  out = {}
  for f in dataclasses.fields(cls):
    if "hyperparameter" in f.metadata:
      out[prefix + f.name] = f.metadata["hyperparameter"] or f.name
  return out


# Dotted config field -> HyperParams leaf: the hyperparameters a sweep may grid over (derived, never listed).
SWEEPABLE_FIELDS: dict[str, str] = {**_hyperparameter_fields(TrainConfig), **_hyperparameter_fields(WPGConfig, "wpg.")}

HyperParams = flax.struct.dataclass(type("HyperParams", (), {
    "__annotations__": {leaf: "jnp.ndarray" for leaf in SWEEPABLE_FIELDS.values()},
    "__module__": __name__, "__qualname__": "HyperParams", "__doc__": (
        "The float hyperparameters that are pytree leaves (vmap over them to sweep; rejax style), one float32 "
        "scalar (or a [R] batch) per config field declared with `hyperparameter(...)`: " +
        ", ".join(f"{leaf} <- {field}" for field, leaf in SWEEPABLE_FIELDS.items()) + ".")}))


def _get_dotted(config: Any, field: str) -> Any:
  value = config
  for part in field.split("."):
    value = getattr(value, part)
  return value


def _field_names(cls: type) -> list[str]:
  return [f.name for f in dataclasses.fields(cls)]


def _family_env_defaults(family, env: str) -> dict[str, Any]:
  """The family's settings for `env`: its entry under the env's name, else under the env's suite ("dm_control/")."""
  if env in family.env_config_defaults:
    return family.env_config_defaults[env]
  suite = env[:env.index("/") + 1] if "/" in env else None
  return family.env_config_defaults.get(suite, {})


def with_overrides(config: TrainConfig, overrides: Mapping[str, Any]) -> TrainConfig:
  """A copy of `config` with dotted-path overrides, e.g. {"tau": 0.05, "wpg.step_size": 0.1}.

  An unknown key raises ValueError listing the allowed names (typos never pass silently); string values
  (from a command line) are parsed to the field's type. Switching `policy` also applies that family's
  `config_defaults` (its projection, a particle budget its entropy estimate can use) and the env's settings for
  that family (its `env_config_defaults`), unless those keys are overridden too.
  """
  if overrides.get("policy") in POLICY_FAMILIES and overrides["policy"] != config.policy:
    family = POLICY_FAMILIES[overrides["policy"]]
    overrides = {**family.config_defaults, **_family_env_defaults(family, config.env), **overrides}
  top: dict[str, Any] = {}
  nested: dict[str, Any] = {}
  for key, value in overrides.items():
    if key.startswith("wpg."):
      sub = key[len("wpg."):]
      if sub not in _field_names(WPGConfig):
        raise ValueError(f"unknown config field {key!r}; allowed wpg.* fields: "
                         f"{['wpg.' + n for n in _field_names(WPGConfig)]}")
      nested[sub] = _parse_like(getattr(config.wpg, sub), value, key)
    else:
      if key not in _field_names(TrainConfig) or key == "wpg":
        raise ValueError(f"unknown config field {key!r}; allowed fields: "
                         f"{[n for n in _field_names(TrainConfig) if n != 'wpg']} and wpg.<field>")
      top[key] = _parse_like(getattr(config, key), value, key)
  wpg = dataclasses.replace(config.wpg, **nested) if nested else config.wpg
  return dataclasses.replace(config, wpg=wpg, **top)


# Fields whose value may be None, with the type of their other values.
_OPTIONAL_FIELDS = {"target_entropy": float, "observation_clip": float, "wpg.refine_steps": int}


def _parse_like(current: Any, value: Any, key: str) -> Any:
  """Parses a string `value` to the type of `current` (bool, int, float, tuple of ints, None-able float)."""
  if not isinstance(value, str):
    return value
  text = value.strip()
  try:
    if key in _OPTIONAL_FIELDS and (current is None or text.lower() == "none"):
      return None if text.lower() == "none" else _OPTIONAL_FIELDS[key](text)
    if isinstance(current, bool):
      if text.lower() in ("true", "1", "yes"):
        return True
      if text.lower() in ("false", "0", "no"):
        return False
      raise ValueError(text)
    if isinstance(current, int):
      return int(text)
    if isinstance(current, float):
      return float(text)
    if isinstance(current, tuple):
      return tuple(int(p) for p in text.strip("()[]").split(",") if p.strip())
  except ValueError:
    raise ValueError(f"config field {key!r} expects a value like {current!r}, got {value!r}") from None
  return text


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
  """A JSON-able dict of the config (nested for wpg)."""
  out = dataclasses.asdict(config)
  out["hidden_sizes"] = list(config.hidden_sizes)
  return out


def config_from_dict(data: Mapping[str, Any]) -> TrainConfig:
  """Inverse of `config_to_dict`; unknown keys raise ValueError naming them."""
  data = dict(data)
  wpg = data.pop("wpg", {})
  unknown = set(data) - set(_field_names(TrainConfig))
  unknown_wpg = set(wpg) - set(_field_names(WPGConfig))
  if unknown or unknown_wpg:
    raise ValueError(f"unknown config fields: {sorted(unknown) + ['wpg.' + k for k in sorted(unknown_wpg)]}")
  if "hidden_sizes" in data:
    data["hidden_sizes"] = tuple(data["hidden_sizes"])
  return TrainConfig(**data, wpg=WPGConfig(**wpg))
