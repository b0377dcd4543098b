"""Hits between fighters: hitbox checks, blocking, damage, stun and projectiles."""

from __future__ import annotations

from .fighter import (
    BLOCKSTUN,
    CAN_BLOCK,
    HITSTUN,
    KNOCKDOWN,
    KNOCKDOWN_FRAMES,
    SPECIAL,
    Fighter,
)
from .frame_data import GRAB, HIGH, LOW, PROJECTILE, RUSH, SUB, THROW, Move

PROJ_HALF = 12 * SUB
"""Half-width of a projectile's hitbox."""

THROW_BREAK_PUSH = 12 * SUB
KNOCKBACK_VX = 2 * SUB
KNOCKBACK_VY = 3 * SUB


def reaches(a: Fighter, b: Fighter) -> bool:
    """Whether ``a``'s current move has an active hitbox overlapping ``b``'s hurtbox."""
    move = a.move
    if move is None or a.mhit:
        return False
    mf = a.mf
    if mf < move.startup or mf >= move.startup + move.active:
        return False
    kind = move.kind
    if kind == PROJECTILE or kind == THROW or kind == GRAB:
        return False
    if b.inv or b.state >= KNOCKDOWN:
        return False
    dx = b.x - a.x
    if a.facing:
        dx = -dx
    half = b.char.half
    if dx < -half or dx - half > move.reach:
        return False
    lo = a.y + move.lo
    hi = a.y + move.hi
    return lo < b.hurt_top() and hi > b.hurt_bottom()


def blocks(b: Fighter, level: int) -> bool:
    """Whether ``b`` blocks an attack of ``level`` (standing blocks mid/high, crouching mid/low)."""
    if b.air or b.y or b.state not in CAN_BLOCK:
        return False
    rel = b.rel
    if rel == 4:
        return level != LOW
    if rel == 1:
        return level != HIGH
    return False


def damage(a: Fighter, b: Fighter, base: int) -> int:
    """Table damage scaled by the attacker's power and the defender's defense."""
    return max(1, base * a.char.power * b.char.defense // 10000)


def land_hit(a: Fighter, b: Fighter, move: Move, from_x: int) -> None:
    """Apply ``move`` from ``a`` to ``b``: block (chip) or hit (damage, stun, knockdown).

    ``from_x`` is where the hit comes from (attacker or projectile), for pushback.
    """
    away = 1 if b.x >= from_x else -1
    b.push = away * move.push
    if blocks(b, move.level):
        if move.chip:
            b.health -= damage(a, b, move.chip)
        b.move = None
        b.state = BLOCKSTUN
        b.sf = 0
        b.stun = move.blockstun
        b.crouch = 1 if b.rel == 1 else 0
        return
    b.health -= damage(a, b, move.damage)
    b.move = None
    b.sf = 0
    if move.knockdown or b.air or b.y:
        b.state = KNOCKDOWN
        b.stun = KNOCKDOWN_FRAMES
        b.crouch = 0
        # Popped up (or further up, if airborne), the fighter falls and then lies down.
        b.air = 1
        b.vy = KNOCKBACK_VY
        b.vx = away * KNOCKBACK_VX
        b.push = 0
    else:
        b.state = HITSTUN
        b.stun = move.hitstun


def connect(a: Fighter, b: Fighter, move: Move) -> None:
    """``a``'s ``move`` connected (hit or block): one hit per move; rushes stop travelling."""
    a.mhit = 1
    if move.kind == RUSH:
        a.mf = max(a.mf, move.startup + move.active - 1)
    land_hit(a, b, move, a.x)


def resolve_hits(f1: Fighter, f2: Fighter) -> None:
    """Check both fighters' attacks first, then apply them, so that trades happen."""
    move1 = f1.move if reaches(f1, f2) else None
    move2 = f2.move if reaches(f2, f1) else None
    if move1 is not None:
        connect(f1, f2, move1)
    if move2 is not None:
        connect(f2, f1, move2)


def resolve_throws(f1: Fighter, f2: Fighter) -> None:
    """Carry out this frame's throw attempts; two at once break each other (no P1 priority)."""
    req1, req2 = f1.throw_req, f2.throw_req
    f1.throw_req = f2.throw_req = 0
    if req1 and req2:
        away = 1 if f2.x >= f1.x else -1
        f1.push = -away * THROW_BREAK_PUSH
        f2.push = away * THROW_BREAK_PUSH
        return
    a, b, req = (f1, f2, req1) if req1 else (f2, f1, req2)
    move = a.move
    if move is None or (move.kind != THROW and move.kind != GRAB):
        return
    dx = b.x - a.x
    if (dx if dx >= 0 else -dx) <= move.reach and a.can_throw(b):
        a.throw(b, move, req == 2)


def _projectile_hits(p: Fighter, b: Fighter) -> bool:
    if b.inv or b.state >= KNOCKDOWN:
        return False
    if b.state == SPECIAL and b.move is not None and b.move.proj_invuln:
        return False
    dx = b.x - p.px
    if dx < 0:
        dx = -dx
    if dx > b.char.half + PROJ_HALF:
        return False
    move = p.pmove
    assert move is not None
    return move.lo < b.hurt_top() and move.hi > b.hurt_bottom()


def move_projectiles(f1: Fighter, f2: Fighter, left: int, right: int) -> None:
    """Advance projectiles; they cancel each other, hit fighters, or leave the screen."""
    for p in (f1, f2):
        if not p.proj:
            continue
        p.px += p.pvx
        if p.px < left or p.px > right:
            p.proj = 0
            p.pmove = None
    if f1.proj and f2.proj:
        dx = f1.px - f2.px
        if -2 * PROJ_HALF <= dx <= 2 * PROJ_HALF:
            f1.proj = f2.proj = 0
            f1.pmove = f2.pmove = None
            return
    for p, b in ((f1, f2), (f2, f1)):
        if p.proj and _projectile_hits(p, b):
            move = p.pmove
            assert move is not None
            land_hit(p, b, move, p.px)
            p.proj = 0
            p.pmove = None
