"""From the sweep's search-space entries to Tune's search space, search algorithm and scheduler."""

from __future__ import annotations

from typing import Any

from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining, TrialScheduler
from ray.tune.search import BasicVariantGenerator, Searcher

from sf2rl.core.defaults import OVERRIDES_KEY
from sf2rl.sweep.schema import Distribution, SweepConfig


def sampler(dist: Distribution) -> Any:
    """The Tune sampler (or grid) of one entry."""
    kind = dist.kind
    value = getattr(dist, kind)
    if kind == "grid":
        return tune.grid_search(list(value))
    if kind == "choice":
        return tune.choice(list(value))
    if kind == "uniform":
        return tune.uniform(*value)
    if kind == "loguniform":
        return tune.loguniform(*value)
    return tune.randint(*value)


def tune_space(sweep: SweepConfig) -> dict[str, Any]:
    """Dotted key -> sampler, placed under the trial's overrides."""
    return {key: sampler(dist) for key, dist in sweep.space.items()}


def search_algorithm(sweep: SweepConfig) -> Searcher | BasicVariantGenerator:
    """Basic variant generation, or Optuna's TPE, each limited to ``max_concurrent`` trials."""
    limit = sweep.search.max_concurrent
    if sweep.search.algorithm == "optuna":
        from ray.tune.search import ConcurrencyLimiter
        from ray.tune.search.optuna import OptunaSearch

        return ConcurrencyLimiter(OptunaSearch(seed=sweep.search.seed), max_concurrent=limit)
    return BasicVariantGenerator(max_concurrent=limit, random_state=sweep.search.seed)


def scheduler(sweep: SweepConfig) -> TrialScheduler:
    """FIFO, ASHA or PBT, per the sweep file."""
    s = sweep.scheduler
    if s.type == "asha":
        max_t = sweep.stop.training_iteration or 1000
        return ASHAScheduler(
            time_attr="training_iteration",
            max_t=max_t,
            grace_period=min(s.grace_period, max_t),
            reduction_factor=s.reduction_factor,
        )
    if s.type == "pbt":
        mutations: dict[str, Any] = {"env_config": {OVERRIDES_KEY: {k: list(v) for k, v in s.mutations.items()}}}
        return PopulationBasedTraining(
            time_attr="training_iteration",
            perturbation_interval=s.perturbation_interval,
            hyperparam_mutations=mutations,
        )
    return FIFOScheduler()
