"""SF2Env is plain gymnasium: a peer library (Stable-Baselines3's DQN) trains on it unchanged."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import DQN

import sf2rl  # noqa: F401  (registers SF2-v0)


@pytest.mark.e2e
@pytest.mark.parametrize("lr", [1e-3, 0.0])
def test_stable_baselines3_dqn_trains_on_the_env_and_acts_with_what_it_learned(lr: float) -> None:
    # lr 0 is the control: the same run with a learner that cannot move must leave the weights alone.
    env = gym.make("SF2-v0", action_set="minimal", frame_skip=8, difficulty=1, max_episode_steps=100)
    model = DQN("MlpPolicy", env, learning_starts=100, buffer_size=2000, train_freq=4, seed=0, verbose=0,
                learning_rate=lr, policy_kwargs={"net_arch": [32]})  # fmt: skip
    initial = [p.detach().clone() for p in model.q_net.parameters()]
    model.learn(total_timesteps=600)
    moved = any(not torch.equal(a, b) for a, b in zip(initial, model.q_net.parameters(), strict=True))
    assert moved == (lr > 0)
    assert model._n_updates >= (600 - 100) // 4 - 1  # one gradient step every 4 env steps after learning_starts
    stored = model.replay_buffer.rewards[: model.replay_buffer.pos]
    assert len(stored) == 600 and np.any(stored != 0)  # the env's health-delta rewards reached the learner
    obs, _ = env.reset(seed=1)
    action, _ = model.predict(obs, deterministic=True)
    with torch.no_grad():
        q = model.q_net(torch.as_tensor(obs[None]))
    assert int(np.asarray(action)) == int(q.argmax())
    env.close()
