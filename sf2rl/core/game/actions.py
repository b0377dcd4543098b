"""Discrete action sets, as tables of relative inputs.

Directions are relative to where the agent faces ("forward"/"back"), so one
policy plays both sides of the screen and motion inputs read the same either
way. An action is a sequence of beats; a plain action has one beat held for the
whole step, a macro (fireball, uppercut) spreads its beats over the step.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

ATTACKS = ("lp", "mp", "hp", "lk", "mk", "hk")
DIRECTIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "neutral": (),
        "up": ("up",),
        "down": ("down",),
        "forward": ("forward",),
        "back": ("back",),
        "up-forward": ("up", "forward"),
        "up-back": ("up", "back"),
        "down-forward": ("down", "forward"),
        "down-back": ("down", "back"),
    }
)


@dataclass(frozen=True)
class Action:
    """A named input: one or more beats of relative logical buttons."""

    name: str
    beats: tuple[tuple[str, ...], ...]

    @property
    def is_macro(self) -> bool:
        """Whether this action runs a motion over several beats."""
        return len(self.beats) > 1


def _plain(direction: str, button: str | None) -> Action:
    name = direction if button is None else (button if direction == "neutral" else f"{direction}+{button}")
    return Action(name, (DIRECTIONS[direction] + ((button,) if button else ()),))


def _seed() -> tuple[Action, ...]:
    # The talk's choice: one joypad direction and at most one button per step, 9 x 7 = 63.
    return tuple(_plain(d, b) for d, b in itertools.product(DIRECTIONS, (None, *ATTACKS)))


def _motion(name: str, beats: tuple[tuple[str, ...], ...]) -> Action:
    return Action(name, beats)


SPECIAL_MOVES: tuple[Action, ...] = tuple(
    [_motion(f"fireball-{b}", (("down",), ("down", "forward"), ("forward", b))) for b in ("lp", "hp")]
    + [_motion(f"uppercut-{b}", (("forward",), ("down",), ("down", "forward", b))) for b in ("lp", "hp")]
)

MINIMAL: tuple[Action, ...] = (
    _plain("neutral", None),
    _plain("forward", None),
    _plain("back", None),
    _plain("down-back", None),
    _plain("up-forward", None),
    _plain("up", None),
    _plain("neutral", "lp"),
    _plain("neutral", "hp"),
    _plain("neutral", "lk"),
    _plain("neutral", "hk"),
    _plain("down", "mp"),
    _plain("down", "hk"),
)

ACTION_SETS: Mapping[str, tuple[Action, ...]] = MappingProxyType(
    {
        "seed": _seed(),
        "minimal": MINIMAL,
        "specials": _seed() + SPECIAL_MOVES,
    }
)

ACTION_SET_DOCS: Mapping[str, str] = MappingProxyType(
    {
        "seed": "the talk's: 9 directions (incl. neutral) x (no button or one of 6 attacks) = 63 actions",
        "minimal": "12 actions: walk, block high/low, jump in, four attacks, crouching punch and sweep",
        "specials": "seed plus 4 macros (fireball and uppercut, light and heavy) run over one step",
    }
)


def get_action_set(name: str) -> tuple[Action, ...]:
    """An action set by name, with an error listing the valid names."""
    try:
        return ACTION_SETS[name]
    except KeyError:
        raise ValueError(f"unknown action set {name!r}; valid: {sorted(ACTION_SETS)}") from None


class ActionEncoder:
    """Turns actions into backend button masks, given the backend's button order."""

    def __init__(
        self, actions: tuple[Action, ...], logical_to_backend: Mapping[str, str], backend_buttons: tuple[str, ...]
    ) -> None:
        index = {b: i for i, b in enumerate(backend_buttons)}
        missing = sorted(b for b in logical_to_backend.values() if b not in index)
        if missing:
            raise ValueError(f"backend lacks buttons {missing}; it has {list(backend_buttons)}")
        self.bit = {k: 1 << index[v] for k, v in logical_to_backend.items()}
        self.actions = actions
        # Precomputed per facing: beats as masks, with forward/back resolved.
        self._masks = {
            facing_right: [tuple(self._mask(b, facing_right) for b in a.beats) for a in actions]
            for facing_right in (True, False)
        }

    def _mask(self, beat: tuple[str, ...], facing_right: bool) -> int:
        fwd, back = ("right", "left") if facing_right else ("left", "right")
        names = [fwd if b == "forward" else back if b == "back" else b for b in beat]
        return sum(self.bit[n] for n in set(names))

    def beats(self, action: int, facing_right: bool) -> tuple[int, ...]:
        """The button masks of an action's beats."""
        return self._masks[facing_right][action]
