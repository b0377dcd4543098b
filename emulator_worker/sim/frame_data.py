"""Moves as data: the Move record, move ids and the table-row builders.

Distances are in stage pixels, times in frames (60 per second). A move's
hitbox reaches ``reach`` pixels in front of the attacker's centre and spans
heights ``lo``..``hi`` above the attacker's feet.
"""

from __future__ import annotations

from collections.abc import Sequence

SUB = 16
"""Sub-pixel units per pixel: positions and speeds are ints in 1/16 pixel."""

# Move kinds.
NORMAL, THROW, PROJECTILE, RISING, RUSH, GRAB = range(6)
KIND_NAMES = ("normal", "throw", "projectile", "rising", "rush", "grab")

# Hit levels: mid is blocked standing or crouching, low only crouching,
# high (jump-ins, overheads) only standing.
MID, LOW, HIGH = range(3)
LEVEL_NAMES = ("mid", "low", "high")

# Special-move inputs.
QCF, QCB, DP, CHARGE_BF, CHARGE_DU, SPIN, TWO_PUNCH = range(1, 8)
INPUT_NAMES = {
    QCF: "quarter circle forward (down, down-forward, forward) + button",
    QCB: "quarter circle back (down, down-back, back) + button",
    DP: "forward, down, down-forward + button",
    CHARGE_BF: "charge back, then forward + button",
    CHARGE_DU: "charge down, then up + button",
    SPIN: "full circle (forward, down, back, up in any rotation) + button",
    TWO_PUNCH: "two punch buttons pressed together",
}

# Move ids shown at RAM B+0x04. Normals: 1-6 standing, 7-12 crouching,
# 13-18 jumping, each in the order LP MP HP LK MK HK; 19 is the throw.
STAND, CROUCH, AIR = 0, 1, 2
NORMAL_NAMES = ("lp", "mp", "hp", "lk", "mk", "hk")
THROW_ID = 19
SPECIAL_IDS = {
    "hadouken": 20,
    "shoryuken": 21,
    "tatsumaki": 22,
    "sonic_boom": 23,
    "flash_kick": 24,
    "kikoken": 25,
    "spinning_bird_kick": 26,
    "spinning_piledriver": 27,
    "double_lariat": 28,
    "psycho_crusher": 29,
    "scissor_kick": 30,
}
MAX_MOVE_ID = 30


def normal_id(posture: int, button_index: int) -> int:
    """Move id of the normal for posture (STAND/CROUCH/AIR) and button 0..5."""
    return 1 + posture * 6 + button_index


MOVE_NAMES: dict[int, str] = {0: "none", THROW_ID: "throw"}
for _p, _pname in enumerate(("stand", "crouch", "jump")):
    for _b, _bname in enumerate(NORMAL_NAMES):
        MOVE_NAMES[normal_id(_p, _b)] = f"{_pname}_{_bname}"
MOVE_NAMES.update({v: k for k, v in SPECIAL_IDS.items()})


class Move:
    """One move's frame data (immutable by convention; shared by all fighters)."""

    __slots__ = (
        "active",
        "blockstun",
        "cancel",
        "chip",
        "damage",
        "hi",
        "hitstun",
        "invuln",
        "key",
        "kind",
        "knockdown",
        "level",
        "lo",
        "move_id",
        "name",
        "proj_invuln",
        "push",
        "reach",
        "recovery",
        "speed",
        "startup",
        "strength",
        "total",
        "y_path",
    )

    def __init__(
        self,
        move_id: int,
        strength: int,
        name: str,
        kind: int,
        startup: int,
        active: int,
        recovery: int,
        damage: int,
        reach: int,
        lo: int,
        hi: int,
        level: int,
        hitstun: int,
        blockstun: int,
        push: int = 8,
        knockdown: bool = False,
        cancel: bool = False,
        chip: int = 0,
        speed: float = 0,
        invuln: int = 0,
        rise: int = 0,
        proj_invuln: bool = False,
    ) -> None:
        self.move_id = move_id
        self.strength = strength
        self.key = move_id * 4 + strength
        self.name = name
        self.kind = kind
        self.startup = startup
        self.active = active
        self.recovery = recovery
        self.total = startup + active + recovery
        self.damage = damage
        self.chip = chip
        self.reach = reach * SUB
        self.lo = lo * SUB
        self.hi = hi * SUB
        self.level = level
        self.hitstun = hitstun
        self.blockstun = blockstun
        self.push = push * SUB
        self.knockdown = knockdown
        self.cancel = cancel
        # Projectile speed, or forward travel per active frame for rushes and
        # risings: given in pixels per frame, kept in sub-pixels per frame.
        self.speed = round(speed * SUB)
        self.invuln = invuln
        self.proj_invuln = proj_invuln
        self.y_path = _arc(startup, active, recovery, rise) if rise else None

    def __repr__(self) -> str:
        return f"Move({self.name!r}, id={self.move_id}, strength={self.strength})"


def _arc(startup: int, active: int, recovery: int, rise: int) -> tuple[int, ...]:
    """Per-frame height (sub-pixels) of an airborne special: up while active, then down.

    The fighter leaves the ground after startup, peaks ``rise`` pixels up at
    the end of the active frames, falls back over two thirds of the recovery
    and lands for the rest.
    """
    top = rise * SUB
    fall = max(1, recovery * 2 // 3)
    path = [0] * startup
    path += [top * (i + 1) // active for i in range(active)]
    path += [top - top * (i + 1) // fall for i in range(fall)]
    path += [0] * (recovery - fall)
    return tuple(path)


NORMAL_COLUMNS = (
    "startup",
    "active",
    "recovery",
    "damage",
    "reach",
    "lo",
    "hi",
    "level",
    "hitstun",
    "blockstun",
    "push",
    "knockdown",
    "cancel",
)


def build_normals(rows: Sequence[tuple], names: Sequence[str] = NORMAL_NAMES) -> dict[int, Move]:
    """Build the 18 normals from 18 rows of NORMAL_COLUMNS (stand, crouch, jump)."""
    if len(rows) != 18:
        raise ValueError("a normals table has 18 rows")
    moves = {}
    for i, row in enumerate(rows):
        posture, button = divmod(i, 6)
        (startup, active, recovery, damage, reach, lo, hi, level, hitstun, blockstun, push, knockdown, cancel) = row
        move_id = normal_id(posture, button)
        moves[move_id] = Move(
            move_id,
            button % 3,
            MOVE_NAMES[move_id],
            NORMAL,
            startup,
            active,
            recovery,
            damage,
            reach,
            lo,
            hi,
            level,
            hitstun,
            blockstun,
            push,
            knockdown,
            cancel,
        )
    return moves


def build_special(name: str, kind: int, strengths: Sequence[dict], **common: object) -> tuple[Move, Move, Move]:
    """Build the light/medium/heavy versions of a special from shared and per-strength fields."""
    if len(strengths) != 3:
        raise ValueError(f"{name}: a special has exactly 3 strengths")
    move_id = SPECIAL_IDS[name]
    built = []
    for strength, extra in enumerate(strengths):
        fields = dict(common)
        fields.update(extra)
        built.append(Move(move_id, strength, name, kind, **fields))  # type: ignore[arg-type]
    return built[0], built[1], built[2]


def throw_move(damage: int, reach: int) -> Move:
    """The close-range throw (forward or back + medium/heavy punch)."""
    return Move(
        THROW_ID,
        2,
        "throw",
        THROW,
        startup=1,
        active=1,
        recovery=28,
        damage=damage,
        reach=reach,
        lo=0,
        hi=80,
        level=MID,
        hitstun=0,
        blockstun=0,
        push=24,
        knockdown=True,
    )
