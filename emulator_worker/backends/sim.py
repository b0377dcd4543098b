"""Backend adapter for the built-in, ROM-free SF2-like simulator."""

from __future__ import annotations

import numpy as np

from emulator_worker.backends.base import ResetOptions
from emulator_worker.sim import BUTTONS, SF2Sim


class SimBackend:
    """Runs :class:`emulator_worker.sim.SF2Sim` behind the backend interface."""

    name = "sim"
    buttons: tuple[str, ...] = BUTTONS

    def __init__(self, seed: int = 0) -> None:
        self._sim = SF2Sim(seed)
        self._sim.reset(seed=seed)

    def reset(self, options: ResetOptions) -> None:
        """Start a new match with the given characters and CPU level."""
        if options.state:
            raise ValueError("the sim backend starts matches from characters/difficulty, not savestate files")
        self._sim.reset(
            seed=options.seed,
            characters=options.characters,
            difficulty=options.difficulty,
            two_player=options.two_player,
        )

    def step(self, p1: int, p2: int, frames: int) -> None:
        """Hold the masks for ``frames`` frames."""
        self._sim.step(p1, p2, frames)

    def ram(self) -> np.ndarray:
        """The simulator's RAM view."""
        return self._sim.ram()

    def frame(self) -> np.ndarray:
        """A 224x256 RGB frame."""
        return self._sim.frame()

    def save_state(self) -> bytes:
        """Exact savestate bytes."""
        return self._sim.save_state()

    def load_state(self, data: bytes) -> None:
        """Restore a savestate; the simulator rejects corrupt bytes unchanged."""
        self._sim.load_state(data)

    def close(self) -> None:
        """Nothing to free."""
