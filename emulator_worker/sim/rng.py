"""A small seeded random generator whose whole state is one 64-bit int.

The sim keeps its own generator (not ``random``) so that save states carry it
exactly and results never depend on the Python version.
"""

from __future__ import annotations

_MASK = (1 << 64) - 1


def _splitmix(seed: int) -> int:
    z = (seed + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return (z ^ (z >> 31)) or 1  # xorshift state must not be zero


class Rng:
    """xorshift64* generator: ``random()`` in [0, 1), ``below(n)`` in [0, n)."""

    __slots__ = ("state",)

    def __init__(self, seed: int = 0) -> None:
        self.state = _splitmix(seed & _MASK)

    def seed(self, seed: int) -> None:
        """Restart the sequence from ``seed``."""
        self.state = _splitmix(seed & _MASK)

    def next64(self) -> int:
        """Next raw 64-bit output."""
        x = self.state
        x ^= x >> 12
        x ^= (x << 25) & _MASK
        x ^= x >> 27
        self.state = x
        return (x * 0x2545F4914F6CDD1D) & _MASK

    def random(self) -> float:
        """Uniform float in [0, 1)."""
        return (self.next64() >> 11) * (1.0 / 9007199254740992.0)

    def below(self, n: int) -> int:
        """Uniform int in [0, n) (n >= 1)."""
        return (self.next64() >> 11) * n >> 53
