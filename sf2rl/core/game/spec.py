"""Game specs as data, and the one decoder that turns RAM bytes into a typed state.

A spec names where each value lives (address, type, endianness), the button
names each backend uses, and the round/match rules. The simulator's RAM is
decoded by exactly this code, like a real ROM's.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType

LOGICAL_BUTTONS = ("up", "down", "left", "right", "lp", "mp", "hp", "lk", "mk", "hk", "start", "select")

# struct format and byte size per field kind; "bcd8" is one packed-BCD byte (SF2's timer).
KINDS: Mapping[str, tuple[str, int]] = MappingProxyType(
    {
        "u8": ("<B", 1),
        "i8": ("<b", 1),
        "u16le": ("<H", 2),
        "u16be": (">H", 2),
        "i16be": (">h", 2),
        "i16le": ("<h", 2),
        "u32le": ("<I", 4),
        "u32be": (">I", 4),
        "bcd8": ("<B", 1),
    }
)


class Category(StrEnum):
    """What a fighter is doing, coarse enough to be comparable across games."""

    IDLE = "idle"
    MOVING = "moving"
    CROUCHING = "crouching"
    AIRBORNE = "airborne"
    ATTACKING = "attacking"
    BLOCKING = "blocking"
    STUNNED = "stunned"
    DOWN = "down"


@dataclass(frozen=True)
class Field:
    """One value in RAM: its address, kind, and whether it was checked on a real ROM."""

    addr: int
    kind: str = "u8"
    verified: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown field kind {self.kind!r}; valid: {sorted(KINDS)}")

    @property
    def size(self) -> int:
        """Bytes this field occupies."""
        return KINDS[self.kind][1]


PLAYER_FIELDS = (
    "health",
    "x",
    "y",
    "state",
    "character",
    "rounds_won",
    "round_over",
    "projectile",
    "projectile_x",
    "stun",
    "facing",
)
GLOBAL_FIELDS = ("timer", "phase", "round", "frame", "match_winner", "score")


@dataclass(frozen=True)
class GameSpec:
    """Everything sf2rl knows about one game, as data."""

    id: str
    title: str
    backends: Mapping[str, str]
    """Backend name -> that backend's id for this game (stable-retro game id, BizHawk ROM system)."""
    players: tuple[Mapping[str, Field], Mapping[str, Field]]
    globals: Mapping[str, Field]
    buttons: Mapping[str, Mapping[str, str]]
    """Backend name -> logical button (see LOGICAL_BUTTONS) -> that backend's button name."""
    characters: tuple[str, ...]
    max_health: int = 176
    ko_value: int | None = None
    rounds_to_win: int = 2
    round_seconds: int = 99
    stage_width: int = 512
    ram_base: int = 0
    """Subtracted from every address to get the backend's RAM offset (Genesis work RAM starts at 0xFF0000)."""
    categories: Mapping[int, Category] = field(default_factory=dict)
    match_over_phase: int | None = None
    intro_phase: int | None = None
    """The ``phase`` value while the game plays its intro (inputs ignored); reset steps past it. None: no intro."""
    notes: str = ""

    def fields(self) -> dict[str, Field]:
        """All fields, player ones prefixed ``p1_``/``p2_``."""
        out = {f"p{i + 1}_{k}": f for i, p in enumerate(self.players) for k, f in p.items()}
        out.update(self.globals)
        return out

    def unverified(self) -> list[str]:
        """Names of fields whose addresses nobody has checked against a real ROM."""
        return sorted(k for k, f in self.fields().items() if not f.verified)


@dataclass(frozen=True, slots=True)
class PlayerState:
    """One fighter, decoded."""

    health: int
    x: int
    y: int
    state: int
    category: Category
    character: int
    rounds_won: int
    round_over: bool
    projectile: bool
    projectile_x: int
    stun: int
    ko: bool


@dataclass(frozen=True, slots=True)
class GameState:
    """A decoded RAM snapshot; ``p1`` is the agent's side once :meth:`swapped` as needed."""

    p1: PlayerState
    p2: PlayerState
    timer: int
    phase: int
    round: int
    frame: int
    score: int
    round_over: bool
    match_over: bool

    def swapped(self) -> GameState:
        """The same state seen from player 2's side."""
        return replace(self, p1=self.p2, p2=self.p1)

    @property
    def round_winner(self) -> int:
        """1 or 2 once the round is over and someone leads on health, else 0."""
        if not self.round_over or self.p1.health == self.p2.health:
            return 0
        return 1 if self.p1.health > self.p2.health else 2


def _merge_ranges(spans: list[tuple[int, int]], gap: int) -> tuple[tuple[int, int], ...]:
    out: list[list[int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1] + gap:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return tuple((s, e - s) for s, e in out)


class Decoder:
    """Decodes the RAM ranges a spec needs; built once per env."""

    def __init__(self, spec: GameSpec, gap: int = 32) -> None:
        self.spec = spec
        fields = spec.fields()
        spans = [(f.addr - spec.ram_base, f.addr - spec.ram_base + f.size) for f in fields.values()]
        self.ranges = _merge_ranges(spans, gap)
        """(offset, length) pairs to request from the backend, in order."""
        starts, pos = [], 0
        for start, length in self.ranges:
            starts.append((start, length, pos))
            pos += length
        self.size = pos
        self._layout: dict[str, tuple[str, int, bool]] = {}
        for name, f in fields.items():
            off = f.addr - spec.ram_base
            base = next(p + off - s for s, n, p in starts if s <= off < s + n)
            self._layout[name] = (KINDS[f.kind][0], base, f.kind == "bcd8")

    def values(self, buf: bytes) -> dict[str, int]:
        """Raw integer values of every field."""
        if len(buf) != self.size:
            raise ValueError(f"expected {self.size} RAM bytes for {self.spec.id}, got {len(buf)}")
        out = {}
        for name, (fmt, off, bcd) in self._layout.items():
            v = struct.unpack_from(fmt, buf, off)[0]
            out[name] = (v >> 4) * 10 + (v & 0xF) if bcd else v
        return out

    def decode(self, buf: bytes) -> GameState:
        """A typed, frozen state from the concatenated RAM ranges."""
        v = self.values(buf)
        spec = self.spec
        players = [self._player(v, i) for i in (1, 2)]
        phase = v.get("phase", 0)
        round_over = any(p.round_over or p.ko for p in players) or ("timer" in v and v["timer"] == 0)
        match_over = (
            phase == spec.match_over_phase
            if spec.match_over_phase is not None
            else any(p.rounds_won >= spec.rounds_to_win for p in players)
        )
        return GameState(
            players[0],
            players[1],
            v.get("timer", 0),
            phase,
            v.get("round", 0),
            v.get("frame", 0),
            v.get("score", 0),
            round_over or match_over,
            match_over,
        )

    def _player(self, v: dict[str, int], i: int) -> PlayerState:
        spec = self.spec

        def g(name: str) -> int:
            return v.get(f"p{i}_{name}", 0)

        raw_health = g("health")
        ko = spec.ko_value is not None and raw_health == spec.ko_value
        health = 0 if ko else max(0, min(raw_health, spec.max_health))
        state = g("state")
        return PlayerState(
            health=health,
            x=g("x"),
            y=g("y"),
            state=state,
            category=spec.categories.get(state, Category.IDLE),
            character=g("character"),
            rounds_won=g("rounds_won"),
            round_over=bool(g("round_over")),
            projectile=bool(g("projectile")),
            projectile_x=g("projectile_x"),
            stun=g("stun"),
            ko=ko or (health == 0 and f"p{i}_health" in v),
        )
