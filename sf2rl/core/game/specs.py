"""The games sf2rl knows, as data tables. Unverified addresses are marked so."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sf2rl.core.game.spec import Category, Field, GameSpec

F = Field

# Button names per backend: the simulator's and BizHawk's SNES pad (BizHawk adds the "P1 " prefix in the
# Lua bridge), and stable-retro's Genesis 6-button pad (X/Y/Z punches, A/B/C kicks).
SNES_BUTTONS = MappingProxyType(
    {
        "up": "Up",
        "down": "Down",
        "left": "Left",
        "right": "Right",
        "lp": "Y",
        "mp": "X",
        "hp": "L",
        "lk": "B",
        "mk": "A",
        "hk": "R",
        "start": "Start",
        "select": "Select",
    }
)
GENESIS_BUTTONS = MappingProxyType(
    {
        "up": "UP",
        "down": "DOWN",
        "left": "LEFT",
        "right": "RIGHT",
        "lp": "X",
        "mp": "Y",
        "hp": "Z",
        "lk": "A",
        "mk": "B",
        "hk": "C",
        "start": "START",
        "select": "MODE",
    }
)

# The simulator's state enum (docs/simulator.md) and SF2 Turbo's, mapped to coarse categories.
SIM_CATEGORIES: Mapping[int, Category] = MappingProxyType(
    {
        0: Category.IDLE,
        1: Category.MOVING,
        2: Category.MOVING,
        3: Category.CROUCHING,
        4: Category.AIRBORNE,
        5: Category.ATTACKING,
        6: Category.ATTACKING,
        7: Category.BLOCKING,
        8: Category.BLOCKING,
        9: Category.STUNNED,
        10: Category.STUNNED,
        11: Category.DOWN,
        12: Category.DOWN,
        13: Category.STUNNED,
        14: Category.DOWN,
        15: Category.IDLE,
    }
)


def _sim_player(base: int) -> Mapping[str, Field]:
    # The simulator's map copies SF2 Turbo's layout, so these are "verified" against our own game.
    return MappingProxyType(
        {
            "state": F(base + 0x03, "u8", True),
            "x": F(base + 0x06, "u16le", True),
            "y": F(base + 0x09, "u8", True),
            "facing": F(base + 0x0A, "u8", True),
            "stun": F(base + 0x0B, "u8", True),
            "projectile": F(base + 0x10, "u8", True),
            "projectile_x": F(base + 0x12, "u16le", True),
            "health": F(base + 0x30, "u8", True),
            "rounds_won": F(base + 0xD0, "u8", True),
            "character": F(base + 0xD1, "u8", True),
            "round_over": F(base + 0xF2, "u8", True),
        }
    )


SIM = GameSpec(
    id="sim",
    title="sf2rl built-in simulator",
    backends=MappingProxyType({"sim": "sim", "bizhawk": "sim"}),
    players=(_sim_player(0x0500), _sim_player(0x0700)),
    globals=MappingProxyType(
        {
            "frame": F(0x0010, "u32le", True),
            "phase": F(0x0018, "u8", True),
            "round": F(0x0019, "u8", True),
            "match_winner": F(0x001B, "u8", True),
            "timer": F(0x18F3, "bcd8", True),
        }
    ),
    buttons=MappingProxyType({"sim": SNES_BUTTONS, "bizhawk": SNES_BUTTONS}),
    characters=("ryu", "ken", "guile", "chunli", "zangief", "bison"),
    ko_value=0xFF,
    categories=SIM_CATEGORIES,
    match_over_phase=3,
    intro_phase=0,  # the round announcement (emulator_worker.sim PHASE_NAMES)
    notes="Address map in docs/simulator.md; mirrors SF2 Turbo's WRAM layout (players 0x200 apart).",
)


def _turbo_player(base: int) -> Mapping[str, Field]:
    return MappingProxyType(
        {
            "state": F(base + 0x03),
            "x": F(base + 0x06, "u16le"),
            "y": F(base + 0x09),
            "health": F(base + 0x30),
            "rounds_won": F(base + 0xD0),
            "character": F(base + 0xD1),
            "round_over": F(base + 0xF2),
        }
    )


# Character ids in roster order (select-screen order is not the ROMs' id order; unverified).
WORLD_WARRIORS = ("ryu", "ehonda", "blanka", "guile", "ken", "chunli", "zangief", "dhalsim",
                  "balrog", "vega", "sagat", "bison")  # fmt: skip
NEW_CHALLENGERS = ("cammy", "thawk", "feilong", "deejay")

SF2_TURBO_SNES = GameSpec(
    id="sf2-turbo-snes",
    title="Super Street Fighter II Turbo (SNES, USA)",
    backends=MappingProxyType({"bizhawk": "SNES"}),
    players=(_turbo_player(0x0500), _turbo_player(0x0700)),
    globals=MappingProxyType({"timer": F(0x18F3, "bcd8")}),
    buttons=MappingProxyType({"bizhawk": SNES_BUTTONS}),
    characters=WORLD_WARRIORS + NEW_CHALLENGERS,
    ko_value=0xFF,
    notes="WRAM offsets from community RAM maps and Gyroscope's bridge; none verified here (no ROM).",
)

SF2_SCE_GENESIS = GameSpec(
    id="sf2-sce-genesis",
    title="Street Fighter II' Special Champion Edition (Genesis)",
    backends=MappingProxyType({"retro": "StreetFighterIISpecialChampionEdition-Genesis-v0"}),
    players=(
        MappingProxyType(
            {
                "health": F(0xFF8042, "i16be", True),
                "x": F(0xFF8006, "u16be"),
                "y": F(0xFF800A, "u16be"),
                "rounds_won": F(0xFF81DA, "u8", True),
            }
        ),
        MappingProxyType(
            {
                "health": F(0xFF82C2, "i16be", True),
                "x": F(0xFF8286, "u16be"),
                "y": F(0xFF828A, "u16be"),
                "rounds_won": F(0xFF8457, "u32be", True),
            }
        ),
    ),
    globals=MappingProxyType({"timer": F(0xFF972A, "bcd8")}),
    buttons=MappingProxyType({"retro": GENESIS_BUTTONS}),
    characters=WORLD_WARRIORS,
    ram_base=0xFF0000,
    notes="health and round wins come from stable-retro's integration data.json; x, y, timer are unverified.",
)

# A game whose ROM ships with stable-retro, so the real-emulator path runs here. Not a fighter:
# lives stand in for health so the same decoder, rewards and env run unchanged.
AIRSTRIKER_GENESIS = GameSpec(
    id="airstriker-genesis",
    title="Airstriker (Genesis, bundled with stable-retro)",
    backends=MappingProxyType({"retro": "Airstriker-Genesis-v0"}),
    players=(
        MappingProxyType({"health": F(0xFF025A, "u16be", True)}),
        MappingProxyType({}),
    ),
    globals=MappingProxyType({"score": F(0xFF024E, "u32be", True), "phase": F(0xFF0266, "u16be", True)}),
    buttons=MappingProxyType({"retro": GENESIS_BUTTONS}),
    characters=("ship",),
    max_health=3,
    rounds_to_win=1,
    ram_base=0xFF0000,
    match_over_phase=1,
    notes="lives, score and gameover (phase 1) addresses from stable-retro's data.json.",
)

GAMES: Mapping[str, GameSpec] = MappingProxyType(
    {g.id: g for g in (SIM, SF2_TURBO_SNES, SF2_SCE_GENESIS, AIRSTRIKER_GENESIS)}
)


def get_game(name: str) -> GameSpec:
    """Look a game spec up by id, with an error listing the valid ids."""
    try:
        return GAMES[name]
    except KeyError:
        raise ValueError(f"unknown game {name!r}; valid: {sorted(GAMES)}") from None
