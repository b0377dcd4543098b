"""The interface every emulator backend adapter implements."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class ResetOptions:
    """How to start a new match; fields a backend cannot honour are ignored by it."""

    seed: int = 0
    characters: tuple[int, int] = (0, 1)
    difficulty: int = 3
    two_player: bool = False
    state: str = ""


class Backend(Protocol):
    """One emulator instance; it lives in its own OS process."""

    name: str
    buttons: tuple[str, ...]

    def reset(self, options: ResetOptions) -> None:
        """Start a new match."""

    def step(self, p1: int, p2: int, frames: int) -> None:
        """Hold button masks (bit i = ``buttons[i]``) for ``frames`` frames."""

    def ram(self) -> np.ndarray:
        """The current RAM as a flat uint8 array."""

    def frame(self) -> np.ndarray:
        """The current screen as an (H, W, 3) uint8 array."""

    def save_state(self) -> bytes:
        """The whole emulator state."""

    def load_state(self, data: bytes) -> None:
        """Restore a state from :meth:`save_state`; raise ValueError on bad bytes."""

    def close(self) -> None:
        """Free the emulator."""


class BackendUnavailable(RuntimeError):
    """A backend's emulator, ROM or runtime is missing; the message says what to install."""


def check_step(buttons: tuple[str, ...], p1: int, p2: int, frames: int) -> None:
    """Reject masks wider than the pad and negative frame counts, naming the bad value."""
    top = (1 << len(buttons)) - 1
    for label, mask in (("p1", p1), ("p2", p2)):
        if not 0 <= mask <= top:
            raise ValueError(f"{label} mask {mask} outside the {len(buttons)}-button pad (0..{top})")
    if frames < 0:
        raise ValueError(f"frames must be >= 0, got {frames}")


def resolve_state_path(folder: Path, name: str) -> Path:
    """Resolve a savestate name inside ``folder``, refusing anything that escapes it."""
    root = folder.resolve()
    path = (root / name).resolve()
    if not name or path == root or not path.is_relative_to(root):
        raise ValueError(f"savestate {name!r} must name a file inside {root}")
    return path
