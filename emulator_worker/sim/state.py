"""Save states: a versioned, self-contained binary format (never pickle).

Layout: ``MAGIC`` (8 bytes), version (u16), payload length (u32), payload,
CRC-32 of everything before it (u32). The payload is a sequence of signed
64-bit little-endian ints: the match fields, the RNG state, the CPU memory,
then each fighter; lists carry their length first. Every field is range
checked on load and nothing is assigned until the whole state has parsed,
so a bad state leaves the instance unchanged.
"""

from __future__ import annotations

import struct
import zlib
from typing import Protocol

from .buttons import MASK_LIMIT
from .characters import ROSTER, Character
from .cpu import LEVELS, CpuController
from .fighter import HEALTH, Fighter
from .frame_data import SUB, Move
from .match_view import MatchView
from .motion import HISTORY
from .rng import Rng


class SavedMatch(MatchView, Protocol):
    """Everything a save state holds: the match, its random generator and the CPU player's memory."""

    rng: Rng
    cpu: CpuController


class SimStateError(ValueError):
    """Save-state bytes that are corrupt, truncated or from an incompatible version."""


MAGIC = b"SF2RLSIM"
VERSION = 1
_HEADER = struct.Struct("<8sHI")
_CRC = struct.Struct("<I")
_MAX_PLAN = 256
_BIG = 1 << 62
_COORD = (-64 * 1024 * SUB, 64 * 1024 * SUB)

# (attribute, lowest, highest) for the plain int fields, in file order.
SIM_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("frame_count", 0, _BIG),
    ("phase", 0, 3),
    ("phase_frames", 0, 1 << 20),
    ("round", 1, 4),
    ("last_winner", 0, 3),
    ("match_winner", 0, 3),
    ("difficulty", 1, len(LEVELS)),
    ("two_player", 0, 1),
    ("round_over", 0, 1),
    ("timer", 0, 99),
    ("timer_frames", 0, 59),
    ("cam", 0, 256 * SUB),
)
FIGHTER_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("x", *_COORD),
    ("y", *_COORD),
    ("vx", *_COORD),
    ("vy", *_COORD),
    ("air", 0, 1),
    ("facing", 0, 1),
    ("state", 0, 15),
    ("sf", 0, _BIG),
    ("mf", 0, 1 << 20),
    ("mhit", 0, 1),
    ("stun", 0, 1 << 20),
    ("inv", 0, 1 << 20),
    ("health", -_BIG, HEALTH),
    ("rounds", 0, 4),
    ("air_attack", 0, 1),
    ("landing", 0, 1 << 10),
    ("push", *_COORD),
    ("crouch", 0, 1),
    ("prev", 0, MASK_LIMIT - 1),
    ("cur_dir", 1, 9),
    ("rel", 1, 9),
    ("bc", 0, _BIG),
    ("bk", 0, 1 << 10),
    ("dc", 0, _BIG),
    ("dk", 0, 1 << 10),
    ("proj", 0, 1),
    ("px", *_COORD),
    ("pvx", *_COORD),
    ("throw_req", 0, 2),
)
CPU_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("level", 1, len(LEVELS)),
    ("fpc", 1, 64),
    ("hold", 0, MASK_LIMIT - 1),
    ("wait", 0, 1 << 20),
    ("back_held", 0, _BIG),
    ("down_held", 0, _BIG),
    ("back_bit", 0, MASK_LIMIT - 1),
    ("seen", 0, 7),
    ("keep", 0, MASK_LIMIT - 1),
)


def dump(sim: SavedMatch) -> bytes:
    """Serialize ``sim`` to bytes."""
    values: list[int] = [int(getattr(sim, name)) for name, _, _ in SIM_FIELDS]
    state = sim.rng.state
    values += [state >> 32, state & 0xFFFFFFFF]
    cpu = sim.cpu
    values += [int(getattr(cpu, name)) for name, _, _ in CPU_FIELDS]
    values += [len(cpu.plan), *cpu.plan]
    for f in sim.fighters:
        values.append(f.char.cid)
        values += [int(getattr(f, name)) for name, _, _ in FIGHTER_FIELDS]
        values.append(f.move.key if f.move is not None else -1)
        values.append(f.pmove.key if f.pmove is not None else -1)
        values.append(len(f.hist_d))
        for d, t in zip(f.hist_d, f.hist_t, strict=True):
            values += [d, t]
    payload = struct.pack(f"<{len(values)}q", *values)
    head = _HEADER.pack(MAGIC, VERSION, len(payload)) + payload
    return head + _CRC.pack(zlib.crc32(head))


class _Reader:
    def __init__(self, values: tuple[int, ...]) -> None:
        self.values = values
        self.pos = 0

    def take(self, name: str, lo: int, hi: int) -> int:
        if self.pos >= len(self.values):
            raise SimStateError(f"save state ends before field {name!r}")
        value = self.values[self.pos]
        self.pos += 1
        if not lo <= value <= hi:
            raise SimStateError(f"save state field {name!r} = {value} outside {lo}..{hi}")
        return value


def load(sim: SavedMatch, data: bytes) -> None:
    """Restore ``sim`` from ``dump`` bytes, or raise SimStateError leaving it unchanged."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise SimStateError(f"save state must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < _HEADER.size + _CRC.size:
        raise SimStateError(f"save state too short ({len(data)} bytes)")
    magic, version, size = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise SimStateError("not an sf2rl sim save state (bad magic)")
    if version != VERSION:
        raise SimStateError(f"save state version {version} unsupported (expected {VERSION})")
    if size % 8 or len(data) != _HEADER.size + size + _CRC.size:
        raise SimStateError(f"save state truncated or padded ({len(data)} bytes)")
    (crc,) = _CRC.unpack_from(data, _HEADER.size + size)
    if zlib.crc32(data[: _HEADER.size + size]) != crc:
        raise SimStateError("save state checksum mismatch (corrupt bytes)")
    r = _Reader(struct.unpack_from(f"<{size // 8}q", data, _HEADER.size))

    sim_values = {name: r.take(name, lo, hi) for name, lo, hi in SIM_FIELDS}
    rng_state = r.take("rng_hi", 0, 0xFFFFFFFF) << 32 | r.take("rng_lo", 0, 0xFFFFFFFF)
    if rng_state == 0:
        raise SimStateError("save state has a zero RNG state")
    cpu_values = {name: r.take(name, lo, hi) for name, lo, hi in CPU_FIELDS}
    plan = [r.take("cpu plan mask", 0, MASK_LIMIT - 1) for _ in range(r.take("cpu plan length", 0, _MAX_PLAN))]
    fighters = []
    for side in (0, 1):
        cid = r.take("character", 0, len(ROSTER) - 1)
        char = ROSTER[cid]
        f = Fighter(char, side)
        for name, lo, hi in FIGHTER_FIELDS:
            setattr(f, name, r.take(name, lo, hi))
        f.move = _move(char, r.take("move", -1, 1 << 10), "move")
        f.pmove = _move(char, r.take("projectile move", -1, 1 << 10), "projectile move")
        if f.proj and f.pmove is None:
            raise SimStateError("save state has a projectile without its move")
        count = r.take("history length", 0, HISTORY)
        f.hist_d = []
        f.hist_t = []
        for _ in range(count):
            f.hist_d.append(r.take("history direction", 1, 9))
            f.hist_t.append(r.take("history frame", -_BIG, _BIG))
        fighters.append(f)
    if r.pos != len(r.values):
        raise SimStateError("save state has trailing fields")

    # Everything parsed and checked: only now touch the instance.
    cpu = CpuController(cpu_values["level"], cpu_values["fpc"])
    for name, value in cpu_values.items():
        setattr(cpu, name, value)
    cpu.plan = plan
    for name, value in sim_values.items():
        setattr(sim, name, value)
    sim.two_player = bool(sim_values["two_player"])
    sim.rng.state = rng_state
    sim.cpu = cpu
    sim.fighters = (fighters[0], fighters[1])


def _move(char: Character, key: int, what: str) -> Move | None:
    if key == -1:
        return None
    move = char.moves.get(key)
    if move is None:
        raise SimStateError(f"save state {what} key {key} unknown for this character")
    return move
