"""Parameter importance finds the key that decides the metric, not the one that does not."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from sf2rl.sweep.importance import importance_plot, param_importance
from sf2rl.sweep.schema import Distribution

SPACE = {
    "dqn.lr": Distribution(loguniform=(1e-4, 1e-2)),
    "env.frame_skip": Distribution(grid=[4, 6, 8, 10]),
}


def _trials(n: int, seed: int) -> list[dict]:
    """Planted effect: the metric is log10(lr) plus a little noise; frame skip does nothing."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        lr = float(10 ** rng.uniform(-4, -2))
        skip = int(rng.choice([4, 6, 8, 10]))
        out.append({"params": {"dqn.lr": lr, "env.frame_skip": skip},
                    "final": {"m": math.log10(lr) + 0.05 * rng.standard_normal(), "other": float("nan")}})  # fmt: skip
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_key_that_decides_the_metric_takes_most_of_its_variance(seed: int) -> None:
    found = param_importance(_trials(24, seed), SPACE, "m", seed=seed)
    assert set(found) == {"dqn.lr", "env.frame_skip"}
    assert sum(found.values()) == pytest.approx(1.0)
    assert found["dqn.lr"] > 0.8 > found["env.frame_skip"]


def test_too_few_usable_trials_or_no_varying_key_say_nothing() -> None:
    trials = _trials(8, 0)
    assert param_importance(trials, SPACE, "other") == {}  # the metric never finished
    assert param_importance(trials[:1], SPACE, "m") == {}
    same = [{**t, "params": {"dqn.lr": 1e-3, "env.frame_skip": 4}} for t in trials]
    assert param_importance(same, SPACE, "m") == {}
    flat = [{**t, "final": {"m": 0.0}} for t in trials]  # every trial won nothing: no variance to split
    assert param_importance(flat, SPACE, "m") == {}


def test_the_plot_is_written(tmp_path: Path) -> None:
    found = {"m": param_importance(_trials(12, 0), SPACE, "m"), "other": {}}
    path = importance_plot(found, tmp_path / "importance.png")
    assert path.stat().st_size > 1000
