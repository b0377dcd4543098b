"""`sf2rl eval`: win rate against CPU levels over full matches, with a 95% interval, in parallel.

Reports per level, per agent character and per opponent character, the
average health left, and throughput. The matches run in `sf2rl.arena`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
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
from sf2rl.game.specs import get_game
from sf2rl.matrix import ALL_LEVELS, from_report, heatmap
from sf2rl.scoring import summarize


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
    levels = args.level or (ALL_LEVELS if args.matrix else [3])
    opponents = args.opponents
    per_level = args.matches
    if args.matrix:
        # Every opponent character at every level, ``--matches`` each: make_jobs cycles opponents evenly.
        opponents = opponents or list(get_game(match_config(args.checkpoint).game).characters)
        per_level = args.matches * len(opponents) * len(args.characters or [None])
    total = len(levels) * per_level
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(f"eval {args.checkpoint}", total=total)
        report = evaluate(
            args.checkpoint,
            levels,
            per_level,
            characters=args.characters,
            opponents=opponents,
            workers=args.workers,
            overrides=parse_sets(args.set),
            seed=args.seed,
            vs=args.vs,
            on_result=lambda _r: progress.advance(task),
        )
    name = report["policy"].replace("/", "_")
    files: dict[str, Any] = {}
    if args.matrix:
        out = Path(args.out or f"eval-matrix-{name}")
        report["matrix"] = _write_matrix(report, out)
        files = {f"eval/matrix-{name}": str(out)}  # matrix.json and matrix.png
    if args.run_id:
        log_to_mlflow(args.run_id, args.tracking_uri, eval_metrics(report), {f"eval/{name}.json": report}, files)
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k != "results" or args.per_match}))
    else:
        print_report(report)
    return 0


def _write_matrix(report: dict[str, Any], out: Path) -> dict[str, Any]:
    """The level x opponent matrix of a report, written to ``out`` as matrix.json and matrix.png."""
    m = from_report(report)
    out.mkdir(parents=True, exist_ok=True)
    title = f"{report['policy']}: match win rate vs CPU ({report['matches']} matches)"
    png = heatmap(m, out / "matrix.png", title)
    (out / "matrix.json").write_text(json.dumps({"policy": report["policy"], "source": report["source"], **m},
                                                indent=2))  # fmt: skip
    return {**m, "json": str(out / "matrix.json"), "png": str(png)}


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
    p.add_argument(
        "--matrix", action="store_true",
        help="generalisation matrix: every CPU level (unless --level) x every opponent character (unless "
        "--opponents), --matches per cell; writes matrix.json and a heatmap matrix.png to --out",
    )  # fmt: skip
    p.add_argument("--out", help="folder for --matrix output (default eval-matrix-<policy>)")
    add_common(p)
    p.set_defaults(func=_cmd)
