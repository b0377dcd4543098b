"""Per-episode choices: one value, a list, or weights; validated once, drawn with their weights."""

from __future__ import annotations

import numpy as np
import pytest

from sf2rl.core import choice


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "empty list"),
        ({}, "empty mapping"),
        ({"ken": 0.0, "ryu": 0.0}, "sum to a positive number"),
        ({"ken": -1.0, "ryu": 2.0}, "non-negative"),
        ({"ken": float("nan")}, "finite"),
    ],
)
def test_bad_choices_are_refused(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        choice.check(value, "characters.1")


def test_weights_decide_how_often_each_value_is_drawn() -> None:
    rng = np.random.default_rng(0)
    draws = [choice.pick({3: 1.0, 8: 3.0, 5: 0.0}, rng) for _ in range(4000)]
    assert 5 not in draws  # weight 0: valid, never drawn
    assert draws.count(8) / len(draws) == pytest.approx(0.75, abs=0.03)
    uniform = [choice.pick(["a", "b"], rng) for _ in range(4000)]
    assert uniform.count("a") / len(uniform) == pytest.approx(0.5, abs=0.03)
    assert choice.pick("ryu", rng) == "ryu"


def test_options_and_values() -> None:
    assert choice.options({1: 1.0, 2: 3.0}) == ([1, 2], [0.25, 0.75])
    assert choice.options([4, 5]) == ([4, 5], [0.5, 0.5])
    assert choice.options(7) == ([7], [1.0])
    assert choice.values({"ken": 0.0, "ryu": 1.0}) == ["ken", "ryu"]
