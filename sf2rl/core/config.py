"""Typed env options: validated once, here, whether they come from YAML, gymnasium or RLlib."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from emulator_worker.backends import BACKENDS
from sf2rl.core import choice
from sf2rl.core.defaults import SELF_PLAY
from sf2rl.core.game.actions import ACTION_SETS
from sf2rl.core.game.specs import GAMES
from sf2rl.core.rewards import REWARDS, check_params

LOCAL_BACKENDS = tuple(BACKENDS)


def _one_of(value: str, valid: Any, what: str) -> str:
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid: {sorted(valid)}")
    return value


class RewardConfig(BaseModel):
    """Which reward function, its parameters, and post-processing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("health_delta", description=f"reward function; one of {sorted(REWARDS)}")
    params: dict[str, float] = Field(default_factory=dict, description="keyword parameters of the reward function")
    normalize: bool = Field(True, description="divide health-based rewards by the game's full health")
    scale: float = Field(1.0, description="multiply the reward by this after normalization")
    clip: float | None = Field(None, gt=0, description="clip the reward to [-clip, clip]")

    _check_name = field_validator("name")(lambda v: _one_of(v, REWARDS, "reward"))

    @model_validator(mode="after")
    def _check_params(self) -> RewardConfig:
        check_params(self.name, self.params)
        return self


class WorkerConfig(BaseModel):
    """How an env reaches a remote emulator worker host."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_ms: int = Field(15000, ge=100, description="per-request timeout before retrying or failing")
    retries: int = Field(2, ge=0, le=10, description="retries of idempotent requests after a timeout")
    lease_ttl: float = Field(30.0, gt=0, description="seconds a lease survives without heartbeats")
    server_key: str | None = Field(None, description="host public key file, to use CurveZMQ")
    client_key: str | None = Field(None, description="client key pair file (.key_secret), to use CurveZMQ")
    alternates: tuple[str, ...] = Field(
        (), description="other worker hosts (tcp://...) to lease from when the backend's does not answer (failover)"
    )

    @model_validator(mode="after")
    def _endpoints(self) -> WorkerConfig:
        bad = [a for a in self.alternates if not a.startswith(("tcp://", "ipc://"))]
        if bad:
            raise ValueError(f"worker.alternates must be tcp:// or ipc:// endpoints, got {bad}")
        return self


class EnvConfig(BaseModel):
    """Every option of SF2Env (`SF2-v0`); each one is sweepable from YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: str = Field(
        "sim",
        description="'sim', 'retro' or 'bizhawk' to run the emulator in-process, or a worker endpoint "
        "(tcp://host:port) to lease a slot from an `emulator-worker serve` host",
    )
    backend_options: dict[str, Any] = Field(
        default_factory=dict, description="in-process backend options (e.g. BizHawk paths); ignored for endpoints"
    )
    game: str = Field("sim", description=f"game spec; one of {sorted(GAMES)}")
    characters: tuple[str | list[str] | dict[str, float], str | list[str] | dict[str, float]] = Field(
        ("ryu", "ken"),
        description="[agent, opponent] characters; a list means pick one at random per episode, a mapping "
        "{name: weight} picks with those weights; default the game's first two",
    )
    difficulty: int | list[int] | dict[int, float] = Field(
        3,
        description="CPU level 1-8; a list means pick one at random per episode, a mapping {level: weight} "
        "picks with those weights",
    )
    episode: Literal["round", "match"] = Field("round", description="episode ends after one round or the match")
    action_set: str = Field("seed", description=f"discrete action set; one of {sorted(ACTION_SETS)}")
    obs: Literal["ram", "pixels"] = Field(
        "ram", description="'ram': normalized decoded state; 'pixels': grayscale frames"
    )
    frame_skip: int = Field(4, ge=1, le=120, description="frames per agent step (the talk acted every 20)")
    hold_frames: int | None = Field(
        None, ge=1, description="frames the buttons are held within a step, then released; default the whole step"
    )
    reaction_delay: int = Field(
        0, ge=0, description="frames the previous action stays held before a new one takes effect (human-like lag)"
    )
    reward: RewardConfig = Field(default_factory=RewardConfig, description="reward function and post-processing")
    start_state: str = Field("", description="savestate name to start episodes from (retro/bizhawk)")
    max_episode_steps: int = Field(5000, ge=1, description="truncate an episode after this many agent steps")
    pixel_size: int = Field(84, ge=16, le=224, description="side of the square grayscale observation (pixels obs)")
    frame_stack: int = Field(4, ge=1, le=16, description="frames stacked in a pixels observation")
    worker: WorkerConfig = Field(default_factory=WorkerConfig, description="remote worker connection settings")
    opponent: str = Field(
        "cpu",
        description="who plays player 2: 'cpu' (the game's CPU at `difficulty`), a baseline policy name "
        "('random', 'heuristic', 'cpu-5', ...), a checkpoint path / folder of checkpoints, or 'self' in a "
        "sweep: the trial's own newest checkpoint (self-play; set opponent_refresh_episodes)",
    )
    opponent_refresh_episodes: int = Field(
        0, ge=0, description="reload the newest checkpoint under `opponent` every N episodes (0 = load it once)"
    )
    publish_frames: str | None = Field(
        None, description="ZeroMQ endpoint of an `sf2rl watch` viewer to publish small frames to (never blocks)"
    )
    publish_label: str | None = Field(
        None,
        description=(
            "who is playing, shown and linked by `sf2rl watch` (a sweep sets the trial's name, its MLflow run's)"
        ),
    )
    publish_fps: float = Field(4.0, gt=0, le=60, description="most frames per second one env publishes to the viewer")

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        """`reward="win_loss"` means `reward={"name": "win_loss"}`; characters default to the game's first two."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if isinstance(data.get("reward"), str):
            data["reward"] = {"name": data["reward"]}
        game = GAMES.get(str(data.get("game", "sim")))
        if "characters" not in data and game is not None:
            roster = game.characters
            data["characters"] = (roster[0], roster[1 if len(roster) > 1 else 0])
        return data

    _check_game = field_validator("game")(lambda v: _one_of(v, GAMES, "game"))
    _check_actions = field_validator("action_set")(lambda v: _one_of(v, ACTION_SETS, "action set"))

    @field_validator("characters")
    @classmethod
    def _check_characters(cls, v: Any, info: ValidationInfo) -> Any:
        spec = GAMES.get(str(info.data.get("game", "sim")))
        for side, pick in enumerate(v):
            what = f"characters.{side} ({('agent', 'opponent')[side]})"
            choice.check(pick, what)
            for name in choice.values(pick):
                if spec is not None and name not in spec.characters:
                    raise ValueError(
                        f"{what}: unknown character {name!r} for game {spec.id}; valid: {list(spec.characters)}"
                    )
        return v

    @field_validator("difficulty")
    @classmethod
    def _check_difficulty(cls, v: int | list[int] | dict[int, float]) -> int | list[int] | dict[int, float]:
        choice.check(v, "difficulty")
        if any(not 1 <= lv <= 8 for lv in choice.values(v)):
            raise ValueError(f"difficulty must be a CPU level from 1 to 8 (or a list or weights of them), got {v!r}")
        return v

    @model_validator(mode="after")
    def _check_combination(self) -> EnvConfig:
        spec = GAMES[self.game]
        if self.hold_frames is not None and self.hold_frames > self.frame_skip:
            raise ValueError(f"hold_frames ({self.hold_frames}) cannot exceed frame_skip ({self.frame_skip})")
        if self.publish_frames is not None and not self.publish_frames.startswith(("tcp://", "ipc://")):
            raise ValueError(f"publish_frames must be a tcp:// or ipc:// endpoint, got {self.publish_frames!r}")
        if not self.opponent:
            raise ValueError("opponent must be 'cpu', a baseline policy name, or a checkpoint path")
        if self.opponent == SELF_PLAY and self.opponent_refresh_episodes < 1:
            raise ValueError("opponent 'self' follows the trial's checkpoints: set opponent_refresh_episodes >= 1")
        if self.reaction_delay >= self.frame_skip:
            raise ValueError(f"reaction_delay ({self.reaction_delay}) must be below frame_skip ({self.frame_skip})")
        local = self.backend in LOCAL_BACKENDS
        if not local and not self.backend.startswith(("tcp://", "ipc://")):
            raise ValueError(
                f"backend must be one of {list(LOCAL_BACKENDS)} or a tcp:// endpoint, got {self.backend!r}"
            )
        if local and self.backend not in spec.backends:
            raise ValueError(
                f"game {self.game} does not run on backend {self.backend}; it runs on {sorted(spec.backends)}"
            )
        return self

    @property
    def remote(self) -> bool:
        """Whether the emulator is reached through a worker host."""
        return self.backend not in LOCAL_BACKENDS
