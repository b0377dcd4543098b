"""The trial's league: who player 2 is, episode by episode, and how strong each opponent has proven.

Members are the CPU at each (level, character) cell the env allows and, with self-play, frozen
snapshots of the learner and of the sweep's other trials (FightLadder's league, AlphaStar's PFSP).
Each episode draws a member by prioritized fictitious self-play over the learner's recent win
rate against it; every finished episode updates that win rate and both Elo ratings. A curriculum
caps the CPU levels drawn, and the trial raises the cap as its evaluation is won.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sf2rl.core import choice, elo
from sf2rl.core.config import EnvConfig
from sf2rl.env.opponent import Opponent
from sf2rl.learn.league_config import CurriculumConfig, LeagueConfig
from sf2rl.learn.snapshot import SnapshotPolicy, list_snapshots, load_snapshot

log = logging.getLogger(__name__)
LEARNER = "learner"


@dataclass
class Member:
    """One opponent of the league: a CPU cell or a frozen snapshot."""

    key: str
    weight: float
    """The env's own weight for this member (CPU cells) or 1 (snapshots)."""
    level: int | None = None
    character: str | None = None
    policy: Opponent | None = None
    elo: float = elo.ELO_START
    outcomes: deque[float] = field(default_factory=deque)
    episodes: int = 0

    def win_rate(self) -> float:
        """The learner's recent win rate against this member; 0.5 before any episode (no evidence yet)."""
        return float(np.mean(self.outcomes)) if self.outcomes else 0.5


@dataclass(frozen=True)
class Match:
    """Who env ``i`` plays next, and the reset options that set it up."""

    member: str
    opponent: Opponent | None
    options: dict[str, Any]


def priority(cfg: LeagueConfig, p: float) -> float:
    """PFSP's weight for a member the learner beats with probability ``p``."""
    if cfg.pfsp == "hard":
        w = (1.0 - p) ** cfg.power
    elif cfg.pfsp == "variance":
        w = p * (1.0 - p)
    else:
        w = 1.0
    return max(w, cfg.floor)


class League:
    """Matchmaking for one trial's training envs."""

    def __init__(
        self, env: EnvConfig, cfg: LeagueConfig, curriculum: CurriculumConfig | None, *, name: str,
        folder: Path | None, seed: int = 0,
    ) -> None:  # fmt: skip
        self.cfg = cfg
        self.name = name
        self.folder = folder
        self.rng = np.random.default_rng(seed)
        self.agent_choice = env.characters[0]
        self.action_set = env.action_set
        levels, level_p = choice.options(env.difficulty)
        chars, char_p = choice.options(env.characters[1])
        self.cpu: dict[str, Member] = {}
        for lv, wl in zip(levels, level_p, strict=True):
            for ch, wc in zip(chars, char_p, strict=True):
                if wl * wc > 0:
                    key = f"cpu-{lv}/{ch}"
                    self.cpu[key] = Member(key, wl * wc, level=int(lv), character=str(ch))
        self.snapshots: dict[str, Member] = {}
        self.learner_elo = elo.ELO_START
        self.ceiling = curriculum.start if curriculum is not None else max(int(lv) for lv in levels)
        self.curriculum = curriculum
        self.promotions = 0

    # ------------------------------------------------------------ drawing

    def _draw(self, members: list[Member]) -> Member:
        w = np.array([m.weight * priority(self.cfg, m.win_rate()) for m in members])
        return members[int(self.rng.choice(len(members), p=w / w.sum()))]

    def next_match(self) -> Match:
        """The next episode's opponent: a snapshot with probability ``self_play`` (if any), else a CPU cell."""
        agent = str(choice.pick(self.agent_choice, self.rng))
        if self.snapshots and self.rng.random() < self.cfg.self_play:
            m = self._draw(list(self.snapshots.values()))
            opp = str(choice.pick(list({c.character for c in self.cpu.values()}), self.rng))
            return Match(m.key, m.policy, {"characters": (agent, opp)})
        allowed = [m for m in self.cpu.values() if m.level is not None and m.level <= self.ceiling]
        m = self._draw(allowed or list(self.cpu.values()))
        return Match(m.key, None, {"characters": (agent, m.character), "difficulty": m.level})

    def record(self, key: str, won: bool) -> None:
        """One finished episode against ``key``: its win rate and both Elo ratings move."""
        m = self.cpu.get(key) or self.snapshots.get(key)
        if m is None:  # a snapshot retired while its episode ran
            return
        m.outcomes.append(float(won))
        while len(m.outcomes) > self.cfg.window:
            m.outcomes.popleft()
        m.episodes += 1
        self.learner_elo, m.elo = elo.update(self.learner_elo, m.elo, 1.0 if won else 0.0)

    # ---------------------------------------------------------- snapshots

    def freeze(self, module: Any, iteration: int) -> None:
        """Add a frozen copy of ``module`` as a member; with a folder, export it for the sweep's other trials."""
        key = f"{self.name}.{iteration}"
        policy = SnapshotPolicy.frozen(module, key, self.action_set, self.cfg.opponent_epsilon,
                                       seed=int(self.rng.integers(2**31)))  # fmt: skip
        self._add(key, policy)
        if self.folder is not None:
            policy.export(self.folder / f"{self.name}-{iteration:06d}", {"trial": self.name, "iteration": iteration})
        if self.cfg.peers and self.folder is not None:
            self._join_peers(module)

    def _add(self, key: str, policy: Opponent) -> None:
        # A new snapshot starts at the learner's rating: it is the learner, as of now.
        self.snapshots[key] = Member(key, 1.0, policy=policy, elo=self.learner_elo)
        own = [k for k in self.snapshots if k.startswith(f"{self.name}.")]
        while len(own) > self.cfg.max_snapshots:
            del self.snapshots[own.pop(0)]

    def _join_peers(self, module: Any) -> None:
        """The newest snapshot of every other trial in the folder (weights only: no code is loaded)."""
        assert self.folder is not None
        newest: dict[str, Path] = {}
        for path in list_snapshots(self.folder):
            trial = path.name.rsplit("-", 1)[0]
            if trial != self.name:
                newest[trial] = max(newest.get(trial, path), path)
        for trial, path in newest.items():
            key = f"{trial}.{int(path.name.rsplit('-', 1)[1])}"
            if key in self.snapshots:
                continue
            try:
                policy = load_snapshot(path, module, key, self.cfg.opponent_epsilon)
                if policy.action_set != self.action_set:
                    raise ValueError(f"action set {policy.action_set!r}, this trial plays {self.action_set!r}")
            except (OSError, ValueError, RuntimeError) as e:  # another architecture, or still being written
                log.info("league: skipping peer snapshot %s: %s", path, e)
                continue
            for old in [k for k in self.snapshots if k.startswith(f"{trial}.")]:
                del self.snapshots[old]
            self.snapshots[key] = Member(key, 1.0, policy=policy, elo=self.learner_elo)

    # ---------------------------------------------------------- curriculum

    def promote(self, win_rate: float) -> bool:
        """Raise the level ceiling if the evaluation at or below it reached ``promote_at``."""
        above = sorted({m.level for m in self.cpu.values() if m.level is not None and m.level > self.ceiling})
        if self.curriculum is None or not above or not win_rate >= self.curriculum.promote_at:
            return False
        # The ceiling climbs the env's own levels, so [1, 4, 8] goes 1, 4, 8 whatever the gaps.
        self.ceiling = above[min(len(above), self.curriculum.step) - 1]
        self.promotions += 1
        return True

    # -------------------------------------------------------------- metrics

    def metrics(self) -> dict[str, float]:
        """Flat figures for the trial's result (and so MLflow): Elo, win rates by kind, the level ceiling."""
        out: dict[str, float] = {"elo": self.learner_elo, "snapshots": float(len(self.snapshots)),
                                 "level_ceiling": float(self.ceiling)}  # fmt: skip
        for kind, members in (("cpu", self.cpu), ("snapshot", self.snapshots)):
            seen = [o for m in members.values() for o in m.outcomes]
            if seen:
                out[f"{kind}_win_rate"] = float(np.mean(seen))
        for m in self.snapshots.values():
            out[f"elo/{m.key}"] = m.elo
        return out

    def table(self) -> list[dict[str, Any]]:
        """Every member with its Elo, recent win rate and episodes, strongest first (for league.json)."""
        rows = [
            {"member": m.key, "elo": round(m.elo, 1), "learner_win_rate": round(m.win_rate(), 3),
             "episodes": m.episodes}
            for m in [*self.cpu.values(), *self.snapshots.values()]
        ]  # fmt: skip
        rows.append({"member": LEARNER, "elo": round(self.learner_elo, 1), "learner_win_rate": None, "episodes": None})
        return sorted(rows, key=lambda r: -r["elo"])
