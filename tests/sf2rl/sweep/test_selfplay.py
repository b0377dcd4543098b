"""Self-play: player 2 is a policy (baseline or frozen checkpoint), refreshed from a folder; DQN trains against it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from support import save_module

from emulator_worker.protocol import Segment
from sf2rl.agents.checkpoint import MODULE_SUBDIR, CheckpointPolicy, RefreshingPolicy, recorded_env_config
from sf2rl.agents.factory import load_policy, make_env
from sf2rl.core.config import EnvConfig
from sf2rl.core.errors import ConfigError
from sf2rl.env.environment import SF2Env, merge_runs

MINIMAL = {"action_set": "minimal", "frame_skip": 8, "max_episode_steps": 40, "difficulty": 1}


def test_both_players_inputs_are_merged_into_segments() -> None:
    segs = merge_runs([(1, 3), (0, 5)], [(2, 2), (6, 6)])
    assert segs == (Segment(1, 2, 2), Segment(1, 6, 1), Segment(0, 6, 5))
    # A macro outlasting the step on one side: the other side keeps its last input meanwhile.
    assert merge_runs([(1, 2)], [(4, 1), (8, 2)]) == (Segment(1, 4, 1), Segment(1, 8, 2))


def _watch_p2(env: SF2Env, steps: int) -> tuple[set[int], int]:
    """Player 2's x positions and player 1's health while player 1 stands still."""
    env.reset(seed=3)
    xs = set()
    for _ in range(steps):
        env.step(0)
        xs.add(env.state.p2.x)
    return xs, env.state.p1.health


def test_a_baseline_opponent_drives_player_two() -> None:
    xs, _ = _watch_p2(SF2Env(EnvConfig(frame_skip=4)), 120)
    assert len(xs) > 1  # the CPU walks about
    xs, health = _watch_p2(make_env(EnvConfig(frame_skip=4, opponent="noop")), 120)
    assert len(xs) == 1 and health == 176  # a noop player 2 never moves nor hits: the CPU is off
    scripted = make_env(EnvConfig(frame_skip=4, opponent="heuristic"))
    _, health = _watch_p2(scripted, 120)
    assert health < 176
    assert scripted.opponent is not None and scripted.opponent.name == "heuristic"


def test_the_env_takes_its_policy_opponent_from_outside() -> None:
    # The env never resolves an opponent name itself: the agents layer's factory does (gymnasium.make too).
    with pytest.raises(ConfigError, match=r"sf2rl\.agents\.factory\.make_env"):
        SF2Env(EnvConfig(frame_skip=4, opponent="heuristic"))
    env = SF2Env(EnvConfig(frame_skip=4, opponent="heuristic"), opponent=load_policy("noop", seat="opponent"))
    assert env.opponent is not None and env.opponent.name == "noop"
    import gymnasium as gym

    made = gym.make("SF2-v0", config={"frame_skip": 4, "opponent": "heuristic"}).unwrapped
    assert isinstance(made, SF2Env) and made.opponent is not None and made.opponent.name == "heuristic"


def test_checkpoint_opponent_acts_from_player_twos_side(tmp_path: Path) -> None:
    ckpt = save_module(tmp_path / "opp", EnvConfig(**MINIMAL))
    env = make_env(EnvConfig(**{**MINIMAL, "action_set": "seed", "opponent": str(ckpt)}))
    env.reset(seed=0)
    assert isinstance(env.opponent, CheckpointPolicy)
    twin = load_policy(ckpt, seat="opponent")
    for _ in range(20):
        seen = env.state.swapped()
        expected = twin.act(env.ram_features(seen), seen)
        env.step(0)
        assert env.opponent_action == expected


def test_opponent_refreshes_from_the_newest_checkpoint_in_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "league"
    first = save_module(folder / "a" / MODULE_SUBDIR, EnvConfig(**MINIMAL), export=folder / "a").parents[3]
    (first / "rllib_checkpoint.json").write_text("{}")
    env = make_env(EnvConfig(**{**MINIMAL, "opponent": str(folder), "opponent_refresh_episodes": 1}))
    env.reset(seed=0)
    assert isinstance(env.opponent, RefreshingPolicy) and env.opponent.loaded == first
    second = save_module(folder / "b" / MODULE_SUBDIR, EnvConfig(**MINIMAL), export=folder / "b").parents[3]
    (second / "rllib_checkpoint.json").write_text("{}")
    later = time.time() + 5
    os.utime(second / "rllib_checkpoint.json", (later, later))
    env.reset(seed=1)
    assert env.opponent.loaded == second
    env.step(0)
    assert env.opponent_action is not None


def test_dqn_trains_against_a_checkpoint_opponent(ray_session: Path, tmp_path: Path) -> None:
    from sf2rl.sweep.schema import SweepConfig
    from sf2rl.sweep.trainable import PooledDQN, base_config

    league = tmp_path / "league"
    first = save_module(league / "first" / MODULE_SUBDIR, EnvConfig(**MINIMAL), export=league / "first").parents[3]
    (first / "rllib_checkpoint.json").write_text("{}")
    # 180 steps: each of the 4 envs finishes a 40-step episode and steps on into the next.
    dqn = {
        "hiddens": [16], "learning_starts": 50, "steps_per_iteration": 180, "train_batch_size": 16,
        "buffer_size": 1000, "target_update_period": 100,
    }  # fmt: skip
    env = {**MINIMAL, "opponent": str(league), "opponent_refresh_episodes": 1}
    algo = PooledDQN(base_config(SweepConfig(name="selfplay", env=env, dqn=dqn)))
    try:
        result = algo.train()
        assert result["env_runners"]["num_episodes"] >= 1
        assert algo.learning_loop is not None
        sub = algo.learning_loop.rollout.envs[0]
        assert isinstance(sub, SF2Env) and isinstance(sub.opponent, RefreshingPolicy)
        assert sub.opponent.loaded == first and sub.opponent_action is not None
        # The agent's own checkpoint lands in the league folder: from its next episode on, it plays itself.
        own = Path(algo.save_to_path(str(league / "own")))
        later = time.time() + 5
        os.utime(own / "rllib_checkpoint.json", (later, later))
        algo.train()
        assert sub.opponent.loaded == own
    finally:
        algo.stop()
    recorded = recorded_env_config(own)  # the checkpoint remembers whom it trained against
    assert recorded is not None and recorded.opponent == str(league)


def test_trial_plays_against_its_own_checkpoints(
    ray_session: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sf2rl.sweep.schema import SweepConfig
    from sf2rl.sweep.trainable import PooledDQN, base_config

    # 180 steps: each of the 4 envs finishes a 40-step episode and steps on into the next.
    dqn = {
        "hiddens": [16], "learning_starts": 50, "steps_per_iteration": 180, "train_batch_size": 16,
        "buffer_size": 1000, "target_update_period": 100,
    }  # fmt: skip
    env = {**MINIMAL, "opponent": "self", "opponent_refresh_episodes": 1}
    trial_dir = tmp_path / "trial"
    trial_dir.mkdir()
    # Outside Tune there is no trial folder; give this algorithm one, as Tune's storage context would.
    monkeypatch.setattr(PooledDQN, "_self_play_folder", lambda self: str(trial_dir))
    algo = PooledDQN(base_config(SweepConfig(name="selfplay", env=env, dqn=dqn)))
    try:
        algo.train()
        assert algo.learning_loop is not None
        sub = algo.learning_loop.rollout.envs[0]
        assert Path(sub.config.opponent) == trial_dir
        saved = Path(algo.save_to_path(str(trial_dir / "checkpoint_000001")))
        algo.train()
        assert sub.opponent.loaded == saved, "the opponent must follow the trial's newest checkpoint"
    finally:
        algo.stop()


def test_self_opponent_outside_a_sweep_is_explained() -> None:
    from sf2rl.agents.factory import load_policy
    from sf2rl.core.errors import CheckpointError

    with pytest.raises(CheckpointError, match="sweep trial's own checkpoints"):
        load_policy("self", EnvConfig(**MINIMAL), seat="opponent")
