"""Elo ratings: one formula for tournaments and for a trial's league of opponents."""

from __future__ import annotations

ELO_START = 1500.0
ELO_K = 32.0


def expected(rating: float, other: float) -> float:
    """The chance that a player rated ``rating`` beats one rated ``other``."""
    return 1.0 / (1.0 + 10.0 ** ((other - rating) / 400.0))


def update(rating: float, other: float, score: float, k: float = ELO_K) -> tuple[float, float]:
    """Both ratings after a game that the first player scored ``score`` in (1 win, 0 loss, 0.5 draw)."""
    delta = k * (score - expected(rating, other))
    return rating + delta, other - delta
