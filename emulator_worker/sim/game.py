"""The match: two fighters, the round and match flow, the camera, and the public SF2Sim."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import ram as ram_map
from .buttons import check_mask
from .characters import ROSTER
from .combat import move_projectiles, resolve_hits, resolve_throws
from .cpu import CpuController, check_level
from .fighter import FREE, JUMP, KO, VICTORY, Fighter
from .frame_data import SUB
from .rng import Rng
from .state import dump, load

# Match phases, as stored at RAM 0x0018.
INTRO, FIGHT, OUTRO, OVER = range(4)
PHASE_NAMES = ("intro", "fighting", "round_over", "match_over")

INTRO_FRAMES = 60  # inputs are ignored while the round is announced
OUTRO_FRAMES = 120  # after a KO or time over, before the next round
VICTORY_AT = 45  # outro frame at which the winner strikes a pose
ROUND_SECONDS = 99
FRAMES_PER_SECOND = 60
WINS_NEEDED = 2
MAX_ROUNDS = 4  # round 4 is the final round when draws left nobody on 2 wins

STAGE_WIDTH = 512 * SUB
SCREEN_WIDTH = 256 * SUB
EDGE = 24 * SUB  # closest a fighter's centre gets to a screen edge
PUSHBOX_HEIGHT = 40 * SUB  # fighters further apart vertically pass over each other
START_CAMERA = 128 * SUB


class SF2Sim:
    """The built-in, ROM-free Street-Fighter-II-like game (one match at a time)."""

    fighters: tuple[Fighter, Fighter]
    frame_count: int  # frames since reset, all phases
    phase: int  # INTRO, FIGHT, OUTRO or OVER
    phase_frames: int  # frames spent in the current phase
    round: int  # 1-based
    last_winner: int  # 0 none, 1 P1, 2 P2, 3 draw
    match_winner: int
    difficulty: int  # CPU level 1..8
    two_player: bool
    round_over: int
    timer: int  # seconds left, 99..0
    timer_frames: int  # frames into the current second
    cam: int  # stage x of the screen's left edge, sub-pixels
    cpu: CpuController

    def __init__(self, seed: int = 0) -> None:
        self.rng = Rng(seed)
        self._buf = bytearray(ram_map.RAM_SIZE)
        self.reset(seed=seed)

    # ----------------------------------------------------------------- public API
    def reset(
        self,
        *,
        seed: int | None = None,
        characters: tuple[int, int] = (0, 1),
        difficulty: int = 3,
        two_player: bool = False,
    ) -> None:
        """Start a new best-of-3 match. ``seed=None`` keeps the RNG running on."""
        level = check_level(difficulty)
        chars = _check_characters(characters)
        if seed is not None:
            self.rng.seed(_check_int(seed, "seed"))
        self.fighters = (Fighter(ROSTER[chars[0]], 0), Fighter(ROSTER[chars[1]], 1))
        self.frame_count = 0
        self.phase = INTRO
        self.phase_frames = 0
        self.round = 1
        self.last_winner = 0
        self.match_winner = 0
        self.difficulty = level
        self.two_player = bool(two_player)
        self.round_over = 0
        self.cpu = CpuController(level)
        self._start_round()

    def step(self, p1: int, p2: int = 0, frames: int = 1) -> None:
        """Hold button masks ``p1``/``p2`` for ``frames`` frames (60 frames = 1 s).

        ``p2`` is ignored unless the match was reset with ``two_player=True``;
        otherwise the built-in CPU drives player 2.
        """
        p1 = check_mask(p1)
        p2 = check_mask(p2)
        n = _check_int(frames, "frames")
        if n < 0:
            raise ValueError(f"frames must be >= 0, got {n}")
        tick = self._tick
        for _ in range(n):
            tick(p1, p2)

    def ram(self) -> np.ndarray:
        """A fresh uint8 copy of the RAM view (RAM_SIZE bytes), current as of now."""
        ram_map.write(self, self._buf)
        return np.frombuffer(self._buf, dtype=np.uint8).copy()

    def frame(self) -> np.ndarray:
        """The current screen as a (224, 256, 3) uint8 RGB array."""
        from .render import render

        return render(self)

    def save_state(self) -> bytes:
        """The whole game state (including the RNG and the CPU) as versioned bytes."""
        return dump(self)

    def load_state(self, data: bytes) -> None:
        """Restore a ``save_state`` snapshot; SimStateError (instance unchanged) if bad."""
        load(self, data)

    @property
    def match_over(self) -> bool:
        """True once the match has a result (RAM phase 3)."""
        return self.phase == OVER

    # ------------------------------------------------------------------ the loop
    def _tick(self, p1: int, p2: int) -> None:
        self.frame_count += 1
        phase = self.phase
        f1, f2 = self.fighters
        if phase == FIGHT:
            if not self.two_player:
                p2 = self.cpu.next_mask(self, 1, self.rng)
            now = self.frame_count
            f1.update(p1, f2, now)
            f2.update(p2, f1, now)
            if f1.throw_req or f2.throw_req:
                resolve_throws(f1, f2)
            self._settle(f1, f2)
            resolve_hits(f1, f2)
            if f1.proj or f2.proj:
                move_projectiles(f1, f2, self.cam - 32 * SUB, self.cam + SCREEN_WIDTH + 32 * SUB)
            if f1.health <= 0 or f2.health <= 0:
                self._knockout(f1, f2)
                return
            self.timer_frames += 1
            if self.timer_frames >= FRAMES_PER_SECOND:
                self.timer_frames = 0
                self.timer -= 1
                if self.timer <= 0:
                    self.timer = 0
                    winner = 1 if f1.health > f2.health else 2 if f2.health > f1.health else 3
                    self._end_round(winner)
        elif phase == INTRO:
            self.phase_frames += 1
            if self.phase_frames >= INTRO_FRAMES:
                self.phase = FIGHT
                self.phase_frames = 0
        elif phase == OUTRO:
            now = self.frame_count
            f1.update(0, f2, now)
            f2.update(0, f1, now)
            self._settle(f1, f2)
            self.phase_frames += 1
            if self.phase_frames == VICTORY_AT and self.last_winner in (1, 2):
                victor = self.fighters[self.last_winner - 1]
                if victor.state != KO:
                    victor.move = None
                    victor.state = VICTORY
                    victor.sf = 0
            if self.phase_frames >= OUTRO_FRAMES:
                self._next_round()

    def _settle(self, f1: Fighter, f2: Fighter) -> None:
        """Keep bodies apart and inside the screen, then move the camera and face."""
        dy = f1.y - f2.y
        if -PUSHBOX_HEIGHT < dy < PUSHBOX_HEIGHT:
            min_sep = f1.char.half + f2.char.half
            dx = f2.x - f1.x
            if -min_sep < dx < min_sep:
                if dx > 0 or (dx == 0 and f1.facing == 0):
                    left, right = f1, f2
                else:
                    left, right = f2, f1
                overlap = min_sep - (right.x - left.x)
                left.x -= overlap >> 1
                right.x += overlap - (overlap >> 1)
        cam = self.cam
        lo = cam + EDGE
        hi = cam + SCREEN_WIDTH - EDGE
        for f, o in ((f1, f2), (f2, f1)):
            if f.x < lo:
                if f.push < 0 and _near(f, o):
                    # Pushback into a wall moves the attacker back instead (no corner loops).
                    o.x += lo - f.x
                    o.push -= f.push
                    f.push = 0
                f.x = lo
            elif f.x > hi:
                if f.push > 0 and _near(f, o):
                    o.x -= f.x - hi
                    o.push -= f.push
                    f.push = 0
                f.x = hi
        # A wall may have pushed bodies back into each other: the free one yields.
        if -PUSHBOX_HEIGHT < f1.y - f2.y < PUSHBOX_HEIGHT:
            min_sep = f1.char.half + f2.char.half
            left, right = (f1, f2) if f1.x <= f2.x else (f2, f1)
            if right.x - left.x < min_sep:
                if left.x <= lo:
                    right.x = left.x + min_sep
                else:
                    left.x = right.x - min_sep
        mid = (f1.x + f2.x) >> 1
        cam = mid - (SCREEN_WIDTH >> 1)
        self.cam = 0 if cam < 0 else (STAGE_WIDTH - SCREEN_WIDTH if cam > STAGE_WIDTH - SCREEN_WIDTH else cam)
        for f, o in ((f1, f2), (f2, f1)):
            if f.state in FREE or (f.state == JUMP and not f.air):
                if o.x > f.x:
                    f.facing = 0
                elif o.x < f.x:
                    f.facing = 1

    def _knockout(self, f1: Fighter, f2: Fighter) -> None:
        for f in (f1, f2):
            if f.health <= 0:
                f.health = 0
                f.move = None
                f.state = KO
                f.sf = 0
                f.stun = 0
                if not f.air:
                    f.air = 1
                    f.vy = 3 * SUB
                    f.vx = (-1 if f.facing == 0 else 1) * 2 * SUB
        dead1 = f1.health <= 0
        dead2 = f2.health <= 0
        self._end_round(3 if dead1 and dead2 else 2 if dead1 else 1)

    def _end_round(self, winner: int) -> None:
        self.phase = OUTRO
        self.phase_frames = 0
        self.last_winner = winner
        self.round_over = 1
        if winner in (1, 2):
            self.fighters[winner - 1].rounds += 1
        for f in self.fighters:
            f.proj = 0
            f.pmove = None

    def _next_round(self) -> None:
        f1, f2 = self.fighters
        if f1.rounds >= WINS_NEEDED or f2.rounds >= WINS_NEEDED or self.round >= MAX_ROUNDS:
            self.phase = OVER
            self.phase_frames = 0
            self.match_winner = 1 if f1.rounds > f2.rounds else 2 if f2.rounds > f1.rounds else 3
            return
        self.round += 1
        self._start_round()

    def _start_round(self) -> None:
        for f in self.fighters:
            f.start_round()
        self.phase = INTRO
        self.phase_frames = 0
        self.timer = ROUND_SECONDS
        self.timer_frames = 0
        self.round_over = 0
        self.cam = START_CAMERA
        self.cpu.new_round()


def _near(f: Fighter, o: Fighter) -> bool:
    d = f.x - o.x
    return -120 * SUB < d < 120 * SUB


def _check_int(value: object, name: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an int, got bool")
    try:
        return value.__index__()  # type: ignore[attr-defined]
    except AttributeError:
        raise ValueError(f"{name} must be an int, got {type(value).__name__}") from None


def _check_characters(characters: Any) -> tuple[int, int]:
    try:
        pair: tuple[object, ...] = tuple(characters)
    except TypeError:
        pair = ()
    if len(pair) != 2:
        raise ValueError(f"characters must be a pair of ids, got {characters!r}")
    out = []
    for c in pair:
        cid = _check_int(c, "character id")
        if not 0 <= cid < len(ROSTER):
            raise ValueError(f"character id {cid} outside 0..{len(ROSTER) - 1}")
        out.append(cid)
    return out[0], out[1]
