"""`sf2rl eval`: win rate against CPU levels over full matches, with a 95% interval, in parallel.

Reports per level, per agent character and per opponent character, the
average health left, and throughput. The matches run in `sf2rl.arena`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any

from sf2rl.arena import (
    MatchJob,
    MatchResult,
    add_common,
    ensure_run,
    log_to_mlflow,
    match_config,
    parse_sets,
    run_matches,
    validated,
)
from sf2rl.config import EnvConfig
from sf2rl.errors import ConfigError

Z95 = 1.959964


def wilson(wins: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a win rate (sound at 0 or n wins, unlike the normal approximation)."""
    if n == 0:
        return (0.0, 1.0)
    p = wins / n
    denom = 1 + z * z / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (max(0.0, (centre - half) / denom), min(1.0, (centre + half) / denom))


def score(results: Iterable[MatchResult]) -> dict[str, Any]:
    """Win rate, its 95% interval, and health left over some matches."""
    rs = list(results)
    n, wins = len(rs), sum(r.won for r in rs)
    lo, hi = wilson(wins, n)
    won = [r.health_left for r in rs if r.won]
    return {
        "matches": n,
        "wins": wins,
        "losses": sum(r.lost for r in rs),
        "win_rate": wins / n if n else 0.0,
        "ci95": [round(lo, 4), round(hi, 4)],
        "avg_health_left": round(sum(r.health_left for r in rs) / n, 2) if n else 0.0,
        "avg_health_left_in_wins": round(sum(won) / len(won), 2) if won else None,
        "rounds_won": sum(r.rounds_won for r in rs),
        "rounds_lost": sum(r.rounds_lost for r in rs),
        "truncated": sum(r.truncated for r in rs),
    }


def _by(results: list[MatchResult], key: Callable[[MatchResult], str]) -> dict[str, Any]:
    groups: dict[str, list[MatchResult]] = {}
    for r in results:
        groups.setdefault(key(r), []).append(r)
    return {k: score(v) for k, v in sorted(groups.items())}


def summarize(results: list[MatchResult]) -> dict[str, Any]:
    """Overall, per-level, per-character and per-opponent-character scores."""
    out = score(results)
    out["levels"] = {}
    for level in sorted({r.level for r in results}):
        rs = [r for r in results if r.level == level]
        out["levels"][str(level)] = {
            **score(rs),
            "by_character": _by(rs, lambda r: r.characters[0]),
            "by_opponent_character": _by(rs, lambda r: r.characters[1]),
        }
    out["by_character"] = _by(results, lambda r: r.characters[0])
    return out


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
    from sf2rl.policies import load_policy

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


def _choices(choice: str | list[str]) -> list[str]:
    return list(choice) if isinstance(choice, list) else [choice]


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


# ------------------------------------------------------------------ CLI


def _cmd(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from sf2rl.cli import console

    if args.run_id:
        ensure_run(args.run_id, args.tracking_uri)
    levels = args.level or [3]
    total = len(levels) * args.matches
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(f"eval {args.checkpoint}", total=total)
        report = evaluate(
            args.checkpoint,
            levels,
            args.matches,
            characters=args.characters,
            opponents=args.opponents,
            workers=args.workers,
            overrides=parse_sets(args.set),
            seed=args.seed,
            vs=args.vs,
            on_result=lambda _r: progress.advance(task),
        )
    if args.run_id:
        name = report["policy"].replace("/", "_")
        log_to_mlflow(args.run_id, args.tracking_uri, eval_metrics(report), {f"eval/{name}.json": report})
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k != "results" or args.per_match}))
    else:
        print_report(report)
    return 0


def print_report(report: dict[str, Any]) -> None:
    """A rich table: one row per level and per character."""
    from rich.table import Table

    from sf2rl.cli import console

    t = Table(
        title=f"{report['policy']} vs {report['opponent']}  ({report['matches']} matches, "
        f"{report['matches_per_s']} matches/s)"
    )
    for col in ("level", "character", "matches", "win rate", "95% CI", "avg health left"):
        t.add_column(col, justify="left" if col == "character" else "right")
    for level, s in report["levels"].items():
        t.add_row(
            level,
            "all",
            str(s["matches"]),
            f"{s['win_rate']:.1%}",
            f"{s['ci95'][0]:.1%}-{s['ci95'][1]:.1%}",
            f"{s['avg_health_left']:.1f}",
        )
        for char, c in s["by_character"].items():
            if len(s["by_character"]) > 1:
                t.add_row(
                    "",
                    char,
                    str(c["matches"]),
                    f"{c['win_rate']:.1%}",
                    f"{c['ci95'][0]:.1%}-{c['ci95'][1]:.1%}",
                    f"{c['avg_health_left']:.1f}",
                )
    console.print(t)


def register(sub: Any) -> None:
    """Add `sf2rl eval`."""
    p = sub.add_parser("eval", help="win rate of a checkpoint (or baseline) against CPU levels")
    p.add_argument("checkpoint", help="checkpoint folder, or a baseline: random, noop, block, heuristic, cpu-N, mash-B")
    p.add_argument("--level", type=int, action="append", help="CPU level 1-8 (repeatable; default 3)")
    p.add_argument("--matches", type=int, default=50, help="matches per level")
    p.add_argument("--characters", nargs="+", help="agent characters (default: the ones it trained with)")
    p.add_argument("--opponents", nargs="+", help="CPU characters (default: the ones it trained against)")
    p.add_argument("--vs", help="play this checkpoint or baseline instead of the CPU (two-controller mode)")
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="parallel emulators")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument("--per-match", action="store_true", help="include every match in the JSON")
    add_common(p)
    p.set_defaults(func=_cmd)
