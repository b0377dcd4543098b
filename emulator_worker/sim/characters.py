"""The roster: per-character stats, normals and specials, all as data tables."""

from __future__ import annotations

from collections.abc import Sequence

from .buttons import KICKS, PUNCHES
from .frame_data import (
    CHARGE_BF,
    CHARGE_DU,
    DP,
    GRAB,
    HIGH,
    LOW,
    MID,
    PROJECTILE,
    QCB,
    QCF,
    RISING,
    RUSH,
    SPIN,
    SUB,
    TWO_PUNCH,
    Move,
    build_normals,
    build_special,
    throw_move,
)

F, T = False, True

# Shoto (Ryu) normals; other characters are derived from this table below.
# Columns: startup active recovery damage reach lo hi level hitstun blockstun
#          push knockdown cancel
SHOTO_NORMALS: tuple[tuple, ...] = (
    # standing LP MP HP LK MK HK
    (3, 3, 6, 6, 52, 50, 80, MID, 14, 10, 6, F, T),
    (5, 4, 12, 14, 58, 50, 84, MID, 18, 14, 8, F, T),
    (7, 5, 20, 22, 62, 45, 100, MID, 22, 16, 10, F, F),
    (4, 4, 8, 8, 56, 30, 60, MID, 14, 10, 6, F, T),
    (6, 4, 14, 16, 66, 35, 70, MID, 18, 14, 8, F, F),
    (9, 5, 22, 24, 74, 40, 80, MID, 22, 16, 12, F, F),
    # crouching LP MP HP LK MK HK (sweep)
    (3, 3, 6, 6, 50, 25, 50, MID, 14, 10, 6, F, T),
    (5, 4, 12, 13, 56, 25, 55, MID, 18, 14, 8, F, T),
    (6, 6, 20, 20, 48, 30, 110, MID, 22, 16, 10, F, F),
    (4, 3, 8, 7, 56, 0, 20, LOW, 14, 10, 6, F, T),
    (6, 4, 14, 14, 68, 0, 20, LOW, 18, 14, 8, F, T),
    (8, 4, 24, 20, 76, 0, 16, LOW, 0, 16, 12, T, F),
    # jumping LP MP HP LK MK HK: hit heights are relative to the jumper's feet;
    # recovery 0 because landing ends a jump attack.
    (4, 10, 0, 8, 44, -20, 30, HIGH, 14, 10, 6, F, F),
    (5, 8, 0, 16, 50, -24, 30, HIGH, 18, 14, 8, F, F),
    (6, 6, 0, 22, 54, -30, 20, HIGH, 22, 16, 10, F, F),
    (4, 12, 0, 8, 50, -20, 20, HIGH, 14, 10, 6, F, F),
    (5, 8, 0, 16, 58, -24, 20, HIGH, 18, 14, 8, F, F),
    (6, 6, 0, 22, 62, -30, 10, HIGH, 22, 16, 10, F, F),
)
_COL = {
    "startup": 0,
    "active": 1,
    "recovery": 2,
    "damage": 3,
    "reach": 4,
    "lo": 5,
    "hi": 6,
    "hitstun": 8,
    "blockstun": 9,
    "push": 10,
}


def derive(
    base: Sequence[tuple],
    startup: int = 0,
    reach: int = 0,
    damage: int = 100,
    rows: dict[int, dict[str, int]] | None = None,
) -> tuple[tuple, ...]:
    """Shift a normals table: startup frames, reach pixels, damage percent, row overrides.

    ``rows`` maps a row index (0..17) to column overrides applied after the shifts.
    """
    out = []
    for i, row in enumerate(base):
        r = list(row)
        r[0] = max(1, r[0] + startup)
        r[4] += reach
        r[3] = max(1, r[3] * damage // 100)
        for col, value in (rows or {}).get(i, {}).items():
            r[_COL[col]] = value
        out.append(tuple(r))
    return tuple(out)


class Special:
    """A special move: its input, the button group that triggers it, and 3 strengths."""

    __slots__ = ("buttons", "motion", "moves")

    def __init__(self, motion: int, buttons: int, moves: tuple[Move, Move, Move]) -> None:
        self.motion = motion
        self.buttons = buttons
        self.moves = moves


class Character:
    """Stats and move list of one fighter type. Speeds are in pixels per frame."""

    __slots__ = (
        "by_id",
        "charge",
        "cid",
        "colors",
        "crouch_height",
        "defense",
        "display",
        "gravity",
        "half",
        "height",
        "jump_vx",
        "jump_vy",
        "moves",
        "name",
        "normals",
        "power",
        "specials",
        "throw",
        "walk_back",
        "walk_fwd",
    )

    def __init__(
        self,
        cid: int,
        name: str,
        display: str,
        *,
        walk_fwd: float,
        walk_back: float,
        jump_vy: float,
        jump_vx: float,
        gravity: float,
        half: int,
        height: int,
        crouch_height: int,
        power: int,
        defense: int,
        charge: int,
        normals: Sequence[tuple],
        specials: Sequence[Special],
        throw_damage: int,
        throw_reach: int,
        colors: tuple[tuple[int, int, int], tuple[int, int, int]],
    ) -> None:
        self.cid = cid
        self.name = name
        self.display = display
        self.walk_fwd = round(walk_fwd * SUB)
        self.walk_back = round(walk_back * SUB)
        self.jump_vy = round(jump_vy * SUB)
        self.jump_vx = round(jump_vx * SUB)
        self.gravity = round(gravity * SUB)
        self.half = half * SUB
        self.height = height * SUB
        self.crouch_height = crouch_height * SUB
        self.power = power  # percent of table damage dealt
        self.defense = defense  # percent of incoming damage taken
        self.charge = charge  # frames a charge direction must be held
        self.normals = build_normals(normals)
        self.specials = tuple(specials)
        self.throw = throw_move(throw_damage, throw_reach)
        self.colors = colors
        moves: dict[int, Move] = {m.key: m for m in self.normals.values()}
        moves[self.throw.key] = self.throw
        for special in self.specials:
            for move in special.moves:
                moves[move.key] = move
        self.moves = moves  # key (id * 4 + strength) -> Move, used by save states
        by_id: dict[int, Move] = {}
        for move in moves.values():
            # The medium version stands for a special when only the id is known (RAM).
            if move.move_id not in by_id or move.strength == 1:
                by_id[move.move_id] = move
        self.by_id = by_id

    def has_motion(self, motion: int) -> bool:
        """Whether one of this character's specials uses ``motion``."""
        return any(s.motion == motion for s in self.specials)

    def special_with(self, motion: int) -> Special | None:
        """The first special performed with ``motion``, if any."""
        for special in self.specials:
            if special.motion == motion:
                return special
        return None


def _s(**fields: float) -> dict:
    return fields


def _hadouken(dmg: tuple[int, int, int], recovery: int, speeds: tuple[float, ...]) -> tuple[Move, Move, Move]:
    return build_special(
        "hadouken",
        PROJECTILE,
        [_s(damage=d, speed=v) for d, v in zip(dmg, speeds, strict=True)],
        startup=11,
        active=1,
        recovery=recovery,
        chip=4,
        reach=40,
        lo=36,
        hi=64,
        level=MID,
        hitstun=20,
        blockstun=18,
        push=8,
    )


def _shoryuken(
    dmg: tuple[int, int, int], rise: tuple[int, int, int], speeds: tuple[float, ...]
) -> tuple[Move, Move, Move]:
    return build_special(
        "shoryuken",
        RISING,
        [_s(damage=d, rise=r, speed=v, invuln=i) for d, r, v, i in zip(dmg, rise, speeds, (6, 9, 14), strict=True)],
        startup=3,
        active=12,
        recovery=28,
        chip=4,
        reach=44,
        lo=30,
        hi=120,
        level=MID,
        hitstun=20,
        blockstun=18,
        push=10,
        knockdown=True,
    )


def _tatsumaki(dmg: tuple[int, int, int], speeds: tuple[float, ...]) -> tuple[Move, Move, Move]:
    # Raised off the ground: it sails over crouching opponents, as in SF2.
    return build_special(
        "tatsumaki",
        RUSH,
        [_s(damage=d, speed=v) for d, v in zip(dmg, speeds, strict=True)],
        startup=7,
        active=24,
        recovery=12,
        chip=3,
        reach=42,
        lo=40,
        hi=90,
        level=MID,
        hitstun=20,
        blockstun=16,
        push=12,
        knockdown=True,
        rise=20,
    )


RYU = Character(
    0,
    "ryu",
    "Ryu",
    walk_fwd=1.5,
    walk_back=1.25,
    jump_vy=8.5,
    jump_vx=3,
    gravity=0.4375,
    half=20,
    height=88,
    crouch_height=56,
    power=100,
    defense=100,
    charge=45,
    normals=SHOTO_NORMALS,
    specials=(
        Special(DP, PUNCHES, _shoryuken((22, 26, 30), (50, 70, 90), (1, 1.5, 2))),
        Special(QCF, PUNCHES, _hadouken((18, 19, 20), 32, (3, 4, 5))),
        Special(QCB, KICKS, _tatsumaki((16, 18, 20), (2, 2.5, 3))),
    ),
    throw_damage=26,
    throw_reach=56,
    colors=((236, 236, 224), (200, 40, 40)),
)

KEN = Character(
    1,
    "ken",
    "Ken",
    walk_fwd=1.5,
    walk_back=1.25,
    jump_vy=8.5,
    jump_vx=3,
    gravity=0.4375,
    half=20,
    height=88,
    crouch_height=56,
    power=100,
    defense=100,
    charge=45,
    normals=derive(SHOTO_NORMALS, rows={4: {"startup": 5}, 5: {"damage": 26, "reach": 78}}),
    specials=(
        Special(DP, PUNCHES, _shoryuken((26, 30, 34), (60, 80, 100), (1.5, 2, 2.5))),
        Special(QCF, PUNCHES, _hadouken((16, 17, 18), 34, (3, 4, 5))),
        Special(QCB, KICKS, _tatsumaki((14, 16, 18), (3, 3.5, 4))),
    ),
    throw_damage=26,
    throw_reach=56,
    colors=((220, 40, 40), (250, 210, 60)),
)

GUILE = Character(
    2,
    "guile",
    "Guile",
    walk_fwd=1.375,
    walk_back=1.25,
    jump_vy=8,
    jump_vx=3,
    gravity=0.4375,
    half=20,
    height=92,
    crouch_height=58,
    power=100,
    defense=100,
    charge=40,
    normals=derive(SHOTO_NORMALS, rows={4: {"reach": 72}, 5: {"reach": 82}, 7: {"reach": 62}, 10: {"reach": 72}}),
    specials=(
        Special(
            CHARGE_DU,
            KICKS,
            build_special(
                "flash_kick",
                RISING,
                [
                    _s(damage=d, rise=r, speed=v, invuln=i)
                    for d, r, v, i in zip((24, 28, 32), (70, 90, 110), (0.5, 1, 1.5), (8, 10, 14), strict=True)
                ],
                startup=3,
                active=10,
                recovery=30,
                chip=4,
                reach=46,
                lo=20,
                hi=120,
                level=MID,
                hitstun=20,
                blockstun=18,
                push=10,
                knockdown=True,
            ),
        ),
        Special(
            CHARGE_BF,
            PUNCHES,
            build_special(
                "sonic_boom",
                PROJECTILE,
                [_s(damage=d, speed=v) for d, v in zip((14, 15, 16), (3.5, 4.5, 5.5), strict=True)],
                startup=8,
                active=1,
                recovery=18,
                chip=4,
                reach=40,
                lo=36,
                hi=64,
                level=MID,
                hitstun=20,
                blockstun=18,
                push=8,
            ),
        ),
    ),
    throw_damage=28,
    throw_reach=56,
    colors=((90, 130, 60), (240, 220, 80)),
)

CHUNLI = Character(
    3,
    "chunli",
    "Chun-Li",
    walk_fwd=2.0,
    walk_back=1.75,
    jump_vy=9.5,
    jump_vx=3.5,
    gravity=0.4375,
    half=18,
    height=84,
    crouch_height=52,
    power=100,
    defense=100,
    charge=40,
    normals=derive(SHOTO_NORMALS, startup=-1, damage=95, rows={5: {"reach": 82}, 11: {"reach": 80}}),
    specials=(
        Special(
            CHARGE_DU,
            KICKS,
            build_special(
                "spinning_bird_kick",
                RUSH,
                [_s(damage=d, speed=v) for d, v in zip((18, 20, 22), (3, 3.5, 4), strict=True)],
                startup=6,
                active=30,
                recovery=16,
                chip=3,
                reach=46,
                lo=30,
                hi=100,
                level=MID,
                hitstun=20,
                blockstun=16,
                push=12,
                knockdown=True,
                rise=40,
            ),
        ),
        Special(
            CHARGE_BF,
            PUNCHES,
            build_special(
                "kikoken",
                PROJECTILE,
                [_s(damage=d, speed=v) for d, v in zip((15, 16, 17), (3, 3.5, 4), strict=True)],
                startup=10,
                active=1,
                recovery=22,
                chip=3,
                reach=40,
                lo=32,
                hi=60,
                level=MID,
                hitstun=20,
                blockstun=18,
                push=8,
            ),
        ),
    ),
    throw_damage=24,
    throw_reach=54,
    colors=((40, 80, 200), (250, 250, 250)),
)

ZANGIEF = Character(
    4,
    "zangief",
    "Zangief",
    walk_fwd=1.0,
    walk_back=0.875,
    jump_vy=7.5,
    jump_vx=2.5,
    gravity=0.4375,
    half=24,
    height=96,
    crouch_height=62,
    power=110,
    defense=90,
    charge=45,
    normals=derive(SHOTO_NORMALS, startup=2, reach=4, damage=110),
    specials=(
        Special(
            SPIN,
            PUNCHES,
            build_special(
                "spinning_piledriver",
                GRAB,
                [_s(damage=d, reach=r) for d, r in zip((36, 40, 44), (60, 64, 68), strict=True)],
                startup=2,
                active=2,
                recovery=30,
                lo=0,
                hi=96,
                level=MID,
                hitstun=0,
                blockstun=0,
                push=24,
                knockdown=True,
            ),
        ),
        Special(
            TWO_PUNCH,
            PUNCHES,
            build_special(
                "double_lariat",
                RUSH,
                [_s(), _s(), _s()],
                startup=5,
                active=24,
                recovery=14,
                damage=18,
                chip=3,
                reach=52,
                lo=40,
                hi=90,
                level=MID,
                hitstun=20,
                blockstun=16,
                push=12,
                knockdown=True,
                speed=1.5,
                proj_invuln=True,
            ),
        ),
    ),
    throw_damage=34,
    throw_reach=60,
    colors=((200, 120, 90), (180, 30, 30)),
)

BISON = Character(
    # The boss: hits harder, takes less, walks fastest, charges in 30 frames,
    # and his psycho crusher ignores projectiles (the heavy one is fully invincible).
    5,
    "bison",
    "M. Bison",
    walk_fwd=2.0,
    walk_back=1.75,
    jump_vy=8.5,
    jump_vx=3.25,
    gravity=0.4375,
    half=20,
    height=92,
    crouch_height=58,
    power=118,
    defense=85,
    charge=30,
    normals=derive(SHOTO_NORMALS, startup=-1, reach=6),
    specials=(
        Special(
            CHARGE_BF,
            PUNCHES,
            build_special(
                "psycho_crusher",
                RUSH,
                [_s(damage=d, speed=v, invuln=i) for d, v, i in zip((26, 30, 34), (5, 6, 7), (0, 0, 36), strict=True)],
                startup=6,
                active=30,
                recovery=14,
                chip=8,
                reach=44,
                lo=30,
                hi=80,
                level=MID,
                hitstun=24,
                blockstun=24,
                push=14,
                knockdown=True,
                rise=30,
                proj_invuln=True,
            ),
        ),
        Special(
            CHARGE_BF,
            KICKS,
            build_special(
                "scissor_kick",
                RUSH,
                [_s(damage=d, speed=v) for d, v in zip((20, 23, 26), (4, 5, 6), strict=True)],
                startup=5,
                active=16,
                recovery=8,
                chip=5,
                reach=48,
                lo=30,
                hi=80,
                level=MID,
                hitstun=24,
                blockstun=22,
                push=14,
            ),
        ),
    ),
    throw_damage=30,
    throw_reach=58,
    colors=((180, 30, 40), (90, 40, 120)),
)

ROSTER: tuple[Character, ...] = (RYU, KEN, GUILE, CHUNLI, ZANGIEF, BISON)
CHARACTERS: tuple[str, ...] = tuple(c.name for c in ROSTER)
"""Lowercase character ids; the index is the character id stored in RAM."""
BOSS = BISON.cid
