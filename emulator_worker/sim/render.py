"""Drawing the screen: 256x224 RGB with stage, fighters, projectiles, bars and timer.

Only called from ``SF2Sim.frame()``; the simulation itself never draws.
"""

from __future__ import annotations

import numpy as np

from .fighter import (
    ATTACK,
    BLOCK_CROUCH,
    BLOCK_STAND,
    BLOCKSTUN,
    CROUCH,
    GETUP,
    HEALTH,
    HITSTUN,
    JUMP,
    KNOCKDOWN,
    KO,
    SPECIAL,
    THROWN,
    VICTORY,
    Fighter,
)
from .frame_data import SUB
from .match_view import MatchView

WIDTH, HEIGHT = 256, 224
GROUND = 200  # screen row of the floor line

# 3x5 digit glyphs, one string of 15 bits (rows top to bottom) per digit.
_DIGITS = (
    "111101101101111",
    "010110010010111",
    "111001111100111",
    "111001111001111",
    "101101111001001",
    "111100111001111",
    "111100111101111",
    "111001001001001",
    "111101111101111",
    "111101111001111",
)
_GLYPHS = [np.array([c == "1" for c in g], dtype=bool).reshape(5, 3) for g in _DIGITS]


def _background() -> np.ndarray:
    img = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    rows = np.arange(GROUND, dtype=np.int32)
    # Dusk sky: darker at the top; why a gradient: it makes the floor line obvious.
    img[:GROUND, :, 0] = (40 + rows * 60 // GROUND)[:, None]
    img[:GROUND, :, 1] = (50 + rows * 70 // GROUND)[:, None]
    img[:GROUND, :, 2] = (110 + rows * 80 // GROUND)[:, None]
    img[GROUND:, :] = (110, 85, 60)
    img[GROUND, :] = (60, 45, 30)
    return img


_BACKGROUND = _background()


def _rect(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, color: tuple[int, int, int]) -> None:
    """Fill screen rows y0..y1-1, columns x0..x1-1 (clipped)."""
    x0 = max(0, x0)
    y0 = max(0, y0)
    x1 = min(WIDTH, x1)
    y1 = min(HEIGHT, y1)
    if x0 < x1 and y0 < y1:
        img[y0:y1, x0:x1] = color


def _number(img: np.ndarray, value: int, x: int, y: int, scale: int, color: tuple[int, int, int]) -> None:
    for i, ch in enumerate(f"{value:02d}"):
        glyph = np.kron(_GLYPHS[int(ch)], np.ones((scale, scale), dtype=bool))
        gx = x + i * 4 * scale
        region = img[y : y + glyph.shape[0], gx : gx + glyph.shape[1]]
        region[glyph[: region.shape[0], : region.shape[1]]] = color


def _fighter(img: np.ndarray, f: Fighter, cam: int) -> None:
    """A blocky fighter whose pose follows the state: stance, crouch, kick, punch, fall."""
    body, trim = f.char.colors
    skin = (232, 190, 150)
    cx = (f.x - cam) // SUB
    feet = GROUND - f.y // SUB
    half = f.char.half // SUB
    height = f.char.height // SUB
    sign = -1 if f.facing else 1
    state = f.state
    if state in (KNOCKDOWN, KO) and not f.air:
        # Lying on the floor.
        _rect(img, cx - height // 2, feet - 14, cx + height // 2, feet, body)
        hx = cx - sign * (height // 2) - 6
        _rect(img, hx - 6, feet - 14, hx + 6, feet - 2, skin)
        return
    crouch = f.crouch or state in (CROUCH, BLOCK_CROUCH)
    h = f.char.crouch_height // SUB if crouch else height
    if state == GETUP:
        h = h * 2 // 3
    top = feet - h
    head = 14
    # Legs, torso, belt, head.
    leg_top = top + h * 55 // 100
    _rect(img, cx - half + 2, leg_top, cx - 3, feet, body)
    _rect(img, cx + 3, leg_top, cx + half - 2, feet, body)
    _rect(img, cx - half + 4, top + head, cx + half - 4, leg_top, body)
    _rect(img, cx - half + 4, leg_top - 3, cx + half - 4, leg_top, trim)
    _rect(img, cx - 7, top, cx + 7, top + head, skin)
    _rect(img, cx - 7, top, cx + 7, top + 4, trim)
    eye = cx + sign * 3
    _rect(img, eye - 1, top + 6, eye + 1, top + 8, (20, 20, 20))
    # Arms and attacking limbs.
    arm_y = top + head + 6
    move = f.move
    if state in (ATTACK, SPECIAL) and move is not None:
        active = move.startup <= f.mf < move.startup + move.active
        reach = move.reach // SUB if active else move.reach // SUB // 2
        lo = feet - move.hi // SUB
        hi = feet - move.lo // SUB
        limb_y0 = max(top, min(lo, feet - 8))
        limb_y1 = min(feet, max(hi, limb_y0 + 6))
        mid = (limb_y0 + limb_y1) // 2
        color = skin if move.move_id in (1, 2, 3, 7, 8, 9, 13, 14, 15) else body
        x_near, x_far = cx, cx + sign * reach
        _rect(img, min(x_near, x_far), mid - 3, max(x_near, x_far), mid + 3, color)
        _rect(img, x_far - 4, mid - 4, x_far + 4, mid + 4, trim if active else color)
    elif state in (BLOCK_STAND, BLOCK_CROUCH, BLOCKSTUN):
        gx = cx + sign * (half - 2)
        _rect(img, gx - 3, top + head, gx + 3, top + head + 24, skin)
    elif state in (HITSTUN, THROWN):
        _rect(img, cx - sign * (half + 6), arm_y - 6, cx, arm_y, skin)
    elif state == VICTORY:
        _rect(img, cx + 4, top - 18, cx + 10, top + head, skin)
    elif state == JUMP and f.air:
        _rect(img, cx - half, arm_y - 10, cx + half, arm_y - 4, skin)
    else:
        fx = cx + sign * (half + 2)
        _rect(img, min(cx, fx), arm_y, max(cx, fx), arm_y + 5, skin)
        _rect(img, fx - 3, arm_y - 2, fx + 3, arm_y + 6, skin)


def _hud(img: np.ndarray, sim: MatchView) -> None:
    for side, f in enumerate(sim.fighters):
        health = max(0, min(HEALTH, f.health))
        width = 100
        filled = health * width // HEALTH
        y0, y1 = 12, 22
        if side == 0:
            x0 = 12
            _rect(img, x0 - 1, y0 - 1, x0 + width + 1, y1 + 1, (250, 250, 250))
            _rect(img, x0, y0, x0 + width, y1, (200, 30, 30))
            _rect(img, x0 + width - filled, y0, x0 + width, y1, (250, 220, 40))
        else:
            x0 = WIDTH - 12 - width
            _rect(img, x0 - 1, y0 - 1, x0 + width + 1, y1 + 1, (250, 250, 250))
            _rect(img, x0, y0, x0 + width, y1, (200, 30, 30))
            _rect(img, x0, y0, x0 + filled, y1, (250, 220, 40))
        for k in range(f.rounds):
            mx = 14 + 10 * k if side == 0 else WIDTH - 22 - 10 * k
            _rect(img, mx, 26, mx + 7, 33, (250, 200, 40))
        # A color chip under each bar tells which fighter is which.
        chip_x = 100 if side == 0 else WIDTH - 108
        _rect(img, chip_x, 26, chip_x + 8, 33, f.char.colors[0])
    _number(img, sim.timer, WIDTH // 2 - 11, 8, 3, (250, 250, 250))
    if sim.phase == 0:
        # Round announcement: the round number, large, mid-screen.
        _rect(img, WIDTH // 2 - 30, 70, WIDTH // 2 + 30, 116, (30, 30, 60))
        _number(img, sim.round, WIDTH // 2 - 22, 78, 6, (250, 220, 40))
    elif sim.phase == 3 and sim.match_winner in (1, 2):
        # Match result: the winner's colours and player number.
        colors = sim.fighters[sim.match_winner - 1].char.colors
        _rect(img, WIDTH // 2 - 40, 66, WIDTH // 2 + 40, 120, colors[0])
        _rect(img, WIDTH // 2 - 36, 70, WIDTH // 2 + 36, 116, colors[1])
        _number(img, sim.match_winner, WIDTH // 2 - 22, 78, 6, (20, 20, 20))


def render(sim: MatchView) -> np.ndarray:
    """The current screen of ``sim`` as a (224, 256, 3) uint8 array."""
    img = _BACKGROUND.copy()
    cam = sim.cam
    # Floor tiles scroll with the camera, so movement reads even at the edges.
    offset = (cam // SUB) % 32
    for tx in range(-offset, WIDTH, 32):
        _rect(img, tx, GROUND + 1, tx + 2, HEIGHT, (90, 68, 48))
    f1, f2 = sim.fighters
    # The one being hit is drawn first, so the attacker's limb shows on top.
    order = (f2, f1) if f1.state in (ATTACK, SPECIAL) else (f1, f2)
    for f in order:
        _fighter(img, f, cam)
    for f in (f1, f2):
        if f.proj:
            px = (f.px - cam) // SUB
            move = f.pmove
            lo = move.lo // SUB if move else 40
            hi = move.hi // SUB if move else 72
            py0, py1 = GROUND - hi, GROUND - lo
            _rect(img, px - 10, py0, px + 10, py1, (90, 170, 250))
            _rect(img, px - 5, py0 + 6, px + 5, py1 - 6, (230, 245, 255))
    _hud(img, sim)
    return img
