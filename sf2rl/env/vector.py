"""A vector of SF2 envs whose emulators step at the same time.

Gymnasium's ``SyncVectorEnv`` steps its envs one after another, so with remote
emulators each one idles while the others run. Here every env's step is sent
before any reply is read: one thread keeps all of a runner's emulators busy
(the "batched step" across a runner's leases), with no extra processes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array, iterate

from sf2rl.core.config import EnvConfig
from sf2rl.env.environment import SF2Env


class SF2VectorEnv(gym.vector.VectorEnv):
    """``len(configs)`` :class:`SF2Env` copies, built by ``make_env`` and stepped together.

    It keeps ``SyncVectorEnv``'s contract, which RLlib's env runners expect: an env
    that ended is reset by the next ``step`` (its action ignored, reward 0), and infos
    are batched with ``_key`` masks.
    """

    metadata: dict[str, Any] = {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP}  # noqa: RUF012 (gymnasium's spelling)

    def __init__(self, configs: Sequence[EnvConfig], make_env: Callable[[EnvConfig], SF2Env] = SF2Env) -> None:
        self.envs: list[SF2Env] = []
        if not configs:
            raise ValueError("a vector env needs at least one env config")
        try:
            for config in configs:
                self.envs.append(make_env(config))
        except BaseException:
            self.close()  # give back the slots already leased
            raise
        self.num_envs = len(self.envs)
        self.single_observation_space = self.envs[0].observation_space
        self.single_action_space = self.envs[0].action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.render_mode = self.envs[0].render_mode
        self._needs_reset = np.zeros(self.num_envs, dtype=np.bool_)

    def _batch(self, observations: list[Any]) -> Any:
        out = create_empty_array(self.single_observation_space, self.num_envs)
        return concatenate(self.single_observation_space, observations, out)

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset every env; an int seed gives env ``i`` the seed ``seed + i``."""
        if seed is None or isinstance(seed, int):
            seeds: list[int | None] = [None if seed is None else seed + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} envs")
        observations: list[Any] = []
        infos: dict[str, Any] = {}
        for i, env in enumerate(self.envs):
            obs, info = env.reset(seed=seeds[i], options=options)
            observations.append(obs)
            infos = self._add_info(infos, info, i)
        self._needs_reset[:] = False
        return self._batch(observations), infos

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every env at once (envs that ended last step are reset instead)."""
        actions = list(iterate(self.action_space, actions))
        for env, action, reset in zip(self.envs, actions, self._needs_reset, strict=True):
            if not reset:
                env.step_async(action)
        observations: list[Any] = []
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminated = np.zeros(self.num_envs, dtype=np.bool_)
        truncated = np.zeros(self.num_envs, dtype=np.bool_)
        infos: dict[str, Any] = {}
        for i, env in enumerate(self.envs):
            if self._needs_reset[i]:
                obs, info = env.reset()
            else:
                obs, rewards[i], terminated[i], truncated[i], info = env.step_wait()
            observations.append(obs)
            infos = self._add_info(infos, info, i)
        self._needs_reset = terminated | truncated
        return self._batch(observations), rewards, terminated, truncated, infos

    def render(self) -> tuple[Any, ...] | None:
        """Each env's frame (render_mode 'rgb_array')."""
        frames = tuple(env.render() for env in self.envs)
        return None if all(f is None for f in frames) else frames

    def close_extras(self, **kwargs: Any) -> None:
        """Release every env's emulator."""
        for env in self.envs:
            env.close()
