"""The learning sanity check (the talk's own): a fixed-seed trial against a motionless opponent must win every match.

One trial, trained exactly as ``sf2rl sweep`` trains (Tune, ``PooledDQN``, a spawned pool,
the sweep defaults a new file gets), for a fixed number of env steps against ``opponent:
noop``. Its best checkpoint then plays greedy matches against ``noop``. A regression in the
learner, the replay buffer or the env shows up here as a win rate below 100%, which a
speed benchmark alone would not notice. Run by ``sf2rl bench --only noop_sanity``::

    python bench/noop_sanity.py
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

ENV: dict[str, Any] = {
    "characters": ["ryu", "ken"], "difficulty": 3, "episode": "round", "action_set": "minimal", "obs": "ram",
    "frame_skip": 8, "reward": {"name": "health_delta"}, "opponent": "noop",
}  # fmt: skip
"""The training benchmark's env, against a motionless opponent."""
ITERATIONS, STEPS_PER_ITERATION = 20, 4000
"""80k env steps: about two minutes of one trial here, and well past what the check needs."""


def sweep_config(tmp: str, iterations: int = ITERATIONS, seed: int = 0) -> Any:
    """The one-trial sweep: sweep defaults everywhere except the step budget and the exploration horizon."""
    from sf2rl.sweep.schema import SweepConfig

    return SweepConfig(
        name="noop-sanity", seed=seed, env=ENV,
        dqn={"steps_per_iteration": STEPS_PER_ITERATION,
             "epsilon": {"timesteps": iterations * STEPS_PER_ITERATION // 4}},
        search={"num_samples": 1, "max_concurrent": 1, "metric": "episode_return_mean"},
        stop={"training_iteration": iterations}, storage=f"{tmp}/runs", tracking={"uri": f"sqlite:///{tmp}/mlflow.db"},
        checkpoint={"every": max(1, iterations // 4), "keep": 2},
    )  # fmt: skip


def run(quick: bool = False, matches: int = 20) -> dict[str, Any]:
    """Train, then play ``matches`` greedy matches against ``noop``; the check passes at a 100% win rate."""
    from sf2rl.play.evaluation import evaluate
    from sf2rl.sweep.runner import run_sweep

    iterations = ITERATIONS // 2 if quick else ITERATIONS
    with tempfile.TemporaryDirectory(prefix="sf2bench-noop-") as tmp:
        sweep = sweep_config(tmp, iterations)
        path = Path(tmp) / "noop.yaml"
        path.write_text(sweep.model_dump_json())
        start = time.perf_counter()
        outcome = run_sweep(sweep, path)
        train_s = time.perf_counter() - start
        if outcome.errored or outcome.best_checkpoint is None:
            raise RuntimeError(f"noop sanity trial: {outcome.errored} errored, checkpoint {outcome.best_checkpoint}")
        report = evaluate(outcome.best_checkpoint, [3], matches, vs="noop", seed=1)
    steps = [r["steps"] for r in report["results"]]
    return {
        "env_steps": iterations * STEPS_PER_ITERATION,
        "train_s": round(train_s, 1),
        "matches": report["matches"],
        "wins": report["wins"],
        "win_rate": report["win_rate"],
        "win_rate_ci95": report["ci95"],
        "rounds_won": report["rounds_won"],
        "rounds_lost": report["rounds_lost"],
        "median_match_steps": sorted(steps)[len(steps) // 2],
        "passed": report["win_rate"] >= 1.0,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
