"""The SNES pad: button names, bit masks and direction decoding."""

from __future__ import annotations

from collections.abc import Iterable

BUTTONS: tuple[str, ...] = (
    "Up",
    "Down",
    "Left",
    "Right",
    "Select",
    "Start",
    "Y",
    "B",
    "X",
    "A",
    "L",
    "R",
)
"""Bit ``i`` of a button mask means ``BUTTONS[i]`` is held."""

UP, DOWN, LEFT, RIGHT, SELECT, START, Y, B, X, A, L, R = (1 << i for i in range(12))

# SF2 default layout: Y/X/L punch light/medium/heavy, B/A/R kick light/medium/heavy.
LP, MP, HP, LK, MK, HK = Y, X, L, B, A, R
PUNCHES = LP | MP | HP
KICKS = LK | MK | HK
ATTACKS = PUNCHES | KICKS
# Attack buttons in move-id order (see frame_data.NORMAL_IDS).
ATTACK_BUTTONS: tuple[int, ...] = (LP, MP, HP, LK, MK, HK)

MASK_LIMIT = 1 << len(BUTTONS)


class UnknownButtonError(ValueError):
    """A button name that is not on the SNES pad."""


_INDEX = {name: i for i, name in enumerate(BUTTONS)}


def buttons_to_mask(names: Iterable[str]) -> int:
    """Return the mask for the named buttons (exact SNES names, e.g. ``"Y"``)."""
    if isinstance(names, str):
        # A bare string is one button name, not an iterable of characters.
        names = (names,)
    mask = 0
    for name in names:
        index = _INDEX.get(name) if isinstance(name, str) else None
        if index is None:
            raise UnknownButtonError(f"unknown button {name!r}; valid buttons are: {', '.join(BUTTONS)}")
        mask |= 1 << index
    return mask


def mask_to_buttons(mask: int) -> tuple[str, ...]:
    """Return the names of the buttons held in ``mask``, in pad order."""
    mask = check_mask(mask)
    return tuple(name for i, name in enumerate(BUTTONS) if mask >> i & 1)


def check_mask(mask: object) -> int:
    """Return ``mask`` as an int, or raise ``ValueError`` if it is not a 12-bit mask."""
    if isinstance(mask, bool):
        raise ValueError(f"button mask must be an int, got bool {mask!r}")
    try:
        value = mask.__index__()  # type: ignore[attr-defined]
    except AttributeError:
        raise ValueError(f"button mask must be an int, got {type(mask).__name__}") from None
    if not 0 <= value < MASK_LIMIT:
        raise ValueError(f"button mask {value} outside 12 bits (0..{MASK_LIMIT - 1})")
    return value


def _numpad(mask: int) -> int:
    """Numpad direction (5 = neutral, 6 = right, 8 = up) of the d-pad bits."""
    # Opposite directions held together cancel, as SNES games do (SOCD neutral).
    h = (1 if mask & RIGHT else 0) - (1 if mask & LEFT else 0)
    v = (1 if mask & UP else 0) - (1 if mask & DOWN else 0)
    return 5 + h + 3 * v


DIR_OF_PAD: tuple[int, ...] = tuple(_numpad(m) for m in range(16))
"""Absolute numpad direction for the low four mask bits (Up Down Left Right)."""

MIRROR: tuple[int, ...] = (0, 3, 2, 1, 6, 5, 4, 9, 8, 7)
"""Numpad direction seen by a fighter facing left (left and right swapped)."""

PAD_OF_DIR: tuple[int, ...] = (0, DOWN | LEFT, DOWN, DOWN | RIGHT, LEFT, 0, RIGHT, UP | LEFT, UP, UP | RIGHT)
"""Mask bits for an absolute numpad direction."""


def pad_for(rel: int, facing: int) -> int:
    """Mask bits for numpad direction ``rel`` relative to a fighter's ``facing``."""
    return PAD_OF_DIR[MIRROR[rel] if facing else rel]
