"""Stopping a sweep as Docker, Kubernetes and Ctrl+C stop it: state saved, runs KILLED, exit 128+n, resumable.

The sweep runs as a user runs it, in its own `sf2rl sweep` process with its own local Ray, and
the signal goes to that process alone (as `docker stop` signals only the container's first process).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from support import SESSION_TAG, sweep_runs

from sf2rl.core.tags import BEST_CHECKPOINT_TAG, POLICY_SHA_TAG
from sf2rl.sweep.interruption import Interruption, SweepInterrupted

STOP_AT = 8


def _iterations(storage: Path) -> int:
    return sum(len(f.read_text().splitlines()) for f in storage.glob("stoppable-*/*/result.json"))


@pytest.mark.e2e
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signalled_sweep_saves_its_state_marks_its_runs_killed_and_resumes(
    tmp_path: Path, tiny_sweep, sig: signal.Signals
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # One trial at a time, so the second is still pending when the signal comes.
    path = tiny_sweep(tmp_path, "stoppable", uri, dqn={"steps_per_iteration": 150}, search={"max_concurrent": 1},
                      stop={"training_iteration": STOP_AT})  # fmt: skip
    ray_tmp = tempfile.mkdtemp(prefix="sf2sig-", dir="/tmp")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "SF2RL_RAY_TMPDIR": ray_tmp, SESSION_TAG: uuid.uuid4().hex}
    cmd = [sys.executable, "-m", "sf2rl", "sweep", str(path)]
    log = (tmp_path / "driver.log").open("w")
    driver = subprocess.Popen(cmd, env=env, cwd=tmp_path, start_new_session=True, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 240
        # Signal once the first trial has ended and the second has begun.
        while _iterations(tmp_path / "runs") <= STOP_AT and time.monotonic() < deadline:
            assert driver.poll() is None, (tmp_path / "driver.log").read_text()[-3000:]
            time.sleep(0.2)
        assert _iterations(tmp_path / "runs") > STOP_AT, "the first trial never finished"
        driver.send_signal(sig)
        code = driver.wait(timeout=180)
        out = (tmp_path / "driver.log").read_text()
        assert code == 128 + sig, f"exit {code} after {sig.name}:\n{out[-3000:]}"
        assert f"stopped by {sig.name}" in out and "--resume" in out
        assert _iterations(tmp_path / "runs") < 2 * STOP_AT, "the sweep ran to its end; the signal proved nothing"

        parents, children = sweep_runs(uri, "stoppable")
        assert [p.info.status for p in parents] == ["KILLED"]
        assert children, "no trial run was created before the signal"
        assert "RUNNING" not in {c.info.status for c in children}
        assert sorted(c.info.status for c in children) == ["FINISHED", "KILLED"]
        # The finished trial's best checkpoint reached MLflow when it ended, not at a sweep end that never came.
        done = next(c for c in children if c.info.status == "FINISHED")
        assert done.data.tags.get(BEST_CHECKPOINT_TAG) and done.data.tags.get(POLICY_SHA_TAG)
        client = MlflowClient(tracking_uri=uri)
        assert client.list_artifacts(done.info.run_id, "checkpoint"), "no checkpoint artifact on the finished trial"

        resumed = subprocess.run([*cmd, "--resume"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert "sweep finished" in resumed.stderr
        parents, children = sweep_runs(uri, "stoppable")
        assert [p.info.status for p in parents] == ["FINISHED"], "resume must go on in the killed parent run"
        assert len(children) == 2, "resume must re-attach to each trial's run, not duplicate it"
        for child in children:
            assert child.info.status == "FINISHED"
            steps = {m.step for m in client.get_metric_history(child.info.run_id, "episode_return_mean")}
            assert max(steps) == STOP_AT
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local Ray it started, in its own session
            driver.wait()
        log.close()
        shutil.rmtree(ray_tmp, ignore_errors=True)


def test_a_signal_outside_tunes_loop_stops_the_setup_and_inside_it_reaches_tunes_handler() -> None:
    # The fast half of the above, in this process: which way each signal goes, and that a second one kills.
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)}
    heard: list[int] = []
    try:
        with Interruption() as stop:
            with pytest.raises(SweepInterrupted, match="SIGTERM"):
                os.kill(os.getpid(), signal.SIGTERM)
            stop.install()
            signal.signal(signal.SIGUSR1, lambda s, f: heard.append(s))  # what Tune installs while it runs
            stop.tune_running = True
            os.kill(os.getpid(), signal.SIGINT)
            assert heard == [signal.SIGINT] and stop.signum == signal.SIGINT
            assert signal.getsignal(signal.SIGINT) is signal.SIG_DFL
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        assert {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)} == {
            sig: before[sig] for sig in (signal.SIGINT, signal.SIGTERM)
        }
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
