"""Shared fixtures: real worker hosts on loopback port 0, and one Ray session per test module."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture
def spawn_host():  # type: ignore[no-untyped-def]
    """Factory: start `emulator-worker serve` subprocesses on 127.0.0.1:0; all stopped at teardown."""
    from sf2rl.transport.pool import SpawnedPool

    pools: list[SpawnedPool] = []

    def start(backend: str = "sim", slots: int = 1, **options: object) -> SpawnedPool:
        pool = SpawnedPool(backend, slots, dict(options))
        pool.start()
        pools.append(pool)
        return pool

    yield start
    for pool in pools:
        pool.stop()


@pytest.fixture(scope="module")
def ray_session() -> Iterator[Path]:
    """One local Ray per test module, its temp files in a short private folder (not the home dir)."""
    import ray
    from support import SESSION_TAG, new_session_tag

    tmp = Path(tempfile.mkdtemp(prefix="sf2ray-", dir="/tmp"))
    os.environ["SF2RL_RAY_TMPDIR"] = str(tmp)
    new_session_tag()  # Ray's processes, their trials and those trials' worker hosts inherit it
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=str(tmp), log_to_driver=False, configure_logging=False)
    try:
        yield tmp
    finally:
        ray.shutdown()
        os.environ.pop("SF2RL_RAY_TMPDIR", None)
        os.environ.pop(SESSION_TAG, None)
        shutil.rmtree(tmp, ignore_errors=True)


TINY_ENV = {"action_set": "minimal", "frame_skip": 8, "max_episode_steps": 40, "difficulty": 1}
# 160 steps: each of a trial's 4 envs (the default) finishes one 40-step episode per iteration.
TINY_DQN = {"hiddens": [16], "learning_starts": 50, "steps_per_iteration": 160, "train_batch_size": 16,
            "buffer_size": 1000, "target_update_period": 100}  # fmt: skip


@pytest.fixture(scope="session")
def tiny_sweep():  # type: ignore[no-untyped-def]
    """Factory: write a seconds-long 2-trial sweep (a dqn.lr grid) into a folder and return its path.

    Keyword sections update the defaults (dicts are merged one level deep); tracking goes to an sqlite
    store in the same folder unless ``uri`` names another.
    """

    def write(folder: Path, name: str, uri: str | None = None, **sections: object) -> Path:
        sweep: dict[str, object] = {
            "name": name, "env": dict(TINY_ENV), "dqn": dict(TINY_DQN),
            "space": {"dqn.lr": {"grid": [0.001, 0.003]}}, "stop": {"training_iteration": 3},
            "checkpoint": {"every": 1, "keep": 2}, "storage": str(folder / "runs"),
            "tracking": {"uri": uri or f"sqlite:///{folder / 'mlflow.db'}"},
        }  # fmt: skip
        for key, value in sections.items():
            base = sweep.get(key)
            sweep[key] = {**base, **value} if isinstance(base, dict) and isinstance(value, dict) else value
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(sweep))
        return path

    return write


E2E_FIXTURES = frozenset({"ray_session", "ray_head", "mlflow_server"})
"""Fixtures that start a Ray cluster or an MLflow server stack: a test using one is end-to-end."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark end-to-end tests ``e2e`` by what they start, so `pytest -m "not e2e"` is the fast inner loop."""
    for item in items:
        if E2E_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)
