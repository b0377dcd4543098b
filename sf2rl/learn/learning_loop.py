"""The trial's lean DQN iteration: RLlib's ``training_step`` replaced, everything else kept.

Profiled, a stock RLlib DQN trial spent about three quarters of its time in framework
code (env-to-module and learner connector pipelines, episode objects, the prioritized
episode buffer, per-step metrics) and sampled ~88 env steps/s on a 2-core machine.
This loop does the same algorithm with the same RLModule and optimizer, but:

- the trial process steps its envs itself (:class:`~sf2rl.learn.rollout.Rollout`), and the
  learner's gradient steps run *while* the emulators compute the next step;
- transitions are folded to n-step form once and replayed from flat numpy arrays
  (:class:`~sf2rl.learn.replay_buffer.ReplayBuffer`);
- the loss is computed on the Learner's module directly (:class:`~sf2rl.learn.q_learner.QLearner`);
- metrics are logged once per iteration, not per step.

The replay ratio follows RLlib's definition: one update per ``rollout_fragment_length``
steps of every env, or ``training_intensity`` replayed samples per sampled step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from ray.rllib.core import ALL_MODULES, DEFAULT_MODULE_ID
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    LEARNER_RESULTS,
    NUM_ENV_STEPS_SAMPLED,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_ENV_STEPS_TRAINED_LIFETIME,
)
from ray.rllib.utils.metrics.metrics_logger import MetricsLogger

from sf2rl.learn.q_learner import QLearner
from sf2rl.learn.replay_buffer import ReplayBuffer
from sf2rl.learn.rollout import Rollout

NUM_UPDATES_LIFETIME = "num_updates_lifetime"


@dataclass(frozen=True)
class Schedule:
    """When the loop learns: warm-up, replay ratio, target syncs and exploration."""

    batch_size: int
    lr: float
    updates_per_step: float
    """Gradient updates per sampled env step (the replay ratio divided by the batch size)."""
    learning_starts: int
    target_update_period: int
    epsilon_initial: float
    epsilon_final: float
    epsilon_timesteps: int

    def epsilon(self, steps: int) -> float:
        """Linearly decayed exploration rate after ``steps`` env steps."""
        frac = min(1.0, steps / self.epsilon_timesteps)
        return self.epsilon_initial + frac * (self.epsilon_final - self.epsilon_initial)


class LearningLoop:
    """Samples, stores and learns; logs into the Algorithm's MetricsLogger under RLlib's own keys."""

    def __init__(
        self, learner: QLearner, rollout: Rollout, buffer: ReplayBuffer, schedule: Schedule, *, window: int,
        win_window: int,
    ) -> None:  # fmt: skip
        self.learner = learner
        self.rollout = rollout
        self.buffer = buffer
        self.schedule = schedule
        self.window = window
        self.win_window = win_window
        self._owed = 0.0
        self._last_target_sync: int | None = None

    def run(self, env_steps: int, lifetime: int, metrics: MetricsLogger) -> None:
        """Sample at least ``env_steps`` env steps, training as the schedule says, then log the iteration."""
        s = self.schedule
        self.learner.set_lr(s.lr)
        sampled = updates = 0
        losses: list[float] = []
        q_means: list[float] = []
        learn_time = 0.0
        failures_before = self.rollout.failures
        wait_before = self.rollout.wait_s
        rounds = 0
        # Learning waits for learning_starts transitions in the buffer, so also after a restore (RLlib
        # counts lifetime steps instead, but neither checkpoints the buffer).
        warm = min(self.buffer.capacity, max(s.batch_size, s.learning_starts))
        while sampled < env_steps:
            steps = lifetime + sampled
            self.rollout.send(self.learner.act(self.rollout.obs, s.epsilon(steps)))
            # The emulators run the step now; the updates owed so far run meanwhile.
            if len(self.buffer) >= warm:
                t0 = time.perf_counter()
                while self._owed >= 1.0:
                    self._owed -= 1.0
                    batch = self.buffer.sample(s.batch_size)
                    stats = self.learner.update(batch)
                    self.buffer.update_priorities(batch.indices, stats.td_errors)
                    losses.append(stats.loss)
                    q_means.append(stats.q_mean)
                    updates += 1
                learn_time += time.perf_counter() - t0
            n = self.rollout.receive()
            rounds += 1
            if (folded := self.rollout.folder.take()) is not None:
                self.buffer.add(*folded)
            sampled += n
            if len(self.buffer) >= warm:
                self._owed += n * s.updates_per_step
            steps = lifetime + sampled
            if self._last_target_sync is None or steps - self._last_target_sync >= s.target_update_period:
                self.learner.sync_target()
                self._last_target_sync = steps
        wait_ms = 1000 * (self.rollout.wait_s - wait_before) / max(1, rounds)
        self._log(metrics, sampled, updates, losses, q_means, learn_time, wait_ms,
                  self.rollout.failures - failures_before)  # fmt: skip

    def _log(
        self, m: MetricsLogger, sampled: int, updates: int, losses: list[float], q_means: list[float],
        learn_time: float, wait_ms: float, failures: int,
    ) -> None:  # fmt: skip
        er = ENV_RUNNER_RESULTS
        m.log_value((er, NUM_ENV_STEPS_SAMPLED_LIFETIME), sampled, reduce="lifetime_sum", with_throughput=True)
        m.log_value((er, NUM_ENV_STEPS_SAMPLED), sampled, reduce="sum")
        m.log_value((er, "num_env_step_failures"), failures, reduce="lifetime_sum")
        ep = self.rollout.take_episodes()
        for ret, length in zip(ep.returns, ep.lengths, strict=True):
            m.log_value((er, "episode_return_mean"), ret, window=self.window)
            m.log_value((er, "episode_len_mean"), length, window=self.window)
        m.log_value((er, "emulator_wait_ms"), wait_ms, window=1)
        m.log_value((er, "num_episodes"), len(ep.returns), reduce="sum")
        for name, values in (("win_rate", ep.won), ("health_left", ep.health_left)):
            for v in values:
                m.log_value((er, name), v, window=self.win_window)
        m.log_value((er, "num_episodes_lifetime"), len(ep.returns), reduce="lifetime_sum")
        lr = LEARNER_RESULTS
        m.log_value((lr, DEFAULT_MODULE_ID, NUM_UPDATES_LIFETIME), updates, reduce="lifetime_sum", with_throughput=True)
        m.log_value((lr, ALL_MODULES, NUM_ENV_STEPS_TRAINED_LIFETIME), updates * self.schedule.batch_size,
                    reduce="lifetime_sum")  # fmt: skip
        m.log_value((lr, DEFAULT_MODULE_ID, "learn_time_s"), learn_time, reduce="sum")
        if losses:
            m.log_value((lr, DEFAULT_MODULE_ID, "qf_loss"), float(np.mean(losses)), window=1)
            m.log_value((lr, DEFAULT_MODULE_ID, "qf_mean"), float(np.mean(q_means)), window=1)
