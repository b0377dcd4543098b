"""`sf2rl play`: record one match as a GIF or MP4 with a HUD."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sf2rl.cli.console import console
from sf2rl.cli.options import add_match_options
from sf2rl.core.errors import ConfigError
from sf2rl.play.arena import ensure_run, log_to_mlflow, parse_sets
from sf2rl.play.recording import record_match


def run(args: argparse.Namespace) -> int:
    """`sf2rl play`."""
    if args.run_id:
        ensure_run(args.run_id, args.tracking_uri)
    out = Path(args.out)
    chars = tuple(args.characters) if args.characters else None
    if chars is not None and len(chars) != 2:
        raise ConfigError("--characters takes two names: yours and the opponent's")
    with console.status(f"recording {args.checkpoint} ..."):
        summary = record_match(
            args.checkpoint,
            out,
            level=args.level,
            characters=chars,
            seed=args.seed,
            q_values=args.q_values,
            vs=args.vs,
            every=args.every,
            overrides=parse_sets(args.set),
        )
    if args.run_id:
        log_to_mlflow(args.run_id, args.tracking_uri, files={"replays": out})
    result = "won" if summary["won"] else "drew" if summary["rounds_won"] == summary["rounds_lost"] else "lost"
    console.print(
        f"{summary['policy']} {result} {summary['rounds_won']}-{summary['rounds_lost']} against "
        f"{summary['opponent']}: {summary['frames']} frames -> {out}"
    )
    return 0


def register(sub: Any) -> None:
    """Add `sf2rl play`."""
    p = sub.add_parser("play", help="record a match with a HUD as a GIF or MP4")
    p.add_argument("checkpoint", help="checkpoint folder, or a baseline name")
    p.add_argument("--out", required=True, help="FILE.gif or FILE.mp4")
    p.add_argument("--level", type=int, default=3, help="CPU level 1-8")
    p.add_argument("--characters", nargs=2, metavar=("YOURS", "THEIRS"))
    p.add_argument("--vs", help="a checkpoint or baseline as player 2 instead of the CPU")
    p.add_argument("--q-values", action="store_true", help="draw the Q-values of every action")
    p.add_argument("--every", type=int, default=1, help="keep every Nth agent step (smaller files)")
    add_match_options(p)
    p.set_defaults(func=run)
