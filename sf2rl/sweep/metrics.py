"""Training metrics: what env runners record per episode, and the curated flat view of a result."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from ray.rllib.callbacks.callbacks import RLlibCallback

# Flat metric name -> path in RLlib's nested result. These are what Tune, MLflow and the live table use.
CURATED: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "episode_return_mean": ("env_runners", "episode_return_mean"),
        "episode_len_mean": ("env_runners", "episode_len_mean"),
        "win_rate": ("env_runners", "win_rate"),
        "health_left_mean": ("env_runners", "health_left"),
        "emulator_rtt_ms": ("env_runners", "emulator_rtt_ms"),
        "emulator_wait_ms": ("env_runners", "emulator_wait_ms"),
        "env_steps_per_s": ("env_runners", "num_env_steps_sampled_lifetime_throughput"),
        "env_steps_total": ("num_env_steps_sampled_lifetime",),
        "env_step_failures": ("env_runners", "num_env_step_failures"),
        "qf_loss": ("learners", "default_policy", "qf_loss"),
        "qf_mean": ("learners", "default_policy", "qf_mean"),
        "learner_updates_total": ("learners", "default_policy", "num_updates_lifetime"),
        "learner_updates_per_s": ("learners", "default_policy", "num_updates_lifetime_throughput"),
        "eval_win_rate": ("eval_win_rate",),
        "eval_matches": ("eval_matches",),
        "eval_round_win_rate": ("eval_round_win_rate",),
        "eval_time_s": ("eval_time_s",),
        "time_this_iter_s": ("time_this_iter_s",),
        "time_total_s": ("time_total_s",),
        "wall_time": ("wall_time",),
    }
)


C = TypeVar("C")


def score_of(metrics: Mapping[str, Any], metric: str) -> float:
    """A result's value of the sweep metric, NaN when absent or not a finite number."""
    v = metrics.get(metric)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else float("nan")


def best_scored(checkpoints: Iterable[tuple[C, Mapping[str, Any]]], metric: str, sign: int) -> tuple[float, C] | None:
    """The best-scoring (score, checkpoint) of (checkpoint, its result) pairs; ``sign`` -1 for mode min.

    Checkpoints without a finite score never win; None when no checkpoint has one.
    """
    scored = [(score_of(m, metric), c) for c, m in checkpoints]
    scored = [s for s in scored if math.isfinite(s[0])]
    return max(scored, key=lambda s: sign * s[0]) if scored else None


def _get(tree: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(tree, Mapping) or key not in tree:
            return None
        tree = tree[key]
    return tree


def flatten_metrics(result: Mapping[str, Any]) -> dict[str, float]:
    """The curated metrics of one RLlib result; absent ones are left out."""
    out = {}
    for name, path in CURATED.items():
        value = _get(result, path)
        if isinstance(value, Mapping):
            # A root MetricsLogger reports throughputs as {since last reduce, since last restore}.
            value = value.get("throughput_since_last_reduce")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[name] = float(value)
    # The league's figures (Elo of the learner and of each snapshot, win rates, the curriculum's ceiling).
    league = result.get("league")
    if isinstance(league, Mapping):
        for key, value in league.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                out[f"league/{key}"] = float(value)
    return out


class SF2Callbacks(RLlibCallback):
    """Records win rate, health left and emulator latency per finished episode."""

    def on_episode_end(
        self, *, episode: Any, env_runner: Any = None, metrics_logger: Any = None, **kwargs: Any
    ) -> None:
        """Log the outcome of the episode that just ended."""
        if metrics_logger is None:
            return
        infos = episode.get_infos()
        last = infos[-1] if infos else {}
        sweep = env_runner.config.env_config.get("sf2rl_sweep", {}) if env_runner is not None else {}
        window = int(sweep.get("win_rate_window", 20))
        metrics_logger.log_value("win_rate", float(bool(last.get("won", False))), reduce="mean", window=window)
        if "health_left" in last:
            metrics_logger.log_value("health_left", float(last["health_left"]), reduce="mean", window=window)
        rtts = [i["rtt_ms"] for i in infos if isinstance(i, dict) and "rtt_ms" in i]
        if rtts:
            metrics_logger.log_value("emulator_rtt_ms", sum(rtts) / len(rtts), reduce="mean", window=window)
