"""`sf2rl bench` produces a machine-readable report (numbers only; no timing is asserted)."""

from __future__ import annotations

import json

import pytest

from sf2rl.cli import main as sf2rl_main


def test_bench_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as code:
        sf2rl_main(["bench", "--quick", "--only", "rtt", "--only", "transport_sim", "--only", "vector_sim", "--json"])
    assert code.value.code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rtt"]["p50_us"] > 0 and report["rtt"]["p99_us"] >= report["rtt"]["p50_us"]
    for skip in (1, 4, 20):
        row = report["transport_sim"][f"frame_skip_{skip}"]
        assert row["worker_frames_per_s"] == pytest.approx(row["worker_steps_per_s"] * skip)
        assert row["ratio_worker_vs_in_process"] > 0 and row["ratio_no_spin_vs_in_process"] > 0
    vector = report["vector_sim"]
    assert vector["envs"] == 2 and vector["batched_steps_per_s"] > 0 and vector["sequential_steps_per_s"] > 0


def test_unknown_bench_section_is_an_error() -> None:
    from sf2rl.bench import run_bench

    with pytest.raises(ValueError, match="valid"):
        run_bench(only=["warp"])
