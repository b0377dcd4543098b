"""`sf2rl eval`: JSON win rates with Wilson intervals, for baselines and trained checkpoints, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from sf2rl.cli.main import main as sf2rl_main
from sf2rl.play.scoring import wilson

QUICKSTART = Path(__file__).resolve().parents[3] / "sweeps" / "quickstart.yaml"


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as code:
        sf2rl_main(args)
    out, err = capsys.readouterr()
    return int(code.value.code or 0), out, err


@pytest.fixture(scope="module")
def quickstart_checkpoint(ray_session: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of the quickstart sweep's trial (its env options, a tiny network, one iteration)."""
    from sf2rl.sweep.schema import SweepConfig
    from sf2rl.sweep.trainable import PooledDQN, base_config

    raw = yaml.safe_load(QUICKSTART.read_text())
    raw["dqn"].update(hiddens=[16], learning_starts=50, steps_per_iteration=120, train_batch_size=16, buffer_size=1000)
    raw["env"]["max_episode_steps"] = 40
    algo = PooledDQN(base_config(SweepConfig(**raw)))
    try:
        algo.train()
        return Path(algo.save_to_path(str(tmp_path_factory.mktemp("quickstart") / "checkpoint_000001")))
    finally:
        algo.stop()


def test_wilson_interval_matches_known_values() -> None:
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)


def test_eval_random_prints_json_with_an_interval(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["eval", "random", "--level", "3", "--matches", "200", "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    lo, hi = report["ci95"]
    assert report["matches"] == 200 and report["levels"]["3"]["matches"] == 200
    assert 0.0 <= lo <= report["win_rate"] <= hi <= 1.0 and hi - lo < 0.2
    assert report["win_rate"] < 0.2  # button mashing rarely beats a level-3 CPU
    assert 0 <= report["avg_health_left"] <= 176
    assert "results" not in report
    # Its speed is a benchmark figure (`sf2rl bench --only eval`), not an assertion.
    assert report["matches_per_s"] > 0 and report["elapsed_s"] > 0


def test_a_trained_checkpoint_evaluates_through_the_same_command(
    quickstart_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["eval", str(quickstart_checkpoint), "--level", "1", "--level", "2", "--matches", "4", "--json"]
    code, out, _ = run_cli([*args, "--characters", "ryu", "guile", "--workers", "2", "--per-match"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["env"]["action_set"] == "minimal" and report["env"]["frame_skip"] == 8  # as it was trained
    assert report["matches"] == 8 and set(report["levels"]) == {"1", "2"}
    assert set(report["levels"]["1"]["by_character"]) == {"ryu", "guile"}
    assert {tuple(r["characters"]) for r in report["results"]} <= {("ryu", "ken"), ("guile", "ken")}
    assert all(lo <= s["win_rate"] <= hi for s in report["levels"].values() for lo, hi in [s["ci95"]])


@pytest.mark.parametrize(
    ("extra", "message", "fix"),
    [
        (
            ["--set", "action_set=seed"],
            "action set: checkpoint 'minimal' (12 actions), env 'seed' (63)",
            "action_set=minimal",
        ),
        (["--set", "obs=pixels"], "obs mode: checkpoint 'ram', env 'pixels'", "--set obs=ram"),
    ],
)
def test_an_incompatible_checkpoint_says_what_does_not_match(
    quickstart_checkpoint: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str, fix: str
) -> None:
    code, _, err = run_cli(["eval", str(quickstart_checkpoint), "--matches", "1", *extra], capsys)
    assert code == 2
    assert message in err and fix in err


def test_a_missing_checkpoint_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["eval", str(tmp_path / "gone"), "--matches", "1"], capsys)
    assert code == 2 and "no checkpoint at" in err and "baselines: random" in err


def test_results_are_logged_to_an_mlflow_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    run = client.create_run(client.create_experiment("eval"))
    args = ["eval", "heuristic", "--level", "1", "--matches", "3", "--workers", "1", "--run-id", run.info.run_id]
    code, _, _ = run_cli([*args, "--tracking-uri", uri], capsys)
    assert code == 0
    metrics = client.get_run(run.info.run_id).data.metrics
    assert {"eval/win_rate", "eval/level1/win_rate", "eval/level1/ci95_low", "eval/level1/ci95_high"} <= set(metrics)
    assert [a.path for a in client.list_artifacts(run.info.run_id, "eval")] == ["eval/heuristic.json"]
    code, _, err = run_cli([*args[:-1], "no-such-run", "--tracking-uri", uri], capsys)
    assert code == 2 and "no MLflow run 'no-such-run'" in err


def test_matrix_mode_scores_every_level_and_opponent_and_logs_both_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    run = client.create_run(client.create_experiment("matrix"))
    out = tmp_path / "matrix"
    args = ["eval", "heuristic", "--matrix", "--level", "1", "--level", "8", "--opponents", "ken", "guile",
            "--matches", "2", "--workers", "1", "--out", str(out), "--json", "--run-id", run.info.run_id,
            "--tracking-uri", uri]  # fmt: skip
    code, stdout, _ = run_cli(args, capsys)
    assert code == 0
    report = json.loads(stdout)
    cells = report["matrix"]["cells"]
    assert report["matrix"]["levels"] == [1, 8] and report["matrix"]["opponents"] == ["guile", "ken"]
    assert {(lv, opp): c["matches"] for lv, row in cells.items() for opp, c in row.items()} == {
        ("1", "guile"): 2, ("1", "ken"): 2, ("8", "guile"): 2, ("8", "ken"): 2,
    }  # fmt: skip
    for row in cells.values():
        for c in row.values():
            assert 0 <= c["ci95"][0] <= c["win_rate"] <= c["ci95"][1] <= 1
    saved = json.loads((out / "matrix.json").read_text())
    assert saved["cells"] == cells and (out / "matrix.png").read_bytes()[:4] == b"\x89PNG"
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "eval/matrix-heuristic")}
    assert logged == {"eval/matrix-heuristic/matrix.json", "eval/matrix-heuristic/matrix.png"}


def test_a_strong_policy_wins_every_match_through_eval(capsys: pytest.CaptureFixture[str]) -> None:
    # Positive control: if `won` were never set, every win rate the platform reports would read 0.
    code, out, _ = run_cli(["eval", "cpu-8", "--vs", "noop", "--matches", "4", "--workers", "1", "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["wins"] == 4 and report["win_rate"] == 1.0
    assert report["rounds_won"] == 8 and report["rounds_lost"] == 0
