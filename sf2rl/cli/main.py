"""`sf2rl`: run sweeps, validate sweep files, pull the best checkpoint, evaluate, record, open MLflow, benchmark."""

from __future__ import annotations

import argparse
import sys

from sf2rl.cli import arcade, bench, best, evaluate, play, sweep, tournament, ui, validate, watch
from sf2rl.cli.console import console
from sf2rl.core.errors import SF2RLError

COMMANDS = (sweep, validate, best, ui, bench, evaluate, play, tournament, watch, arcade)
"""One module per command, each with ``register(subparsers)`` setting ``func(args) -> int``."""


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    ap = argparse.ArgumentParser(prog="sf2rl", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return ap


def main(argv: list[str] | None = None) -> None:
    """Entry point of `sf2rl`: typed errors become one line and exit code 2."""
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except SF2RLError as e:
        console.print(f"[red]error:[/red] {e}", highlight=False)
        code = 2
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
