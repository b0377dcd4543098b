"""The arena: matches as independent jobs, played in parallel, for `eval`, `play` and `tournament`.

A job names both sides by source (checkpoint path or baseline name), the env
options, characters, level and seed, so it can be sent to a worker process.
Worker processes each own an in-process emulator (fastest on one machine, and
one emulator per process suits stable-retro); when the backend is a worker
host endpoint, threads each lease one of its slots instead.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from sf2rl.agents.baselines import is_baseline
from sf2rl.agents.checkpoint import recorded_env_config, resolve_checkpoint
from sf2rl.agents.factory import load_policy
from sf2rl.core.config import EnvConfig
from sf2rl.core.errors import ConfigError, WorkerError
from sf2rl.env.environment import SF2Env

# Whatever a checkpoint trained on, the arena plays whole matches; player 2 is set per job (CPU or a policy).
EVAL_FIXED: dict[str, Any] = {
    "episode": "match",
    "opponent": "cpu",
    "opponent_refresh_episodes": 0,
    "publish_frames": None,
    "max_episode_steps": 100_000,
}


@dataclass(frozen=True)
class MatchJob:
    """One match to play: who plays each side, with which env options, characters, level and seed."""

    index: int
    env_json: str
    p1: str
    p2: str | None
    seed: int
    level: int
    characters: tuple[str, str]
    tag: str = ""


@dataclass(frozen=True)
class MatchResult:
    """How a match ended, from player 1's side; ``characters`` are read back from the game's RAM."""

    index: int
    tag: str
    p1: str
    p2: str
    level: int
    seed: int
    characters: tuple[str, str]
    won: bool
    lost: bool
    health_left: int
    opponent_health_left: int
    rounds_won: int
    rounds_lost: int
    steps: int
    truncated: bool


def match_config(source: str, overrides: dict[str, Any] | None = None) -> EnvConfig:
    """Env options for matches of ``source``: its recorded training options (else defaults), made match-long."""

    base = None if is_baseline(source) else recorded_env_config(resolve_checkpoint(source))
    data = (base or EnvConfig()).model_dump()
    data.update(EVAL_FIXED)
    data.update(overrides or {})
    return validated(data, source)


def validated(data: dict[str, Any], source: str) -> EnvConfig:
    """``EnvConfig(**data)``, with a pydantic error turned into one ConfigError line."""
    from pydantic import ValidationError

    try:
        return EnvConfig(**data)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise ConfigError(f"env options for {source}: {where + ': ' if where else ''}{err['msg']}") from None


_local = threading.local()


def _cached(kind: str, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
    cache = _local.__dict__.setdefault(kind, {})
    if key not in cache:
        cache[key] = make()
    return cache[key]


def _init_worker() -> None:
    # Many small forward passes in parallel processes: one torch thread each avoids oversubscription.
    # Set through the environment, before torch is (lazily) imported, so that baselines never import it.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")


def play_match(job: MatchJob) -> MatchResult:
    """Play one match in this thread's env (created on first use and kept for later matches)."""

    cfg = _cached("cfg", (job.env_json,), lambda: EnvConfig.model_validate_json(job.env_json))
    env = _cached("env", (job.env_json,), lambda: SF2Env(cfg))
    p1 = _cached("policy", (job.p1, job.env_json, "agent"), lambda: load_policy(job.p1, cfg))
    p2, p2_source = None, job.p2
    if p2_source is not None:
        p2 = _cached(
            "policy", (p2_source, job.env_json, "opponent"), lambda: load_policy(p2_source, cfg, seat="opponent")
        )
    env.set_opponent(p2)
    env.ram_bytes = p1.needs_ram
    for attempt in (0, 1):
        try:
            return _play(env, p1, job)
        except WorkerError:
            if attempt:  # an emulator crash is retried once on a fresh match
                raise
    raise AssertionError("unreachable")


def _play(env: Any, p1: Any, job: MatchJob) -> MatchResult:
    obs, _ = env.reset(seed=job.seed, options={"characters": job.characters, "difficulty": job.level})
    p1.reset(seed=job.seed)
    steps, info = 0, {}
    while True:
        obs, _, terminated, truncated, info = env.step(p1.act(obs, env.state, ram=env.ram, player=0))
        steps += 1
        if terminated or truncated:
            break
    s = env.state
    names = env.game.characters
    c1, c2 = (names[c] if c < len(names) else str(c) for c in (s.p1.character, s.p2.character))
    return MatchResult(
        job.index,
        job.tag,
        job.p1,
        job.p2 or f"cpu-level-{job.level}",
        job.level,
        job.seed,
        (c1, c2),
        bool(info["won"]),
        bool(terminated and info["rounds_lost"] > info["rounds_won"]),
        int(info["health_left"]),
        int(info["opponent_health_left"]),
        int(info["rounds_won"]),
        int(info["rounds_lost"]),
        steps,
        bool(truncated),
    )


class MatchPool:
    """Emulators that play match jobs: worker processes (local backends) or threads (an endpoint's slots).

    Workers keep their envs and policies between jobs, so a tournament reuses one pool for all its rounds.
    """

    def __init__(self, workers: int = 1, remote: bool = False) -> None:
        self.workers = max(1, workers)
        self.executor: Executor | None = None
        if self.workers > 1 and remote:
            self.executor = ThreadPoolExecutor(self.workers)
        elif self.workers > 1:
            ctx = multiprocessing.get_context("spawn")  # fork would copy torch's and Ray's threads
            self.executor = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker)

    def __enter__(self) -> MatchPool:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)

    def run(self, jobs: list[MatchJob], on_result: Callable[[MatchResult], None] | None = None) -> list[MatchResult]:
        """Play ``jobs``; results sorted by job index."""
        results: list[MatchResult] = []
        if self.executor is None or len(jobs) == 1:
            for job in jobs:
                results.append(play_match(job))
                if on_result:
                    on_result(results[-1])
        else:
            futures = [self.executor.submit(play_match, job) for job in jobs]
            try:
                for future in as_completed(futures):
                    results.append(future.result())
                    if on_result:
                        on_result(results[-1])
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
        return sorted(results, key=lambda r: r.index)


def run_matches(
    jobs: list[MatchJob], workers: int = 1, on_result: Callable[[MatchResult], None] | None = None, remote: bool = False
) -> list[MatchResult]:
    """Play ``jobs`` on up to ``workers`` emulators at once; results by job index."""
    with MatchPool(min(workers, len(jobs)), remote) as pool:
        return pool.run(jobs, on_result)


# ------------------------------------------------------------------ shared by the commands


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """``--set key=value`` env overrides; values are JSON when they parse as JSON, else strings."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set wants key=value, got {item!r}")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def ensure_run(run_id: str, uri: str) -> Any:
    """An MLflow client, once ``run_id`` is known to exist (checked before any match is played)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    try:
        client.get_run(run_id)
    except MlflowException:
        raise ConfigError(f"no MLflow run {run_id!r} at {uri}; pass --tracking-uri or an existing run id") from None
    return client


def log_to_mlflow(
    run_id: str,
    uri: str,
    metrics: dict[str, float] | None = None,
    texts: dict[str, Any] | None = None,
    files: dict[str, Any] | None = None,
) -> None:
    """Attach metrics, JSON documents (artifact path -> data) and files (artifact dir -> path) to a run."""
    from mlflow.entities import Metric

    client = ensure_run(run_id, uri)
    now = int(time.time() * 1000)
    if metrics:
        client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()])
    for path, data in (texts or {}).items():
        client.log_text(run_id, json.dumps(data, indent=2), path)
    for folder, local in (files or {}).items():
        if os.path.isdir(local):
            client.log_artifacts(run_id, str(local), folder)
        else:
            client.log_artifact(run_id, str(local), folder)
