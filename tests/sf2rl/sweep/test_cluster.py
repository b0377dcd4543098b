"""A sweep against a `ray start --head` cluster on loopback, killed with SIGKILL mid-run and resumed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from support import SESSION_TAG, owned, sweep_runs

TAG = uuid.uuid4().hex
"""This module's head and everything it starts carry ``SF2RL_TEST_SESSION=TAG`` (see support.owned)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ray_head() -> Iterator[str]:
    """A real Ray head started the way a cluster operator would, bound to loopback.

    `--block` keeps `ray start` in the foreground, so stopping that one process stops exactly this
    head; `ray stop` would also kill every other Ray session on the machine.
    """
    tmp = Path(tempfile.mkdtemp(prefix="sf2head-", dir="/tmp"))
    port = _free_port()
    ray = str(Path(sys.executable).parent / "ray")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", SESSION_TAG: TAG}
    cmd = [ray, "start", "--head", "--block", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
           "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={tmp}"]  # fmt: skip
    head = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert head.poll() is None, "ray start --head exited"
            status = subprocess.run([ray, "status", f"--address=127.0.0.1:{port}"], env=env, capture_output=True)
            if status.returncode == 0:
                break
            time.sleep(1)
        yield f"127.0.0.1:{port}"
    finally:
        head.terminate()
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def _worker_hosts() -> set[int]:
    """Worker hosts the trials on this module's head started: the head's processes carry its tag."""
    return owned("emulator_worker serve", TAG)


def _sweep_cmd(path: Path, address: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sf2rl", "sweep", str(path), "--address", address, *extra]


def _iterations(storage: Path) -> int:
    return sum(len(f.read_text().splitlines()) for f in storage.glob("resumable-*/*/result.json"))


def test_sweep_on_a_ray_head_survives_a_killed_driver(ray_head: str, tmp_path: Path, tiny_sweep) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    path = tiny_sweep(tmp_path, "resumable", uri, dqn={"steps_per_iteration": 150}, search={"max_concurrent": 1},
                      stop={"training_iteration": 6}, pool={"mode": "spawn"})  # fmt: skip
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    driver = subprocess.Popen(
        _sweep_cmd(path, ray_head),
        env=env,
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    orphans: set[int] = set()  # the positive control for "no worker hosts left", below
    while _iterations(tmp_path / "runs") < 3 and time.monotonic() < deadline:
        assert driver.poll() is None, "the sweep ended before it could be interrupted"
        orphans |= _worker_hosts()
        time.sleep(0.5)
    orphans |= _worker_hosts()
    assert _iterations(tmp_path / "runs") >= 3
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()

    resumed = subprocess.run(
        _sweep_cmd(path, ray_head, "--resume"), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "best checkpoint" in resumed.stderr

    client = MlflowClient(tracking_uri=uri)
    parents, children = sweep_runs(uri, "resumable")
    assert len(parents) == 1, "resume must re-attach to the sweep's parent run"
    assert len(children) == 2, "resume must re-attach to each trial's child run, not duplicate it"
    assert {c.data.tags["sf2rl.trial_id"] for c in children} == {
        json.loads(f.read_text().splitlines()[-1])["trial_id"]
        for f in (tmp_path / "runs").glob("resumable-*/*/result.json")
    }
    for child in children:
        steps = {m.step for m in client.get_metric_history(child.info.run_id, "episode_return_mean")}
        assert max(steps) == 6
        assert child.info.status == "FINISHED"
    assert parents[0].info.status == "FINISHED"
    # The killed driver's trials never ran cleanup(); their spawned hosts exit by watching their owner.
    assert orphans, "no worker host was seen while the driver ran, so their absence proves nothing"
    deadline = time.monotonic() + 15
    while _worker_hosts() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _worker_hosts() == set()
