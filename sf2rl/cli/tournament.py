"""`sf2rl tournament`: AI against AI, as a bracket or a round robin, with an Elo table."""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path
from typing import Any

from rich.progress import Progress
from rich.table import Table

from sf2rl.cli.console import console
from sf2rl.cli.options import add_match_options
from sf2rl.play.arena import ensure_run, log_to_mlflow, parse_sets
from sf2rl.play.tournament import run_tournament


def run(args: argparse.Namespace) -> int:
    """`sf2rl tournament`."""
    if args.run_id:
        ensure_run(args.run_id, args.tracking_uri)
    out = Path(args.out)
    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("tournament", total=None)
        report = run_tournament(
            args.checkpoints,
            args.format,
            args.matches,
            args.ban or [],
            out,
            args.seed,
            args.workers,
            parse_sets(args.set),
            lambda _r: progress.advance(task),
        )
    for note in report["notes"]:
        console.print(f"[yellow]note:[/yellow] {note}")
    if args.format == "bracket":
        for i, rnd in enumerate(report["rounds"], 1):
            console.print(
                f"[bold]round {i}[/bold]: "
                + ", ".join(
                    f"{s['a']} (bye)" if s.get("bye") else f"{s['a']} {s['wins_a']}-{s['wins_b']} {s['b']}" for s in rnd
                )
            )
        console.print(f"champion: [bold green]{report['champion']}[/bold green]   bracket: {out / 'bracket.png'}")
    table = Table(title="Elo")
    for col in ("entrant", "elo", "wins", "losses", "draws"):
        table.add_column(col, justify="left" if col == "entrant" else "right")
    for row in report["elo"]:
        table.add_row(row["entrant"], f"{row['elo']:.0f}", str(row["wins"]), str(row["losses"]), str(row["draws"]))
    console.print(table)
    if args.run_id:
        metrics = {f"tournament/elo/{re.sub(r'[^A-Za-z0-9_./ -]', '_', r['entrant'])}": r["elo"] for r in report["elo"]}
        log_to_mlflow(args.run_id, args.tracking_uri, metrics, files={"tournament": out})
    if args.json:
        print(json.dumps(report))
    return 0


def register(sub: Any) -> None:
    """Add `sf2rl tournament`."""
    p = sub.add_parser("tournament", help="AI-vs-AI bracket or round robin between checkpoints and baselines")
    p.add_argument("checkpoints", nargs="+", help="entrants: checkpoint folders or baseline names, in seed order")
    p.add_argument("--format", choices=("bracket", "round-robin"), default="bracket")
    p.add_argument("--ban", action="append", metavar="CHAR", help="character nobody may play (repeatable)")
    p.add_argument("--matches", type=int, default=3, help="matches per series (sides alternate)")
    p.add_argument("--out", default="tournament", help="folder for results.json, elo.csv and bracket.png")
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="parallel emulators")
    p.add_argument("--json", action="store_true", help="also print the results as JSON on stdout")
    add_match_options(p)
    p.set_defaults(func=run)
