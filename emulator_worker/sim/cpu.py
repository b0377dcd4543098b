"""The built-in CPU opponent: a scripted player with difficulty levels 1..8.

It sees only what the RAM map shows (an ``Observation``) and answers with
button masks, entering special moves by their real motions and charges, so
the same logic can drive either side of a two-controller match. Higher levels
react sooner, block and anti-air more often, punish whiffs, and fumble fewer
motions (numbers in ``LEVELS``).
"""

from __future__ import annotations

from typing import Any

from .buttons import DOWN, HK, HP, LEFT, LK, LP, MK, MP, RIGHT, UP, pad_for
from .characters import ROSTER, Character
from .fighter import (
    ATTACK,
    BLOCKSTUN,
    FREE,
    GETUP,
    HITSTUN,
    JUMP,
    KNOCKDOWN,
    SPECIAL,
    THROWN,
)
from .frame_data import (
    CHARGE_BF,
    CHARGE_DU,
    GRAB,
    HIGH,
    LOW,
    PROJECTILE,
    RISING,
    RUSH,
    SPIN,
    TWO_PUNCH,
    Move,
)
from .kit import CHARGE_KEEPERS, KITS, Kit
from .motion import SEQUENCES
from .observation import Observation, observe, threat_bits, threats

LEVEL_COLUMNS = (
    "think",
    "jitter",
    "react",
    "block",
    "height",
    "antiair",
    "punish",
    "zoning",
    "approach",
    "jump_in",
    "throw",
    "attack",
    "error",
    "noise",
)
# think: frames between neutral decisions; jitter: random extra frames; react:
# frames from seeing a new threat (attack, jump, projectile) to answering it;
# block: chance to block a seen attack; height: chance to pick the right block
# height; antiair: chance to answer a jump; punish: chance to punish a whiff;
# zoning: chance to throw a projectile from afar; approach / jump_in: chance to
# walk / jump in from neutral; throw and attack: chances at close range;
# error: chance to fumble a motion; noise: chance of a random, pointless action.
LEVELS: tuple[tuple[float, ...], ...] = (
    (30, 12, 24, 0.05, 0.50, 0.00, 0.00, 0.10, 0.40, 0.10, 0.05, 0.30, 0.50, 0.40),
    (24, 10, 18, 0.25, 0.60, 0.15, 0.15, 0.25, 0.35, 0.10, 0.10, 0.35, 0.40, 0.25),
    (18, 8, 12, 0.50, 0.75, 0.35, 0.35, 0.35, 0.30, 0.08, 0.20, 0.40, 0.25, 0.12),
    (15, 6, 10, 0.60, 0.82, 0.50, 0.50, 0.40, 0.30, 0.08, 0.25, 0.45, 0.18, 0.08),
    (12, 5, 8, 0.70, 0.88, 0.62, 0.62, 0.45, 0.30, 0.08, 0.30, 0.50, 0.12, 0.05),
    (9, 4, 6, 0.78, 0.93, 0.74, 0.74, 0.48, 0.30, 0.06, 0.35, 0.55, 0.06, 0.03),
    (7, 3, 5, 0.86, 0.97, 0.84, 0.84, 0.50, 0.30, 0.05, 0.40, 0.60, 0.03, 0.01),
    (5, 2, 4, 0.93, 1.00, 0.92, 0.92, 0.50, 0.30, 0.05, 0.45, 0.65, 0.00, 0.00),
)

BUSY = (HITSTUN, BLOCKSTUN, KNOCKDOWN, GETUP, THROWN)


def check_level(level: object) -> int:
    """Return ``level`` if it is an int in 1..8, else raise ValueError."""
    if isinstance(level, bool) or not hasattr(level, "__index__"):
        raise ValueError(f"difficulty must be an int 1..8, got {level!r}")
    value = level.__index__()  # type: ignore[attr-defined]
    if not 1 <= value <= len(LEVELS):
        raise ValueError(f"difficulty must be 1..{len(LEVELS)}, got {value}")
    return value


class Params:
    """One row of LEVELS as attributes."""

    __slots__ = LEVEL_COLUMNS
    think: float
    jitter: float
    react: float
    block: float
    height: float
    antiair: float
    punish: float
    zoning: float
    approach: float
    jump_in: float
    throw: float
    attack: float
    error: float
    noise: float

    def __init__(self, row: tuple[float, ...]) -> None:
        for name, value in zip(LEVEL_COLUMNS, row, strict=True):
            setattr(self, name, value)


PARAMS = tuple(Params(row) for row in LEVELS)


class CpuController:
    """Per-side CPU memory: a queue of planned masks, a held mask and a reaction timer.

    Call ``next_mask`` once per ``frames_per_call`` frames (1 inside the sim).
    """

    __slots__ = (
        "back_bit",
        "back_held",
        "down_held",
        "fpc",
        "hold",
        "keep",
        "level",
        "plan",
        "seen",
        "wait",
    )

    def __init__(self, level: int, frames_per_call: int = 1) -> None:
        self.level = check_level(level)
        if frames_per_call < 1:
            raise ValueError("frames_per_call must be >= 1")
        self.fpc = frames_per_call
        self.new_round()

    def new_round(self) -> None:
        """Forget plans and charges (a new round starts from neutral)."""
        self.plan: list[int] = []  # masks to send next, last element first
        self.hold = 0
        self.wait = 0
        self.back_held = 0
        self.down_held = 0
        self.back_bit = LEFT
        self.seen = 0  # threats (see observation.threats) already reacted to
        self.keep = 0  # direction held through presses, to keep a charge

    def next_mask(self, source: Any, player: int, rng: Any) -> int:
        """The mask to hold now for ``player``, reading ``source`` (sim or RAM) if it thinks."""
        plan = self.plan
        if plan:
            mask = plan.pop()
        elif self.wait > 0:
            seen = threats(source, 1 - player)
            if seen & ~self.seen:
                # A new threat cuts the current decision short after the reaction time.
                react = self._frames(PARAMS[self.level - 1].react)
                if self.wait > react:
                    self.wait = react
            self.seen = seen
            self.wait -= 1
            mask = self.hold
        else:
            self.decide(observe(source, player), rng)
            mask = plan.pop() if plan else self.hold
        # Track charge from what was actually held, as a player would feel it.
        if mask & self.back_bit:
            self.back_held += self.fpc
        else:
            self.back_held = 0
        if mask & DOWN:
            self.down_held += self.fpc
        else:
            self.down_held = 0
        return mask

    # ----------------------------------------------------------------- decisions
    def _frames(self, frames: float) -> int:
        """Calls covering ``frames`` frames."""
        return max(1, -(-int(frames) // self.fpc))

    def _set(self, hold: int, wait: float) -> None:
        self.hold = hold
        self.wait = self._frames(wait)

    def _push_plan(self, masks: list[int]) -> None:
        self.plan = masks[::-1]

    def _motion(self, motion: int, button: int, facing: int, rng: Any, p: Params) -> None:
        """Queue a motion special; a fumble drops a step so a normal comes out instead."""
        dirs = list(SEQUENCES[motion])
        if rng.random() < p.error:
            del dirs[1]
        per = self._frames(2)
        masks = []
        for d in dirs[:-1]:
            masks += [pad_for(d, facing)] * per
        masks.append(pad_for(dirs[-1], facing) | button)
        self._push_plan(masks)
        self._set(pad_for(dirs[-1], facing), 4)

    def _special(
        self,
        char: Character,
        kinds: tuple[int, ...],
        button_group: str,
        strength: int,
        facing: int,
        rng: Any,
        p: Params,
    ) -> bool:
        """Try to queue a special of one of ``kinds``; False if impossible right now."""
        for special in char.specials:
            move = special.moves[strength]
            if move.kind not in kinds:
                continue
            is_punch = special.buttons & LP
            if (button_group == "p" and not is_punch) or (button_group == "k" and is_punch):
                continue
            button = ((LP, MP, HP) if is_punch else (LK, MK, HK))[strength]
            motion = special.motion
            if motion in SEQUENCES:
                self._motion(motion, button, facing, rng, p)
                return True
            if motion == CHARGE_BF and self.back_held >= char.charge:
                self._push_plan([pad_for(6, facing) | button])
                self._set(0, 6)
                return True
            if motion == CHARGE_DU and self.down_held >= char.charge:
                self._push_plan([pad_for(8, facing), pad_for(8, facing) | button])
                self._set(0, 6)
                return True
            if motion == SPIN:
                per = self._frames(1)
                seq = [pad_for(d, facing) for d in (6, 3, 2, 1, 4)]
                masks = [m for m in seq for _ in range(per)]
                self._push_plan([*masks, pad_for(7, facing) | button])
                self._set(0, 6)
                return True
            if motion == TWO_PUNCH:
                self._push_plan([LP | MP])
                self._set(0, 6)
                return True
        return False

    def _rush(self, char: Character, okit: Kit, dist: int, facing: int, rng: Any, p: Params) -> bool:
        """Close the distance with a travelling special that would arrive, if any."""
        for special in char.specials:
            strength = rng.below(3)
            move = special.moves[strength]
            if move.kind != RUSH:
                continue
            travel = (move.speed * move.active + move.reach) // 16 + okit.half
            if dist <= travel:
                group = "p" if special.buttons & LP else "k"
                return self._special(char, (RUSH,), group, strength, facing, rng, p)
        return False

    def _charging(self, char: Character) -> bool:
        """Whether this character has a back-forward charge special still charging."""
        return char.has_motion(CHARGE_BF) and self.back_held < char.charge

    def _press(self, masks: list[int], wait: float) -> None:
        """Queue button presses; charge characters keep holding back through them."""
        keep = self.keep
        if keep:
            masks = [m if m & (LEFT | RIGHT | UP) else m | keep for m in masks]
        self._push_plan(masks)
        self._set(keep, wait)

    def decide(self, obs: Observation, rng: Any) -> None:
        """Choose the next plan/hold from one observation."""
        p = PARAMS[self.level - 1]
        me, opp = obs.me, obs.opp
        self.seen = threat_bits(opp.state, opp.proj, opp.y)
        facing = me.facing
        self.back_bit = RIGHT if facing else LEFT
        think = p.think + rng.random() * p.jitter
        self.keep = self.back_bit if CHARGE_KEEPERS[me.char] else 0
        char = ROSTER[me.char]
        kit = KITS[me.char]
        okit = KITS[opp.char]
        dist = abs(opp.x - me.x)
        state = me.state
        back = pad_for(4, facing)
        guard = pad_for(1, facing)

        if state in BUSY:
            if state == BLOCKSTUN:
                self._set(self.hold, 2)
            elif rng.random() < p.block:
                self._set(guard, think / 3)  # ready to block on recovery
            else:
                self._set(0, think / 3)
            return
        if state == ATTACK or state == SPECIAL:
            self._set(0, 2)
            return
        if state == JUMP:
            if me.y > 8 and opp.y < 40 and dist < 60 + 30 * rng.random():
                self._press([HK if rng.random() < 0.5 else HP], 20)
            else:
                self._set(0, 2)
            return
        if state not in FREE:
            self._set(0, 4)
            return
        if rng.random() < p.noise:
            self._random_action(rng, facing, think)
            return

        r = rng.random()
        danger = okit.threat + kit.half  # the opponent's normals reach me from here
        # A jump coming in: anti-air it, or block it standing (jump attacks are high).
        if (opp.y > 0 or opp.state == JUMP) and dist < 140 and opp.state not in BUSY:
            if r < p.antiair and dist < 110:
                if self._special(char, (RISING,), "", 2, facing, rng, p):
                    return
                if dist < 70:
                    self._press([DOWN | HP], think)
                    return
            if r < p.antiair + p.block:
                self._set(back, think)
                return
        # A projectile on its way: answer it with one's own, jump it, or block it.
        if opp.proj:
            pd = opp.proj_x - me.x
            if (pd > 0) == (opp.x > me.x) and abs(pd) < 220:
                apd = abs(pd)
                if not me.proj and r < p.zoning * 1.5 and self._special(char, (PROJECTILE,), "p", 1, facing, rng, p):
                    return
                r = rng.random()
                jump = p.punish * 0.4
                if 40 < apd < 110 and r < jump:
                    self._press([pad_for(9, facing)] * self._frames(5), 10)
                    return
                if r < jump + p.block:
                    self._set(back if apd < 100 else guard, think)
                    return
        # An attack in progress: block it while it can hit, punish its recovery.
        if opp.state == ATTACK or opp.state == SPECIAL:
            omove = ROSTER[opp.char].by_id.get(opp.move_id)
            if omove is not None and omove.kind != PROJECTILE:
                if self._versus_attack(omove, opp.sf, dist, kit, okit, char, facing, think, rng, p):
                    return
        if opp.state in (KNOCKDOWN, GETUP):
            self._set(pad_for(6, facing) if dist > 70 else guard, think)
            return
        self._neutral(char, kit, okit, me.proj, dist, danger, facing, think, rng, p)

    def _versus_attack(
        self,
        omove: Move,
        osf: int,
        dist: int,
        kit: Kit,
        okit: Kit,
        char: Character,
        facing: int,
        think: float,
        rng: Any,
        p: Params,
    ) -> bool:
        r = rng.random()
        reach = omove.reach // 16 + kit.half + 8
        if omove.kind in (RUSH, RISING):
            reach += omove.speed * omove.active // 16
        if osf < omove.startup + omove.active:
            if dist > reach or r >= p.block:
                return False
            right = rng.random() < p.height
            if omove.level == LOW:
                crouch = right
            elif omove.level == HIGH:
                crouch = not right
            else:
                crouch = True
            self._set(pad_for(1 if crouch else 4, facing), think)
            return True
        remaining = omove.total - osf
        if r < p.punish:
            for startup, reach_px, mask in kit.punishers:
                if startup < remaining and dist <= reach_px + okit.half:
                    self._press([mask], 10)
                    return True
            if dist < 40 and self._special(char, (RISING,), "", 2, facing, rng, p):
                return True
        return False

    def _neutral(
        self,
        char: Character,
        kit: Kit,
        okit: Kit,
        my_proj: int,
        dist: int,
        danger: int,
        facing: int,
        think: float,
        rng: Any,
        p: Params,
    ) -> None:
        """No threat right now: zone from afar, poke at the edge, stay disciplined inside."""
        r = rng.random()
        fwd = pad_for(6, facing)
        guard = pad_for(1, facing)
        if dist > danger + 40:
            if not my_proj and r < p.zoning * 1.5:
                if self._special(char, (PROJECTILE,), "p", rng.below(3), facing, rng, p):
                    return
            if r < p.zoning and self._rush(char, okit, dist, facing, rng, p):
                return
            if r < p.zoning * 1.5 and self._charging(char):
                self._set(guard, think)  # sit down-back until the charge is ready
                return
            r = rng.random()
            if r < p.approach:
                self._set(fwd, think)
            elif r < p.approach + p.jump_in and dist < 200:
                self._press([pad_for(9, facing)] * self._frames(5), 8)
            else:
                self._set(guard, think)
            return
        if dist > danger:
            if not my_proj and r < p.zoning:
                if self._special(char, (PROJECTILE,), "p", rng.below(3), facing, rng, p):
                    return
            if r < p.zoning and self._rush(char, okit, dist, facing, rng, p):
                return
            if r < p.zoning and self._charging(char):
                self._set(guard, think)
                return
            r = rng.random()
            if r < p.attack * 0.5:
                for reach_px, mask in kit.pokes:
                    if dist <= reach_px + okit.half:
                        self._press([mask], 12)
                        return
            if r < p.attack * 0.5 + p.jump_in:
                self._press([pad_for(9, facing)] * self._frames(5), 8)
            elif r < p.attack * 0.5 + p.jump_in + p.approach * 0.3:
                self._set(fwd, think / 2)
            else:
                self._set(guard, think)
            return
        # Inside the opponent's range: throw, hit with something that reaches, or guard.
        if r < p.throw:
            grab = next((s.moves[2] for s in char.specials if s.moves[2].kind == GRAB), None)
            if grab is not None and dist < grab.reach // 16:
                self._special(char, (GRAB,), "p", 2, facing, rng, p)
                return
            if dist < char.throw.reach // 16:
                self._press([fwd | HP], 10)
                return
        r = rng.random()
        if r < p.attack:
            options = [(startup, mask) for startup, reach_px, mask in kit.punishers if dist <= reach_px + okit.half]
            if options:
                # Fastest first: up close speed beats damage.
                options.sort()
                mask = options[0][1] if rng.random() < 0.7 else options[-1][1]
                self._press([mask], 12)
                return
        if r < p.attack + p.block:
            self._set(guard, think)
        else:
            self._set(pad_for(4, facing), think)

    def _random_action(self, rng: Any, facing: int, think: float) -> None:
        """A pointless action (low levels do many): random direction, maybe a button."""
        direction = (0, pad_for(4, facing), pad_for(6, facing), DOWN, pad_for(7, facing), UP)
        buttons = (0, LP, MP, HP, LK, MK, HK)
        self._push_plan([direction[rng.below(len(direction))] | buttons[rng.below(len(buttons))]])
        self._set(0, think)
