"""Reward functions against table-driven RAM fixtures (simulator RAM layout)."""

from __future__ import annotations

import struct

import pytest

from sf2rl.core.game.spec import Decoder, GameState
from sf2rl.core.game.specs import SIM
from sf2rl.core.rewards import REWARDS, Reward, get_reward

DEC = Decoder(SIM)


def state(hp1: int, hp2: int, wins1: int = 0, wins2: int = 0, over: bool = False) -> GameState:
    """Decode RAM bytes written with these values at the simulator's addresses."""
    buf = bytearray(DEC.size)
    values = {
        "p1_health": hp1,
        "p2_health": hp2,
        "p1_rounds_won": wins1,
        "p2_rounds_won": wins2,
        "p1_round_over": int(over),
        "p2_round_over": int(over),
        "phase": 1,
        "timer": 0x99,
    }
    for name, value in values.items():
        fmt, off, _ = DEC._layout[name]
        struct.pack_into(fmt, buf, off, value)
    return DEC.decode(bytes(buf))


CASES = [
    # reward, params, prev, curr, expected
    ("health_delta", {}, state(176, 176), state(176, 160), 16.0),
    ("health_delta", {}, state(176, 176), state(150, 176), -26.0),
    ("health_delta", {}, state(100, 100), state(90, 80), 10.0),
    ("health_delta", {}, state(150, 100), state(140, 80), 10.0),  # the change of the lead, not the lead
    ("damage_dealt", {}, state(176, 176), state(100, 150), 26.0),
    ("damage_dealt", {}, state(176, 150), state(176, 150), 0.0),
    ("net_health", {}, state(120, 100), state(120, 100), 20.0),
    ("win_loss", {}, state(50, 10), state(50, 0xFF, wins1=1, over=True), 1.0),
    ("win_loss", {}, state(10, 50), state(0xFF, 50, wins2=1, over=True), -1.0),
    ("win_loss", {"win": 5.0, "loss": -2.0}, state(10, 50), state(0xFF, 50, wins2=1, over=True), -2.0),
    ("win_loss", {}, state(176, 176), state(170, 176), 0.0),
    # Time over: the round ends with no round counted yet, and the leader on health takes it, once.
    ("win_loss", {}, state(100, 50), state(100, 40, over=True), 1.0),
    ("win_loss", {}, state(40, 50), state(40, 50, over=True), -1.0),
    ("win_loss", {}, state(100, 40, over=True), state(100, 40, over=True), 0.0),
    ("win_loss", {}, state(60, 60), state(60, 60, over=True), 0.0),
    ("shaped", {}, state(176, 176), state(170, 160), 16.0 - 3.0),
    ("shaped", {"win_bonus": 100.0}, state(88, 5), state(88, 0xFF, wins1=1, over=True), 5 + 100 * (0.5 + 0.25)),
    ("shaped", {}, state(88, 5), state(88, 0xFF, wins1=1, over=True), 5 + 100 * (0.5 + 0.25)),  # the default bonus
    ("fight", {}, state(176, 176), state(170, 160), 16.0 - 6.0),
    ("fight", {}, state(88, 5), state(88, 0xFF, wins1=1, over=True), 5.0),  # no round bonus by default
    ("fight", {}, state(10, 50), state(0xFF, 50, wins2=1, over=True), -10.0),
    ("fight", {"dealt_weight": 2.0, "taken_weight": 0.5}, state(176, 176), state(170, 160), 32.0 - 3.0),
    ("fight", {"time_penalty": 0.25}, state(176, 176), state(176, 176), -0.25),
    ("fight", {"round_win": 176.0}, state(88, 5), state(88, 0xFF, wins1=1, over=True), 5 + 176.0),
    ("fight", {"round_loss": 50.0}, state(10, 50), state(0xFF, 50, wins2=1, over=True), -10 - 50.0),
    ("fight", {"round_win": 176.0, "round_loss": 50.0}, state(100, 100), state(100, 90), 10.0),
]


@pytest.mark.parametrize(("name", "params", "prev", "curr", "expected"), CASES)
def test_reward_table(name: str, params: dict[str, float], prev: GameState, curr: GameState, expected: float) -> None:
    assert get_reward(name)(prev, curr, **params) == pytest.approx(expected)


def test_registry_lists_the_documented_rewards() -> None:
    assert set(REWARDS) == {"health_delta", "win_loss", "damage_dealt", "net_health", "shaped", "fight"}


def test_scale_and_clip() -> None:
    r = Reward("health_delta", {}, scale=1 / 176, clip=0.1)
    assert r(state(176, 176), state(176, 166)) == pytest.approx(10 / 176)
    assert r(state(176, 176), state(176, 76)) == pytest.approx(0.1)
    assert r(state(176, 176), state(76, 176)) == pytest.approx(-0.1)


def test_unknown_reward_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="valid:"):
        get_reward("vibes")


def test_reward_params_are_checked_against_the_signature() -> None:
    from sf2rl.core.config import RewardConfig
    from sf2rl.core.rewards import reward_params

    assert reward_params("fight")["round_win"] == 0.0
    assert reward_params("health_delta") == {}
    assert RewardConfig(name="fight", params={"round_win": 176.0}).params == {"round_win": 176.0}
    with pytest.raises(ValueError, match=r"takes no parameter round_bonus; valid: .*round_win"):
        RewardConfig(name="fight", params={"round_bonus": 1.0})
    with pytest.raises(ValueError, match="valid: none"):
        RewardConfig(name="health_delta", params={"win": 1.0})


def test_fight_reward_is_normalized_by_full_health() -> None:
    from sf2rl.core.config import EnvConfig
    from sf2rl.env.environment import SF2Env

    env = SF2Env(EnvConfig(reward={"name": "fight", "params": {"time_penalty": 1.0}}))
    try:
        env.reset(seed=0)
        assert env.reward_fn.scale == pytest.approx(1 / 176)
        _, reward, *_ = env.step(0)  # the round's first step: nobody is hit yet, so only the penalty counts
        assert reward == pytest.approx(-1.0 / 176)
    finally:
        env.close()


def test_reward_defaults_are_the_documented_ones() -> None:
    from sf2rl.core.rewards import reward_params

    # docs/env-options.md lists these (generated from the same signatures); a sweep that names a reward
    # without params gets exactly them.
    assert reward_params("fight") == {"dealt_weight": 1.0, "taken_weight": 1.0, "round_win": 0.0,
                                      "round_loss": 0.0, "time_penalty": 0.0}  # fmt: skip
    assert reward_params("shaped") == {"dealt_weight": 1.0, "taken_weight": 0.5, "win_bonus": 100.0,
                                       "max_health": 176}  # fmt: skip
    assert reward_params("win_loss") == {"win": 1.0, "loss": -1.0}
