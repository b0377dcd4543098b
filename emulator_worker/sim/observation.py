"""What a scripted player sees: the RAM-map fields of both fighters, in pixels.

Built either from a RAM view (any agent can do this) or straight from a
running ``SF2Sim`` (the built-in CPU's fast path). Both give identical
values, so the CPU behaves the same whichever way it is fed.
"""

from __future__ import annotations

from typing import Any

from . import ram as ram_map
from .fighter import Fighter


class Side:
    """One fighter as seen through the RAM map (pixels, move ids, enums)."""

    __slots__ = (
        "char",
        "facing",
        "health",
        "move_id",
        "proj",
        "proj_x",
        "sf",
        "state",
        "stun",
        "x",
        "y",
    )

    def __init__(
        self,
        x: int,
        y: int,
        state: int,
        move_id: int,
        sf: int,
        facing: int,
        stun: int,
        proj: int,
        proj_x: int,
        health: int,
        char: int,
    ) -> None:
        self.x = x
        self.y = y
        self.state = state
        self.move_id = move_id
        self.sf = sf
        self.facing = facing
        self.stun = stun
        self.proj = proj
        self.proj_x = proj_x
        self.health = health
        self.char = char


class Observation:
    """Both sides from one player's point of view, plus the match clock."""

    __slots__ = ("frame", "me", "opp", "phase")

    def __init__(self, frame: int, phase: int, me: Side, opp: Side) -> None:
        self.frame = frame
        self.phase = phase
        self.me = me
        self.opp = opp


def _side_from_fighter(f: Fighter) -> Side:
    move = f.move
    return Side(
        f.x >> 4,
        min(255, max(0, f.y >> 4)),
        f.state,
        move.move_id if move else 0,
        min(255, f.sf),
        f.facing,
        min(255, f.stun),
        f.proj,
        f.px >> 4 if f.proj else 0,
        max(0, f.health),
        f.char.cid,
    )


def _side_from_ram(ram: Any, base: int) -> Side:
    health = int(ram[base + ram_map.P_HEALTH])
    return Side(
        int(ram[base + ram_map.P_X]) | int(ram[base + ram_map.P_X + 1]) << 8,
        int(ram[base + ram_map.P_Y]),
        int(ram[base + ram_map.P_STATE]),
        int(ram[base + ram_map.P_MOVE]),
        int(ram[base + ram_map.P_STATE_FRAMES]),
        int(ram[base + ram_map.P_FACING]),
        int(ram[base + ram_map.P_STUN]),
        int(ram[base + ram_map.P_PROJ]),
        int(ram[base + ram_map.P_PROJ_X]) | int(ram[base + ram_map.P_PROJ_X + 1]) << 8,
        0 if health == 0xFF else health,
        int(ram[base + ram_map.P_CHAR]),
    )


def observe(source: Any, player: int) -> Observation:
    """Observation for ``player`` (0 = P1, 1 = P2) from an ``SF2Sim`` or a RAM view."""
    if player not in (0, 1):
        raise ValueError(f"player must be 0 or 1, got {player!r}")
    fighters = getattr(source, "fighters", None)
    if fighters is not None:
        return Observation(
            source.frame_count,
            source.phase,
            _side_from_fighter(fighters[player]),
            _side_from_fighter(fighters[1 - player]),
        )
    ram = source
    if len(ram) < ram_map.RAM_SIZE:
        raise ValueError(f"RAM view has {len(ram)} bytes, expected {ram_map.RAM_SIZE}")
    frame = int.from_bytes(bytes(ram[ram_map.FRAME_COUNTER : ram_map.FRAME_COUNTER + 4]), "little")
    return Observation(
        frame,
        int(ram[ram_map.PHASE]),
        _side_from_ram(ram, ram_map.player_base(player)),
        _side_from_ram(ram, ram_map.player_base(1 - player)),
    )


_THREAT_STATES = (4, 5, 6)  # jump, attack, special


def threat_bits(state: int, proj: int, y: int) -> int:
    """Bit set of a fighter's threats: 1 attacking/jumping, 2 projectile out, 4 airborne."""
    return (1 if state in _THREAT_STATES else 0) | (2 if proj else 0) | (4 if y > 0 else 0)


def threats(source: Any, player: int) -> int:
    """``threat_bits`` of ``player`` read cheaply from a sim or a RAM view."""
    fighters = getattr(source, "fighters", None)
    if fighters is not None:
        f = fighters[player]
        return threat_bits(f.state, f.proj, f.y >> 4)
    base = ram_map.player_base(player)
    return threat_bits(
        int(source[base + ram_map.P_STATE]), int(source[base + ram_map.P_PROJ]), int(source[base + ram_map.P_Y])
    )
