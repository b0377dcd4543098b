"""SF2Env is plain gymnasium: a peer library (Stable-Baselines3's DQN) trains on it unchanged."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import DQN

import sf2rl  # noqa: F401  (registers SF2-v0)


@pytest.mark.e2e
def test_stable_baselines3_dqn_trains_and_acts() -> None:
    env = gym.make("SF2-v0", action_set="minimal", frame_skip=8, difficulty=1, max_episode_steps=100)
    model = DQN("MlpPolicy", env, learning_starts=100, buffer_size=2000, train_freq=4, seed=0, verbose=0,
                policy_kwargs={"net_arch": [32]})  # fmt: skip
    model.learn(total_timesteps=600)
    obs, _ = env.reset(seed=1)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(int(np.asarray(action)))
    env.close()
