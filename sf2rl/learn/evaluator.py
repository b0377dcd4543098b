"""Greedy matches played inside a trial, so the sweep ranks trials by what `sf2rl eval` will measure.

The training metrics describe exploring play, one round per episode, over a short window; they can
rank trials the wrong way round (docs/champion.md). Every ``evaluation.every`` iterations the trial
plays whole matches with epsilon 0 against a fixed CPU level on emulator slots of its own pool,
stepping its evaluation envs together, and reports ``eval_win_rate``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sf2rl.core.config import EnvConfig
from sf2rl.core.errors import WorkerError
from sf2rl.env.environment import SF2Env
from sf2rl.play.arena import EVAL_FIXED


@dataclass(frozen=True)
class EvalResult:
    """Greedy matches against the CPU: matches won and rounds won and lost, from player 1's side."""

    matches: int
    wins: int
    rounds_won: int
    rounds_lost: int
    steps: int
    by_level: dict[int, tuple[int, int]] | None = None
    """Matches and wins per CPU level, when the evaluation plays several."""

    def win_rate_up_to(self, level: int) -> float:
        """The win rate over the matches at CPU levels up to ``level`` (NaN if none were played)."""
        if not self.by_level:
            return self.win_rate
        played = [mw for lv, mw in self.by_level.items() if lv <= level]
        matches = sum(m for m, _ in played)
        return sum(w for _, w in played) / matches if matches else float("nan")

    @property
    def win_rate(self) -> float:
        """Matches won over matches played."""
        return self.wins / self.matches if self.matches else float("nan")


def eval_config(env: EnvConfig, difficulty: int | None, max_steps: int) -> EnvConfig:
    """The training env's options for `sf2rl eval`'s matches against the CPU at ``difficulty`` (None: the env's)."""
    update: dict[str, object] = {**EVAL_FIXED, "max_episode_steps": max_steps}
    if difficulty is not None:
        update["difficulty"] = difficulty
    return EnvConfig(**{**env.model_dump(), **update})


class Evaluator:
    """``num_envs`` match envs built by ``make_env(i)``, played greedily until ``matches`` have finished."""

    def __init__(
        self, make_env: Callable[[int], SF2Env], num_envs: int, seed: int,
        cells: list[tuple[int, str, str]] | None = None,
    ) -> None:  # fmt: skip
        self.make_env = make_env
        self.num_envs = num_envs
        self.seed = seed
        self.cells = cells
        """(level, agent character, opponent character) of a matrix subset: match k plays cell k mod len."""
        self.envs: list[SF2Env] = []

    def _open(self) -> None:
        if not self.envs:
            self.envs = [self.make_env(i) for i in range(self.num_envs)]

    def run(self, act: Callable[[np.ndarray], np.ndarray], matches: int) -> EvalResult:
        """Play ``matches`` matches; every evaluation plays the same seeds, so evaluations compare."""
        try:
            self._open()
            return self._play(act, matches)
        except WorkerError:
            # A lost emulator costs this evaluation, not the trial: the next one starts on fresh leases.
            self.close()
            raise

    def _reset(self, i: int, k: int) -> np.ndarray:
        """Env ``i`` set up for match ``k``: the same seed (and cell) every evaluation, so evaluations compare."""
        if self.cells is None:
            obs, _ = self.envs[i].reset(seed=self.seed + k)
            return obs
        level, agent, opp = self.cells[k % len(self.cells)]
        obs, _ = self.envs[i].reset(seed=self.seed + k, options={"difficulty": level, "characters": (agent, opp)})
        return obs

    def _play(self, act: Callable[[np.ndarray], np.ndarray], matches: int) -> EvalResult:
        started = wins = won = lost = steps = 0
        live: list[int] = []
        match_of: dict[int, int] = {}
        by_level: dict[int, tuple[int, int]] = {}
        obs: list[np.ndarray] = [np.empty(0)] * len(self.envs)
        for i in range(min(matches, len(self.envs))):
            obs[i], match_of[i] = self._reset(i, started), started
            started += 1
            live.append(i)
        finished = 0
        while live:
            actions = act(np.stack([obs[i] for i in live]))
            for i, a in zip(live, actions, strict=True):
                self.envs[i].step_async(int(a))
            still: list[int] = []
            for i in live:
                obs[i], _, terminated, truncated, info = self.envs[i].step_wait()
                steps += 1
                if not (terminated or truncated):
                    still.append(i)
                    continue
                finished += 1
                wins += bool(info.get("won", False))
                won += int(info.get("rounds_won", 0))
                lost += int(info.get("rounds_lost", 0))
                if self.cells is not None:
                    level = self.cells[match_of[i] % len(self.cells)][0]
                    m, w = by_level.get(level, (0, 0))
                    by_level[level] = (m + 1, w + bool(info.get("won", False)))
                if started < matches:
                    obs[i], match_of[i] = self._reset(i, started), started
                    started += 1
                    still.append(i)
            live = still
        return EvalResult(finished, wins, won, lost, steps, by_level if self.cells is not None else None)

    def close(self) -> None:
        """Give the evaluation envs' slots back."""
        envs, self.envs = self.envs, []
        for env in envs:
            try:
                env.close()
            except WorkerError:
                pass
