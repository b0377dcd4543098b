"""The sweep YAML schema: pydantic models with ``extra="forbid"``, validated once at load time."""

from __future__ import annotations

import math
import os
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from emulator_worker.backends import BACKENDS, check_options, multi_game
from emulator_worker.instances import SPIN_US
from sf2rl.core import choice
from sf2rl.core.config import EnvConfig
from sf2rl.core.defaults import tracking_uri
from sf2rl.core.errors import ConfigError
from sf2rl.core.game.specs import GAMES
from sf2rl.learn.league_config import CurriculumConfig, LeagueConfig

Strict = ConfigDict(extra="forbid")


class PoolConfig(BaseModel):
    """The emulator workers each trial owns."""

    model_config = Strict

    mode: Literal["inline", "spawn", "connect"] | None = Field(
        None,
        description="'inline': the trial's envs run the backend in the trial process itself; 'spawn': the "
        "trial starts its own `emulator-worker serve` host and steps it over ZeroMQ; 'connect': lease from "
        "`endpoints`. Default: inline for backends that run several games in one process (sim), where two "
        "trials on two cores then sample about 1.9x one trial's env steps/s, against 1.3x spawned "
        "(docs/training-speed.md); spawn otherwise (retro, bizhawk)",
    )
    backend: str = Field("sim", description=f"emulator backend, inline or spawned: one of {sorted(BACKENDS)}")
    backend_options: dict[str, Any] = Field(default_factory=dict, description="options of that backend")
    slots: int | None = Field(None, ge=1, le=64, description="emulator slots per trial; default one per env")
    spin_us: int = Field(
        0, ge=0, le=100_000,
        description="spawned hosts' instances poll this long for the next step before sleeping (0: never). "
        f"A training trial steps again only after a learner update, so polling (the worker's own default is "
        f"{SPIN_US}) mostly burns CPU that concurrent trials need",
    )  # fmt: skip
    games_per_instance: int | None = Field(
        None, ge=1, le=64,
        description="games each spawned emulator process runs. One process waking once for all of a trial's "
        "games costs less CPU than one process per game (docs/training-speed.md); default: every slot in one "
        "process for backends that allow it (sim), one per process otherwise (retro, bizhawk)",
    )  # fmt: skip
    endpoints: list[str] = Field(default_factory=list, description="worker hosts to lease from (connect mode)")
    server_key: str | None = Field(None, description="worker hosts' CurveZMQ public key file (connect mode)")
    client_key: str | None = Field(None, description="this cluster's CurveZMQ key pair file (connect mode)")

    @field_validator("backend")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in BACKENDS:
            raise ValueError(f"unknown backend {name!r}; valid: {sorted(BACKENDS)}")
        return name

    @model_validator(mode="after")
    def _check(self) -> PoolConfig:
        check_options(self.backend, self.backend_options)
        if self.mode is None:
            self.mode = "inline" if multi_game(self.backend) else "spawn"
        if self.mode == "inline" and not multi_game(self.backend):
            raise ValueError(f"mode inline: the {self.backend} backend runs one game per process; use spawn")
        if self.mode != "spawn" and self.slots is not None:
            raise ValueError("slots is only used in spawn mode (it sizes the trial's own worker host)")
        if self.mode == "connect" and not self.endpoints:
            raise ValueError("connect mode needs at least one entry in endpoints")
        if self.mode != "connect" and self.endpoints:
            raise ValueError("endpoints are only used in connect mode")
        if self.games_per_instance is not None and self.mode != "spawn":
            raise ValueError("games_per_instance is only used in spawn mode (the host's owner sets it there)")
        if (self.games_per_instance or 1) > 1 and not multi_game(self.backend):
            raise ValueError(f"games_per_instance: the {self.backend} backend runs one game per process")
        if bool(self.server_key) != bool(self.client_key):
            raise ValueError("server_key and client_key go together (CurveZMQ)")
        return self


class EpsilonConfig(BaseModel):
    """Linear epsilon-greedy exploration schedule."""

    model_config = Strict

    initial: float = Field(1.0, ge=0, le=1, description="epsilon at the first step")
    final: float = Field(0.05, ge=0, le=1, description="epsilon after `timesteps` env steps")
    timesteps: int = Field(20000, ge=1, description="env steps over which epsilon decays")


class DQNOptions(BaseModel):
    """The DQN hyperparameters a team sweeps."""

    model_config = Strict

    lr: float = Field(5e-4, gt=0, lt=1, description="Adam learning rate")
    gamma: float = Field(0.99, gt=0, le=1, description="discount factor")
    n_step: int = Field(3, ge=1, le=20, description="n-step returns")
    double_q: bool = Field(True, description="double Q-learning")
    dueling: bool = Field(True, description="dueling heads")
    prioritized_replay: bool = Field(True, description="prioritized experience replay")
    buffer_size: int = Field(50000, ge=100, description="replay buffer capacity in env steps")
    train_batch_size: int = Field(
        256,
        ge=1,
        description="replay batch size per update (with the default fragment and envs: one update per 16 env steps, "
        "16 replayed samples per env step)",
    )
    learning_starts: int = Field(1000, ge=0, description="env steps collected before learning")
    target_update_period: int = Field(1000, ge=1, description="env steps between target network syncs")
    training_intensity: float | None = Field(
        None, gt=0, description="replayed steps per sampled step; default RLlib's (one update per fragment)"
    )
    rollout_fragment_length: int = Field(
        4,
        ge=1,
        description="env steps of every env between learner updates (with `resources.envs_per_runner` "
        "envs, one update per fragment * envs steps unless `training_intensity` is set)",
    )
    hiddens: list[int] = Field([128, 128], min_length=1, description="hidden layer sizes of the Q network")
    epsilon: EpsilonConfig = Field(default_factory=EpsilonConfig, description="exploration schedule")
    steps_per_iteration: int = Field(1000, ge=1, description="env steps sampled per reported iteration")
    loop: Literal["sf2rl", "rllib"] = Field(
        "sf2rl",
        description="'sf2rl': the trial's lean training_step (envs stepped in the trial process while the learner "
        "trains, numpy n-step replay, updates on the Learner's own module); 'rllib': RLlib's stock DQN "
        "training_step (connector pipelines, episode replay buffer), kept for comparison",
    )

    @field_validator("hiddens")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(h < 1 for h in v):
            raise ValueError("layer sizes must be positive")
        return v


class ResourcesConfig(BaseModel):
    """Per-trial parallelism and Ray resources."""

    model_config = Strict

    env_runners: int = Field(0, ge=0, le=64, description="remote env runners (0 = sample in the trial process)")
    envs_per_runner: int = Field(
        4,
        ge=1,
        le=64,
        description="envs per env runner (dqn.loop sf2rl: envs the trial process steps); more "
        "than one step their emulators at the same time",
    )
    cpus_per_trial: float = Field(1.0, gt=0, description="CPUs of the trial's main process")
    torch_threads: int = Field(
        1,
        ge=1,
        le=64,
        description="torch intra-op threads in the trial process (more than one rarely pays for "
        "a small MLP, and costs other trials their core)",
    )
    custom: dict[str, float] = Field(
        default_factory=dict,
        description="Ray custom resources each trial's process needs, e.g. {gpu_box: 1}: trials then run only on "
        "nodes started with `ray start --resources` offering them (docs/cluster.md)",
    )

    @field_validator("custom")
    @classmethod
    def _positive(cls, custom: dict[str, float]) -> dict[str, float]:
        for name, amount in custom.items():
            if not name or name in ("CPU", "GPU", "memory") or amount <= 0:
                raise ValueError(f"custom resource {name!r}: {amount}; give a named resource a positive amount")
        return custom


class SearchConfig(BaseModel):
    """How Tune explores the space."""

    model_config = Strict

    algorithm: Literal["basic", "optuna"] = Field("basic", description="basic variant generation, or Optuna TPE")
    num_samples: int = Field(1, ge=1, description="samples of the space (grid entries multiply this)")
    max_concurrent: int = Field(2, ge=1, description="trials running at once")
    metric: str = Field("episode_return_mean", description="metric to optimize (see docs/sweeps.md#metrics)")
    mode: Literal["max", "min"] = Field("max", description="maximize or minimize the metric")
    seed: int | None = Field(None, description="seed of the search algorithm")


class SchedulerConfig(BaseModel):
    """Trial scheduler: FIFO, ASHA early stopping, or Population Based Training."""

    model_config = Strict

    type: Literal["fifo", "asha", "pbt"] = Field("fifo", description="scheduler kind")
    grace_period: int = Field(5, ge=1, description="ASHA: iterations before a trial may be stopped")
    reduction_factor: float = Field(3.0, gt=1, description="ASHA: halving rate")
    perturbation_interval: int = Field(5, ge=1, description="PBT: iterations between exploit/explore")
    mutations: dict[str, list[float]] = Field(
        default_factory=dict,
        description="PBT: dotted dqn.* or league.* key -> values to resample from (e.g. dqn.lr, league.self_play)",
    )


class StopConfig(BaseModel):
    """When a trial ends (the first criterion met)."""

    model_config = Strict

    training_iteration: int | None = Field(20, ge=1, description="iterations per trial")
    timesteps_total: int | None = Field(None, ge=1, description="env steps per trial")
    time_total_s: float | None = Field(None, gt=0, description="wall seconds per trial")

    @model_validator(mode="after")
    def _some_stop(self) -> StopConfig:
        if not self.criteria():
            raise ValueError(
                "a trial with no stop criterion never ends: set training_iteration, timesteps_total or time_total_s"
            )
        return self

    def criteria(self) -> dict[str, float]:
        """Tune's stop dict: each criterion set, under the result key a trial reports it by.

        RLlib's new API stack reports no ``timesteps_total``: a stop on that key would never fire.
        """
        keys = {"training_iteration": "training_iteration", "timesteps_total": "env_steps_total",
                "time_total_s": "time_total_s"}  # fmt: skip
        return {keys[k]: v for k, v in self.model_dump().items() if v is not None}


class CheckpointConfig(BaseModel):
    """Checkpointing of each trial."""

    model_config = Strict

    every: int = Field(5, ge=1, description="iterations between checkpoints (and one at the end)")
    keep: int = Field(2, ge=1, description="best checkpoints kept per trial, by the sweep metric")


class FailureConfig(BaseModel):
    """What Tune does when a trial's process dies (a lost node, an emulator host gone for good)."""

    model_config = Strict

    max_retries: int = Field(
        2, ge=-1, le=100,
        description="times Tune restarts a failed trial from its newest checkpoint before marking it errored "
        "(-1: without end). The trial keeps its MLflow run across restarts",
    )  # fmt: skip


class EvaluationConfig(BaseModel):
    """Greedy matches each trial plays against the CPU now and then, reported as ``eval_win_rate``."""

    model_config = Strict

    every: int = Field(
        0, ge=0,
        description="iterations between evaluations (0: none). The training win rate comes from exploring "
        "single rounds and can rank trials the wrong way round; eval_win_rate is what `sf2rl eval` measures. "
        "Set checkpoint.every to the same value so each checkpoint is scored by a fresh evaluation",
    )  # fmt: skip
    matches: int = Field(10, ge=1, le=1000, description="whole matches per evaluation (epsilon 0)")
    difficulty: int | None = Field(None, ge=1, le=8, description="CPU level to play; default the env's")
    envs: int = Field(2, ge=1, le=16, description="evaluation envs stepped together, each on a pool slot of its own")
    max_steps: int = Field(
        100_000, ge=1, description="agent steps after which a match counts as not won (as in `sf2rl eval`)"
    )
    levels: list[int] | None = Field(
        None, min_length=1,
        description="CPU levels of a matrix subset to evaluate on: matches go round the levels x opponents cells "
        "in turn (overrides difficulty)",
    )  # fmt: skip
    opponents: list[str] | None = Field(
        None, min_length=1, description="opponent characters of that matrix subset; default the env's opponents"
    )

    @field_validator("levels")
    @classmethod
    def _levels(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and any(not 1 <= lv <= 8 for lv in v):
            raise ValueError(f"levels must be CPU levels from 1 to 8, got {v}")
        return v


def default_storage() -> str:
    """$SF2RL_STORAGE (a cluster's shared folder or bucket), else runs/ here."""
    return os.environ.get("SF2RL_STORAGE") or "runs"


class TrackingConfig(BaseModel):
    """Where MLflow records the sweep."""

    model_config = Strict

    uri: str = Field(
        default_factory=tracking_uri,
        description="MLflow tracking URI (sqlite file or http server); default $MLFLOW_TRACKING_URI, "
        "else sqlite:///mlflow.db in the working directory",
    )
    experiment: str | None = Field(None, description="MLflow experiment; default the sweep's name")
    enabled: bool = Field(True, description="turn MLflow tracking off (benchmarks only)")
    callback: Literal["sf2rl", "ray"] = Field(
        "sf2rl",
        description="'sf2rl': nested runs, batched metrics, checkpoints and plots; 'ray': Ray's stock "
        "MLflowLoggerCallback, flat and metric by metric (kept for overhead comparisons)",
    )
    replay: bool = Field(
        True, description="record one match of the best trial's checkpoint (a GIF) into the sweep's report.html"
    )


DISTRIBUTIONS = ("grid", "choice", "uniform", "loguniform", "randint")


class Distribution(BaseModel):
    """One search-space entry: exactly one of the distribution keys."""

    model_config = Strict

    grid: list[Any] | None = Field(None, min_length=1, description="every value, one trial each")
    choice: list[Any] | None = Field(None, min_length=1, description="one value at random per sample")
    uniform: tuple[float, float] | None = Field(None, description="[low, high] uniform float")
    loguniform: tuple[float, float] | None = Field(None, description="[low, high] log-uniform float, low > 0")
    randint: tuple[int, int] | None = Field(None, description="[low, high) integer")

    @model_validator(mode="after")
    def _exactly_one(self) -> Distribution:
        set_ = [k for k in DISTRIBUTIONS if getattr(self, k) is not None]
        if len(set_) != 1:
            raise ValueError(f"give exactly one of {list(DISTRIBUTIONS)}, got {set_ or 'none'}")
        kind = set_[0]
        if kind in ("uniform", "loguniform", "randint"):
            low, high = getattr(self, kind)
            if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
                raise ValueError(f"{kind} bounds need low < high, got [{low}, {high}]")
            if kind == "loguniform" and low <= 0:
                raise ValueError(f"loguniform needs low > 0, got {low}")
        return self

    @property
    def kind(self) -> str:
        """The distribution's name."""
        return next(k for k in DISTRIBUTIONS if getattr(self, k) is not None)

    def candidates(self) -> list[Any]:
        """Values to validate against the field: all of a list, or the bounds of a range."""
        value = getattr(self, self.kind)
        if self.kind == "randint":
            return [value[0], value[1] - 1]
        return list(value)


SWEEPABLE_ROOTS = ("env", "dqn", "league")
SEED_KEY = "seed"
"""The one space key outside those sections: a trial's own seed (replicates of one recipe), in place of ``seed``."""


class SweepConfig(BaseModel):
    """A whole sweep file."""

    model_config = Strict

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="sweep name (Ray/MLflow)")
    description: str = Field("", description="what this sweep asks")
    env: EnvConfig = Field(default_factory=EnvConfig, description="base env options (see docs/env-options.md)")
    pool: PoolConfig = Field(default_factory=PoolConfig, description="emulator workers per trial")
    dqn: DQNOptions = Field(default_factory=DQNOptions, description="base DQN hyperparameters")
    space: dict[str, Distribution] = Field(
        default_factory=dict, description="dotted key (env.*, dqn.* or league.*) -> distribution"
    )
    search: SearchConfig = Field(default_factory=SearchConfig, description="search algorithm and metric")
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig, description="trial scheduler")
    stop: StopConfig = Field(default_factory=StopConfig, description="stop criteria per trial")
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig, description="per-trial resources")
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig, description="checkpointing")
    failure: FailureConfig = Field(default_factory=FailureConfig, description="retries of failed trials")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="MLflow tracking")
    storage: str = Field(
        default_factory=default_storage,
        description="folder or URI (e.g. s3://bucket/runs) for Ray Tune's results and checkpoints; "
        "default $SF2RL_STORAGE, else runs/ in the working directory",
    )
    seed: int = Field(
        0,
        description="base seed for envs, replay, exploration and RLlib's weights; sweep it (space.seed) for "
        "replicates of one recipe, as num_samples alone repeats the same seed",
    )
    win_rate_window: int = Field(20, ge=1, description="episodes in the rolling win-rate metric")
    evaluation: EvaluationConfig = Field(
        default_factory=EvaluationConfig, description="greedy matches against the CPU during training"
    )
    league: LeagueConfig | None = Field(
        None, description="train against a league (CPU cells and snapshots, picked by PFSP); none: the env samples"
    )
    curriculum: CurriculumConfig | None = Field(
        None, description="raise the CPU levels trained on as the in-trial evaluation is won (needs evaluation)"
    )

    @model_validator(mode="after")
    def _check_space(self) -> SweepConfig:
        for key, dist in self.space.items():
            root = key.split(".", 1)[0]
            if key == SEED_KEY:
                if not all(isinstance(v, int) and not isinstance(v, bool) for v in dist.candidates()):
                    raise ValueError(f"space.{key}: seeds are integers")
                if dist.kind == "grid" and self.search.algorithm == "optuna":
                    raise ValueError(f"space.{key}: optuna cannot search a grid; use choice")
                continue
            if root not in SWEEPABLE_ROOTS or "." not in key:
                raise ValueError(
                    f"space key {key!r} must be {SEED_KEY!r} or start with one of {[r + '.' for r in SWEEPABLE_ROOTS]}"
                )
            for value in dist.candidates():
                try:
                    apply_overrides(self, {key: value})
                except (ValidationError, KeyError) as e:
                    raise ValueError(f"space.{key}: value {value!r} is invalid: {_first_error(e)}") from None
            if dist.kind == "grid" and self.search.algorithm == "optuna":
                raise ValueError(f"space.{key}: optuna cannot search a grid; use choice")
        randomized = any(d.kind != "grid" for d in self.space.values())
        if self.search.num_samples > 1 and not randomized and self.scheduler.type != "pbt":
            raise ValueError(
                f"search.num_samples: {self.search.num_samples} samples of a space with no random entry are "
                f"identical trials; for replicates sweep the seed, e.g. space.seed: {{grid: [0, 1]}}"
            )
        for key, values in self.scheduler.mutations.items():
            if not key.startswith(("dqn.", "league.")) or not values:
                raise ValueError(
                    f"scheduler.mutations key {key!r} must be a dqn.* or league.* key with at least one value"
                )
            for value in values:
                try:
                    apply_overrides(self, {key: value})
                except (ValidationError, KeyError) as e:
                    raise ValueError(
                        f"scheduler.mutations.{key}: value {value!r} is invalid: {_first_error(e)}"
                    ) from None
        if self.dqn.loop == "sf2rl" and self.resources.env_runners:
            raise ValueError(
                "resources.env_runners: dqn.loop 'sf2rl' steps its envs in the trial process (the emulators already "
                "run while it trains); set env_runners: 0, or dqn.loop: rllib for remote env runners"
            )
        if self.search.metric.startswith("eval_") and not self.evaluation.every:
            raise ValueError(f"search.metric {self.search.metric} needs evaluation.every above 0")
        if self.evaluation.every and self.dqn.loop != "sf2rl":
            raise ValueError("evaluation.every: in-trial evaluation runs in dqn.loop 'sf2rl'")
        if self.curriculum is not None and not self.evaluation.every:
            raise ValueError("curriculum: promotions follow the in-trial evaluation; set evaluation.every above 0")
        if self.curriculum is not None and self.curriculum.start > max(choice.values(self.env.difficulty)):
            raise ValueError(
                f"curriculum.start: {self.curriculum.start} is above every level in env.difficulty "
                f"{self.env.difficulty!r}"
            )
        if (self.league is not None or self.curriculum is not None) and self.dqn.loop != "sf2rl":
            raise ValueError("league / curriculum: matchmaking runs in dqn.loop 'sf2rl'")
        if self.league is not None and self.league.self_play and self.env.obs != "ram":
            raise ValueError("league.self_play: snapshot opponents see the RAM features; set env.obs: ram")
        if self.league is not None and self.env.opponent != "cpu":
            raise ValueError("league: the league picks player 2 itself; leave env.opponent at 'cpu'")
        if self.evaluation.opponents is not None:
            valid = GAMES[self.env.game].characters
            for i, name in enumerate(self.evaluation.opponents):
                if name not in valid:
                    raise ValueError(f"evaluation.opponents.{i}: unknown character {name!r}; valid: {list(valid)}")
        if self.scheduler.type == "pbt" and not self.scheduler.mutations:
            raise ValueError("scheduler.mutations: PBT needs at least one dqn.* or league.* key to mutate")
        return self


def _first_error(e: Exception) -> str:
    if isinstance(e, ValidationError):
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        return f"{loc + ': ' if loc else ''}{err['msg']}"
    return str(e)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        if (found := _model_of(arg)) is not None:
            return found
    return None


def _set(tree: dict[str, Any], model: type[BaseModel] | None, path: list[str], value: Any) -> None:
    """Set a dotted path, checking each step against the schema; free-form dicts accept new keys."""
    for i, part in enumerate(path):
        if model is not None and part not in model.model_fields:
            raise KeyError(f"unknown option {'.'.join(path[: i + 1])!r}; valid here: {sorted(model.model_fields)}")
        if i == len(path) - 1:
            tree[part] = value
            return
        sub = _model_of(model.model_fields[part].annotation) if model is not None else None
        node = tree.setdefault(part, {})
        if not isinstance(node, dict):
            raise KeyError(f"{'.'.join(path[: i + 1])!r} is a value, not a group of options")
        tree, model = node, sub


def apply_overrides(sweep: SweepConfig, overrides: dict[str, Any]) -> tuple[EnvConfig, DQNOptions]:
    """The env and DQN options of one trial: the base config with dotted-key overrides, revalidated."""
    env, dqn, _ = trial_options(sweep, overrides)
    return env, dqn


def trial_options(sweep: SweepConfig, overrides: dict[str, Any]) -> tuple[EnvConfig, DQNOptions, LeagueConfig | None]:
    """The env, DQN and league options of one trial: the base config with dotted-key overrides, revalidated."""
    trees = {"env": sweep.env.model_dump(), "dqn": sweep.dqn.model_dump()}
    models: dict[str, type[BaseModel]] = {"env": EnvConfig, "dqn": DQNOptions, "league": LeagueConfig}
    if sweep.league is not None:
        trees["league"] = sweep.league.model_dump()
    for key, value in overrides.items():
        if key == SEED_KEY:
            continue  # not an option of a section: the trial's seed (see trial_sweep)
        root, *rest = key.split(".")
        if root not in trees:
            raise KeyError(f"{key!r}: the sweep has no {root} section to override")
        _set(trees[root], models[root], rest, value)
    league = LeagueConfig(**trees["league"]) if "league" in trees else None
    return EnvConfig(**trees["env"]), DQNOptions(**trees["dqn"]), league


def trial_sweep(sweep: SweepConfig, overrides: dict[str, Any]) -> SweepConfig:
    """The sweep as one trial sees it: with its own seed when the space sweeps ``seed``."""
    if SEED_KEY not in overrides:
        return sweep
    return sweep.model_copy(update={"seed": int(overrides[SEED_KEY])})


def load_sweep(path: str | Path) -> SweepConfig:
    """Read and validate a sweep file; raise ConfigError with a one-line, key-path message."""
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such sweep file") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a folder; pass a sweep file (e.g. {p / 'sweep.yaml'})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8 text (byte {e.start}); save the sweep file as UTF-8") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read it: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: a sweep file is a mapping of options, got {type(raw).__name__}")
    bad = [k for k in raw if not isinstance(k, str)]
    if bad:
        raise ConfigError(f"{p}: {bad[0]!r}: keys are names, got a {type(bad[0]).__name__}")
    try:
        return SweepConfig(**raw)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        raise ConfigError(f"{p}: {loc + ': ' if loc else ''}{msg}") from None
