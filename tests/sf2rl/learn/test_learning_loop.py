"""sf2rl's training_step: the rollout, the loop, and a PooledDQN trial that trains, checkpoints and restores."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from ray.rllib.utils.metrics.metrics_logger import MetricsLogger

from sf2rl.core.config import EnvConfig
from sf2rl.env.environment import SF2Env
from sf2rl.learn.learning_loop import LearningLoop, Schedule
from sf2rl.learn.replay_buffer import ReplayBuffer
from sf2rl.learn.rollout import Rollout
from sf2rl.transport.emulator import LocalConsole
from sf2rl.transport.pool import InlinePool

ENV = {"action_set": "minimal", "frame_skip": 8, "max_episode_steps": 30, "difficulty": 1}


def _rollout(envs: int = 2, n_step: int = 1, backend: str = "sim", seed: int = 0) -> Rollout:
    return Rollout(lambda i: SF2Env(EnvConfig(backend=backend, **ENV)), envs, n_step=n_step, gamma=0.9, seed=seed)


def test_rollout_steps_every_env_and_records_episodes() -> None:
    rollout = _rollout(envs=3)
    try:
        assert rollout.obs.shape == (3, rollout.envs[0].observation_space.shape[0])  # type: ignore[union-attr]
        folded = 0
        for _ in range(70):
            rollout.send(np.zeros(3, np.int64))
            assert rollout.receive() == 3
            out = rollout.folder.take()
            folded += 0 if out is None else len(out[1])
        assert folded == 210  # 1-step: every step is a transition right away
        episodes = rollout.take_episodes()
        assert len(episodes.returns) == 6  # 30-step episodes, truncated, in each of 3 envs
        assert episodes.lengths == [30] * 6
        assert rollout.take_episodes().returns == []
    finally:
        rollout.close()


def test_rollout_rebuilds_an_env_whose_emulator_was_killed(spawn_host) -> None:
    pool = spawn_host("sim", slots=3)
    rollout = _rollout(envs=1, backend=pool.endpoints[0])
    try:
        for _ in range(5):
            rollout.send(np.zeros(1, np.int64))
            assert rollout.receive() == 1
        host = pool.proc.pid
        children = subprocess.run(["pgrep", "-P", str(host)], capture_output=True, text=True).stdout.split()
        assert children, "the host runs its emulators as child processes"
        for pid in children:
            os.kill(int(pid), signal.SIGKILL)
        steps = 0
        for _ in range(40):
            rollout.send(np.zeros(1, np.int64))
            steps += rollout.receive()
        assert rollout.failures >= 1
        assert steps >= 30, "stepping goes on after the rebuild"
    finally:
        rollout.close()


def _loop(seed: int) -> LearningLoop:
    from ray.rllib.algorithms.dqn import DQNConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    from sf2rl.env.environment import spaces
    from sf2rl.learn.q_learner import QLearner

    torch.manual_seed(seed)
    obs_space, act_space = spaces(EnvConfig(**ENV))
    module = (
        DQNConfig().environment(observation_space=obs_space, action_space=act_space)
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[16], head_fcnet_hiddens=[]))
        .get_rl_module_spec().build()
    )  # fmt: skip
    module.make_target_networks()
    opt = torch.optim.Adam(module.parameters(), 1e-3)
    learner = QLearner(module, opt, double_q=True, huber=True, grad_clip=40.0, tau=1.0, seed=seed)
    buffer = ReplayBuffer(500, obs_space.shape, np.float32, alpha=0.6, seed=seed)
    schedule = Schedule(batch_size=16, lr=1e-3, updates_per_step=0.25, learning_starts=50, target_update_period=100,
                        epsilon_initial=1.0, epsilon_final=0.1, epsilon_timesteps=200)  # fmt: skip
    return LearningLoop(learner, _rollout(envs=2, n_step=3, seed=seed), buffer, schedule, window=5, win_window=5)


def test_loop_learns_at_the_replay_ratio_and_logs_rllib_keys() -> None:
    from sf2rl.sweep.metrics import flatten_metrics

    loop = _loop(seed=0)
    metrics = MetricsLogger(root=True)  # as the Algorithm's own logger is
    try:
        loop.run(300, lifetime=0, metrics=metrics)
        loop.run(100, lifetime=300, metrics=metrics)
    finally:
        loop.rollout.close()
    result = metrics.compile()  # what the Algorithm reports each iteration
    er, lr = result["env_runners"], result["learners"]["default_policy"]
    assert er["num_env_steps_sampled_lifetime"] == 400
    # One update per 4 env steps once the buffer holds learning_starts transitions.
    assert 80 <= lr["num_updates_lifetime"] <= 100
    assert np.isfinite(lr["qf_loss"]) and np.isfinite(er["episode_return_mean"])
    assert 0.0 <= er["win_rate"] <= 1.0
    assert er["num_env_step_failures"] == 0
    assert er["emulator_wait_ms"] > 0.0  # the loop waited on its emulators, and said for how long
    flat = flatten_metrics(result)
    assert flat["env_steps_per_s"] > 0 and flat["learner_updates_per_s"] > 0
    assert flat["learner_updates_total"] == lr["num_updates_lifetime"]


def test_same_seed_same_training() -> None:
    runs = []
    for _ in range(2):
        loop = _loop(seed=7)
        try:
            loop.run(250, lifetime=0, metrics=MetricsLogger())
        finally:
            loop.rollout.close()
        runs.append((loop.buffer.obs[: len(loop.buffer)].copy(), [p.detach().clone() for p in
                     loop.learner.module.parameters()]))  # fmt: skip
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    for a, b in zip(runs[0][1], runs[1][1], strict=True):
        torch.testing.assert_close(a, b)


def test_schedule_decays_epsilon_linearly() -> None:
    s = Schedule(batch_size=64, lr=1e-3, updates_per_step=0.25, learning_starts=0, target_update_period=10,
                 epsilon_initial=1.0, epsilon_final=0.1, epsilon_timesteps=100)  # fmt: skip
    assert [s.epsilon(t) for t in (0, 50, 100, 1000)] == pytest.approx([1.0, 0.55, 0.1, 0.1])


def test_trial_trains_checkpoints_and_restores_with_the_sf2rl_loop(ray_session: Path, tmp_path: Path) -> None:
    from sf2rl.agents.factory import load_policy
    from sf2rl.sweep.schema import SweepConfig
    from sf2rl.sweep.trainable import PooledDQN, base_config

    dqn = {"hiddens": [16], "learning_starts": 50, "steps_per_iteration": 200, "train_batch_size": 16,
           "buffer_size": 1000, "target_update_period": 100}  # fmt: skip
    sweep = SweepConfig(name="loop", env=ENV, dqn=dqn, resources={"envs_per_runner": 2})
    algo = PooledDQN(base_config(sweep))
    try:
        assert algo.learning_loop is not None
        # The default pool for the simulator: every env runs its emulator in this process, no host.
        assert isinstance(algo.pool, InlinePool) and algo.pool.endpoints == []
        assert all(isinstance(env._console, LocalConsole) for env in algo.learning_loop.rollout.envs if env)
        first = algo.train()
        second = algo.train()
        assert second["env_steps_total"] == 400 == first["env_steps_total"] + 200
        assert second["learner_updates_total"] > first["learner_updates_total"] > 0
        assert np.isfinite(second["qf_loss"]) and np.isfinite(second["episode_return_mean"])
        assert second["env_runners"]["num_episodes"] >= 1
        ckpt = Path(algo.save_to_path(str(tmp_path / "ckpt")))
        weights = {k: v.clone() for k, v in algo.learning_loop.learner.module.state_dict().items()}
        probe = np.random.default_rng(0).uniform(-1, 1, (64, algo.learning_loop.buffer.obs.shape[1])).astype(np.float32)
        trained_greedy = algo.learning_loop.learner.greedy(probe)
    finally:
        algo.stop()

    # As PBT does: a trial with a new learning rate restores another trial's checkpoint.
    mutated = sweep.model_copy(update={"dqn": sweep.dqn.model_copy(update={"lr": 0.002})})
    restored = PooledDQN(base_config(mutated))
    try:
        restored.restore_from_path(str(ckpt))
        loop = restored.learning_loop
        assert loop is not None
        for key, value in loop.learner.module.state_dict().items():
            torch.testing.assert_close(value, weights[key])
        again = restored.train()
        assert again["env_steps_total"] == 600, "the lifetime step count (and so epsilon) carries over"
        assert {g["lr"] for g in loop.learner.optimizer.param_groups} == {0.002}
    finally:
        restored.stop()

    # The checkpoint's inference module is what `sf2rl eval` / `play` load: it carries the trained weights.
    policy = load_policy(str(ckpt), EnvConfig(**ENV))
    env = SF2Env(EnvConfig(**ENV))
    env.reset(seed=0)
    acted = np.array([int(policy.act(o, env.state)) for o in probe])
    env.close()
    np.testing.assert_array_equal(acted, trained_greedy)
    assert len(set(trained_greedy.tolist())) > 1  # a probe that tells weights apart, not one constant action


def test_rllib_stock_loop_still_trains_with_the_defaults(ray_session: Path) -> None:
    from sf2rl.sweep.schema import SweepConfig
    from sf2rl.sweep.trainable import PooledDQN, base_config

    dqn = {"hiddens": [16], "learning_starts": 50, "steps_per_iteration": 100, "train_batch_size": 16,
           "buffer_size": 1000, "loop": "rllib"}  # fmt: skip
    algo = PooledDQN(base_config(SweepConfig(name="stock", env=ENV, dqn=dqn, resources={"envs_per_runner": 2})))
    try:
        assert algo.learning_loop is None
        before = {k: v.clone() for k, v in algo.get_module().state_dict().items()}
        result = algo.train()
        assert result["env_steps_total"] >= 100
        assert result["env_steps_per_s"] > 0
        after = algo.get_module().state_dict()
        assert any(not torch.equal(before[k], after[k]) for k in before), "RLlib's learner never updated the weights"
    finally:
        algo.stop()
