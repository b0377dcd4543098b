"""How a trial's league is configured: who it trains against (PFSP over CPU cells and snapshots), and its curriculum.

Pydantic only, so that the sweep schema can nest them without loading the learner (torch, RLlib).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Strict = ConfigDict(extra="forbid")


class LeagueConfig(BaseModel):
    """Who the trial trains against, episode by episode: CPU cells and frozen snapshots, picked by PFSP.

    The league's members are the CPU at every (level, character) cell of ``env.difficulty`` x
    ``env.characters[1]`` and, with ``self_play`` above 0, frozen snapshots of this trial and of its
    peers (the sweep's other trials). Each episode's opponent is drawn by prioritized fictitious
    self-play: members the learner beats less often are drawn more often.
    """

    model_config = Strict

    pfsp: Literal["uniform", "hard", "variance"] = Field(
        "hard",
        description="opponent priority from the learner's recent win rate p against it: 'hard' (1-p)^power, "
        "'variance' p(1-p) (the frontier), 'uniform' (the env's own weights only)",
    )
    power: float = Field(2.0, gt=0, le=10, description="exponent of the 'hard' weighting")
    floor: float = Field(0.05, ge=0, le=1, description="least priority of any member, so none is forgotten")
    window: int = Field(40, ge=1, le=10_000, description="recent episodes per member its win rate is taken over")
    self_play: float = Field(
        0.0, ge=0, lt=1, description="share of episodes played against frozen snapshots (0: the CPU only)"
    )
    snapshot_every: int = Field(10, ge=1, description="iterations between freezing a snapshot of the learner")
    max_snapshots: int = Field(8, ge=1, le=100, description="snapshots kept per trial (the oldest go first)")
    peers: bool = Field(True, description="also play the newest snapshots of the sweep's other trials")
    opponent_epsilon: float = Field(
        0.05, ge=0, le=1, description="random actions a snapshot opponent takes, so it is not one fixed line"
    )


class CurriculumConfig(BaseModel):
    """Train on the easy CPU levels first, and raise the ceiling as the in-trial evaluation is won."""

    model_config = Strict

    start: int = Field(1, ge=1, le=8, description="highest CPU level trained on at first")
    promote_at: float = Field(
        0.8, gt=0, le=1,
        description="eval win rate over the evaluated levels at or below the ceiling that raises it by `step`",
    )  # fmt: skip
    step: int = Field(
        1, ge=1, le=7, description="how many of env.difficulty's levels the ceiling climbs on each promotion"
    )
