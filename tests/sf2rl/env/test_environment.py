"""SF2Env: gymnasium conformance, determinism, and the same episode in-process and over ZeroMQ."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from support import require

import sf2rl  # noqa: F401  (registers SF2-v0)
from emulator_worker.protocol import Segment
from sf2rl.core.config import EnvConfig
from sf2rl.core.game.actions import ACTION_SETS
from sf2rl.core.game.specs import get_game
from sf2rl.env.environment import SF2Env


@pytest.mark.parametrize("obs", ["ram", "pixels"])
@pytest.mark.parametrize("action_set", sorted(ACTION_SETS))
def test_check_env_passes(action_set: str, obs: str) -> None:
    env = SF2Env(EnvConfig(action_set=action_set, obs=obs, pixel_size=32, frame_stack=2))
    check_env(env, skip_render_check=True)
    env.close()


def test_registered_with_gymnasium() -> None:
    env = gym.make("SF2-v0", action_set="minimal", frame_skip=8, difficulty=2)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert env.action_space.n == len(ACTION_SETS["minimal"])
    env.close()


def _rollout(env: SF2Env, seed: int, steps: int) -> tuple[list[np.ndarray], list[float]]:
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    observations, rewards = [obs], []
    for _ in range(steps):
        obs, reward, term, trunc, _ = env.step(int(rng.integers(env.action_space.n)))
        observations.append(obs)
        rewards.append(reward)
        if term or trunc:
            obs, _ = env.reset()
            observations.append(obs)
    return observations, rewards


def test_same_seed_rollouts_are_identical() -> None:
    a, b = SF2Env(), SF2Env()
    oa, ra = _rollout(a, 11, 300)
    ob, rb = _rollout(b, 11, 300)
    assert ra == rb
    assert all(np.array_equal(x, y) for x, y in zip(oa, ob, strict=True))
    _, rc = _rollout(SF2Env(), 12, 300)
    assert rc != ra


def test_env_over_zeromq_matches_in_process(spawn_host) -> None:
    pool = spawn_host(slots=1)
    local = SF2Env(EnvConfig(frame_skip=4))
    remote = SF2Env(EnvConfig(frame_skip=4, backend=pool.endpoints[0]))
    ol, rl = _rollout(local, 5, 400)
    orr, rr = _rollout(remote, 5, 400)
    assert rl == rr
    assert all(np.array_equal(x, y) for x, y in zip(ol, orr, strict=True))
    remote.close()
    local.close()


def test_final_info_reports_the_outcome() -> None:
    env = SF2Env(EnvConfig(frame_skip=20, action_set="minimal", difficulty=8))
    env.reset(seed=0)
    for _ in range(10_000):
        _, _, term, trunc, info = env.step(0)
        if term or trunc:
            break
    assert term
    assert {"won", "health_left", "rounds_won", "rounds_lost"} <= set(info)
    assert isinstance(info["won"], bool)


def test_gym_make_takes_every_documented_keyword() -> None:
    env = gym.make(
        "SF2-v0", backend="sim", game="sim", difficulty=[2, 3], characters=["ryu", ["ken", "bison"]],
        episode="match", action_set="specials", obs="ram", frame_skip=8, hold_frames=4, reward="shaped",
    )  # fmt: skip
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert info["difficulty"] in (2, 3)
    env.close()


@pytest.mark.parametrize(("game", "backend", "skips"), [("sim", "sim", True), ("airstriker-genesis", "retro", False)])
def test_reset_skips_an_intro_only_where_the_game_spec_declares_one(game: str, backend: str, skips: bool) -> None:
    # Airstriker's phase field is its game-over flag: 0 there means playing, not an intro to idle through.
    if backend == "retro":
        require("stable_retro")
    chars = {"characters": ("ship", "ship")} if game != "sim" else {}
    env = SF2Env(EnvConfig(game=game, backend=backend, action_set="minimal", **chars))
    try:
        env.reset(seed=0)
        frames = env.console.step((Segment(0, 0, 0),), ((0, 1),), False).frames_run
        assert (frames > 0) == skips
        if skips:
            assert env.state.phase != get_game(game).intro_phase
    finally:
        env.close()
