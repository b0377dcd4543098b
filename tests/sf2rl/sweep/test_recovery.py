"""`kill -9` of an emulator instance in the middle of a sweep: the sweep still finishes every trial."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from support import SESSION_TAG, owned

from sf2rl.cli.main import main as sf2rl_main
from sf2rl.core.tags import RESTARTS_TAG

STOP_AT = 16


def _progress(storage: Path) -> dict[str, int]:
    """Iterations each trial has reported so far, by its folder."""
    return {f.parent.name: len(f.read_text().splitlines()) for f in storage.glob("crashy-*/*/result.json")}


def _instances() -> set[int]:
    """This test's trials' emulator instances: started under its Ray session's tag, none else."""
    return owned("emulator_worker.instances", os.environ[SESSION_TAG])


def test_killed_instance_mid_sweep_is_survived(ray_session: Path, tmp_path: Path, tiny_sweep) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    path = tiny_sweep(tmp_path, "crashy", uri, dqn={"steps_per_iteration": 200}, stop={"training_iteration": STOP_AT},
                      checkpoint={"every": 5}, pool={"mode": "spawn"})  # fmt: skip
    killed: list[int] = []
    restarted: list[int] = []
    progress_at_kill: dict[str, int] = {}
    done = threading.Event()

    def killer() -> None:
        # Once both trials are a few iterations in (so each still has steps to take), SIGKILL every
        # instance they run (the sim runs all of a trial's games in one instance process: one per trial).
        deadline = time.monotonic() + 120
        while not done.is_set() and time.monotonic() < deadline:
            progress = _progress(tmp_path / "runs")
            if len(_instances()) >= 2 and len(progress) == 2 and min(progress.values()) >= 2:
                progress_at_kill.update(progress)
                for pid in sorted(_instances()):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                # The hosts must bring up replacements while the trials are still running.
                while not done.is_set() and time.monotonic() < deadline:
                    replacements = _instances() - set(killed)
                    if len(replacements) >= len(killed):
                        restarted.extend(replacements)
                        return
                    time.sleep(0.1)
                return
            time.sleep(0.1)

    thread = threading.Thread(target=killer)
    thread.start()
    with pytest.raises(SystemExit) as code:
        sf2rl_main(["sweep", str(path)])
    done.set()
    thread.join()
    assert killed, "no instance was killed: the test did not exercise recovery"
    assert max(progress_at_kill.values()) < STOP_AT - 2, f"the trials were nearly done at the kill: {progress_at_kill}"
    assert restarted, f"the hosts did not restart the killed instances {killed} while the sweep ran"
    assert code.value.code == 0

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("crashy")
    assert exp is not None
    children = client.search_runs([exp.experiment_id], "tags.`sf2rl.kind` = 'trial'")
    assert len(children) == 2
    for child in children:
        assert child.info.status == "FINISHED"
        assert max(m.step for m in client.get_metric_history(child.info.run_id, "episode_return_mean")) == STOP_AT
        # Tune never had to restart a trial from a checkpoint, which would hide a broken in-trial rebuild.
        assert int(child.data.tags.get(RESTARTS_TAG, 0)) == 0, f"{child.info.run_name} was restarted by Tune"
    # Recovered inside each trial: both still had iterations to run when their instance died, so a
    # step of theirs failed there and the env was rebuilt (Tune restarted neither, above).
    failures = {c.info.run_name: max((m.value for m in client.get_metric_history(c.info.run_id, "env_step_failures")),
                                     default=0.0) for c in children}  # fmt: skip
    print("env step failures per trial:", failures, "iterations at the kill:", progress_at_kill)
    assert all(f > 0 for f in failures.values()), f"a trial saw no failed env step: {failures}"
