"""`sf2rl eval`: a checkpoint's (or baseline's) win rate against CPU levels, or its level x opponent matrix."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from sf2rl.cli.console import console
from sf2rl.cli.options import add_match_options
from sf2rl.core.game.specs import get_game
from sf2rl.play.arena import ensure_run, log_to_mlflow, match_config, parse_sets
from sf2rl.play.evaluation import eval_metrics, evaluate, write_matrix
from sf2rl.play.matrix import ALL_LEVELS
from sf2rl.sweep import report_page


def run(args: argparse.Namespace) -> int:
    """`sf2rl eval`."""
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
        report["matrix"] = write_matrix(report, out)
        files = {f"eval/matrix-{name}": str(out)}  # matrix.json and matrix.png
    if args.run_id:
        log_to_mlflow(args.run_id, args.tracking_uri, eval_metrics(report), {f"eval/{name}.json": report}, files)
        if report_page.add_evaluation(args.tracking_uri, args.run_id, report):
            console.print("added to the sweep's report.html")
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k != "results" or args.per_match}))
    else:
        print_report(report)
    return 0


def print_report(report: dict[str, Any]) -> None:
    """A rich table: one row per level and per character."""
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
    add_match_options(p)
    p.set_defaults(func=run)
