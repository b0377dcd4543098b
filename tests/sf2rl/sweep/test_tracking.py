"""Tracking through an MLflow outage: a real `mlflow server`, killed mid-sweep and started again.

The sweep must go on while the server is gone, and once it is back every metric of every
iteration must be in MLflow, each trial's run closed and its checkpoint logged.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from support import sweep_runs

from sf2rl.sweep.backlog import Backlog
from sf2rl.sweep.runner import run_sweep
from sf2rl.sweep.schema import load_sweep

STOP_AT = 8


class MlflowServer:
    """`mlflow server` on a fixed loopback port and sqlite store, so it can be killed and come back the same."""

    def __init__(self, work: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.uri = f"http://127.0.0.1:{self.port}"
        self.work = work
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{self.work / 'mlflow.db'}",
               "--artifacts-destination", str(self.work / "artifacts"), "--host", "127.0.0.1",
               "--port", str(self.port), "--workers", "1"]  # fmt: skip
        log = (self.work / "server.log").open("a")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.work, start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.work / "server.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"mlflow server not healthy in 90 s:\n{(self.work / 'server.log').read_text()[-3000:]}")

    def kill(self) -> None:
        """An outage, not a shutdown: the server and its workers go at once."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[MlflowServer]:
    s = MlflowServer(tmp_path)
    s.start()
    try:
        yield s
    finally:
        s.kill()


def _iterations(storage: Path) -> int:
    return sum(len(f.read_text().splitlines()) for f in storage.glob("outage-*/*/result.json"))


def test_a_sweep_goes_on_through_an_mlflow_outage_and_loses_no_record(
    ray_session: Path, tmp_path: Path, server: MlflowServer, tiny_sweep
) -> None:
    path = tiny_sweep(tmp_path, "outage", server.uri, dqn={"steps_per_iteration": 150},
                      stop={"training_iteration": STOP_AT})  # fmt: skip
    runs = tmp_path / "runs"
    seen: dict[str, int] = {}

    def outage() -> None:
        deadline = time.monotonic() + 300
        while _iterations(runs) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        server.kill()
        seen["at_kill"] = _iterations(runs)
        while _iterations(runs) < seen["at_kill"] + 4 and time.monotonic() < deadline:
            time.sleep(0.1)  # trials train on while MLflow is gone
        seen["at_restart"] = _iterations(runs)
        server.start()

    cutter = threading.Thread(target=outage, daemon=True)
    cutter.start()
    outcome = run_sweep(load_sweep(path), path)
    cutter.join(timeout=120)
    assert not cutter.is_alive()
    assert outcome.errored == 0 and outcome.trials == 2
    assert seen["at_restart"] - seen["at_kill"] >= 4, f"the outage overlapped no training: {seen}"

    client = MlflowClient(tracking_uri=server.uri)
    parents, children = sweep_runs(server.uri, "outage")
    assert [p.info.status for p in parents] == ["FINISHED"]
    assert len(children) == 2
    for child in children:
        # time_total_s is on every result (a first iteration may end no episode, so has no return).
        steps = sorted(m.step for m in client.get_metric_history(child.info.run_id, "time_total_s"))
        assert steps == list(range(1, STOP_AT + 1)), f"{child.info.run_name}: steps {steps}"
        assert child.info.status == "FINISHED"
        assert client.list_artifacts(child.info.run_id, "checkpoint")


def test_the_backlog_keeps_writes_in_order_through_an_outage_and_drops_a_bad_one() -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE

    up = False
    written: list[int] = []

    def write(n: int) -> None:
        if not up:
            raise MlflowException("connection refused", error_code=INTERNAL_ERROR)  # what a refused connection raises
        written.append(n)

    def bad() -> None:
        raise MlflowException("metric value must be a number", error_code=INVALID_PARAMETER_VALUE)

    backlog = Backlog("http://mlflow.invalid")
    for n in range(3):
        backlog.run(f"write {n}", lambda n=n: write(n))
    assert written == [] and len(backlog) == 3
    up = True
    backlog.run("a refused write", bad)
    backlog.run("write 3", lambda: write(3))
    assert written == [0, 1, 2, 3] and len(backlog) == 0
    up = False
    backlog.run("write 4", lambda: write(4))
    assert not backlog.flush(timeout_s=0.3) and len(backlog) == 1
