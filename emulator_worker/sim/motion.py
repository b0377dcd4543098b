"""Motion inputs read from a fighter's input buffer (direction changes with times).

Directions use numpad notation relative to the fighter's facing: 6 = forward,
4 = back, 2 = down, 8 = up, 5 = neutral. The buffer stores absolute
directions and the frame each was entered; a direction counts for a motion
while it was held at some point inside the motion's window.
"""

from __future__ import annotations

from .buttons import MIRROR
from .frame_data import DP, QCB, QCF

SEQUENCES: dict[int, tuple[int, ...]] = {QCF: (2, 3, 6), QCB: (2, 1, 4), DP: (6, 2, 3)}
"""Direction order of each motion, first to last."""

WINDOWS: dict[int, int] = {QCF: 20, QCB: 20, DP: 20}
"""Frames from leaving the first direction of a motion to the button press, at most."""

SPIN_WINDOW = 30
"""Frames within which a full circle must touch forward, down, back and up."""

HISTORY = 16
"""Direction changes remembered per fighter."""

# Direction components relative to facing, indexed by numpad direction.
IS_BACK = (False, True, False, False, True, False, False, True, False, False)
IS_DOWN = (False, True, True, True, False, False, False, False, False, False)
IS_UP = (False, False, False, False, False, False, False, True, True, True)
IS_FORWARD = (False, False, False, True, False, False, True, False, False, True)


def has_sequence(dirs: list[int], times: list[int], facing: int, seq: tuple[int, ...], now: int, window: int) -> bool:
    """Whether ``seq`` was entered in order (other directions may come between).

    Each direction of ``seq`` must have been held at some frame >= now - window,
    and the last one must still be held: the direction at the press decides,
    so forward, down, down-forward, forward + punch is a fireball, not an uppercut.
    """
    if not dirs or (MIRROR[dirs[-1]] if facing else dirs[-1]) != seq[-1]:
        return False
    limit = now - window
    k = len(seq) - 1
    want = seq[k]
    left_at = now  # frame the entry being examined was left (or now if still held)
    for i in range(len(dirs) - 1, -1, -1):
        if left_at < limit:
            return False
        d = dirs[i]
        if facing:
            d = MIRROR[d]
        if d == want:
            k -= 1
            if k < 0:
                return True
            want = seq[k]
        left_at = times[i]
    return False


def has_spin(dirs: list[int], times: list[int], facing: int, now: int) -> bool:
    """Whether forward, down, back and up were all held inside SPIN_WINDOW frames."""
    limit = now - SPIN_WINDOW
    seen = 0
    left_at = now
    for i in range(len(dirs) - 1, -1, -1):
        if left_at < limit:
            break
        d = dirs[i]
        if facing:
            d = MIRROR[d]
        if IS_FORWARD[d]:
            seen |= 1
        if IS_DOWN[d]:
            seen |= 2
        if IS_BACK[d]:
            seen |= 4
        if IS_UP[d]:
            seen |= 8
        left_at = times[i]
    return seen == 15
