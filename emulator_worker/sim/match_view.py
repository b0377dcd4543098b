"""What the RAM writer, the renderer and save states read off a running match.

``SF2Sim`` satisfies these protocols structurally, so ``ram``, ``render`` and ``state`` type their
argument without importing ``game`` (which imports them): the modules form no cycle, not even a
type-only one.
"""

from __future__ import annotations

from typing import Protocol

from .fighter import Fighter


class MatchView(Protocol):
    """A match's state outside its fighters' internals: phase, round, clock, camera, winners."""

    fighters: tuple[Fighter, Fighter]
    frame_count: int
    phase: int
    round: int
    last_winner: int
    match_winner: int
    difficulty: int
    two_player: bool
    cam: int
    timer: int
    round_over: int
