"""One fighter: input reading, the state machine and movement, frame by frame."""

from __future__ import annotations

from .buttons import ATTACKS, DIR_OF_PAD, HK, HP, LK, LP, MIRROR, MK, MP
from .characters import Character
from .frame_data import (
    AIR,
    CHARGE_BF,
    CHARGE_DU,
    DP,
    GRAB,
    NORMAL,
    PROJECTILE,
    QCB,
    QCF,
    RISING,
    RUSH,
    SPIN,
    STAND,
    SUB,
    TWO_PUNCH,
    Move,
    normal_id,
)
from .frame_data import (
    CROUCH as POSTURE_CROUCH,
)
from .motion import HISTORY, IS_BACK, IS_DOWN, SEQUENCES, WINDOWS, has_sequence, has_spin

# Fighter states, as stored at RAM B+0x03.
(
    IDLE,
    WALK_FWD,
    WALK_BACK,
    CROUCH,
    JUMP,
    ATTACK,
    SPECIAL,
    BLOCK_STAND,
    BLOCK_CROUCH,
    HITSTUN,
    BLOCKSTUN,
    KNOCKDOWN,
    GETUP,
    THROWN,
    KO,
    VICTORY,
) = range(16)
STATE_NAMES = (
    "idle",
    "walk_forward",
    "walk_back",
    "crouch",
    "jump",
    "attack",
    "special",
    "block_stand",
    "block_crouch",
    "hitstun",
    "blockstun",
    "knockdown",
    "getup",
    "thrown",
    "ko",
    "victory",
)

HEALTH = 176
PREJUMP = 4  # frames on the ground before a jump leaves it
LANDING = 3  # frames of landing lag after a jump
KNOCKDOWN_FRAMES = 40  # frames lying down once on the ground
GETUP_FRAMES = 24  # invulnerable get-up
THROWN_FRAMES = 30  # frames held in a throw before falling
CHARGE_KEEP = 10  # frames a finished charge survives after letting go
PUSH_STEP = 3 * SUB  # pushback slides at most this far per frame
AIR_TUCK = 12 * SUB  # airborne hurtboxes start this far above the feet

# States from which a fighter may start an action, and those it can block from.
FREE = frozenset((IDLE, WALK_FWD, WALK_BACK, CROUCH, BLOCK_STAND, BLOCK_CROUCH))
CAN_BLOCK = FREE | {BLOCKSTUN}
THROWABLE = FREE | {ATTACK}

_STRONGEST_FIRST = ((HP, 2), (HK, 5), (MP, 1), (MK, 4), (LP, 0), (LK, 3))
_CROUCH_STATES = (CROUCH, BLOCK_CROUCH)


def _strength(buttons: int) -> int:
    """0/1/2 for light/medium/heavy: the heaviest of the pressed buttons wins."""
    if buttons & (HP | HK):
        return 2
    if buttons & (MP | MK):
        return 1
    return 0


class Fighter:
    """Mutable per-fighter state. Positions and speeds are in 1/16 pixel."""

    __slots__ = (
        "air",
        "air_attack",
        "bc",
        "bk",
        "char",
        "crouch",
        "cur_dir",
        "dc",
        "dk",
        "facing",
        "health",
        "hist_d",
        "hist_t",
        "inv",
        "landing",
        "mf",
        "mhit",
        "move",
        "pmove",
        "prev",
        "proj",
        "push",
        "pvx",
        "px",
        "rel",
        "rounds",
        "sf",
        "side",
        "state",
        "stun",
        "throw_req",
        "vx",
        "vy",
        "x",
        "y",
    )

    def __init__(self, char: Character, side: int) -> None:
        self.char = char
        self.side = side
        self.rounds = 0
        self.start_round()

    def start_round(self) -> None:
        """Put the fighter at its start mark with full health."""
        self.x = (192 if self.side == 0 else 320) * SUB
        self.y = 0
        self.vx = 0
        self.vy = 0
        self.air = 0
        self.facing = self.side
        self.state = IDLE
        self.sf = 0
        self.move: Move | None = None
        self.mf = 0
        self.mhit = 0
        self.stun = 0
        self.inv = 0
        self.health = HEALTH
        self.air_attack = 0
        self.landing = 0
        self.push = 0
        self.crouch = 0
        self.prev = 0
        self.cur_dir = 5
        self.rel = 5
        self.hist_d: list[int] = []
        self.hist_t: list[int] = []
        self.bc = 0
        self.bk = 0
        self.dc = 0
        self.dk = 0
        self.proj = 0
        self.px = 0
        self.pvx = 0
        self.pmove: Move | None = None
        self.throw_req = 0  # 1 throw forward, 2 throw behind: resolved after both updates

    def set_state(self, state: int) -> None:
        """Enter ``state`` (restarting its frame count) unless already in it."""
        if state != self.state:
            self.state = state
            self.sf = 0

    # ------------------------------------------------------------------ per frame
    def update(self, mask: int, opp: Fighter, now: int) -> None:
        """Advance one frame holding ``mask``: read input, run the state machine, move."""
        d = DIR_OF_PAD[mask & 15]
        if d != self.cur_dir:
            self.cur_dir = d
            hist_d = self.hist_d
            hist_d.append(d)
            self.hist_t.append(now)
            if len(hist_d) > HISTORY:
                del hist_d[0]
                del self.hist_t[0]
        pressed = mask & ~self.prev & ATTACKS
        self.prev = mask
        rel = MIRROR[d] if self.facing else d
        self.rel = rel
        char = self.char
        if IS_BACK[rel]:
            self.bc += 1
            if self.bc >= char.charge:
                self.bk = CHARGE_KEEP
        else:
            self.bc = 0
            if self.bk:
                self.bk -= 1
        if IS_DOWN[rel]:
            self.dc += 1
            if self.dc >= char.charge:
                self.dk = CHARGE_KEEP
        else:
            self.dc = 0
            if self.dk:
                self.dk -= 1
        if self.inv:
            self.inv -= 1
        self.sf += 1

        state = self.state
        if state in FREE:
            if not (pressed and self._try_attack(pressed, rel, opp, now)):
                self._free_move(rel, opp)
        elif state == JUMP:
            self._jump_frame(pressed, rel, opp, now)
        elif state == ATTACK or state == SPECIAL:
            self._move_frame(pressed, rel, opp, now)
        elif state == HITSTUN or state == BLOCKSTUN:
            self.stun -= 1
            if self.stun <= 0:
                self.stun = 0
                self._recover(rel)
        elif state == KNOCKDOWN:
            if not self.air:
                self.stun -= 1
                if self.stun <= 0:
                    self.set_state(GETUP)
                    self.stun = GETUP_FRAMES
                    self.inv = GETUP_FRAMES
        elif state == GETUP:
            self.stun -= 1
            if self.stun <= 0:
                self.stun = 0
                self._recover(rel)
        elif state == THROWN:
            self.stun -= 1
            if self.stun <= 0:
                self.set_state(KNOCKDOWN)
                self.stun = KNOCKDOWN_FRAMES
                self.inv = KNOCKDOWN_FRAMES

        if self.push:
            step = self.push
            if step > PUSH_STEP:
                step = PUSH_STEP
            elif step < -PUSH_STEP:
                step = -PUSH_STEP
            self.x += step
            self.push -= step
        if self.air:
            self.x += self.vx
            self.y += self.vy
            self.vy -= char.gravity
            if self.y <= 0:
                self._land()

    def _free_move(self, rel: int, opp: Fighter) -> None:
        """Walk, crouch, block or start a jump from a free state."""
        self.crouch = 0
        if rel >= 7:
            self.set_state(JUMP)
            self.landing = 0
            self.air_attack = 0
            sign = -1 if self.facing else 1
            self.vx = 0 if rel == 8 else sign * self.char.jump_vx if rel == 9 else -sign * self.char.jump_vx
        elif rel <= 3:
            self.crouch = 1
            if rel == 1 and (opp.state == ATTACK or opp.state == SPECIAL or opp.proj):
                self.set_state(BLOCK_CROUCH)
            else:
                self.set_state(CROUCH)
        elif rel == 6:
            self.set_state(WALK_FWD)
            self.x += -self.char.walk_fwd if self.facing else self.char.walk_fwd
        elif rel == 4:
            # Holding back near a threat is a block pose; otherwise it is a walk.
            if opp.state == ATTACK or opp.state == SPECIAL or opp.proj:
                self.set_state(BLOCK_STAND)
            else:
                self.set_state(WALK_BACK)
                self.x += self.char.walk_back if self.facing else -self.char.walk_back
        else:
            self.set_state(IDLE)

    def _recover(self, rel: int) -> None:
        """Return to a neutral standing or crouching state."""
        self.move = None
        if rel <= 3:
            self.crouch = 1
            self.set_state(CROUCH)
        else:
            self.crouch = 0
            self.set_state(IDLE)

    def _jump_frame(self, pressed: int, rel: int, opp: Fighter, now: int) -> None:
        if self.air:
            if pressed and not self.air_attack:
                self.air_attack = 1
                self._start_normal(AIR, pressed)
        elif self.landing:
            self.landing -= 1
            if not self.landing:
                self._recover(rel)
        elif self.sf < PREJUMP:
            # Specials may cancel the pre-jump (how charge-up and 360 moves come out).
            if pressed:
                self._try_special(pressed, rel, opp, now)
        else:
            self.air = 1
            self.vy = self.char.jump_vy

    def _land(self) -> None:
        self.y = 0
        self.vy = 0
        self.vx = 0
        self.air = 0
        state = self.state
        if state == KNOCKDOWN or state == KO:
            return
        self.move = None
        self.crouch = 0
        self.state = JUMP
        self.sf = 0
        self.landing = LANDING

    def _move_frame(self, pressed: int, rel: int, opp: Fighter, now: int) -> None:
        """Advance the current move by one frame."""
        move = self.move
        if move is None:  # defensive: a state without a move recovers
            self._recover(rel)
            return
        if pressed and move.cancel and self.mhit and self._try_special(pressed, rel, opp, now):
            return
        mf = self.mf + 1
        self.mf = mf
        if mf >= move.total:
            if self.air:
                self.move = None
                self.set_state(JUMP)
            else:
                self.y = 0
                self._recover(rel)
            return
        kind = move.kind
        if kind == NORMAL:
            return
        startup = move.startup
        if kind == PROJECTILE:
            if mf == startup and not self.proj:
                sign = -1 if self.facing else 1
                self.proj = 1
                self.pmove = move
                self.px = self.x + sign * move.reach
                self.pvx = sign * move.speed
        elif kind == RUSH or kind == RISING:
            if startup <= mf < startup + move.active and not (kind == RUSH and self.mhit):
                self.x += -move.speed if self.facing else move.speed
            if move.y_path is not None:
                self.y = move.y_path[mf]
        elif kind == GRAB and mf == startup:
            self.throw_req = 1

    # -------------------------------------------------------------- starting moves
    def _try_attack(self, pressed: int, rel: int, opp: Fighter, now: int) -> bool:
        """Start a special, throw or normal for newly pressed buttons; False if none."""
        if self._try_special(pressed, rel, opp, now):
            return True
        if pressed & (MP | HP) and (rel == 4 or rel == 6):
            dx = opp.x - self.x
            if (dx if dx >= 0 else -dx) <= self.char.throw.reach and self.can_throw(opp):
                self.start_move(self.char.throw, ATTACK)
                self.throw_req = 2 if rel == 4 else 1
                return True
        self._start_normal(POSTURE_CROUCH if rel <= 3 else STAND, pressed)
        return True

    def _start_normal(self, posture: int, pressed: int) -> None:
        index = next((i for button, i in _STRONGEST_FIRST if pressed & button), None)
        if index is None:  # pragma: no cover - callers only pass attack presses
            return
        self.start_move(self.char.normals[normal_id(posture, index)], ATTACK)
        self.crouch = 1 if posture == POSTURE_CROUCH else 0

    def _try_special(self, pressed: int, rel: int, opp: Fighter, now: int) -> bool:
        for special in self.char.specials:
            buttons = pressed & special.buttons
            if not buttons:
                continue
            motion = special.motion
            if motion == CHARGE_BF:
                ok = self.bk > 0 and (rel == 6 or rel == 3 or rel == 9)
            elif motion == CHARGE_DU:
                ok = self.dk > 0 and rel >= 7
            elif motion == QCF or motion == QCB or motion == DP:
                ok = has_sequence(self.hist_d, self.hist_t, self.facing, SEQUENCES[motion], now, WINDOWS[motion])
            elif motion == SPIN:
                ok = has_spin(self.hist_d, self.hist_t, self.facing, now)
            elif motion == TWO_PUNCH:
                ok = buttons & (buttons - 1) != 0
            else:  # pragma: no cover - data tables use only the motions above
                ok = False
            if not ok:
                continue
            move = special.moves[_strength(buttons)]
            if move.kind == PROJECTILE and self.proj:
                continue  # one projectile on screen per player
            if motion == CHARGE_BF:
                self.bc = self.bk = 0
            elif motion == CHARGE_DU:
                self.dc = self.dk = 0
            self.start_move(move, SPECIAL)
            self.crouch = 0
            return True
        return False

    def start_move(self, move: Move, state: int) -> None:
        """Begin ``move`` on this frame (move frame 0)."""
        self.state = state
        self.sf = 0
        self.move = move
        self.mf = 0
        self.mhit = 0
        if move.invuln:
            self.inv = move.invuln
        if not self.air:
            self.vx = 0

    def can_throw(self, opp: Fighter) -> bool:
        """Whether ``opp`` may be grabbed now (on the ground, not stunned or invincible)."""
        if opp.air or opp.y or opp.inv or opp.state not in THROWABLE:
            return False
        move = opp.move
        return opp.state != ATTACK or move is None or move.kind == NORMAL

    def throw(self, opp: Fighter, move: Move, behind: bool) -> None:
        """Grab ``opp``: damage now, a short hold, then a knockdown."""
        self.mhit = 1
        opp.health -= max(1, move.damage * self.char.power * opp.char.defense // 10000)
        opp.move = None
        opp.state = THROWN
        opp.sf = 0
        opp.stun = THROWN_FRAMES
        opp.crouch = 0
        opp.inv = THROWN_FRAMES
        sign = -1 if self.facing else 1
        if behind:
            # A back throw lands the opponent on the other side.
            opp.x = self.x - sign * (self.half_px() + opp.half_px()) * SUB
        opp.push = sign * move.push * (-1 if behind else 1)

    def half_px(self) -> int:
        """Body half-width in pixels."""
        return self.char.half // SUB

    def hurt_bottom(self) -> int:
        """Bottom of the hurtbox: airborne fighters tuck their legs in."""
        return self.y + AIR_TUCK if self.air else self.y

    def hurt_top(self) -> int:
        """Top of the hurtbox in sub-pixels above the ground."""
        return self.y + (self.char.crouch_height if self.crouch else self.char.height)
