"""Scoring matches: win rates with Wilson intervals, overall and per level, character and opponent."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from sf2rl.play.arena import MatchResult

Z95 = 1.959964


def wilson(wins: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a win rate (sound at 0 or n wins, unlike the normal approximation)."""
    if n == 0:
        return (0.0, 1.0)
    p = wins / n
    denom = 1 + z * z / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (max(0.0, (centre - half) / denom), min(1.0, (centre + half) / denom))


def score(results: Iterable[MatchResult]) -> dict[str, Any]:
    """Win rate, its 95% interval, and health left over some matches."""
    rs = list(results)
    n, wins = len(rs), sum(r.won for r in rs)
    lo, hi = wilson(wins, n)
    won = [r.health_left for r in rs if r.won]
    return {
        "matches": n,
        "wins": wins,
        "losses": sum(r.lost for r in rs),
        "win_rate": wins / n if n else 0.0,
        "ci95": [round(lo, 4), round(hi, 4)],
        "avg_health_left": round(sum(r.health_left for r in rs) / n, 2) if n else 0.0,
        "avg_health_left_in_wins": round(sum(won) / len(won), 2) if won else None,
        "rounds_won": sum(r.rounds_won for r in rs),
        "rounds_lost": sum(r.rounds_lost for r in rs),
        "truncated": sum(r.truncated for r in rs),
    }


def _by(results: list[MatchResult], key: Callable[[MatchResult], str]) -> dict[str, Any]:
    groups: dict[str, list[MatchResult]] = {}
    for r in results:
        groups.setdefault(key(r), []).append(r)
    return {k: score(v) for k, v in sorted(groups.items())}


def summarize(results: list[MatchResult]) -> dict[str, Any]:
    """Overall, per-level, per-character and per-opponent-character scores."""
    out = score(results)
    out["levels"] = {}
    for level in sorted({r.level for r in results}):
        rs = [r for r in results if r.level == level]
        out["levels"][str(level)] = {
            **score(rs),
            "by_character": _by(rs, lambda r: r.characters[0]),
            "by_opponent_character": _by(rs, lambda r: r.characters[1]),
        }
    out["by_character"] = _by(results, lambda r: r.characters[0])
    return out
