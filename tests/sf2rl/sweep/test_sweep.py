"""A real sweep through local Ray, RLlib DQN, spawned worker hosts and an sqlite MLflow store."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from support import SESSION_TAG, owned, sweep_runs

from sf2rl.cli.main import main as sf2rl_main
from sf2rl.core.config import EnvConfig
from sf2rl.env.environment import SF2Env


def _worker_hosts() -> set[int]:
    """The worker hosts this module's Ray session started (its trials' pools), none else."""
    return owned("emulator_worker serve", os.environ[SESSION_TAG])


@pytest.fixture(scope="module")
def finished_sweep(ray_session: Path, tmp_path_factory: pytest.TempPathFactory, tiny_sweep) -> dict[str, object]:
    work = tmp_path_factory.mktemp("sweep")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    # Two envs per runner: RLlib builds them through SF2VectorEnv, which steps both emulators at once.
    # Greedy 2-match evaluations every 2nd iteration rank the trials (and their checkpoints) by eval_win_rate.
    path = tiny_sweep(work, "tiny", uri, resources={"envs_per_runner": 2}, search={"metric": "eval_win_rate"},
                      evaluation={"every": 2, "matches": 2, "max_steps": 40}, pool={"mode": "spawn"})  # fmt: skip
    # The positive control for "no worker hosts left": the same probe sees them while the sweep runs.
    seen: set[int] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.update(_worker_hosts())
            time.sleep(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with pytest.raises(SystemExit) as code:
            sf2rl_main(["sweep", str(path)])
    finally:
        done.set()
        watcher.join()
    return {"code": code.value.code, "uri": uri, "work": work, "hosts_seen": seen}


def test_sweep_succeeds_and_leaves_no_worker_hosts(finished_sweep: dict[str, object]) -> None:
    assert finished_sweep["code"] == 0
    assert finished_sweep["hosts_seen"], "no worker host was ever seen, so their absence proves nothing"
    assert _worker_hosts() == set()


def test_mlflow_has_parent_children_params_curves_and_artifacts(finished_sweep: dict[str, object]) -> None:
    client = MlflowClient(tracking_uri=str(finished_sweep["uri"]))
    parents, children = sweep_runs(str(finished_sweep["uri"]), "tiny")
    assert len(parents) == 1 and len(children) == 2
    parent = parents[0]
    assert {"sf2rl.sweep_hash", "sf2rl.git_commit", "sf2rl.sweep_file"} <= set(parent.data.tags)
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert sorted(float(c.data.params["dqn.lr"]) for c in children) == [0.001, 0.003]
    for child in children:
        history = client.get_metric_history(child.info.run_id, "episode_return_mean")
        assert [m.step for m in history] == [1, 2, 3]
        assert client.get_metric_history(child.info.run_id, "win_rate")
        evals = client.get_metric_history(child.info.run_id, "eval_matches")
        # Played at iteration 2, then carried on the next result so Tune always sees the metric.
        assert [(m.step, m.value) for m in evals] == [(2, 2.0), (3, 2.0)]
        assert all(0 <= m.value <= 1 for m in client.get_metric_history(child.info.run_id, "eval_win_rate"))
        names = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"checkpoint", "resolved_config.json"} <= names
        assert child.info.status == "FINISHED"
    parent_files = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"parallel_coordinates.html", "reward_curves.png", "summary.json", "tiny.yaml"} <= parent_files


def test_best_checkpoint_restores_a_module_that_acts(finished_sweep: dict[str, object], capsys) -> None:
    out = Path(str(finished_sweep["work"])) / "best"
    with pytest.raises(SystemExit) as code:
        sf2rl_main(["best", "tiny", "--out", str(out), "--tracking-uri", str(finished_sweep["uri"]), "--json"])
    assert code.value.code == 0
    best = json.loads(capsys.readouterr().out)
    assert best["metric"] == "eval_win_rate"  # the sweep's own metric picked the checkpoint
    from sf2rl.agents.export import EXPORT_DIR, WEIGHTS
    from sf2rl.agents.factory import load_policy
    from sf2rl.core.errors import CheckpointError
    from sf2rl.sweep.best import best_checkpoint

    env = SF2Env(EnvConfig(action_set="minimal", frame_skip=8))
    policy = load_policy(best["path"], env.config)  # from the policy export: no pickle is read
    obs, _ = env.reset(seed=0)
    action = policy.act(obs, env.state)
    assert env.action_space.contains(action)
    env.step(action)
    # The run recorded the policy's SHA-256 when it was logged; a changed artifact is refused after download.
    weights = next(Path(str(finished_sweep["work"])).glob(f"runs/**/checkpoint_*/{EXPORT_DIR}/{WEIGHTS}"))
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=str(finished_sweep["uri"]))
    run = client.get_run(best["run_id"])
    assert len(run.data.tags["sf2rl.policy_sha256"]) == 64
    artifact = Path(client.download_artifacts(best["run_id"], f"checkpoint/{EXPORT_DIR}/{WEIGHTS}"))
    assert artifact.stat().st_size == weights.stat().st_size
    client.log_artifact(best["run_id"], str(_tampered(artifact)), f"checkpoint/{EXPORT_DIR}")
    with pytest.raises(CheckpointError, match="was changed since"):
        best_checkpoint(str(finished_sweep["uri"]), "tiny", out / "again")


def _tampered(weights: Path) -> Path:
    """A copy of ``weights``, one byte flipped, under the same file name."""
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    copy = weights.parent / "tampered" / weights.name
    copy.parent.mkdir(exist_ok=True)
    copy.write_bytes(bytes(data))
    return copy


def test_restore_falls_back_when_the_recorded_checkpoint_was_deleted(finished_sweep: dict[str, object]) -> None:
    # A driver killed between Tune deleting a checkpoint (checkpoint.keep) and its next state
    # snapshot leaves a state that names the deleted checkpoint; the trial must still resume.
    from ray.tune.result import TRAINING_ITERATION

    from sf2rl.agents.checkpoint import newest_checkpoint
    from sf2rl.sweep.schema import load_sweep
    from sf2rl.sweep.trainable import PooledDQN, base_config

    work = Path(str(finished_sweep["work"]))
    trial = next((work / "runs").glob("tiny-*/trial_*"))
    newest = newest_checkpoint(trial)
    assert newest is not None
    algo = PooledDQN(base_config(load_sweep(work / "tiny.yaml")))
    try:
        algo.restore(str(trial / "checkpoint_999999"))
        assert algo.iteration == json.loads((trial / "result.json").read_text().splitlines()[-1])[TRAINING_ITERATION]
        assert algo.step()["episode_return_mean"] is not None  # and it trains on from there
    finally:
        algo.stop()


def test_custom_resources_pin_the_trial_process() -> None:
    """resources.custom and cpus_per_trial make the bundle Tune reserves for the trial's own process."""
    from sf2rl.sweep.schema import SweepConfig
    from sf2rl.sweep.trainable import PooledDQN, base_config

    sweep = SweepConfig(name="pin", resources={"custom": {"windows_host": 1}, "cpus_per_trial": 0.5})
    bundles = PooledDQN.default_resource_request(base_config(sweep)).bundles
    assert bundles[0]["windows_host"] == 1
    assert bundles[0]["CPU"] == 0.5  # not the whole CPU RLlib reserves for a learner by default
    assert all("windows_host" not in b for b in bundles[1:])


def test_a_sweep_stops_trials_at_their_env_step_budget(ray_session: Path, tmp_path: Path, tiny_sweep) -> None:
    # RLlib's new API stack reports no `timesteps_total`: handed to Tune as is, the stop never fired.
    path = tiny_sweep(tmp_path, "budget", stop={"training_iteration": None, "timesteps_total": 320})
    with pytest.raises(SystemExit) as code:
        sf2rl_main(["sweep", str(path)])
    assert code.value.code == 0
    for result in (tmp_path / "runs").glob("budget-*/trial_*/result.json"):
        last = json.loads(result.read_text().splitlines()[-1])
        assert last["env_steps_total"] == 320 and last["training_iteration"] == 2  # 160 steps per iteration
    assert len(list((tmp_path / "runs").glob("budget-*/trial_*/result.json"))) == 2


def test_a_swept_seed_makes_replicates_and_the_same_seed_repeats(ray_session: Path, tmp_path: Path, tiny_sweep) -> None:
    # num_samples alone would run the same seed twice: space.seed is how a sweep gets replicates.
    path = tiny_sweep(
        tmp_path,
        "seeds",
        space={"dqn.lr": {"grid": [0.001]}, "seed": {"grid": [0, 0, 1]}},
        stop={"training_iteration": 2},
    )
    with pytest.raises(SystemExit) as code:
        sf2rl_main(["sweep", str(path)])
    assert code.value.code == 0
    runs: dict[str, list[tuple[float, float]]] = {}
    for result in sorted((tmp_path / "runs").glob("seeds-*/trial_*/result.json")):
        rows = [json.loads(line) for line in result.read_text().splitlines()]
        runs.setdefault(result.parent.name.rsplit("seed=", 1)[1], []).append(
            (rows[-1]["qf_loss"], rows[-1]["episode_return_mean"]))  # fmt: skip
    assert sorted(runs) == ["0", "1"] and len(runs["0"]) == 2
    assert runs["0"][0] == runs["0"][1]  # one seed, one run
    assert runs["1"][0] != runs["0"][0]  # another seed, another run
