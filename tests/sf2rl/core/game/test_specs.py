"""Every spec's address table, decoded from simulator RAM or from RAM bytes laid out by hand."""

from __future__ import annotations

import itertools
import struct

import pytest

from emulator_worker import sim
from sf2rl.core.game.spec import Decoder, Field, GameSpec
from sf2rl.core.game.specs import AIRSTRIKER_GENESIS, GAMES, SF2_SCE_GENESIS, SF2_TURBO_SNES, SIM, get_game

# Our field names -> the simulator's own RAM table names (emulator_worker/sim/ram.py).
SIM_NAMES = {"projectile": "projectile_active", "frame": "frame_counter"}


def test_sim_spec_matches_the_simulators_own_address_table() -> None:
    table = {name: (addr, kind) for name, addr, kind, _ in sim.GLOBAL_FIELDS}
    for player in (0, 1):
        base = sim.player_base(player)
        table.update({f"p{player + 1}_{n}": (base + off, kind) for n, off, kind, _ in sim.PLAYER_FIELDS})
    for name, field in SIM.fields().items():
        prefix, _, short = name.partition("_") if name[:2] in ("p1", "p2") else ("", "", name)
        sim_name = f"{prefix}_{SIM_NAMES.get(short, short)}" if prefix else SIM_NAMES.get(name, name)
        kind = "u8" if field.kind == "bcd8" else field.kind
        assert table[sim_name] == (field.addr, kind), name
    assert SIM.characters == sim.CHARACTERS


def _sim_ram_after(frames: int, p1: int = 0, seed: int = 0) -> tuple[sim.SF2Sim, bytes]:
    game = sim.SF2Sim(seed)
    game.reset(seed=seed, characters=(0, 5), difficulty=8)
    game.step(p1, 0, frames)
    decoder = Decoder(SIM)
    ram = game.ram()
    return game, b"".join(ram[a : a + n].tobytes() for a, n in decoder.ranges)


def test_decoding_live_simulator_ram() -> None:
    _, buf = _sim_ram_after(1)
    s = Decoder(SIM).decode(buf)
    assert (s.p1.health, s.p2.health) == (176, 176)
    assert (s.p1.x, s.p2.x) == (192, 320)
    assert (s.p1.character, s.p2.character) == (0, 5)
    assert s.timer == 99 and s.round == 1 and not s.round_over and not s.match_over
    _, later = _sim_ram_after(60 * 30)  # a level-8 CPU beats an idle player within 30 s
    t = Decoder(SIM).decode(later)
    assert t.p1.health < 176
    assert t.frame == 60 * 30


def test_ko_value_decodes_as_zero_health() -> None:
    spec, dec = SIM, Decoder(SIM)
    buf = bytearray(dec.size)
    for name, (fmt, off, _) in dec._layout.items():
        if name == "p1_health":
            struct.pack_into(fmt, buf, off, 0xFF)
    s = dec.decode(bytes(buf))
    assert s.p1.health == 0 and s.p1.ko and s.round_over
    assert spec.ko_value == 0xFF


def _lay_out(spec: GameSpec, values: dict[int, tuple[str, int]]) -> bytes:
    """RAM bytes with ``values`` (address -> (struct format, value)) written at the backend offsets."""
    dec = Decoder(spec)
    ram = bytearray(max(a - spec.ram_base + 4 for a in values) + 64)
    for addr, (fmt, value) in values.items():
        struct.pack_into(fmt, ram, addr - spec.ram_base, value)
    return b"".join(bytes(ram[o : o + n]) for o, n in dec.ranges)


def test_sf2_turbo_snes_map_from_architecture_addresses() -> None:
    # Addresses as documented in ARCHITECTURE.md (community RAM maps), written independently of the spec.
    buf = _lay_out(
        SF2_TURBO_SNES,
        {
            0x0530: ("<B", 120),
            0x0730: ("<B", 0xFF),
            0x0506: ("<H", 300),
            0x0706: ("<H", 420),
            0x0509: ("<B", 12),
            0x05D0: ("<B", 1),
            0x07D0: ("<B", 0),
            0x05D1: ("<B", 3),
            0x07D1: ("<B", 11),
            0x18F3: ("<B", 0x42),
        },
    )
    s = Decoder(SF2_TURBO_SNES).decode(buf)
    assert (s.p1.health, s.p2.health, s.p2.ko) == (120, 0, True)
    assert (s.p1.x, s.p2.x, s.p1.y) == (300, 420, 12)
    assert (s.p1.rounds_won, s.p1.character, s.p2.character) == (1, 3, 11)
    assert s.timer == 42 and s.round_over
    assert SF2_TURBO_SNES.characters[s.p2.character] == "bison"


def test_sf2_sce_genesis_map_from_integration_addresses() -> None:
    # stable-retro's data.json: health >i2 at 0xFF8042/0xFF82C2, round wins |u1 at 0xFF81DA and >u4 at 0xFF8457.
    buf = _lay_out(
        SF2_SCE_GENESIS,
        {
            0xFF8042: (">h", 99),
            0xFF82C2: (">h", -1),
            0xFF81DA: ("<B", 1),
            0xFF8457: (">I", 2),
            0xFF8006: (">H", 150),
            0xFF972A: ("<B", 0x87),
        },
    )
    s = Decoder(SF2_SCE_GENESIS).decode(buf)
    assert (s.p1.health, s.p2.health) == (99, 0)
    assert (s.p1.rounds_won, s.p2.rounds_won, s.match_over) == (1, 2, True)
    assert s.p1.x == 150 and s.timer == 87


def test_airstriker_map_from_integration_addresses() -> None:
    buf = _lay_out(AIRSTRIKER_GENESIS, {0xFF025A: (">H", 3), 0xFF024E: (">I", 1234), 0xFF0266: (">H", 0)})
    s = Decoder(AIRSTRIKER_GENESIS).decode(buf)
    assert s.p1.health == 3 and s.score == 1234 and not s.match_over


@pytest.mark.parametrize("spec", list(GAMES.values()), ids=list(GAMES))
def test_every_spec_is_complete(spec: GameSpec) -> None:
    dec = Decoder(spec)
    # The requested ranges cover every field's bytes, in order, without overlap, and request no
    # stretch of more than the decoder's gap (32 bytes) that no field needs.
    spans = sorted((f.addr - spec.ram_base, f.addr - spec.ram_base + f.size) for f in spec.fields().values())
    assert all(n > 0 for _, n in dec.ranges)
    assert all(a + n <= b for (a, n), (b, _) in itertools.pairwise(dec.ranges))
    for lo, hi in spans:
        assert any(a <= lo and hi <= a + n for a, n in dec.ranges), (lo, hi)
    for a, n in dec.ranges:
        needed = sorted({i for lo, hi in spans for i in range(lo, hi) if a <= i < a + n})
        assert needed[0] == a and needed[-1] == a + n - 1
        assert all(j - i <= 33 for i, j in itertools.pairwise(needed)), (a, n)
    for backend, buttons in spec.buttons.items():
        assert backend in spec.backends
        assert {"up", "down", "left", "right", "lp", "mp", "hp", "lk", "mk", "hk"} <= set(buttons)
    if spec in (SF2_TURBO_SNES, SF2_SCE_GENESIS):
        assert spec.unverified(), "specs of ROMs nobody checked here must say so"


def test_decoder_rejects_wrong_sized_input_and_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="expected"):
        Decoder(SIM).decode(b"\x00")
    with pytest.raises(ValueError, match="unknown field kind"):
        Field(0, "f32")
    with pytest.raises(ValueError, match="valid"):
        get_game("tekken")
