"""Reward functions: pure ``(prev, curr, **params) -> float`` over decoded states, in a registry.

States are seen from the agent's side (``p1`` is the agent), so every function
works for either player.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from sf2rl.core.game.spec import GameState

RewardFn = Callable[..., float]


def health_delta(prev: GameState, curr: GameState) -> float:
    """Change in (own health - opponent health): the talk's final choice and the default."""
    return float((curr.p1.health - curr.p2.health) - (prev.p1.health - prev.p2.health))


def damage_dealt(prev: GameState, curr: GameState) -> float:
    """Health the opponent lost this step."""
    return float(max(0, prev.p2.health - curr.p2.health))


def _damage_taken(prev: GameState, curr: GameState) -> float:
    """Health the agent lost this step."""
    return float(max(0, prev.p1.health - curr.p1.health))


def net_health(prev: GameState, curr: GameState) -> float:
    """Own health minus opponent health, every step (a dense advantage signal)."""
    return float(curr.p1.health - curr.p2.health)


def _round_won(prev: GameState, curr: GameState) -> int:
    """+1 if the agent took a round this step, -1 if the opponent did, else 0."""
    return (curr.p1.rounds_won > prev.p1.rounds_won) - (curr.p2.rounds_won > prev.p2.rounds_won)


def win_loss(prev: GameState, curr: GameState, win: float = 1.0, loss: float = -1.0) -> float:
    """Sparse: ``win`` when the agent takes a round, ``loss`` when it drops one."""
    outcome = _round_won(prev, curr)
    if outcome == 0 and curr.round_over and not prev.round_over:
        outcome = {1: 1, 2: -1}.get(curr.round_winner, 0)
    return win if outcome > 0 else loss if outcome < 0 else 0.0


def shaped(
    prev: GameState,
    curr: GameState,
    dealt_weight: float = 1.0,
    taken_weight: float = 0.5,
    win_bonus: float = 100.0,
    max_health: int = 176,
) -> float:
    """Damage dealt weighted above damage taken, plus a win bonus scaled by health left."""
    dealt, taken = damage_dealt(prev, curr), _damage_taken(prev, curr)
    bonus = 0.0
    if win_loss(prev, curr) > 0:
        bonus = win_bonus * (0.5 + 0.5 * curr.p1.health / max_health)
    return dealt_weight * dealt - taken_weight * taken + bonus


def fight(
    prev: GameState,
    curr: GameState,
    dealt_weight: float = 1.0,
    taken_weight: float = 1.0,
    round_win: float = 0.0,
    round_loss: float = 0.0,
    time_penalty: float = 0.0,
) -> float:
    """Damage dealt minus damage taken, each weighted, plus round bonuses and a per-step time penalty.

    Every term is in health units (``round_win: 176`` is worth a full health bar), so that
    ``normalize`` scales them together. ``round_loss`` and ``time_penalty`` are subtracted.
    """
    dealt, taken = damage_dealt(prev, curr), _damage_taken(prev, curr)
    outcome = win_loss(prev, curr)
    bonus = round_win if outcome > 0 else -round_loss if outcome < 0 else 0.0
    return dealt_weight * dealt - taken_weight * taken + bonus - time_penalty


class RewardEntry(NamedTuple):
    """A reward function and whether it is in health units (which ``normalize`` divides by full health)."""

    fn: RewardFn
    health_units: bool


REGISTRY: Mapping[str, RewardEntry] = MappingProxyType({
    "health_delta": RewardEntry(health_delta, health_units=True),
    "win_loss": RewardEntry(win_loss, health_units=False),
    "damage_dealt": RewardEntry(damage_dealt, health_units=True),
    "net_health": RewardEntry(net_health, health_units=True),
    "shaped": RewardEntry(shaped, health_units=True),
    "fight": RewardEntry(fight, health_units=True),
})  # fmt: skip
"""Every reward by name: a new reward is a function above and one entry here."""
REWARDS: Mapping[str, RewardFn] = MappingProxyType({name: e.fn for name, e in REGISTRY.items()})


def in_health_units(name: str) -> bool:
    """Whether reward ``name`` is measured in health points."""
    return REGISTRY[name].health_units


def reward_params(name: str) -> dict[str, float]:
    """The keyword parameters a reward takes, with their defaults."""
    sig = inspect.signature(get_reward(name))
    return {k: v.default for k, v in list(sig.parameters.items())[2:]}


def check_params(name: str, params: Mapping[str, Any]) -> None:
    """Reject parameters the reward does not take, naming the ones it does."""
    valid = reward_params(name)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"reward {name!r} takes no parameter {', '.join(unknown)}; valid: {sorted(valid) or 'none'}")


def get_reward(name: str) -> RewardFn:
    """A reward function by name, with an error listing the valid names."""
    try:
        return REWARDS[name]
    except KeyError:
        raise ValueError(f"unknown reward {name!r}; valid: {sorted(REWARDS)}") from None


class Reward:
    """A configured reward: function, parameters, then optional normalization and clipping."""

    def __init__(self, name: str, params: Mapping[str, Any], scale: float, clip: float | None) -> None:
        self.fn = get_reward(name)
        self.params = dict(params)
        self.scale = scale
        self.clip = clip

    def __call__(self, prev: GameState, curr: GameState) -> float:
        r = self.fn(prev, curr, **self.params) * self.scale
        if self.clip is not None:
            r = max(-self.clip, min(self.clip, r))
        return r
