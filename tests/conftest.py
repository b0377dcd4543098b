"""Shared fixtures: real worker hosts on loopback port 0, and one Ray session per test module."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture
def spawn_host():  # type: ignore[no-untyped-def]
    """Factory: start `emulator-worker serve` subprocesses on 127.0.0.1:0; all stopped at teardown."""
    from sf2rl.pool import SpawnedPool

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

    tmp = Path(tempfile.mkdtemp(prefix="sf2ray-", dir="/tmp"))
    os.environ["SF2RL_RAY_TMPDIR"] = str(tmp)
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=str(tmp), log_to_driver=False, configure_logging=False)
    try:
        yield tmp
    finally:
        ray.shutdown()
        os.environ.pop("SF2RL_RAY_TMPDIR", None)
        shutil.rmtree(tmp, ignore_errors=True)
