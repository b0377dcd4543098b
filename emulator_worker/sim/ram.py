"""The RAM-like byte view: address map (as a table) and the writer that fills it.

The layout mimics Super Street Fighter II Turbo's SNES WRAM where the real
addresses are known (players 0x200 apart from 0x0500, health at +0x30, timer
at 0x18F3 in BCD), so that ``sf2rl/core/game/`` decodes the sim like a real ROM.
"""

from __future__ import annotations

from .match_view import MatchView

RAM_SIZE = 0x2000

PLAYER_BASE = 0x0500
PLAYER_STRIDE = 0x200

# Offsets from a player's base address.
P_STATE = 0x03
P_MOVE = 0x04
P_STATE_FRAMES = 0x05
P_X = 0x06
P_Y = 0x09
P_FACING = 0x0A
P_STUN = 0x0B
P_MOVE_FRAME = 0x0C
P_INVULN = 0x0D
P_CROUCH = 0x0E
P_PROJ = 0x10
P_PROJ_MOVE = 0x11
P_PROJ_X = 0x12
P_HEALTH = 0x30
P_ROUNDS = 0xD0
P_CHAR = 0xD1
P_STRENGTH = 0xE5
P_ROUND_OVER = 0xF2

# Global addresses.
FRAME_COUNTER = 0x0010
PHASE = 0x0018
ROUND = 0x0019
ROUND_WINNER = 0x001A
MATCH_WINNER = 0x001B
DIFFICULTY = 0x001C
TWO_PLAYER = 0x001D
CAMERA_X = 0x001E
TIMER = 0x18F3

HEALTH_KO = 0xFF
"""Health byte of a knocked-out fighter, as in the real ROM."""

# (name, offset, type, meaning). Player fields are at base + offset, base =
# 0x0500 + 0x200 * player. Rows marked "(sim)" have no known real-ROM counterpart.
PLAYER_FIELDS: tuple[tuple[str, int, str, str], ...] = (
    ("state", P_STATE, "u8", "state enum (see STATE_NAMES)"),
    ("move_id", P_MOVE, "u8", "current move id, 0 = none (see MOVE_NAMES)"),
    ("state_frames", P_STATE_FRAMES, "u8", "frames spent in the current state, saturating at 255"),
    ("x", P_X, "u16le", "x position in stage pixels (0..511)"),
    ("y", P_Y, "u8", "height above the ground in pixels, 0 = on the ground"),
    ("facing", P_FACING, "u8", "0 = facing right, 1 = facing left"),
    ("stun", P_STUN, "u8", "hitstun/blockstun/knockdown frames remaining"),
    ("move_frame", P_MOVE_FRAME, "u8", "(sim) frames into the current move, saturating"),
    ("invulnerable", P_INVULN, "u8", "(sim) invulnerable frames remaining"),
    ("crouching", P_CROUCH, "u8", "(sim) 1 while the hurtbox is crouching-height"),
    ("projectile_active", P_PROJ, "u8", "1 while this player's projectile is on screen"),
    ("projectile_move", P_PROJ_MOVE, "u8", "(sim) move id that fired the projectile"),
    ("projectile_x", P_PROJ_X, "u16le", "projectile x in stage pixels"),
    ("health", P_HEALTH, "u8", "176 full; 0xFF once knocked out"),
    ("rounds_won", P_ROUNDS, "u8", "rounds won this match"),
    ("character", P_CHAR, "u8", "character id (index into CHARACTERS)"),
    ("strength", P_STRENGTH, "u8", "strength of the current move: 0 light, 1 medium, 2 heavy"),
    ("round_over", P_ROUND_OVER, "u8", "1 once the current round has ended"),
)

GLOBAL_FIELDS: tuple[tuple[str, int, str, str], ...] = (
    ("frame_counter", FRAME_COUNTER, "u32le", "frames since reset (all phases)"),
    ("phase", PHASE, "u8", "0 round intro, 1 fighting, 2 round over, 3 match over"),
    ("round", ROUND, "u8", "round number, 1-based"),
    ("round_winner", ROUND_WINNER, "u8", "last round's winner: 0 none, 1 P1, 2 P2, 3 draw"),
    ("match_winner", MATCH_WINNER, "u8", "0 none yet, 1 P1, 2 P2, 3 draw"),
    ("difficulty", DIFFICULTY, "u8", "CPU level 1..8"),
    ("two_player", TWO_PLAYER, "u8", "1 when P2 is driven by the second controller"),
    ("camera_x", CAMERA_X, "u16le", "(sim) stage x of the screen's left edge"),
    ("timer", TIMER, "u8", "round timer in BCD, 0x99 at round start"),
)


def player_base(player: int) -> int:
    """Base address of player 0 (P1) or 1 (P2)."""
    return PLAYER_BASE + PLAYER_STRIDE * player


def bcd(value: int) -> int:
    """Two-digit binary-coded decimal of 0..99."""
    return (value // 10) << 4 | value % 10


def write(sim: MatchView, buf: bytearray) -> None:
    """Write the sim's current state into ``buf`` (RAM_SIZE bytes) per the map above."""
    frame = sim.frame_count & 0xFFFFFFFF
    buf[FRAME_COUNTER] = frame & 0xFF
    buf[FRAME_COUNTER + 1] = frame >> 8 & 0xFF
    buf[FRAME_COUNTER + 2] = frame >> 16 & 0xFF
    buf[FRAME_COUNTER + 3] = frame >> 24
    buf[PHASE] = sim.phase
    buf[ROUND] = sim.round
    buf[ROUND_WINNER] = sim.last_winner
    buf[MATCH_WINNER] = sim.match_winner
    buf[DIFFICULTY] = sim.difficulty
    buf[TWO_PLAYER] = 1 if sim.two_player else 0
    cam = sim.cam >> 4
    buf[CAMERA_X] = cam & 0xFF
    buf[CAMERA_X + 1] = cam >> 8
    buf[TIMER] = bcd(sim.timer)
    round_over = sim.round_over
    base = PLAYER_BASE
    for f in sim.fighters:
        move = f.move
        buf[base + P_STATE] = f.state
        buf[base + P_MOVE] = move.move_id if move else 0
        buf[base + P_STATE_FRAMES] = f.sf if f.sf < 255 else 255
        x = f.x >> 4
        buf[base + P_X] = x & 0xFF
        buf[base + P_X + 1] = x >> 8
        y = f.y >> 4
        buf[base + P_Y] = 0 if y < 0 else (y if y < 255 else 255)
        buf[base + P_FACING] = f.facing
        buf[base + P_STUN] = f.stun if f.stun < 255 else 255
        buf[base + P_MOVE_FRAME] = (f.mf if f.mf < 255 else 255) if move else 0
        buf[base + P_INVULN] = f.inv if f.inv < 255 else 255
        buf[base + P_CROUCH] = f.crouch
        buf[base + P_PROJ] = f.proj
        pmove = f.pmove
        buf[base + P_PROJ_MOVE] = pmove.move_id if (pmove and f.proj) else 0
        px = (f.px >> 4) if f.proj else 0
        px = 0 if px < 0 else (px if px < 0xFFFF else 0xFFFF)
        buf[base + P_PROJ_X] = px & 0xFF
        buf[base + P_PROJ_X + 1] = px >> 8
        buf[base + P_HEALTH] = f.health if f.health > 0 else HEALTH_KO
        buf[base + P_ROUNDS] = f.rounds
        buf[base + P_CHAR] = f.char.cid
        buf[base + P_STRENGTH] = move.strength if move else 0
        buf[base + P_ROUND_OVER] = round_over
        base += PLAYER_STRIDE


def read_field(ram: bytes | bytearray, address: int, kind: str) -> int:
    """Decode one field of ``kind`` (u8, u16le, u32le) at ``address``."""
    size = {"u8": 1, "u16le": 2, "u32le": 4}[kind]
    return int.from_bytes(bytes(ram[address : address + size]), "little")
