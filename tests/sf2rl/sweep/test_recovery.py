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


def _instances() -> set[int]:
    """This test's trials' emulator instances: started under its Ray session's tag, none else."""
    return owned("emulator_worker.instances", os.environ[SESSION_TAG])


def test_killed_instance_mid_sweep_is_survived(ray_session: Path, tmp_path: Path, tiny_sweep) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    path = tiny_sweep(tmp_path, "crashy", uri, dqn={"steps_per_iteration": 200}, stop={"training_iteration": 12},
                      checkpoint={"every": 5}, pool={"mode": "spawn"})  # fmt: skip
    killed: list[int] = []
    restarted: list[int] = []
    done = threading.Event()

    def killer() -> None:
        # Once both trials' hosts are up and sampling, SIGKILL every instance they run (the sim runs
        # all of a trial's games in one instance process, so that is one per trial).
        deadline = time.monotonic() + 120
        while not done.is_set() and time.monotonic() < deadline:
            if len(_instances()) >= 2:
                time.sleep(2.0)
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
    assert restarted, f"the hosts did not restart the killed instances {killed} while the sweep ran"
    assert code.value.code == 0

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("crashy")
    assert exp is not None
    children = client.search_runs([exp.experiment_id], "tags.`sf2rl.kind` = 'trial'")
    assert len(children) == 2
    for child in children:
        assert child.info.status == "FINISHED"
        assert max(m.step for m in client.get_metric_history(child.info.run_id, "episode_return_mean")) == 12
        # Tune never had to restart a trial from a checkpoint, which would hide a broken in-trial rebuild.
        assert int(child.data.tags.get(RESTARTS_TAG, 0)) == 0, f"{child.info.run_name} was restarted by Tune"
    # Recovered inside the trials: an env step failed where an instance died, and its env was rebuilt.
    failures = {c.info.run_name: max((m.value for m in client.get_metric_history(c.info.run_id, "env_step_failures")),
                                     default=0.0) for c in children}  # fmt: skip
    print("env step failures per trial:", failures)
    assert any(f > 0 for f in failures.values()), f"no env step failed in any trial: {failures}"
