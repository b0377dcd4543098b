"""Round and match flow: intro, KO, time over, best of 3, draws, match over."""

from __future__ import annotations

import numpy as np

from emulator_worker.sim import STATE_NAMES, SF2Sim, buttons_to_mask, player_base

STATE = {name: i for i, name in enumerate(STATE_NAMES)}
P1, P2 = player_base(0), player_base(1)
INTRO, FIGHT, OUTRO, OVER = 0, 1, 2, 3
ROUND_FRAMES = 60 + 99 * 60  # intro + a full timer
OUTRO_FRAMES = 120


def x_of(ram: np.ndarray, base: int) -> int:
    return int(ram[base + 6]) | int(ram[base + 7]) << 8


def knock_out_p2(sim: SF2Sim, limit: int = 3000) -> np.ndarray:
    """P1 walks up to an idle P2 and hits it with heavy punches until the round ends."""
    press = buttons_to_mask(["L"])
    right = buttons_to_mask(["Right"])
    ram = sim.ram()
    for i in range(limit):
        if ram[0x0018] == OUTRO:
            return ram
        if ram[0x0018] == FIGHT and abs(x_of(ram, P2) - x_of(ram, P1)) > 60:
            sim.step(right, 0, 2)
        else:
            sim.step(press if i % 2 else 0, 0, 2)
        ram = sim.ram()
    raise AssertionError("P2 was never knocked out")


def test_timer_counts_down_in_bcd_once_per_second_after_the_intro() -> None:
    sim = SF2Sim()
    sim.reset(two_player=True)
    sim.step(0, 0, 59)
    assert sim.ram()[0x0018] == INTRO
    sim.step(0, 0, 1 + 59)
    ram = sim.ram()
    assert ram[0x0018] == FIGHT and ram[0x18F3] == 0x99
    sim.step(0, 0, 1)
    assert sim.ram()[0x18F3] == 0x98
    sim.step(0, 0, 60 * 9)
    assert sim.ram()[0x18F3] == 0x89


def test_time_over_with_equal_health_is_a_draw_round() -> None:
    sim = SF2Sim()
    sim.reset(two_player=True)
    sim.step(0, 0, ROUND_FRAMES - 1)
    assert sim.ram()[0x0018] == FIGHT
    sim.step(0, 0, 1)
    ram = sim.ram()
    assert ram[0x18F3] == 0x00
    assert ram[0x0018] == OUTRO
    assert ram[0x001A] == 3
    assert ram[P1 + 0xF2] == 1 and ram[P2 + 0xF2] == 1
    assert ram[P1 + 0xD0] == 0 and ram[P2 + 0xD0] == 0
    sim.step(0, 0, OUTRO_FRAMES)
    ram = sim.ram()
    assert ram[0x0018] == INTRO and ram[0x0019] == 2 and ram[0x18F3] == 0x99
    assert ram[P1 + 0xF2] == 0 and ram[P1 + 0x30] == 176
    assert x_of(ram, P1) == 192 and x_of(ram, P2) == 320


def test_time_over_goes_to_the_healthier_fighter() -> None:
    sim = SF2Sim()
    sim.reset(two_player=True)
    sim.step(0, 0, 60)
    sim.step(buttons_to_mask(["Right"]), 0, 60)
    sim.step(buttons_to_mask(["L"]), 0, 1)
    sim.step(0, 0, 40)
    hurt = int(sim.ram()[P2 + 0x30])
    assert hurt < 176
    while sim.ram()[0x0018] == FIGHT:  # retreat and wait it out
        sim.step(buttons_to_mask(["Left"]), 0, 30)
    ram = sim.ram()
    assert ram[0x18F3] == 0x00
    assert ram[0x001A] == 1 and ram[P1 + 0xD0] == 1
    assert ram[P2 + 0x30] == hurt


def test_knockout_round_flow_and_best_of_three() -> None:
    sim = SF2Sim()
    sim.reset(two_player=True)
    ram = knock_out_p2(sim)
    assert ram[P2 + 0x30] == 0xFF  # KO'd health, as the real ROM shows it
    assert ram[P2 + 0x03] == STATE["ko"]
    assert ram[0x001A] == 1 and ram[P1 + 0xD0] == 1 and ram[P1 + 0xF2] == 1
    sim.step(0, 0, 60)
    assert sim.ram()[P1 + 0x03] == STATE["victory"]
    sim.step(0, 0, OUTRO_FRAMES - 60)
    ram = sim.ram()
    assert ram[0x0019] == 2 and ram[0x0018] == INTRO and ram[P2 + 0x30] == 176
    assert not sim.match_over
    knock_out_p2(sim)
    sim.step(0, 0, OUTRO_FRAMES)
    ram = sim.ram()
    assert sim.match_over
    assert ram[0x0018] == OVER and ram[0x001B] == 1 and ram[P1 + 0xD0] == 2
    frozen = sim.ram()
    sim.step(buttons_to_mask(["Right", "Y"]), 0, 200)
    after = sim.ram()
    assert after[0x0018] == OVER
    assert np.array_equal(after[0x100:], frozen[0x100:])  # only the frame counter moves


def test_rounds_of_draws_end_in_a_drawn_match() -> None:
    sim = SF2Sim()
    sim.reset(two_player=True)
    for expected_round in (1, 2, 3, 4):
        assert sim.ram()[0x0019] == expected_round
        sim.step(0, 0, ROUND_FRAMES + OUTRO_FRAMES)
    ram = sim.ram()
    assert sim.match_over
    assert ram[0x001B] == 3 and ram[0x0019] == 4


def test_single_player_matches_against_the_cpu_always_end() -> None:
    for level in (1, 8):
        sim = SF2Sim(level)
        sim.reset(seed=level, difficulty=level)
        frames = 0
        while not sim.match_over:
            sim.step(0, 0, 60)
            frames += 60
            assert frames < 4 * (ROUND_FRAMES + OUTRO_FRAMES) + 60
        assert sim.ram()[0x001B] == 2  # an idle player loses to any CPU
