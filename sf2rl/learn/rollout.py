"""The trial's envs, stepped together in its own process: send, train meanwhile, receive.

``send`` hands every env's step to its emulator and returns at once, so the learner
trains while the emulators (separate worker processes) run; ``receive`` collects the
replies, folds them into n-step transitions and resets the envs whose episode ended.
An env whose emulator fails is closed, rebuilt on a fresh lease and reset; the trial
goes on and counts the failure, as RLlib's ``restart_failed_sub_environments`` does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sf2rl.core.errors import WorkerError
from sf2rl.env.environment import SF2Env
from sf2rl.learn.league import League
from sf2rl.learn.replay_buffer import NStepFolder

log = logging.getLogger(__name__)
MAX_CONSECUTIVE_FAILURES = 5
"""Rebuilds of one env in a row that may fail before the trial gives up (and Tune retries it)."""


@dataclass
class Episodes:
    """Outcomes of the episodes finished since the last :meth:`Rollout.take_episodes`."""

    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    won: list[float] = field(default_factory=list)
    health_left: list[float] = field(default_factory=list)


class Rollout:
    """``num_envs`` envs built by ``make_env(i)``, each with its own lease, stepped at once."""

    def __init__(
        self, make_env: Callable[[int], SF2Env], num_envs: int, *, n_step: int, gamma: float, seed: int = 0,
        league: League | None = None,
    ) -> None:  # fmt: skip
        self.make_env = make_env
        self.league = league
        self._member = [""] * num_envs
        """The league member each env's current episode plays (with a league)."""
        self.envs: list[SF2Env | None] = [None] * num_envs
        self.folder = NStepFolder(num_envs, n_step, gamma)
        self.seed = seed
        self.failures = 0
        self.episodes = Episodes()
        self._return = np.zeros(num_envs)
        self._length = np.zeros(num_envs, np.int64)
        self.wait_s = 0.0
        """Time spent collecting the emulators' replies, decoding included (what overlapping did not hide)."""
        self._sent = np.zeros(num_envs, np.bool_)
        self._actions = np.zeros(num_envs, np.int64)
        obs = [self._restart(i, first=True) for i in range(num_envs)]
        self.obs = np.stack(obs)

    def _restart(self, i: int, first: bool = False) -> np.ndarray:
        """Env ``i`` (re)built if needed and reset; rebuilt on a fresh lease while its emulator keeps failing."""
        for attempt in range(MAX_CONSECUTIVE_FAILURES):
            if attempt:
                time.sleep(min(2.0, 0.25 * 2**attempt))  # a restarting host or an expiring lease needs a moment
            try:
                env = self.envs[i]
                if env is None:
                    env = self.envs[i] = self.make_env(i)
                seed = self.seed + i if first and attempt == 0 else None
                if self.league is None:
                    obs, _ = env.reset(seed=seed)
                else:
                    match = self.league.next_match()
                    env.set_opponent(match.opponent)
                    self._member[i] = match.member
                    obs, _ = env.reset(seed=seed, options=match.options)
                self._return[i] = 0.0
                self._length[i] = 0
                return obs
            except WorkerError as e:
                self._fail(i, e)
        raise WorkerError(f"env {i}: {MAX_CONSECUTIVE_FAILURES} rebuilds in a row failed; giving up")

    def _fail(self, i: int, error: WorkerError) -> None:
        self.failures += 1
        log.warning("env %d failed (%s: %s); rebuilding it on a fresh lease", i, type(error).__name__, error)
        self.folder.drop(i)
        self._release(i)

    def _release(self, i: int) -> None:
        """Close env ``i`` and forget it; a host that cannot be told lets the slot's lease expire by itself."""
        env, self.envs[i] = self.envs[i], None
        if env is not None:
            try:
                env.close()
            except WorkerError:
                pass

    def send(self, actions: np.ndarray) -> None:
        """Start every env's step; the emulators run while the caller does other work."""
        self._actions[:] = actions
        for i, env in enumerate(self.envs):
            try:
                assert env is not None
                env.step_async(int(actions[i]))
                self._sent[i] = True
            except WorkerError as e:
                self._fail(i, e)
                self._sent[i] = False

    def receive(self) -> int:
        """Finish the steps started by :meth:`send`; returns how many env steps completed."""
        done = 0
        for i, env in enumerate(self.envs):
            if not self._sent[i] or env is None:
                self.obs[i] = self._restart(i)
                continue
            self._sent[i] = False
            t0 = time.perf_counter()
            try:
                next_obs, reward, terminated, truncated, info = env.step_wait()
                self.wait_s += time.perf_counter() - t0
            except WorkerError as e:
                self._fail(i, e)
                self.obs[i] = self._restart(i)
                continue
            done += 1
            self.folder.add(i, self.obs[i].copy(), int(self._actions[i]), float(reward), next_obs, terminated,
                            truncated)  # fmt: skip
            self._return[i] += reward
            self._length[i] += 1
            if terminated or truncated:
                self._finish(i, info)
                self.obs[i] = self._restart(i)
            else:
                self.obs[i] = next_obs
        return done

    def _finish(self, i: int, info: dict[str, object]) -> None:
        ep = self.episodes
        ep.returns.append(float(self._return[i]))
        ep.lengths.append(int(self._length[i]))
        ep.won.append(float(bool(info.get("won", False))))
        if self.league is not None:
            self.league.record(self._member[i], bool(info.get("won", False)))
        if isinstance(info.get("health_left"), (int, float)):
            ep.health_left.append(float(info["health_left"]))  # type: ignore[arg-type]

    def take_episodes(self) -> Episodes:
        """The episodes finished since the last call."""
        out, self.episodes = self.episodes, Episodes()
        return out

    def close(self) -> None:
        """Give every env's slot back."""
        for i in range(len(self.envs)):
            self._release(i)
