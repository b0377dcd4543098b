"""`sf2rl bench` produces a machine-readable report (numbers only; no timing is asserted)."""

from __future__ import annotations

import json

import pytest
from support import unavailable

from sf2rl.cli.main import main as sf2rl_main


@pytest.mark.e2e
def test_bench_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as code:
        sf2rl_main(["bench", "--quick", "--only", "rtt", "--only", "transport_sim", "--only", "vector_sim", "--json"])
    assert code.value.code == 0
    report = json.loads(capsys.readouterr().out)
    rtt = report["rtt"]
    assert rtt["round_trips"] == 500  # --quick: every round trip timed, none dropped
    assert 0 < rtt["p50_us"] <= rtt["p99_us"] < 1e6  # a loopback hello takes microseconds, not seconds
    for skip in (1, 4, 20):
        row = report["transport_sim"][f"frame_skip_{skip}"]
        # The figures are one another's: frames are steps times the skip, the median ratio lies in its range,
        # and near the ratio of the median rates.
        assert row["worker_frames_per_s"] == pytest.approx(row["worker_steps_per_s"] * skip)
        low, high = row["ratio_worker_vs_in_process_range"]
        assert 0 < low <= round(row["ratio_worker_vs_in_process"], 3) <= high
        assert low * 0.9 <= row["worker_steps_per_s"] / row["in_process_steps_per_s"] <= high * 1.1
        assert row["ratio_no_spin_vs_in_process"] > 0
    vector = report["vector_sim"]
    assert vector["envs"] == 2 and vector["frame_skip"] == 4
    by_rates = vector["batched_steps_per_s"] / vector["sequential_steps_per_s"]
    assert 0.5 < vector["ratio_batched_vs_sequential"] / by_rates < 2  # a median of ratios, not an inverted one


def test_unknown_bench_section_is_an_error() -> None:
    from pathlib import Path

    from sf2rl.tools.bench import run_bench

    with pytest.raises(ValueError, match="valid"):
        run_bench(only=["warp"])
    with pytest.raises(ValueError, match="--sweep applies to the sections"):
        run_bench(only=["rtt"], sweep=Path("sweeps/quickstart.yaml"))


@pytest.mark.e2e
def test_training_section_peers_report_steady_state_rates() -> None:
    from sf2rl.tools.bench import SECTIONS, _bench_script

    assert "training" in SECTIONS
    training = _bench_script("training")
    starts = training.SETTINGS["learning_starts"]
    for run in (training.run_bare, training.run_sb3):
        out = run(2.0)
        assert out["env_steps"] > starts, "rates are measured after learning starts"
        assert out["env_steps_per_s"] > 0 and out["updates_per_s"] > 0
        # One update per train_every env steps, whatever the machine's speed.
        per_update = training.SETTINGS["train_every"]
        assert out["updates_per_s"] == pytest.approx(out["env_steps_per_s"] / per_update, rel=0.05)


def test_training_section_reads_trial_rates_from_wall_time(tmp_path) -> None:
    from sf2rl.tools.bench import _bench_script

    training = _bench_script("training")
    trial = tmp_path / "trial_0"
    trial.mkdir()
    rows = [{"env_steps_total": 1000 * i, "wall_time": 100.0 + 2 * i, "learner_updates_total": 250 * i,
             "emulator_wait_ms": 0.5} for i in range(1, 6)]  # fmt: skip
    (trial / "result.json").write_text("\n".join(json.dumps(r) for r in rows))
    (rate,) = training._trial_rates(str(tmp_path), learning_starts=1000)
    # From the first iteration past learning_starts (2000 steps at t=104) to the last (5000 at t=110).
    assert rate["env_steps_per_s"] == pytest.approx(3000 / 6)
    assert rate["updates_per_s"] == pytest.approx(750 / 6)
    with pytest.raises(RuntimeError, match="run longer"):
        training._trial_rates(str(tmp_path), learning_starts=4000)


def test_noop_sanity_section_trains_one_fixed_seed_trial_against_noop(tmp_path) -> None:
    from sf2rl.tools.bench import SECTIONS, _bench_script

    assert "noop_sanity" in SECTIONS
    sanity = _bench_script("noop_sanity")
    sweep = sanity.sweep_config(str(tmp_path), iterations=6, seed=3)
    assert sweep.env.opponent == "noop"
    assert sweep.seed == 3 and sweep.search.num_samples == 1
    assert sweep.stop.training_iteration == 6
    assert sweep.dqn.steps_per_iteration == sanity.STEPS_PER_ITERATION
    # Exploration ends within the budget, so the checkpoint evaluated greedily was trained on its own actions.
    assert sweep.dqn.epsilon.timesteps < 6 * sanity.STEPS_PER_ITERATION


@pytest.mark.e2e
def test_noop_sanity_section_trains_a_trial_that_beats_a_motionless_opponent() -> None:
    # The section's own run, shortened: a learner, replay or env regression shows as a lost match here.
    import ray

    from sf2rl.tools.bench import _bench_script

    try:
        out = _bench_script("noop_sanity").run(quick=True, matches=6)
    finally:
        ray.shutdown()  # the section starts its own local Ray; later tests start theirs
    assert out["env_steps"] == 10 * 4000 and out["matches"] == 6
    assert out["passed"] and out["wins"] == 6 and out["rounds_lost"] == 0


def test_scaling_section_measures_the_machines_own_ceiling() -> None:
    from sf2rl.tools.bench import SECTIONS, _bench_script

    assert "scaling" in SECTIONS
    training = _bench_script("training")
    # The count is work done in the time given: nine times the time is well over twice the work, and two
    # processes count their work together. (The ratio of the two is the bench's figure, not a test's.)
    short, long = training._cpu_work(1, 0.1), training._cpu_work(1, 0.9)
    assert long > 2 * short >= 2 * 10_000
    assert training._cpu_work(2, 0.1) >= 2 * 10_000


def test_champion_section_reads_time_to_each_win_rate_from_the_trials_evaluations(tmp_path) -> None:
    from sf2rl.tools.bench import SWEEP_SECTIONS, _bench_script

    assert "champion" in SWEEP_SECTIONS and "generalist" in SWEEP_SECTIONS
    champion = _bench_script("champion")
    rows = [  # iteration 1 has no evaluation yet; iteration 3 carries iteration 2's
        {"wall_time": 110.0, "env_steps_total": 10_000, "eval_win_rate": float("nan")},
        {"wall_time": 130.0, "env_steps_total": 20_000, "eval_win_rate": 0.5, "eval_matches": 20, "eval_time_s": 3.0},
        {"wall_time": 150.0, "env_steps_total": 30_000, "eval_win_rate": 0.5, "eval_matches": 20, "eval_time_s": 3.0},
        {"wall_time": 170.0, "env_steps_total": 40_000, "eval_win_rate": 0.85, "eval_matches": 20, "eval_time_s": 4.0},
    ]  # fmt: skip
    (tmp_path / "trial_a").mkdir()
    (tmp_path / "trial_a" / "result.json").write_text("\n".join(json.dumps(r) for r in rows))
    curves = champion.eval_curves(str(tmp_path), start=100.0)
    assert curves == {"trial_a": [[30.0, 20_000.0, 0.5], [70.0, 40_000.0, 0.85]]}
    assert champion.time_to(curves, (0.5, 0.8, 0.9)) == {"0.50": 30.0, "0.80": 70.0, "0.90": None}


@pytest.mark.e2e
def test_remote_section_measures_each_path_across_namespaces() -> None:
    from sf2rl.tools.bench import SECTIONS, _bench_script

    assert "remote" in SECTIONS and "cluster_costs" in SECTIONS
    remote = _bench_script("remote")
    reason = remote._netns().unavailable_reason()
    if reason:
        unavailable(f"the multi-host lab cannot run: {reason}")
    report = remote.run(steps=200, rounds=1)
    for path in ("remote_direct", "remote_routed", "loopback"):
        assert report[path]["steps_per_s"] > 0
    # The remote hosts' steps crossed the veth pair; the loopback host's did not touch it.
    assert report["remote_direct"]["bytes_per_step"] > 100 and report["remote_routed"]["bytes_per_step"] > 100
    assert report["loopback"]["bytes_per_step"] < 1
    assert report["remote_direct"]["host_cpu_ms_per_step"] > 0
    assert report["remote_direct_curve"]["steps_per_s"] > 0  # Curve keys reached both ends
