"""The trial: an RLlib DQN subclassed so that it owns its emulator pool."""

from __future__ import annotations

import logging
import math
import os
import re
import time
from pathlib import Path
from typing import Any

import torch
from ray.rllib.algorithms.dqn import DQN, DQNConfig
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.env.env_context import EnvContext
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME
from ray.tune.registry import register_env

from emulator_worker.backends import multi_game
from sf2rl.agents import factory
from sf2rl.agents.checkpoint import newest_checkpoint
from sf2rl.agents.export import write_export
from sf2rl.core import choice
from sf2rl.core.config import EnvConfig
from sf2rl.core.defaults import ENDPOINTS_KEY, ENV_KEY, OVERRIDES_KEY, SELF_PLAY, SWEEP_KEY
from sf2rl.core.errors import ConfigError, WorkerError
from sf2rl.env.environment import SF2Env
from sf2rl.env.vector import SF2VectorEnv
from sf2rl.learn.evaluator import Evaluator, eval_config
from sf2rl.learn.league import League
from sf2rl.learn.league_config import LeagueConfig
from sf2rl.learn.learning_loop import LearningLoop, Schedule
from sf2rl.learn.q_learner import QLearner
from sf2rl.learn.replay_buffer import ReplayBuffer
from sf2rl.learn.rollout import Rollout
from sf2rl.sweep.metrics import SF2Callbacks, flatten_metrics
from sf2rl.sweep.schema import DQNOptions, SweepConfig, trial_options, trial_sweep
from sf2rl.transport.client import CurveKeys
from sf2rl.transport.pool import ConnectedPool, InlinePool, Pool, SpawnedPool

log = logging.getLogger(__name__)
ENV_NAME = "sf2rl-SF2"


def make_env(ctx: EnvContext | dict[str, Any]) -> SF2Env | SF2VectorEnv:
    """Env creator for RLlib: each env leases one slot, spread over the pool's endpoints.

    Given ``num_envs`` (RLlib's vector entry point), it builds an :class:`SF2VectorEnv`
    whose envs step their emulators at the same time.
    """
    config = EnvConfig(**ctx[ENV_KEY])
    endpoints: list[str] = list(ctx.get(ENDPOINTS_KEY) or [])
    num_envs = ctx.get("num_envs")
    if num_envs is not None:
        # RLlib hands the vector entry point a plain dict, without the runner's index: spread by process.
        first = os.getpid()
        return SF2VectorEnv([_on(config, endpoints, first + i) for i in range(int(num_envs))], factory.make_env)
    worker_index = getattr(ctx, "worker_index", 0)
    vector_index = getattr(ctx, "vector_index", 0)
    return factory.make_env(_on(config, endpoints, worker_index * 64 + vector_index))


def _on(config: EnvConfig, endpoints: list[str], index: int) -> EnvConfig:
    """``config`` pointed at the ``index``-th endpoint (round robin), the others as its failover, if any."""
    if not endpoints:
        return config
    k = index % len(endpoints)
    rest = tuple(endpoints[k + 1 :] + endpoints[:k])
    worker = config.worker.model_copy(update={"alternates": rest})
    return config.model_copy(update={"backend": endpoints[k], "worker": worker})


register_env(ENV_NAME, make_env)


def member_name(trial_dir_name: str) -> str:
    """A trial's short league name: Tune's trial id (``ab12c_00001``) out of its folder name, MLflow-safe."""
    found = re.search(r"[0-9a-f]{5}_\d{5}", trial_dir_name)
    return found.group(0) if found else re.sub(r"[^A-Za-z0-9_.-]", "_", trial_dir_name)[:40]


def base_config(sweep: SweepConfig) -> DQNConfig:
    """The DQN config every trial starts from; per-trial values are applied in setup."""
    # Registered again here because a new Ray session in the same process starts with an empty registry.
    register_env(ENV_NAME, make_env)
    config = DQNConfig().environment(ENV_NAME, env_config={SWEEP_KEY: sweep.model_dump(mode="json")})
    return configure(config, sweep, sweep.dqn)


def configure(config: DQNConfig, sweep: SweepConfig, dqn: DQNOptions) -> DQNConfig:
    """Apply sf2rl's DQN options and resources to an RLlib config."""
    replay: dict[str, Any] = {"capacity": dqn.buffer_size}
    if dqn.prioritized_replay:
        replay.update(type="PrioritizedEpisodeReplayBuffer", alpha=0.6, beta=0.4)
    else:
        replay.update(type="EpisodeReplayBuffer")
    res = sweep.resources
    config.training(
        lr=dqn.lr,
        gamma=dqn.gamma,
        n_step=dqn.n_step,
        double_q=dqn.double_q,
        dueling=dqn.dueling,
        train_batch_size_per_learner=dqn.train_batch_size,
        replay_buffer_config=replay,
        num_steps_sampled_before_learning_starts=dqn.learning_starts,
        target_network_update_freq=dqn.target_update_period,
        epsilon=[[0, dqn.epsilon.initial], [dqn.epsilon.timesteps, dqn.epsilon.final]],
        training_intensity=dqn.training_intensity,
    )
    config.rl_module(
        # `hiddens` is the whole MLP: linear Q (or advantage and value) heads sit right on its last layer.
        model_config=DefaultModelConfig(fcnet_hiddens=list(dqn.hiddens), head_fcnet_hiddens=[])
    )
    config.env_runners(
        num_env_runners=res.env_runners,
        num_envs_per_env_runner=res.envs_per_runner,
        # Several envs per runner step their emulators together instead of one after another.
        gym_env_vectorize_mode="vector_entry_point" if res.envs_per_runner > 1 else "sync",
        # RLlib's n-step sampling needs fragments of at least n_step steps (sf2rl's loop has no such limit).
        rollout_fragment_length=max(dqn.rollout_fragment_length, dqn.n_step),
    )
    # Ray schedules fractional CPUs fine; its annotation says int.
    config.resources(
        num_cpus_for_main_process=res.cpus_per_trial,  # type: ignore[arg-type]
        custom_resources_for_main_process=dict(res.custom),
    )
    # The learner runs in the trial's process, and RLlib reserves max(its CPUs, the process's) for
    # both: left at "auto" (1 CPU), a cpus_per_trial below 1 would still reserve a whole CPU.
    config.learners(num_learners=0, num_cpus_per_learner=res.cpus_per_trial)  # type: ignore[arg-type]
    config.reporting(min_sample_timesteps_per_iteration=dqn.steps_per_iteration, metrics_num_episodes_for_smoothing=20)
    config.fault_tolerance(restart_failed_env_runners=True, restart_failed_sub_environments=True)
    config.callbacks(SF2Callbacks)
    config.debugging(seed=sweep.seed, log_level="ERROR")
    return config


def envs_needed(sweep: SweepConfig) -> int:
    """Envs a trial runs at once (the local runner samples only when there are no remote ones)."""
    return max(1, sweep.resources.env_runners) * sweep.resources.envs_per_runner


def open_pool(sweep: SweepConfig) -> Pool:
    """The pool a trial owns, per the sweep's pool section."""
    pc = sweep.pool
    if pc.mode == "spawn":
        # One spare slot: a recreated env leases a fresh slot while its dead predecessor's lease expires.
        evaluating = sweep.evaluation.envs if sweep.evaluation.every else 0
        slots = pc.slots or envs_needed(sweep) + 1 + evaluating
        games = pc.games_per_instance or (slots if multi_game(pc.backend) else 1)
        return SpawnedPool(pc.backend, slots, pc.backend_options, spin_us=pc.spin_us, games_per_instance=games)
    if pc.mode == "inline":
        return InlinePool()
    curve = CurveKeys.from_files(pc.server_key, pc.client_key) if pc.server_key and pc.client_key else None
    return ConnectedPool(pc.endpoints, curve)


class PooledDQN(DQN):
    """DQN whose trial starts an emulator pool in ``setup`` and stops it in ``cleanup``."""

    pool: Pool | None = None
    learning_loop: LearningLoop | None = None
    evaluator: Evaluator | None = None
    league: League | None = None
    eval_every = 0
    eval_matches = 0
    snapshot_every = 0

    def setup(self, config: DQNConfig) -> None:  # type: ignore[override]
        """Resolve this trial's options, start its pool, then set up DQN against it."""
        config = config.copy(copy_frozen=False)
        base = SweepConfig(**config.env_config[SWEEP_KEY])
        overrides = dict(config.env_config.get(OVERRIDES_KEY) or {})
        env_cfg, dqn, league_cfg = trial_options(base, overrides)
        # Replicates (space.seed) differ in everything random but the evaluation's matches, which stay
        # the base seed's so that every trial is scored on the same games.
        sweep = trial_sweep(base, overrides)
        self.eval_seed = base.seed * 1000 + 500_000
        configure(config, sweep, dqn)
        self.pool = open_pool(sweep)
        self.pool.start()
        env_dict = env_cfg.model_dump(mode="json")
        if sweep.pool.mode == "inline":
            env_dict.update(backend=sweep.pool.backend, backend_options=sweep.pool.backend_options)
        if env_cfg.publish_frames and env_cfg.publish_label is None:
            # The trial's name (its folder's), which is also its MLflow run's: `sf2rl watch` links the two.
            # Not self.trial_id: RLlib's Algorithm drops Tune's trial info from its config, leaving "default".
            storage = getattr(self, "_storage", None)
            env_dict["publish_label"] = getattr(storage, "trial_dir_name", None) or self.trial_name
        if env_cfg.opponent == SELF_PLAY:
            env_dict["opponent"] = self._self_play_folder()
        if sweep.pool.mode == "connect" and sweep.pool.server_key:
            # The pool's keys join the user's other worker settings (timeouts, lease ttl) rather than replace them.
            env_dict["worker"].update(server_key=sweep.pool.server_key, client_key=sweep.pool.client_key)
        config.env_config = {
            SWEEP_KEY: config.env_config[SWEEP_KEY],
            OVERRIDES_KEY: overrides,
            ENV_KEY: env_dict,
            ENDPOINTS_KEY: self.pool.endpoints,
        }
        config.validate()
        config.freeze()
        self.config = config
        self.sf2rl_metric = sweep.search.metric
        # Explicit, because torch otherwise starts one thread per core in every trial, and trials share the cores.
        torch.set_num_threads(sweep.resources.torch_threads)
        try:
            super().setup(config)
            if dqn.loop == "sf2rl":
                if league_cfg is not None or sweep.curriculum is not None:
                    self.league = self._league(config, sweep, league_cfg)
                self.learning_loop = self._learning_loop(config, sweep, dqn)
            if sweep.evaluation.every:
                self.evaluator = self._evaluator(config, sweep)
                self.eval_every, self.eval_matches = sweep.evaluation.every, sweep.evaluation.matches
            self._eval: dict[str, float] = {"eval_win_rate": float("nan")}
        except BaseException:
            self.pool.stop()
            raise

    def _learning_loop(self, config: DQNConfig, sweep: SweepConfig, dqn: DQNOptions) -> LearningLoop:
        """sf2rl's training_step: this process's envs, numpy replay, updates on the local Learner's module."""
        learner = self.learner_group._learner if self.learner_group is not None else None
        if learner is None:
            raise ConfigError("dqn.loop 'sf2rl' trains on the trial's local Learner; RLlib built remote learners")
        module = learner.module[DEFAULT_MODULE_ID].unwrapped()
        env_config = EnvConfig(**config.env_config[ENV_KEY])
        endpoints = list(config.env_config[ENDPOINTS_KEY] or [])
        envs = sweep.resources.envs_per_runner
        seed = sweep.seed * 1000
        rollout = Rollout(lambda i: factory.make_env(_on(env_config, endpoints, i)), envs, n_step=dqn.n_step,
                          gamma=dqn.gamma, seed=seed, league=self.league)  # fmt: skip
        obs_space = module.observation_space
        assert obs_space is not None and obs_space.shape is not None and obs_space.dtype is not None
        try:
            buffer = ReplayBuffer(dqn.buffer_size, obs_space.shape, obs_space.dtype,
                                  alpha=0.6 if dqn.prioritized_replay else 0.0, beta=0.4, seed=seed)  # fmt: skip
            per_step = (dqn.training_intensity / dqn.train_batch_size if dqn.training_intensity
                        else 1.0 / (dqn.rollout_fragment_length * envs))  # fmt: skip
            schedule = Schedule(
                batch_size=dqn.train_batch_size, lr=dqn.lr, updates_per_step=per_step,
                learning_starts=dqn.learning_starts, target_update_period=dqn.target_update_period,
                epsilon_initial=dqn.epsilon.initial, epsilon_final=dqn.epsilon.final,
                epsilon_timesteps=dqn.epsilon.timesteps,
            )  # fmt: skip
            q = QLearner(
                module,
                learner.get_optimizer(DEFAULT_MODULE_ID),
                double_q=dqn.double_q,
                huber=config.td_error_loss_fn == "huber",
                grad_clip=config.grad_clip,
                tau=config.tau,
                seed=seed,
            )  # fmt: skip  (RLlib's own loss, clip and tau: both loops train alike)
        except BaseException:
            rollout.close()
            raise
        window = config.metrics_num_episodes_for_smoothing
        return LearningLoop(q, rollout, buffer, schedule, window=window, win_window=sweep.win_rate_window)

    def _league(self, config: DQNConfig, sweep: SweepConfig, cfg: LeagueConfig | None) -> League:
        """Matchmaking for the training envs; snapshots go to the experiment's league/ folder for peers."""
        storage = getattr(self, "_storage", None)
        trial_dir = getattr(storage, "trial_fs_path", None)
        local = bool(trial_dir) and "://" not in str(trial_dir)
        folder = Path(str(trial_dir)).parent / "league" if local else None
        name = member_name(str(getattr(storage, "trial_dir_name", None) or self.trial_name or "trial"))
        cfg = cfg or LeagueConfig(pfsp="uniform")  # a curriculum alone: the env's weights, under the ceiling
        self.snapshot_every = cfg.snapshot_every if cfg.self_play else 0
        env = EnvConfig(**config.env_config[ENV_KEY])
        return League(env, cfg, sweep.curriculum, name=name, folder=folder, seed=sweep.seed * 1000 + 7)

    def _evaluator(self, config: DQNConfig, sweep: SweepConfig) -> Evaluator:
        """Match envs on the pool slots past the training envs' (and their spare)."""
        env_config = eval_config(
            EnvConfig(**config.env_config[ENV_KEY]), sweep.evaluation.difficulty, sweep.evaluation.max_steps
        )
        endpoints = list(config.env_config[ENDPOINTS_KEY] or [])
        first = envs_needed(sweep) + 1
        ev = sweep.evaluation
        cells = None
        if ev.levels is not None or ev.opponents is not None:
            agents = [str(c) for c in choice.values(env_config.characters[0])]
            opponents = ev.opponents or [str(c) for c in choice.values(env_config.characters[1])]
            levels = ev.levels or [int(lv) for lv in choice.values(env_config.difficulty)]
            cells = [(lv, a, o) for lv in levels for a in agents for o in opponents]
        return Evaluator(lambda i: factory.make_env(_on(env_config, endpoints, first + i)), ev.envs,
                         seed=self.eval_seed, cells=cells)  # fmt: skip

    def _evaluate(self) -> None:
        """Play this iteration's greedy matches, if it is an evaluation iteration; a lost emulator skips one."""
        assert self.evaluator is not None and self.learning_loop is not None
        t0 = time.perf_counter()
        try:
            r = self.evaluator.run(self.learning_loop.learner.greedy, self.eval_matches)
        except WorkerError as e:
            log.warning("evaluation skipped: %s: %s", type(e).__name__, e)
            return
        rounds = r.rounds_won + r.rounds_lost
        self._eval = {
            "eval_win_rate": r.win_rate, "eval_matches": float(r.matches),
            "eval_round_win_rate": r.rounds_won / rounds if rounds else float("nan"),
            "eval_time_s": time.perf_counter() - t0,
        }  # fmt: skip
        if self.league is not None and self.league.promote(r.win_rate_up_to(self.league.ceiling)):
            log.info("curriculum: training now reaches CPU level %d", self.league.ceiling)

    def training_step(self) -> None:
        """sf2rl's lean iteration (dqn.loop 'sf2rl'), or RLlib's stock one."""
        if self.learning_loop is None:
            return super().training_step()
        metrics, runners, config = self.metrics, self.env_runner_group, self.config
        assert metrics is not None and runners is not None and config is not None
        lifetime = int(metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0))
        self.learning_loop.run(config.min_sample_timesteps_per_iteration, lifetime, metrics)
        # The local env runner's module is what RLlib checkpoints as the inference copy: keep it current.
        runners.sync_weights(from_worker_or_learner_group=self.learner_group, inference_only=True)
        return None

    def save_to_path(self, path: Any = None, *args: Any, **kwargs: Any) -> str:
        """RLlib's checkpoint, plus the sf2rl policy export that eval, play and opponents load (no pickles)."""
        saved = super().save_to_path(path, *args, **kwargs)
        if kwargs.get("filesystem") is None and "://" not in str(saved):
            self._export(Path(saved))
        return saved

    def _export(self, checkpoint_dir: Path) -> None:
        config = self.config
        assert config is not None
        if self.learning_loop is not None:
            module = self.learning_loop.learner.module
        else:
            learner = self.learner_group._learner if self.learner_group is not None else None
            module = learner.module[DEFAULT_MODULE_ID].unwrapped() if learner is not None else None
        if module is not None:
            write_export(module, EnvConfig(**config.env_config[ENV_KEY]), checkpoint_dir)

    def _self_play_folder(self) -> str:
        """Where this trial's checkpoints land: the opponent follows the newest of them."""
        storage = getattr(self, "_storage", None)
        folder = getattr(storage, "trial_fs_path", None)
        if not folder or "://" in folder:
            raise ConfigError("opponent 'self' needs a Tune trial with local (or shared-filesystem) storage")
        return str(folder)

    def step(self) -> dict[str, Any]:
        """One training iteration, plus sf2rl's flat metrics (return, win rate, latency)."""
        result = super().step()
        # Tune numbers the result after step() returns; self.iteration still counts the finished ones.
        if self.evaluator is not None and (self.iteration + 1) % self.eval_every == 0:
            self._evaluate()
        if self.snapshot_every and self.league is not None and (self.iteration + 1) % self.snapshot_every == 0:
            assert self.learning_loop is not None
            self.league.freeze(self.learning_loop.learner.module, self.iteration + 1)
        # The last evaluation's figures stay on every result, so Tune and schedulers always see the metric.
        result.update(self._eval)
        if self.league is not None:
            result["league"] = self.league.metrics()
        result.update(flatten_metrics(result))
        # Wall-clock time at the end of the iteration: curves against it compare trials of unequal speed.
        result["wall_time"] = time.time()
        for key in ("episode_return_mean", "win_rate"):
            if not isinstance(result.get(key), (int, float)) or math.isnan(result[key]):
                result[key] = float("nan")
        return result

    def restore(self, checkpoint_path: Any) -> None:
        """Restore where Tune says, or from the trial's newest complete checkpoint if that one is gone.

        Tune deletes checkpoints beyond ``checkpoint.keep`` as new ones land, but snapshots its
        experiment state only every few seconds: a driver killed in between leaves a state naming
        a deleted checkpoint, and ``--resume`` would fail the trial over it.
        """
        checkpoint = getattr(checkpoint_path, "checkpoint", checkpoint_path)
        path = getattr(checkpoint, "path", checkpoint)
        filesystem = getattr(checkpoint, "filesystem", None)
        local = filesystem is None or filesystem.type_name == "local"
        if isinstance(path, str) and local and not Path(path).exists():
            newest = newest_checkpoint(Path(path).parent)
            if newest is not None:
                log.warning("checkpoint %s is gone (deleted by checkpoint.keep); restoring %s instead", path, newest)
                checkpoint_path = str(newest)
        super().restore(checkpoint_path)

    def cleanup(self) -> None:
        """Stop the loop's envs and RLlib's actors, then the pool."""
        try:
            if self.learning_loop is not None:
                self.learning_loop.rollout.close()
                self.learning_loop = None
            if self.evaluator is not None:
                self.evaluator.close()
                self.evaluator = None
            super().cleanup()
        finally:
            if self.pool is not None:
                self.pool.stop()
                self.pool = None
