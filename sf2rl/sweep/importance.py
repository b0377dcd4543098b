"""Which swept keys mattered: Optuna's importance evaluators fed with a sweep's finished trials.

Each trial becomes a frozen Optuna trial (its swept values, in the sweep's own distributions,
and its final metric); fANOVA (a random forest's variance decomposition) then splits the
metric's variance between the keys. Trials whose metric is missing or not finite are left
out; with fewer than two usable trials, no key that varies, or a metric that is the same in
every trial (an untrained sweep's win rate of 0), nothing can be said.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sf2rl.sweep.schema import Distribution

MIN_TRIALS = 2


def _distribution(d: Distribution, seen: Sequence[Any]) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if d.kind in ("grid", "choice"):
        values = list(getattr(d, d.kind))
        # Optuna's categoricals hold only None, bool, int, float and str: name anything else by its repr.
        return CategoricalDistribution([v if isinstance(v, (bool, int, float, str)) else repr(v) for v in values])
    low, high = getattr(d, d.kind)
    if d.kind == "randint":
        return IntDistribution(int(low), int(high) - 1)
    return FloatDistribution(min(low, *seen), max(high, *seen), log=d.kind == "loguniform")


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _value(v: Any) -> Any:
    return v if isinstance(v, (bool, int, float, str)) or v is None else repr(v)


def param_importance(
    trials: Sequence[Mapping[str, Any]], space: Mapping[str, Distribution], metric: str, *, seed: int = 0
) -> dict[str, float]:
    """Importance (summing to 1) of each swept key for ``metric``, from ``trials``' params and final metrics.

    ``trials`` are dicts with ``params`` (swept key -> value) and ``final`` (metric name -> value).
    """
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    usable = [t for t in trials if _finite(t["final"].get(metric))]
    keys = [k for k in space if len({repr(t["params"].get(k)) for t in usable}) > 1]
    if len(usable) < MIN_TRIALS or not keys or len({float(t["final"][metric]) for t in usable}) < 2:
        return {}  # too few trials, nothing swept that varied, or a metric that did not vary: nothing to split
    dists = {k: _distribution(space[k], [t["params"][k] for t in usable]) for k in keys}
    frozen = [
        optuna.trial.create_trial(
            params={k: _value(t["params"][k]) for k in keys}, distributions=dists, value=float(t["final"][metric])
        )
        for t in usable
    ]
    study = optuna.create_study()
    study.add_trials(frozen)
    with warnings.catch_warnings():  # Optuna flags its evaluators as experimental on every call
        warnings.simplefilter("ignore")
        found = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=seed), normalize=True)
    return {k: float(v) for k, v in found.items()}


def importance_plot(importances: Mapping[str, Mapping[str, float]], path: Path) -> Path:
    """One horizontal bar chart per metric: each swept key's share of the metric's variance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = {m: v for m, v in importances.items() if v}
    fig, axes = plt.subplots(1, max(1, len(shown)), figsize=(5 * max(1, len(shown)), 0.6 + 0.45 * max(
        [len(v) for v in shown.values()] or [1])), squeeze=False)  # fmt: skip
    for ax, (metric, values) in zip(axes[0], shown.items(), strict=False):
        keys = sorted(values, key=values.get)  # type: ignore[arg-type]
        ax.barh(keys, [values[k] for k in keys], color="#3b7dd8")
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of variance (fANOVA)")
        ax.set_title(metric)
    if not shown:
        axes[0][0].text(0.5, 0.5, "too few finished trials to tell", ha="center", va="center")
        axes[0][0].set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
