"""Per-episode choices: a fixed value, a list (uniform), or a mapping of values to weights.

Env options such as the CPU level and each side's character take any of the three forms,
so a sweep file can say ``difficulty: 3``, ``difficulty: [1, 2, 3, 4]`` or
``difficulty: {3: 1, 6: 2, 8: 1}``. Validation and sampling live here, once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def options(choice: Any) -> tuple[list[Any], list[float]]:
    """The values a choice can take and their probabilities."""
    if isinstance(choice, Mapping):
        values = list(choice)
        total = float(sum(choice.values()))
        return values, [float(w) / total for w in choice.values()]
    if isinstance(choice, (list, tuple)):
        return list(choice), [1.0 / len(choice)] * len(choice)
    return [choice], [1.0]


def values(choice: Any) -> list[Any]:
    """The values a choice can take (those with weight 0 included: they are still valid names)."""
    return options(choice)[0] if not isinstance(choice, Mapping) else list(choice)


def check(choice: Any, what: str) -> None:
    """Raise ValueError on an empty list or mapping, or on weights that are negative or sum to no positive number."""
    if isinstance(choice, (list, tuple)) and not choice:
        raise ValueError(f"{what}: an empty list has nothing to pick from")
    if isinstance(choice, Mapping):
        if not choice:
            raise ValueError(f"{what}: an empty mapping has nothing to pick from")
        weights = list(choice.values())
        if any(not math.isfinite(w) or w < 0 for w in weights):
            raise ValueError(f"{what}: weights must be finite and non-negative, got {weights}")
        if sum(weights) <= 0:
            raise ValueError(f"{what}: weights must sum to a positive number, got {weights}")


def pick(choice: Any, rng: np.random.Generator) -> Any:
    """One value of ``choice``, drawn with its weight."""
    vals, probs = options(choice)
    if len(vals) == 1:
        return vals[0]
    return vals[int(rng.choice(len(vals), p=probs))]
