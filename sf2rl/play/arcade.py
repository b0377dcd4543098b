"""The booth: matches a person plays, or watches, on the simulator in real time.

A match runs frame by frame (:data:`FPS` a second, paced by the server). Each side is a
:class:`Side`: a person's pad (whatever keys the page last sent), or an agent that decides every
``reaction_frames`` frames from its own side of the state, with the same features, action set
and input plan its env trained it with. The game's CPU is no side at all: the sim plays player 2
itself when no policy is set for it. A :class:`Booth` plays matches back to back and keeps the
tally, or runs a single-elimination bracket of agents (the talk's final four).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from sf2rl.agents.policy import Policy
from sf2rl.core.config import EnvConfig
from sf2rl.core.game.actions import ActionEncoder, get_action_set
from sf2rl.core.game.spec import GameState
from sf2rl.env.environment import SF2Env, plan_step

FPS = 60
PAD_BUTTONS = ("up", "down", "left", "right", "lp", "mp", "hp", "lk", "mk", "hk")
"""The buttons a person's pad has, by their logical names (game specs map them to the backend's)."""
RESULT_FRAMES = 2 * FPS
"""How long a finished match's result stays on screen before the next one starts."""


class Side(Protocol):
    """One player's controls: a pad mask for every frame."""

    name: str

    def reset(self, seed: int) -> None:
        """A match starts."""

    def mask(self, state: GameState, player: int) -> int:
        """The backend pad mask for the coming frame; ``state`` is as decoded (player 1 first)."""


class HumanPad:
    """A person's pad: the buttons the page says are held, as of its latest message (``seq``)."""

    def __init__(self, env: SF2Env, name: str = "you") -> None:
        self.name = name
        index = {b: i for i, b in enumerate(env.console.buttons)}
        self._bit = {k: 1 << index[env.game.buttons[env.console.backend][k]] for k in PAD_BUTTONS}
        self._held = 0
        self.seq = 0
        """The sequence number of the input message in effect: the page times its keypress to the frame that has it."""

    def press(self, buttons: Iterable[str], seq: int) -> None:
        """The page's new held set (unknown names are ignored: a page is a client, not a trusted source)."""
        self._held = sum(self._bit[b] for b in set(buttons) if b in self._bit)
        self.seq = max(self.seq, int(seq))

    def reset(self, seed: int) -> None:
        """Nothing carries over from the last match but the keys still held."""

    def mask(self, state: GameState, player: int) -> int:
        """The held buttons; left and right are the screen's, as on an arcade stick."""
        return self._held


class AgentSide:
    """A policy deciding every ``reaction_frames`` frames, as it would have in its env."""

    def __init__(self, policy: Policy, env: SF2Env, trained: EnvConfig, reaction_frames: int | None = None) -> None:
        self.policy = policy
        self.name = policy.name
        self._env = env  # for its feature vector: the agent sees exactly what it trained on
        self._cfg = trained
        self.reaction_frames = reaction_frames or trained.frame_skip
        self._encoder = ActionEncoder(
            get_action_set(policy.action_set), env.game.buttons[env.console.backend], env.console.buttons
        )
        self._queue: deque[int] = deque()
        self._last = 0

    def reset(self, seed: int) -> None:
        """A match starts."""
        self.policy.reset(seed=seed)
        self._queue.clear()
        self._last = 0

    def mask(self, state: GameState, player: int) -> int:
        """The planned mask for this frame; a new decision once the last one's frames have run."""
        if not self._queue:
            mine = state.swapped() if player == 1 else state
            ram = self._env.ram if self.policy.needs_ram else None
            action = int(self.policy.act(self._env.ram_features(mine), mine, ram=ram, player=player))
            runs, self._last = plan_step(self._cfg, self._encoder.beats(action, mine.p1.x <= mine.p2.x), self._last)
            frames = [m for m, n in runs for _ in range(n)][: self.reaction_frames]
            # Acting less often than it trained: it keeps holding what its plan left held.
            frames += [self._last] * (self.reaction_frames - len(frames))
            self._queue.extend(frames)
        return self._queue.popleft()


@dataclass
class Tally:
    """Wins per name across the booth's matches."""

    wins: dict[str, int] = field(default_factory=dict)
    matches: int = 0

    def record(self, winner: str, names: tuple[str, str]) -> None:
        """Count a finished match."""
        self.matches += 1
        for name in names:
            self.wins.setdefault(name, 0)
        self.wins[winner] += 1


class Booth:
    """Matches back to back on one simulator: player 1 and player 2 (None: the game's CPU), or a bracket."""

    def __init__(
        self,
        env: SF2Env,
        p1: Side,
        p2: Side | None,
        *,
        characters: tuple[str, str],
        difficulty: int = 3,
        bracket: list[Side] | None = None,
        seed: int = 0,
    ) -> None:
        self.env = env
        self.sides: list[Side | None] = [p1, p2]
        self.characters = characters
        self.difficulty = difficulty
        self.tally = Tally()
        self.seed = seed
        self.frame: np.ndarray | None = None
        self.frames = 0
        """Frames run in this match."""
        self.result: dict[str, Any] | None = None
        """The last finished match (winner, rounds) while it is on screen; None during play."""
        self._result_left = 0
        self.bracket = Bracket(bracket) if bracket else None
        if self.bracket is not None:
            self.sides = list(self.bracket.pairing())
        self._start()

    @property
    def names(self) -> tuple[str, str]:
        """Who plays each side."""
        return tuple(s.name if s is not None else f"cpu-{self.difficulty}" for s in self.sides)  # type: ignore[return-value]

    def _start(self) -> None:
        p2 = self.sides[1]
        # The env starts a two-controller match when player 2 has a policy; without one the sim's CPU plays.
        self.env.set_opponent(p2.policy if isinstance(p2, AgentSide) else None)
        self.env.ram_bytes = max((s.policy.needs_ram for s in self.sides if isinstance(s, AgentSide)), default=0)
        self.seed += 1
        for side in self.sides:
            if side is not None:
                side.reset(self.seed)
        self.env.reset(seed=self.seed, options={"characters": list(self.characters), "difficulty": self.difficulty})
        self.frames = 0

    def tick(self) -> GameState:
        """Run one frame (or count down the result screen, then start the next match)."""
        if self.result is not None:
            self._result_left -= 1
            if self._result_left <= 0:
                self.result = None
                self._start()
            return self.env.state
        state = self.env.state
        masks = [side.mask(state, i) if side is not None else 0 for i, side in enumerate(self.sides)]
        state, self.frame = self.env.run_pads(masks[0], masks[1], 1)
        self.frames += 1
        if state.match_over:
            self._finish(state)
        return state

    def _finish(self, state: GameState) -> None:
        names = self.names
        won = 0 if state.p1.rounds_won > state.p2.rounds_won else 1
        self.tally.record(names[won], names)
        self.result = {"winner": names[won], "side": won, "rounds": [state.p1.rounds_won, state.p2.rounds_won]}
        self._result_left = RESULT_FRAMES
        if self.bracket is not None:
            champion = self.bracket.advance(self.sides[won])  # type: ignore[arg-type]
            self.result["champion"] = champion.name if champion is not None else None
            self.sides = list(self.bracket.pairing())

    def view(self, state: GameState) -> dict[str, Any]:
        """What the page shows beside the picture: health, rounds, timer, names, tally, result, bracket."""
        g = self.env.game
        return {
            "names": list(self.names),
            "health": [state.p1.health, state.p2.health],
            "max_health": g.max_health,
            "rounds": [state.p1.rounds_won, state.p2.rounds_won],
            "rounds_to_win": g.rounds_to_win,
            "timer": state.timer,
            "x": [state.p1.x, state.p2.x],
            "frames": self.frames,
            "tally": dict(self.tally.wins),
            "matches": self.tally.matches,
            "result": self.result,
            "bracket": self.bracket.view() if self.bracket is not None else None,
        }


class Bracket:
    """Single elimination in the order given (1 v 2, 3 v 4, then their winners); an odd one out has a bye.

    When the final is played the champion is known and the same field starts over.
    """

    def __init__(self, entrants: list[Side]) -> None:
        if len(entrants) < 2:
            raise ValueError("a bracket needs at least two agents")
        self.field = list(entrants)
        self.round = list(entrants)
        self.winners: list[Side] = []
        self.played: list[tuple[str, str, str]] = []
        self.champion: Side | None = None
        self._i = 0

    def pairing(self) -> tuple[Side, Side]:
        """The next match."""
        while len(self.round) - self._i == 1:
            self.winners.append(self.round[self._i])  # a bye
            self._i += 1
            self._close_round()
        return self.round[self._i], self.round[self._i + 1]

    def _close_round(self) -> bool:
        """Start the next round once this one is played; True when that ended a bracket."""
        if self._i < len(self.round):
            return False
        done = len(self.winners) == 1
        if done:
            self.champion = self.winners[0]
        self.round = list(self.field) if done else self.winners
        self.winners, self._i = [], 0
        return done

    def advance(self, winner: Side) -> Side | None:
        """Record the current match's winner; returns the champion when that was the final."""
        a, b = self.round[self._i], self.round[self._i + 1]
        self.played.append((a.name, b.name, winner.name))
        self.winners.append(winner)
        self._i += 2
        return self.champion if self._close_round() else None

    def view(self) -> dict[str, Any]:
        """The latest matches (a, b, winner) and the last champion."""
        return {"played": self.played[-8:], "champion": self.champion.name if self.champion else None}
