"""`sf2rl validate FILE`: check a sweep file without starting anything; exit 2 on error."""

from __future__ import annotations

import argparse
from typing import Any

from sf2rl.cli.console import console
from sf2rl.sweep.schema import load_sweep


def run(args: argparse.Namespace) -> int:
    """Load and validate the file; a bad one raises ConfigError (exit 2)."""
    sweep = load_sweep(args.file)
    what = f"sweep {sweep.name!r}, {len(sweep.space)} swept key(s), {sweep.pool.backend} backend ({sweep.pool.mode})"
    console.print(f"[green]ok[/green] {args.file}: {what}")
    return 0


def register(sub: Any) -> None:
    """Add `sf2rl validate`."""
    v = sub.add_parser("validate", help="check a sweep file; exit 2 on error")
    v.add_argument("file")
    v.set_defaults(func=run)
