"""Special moves from motion inputs (and not from sloppy ones), blocking, chip, throws."""

from __future__ import annotations

import numpy as np
import pytest

from emulator_worker.sim import (
    CHARACTERS,
    MOVE_NAMES,
    STATE_NAMES,
    SF2Sim,
    buttons_to_mask,
    player_base,
)

MOVE = {name: move_id for move_id, name in MOVE_NAMES.items()}
STATE = {name: i for i, name in enumerate(STATE_NAMES)}
P1, P2 = player_base(0), player_base(1)


def m(*names: str) -> int:
    return buttons_to_mask(names)


def ready(p1: str = "ryu", p2: str = "ryu") -> SF2Sim:
    """A two-controller match past the intro (P1 faces right, P2 left, P2 idle)."""
    sim = SF2Sim(0)
    sim.reset(characters=(CHARACTERS.index(p1), CHARACTERS.index(p2)), two_player=True)
    sim.step(0, 0, frames=60)
    return sim


def feed(sim: SF2Sim, inputs: list[tuple[int, int]], p2: int = 0) -> np.ndarray:
    for mask, frames in inputs:
        sim.step(mask, p2, frames)
    return sim.ram()


def move_of(ram: np.ndarray, base: int = P1) -> int:
    return int(ram[base + 0x04])


def distance(ram: np.ndarray) -> int:
    return abs((int(ram[P2 + 6]) | int(ram[P2 + 7]) << 8) - (int(ram[P1 + 6]) | int(ram[P1 + 7]) << 8))


QCF = [(m("Down"), 2), (m("Down", "Right"), 2), (m("Right", "Y"), 1)]
DP = [(m("Right"), 2), (m("Down"), 2), (m("Down", "Right", "Y"), 1)]
QCB_K = [(m("Down"), 2), (m("Down", "Left"), 2), (m("Left", "B"), 1)]


def test_fireball_from_quarter_circle_forward_and_its_projectile() -> None:
    sim = ready()
    ram = feed(sim, QCF)
    assert ram[P1 + 0x03] == STATE["special"]
    assert move_of(ram) == MOVE["hadouken"]
    ram = feed(sim, [(0, 14)])
    assert ram[P1 + 0x10] == 1
    proj_x = int(ram[P1 + 0x12]) | int(ram[P1 + 0x13]) << 8
    assert 192 < proj_x < 320


@pytest.mark.parametrize(
    "sloppy",
    [
        # wrong order
        [(m("Right"), 2), (m("Down", "Right"), 2), (m("Down", "Y"), 1)],
        # too slow: 30 frames between down and forward
        [(m("Down"), 2), (m("Down", "Right"), 30), (m("Right", "Y"), 1)],
        # missing the down-forward corner is fine, missing down is not
        [(m("Down", "Right"), 2), (m("Right", "Y"), 1)],
        # button pressed after letting go of the motion's last direction
        [(m("Down"), 2), (m("Down", "Right"), 2), (m("Right"), 2), (m("Y"), 1)],
    ],
)
def test_sloppy_quarter_circles_give_no_fireball(sloppy: list[tuple[int, int]]) -> None:
    sim = ready()
    ram = feed(sim, sloppy)
    assert move_of(ram) != MOVE["hadouken"]
    assert ram[P1 + 0x03] != STATE["special"]
    ram = feed(sim, [(0, 20)])
    assert ram[P1 + 0x10] == 0


def test_one_projectile_on_screen_per_player() -> None:
    sim = ready()
    feed(sim, [(0, 100)], p2=m("Right"))  # P2 backs off to the far edge of the screen
    slow = [*QCF[:-1], (m("Right", "Y"), 1)]
    assert move_of(feed(sim, slow)) == MOVE["hadouken"]
    ram = feed(sim, [(0, 45)])  # recovered, while the slow fireball still travels
    assert ram[P1 + 0x10] == 1 and ram[P1 + 0x03] == STATE["idle"]
    ram = feed(sim, slow)
    assert move_of(ram) != MOVE["hadouken"]
    assert ram[P1 + 0x10] == 1


def test_uppercut_from_forward_down_downforward_is_invincible_and_rises() -> None:
    sim = ready()
    ram = feed(sim, DP)
    assert move_of(ram) == MOVE["shoryuken"]
    assert ram[P1 + 0x0D] > 0  # invulnerable frames
    ram = feed(sim, [(0, 8)])
    assert ram[P1 + 0x09] > 0  # airborne


@pytest.mark.parametrize(
    "sloppy",
    [
        [(m("Down"), 2), (m("Right"), 2), (m("Down", "Right", "Y"), 1)],  # down, forward, df
        [(m("Right"), 2), (m("Down"), 30), (m("Down", "Right", "Y"), 1)],  # too slow
    ],
)
def test_sloppy_uppercut_inputs_give_no_uppercut(sloppy: list[tuple[int, int]]) -> None:
    sim = ready()
    ram = feed(sim, sloppy)
    assert move_of(ram) != MOVE["shoryuken"]


def test_hurricane_kick_from_quarter_circle_back() -> None:
    sim = ready("ken")
    ram = feed(sim, QCB_K)
    assert move_of(ram) == MOVE["tatsumaki"]


def test_charge_sonic_boom_needs_a_full_back_charge() -> None:
    sim = ready("guile")
    ram = feed(sim, [(m("Left"), 50), (m("Right", "Y"), 1)])
    assert move_of(ram) == MOVE["sonic_boom"]
    sim = ready("guile")
    ram = feed(sim, [(m("Left"), 20), (m("Right", "Y"), 1)])
    assert move_of(ram) != MOVE["sonic_boom"]
    sim = ready("guile")  # charged, but forward pressed too late
    ram = feed(sim, [(m("Left"), 50), (0, 20), (m("Right", "Y"), 1)])
    assert move_of(ram) != MOVE["sonic_boom"]


def test_charge_flash_kick_from_down_then_up_kick() -> None:
    sim = ready("guile")
    ram = feed(sim, [(m("Down"), 50), (m("Up"), 1), (m("Up", "R"), 1)])
    assert move_of(ram) == MOVE["flash_kick"]
    sim = ready("guile")
    ram = feed(sim, [(m("Down"), 10), (m("Up"), 1), (m("Up", "R"), 1)])
    assert move_of(ram) != MOVE["flash_kick"]


def test_boss_charges_faster_than_guile() -> None:
    sim = ready("bison")
    ram = feed(sim, [(m("Left"), 32), (m("Right", "Y"), 1)])
    assert move_of(ram) == MOVE["psycho_crusher"]
    sim = ready("guile")
    ram = feed(sim, [(m("Left"), 32), (m("Right", "Y"), 1)])
    assert move_of(ram) != MOVE["sonic_boom"]


def test_spinning_piledriver_from_a_full_circle_grabs_up_close() -> None:
    sim = ready("zangief")
    feed(sim, [(m("Right"), 90)])  # walk in until bodies touch
    circle = [
        (m("Right"), 2),
        (m("Down", "Right"), 2),
        (m("Down"), 2),
        (m("Down", "Left"), 2),
        (m("Left"), 2),
        (m("Up", "Left"), 1),
        (m("Up", "Left", "Y"), 1),
    ]
    ram = feed(sim, circle)
    assert move_of(ram) == MOVE["spinning_piledriver"]
    ram = feed(sim, [(0, 3)])
    assert ram[P2 + 0x03] == STATE["thrown"]
    assert ram[P2 + 0x30] < 176


def close_in(sim: SF2Sim) -> None:
    """Walk P1 in until the bodies touch."""
    feed(sim, [(m("Right"), 60)])
    assert distance(sim.ram()) <= 45


def test_standing_block_stops_normal_damage_completely() -> None:
    sim = ready()
    close_in(sim)
    ram = feed(sim, [(m("L"), 1), (0, 20)], p2=m("Right"))  # P2 holds back
    assert ram[P2 + 0x30] == 176
    sim = ready()
    close_in(sim)
    ram = feed(sim, [(m("L"), 1), (0, 20)])
    assert ram[P2 + 0x30] < 176


def test_blocked_special_does_chip_damage_only() -> None:
    blocked = ready()
    feed(blocked, [*QCF, (0, 60)], p2=m("Right"))
    unblocked = ready()
    feed(unblocked, [*QCF, (0, 60)])
    chip = 176 - int(blocked.ram()[P2 + 0x30])
    full = 176 - int(unblocked.ram()[P2 + 0x30])
    assert 0 < chip < full // 3


def test_crouch_block_stops_lows_and_stand_block_does_not() -> None:
    for p2, hurt in ((m("Down", "Right"), False), (m("Right"), True)):
        sim = ready()
        close_in(sim)
        ram = feed(sim, [(m("Down", "R"), 1), (m("Down"), 12)], p2=p2)
        assert (ram[P2 + 0x30] < 176) == hurt
        if hurt:
            ram = feed(sim, [(0, 10)])
            assert ram[P2 + 0x03] == STATE["knockdown"]


def _jump_in(p2: int, press_after: int) -> np.ndarray:
    sim = ready()
    feed(sim, [(m("Right"), 20)])
    return feed(sim, [(m("Up", "Right"), 3), (0, press_after), (m("R"), 1), (0, 30)], p2=p2)


def test_jump_ins_must_be_blocked_standing() -> None:
    # Find a timing whose jump kick hits a standing opponent, then block it two ways.
    timing = next(t for t in range(10, 40) if _jump_in(0, t)[P2 + 0x30] < 176)
    assert _jump_in(m("Right"), timing)[P2 + 0x30] == 176
    assert _jump_in(m("Down", "Right"), timing)[P2 + 0x30] < 176


def test_throw_beats_blocking_at_close_range() -> None:
    sim = ready()
    close_in(sim)
    ram = feed(sim, [(m("Right", "L"), 1), (m("Right"), 2)], p2=m("Right"))
    assert ram[P2 + 0x03] == STATE["thrown"]
    assert ram[P2 + 0x30] < 176
    ram = feed(sim, [(0, 40)])
    assert ram[P2 + 0x03] in (STATE["knockdown"], STATE["getup"])
