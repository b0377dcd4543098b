"""`sf2rl bench`: the throughput report (sections in sf2rl.tools.bench)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sf2rl.cli.console import console


def run(args: argparse.Namespace) -> int:
    """Run the chosen sections; print them as a table or JSON, and optionally save the JSON."""
    # The bench drives sweeps and torch loops; it loads them only when asked to run.
    from sf2rl.tools.bench import print_report, run_bench

    report = run_bench(quick=args.quick, only=args.only, sweep=Path(args.sweep) if args.sweep else None)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report, console)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


def register(sub: Any) -> None:
    """Add `sf2rl bench`."""
    k = sub.add_parser("bench", help="throughput report")
    k.add_argument("--json", action="store_true")
    k.add_argument("--quick", action="store_true", help="fewer repeats (CI smoke)")
    k.add_argument("--only", action="append", help="run only these sections")
    k.add_argument("--out", help="also write the JSON report here")
    k.add_argument("--sweep", help="the sweep file the champion / generalist sections reproduce (default theirs)")
    k.set_defaults(func=run)
