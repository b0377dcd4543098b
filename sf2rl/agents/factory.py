"""The one factory from names to policies, and to envs whose player 2 is a policy.

A name is a baseline (``random``, ``heuristic``, ``cpu-N``, ...), a checkpoint folder,
or a folder of checkpoints to follow (self-play). The env receives the policy built
here; it never resolves names itself.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sf2rl.agents.baselines import Seat, baseline
from sf2rl.agents.checkpoint import (
    CheckpointPolicy,
    RefreshingPolicy,
    check_compatible,
    module_path,
    resolve_checkpoint,
)
from sf2rl.agents.policy import Policy
from sf2rl.core.config import EnvConfig
from sf2rl.core.defaults import SELF_PLAY
from sf2rl.core.errors import CheckpointError
from sf2rl.env.environment import SF2Env

log = logging.getLogger(__name__)


def _locate(path: Path) -> Path:
    """Relative paths mean the sweep's starting folder, also inside a Tune trial (which chdirs to its own)."""
    origin = os.environ.get("TUNE_ORIG_WORKING_DIR")
    if not path.is_absolute() and not path.exists() and origin and (Path(origin) / path).exists():
        return Path(origin) / path
    return path


def load_policy(
    source: str | Path,
    env_config: EnvConfig | None = None,
    *,
    seat: Seat = "agent",
    seed: int | None = None,
    refresh_episodes: int = 0,
) -> Policy:
    """A baseline by name, or a checkpoint checked against ``env_config`` (skipped when None)."""
    env = env_config or EnvConfig()
    if source == SELF_PLAY:
        raise CheckpointError("opponent 'self' means a sweep trial's own checkpoints; outside a sweep, name a folder")
    if isinstance(source, str) and (found := baseline(source, env, seed, seat)) is not None:
        return found
    path = _locate(Path(source).expanduser())
    if refresh_episodes and (path.is_dir() or not path.exists()):
        try:
            module_path(path)
        except CheckpointError:  # a folder of checkpoints (maybe not written yet): follow its newest
            league = RefreshingPolicy(path, env, refresh_episodes)
            if league.loaded is None:
                log.warning("no checkpoint under %s yet; player 2 plays randomly until one appears", path)
            return league
    policy = CheckpointPolicy(resolve_checkpoint(path))
    if env_config is not None:
        check_compatible(policy, env_config, seat)
    return policy


def make_opponent(config: EnvConfig) -> Policy | None:
    """Player 2's policy for ``config.opponent``, or None when the game's CPU plays."""
    if config.opponent == "cpu":
        return None
    return load_policy(config.opponent, config, seat="opponent", refresh_episodes=config.opponent_refresh_episodes)


def make_env(config: EnvConfig | Mapping[str, Any] | None = None, render_mode: str | None = None,
             **kwargs: Any) -> SF2Env:  # fmt: skip
    """An :class:`SF2Env` with its ``opponent`` option resolved; what ``gymnasium.make("SF2-v0")`` calls."""
    if isinstance(config, EnvConfig):
        cfg = EnvConfig(**{**config.model_dump(), **kwargs}) if kwargs else config
    else:
        cfg = EnvConfig(**{**dict(config or {}), **kwargs})
    return SF2Env(cfg, render_mode, opponent=make_opponent(cfg))
