"""`sf2rl eval`: win rate against CPU levels over full matches, with a 95% interval, in parallel.

Reports per level, per agent character and per opponent character, the
average health left, and throughput. The matches run in `sf2rl.play.arena`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sf2rl.agents.factory import load_policy
from sf2rl.core import choice
from sf2rl.core.config import EnvConfig
from sf2rl.core.errors import ConfigError
from sf2rl.play.arena import (
    MatchJob,
    MatchResult,
    match_config,
    run_matches,
    validated,
)
from sf2rl.play.matrix import from_report, heatmap
from sf2rl.play.scoring import summarize


def make_jobs(
    source: str,
    cfg: EnvConfig,
    levels: list[int],
    matches: int,
    characters: list[str],
    opponents: list[str],
    seed: int = 0,
    vs: str | None = None,
) -> list[MatchJob]:
    """``matches`` jobs per level, cycling evenly through agent and opponent characters."""
    env_json = cfg.model_dump_json()
    jobs: list[MatchJob] = []
    for li, level in enumerate(levels):
        for i in range(matches):
            chars = (characters[i % len(characters)], opponents[(i // len(characters)) % len(opponents)])
            jobs.append(MatchJob(len(jobs), env_json, source, vs, seed + 100_003 * li + i, level, chars))
    return jobs


def evaluate(
    source: str,
    levels: list[int],
    matches: int,
    *,
    characters: list[str] | None = None,
    opponents: list[str] | None = None,
    workers: int = 1,
    overrides: dict[str, Any] | None = None,
    seed: int = 0,
    vs: str | None = None,
    on_result: Callable[[MatchResult], None] | None = None,
) -> dict[str, Any]:
    """Evaluate a checkpoint or baseline against CPU levels (or against ``vs``); a JSON-ready report."""

    if matches < 1 or not levels:
        raise ConfigError("evaluate at least one match on at least one level")
    cfg = match_config(source, overrides)
    policy = load_policy(source, cfg)  # fails fast on a missing or mismatched checkpoint, before any worker starts
    if vs is not None:
        load_policy(vs, cfg, seat="opponent")
    chars = characters or _choices(cfg.characters[0])
    opps = opponents or _choices(cfg.characters[1])
    validated({**cfg.model_dump(), "characters": (chars, opps), "difficulty": levels}, source)
    jobs = make_jobs(source, cfg, levels, matches, chars, opps, seed, vs)
    start = time.perf_counter()
    results = run_matches(jobs, workers, on_result, remote=cfg.remote)
    elapsed = time.perf_counter() - start
    report = {
        "policy": policy.name,
        "source": source,
        "opponent": vs or "cpu",
        "levels_played": levels,
        "env": {k: cfg.model_dump(mode="json")[k] for k in ("game", "action_set", "obs", "frame_skip", "backend")},
        **summarize(results),
        "elapsed_s": round(elapsed, 2),
        "matches_per_s": round(len(results) / elapsed, 2),
        "steps_per_s": round(sum(r.steps for r in results) / elapsed, 1),
        "workers": workers,
        "results": [asdict(r) for r in results],
    }
    return report


def _choices(pick: str | list[str] | dict[str, float]) -> list[str]:
    return [str(c) for c in choice.values(pick)]


def eval_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The flat MLflow metrics of an eval report."""
    out = {"eval/win_rate": report["win_rate"], "eval/avg_health_left": report["avg_health_left"]}
    for level, s in report["levels"].items():
        out |= {
            f"eval/level{level}/win_rate": s["win_rate"],
            f"eval/level{level}/ci95_low": s["ci95"][0],
            f"eval/level{level}/ci95_high": s["ci95"][1],
            f"eval/level{level}/avg_health_left": s["avg_health_left"],
        }
    return out


def write_matrix(report: dict[str, Any], out: Path) -> dict[str, Any]:
    """The level x opponent matrix of a report, written to ``out`` as matrix.json and matrix.png."""
    m = from_report(report)
    out.mkdir(parents=True, exist_ok=True)
    title = f"{report['policy']}: match win rate vs CPU ({report['matches']} matches)"
    png = heatmap(m, out / "matrix.png", title)
    (out / "matrix.json").write_text(json.dumps({"policy": report["policy"], "source": report["source"], **m},
                                                indent=2))  # fmt: skip
    return {**m, "json": str(out / "matrix.json"), "png": str(png)}
