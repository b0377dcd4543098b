"""SF2VectorEnv: SyncVectorEnv's results, with every emulator stepping at once."""

from __future__ import annotations

import os
import signal
import subprocess

import gymnasium as gym
import numpy as np
import pytest

from sf2rl.core import errors
from sf2rl.core.config import EnvConfig
from sf2rl.core.defaults import ENDPOINTS_KEY, ENV_KEY
from sf2rl.env.environment import SF2Env
from sf2rl.env.vector import SF2VectorEnv
from sf2rl.sweep.trainable import make_env

# Short episodes, so that next-step autoresets happen within the test.
CFG = EnvConfig(frame_skip=8, action_set="minimal", max_episode_steps=40)


def _run(env: gym.vector.VectorEnv, steps: int, seed: int) -> list[tuple[object, ...]]:
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    out: list[tuple[object, ...]] = [(obs.copy(),)]
    for _ in range(steps):
        obs, reward, term, trunc, info = env.step(rng.integers(env.single_action_space.n, size=env.num_envs))
        keys = sorted(k for k in info if "rtt_ms" not in k)  # only remote envs time their round trips
        out.append((obs.copy(), reward.tolist(), term.tolist(), trunc.tolist(), keys))
    return out


def test_remote_vector_matches_gymnasium_sync_vector_in_process(spawn_host) -> None:
    pool = spawn_host(slots=2)
    remote_cfg = EnvConfig(**{**CFG.model_dump(), "backend": pool.endpoints[0]})
    vec = SF2VectorEnv([remote_cfg, remote_cfg])
    sync = gym.vector.SyncVectorEnv([lambda: SF2Env(CFG), lambda: SF2Env(CFG)])
    try:
        assert vec.observation_space == sync.observation_space and vec.action_space == sync.action_space
        ours, theirs = _run(vec, 120, seed=3), _run(sync, 120, seed=3)
        assert any(any(row[3]) for row in ours[1:])  # episodes were truncated and autoreset
        for a, b in zip(ours, theirs, strict=True):
            assert np.array_equal(a[0], b[0]) and a[1:] == b[1:]
    finally:
        vec.close()
        sync.close()


def test_every_step_is_sent_before_any_reply_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    vec = SF2VectorEnv([CFG, CFG, CFG])
    calls: list[str] = []
    for i, env in enumerate(vec.envs):
        send, wait = env.step_async, env.step_wait
        monkeypatch.setattr(env, "step_async", lambda a, i=i, send=send: (calls.append(f"send{i}"), send(a))[1])
        monkeypatch.setattr(env, "step_wait", lambda i=i, wait=wait: (calls.append(f"wait{i}"), wait())[1])
    vec.reset(seed=0)
    vec.step(np.zeros(3, dtype=np.int64))
    assert calls == ["send0", "send1", "send2", "wait0", "wait1", "wait2"]
    vec.close()


def test_seed_list_must_match_the_env_count() -> None:
    vec = SF2VectorEnv([CFG, CFG])
    with pytest.raises(ValueError, match="2 envs"):
        vec.reset(seed=[1, 2, 3])
    vec.close()
    with pytest.raises(ValueError, match="at least one"):
        SF2VectorEnv([])


def test_rllib_vector_entry_point_builds_one_env_per_slot(spawn_host) -> None:
    pool = spawn_host(slots=2)
    env = make_env({ENV_KEY: CFG.model_dump(mode="json"), ENDPOINTS_KEY: pool.endpoints, "num_envs": 2})
    try:
        assert isinstance(env, SF2VectorEnv) and env.num_envs == 2
        assert {e.config.backend for e in env.envs} == {pool.endpoints[0]}
        obs, _ = env.reset(seed=1)
        assert obs.shape == (2, *env.single_observation_space.shape)
    finally:
        env.close()


def test_a_killed_emulator_fails_the_step_and_a_new_vector_env_goes_on(spawn_host) -> None:
    # RLlib answers a failed env step by closing the vector env and building a new one.
    pool = spawn_host(slots=3)
    assert pool.proc is not None
    remote_cfg = EnvConfig(**{**CFG.model_dump(), "backend": pool.endpoints[0]})
    vec = SF2VectorEnv([remote_cfg, remote_cfg])
    vec.reset(seed=0)
    vec.step(np.zeros(2, dtype=np.int64))
    instances = subprocess.run(["pgrep", "-P", str(pool.proc.pid)], capture_output=True, text=True).stdout.split()
    for pid in instances:
        os.kill(int(pid), signal.SIGKILL)  # whichever two of the three slots the envs hold
    with pytest.raises(errors.WorkerError):
        vec.step(np.zeros(2, dtype=np.int64))
    vec.close()
    fresh = SF2VectorEnv([remote_cfg, remote_cfg])
    try:
        obs, _ = fresh.reset(seed=1)
        obs, *_ = fresh.step(np.ones(2, dtype=np.int64))
        assert fresh.observation_space.contains(obs)
    finally:
        fresh.close()
