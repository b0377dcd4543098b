"""The built-in CPU as an agent any caller can use for either side."""

from __future__ import annotations

from typing import Any

from .cpu import CpuController
from .ram import PHASE, ROUND
from .rng import Rng


class CpuAgent:
    """The built-in CPU as an agent for either side: ``agent(sim_or_ram, player) -> mask``.

    ``rng`` is an int seed, an ``Rng``, or anything with ``random() -> float``
    (``random.Random``, ``numpy.random.Generator``). Call it once per
    ``frames_per_call`` frames.
    It idles outside the fighting phase and forgets its plans each round,
    exactly like the CPU inside the sim, so with the same seed it plays the
    same moves as ``SF2Sim(seed)`` does for player 2.
    """

    def __init__(self, level: int, rng: Any = 0, frames_per_call: int = 1) -> None:
        self.rng = as_rng(rng)
        self.controller = CpuController(level, frames_per_call)
        self._round = -1

    def __call__(self, source: Any, player: int) -> int:
        rnd, phase = _round_and_phase(source)
        if rnd != self._round:
            self._round = rnd
            self.controller.new_round()
        if phase != 1:
            return 0
        return self.controller.next_mask(source, player, self.rng)


class _FloatRng:
    """Adapts a generator that only has ``random()`` to the ``Rng`` interface."""

    def __init__(self, rng: Any) -> None:
        self._rng = rng

    def random(self) -> float:
        return float(self._rng.random())

    def below(self, n: int) -> int:
        return min(n - 1, int(self.random() * n))


def as_rng(rng: Any) -> Any:
    """An ``Rng``-like generator from a seed, an ``Rng``, or any object with ``random()``."""
    if hasattr(rng, "below") and hasattr(rng, "random"):
        return rng
    if hasattr(rng, "random"):
        return _FloatRng(rng)
    if isinstance(rng, bool) or not hasattr(rng, "__index__"):
        raise ValueError(f"rng must be a seed or a generator, got {rng!r}")
    return Rng(rng.__index__())


def _round_and_phase(source: Any) -> tuple[int, int]:
    if hasattr(source, "fighters"):
        return source.round, source.phase
    return int(source[ROUND]), int(source[PHASE])


def cpu_action(source: Any, player: int, level: int, rng: Any, controller: CpuController | None = None) -> int:
    """One CPU decision for ``player`` from a sim or RAM view (stateless unless ``controller``).

    Without a controller the CPU cannot carry a motion over several calls, so
    prefer ``CpuAgent`` for whole matches.
    """
    ctl = controller if controller is not None else CpuController(level)
    return ctl.next_mask(source, player, as_rng(rng))
