"""The Policy protocol: who plays a side, in the env, the arena, tournaments and replays.

Baselines (``sf2rl.agents.baselines``) and checkpoints (``sf2rl.agents.checkpoint``)
implement it; ``sf2rl.agents.factory`` turns a name into one.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from sf2rl.env.opponent import Opponent


class Policy(Opponent, Protocol):
    """An :class:`~sf2rl.env.opponent.Opponent` that can also show its Q-values and be copied."""

    def q_values(self, obs: np.ndarray) -> np.ndarray | None:
        """Q-values per action, for policies that have them."""

    def fork(self) -> Policy:
        """An independent copy for another concurrent match (shares read-only weights)."""
