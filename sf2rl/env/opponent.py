"""What the env needs from player 2's policy in two-controller mode.

The agents layer's ``Policy`` extends this protocol; the env only ever calls these
members, so it can be handed any policy without importing the agents layer.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from sf2rl.core.game.spec import GameState


class Opponent(Protocol):
    """A decision maker for one side: an action index (of ``action_set``) per agent step."""

    @property
    def name(self) -> str:
        """A short label for tables."""

    @property
    def action_set(self) -> str:
        """The action set its indices refer to."""

    @property
    def needs_ram(self) -> int:
        """How many raw RAM bytes (from address 0) ``act`` wants as ``ram``; 0 for none."""

    def reset(self, seed: int | None = None) -> None:
        """A new match starts."""

    def act(self, obs: np.ndarray, state: GameState, *, ram: np.ndarray | None = None, player: int = 0) -> int:
        """The action for this step; ``state`` (and ``obs``) are seen from this policy's side."""
