"""The sim's public interface: buttons, reset/step validation, RAM map, frames, determinism."""

from __future__ import annotations

import random

import numpy as np
import pytest

from emulator_worker.sim import (
    BUTTONS,
    CHARACTERS,
    GLOBAL_FIELDS,
    HEIGHT,
    PLAYER_FIELDS,
    RAM_SIZE,
    WIDTH,
    CpuAgent,
    SF2Sim,
    UnknownButtonError,
    buttons_to_mask,
    player_base,
)

P1, P2 = player_base(0), player_base(1)


def _u16(ram: np.ndarray, addr: int) -> int:
    return int(ram[addr]) | int(ram[addr + 1]) << 8


def test_button_layout_and_masks() -> None:
    assert BUTTONS == ("Up", "Down", "Left", "Right", "Select", "Start", "Y", "B", "X", "A", "L", "R")
    assert buttons_to_mask([]) == 0
    assert buttons_to_mask(["Up"]) == 1
    assert buttons_to_mask(["R"]) == 1 << 11
    assert buttons_to_mask(("Down", "Right", "Y")) == 2 | 8 | 64
    assert buttons_to_mask("Start") == 1 << 5


def test_unknown_button_names_the_button_and_lists_valid_ones() -> None:
    with pytest.raises(UnknownButtonError) as info:
        buttons_to_mask(["Up", "Jump"])
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert "'Jump'" in message
    for name in BUTTONS:
        assert name in message


def test_roster_has_required_characters() -> None:
    for name in ("ryu", "ken", "guile", "bison"):
        assert name in CHARACTERS
    assert all(name == name.lower() for name in CHARACTERS)


@pytest.mark.parametrize("level", [0, 9, -1, True, 3.0, "3"])
def test_out_of_range_difficulty_is_rejected(level: object) -> None:
    sim = SF2Sim()
    with pytest.raises(ValueError):
        sim.reset(difficulty=level)  # type: ignore[arg-type]


@pytest.mark.parametrize("mask", [-1, 1 << 12, 1 << 20, 1.5, None, False])
def test_out_of_range_masks_are_rejected(mask: object) -> None:
    sim = SF2Sim()
    with pytest.raises(ValueError):
        sim.step(mask)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        sim.step(0, mask)  # type: ignore[arg-type]


def test_bad_frames_and_characters_are_rejected() -> None:
    sim = SF2Sim()
    with pytest.raises(ValueError):
        sim.step(0, 0, frames=-1)
    with pytest.raises(ValueError):
        sim.reset(characters=(0, len(CHARACTERS)))
    with pytest.raises(ValueError):
        sim.reset(characters=(0,))  # type: ignore[arg-type]


def test_initial_ram_follows_the_address_map() -> None:
    sim = SF2Sim(7)
    sim.reset(characters=(CHARACTERS.index("guile"), CHARACTERS.index("bison")), difficulty=6)
    ram = sim.ram()
    assert ram.dtype == np.uint8 and ram.shape == (RAM_SIZE,)
    assert _u16(ram, P1 + 0x06) == 192 and _u16(ram, P2 + 0x06) == 320
    assert ram[P1 + 0x30] == 176 and ram[P2 + 0x30] == 176
    assert ram[P1 + 0x0A] == 0 and ram[P2 + 0x0A] == 1
    assert ram[P1 + 0xD1] == CHARACTERS.index("guile")
    assert ram[P2 + 0xD1] == CHARACTERS.index("bison")
    assert ram[0x18F3] == 0x99
    assert ram[0x0018] == 0 and ram[0x0019] == 1
    assert ram[0x001C] == 6 and ram[0x001D] == 0
    sim.step(0, 0, frames=60)
    ram = sim.ram()
    assert ram[0x0018] == 1  # fighting after the ~1 s intro
    assert int.from_bytes(bytes(ram[0x10:0x14]), "little") == 60


def test_ram_is_a_current_copy() -> None:
    sim = SF2Sim()
    before = sim.ram()
    sim.step(buttons_to_mask(["Right"]), 0, frames=90)
    after = sim.ram()
    assert _u16(before, P1 + 0x06) == 192
    assert _u16(after, P1 + 0x06) > 192
    after[P1 + 0x30] = 3  # a copy: writing to it changes nothing
    assert sim.ram()[P1 + 0x30] == 176


def test_address_map_tables_cover_the_binding_fields() -> None:
    player = {name: (offset, kind) for name, offset, kind, _ in PLAYER_FIELDS}
    assert player["state"] == (0x03, "u8")
    assert player["x"] == (0x06, "u16le")
    assert player["health"] == (0x30, "u8")
    assert player["round_over"] == (0xF2, "u8")
    glob = {name: (addr, kind) for name, addr, kind, _ in GLOBAL_FIELDS}
    assert glob["timer"] == (0x18F3, "u8")
    assert glob["frame_counter"] == (0x0010, "u32le")


def test_opposite_directions_cancel() -> None:
    sim = SF2Sim()
    sim.reset(two_player=True)
    sim.step(buttons_to_mask(["Left", "Right"]), buttons_to_mask(["Up", "Down"]), frames=120)
    ram = sim.ram()
    assert _u16(ram, P1 + 0x06) == 192 and ram[P1 + 0x03] == 0
    assert ram[P2 + 0x09] == 0 and ram[P2 + 0x03] == 0


def test_frame_shape_dtype_and_content() -> None:
    sim = SF2Sim()
    img = sim.frame()
    assert img.shape == (HEIGHT, WIDTH, 3) == (224, 256, 3)
    assert img.dtype == np.uint8
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 8
    sim.step(buttons_to_mask(["Right"]), 0, frames=120)
    assert not np.array_equal(img, sim.frame())


def _play(seed: int, steps: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    sim = SF2Sim(seed)
    sim.reset(seed=seed, characters=(0, 5), difficulty=5)
    rng = random.Random(99)
    rams, frames = [], []
    for i in range(steps):
        sim.step(rng.randrange(1 << 12), 0, frames=4)
        rams.append(sim.ram())
        if i % 50 == 0:
            frames.append(sim.frame())
    return rams, frames


def test_same_seed_and_inputs_give_identical_ram_and_frames() -> None:
    rams_a, frames_a = _play(3, 600)
    rams_b, frames_b = _play(3, 600)
    assert all(np.array_equal(a, b) for a, b in zip(rams_a, rams_b, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(frames_a, frames_b, strict=True))
    rams_c, _ = _play(4, 600)
    assert not all(np.array_equal(a, c) for a, c in zip(rams_a, rams_c, strict=True))


def test_cpu_agent_on_ram_plays_exactly_like_the_built_in_cpu() -> None:
    seed, level = 11, 4
    solo = SF2Sim(seed)
    solo.reset(seed=seed, difficulty=level)
    duo = SF2Sim(seed)
    duo.reset(seed=seed, difficulty=level, two_player=True)
    agent = CpuAgent(level, seed)
    rng = random.Random(5)
    for _ in range(3000):
        mask = rng.choice((0, 8, 4, 2, 64, 1024, 2048, 9, 2 | 8))
        solo.step(mask, 0)
        duo.step(mask, agent(duo.ram(), 1))
        a, b = solo.ram(), duo.ram()
        b[0x001D] = 0  # the two_player flag is the only expected difference
        assert np.array_equal(a, b)
