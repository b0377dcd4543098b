"""What the CPU knows of a character's tools, derived from its move tables."""

from __future__ import annotations

from .buttons import DOWN, HK, HP, LK, LP, MK, MP
from .characters import ROSTER, Character
from .frame_data import CHARGE_BF


class Kit:
    """A character's reach, pokes and punishers, as the CPU sees them."""

    __slots__ = ("half", "pokes", "punishers", "threat")

    def __init__(self, char: Character) -> None:
        self.half = char.half // 16
        buttons = (LP, MP, HP, LK, MK, HK)
        entries = []
        for move in char.normals.values():
            if move.move_id > 12:
                continue  # jump-ins are no ground tools
            crouching = move.move_id > 6
            mask = buttons[(move.move_id - 1) % 6] | (DOWN if crouching else 0)
            entries.append((move.startup, move.reach // 16, move.damage, mask))
        self.threat = max(e[1] for e in entries)
        # Longest reach first for pokes, most damage first for punishes.
        self.pokes = tuple((reach, mask) for _, reach, _, mask in sorted(entries, key=lambda e: -e[1])[:3])
        self.punishers = tuple(
            (startup, reach, mask) for startup, reach, _, mask in sorted(entries, key=lambda e: -e[2])
        )


KITS = tuple(Kit(c) for c in ROSTER)
"""Kit per character id."""
CHARGE_KEEPERS = tuple(c.has_motion(CHARGE_BF) for c in ROSTER)
"""Per character id: keeps holding back through its presses, to stay charged."""
